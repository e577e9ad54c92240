"""Column types shared by the models: timestamps that are always tz-aware UTC in Python.

PostgreSQL stores ``timestamptz``. SQLite has no timestamp type, so it stores an integer
count of microseconds since the Unix epoch (UTC): compact, indexable, compared exactly,
and written straight from Arrow's ``timestamp[us, UTC]`` by the bulk loader without
creating Python objects (see :func:`arrow_to_db`). Naive datetimes are rejected, so a
local time can never be mistaken for UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_ARROW_TS = pa.timestamp("us", tz="UTC")


def require_aware(value: datetime, name: str = "timestamp") -> datetime:
    """``value`` converted to UTC; naive datetimes raise ``ValueError`` naming ``name``."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def floor_hour(value: datetime) -> datetime:
    """Start of the UTC hour containing the aware datetime ``value``."""
    return require_aware(value).replace(minute=0, second=0, microsecond=0)


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (SQLite's representation)."""
    return (require_aware(value) - EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class UtcTimestamp(TypeDecorator[datetime]):
    """A point in time: aware UTC ``datetime`` in Python, ``timestamptz`` or epoch µs in SQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return to_micros(value) if dialect.name == "sqlite" else require_aware(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_micros(value)
        return value.astimezone(UTC)


def arrow_to_db(values: pa.Array | pa.ChunkedArray, dialect_name: str) -> list[Any]:
    """Driver-ready values of an Arrow timestamp column, as :class:`UtcTimestamp` binds them."""
    values = values.cast(_ARROW_TS)
    if dialect_name == "sqlite":
        return values.cast(pa.int64()).to_pylist()
    return values.to_pylist()
