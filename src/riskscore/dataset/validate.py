"""Check a data directory against the contract before anything reads it.

Every problem names the table and the column, so a platform exporting its own history
knows exactly what to fix. Optional tables and columns may be absent: the report says
which, and feature pipelines drop the features that need them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
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

    def has(self, table: str, column: str | None = None) -> bool:
        if table not in self.rows:
            return False
        return column is None or column not in self.missing_columns.get(table, [])


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    if actual == expected:
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


def validate_dataset(root: Path | str) -> DatasetReport:
    """Validate every contract table found under ``root``; raise on the first problem."""
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
        for col in table.columns:
            if col.name not in present:
                if col.required:
                    raise DataContractError(f"table {name}: required column {col.name!r} is "
                                            "missing")
                report.missing_columns.setdefault(name, []).append(col.name)
                continue
            actual = schema.field(col.name).type
            if not _compatible(actual, col.type):
                raise DataContractError(f"table {name}, column {col.name!r}: expected {col.type}"
                                        f", found {actual}")
        report.rows[name] = pq.read_metadata(path).num_rows
        _check_values(con, name, path, present, table.required)
    return report


def _check_values(con: duckdb.DuckDBPyConnection, name: str, path: Path, present: set[str],
                  required: tuple[str, ...]) -> None:
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
    key = UNIQUE.get(name)
    if key:
        dupes = con.execute(f'SELECT count(*) - count(DISTINCT "{key}") FROM {src}').fetchone()[0]
        if dupes:
            raise DataContractError(f"table {name}, column {key!r}: {dupes} duplicate values")
