"""Check a data directory against the contract before anything reads it.

Every problem names the table and the column, so a platform exporting its own history
knows exactly what to fix. Optional tables and columns may be absent (an optional column
that is entirely null counts as absent: it carries nothing): the report says which, and
feature pipelines drop the features that need them. Checks across tables catch rows of
unknown accounts and times that contradict each other (a label known before its account
existed, activity before signup).

The checks that read every row of the big tables (duplicate keys, rows of unknown
accounts, times across tables) may run on a thread beside the work that reads the data
(``validate_dataset(root, background=True)``); ``DatasetReport.confirm`` waits for them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.schema import (
    CAPTURE_KINDS,
    CHANGE_TYPES,
    IP_TYPES,
    MOVEMENT_TYPES,
    TABLES,
    VERIFICATION_STATUSES,
)

REQUIRED_TABLES: tuple[str, ...] = ("accounts", "movements")
ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("movements", "type"): MOVEMENT_TYPES,
    ("movements", "capture_kind"): CAPTURE_KINDS,
    ("movements", "status"): ("succeeded", "failed"),
    ("changes", "change_type"): CHANGE_TYPES,
    ("logins", "ip_type"): IP_TYPES,
    ("signup_sessions", "ip_type"): IP_TYPES,
    ("accounts", "business_type"): ("individual", "company", "non_profit"),
    ("accounts", "verification_status"): VERIFICATION_STATUSES,
}
UNIQUE: dict[str, str] = {"accounts": "account_id", "movements": "movement_id",
                          "labels": "account_id", "signup_sessions": "account_id"}


class DataContractError(ValueError):
    """The data does not follow the contract; the message names table and column."""


@dataclass
class DatasetReport:
    """What a valid data directory holds and lacks."""

    root: Path
    rows: dict[str, int] = field(default_factory=dict)
    missing_tables: list[str] = field(default_factory=list)
    missing_columns: dict[str, list[str]] = field(default_factory=dict)
    empty_columns: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    account_hashes_distinct: bool = False
    """No two account ids share a 64-bit ``hash``: batch jobs may group by it exactly."""
    pending: Future[None] | None = field(default=None, repr=False, compare=False)
    """The row checks still running (``validate_dataset(background=True)``)."""

    def confirm(self) -> DatasetReport:
        """Wait for the row checks still running; raise the ``DataContractError`` they
        found (``warnings`` is complete once this returns). What was computed from the
        data is only valid once this returns."""
        if self.pending is not None:
            self.pending.result()
        return self

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether ``table`` (and ``column`` in it, with at least one value) is present."""
        if table not in self.rows:
            return False
        return column is None or (column not in self.missing_columns.get(table, [])
                                  and column not in self.empty_columns.get(table, []))


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual == expected or pa.types.is_null(actual):  # null: an entirely empty column
        return True
    if pa.types.is_timestamp(expected):
        return pa.types.is_timestamp(actual) and actual.tz is not None
    if pa.types.is_integer(expected):
        return pa.types.is_integer(actual)
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or (
            pa.types.is_dictionary(actual) and pa.types.is_string(actual.value_type))
    if pa.types.is_list(expected):
        return pa.types.is_list(actual) or pa.types.is_large_list(actual)
    return False


