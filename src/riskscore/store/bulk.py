"""Fast bulk writes for the loader: DBAPI ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

Rows arrive as parallel columns already in the driver's representation (timestamps via
:func:`riskscore.store.types.arrow_to_db`), so no per-value SQLAlchemy type processing
runs. Identifier rows are upserted keeping the earliest ``seen_at``, because the same
(account, kind, hash) is met again at later logins and changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Protocol

from psycopg import sql
from sqlalchemy import Connection, Table, func, insert, select
from sqlalchemy import column as column_clause
from sqlalchemy import table as table_clause
from sqlalchemy.dialects import postgresql, sqlite

from riskscore.store.models import Identifier

Columns = Mapping[str, Sequence[Any]]
IDENTIFIER_COLUMNS: tuple[str, ...] = ("account_id", "kind", "value_hash", "seen_at")
_IDENTIFIERS: Table = Identifier.__table__  # type: ignore[assignment]


class BulkWriter(Protocol):
    def insert(self, table: Table, columns: Columns) -> int:
        """Insert rows given as parallel columns; returns the row count."""

    def upsert_identifiers(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert ``(account_id, kind, value_hash, seen_at)`` rows, keeping the earliest
        ``seen_at`` on conflict; returns the row count."""


def bulk_writer(conn: Connection) -> BulkWriter:
    """The fastest writer for the connection's database."""
    return PostgresWriter(conn) if conn.dialect.name == "postgresql" else SqliteWriter(conn)


class SqliteWriter:
    """Compiled Core ``insert()`` statements run through the DBAPI ``executemany``."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._upsert = _sqlite_upsert_sql()

    def insert(self, table: Table, columns: Columns) -> int:
        statement, order = _sqlite_insert_sql(table, tuple(columns))
        rows = list(zip(*(columns[name] for name in order), strict=True))
        if rows:
            self._conn.exec_driver_sql(statement, rows)
        return len(rows)

    def upsert_identifiers(self, rows: Sequence[tuple[Any, ...]]) -> int:
        if rows:
            self._conn.exec_driver_sql(self._upsert, list(rows))
        return len(rows)


@cache
def _sqlite_insert_sql(table: Table, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    compiled = insert(table).compile(dialect=sqlite.dialect(), column_keys=list(names))
    return str(compiled), tuple(compiled.positiontup or ())


def _sqlite_upsert_sql() -> str:
    stmt = sqlite.insert(_IDENTIFIERS)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(IDENTIFIER_COLUMNS[:3]),
        set_={"seen_at": func.min(_IDENTIFIERS.c.seen_at, stmt.excluded.seen_at)},
    )
    compiled = stmt.compile(dialect=sqlite.dialect(), column_keys=list(IDENTIFIER_COLUMNS))
    assert tuple(compiled.positiontup or ()) == IDENTIFIER_COLUMNS
    return str(compiled)


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
        return self._copy(table.name, tuple(columns), zip(*columns.values(), strict=True))

    def upsert_identifiers(self, rows: Sequence[tuple[Any, ...]]) -> int:
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

    def _copy(self, table_name: str, names: Sequence[str], rows: Any) -> int:
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table_name), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        count = 0
        with self._cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count


@cache
def _postgres_merge(stage: str) -> Any:
    staged = table_clause(stage, *(column_clause(name) for name in IDENTIFIER_COLUMNS))
    grouped = select(
        staged.c.account_id, staged.c.kind, staged.c.value_hash, func.min(staged.c.seen_at)
    ).group_by(staged.c.account_id, staged.c.kind, staged.c.value_hash)
    stmt = postgresql.insert(_IDENTIFIERS).from_select(list(IDENTIFIER_COLUMNS), grouped)
    return stmt.on_conflict_do_update(
        index_elements=list(IDENTIFIER_COLUMNS[:3]),
        set_={"seen_at": func.least(_IDENTIFIERS.c.seen_at, stmt.excluded.seen_at)},
    )
