"""Bulk-load a directory of contract Parquet files (:mod:`riskscore.schema`) into the store.

Fast and memory-bounded: files are read in Arrow batches of ``chunk_rows``, identifiers
are hashed through bounded per-kind caches, rows are written with ``executemany`` on
SQLite or ``COPY`` on PostgreSQL, and tables that were empty get their secondary indexes
built once at the end (:mod:`riskscore.store.bulk`). Files are read sorted by account
(and time), so each account's rows are stored together: what one account's online
features read is then a few adjacent pages, not one page per event.

Semantics: a dataset adds *new* accounts. The whole load is one transaction. Before
anything is written, account ids repeated in ``accounts.parquet`` or already in the
store raise :class:`DuplicateAccount` naming them; any other row the store rejects (an
event of an unknown account, a repeated ``movement_id``, a missing required value)
rolls the whole load back and raises :class:`InvalidData` naming the file. Either way the
store is left exactly as it was. Loading twice therefore fails cleanly instead of
duplicating events, which have no natural key to upsert on (logins, changes).

What is stored from each file:

- ``accounts.parquet`` (required): the account row, and its email, phone, address, tax id
  and bank account as identifiers first seen at ``created_at``. Names are not stored.
- ``signup_sessions.parquet``: the hashed signup (and the hourly signup counts), and its
  device, IP and IP /24 as identifiers first seen at ``completed_at``.
- ``labels.parquet``: ``known_fraud`` rows for fraudulent accounts whose label became known
  (``is_fraud`` and ``label_known_at`` not null), from ``label_known_at``.
- ``logins.parquet``: logins, and the device, IP and /24 of *successful* logins as
  identifiers (a failed attempt is not the account's own identifier: counting it would
  link every victim of one credential-stuffing device into a cluster).
- ``changes.parquet``: changes, and their device, IP, /24 and new bank account, email or
  phone as identifiers.
- ``movements.parquet``: movements, their ``counterparty`` as a keyed hash.

Last, identifier rows that another account shares (stored before or loaded now) get their
``shared`` flag (:mod:`riskscore.store.shared`), in one statement over the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, select
from sqlalchemy import exc as sa_exc

from riskscore import schema
from riskscore.analytics import duckdb_connection
from riskscore.store.bulk import (
    BulkWriter,
    bulk_writer,
    deferred_indexes,
    sqlite_bulk_pragmas,
)
from riskscore.store.errors import DuplicateAccount, InvalidData
from riskscore.store.hashing import CHANGE_KINDS, IdentifierHasher
from riskscore.store.models import (
    Account,
    Base,
    Change,
    Identifier,
    KnownFraud,
    Login,
    Movement,
    Signup,
    SignupHour,
    table_of,
)
from riskscore.store.record import add_signup_hours
from riskscore.store.shared import mark_all_shared
from riskscore.store.types import arrow_to_db

DEFAULT_CHUNK_ROWS = 50_000
_IN_CHUNK = 10_000  # ids per IN (...) query, well under SQLite's variable limit
LOADED_MODELS = (Account, Identifier, Signup, SignupHour, KnownFraud, Login, Change, Movement)
_REJECTED = (sa_exc.IntegrityError, sa_exc.DataError, psycopg.IntegrityError, psycopg.DataError)


def load_dataset(
    data_dir: str | Path,
    engine: Engine,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    hasher: IdentifierHasher | None = None,
) -> dict[str, int]:
    """Load the contract files in ``data_dir`` into the (migrated) store at ``engine``.

    Returns the number of rows written per table (for ``identifiers``: rows sent to the
    upsert, after de-duplication within each chunk). Raises :class:`DuplicateAccount` or
    :class:`InvalidData` without changing the store (see the module docstring).
    """
    if chunk_rows < 1:
        raise InvalidData(f"chunk_rows must be at least 1 (got {chunk_rows})")
    files = _locate(Path(data_dir))
    with engine.connect() as conn, sqlite_bulk_pragmas(conn):
        conn.execution_options(sqlite_begin_immediate=True)
        with conn.begin():
            _check_new_accounts(conn, files["accounts"])
            loader = _Loader(conn, hasher or IdentifierHasher.from_settings(), chunk_rows)
            with deferred_indexes(conn, [table_of(m) for m in LOADED_MODELS]):
                for name, step in loader.steps():
                    if name in files:
                        try:
                            step(files[name])
                        except _REJECTED as exc:
                            detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
                            raise InvalidData(
                                f"{files[name].name}: rows rejected by the store ({detail}); "
                                "nothing was loaded"
                            ) from exc
            mark_all_shared(conn)  # after the index builds: it groups by the hash index
    return dict(loader.written)


def _locate(data_dir: Path) -> dict[str, Path]:
    if not data_dir.is_dir():
        raise InvalidData(f"data directory {str(data_dir)!r} does not exist")
    files = {name: data_dir / f"{name}.parquet" for name in schema.TABLES}
    files = {name: path for name, path in files.items() if path.is_file()}
    if "accounts" not in files:
        raise InvalidData(f"{data_dir / 'accounts.parquet'} is missing (the one required file)")
    return files


def _check_new_accounts(conn: Connection, path: Path) -> None:
    """Raise :class:`DuplicateAccount` for ids repeated in the file or already stored."""
    batches = _batches(path, schema.ACCOUNTS, ("account_id",), DEFAULT_CHUNK_ROWS)
    ids = pa.chunked_array([b["account_id"] for b in batches], pa.string()).combine_chunks()
    counts = pc.value_counts(ids)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        raise DuplicateAccount(path.name, repeated.to_pylist(), repeated=True)
    if conn.execute(select(Account.account_id).limit(1)).first() is None:
        return
    existing: list[str] = []
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids.slice(start, _IN_CHUNK).to_pylist()
        query = select(Account.account_id).where(Account.account_id.in_(chunk))
        existing.extend(conn.scalars(query))
    if existing:
        raise DuplicateAccount("accounts", sorted(existing))


def _sorted_batches(path: Path, columns: Sequence[str], order_by: Sequence[str],
                    chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The file's ``columns`` sorted by ``order_by``, then file order, in batches. Events are
    loaded account by account this way, so each account's rows sit on adjacent pages of the
    store (logins and changes are row-id tables, which keep insertion order; movements are
    clustered by account and time anyway, and sorted rows fill that index in order) and the
    online queries that read one account's events touch a few pages instead of one per
    event."""
    con = duckdb_connection()
    names = ", ".join(f'"{name}"' for name in columns)
    keys = ", ".join([*(f'"{name}"' for name in order_by), "file_row_number"])
    try:
        yield from con.sql(
            f"SELECT {names} FROM read_parquet($path, file_row_number = true) ORDER BY {keys}",
            params={"path": str(path)},
        ).to_arrow_reader(chunk_rows)
    except duckdb.Error as exc:
        raise InvalidData(f"{path.name}: not readable ({exc})") from exc
    finally:
        con.close()


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidData(f"{path}: not a readable Parquet file ({exc})") from exc