def validate_dataset(root: Path | str, *, background: bool = False) -> DatasetReport:
    """Validate every contract table found under ``root``; raise on the first problem.

    With ``background`` the row checks (duplicate keys other than the accounts', and the
    checks across tables) still run when this returns, on a thread with its own DuckDB
    connection: a job starts on the data at once, and calls ``report.confirm()`` before it
    hands anything on."""
    root = Path(root)
    if not root.is_dir():
        raise DataContractError(f"data directory {root} does not exist")
    report = DatasetReport(root)
    con = duckdb.connect()
    for name, table in TABLES.items():
        path = root / f"{name}.parquet"
        if not path.exists():
            if name in REQUIRED_TABLES:
                raise DataContractError(f"table {name}: required file {path} is missing")
            report.missing_tables.append(name)
            continue
        try:
            schema = pq.read_schema(path)
        except Exception as exc:  # noqa: BLE001 - any read failure is the user's file
            raise DataContractError(f"table {name}: {path} is not a readable Parquet file: "
                                    f"{exc}") from exc
        present = set(schema.names)
        twice = sorted({n for n in schema.names if schema.names.count(n) > 1})
        if twice:
            raise DataContractError(f"table {name}, column {twice[0]!r}: appears more than once")
        for col in table.columns:
            if col.name not in present:
                if col.required:
                    raise DataContractError(f"table {name}: required column {col.name!r} is "
                                            "missing")
                report.missing_columns.setdefault(name, []).append(col.name)
                continue
            actual = schema.field(col.name).type
            if not _compatible(actual, col.type):
                hint = (" (pandas makes an integer column with nulls float: write it with "
                        "dtype 'Int64')" if pa.types.is_integer(col.type)
                        and pa.types.is_floating(actual) else
                        " (timestamps must carry a time zone: UTC)"
                        if pa.types.is_timestamp(actual) and actual.tz is None else "")
                raise DataContractError(f"table {name}, column {col.name!r}: expected {col.type}"
                                        f", found {actual}{hint}")
        report.rows[name] = pq.read_metadata(path).num_rows
        _check_values(con, name, path, present, table.required)
        if name == "accounts":
            report.account_hashes_distinct = _check_unique(con, name, path) == 0
        optional = [c.name for c in table.columns if not c.required and c.name in present]
        empty = _empty_columns(con, path, optional) if report.rows[name] else []
        if empty:
            report.empty_columns[name] = empty
    if not background:
        _check_rows(con, report)
        return report
    pool = ThreadPoolExecutor(1, thread_name_prefix="validate")
    report.pending = pool.submit(_check_rows, duckdb.connect(), report)
    pool.shutdown(wait=False)  # the thread ends with its checks
    return report


def _check_rows(con: duckdb.DuckDBPyConnection, report: DatasetReport) -> None:
    """The checks that read every row: unique keys (the accounts' are checked before) and
    the checks across tables."""
    for name in [n for n in UNIQUE if n in report.rows and n != "accounts"]:
        _check_unique(con, name, report.root / f"{name}.parquet")
    _check_across_tables(con, report.root, report)


def _empty_columns(con: duckdb.DuckDBPyConnection, path: Path, columns: list[str]) -> list[str]:
    """Columns of ``path`` without a single non-null value."""
    if not columns:
        return []
    counts = con.execute("SELECT " + ", ".join(f'count("{c}")' for c in columns)
                         + f" FROM read_parquet('{path}')").fetchone()
    return [c for c, n in zip(columns, counts, strict=True) if n == 0]


# Time columns per table that should not lie before the account's created_at: (column,
# what it means, fatal). A label known before its account existed would silently remove
# the account from training: an error. Activity before signup is suspicious (clock or
# time-zone mix-ups) but harmless to point-in-time features: a warning in the report.
NOT_BEFORE_SIGNUP: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "labels": (("label_known_at", "a label known", True),
               ("fraud_start_at", "a fraud start", False)),
    "movements": (("ts", "movements", False),),
    "logins": (("ts", "logins", False),),
    "changes": (("ts", "changes", False),),
    "signup_sessions": (),
}


