"""Fast bulk writes for the loader: DBAPI ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

Rows arrive as parallel columns already in the driver's representation (timestamps via
:func:`riskscore.store.types.arrow_to_db`), so no per-value SQLAlchemy type processing
runs. Identifier rows are upserted keeping the earliest ``seen_at``, because the same
(account, kind, hash) is met again at later logins and changes. :func:`deferred_indexes` and
:func:`sqlite_bulk_pragmas` make a first load several times faster.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, Protocol

from psycopg import sql
from sqlalchemy import Connection, Index, Table, insert, literal, select
from sqlalchemy import column as column_clause
from sqlalchemy import table as table_clause
from sqlalchemy.dialects import postgresql, sqlite

from riskscore.store.engine import SQLITE_PRAGMAS
from riskscore.store.models import Identifier, table_of

Columns = Mapping[str, Sequence[Any]]
SQLITE_BULK_PRAGMAS: tuple[str, ...] = (
    "cache_size=-262144",  # 256 MiB of page cache while loading: fewer spills to the WAL
    "temp_store=FILE",  # index builds sort in temp files, so memory stays bounded
)
_BULK_NAMES = {pragma.partition("=")[0] for pragma in SQLITE_BULK_PRAGMAS}
_SQLITE_RESTORE = tuple(p for p in SQLITE_PRAGMAS if p.partition("=")[0] in _BULK_NAMES)
IDENTIFIER_COLUMNS: tuple[str, ...] = ("account_id", "kind", "value_hash", "seen_at")
_IDENTIFIERS = table_of(Identifier)


class BulkWriter(Protocol):
    """Writes rows given as parallel columns in the driver's representation."""

    def insert(self, table: Table, columns: Columns) -> int:
        """Insert rows given as parallel columns; returns the row count."""

    def upsert_identifiers(self, columns: Columns) -> int:
        """Insert identifier rows (columns ``account_id, kind, value_hash, seen_at``), keeping
        the earliest ``seen_at`` on conflict; returns the row count."""


def bulk_writer(conn: Connection) -> BulkWriter:
    """The fastest writer for the connection's database (SQLite or PostgreSQL)."""
    return PostgresWriter(conn) if conn.dialect.name == "postgresql" else SqliteWriter(conn)


def _rows(columns: Columns, order: Sequence[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(columns[name] for name in order), strict=True))


@contextmanager
def sqlite_bulk_pragmas(conn: Connection) -> Iterator[None]:
    """On SQLite, :data:`SQLITE_BULK_PRAGMAS` for the connection while the block runs, then the
    engine's values again. Enter it outside a transaction (``temp_store`` cannot change inside);
    the pragmas go straight to the driver so SQLAlchemy does not begin one."""
    driver = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
    for pragma in SQLITE_BULK_PRAGMAS if driver else ():
        driver.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]
    try:
        yield
    finally:
        for pragma in _SQLITE_RESTORE if driver else ():
            driver.execute(f"PRAGMA {pragma}")  # type: ignore[union-attr]


@contextmanager
def deferred_indexes(conn: Connection, tables: Sequence[Table]) -> Iterator[None]:
    """Within the load's transaction: drop the secondary indexes of those ``tables`` that are
    empty, and build them once at the end, several times faster than maintaining them row by
    row (for a first load; a non-empty table keeps its indexes, so a small load into a big
    store does not rebuild them).

    Both databases have transactional DDL: if the load fails, the rollback restores the
    indexes. On PostgreSQL, readers of those (empty) tables wait until the load commits.
    """
    empty = [
        t for t in tables
        if conn.execute(select(literal(1)).select_from(t).limit(1)).first() is None
    ]
    deferred: list[Index] = [i for t in empty for i in sorted(t.indexes, key=lambda i: str(i.name))]
    for index in deferred:
        index.drop(conn)
    yield
    for index in deferred:
        index.create(conn)


class SqliteWriter:
    """Compiled Core ``insert()`` statements run through the DBAPI ``executemany``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def insert(self, table: Table, columns: Columns) -> int:
        statement, order = _sqlite_insert_sql(table, tuple(columns))
        rows = _rows(columns, order)
        if rows:
            self._conn.exec_driver_sql(statement, rows)
        return len(rows)

    def upsert_identifiers(self, columns: Columns) -> int:
        statement, order = _sqlite_upsert_sql()
        rows = _rows(columns, order)
        if rows:
            self._conn.exec_driver_sql(statement, rows)
        return len(rows)


@cache
def _sqlite_insert_sql(table: Table, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    compiled = insert(table).compile(dialect=sqlite.dialect(), column_keys=list(names))
    return str(compiled), tuple(compiled.positiontup or ())


@cache
def _sqlite_upsert_sql() -> tuple[str, tuple[str, ...]]:
    stmt = sqlite.insert(_IDENTIFIERS)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(IDENTIFIER_COLUMNS[:3]),
        set_={"seen_at": stmt.excluded.seen_at},
        where=stmt.excluded.seen_at < _IDENTIFIERS.c.seen_at,  # no write when not earlier
    )
    compiled = stmt.compile(dialect=sqlite.dialect(), column_keys=list(IDENTIFIER_COLUMNS))
    return str(compiled), tuple(compiled.positiontup or ())


class PostgresWriter:
    """``COPY ... FROM STDIN`` on the connection's psycopg cursor, inside its transaction.

    Identifiers are copied into a temporary staging table, then merged with
    ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``.
    """

    _STAGE = "identifiers_stage"

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        self._staged = False

    def insert(self, table: Table, columns: Columns) -> int:
        return self._copy(table.name, tuple(columns), _rows(columns, tuple(columns)))

    def upsert_identifiers(self, columns: Columns) -> int:
        rows = _rows(columns, IDENTIFIER_COLUMNS)
        if not rows:
            return 0
        if not self._staged:
            self._cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {self._STAGE} "
                "(account_id text, kind text, value_hash text, seen_at timestamptz) "
                "ON COMMIT DROP"
            )
            self._staged = True
        self._copy(self._STAGE, IDENTIFIER_COLUMNS, rows)
        self._conn.execute(_postgres_merge(self._STAGE))
        self._cursor.execute(f"TRUNCATE {self._STAGE}")
        return len(rows)

    def _copy(self, table_name: str, names: Sequence[str], rows: list[tuple[Any, ...]]) -> int:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        with self._cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)


@cache
def _postgres_merge(stage: str) -> Any:
    """Merge the staged rows (distinct per key: the loader de-duplicates each chunk)."""
    staged = table_clause(stage, *(column_clause(name) for name in IDENTIFIER_COLUMNS))
    stmt = postgresql.insert(_IDENTIFIERS).from_select(list(IDENTIFIER_COLUMNS), select(staged))
    return stmt.on_conflict_do_update(
        index_elements=list(IDENTIFIER_COLUMNS[:3]),
        set_={"seen_at": stmt.excluded.seen_at},
        where=stmt.excluded.seen_at < _IDENTIFIERS.c.seen_at,  # no new row version otherwise
    )