def _batches(
    path: Path, table: schema.Table, columns: Sequence[str], chunk_rows: int,
    order_by: Sequence[str] = (),
) -> Iterator[dict[str, pa.Array]]:
    """Batches of ``columns`` cast to the contract's types; absent optional columns are null.
    ``order_by``: required columns to read the rows sorted by (file order breaks ties)."""
    parquet = _open(path)
    present = set(parquet.schema_arrow.names)
    missing = [name for name in table.required if name in columns and name not in present]
    if missing:
        raise InvalidData(f"{path.name}: missing required column(s) {', '.join(missing)}")
    read = [c for c in columns if c in present]
    batches = (_sorted_batches(path, read, order_by, chunk_rows) if order_by
               else parquet.iter_batches(chunk_rows, columns=read))
    for batch in batches:
        out: dict[str, pa.Array] = {}
        for name in columns:
            type_ = table.column(name).type
            if name not in present:
                out[name] = pa.nulls(batch.num_rows, type_)
                continue
            try:
                out[name] = batch.column(name).cast(type_)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidData(f"{path.name}: column {name!r} is not {type_} ({exc})") from exc
        yield out


class _IdentifierRows:
    """Identifier rows of one chunk, reduced to the earliest ``seen_at`` per (account, kind,
    hash) and sorted by primary key, with Arrow (vectorised: millions of rows per load)."""

    KEY = ("account_id", "kind", "value_hash")

    def __init__(self) -> None:
        self._parts: list[pa.Table] = []

    def add(
        self,
        kind: str,
        account_ids: Sequence[str],
        hashes: Sequence[str | None],
        seen: Sequence[Any],
    ) -> None:
        part = pa.table({
            "account_id": pa.array(account_ids, pa.string()),
            "kind": pa.array([kind] * len(account_ids), pa.string()),
            "value_hash": pa.array(hashes, pa.string()),
            "seen_at": pa.array(seen),
        })
        self._parts.append(part.filter(pc.is_valid(part["value_hash"])))

    def columns(self) -> dict[str, list[Any]]:
        """The rows as parallel columns named like the ``identifiers`` table's."""
        if not self._parts:
            return {name: [] for name in (*self.KEY, "seen_at")}
        grouped = (
            pa.concat_tables(self._parts)
            .group_by(list(self.KEY), use_threads=False)
            .aggregate([("seen_at", "min")])
            .sort_by([(name, "ascending") for name in self.KEY])
        )
        columns = {name: grouped[name].to_pylist() for name in self.KEY}
        return columns | {"seen_at": grouped["seen_at_min"].to_pylist()}