def _check_across_tables(con: duckdb.DuckDBPyConnection, root: Path,
                         report: DatasetReport) -> None:
    """Rows must belong to known accounts, and times must not contradict each other.
    Each table is reduced to one row per account first (rows, earliest times), which is
    cheaper than joining every movement to its account."""
    def src(name: str) -> str:
        return f"read_parquet('{root / f'{name}.parquet'}')"

    for name, checks in NOT_BEFORE_SIGNUP.items():
        if name not in report.rows:
            continue
        times = [(col, what, fatal) for col, what, fatal in checks if report.has(name, col)]
        firsts = "".join(f', min("{col}") AS t{i}' for i, (col, _, _) in enumerate(times))
        early = "".join(f", count(*) FILTER (WHERE g.t{i} < a.created_at), any_value("
                        f"g.account_id) FILTER (WHERE g.t{i} < a.created_at)"
                        for i in range(len(times)))
        found = con.execute(
            f"WITH g AS (SELECT account_id, count(*) AS n{firsts} FROM {src(name)} "
            "GROUP BY account_id) "
            "SELECT sum(g.n) FILTER (WHERE a.account_id IS NULL), any_value(g.account_id) "
            f"FILTER (WHERE a.account_id IS NULL){early} FROM g LEFT JOIN (SELECT account_id, "
            f"created_at FROM {src('accounts')}) a ON a.account_id = g.account_id").fetchone()
        if found[0]:
            raise DataContractError(
                f"table {name}, column 'account_id': {found[0]} rows belong to accounts not "
                f"in the accounts table (e.g. {found[1]!r})")
        for i, (col, what, fatal) in enumerate(times, start=1):
            count, example = found[2 * i], found[2 * i + 1]
            if not count:
                continue
            message = (f"table {name}, column {col!r}: {count} accounts have {what} before "
                       f"they were created (accounts.created_at; e.g. {example!r})")
            if fatal:
                raise DataContractError(f"{message}; times must be UTC and an account's "
                                        "history starts at its signup")
            report.warnings.append(message)
    if report.has("signup_sessions"):
        bad = con.execute(f"SELECT count(*), any_value(account_id) FROM {src('signup_sessions')}"
                          " WHERE completed_at < started_at").fetchone()
        if bad[0]:
            raise DataContractError(
                f"table signup_sessions, column 'completed_at': {bad[0]} sessions completed "
                f"before they started (e.g. {bad[1]!r})")


def require_for_training(report: DatasetReport) -> None:
    """Training also needs the labels table with ``label_known_at`` (null: never detected)."""
    if "labels" not in report.rows:
        raise DataContractError("table labels: training needs labels.parquet (account_id, "
                                "is_fraud, label_known_at)")
    if "label_known_at" in report.missing_columns.get("labels", []):
        raise DataContractError("table labels: column 'label_known_at' is required for training "
                                "(when each fraud became known; null when it never was)")


def _check_values(con: duckdb.DuckDBPyConnection, name: str, path: Path, present: set[str],
                  required: tuple[str, ...]) -> None:
    """Raise on nulls in required columns, unknown enum values and non-positive amounts."""
    src = f"read_parquet('{path}')"
    for col in required:
        nulls = con.execute(f'SELECT count(*) FROM {src} WHERE "{col}" IS NULL').fetchone()[0]
        if nulls:
            raise DataContractError(f"table {name}, column {col!r}: {nulls} null values in a "
                                    "required column")
    for (table, col), allowed in ENUMS.items():
        if table != name or col not in present:
            continue
        bad = con.execute(
            f'SELECT DISTINCT "{col}" FROM {src} WHERE "{col}" IS NOT NULL AND "{col}" NOT IN '
            f"({', '.join(repr(v) for v in allowed)}) LIMIT 5").fetchall()
        if bad:
            raise DataContractError(f"table {name}, column {col!r}: unknown values "
                                    f"{[b[0] for b in bad]}; allowed: {list(allowed)}")
    if name == "movements":
        bad = con.execute(f"SELECT count(*) FROM {src} WHERE amount <= 0").fetchone()[0]
        if bad:
            raise DataContractError(f"table movements, column 'amount': {bad} rows are not "
                                    "positive (amounts are positive; the type gives direction)")


def _check_unique(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> int:
    """Raise on duplicate values of the table's key; return how many values share a
    64-bit hash with another. Sorting the hashes (NumPy, one core) costs far less than
    DuckDB's distinct count of 20M movement ids and can only find more duplicates than
    there are: the exact count runs only then."""
    key = UNIQUE[name]
    hashes = con.execute(f'SELECT hash("{key}") AS h FROM read_parquet(\'{path}\')'
                         ).fetchnumpy()["h"]
    hashes.sort()
    clashes = int(np.count_nonzero(hashes[1:] == hashes[:-1]))
    del hashes
    if clashes:
        dupes = con.execute(f'SELECT count(*) - count(DISTINCT "{key}") FROM '
                            f"read_parquet('{path}')").fetchone()[0]
        if dupes:
            raise DataContractError(f"table {name}, column {key!r}: {dupes} duplicate values")
    return clashes