class _Loader:
    """The per-file steps of one load, sharing a connection, a writer and a hasher."""

    def __init__(self, conn: Connection, hasher: IdentifierHasher, chunk_rows: int) -> None:
        self.conn = conn
        self.writer: BulkWriter = bulk_writer(conn)
        self.hasher = hasher
        self.chunk_rows = chunk_rows
        self.dialect = conn.dialect.name
        self.written: Counter[str] = Counter()

    def steps(self) -> list[tuple[str, Callable[[Path], None]]]:
        """Steps in foreign-key order: accounts before everything that refers to them."""
        return [
            ("accounts", self.accounts),
            ("signup_sessions", self.signup_sessions),
            ("labels", self.labels),
            ("logins", self.logins),
            ("changes", self.changes),
            ("movements", self.movements),
        ]

    def _read(
        self, path: Path, table: schema.Table, columns: Sequence[str], time_column: str
    ) -> Iterator[tuple[dict[str, list[Any]], list[Any]]]:
        """Batches as Python lists, with ``time_column`` separately in the driver's form,
        sorted by account and time (see :func:`_sorted_batches`)."""
        order = ("account_id", time_column)
        for arrays in _batches(path, table, columns, self.chunk_rows, order_by=order):
            lists = {name: arrays[name].to_pylist() for name in columns if name != time_column}
            yield lists, arrow_to_db(arrays[time_column], self.dialect)

    def _insert(self, model: type[Base], columns: dict[str, Sequence[Any]]) -> None:
        table = table_of(model)
        self.written[table.name] += self.writer.insert(table, columns)

    def _identifiers(self, rows: _IdentifierRows, *, merge: bool = True) -> None:
        """Write identifier rows; ``merge=False`` when none can exist yet (onboarding
        identifiers of new accounts), which skips the upsert (a staging table on PostgreSQL)."""
        columns = rows.columns()
        if merge:
            self.written["identifiers"] += self.writer.upsert_identifiers(columns)
        else:
            self._insert(Identifier, columns)

    def _network(self, devices: list[Any], ips: list[Any]) -> dict[str, list[str | None]]:
        """Hashes of devices, IPs and the IPs' /24 prefixes, by identifier kind."""
        hash_column = self.hasher.hash_column
        return {"device": hash_column("device", devices), "ip": hash_column("ip", ips),
                "ip24": hash_column("ip24", ips)}

    def accounts(self, path: Path) -> None:
        columns = ("account_id", "created_at", "country", "business_type", "mcc", "email",
                   "phone", "address_line1", "city", "postal_code", "tax_id", "bank_fingerprint")
        h = self.hasher
        for c, created in self._read(path, schema.ACCOUNTS, columns, "created_at"):
            ids, country = c["account_id"], c["country"]
            self._insert(Account, {
                "account_id": ids, "created_at": created, "country": country,
                "business_type": c["business_type"], "mcc": c["mcc"],
                "onboarding_features": ["{}"] * len(ids),
            })
            rows = _IdentifierRows()
            rows.add("email", ids, h.hash_column("email", c["email"]), created)
            rows.add("phone", ids, h.hash_column("phone", c["phone"], country), created)
            address = h.hash_column(
                "address", c["address_line1"], c["city"], c["postal_code"], country
            )
            rows.add("address", ids, address, created)
            rows.add("tax_id", ids, h.hash_column("tax_id", c["tax_id"]), created)
            bank = h.hash_column("bank_account", c["bank_fingerprint"])
            rows.add("bank_account", ids, bank, created)
            self._identifiers(rows, merge=False)  # new accounts: nothing to merge with

    def signup_sessions(self, path: Path) -> None:
        columns = ("account_id", "device_id", "ip", "ip_type", "ip_country")
        table = schema.SIGNUP_SESSIONS
        for arrays in _batches(path, table, (*columns, "completed_at"), self.chunk_rows):
            c = {name: arrays[name].to_pylist() for name in columns}
            completed = arrow_to_db(arrays["completed_at"], self.dialect)
            network = self._network(c["device_id"], c["ip"])
            self._insert(Signup, {
                "account_id": c["account_id"], "completed_at": completed,
                "device_hash": network["device"], "ip_hash": network["ip"],
                "ip24_hash": network["ip24"], "ip_type": c["ip_type"],
                "ip_country": c["ip_country"],
            })
            hours = pc.value_counts(pc.floor_temporal(arrays["completed_at"], unit="hour"))
            add_signup_hours(self.conn, dict(zip(hours.field("values").to_pylist(),
                                                 hours.field("counts").to_pylist(), strict=True)))
            rows = _IdentifierRows()
            for kind, hashes in network.items():
                rows.add(kind, c["account_id"], hashes, completed)
            self._identifiers(rows, merge=False)  # new accounts: nothing to merge with

    def labels(self, path: Path) -> None:
        columns = ("account_id", "label_known_at", "is_fraud", "typology")
        for arrays in _batches(path, schema.LABELS, columns, self.chunk_rows):
            known = pc.and_(pc.fill_null(arrays["is_fraud"], False),
                            pc.is_valid(arrays["label_known_at"]))
            self._insert(KnownFraud, {
                "account_id": arrays["account_id"].filter(known).to_pylist(),
                "known_at": arrow_to_db(arrays["label_known_at"].filter(known), self.dialect),
                "typology": arrays["typology"].filter(known).to_pylist(),
            })

    def logins(self, path: Path) -> None:
        columns = ("account_id", "ts", "device_id", "ip", "ip_type", "ip_country", "success")
        for c, ts in self._read(path, schema.LOGINS, columns, "ts"):
            network = self._network(c["device_id"], c["ip"])
            self._insert(Login, {
                "account_id": c["account_id"], "ts": ts, "device_hash": network["device"],
                "ip_hash": network["ip"], "ip_type": c["ip_type"],
                "ip_country": c["ip_country"], "success": c["success"],
            })
            # Only successful logins make a device or IP the account's own identifier.
            rows = _IdentifierRows()
            for kind, hashes in network.items():
                rows.add(kind, c["account_id"], _where(c["success"], hashes), ts)
            self._identifiers(rows)

    def changes(self, path: Path) -> None:
        columns = ("account_id", "ts", "change_type", "device_id", "ip", "new_value")
        for c, ts in self._read(path, schema.CHANGES, columns, "ts"):
            ids, types = c["account_id"], c["change_type"]
            countries = self._countries(
                {a for a, t in zip(ids, types, strict=True) if t == "phone"}
            )
            new_values = [
                self.hasher.change_value(t, v, countries.get(a))
                for a, t, v in zip(ids, types, c["new_value"], strict=True)
            ]
            network = self._network(c["device_id"], c["ip"])
            self._insert(Change, {
                "account_id": ids, "ts": ts, "change_type": types,
                "device_hash": network["device"], "ip_hash": network["ip"],
                "new_value_hash": [p[1] if p else None for p in new_values],
            })
            rows = _IdentifierRows()
            for kind, hashes in network.items():
                rows.add(kind, ids, hashes, ts)
            for kind in CHANGE_KINDS.values():
                rows.add(kind, ids, [p[1] if p and p[0] == kind else None for p in new_values], ts)
            self._identifiers(rows)

    def movements(self, path: Path) -> None:
        columns = tuple(column.name for column in schema.MOVEMENTS.columns)
        for c, ts in self._read(path, schema.MOVEMENTS, columns, "ts"):
            # External account ids are bank details: kept only as keyed hashes, which
            # preserves the distinct counts the features take of them.
            c["counterparty"] = self.hasher.hash_column("counterparty", c["counterparty"])
            self._insert(Movement, {**c, "ts": ts})

    def _countries(self, account_ids: set[str]) -> dict[str, str]:
        """Countries of accounts (already in the store), for phone numbers in national form."""
        ids = sorted(account_ids)
        found: dict[str, str] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(Account.account_id, Account.country).where(
                Account.account_id.in_(ids[start:start + _IN_CHUNK])
            )
            found.update((account_id, country) for account_id, country in self.conn.execute(query))
        return found


def _where(keep: Sequence[bool | None], values: Sequence[Any]) -> list[Any]:
    return [v if k else None for k, v in zip(keep, values, strict=True)]
