"""Online writes: one application at onboarding, its static features, known fraud.

Each function works inside the caller's session and does not commit: the caller owns the
transaction (so a decision can be stored in the same one). Writes that must be all or
nothing run in a SAVEPOINT, so a failure leaves neither partial rows nor a broken session.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Insert, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from riskscore.store.errors import AccountNotFound, DuplicateAccount, InvalidData
from riskscore.store.hashing import IdentifierHasher
from riskscore.store.models import Account, Identifier, KnownFraud, Signup, SignupHour, table_of
from riskscore.store.shared import mark_shared
from riskscore.store.types import floor_hour, require_aware

FeatureValue = float | int | bool | None

APPLICATION_REQUIRED: tuple[str, ...] = (
    "account_id", "created_at", "country", "business_type", "mcc",
)
SIGNUP_REQUIRED: tuple[str, ...] = ("completed_at", "device_id", "ip")
_SIGNUP_KINDS = frozenset({"device", "ip", "ip24"})


def record_application(
    session: Session,
    application: Mapping[str, Any],
    signup: Mapping[str, Any],
    *,
    hasher: IdentifierHasher | None = None,
    onboarding_features: Mapping[str, FeatureValue] | None = None,
    savepoint: bool = True,
) -> None:
    """Add a new account with its hashed identifiers and signup, all or nothing.

    ``application`` is a contract ``accounts`` row, ``signup`` its ``signup_sessions`` row
    (its ``account_id`` may be omitted). Identifiers from the application are first seen
    at ``created_at``, the device and IP at ``completed_at``. Raw PII and names are not
    stored. ``onboarding_features`` are stored with the account (as
    :func:`save_onboarding_features` would, without a second write). Raises
    :class:`InvalidData` naming a missing or bad field, or :class:`DuplicateAccount` when
    the id exists; either way nothing is written. ``savepoint=False`` skips the SAVEPOINT
    that guarantees this for a caller whose transaction is rolled back whole on any error
    (two statements fewer).
    """
    _require(application, APPLICATION_REQUIRED, "application")
    _require(signup, SIGNUP_REQUIRED, "signup")
    account_id = application["account_id"]
    if signup.get("account_id", account_id) != account_id:
        raise InvalidData(
            f"signup.account_id {signup['account_id']!r} does not match application.account_id "
            f"{account_id!r}"
        )
    created_at = _aware(application["created_at"], "application.created_at")
    completed_at = _aware(signup["completed_at"], "signup.completed_at")
    pairs = (hasher or IdentifierHasher.from_settings()).application(application, signup)
    hashed = dict(pairs)  # kind -> hash for the signup columns (one value per kind here)
    features = _clean_features(onboarding_features or {})

    # Core inserts on the session's connection, on SQLite straight on the DBAPI connection
    # (insert_rows): the ORM's bulk-insert path costs ~1 ms a statement, SQLAlchemy Core's
    # per-execution work several times what SQLite takes to insert a row.
    with session.begin_nested() if savepoint else nullcontext():
        conn = session.connection()
        try:
            insert_rows(conn, table_of(Account), [{
                "account_id": account_id, "created_at": created_at,
                "country": application["country"], "business_type": application["business_type"],
                "mcc": application["mcc"], "onboarding_features": features,
            }])
        except (IntegrityError, sqlite3.IntegrityError) as exc:
            raise DuplicateAccount("accounts", [account_id]) from exc
        insert_rows(conn, table_of(Identifier), [
            {"account_id": account_id, "kind": kind, "value_hash": value_hash,
             "seen_at": completed_at if kind in _SIGNUP_KINDS else created_at}
            for kind, value_hash in pairs
        ])
        mark_shared(conn, account_id, pairs)
        insert_rows(conn, table_of(Signup), [{
            "account_id": account_id, "completed_at": completed_at,
            "device_hash": hashed.get("device"), "ip_hash": hashed.get("ip"),
            "ip24_hash": hashed.get("ip24"), "ip_type": signup.get("ip_type"),
            "ip_country": signup.get("ip_country"),
        }])
        add_signup_hours(conn, {floor_hour(completed_at): 1})


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *,
                accumulate: tuple[str, ...] = ()) -> None:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` on ``conn``, as a Core
    insert would (values go through the columns' types). On SQLite the statement is
    compiled once and run with ``executemany`` on the DBAPI connection, inside ``conn``'s
    transaction; a constraint violation then raises ``sqlite3.IntegrityError``.
    ``accumulate``: columns a row adds to those of the row with its primary key, if any
    (an upsert that sums, for rollups)."""
    if not rows:
        return
    names = tuple(rows[0])
    if conn.dialect.name != "sqlite":
        conn.execute(_insert(table, accumulate, conn.dialect.name), list(rows))
        return
    sql, processors = _sqlite_insert(table, names, accumulate, conn.dialect)
    values = [tuple(v if p is None else p(v) for p, v in
                    zip(processors, (row[n] for n in names), strict=True)) for row in rows]
    conn.connection.driver_connection.executemany(sql, values)  # type: ignore[union-attr]


@cache
def _insert(table: Table, accumulate: tuple[str, ...], dialect_name: str) -> Insert:
    """The Core statement, built once (building an upsert costs more than running it)."""
    if not accumulate:
        return insert(table)
    stmt = (postgresql if dialect_name == "postgresql" else sqlite).insert(table)
    return stmt.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={c: table.c[c] + stmt.excluded[c] for c in accumulate})


@cache
def _sqlite_insert(table: Table, names: tuple[str, ...], accumulate: tuple[str, ...],
                   dialect: Any) -> tuple[str, tuple[Any, ...]]:
    columns = [table.c[n] for n in names]
    sql = (f"INSERT INTO {table.name} ({', '.join(names)}) "
           f"VALUES ({', '.join('?' * len(names))})")
    if accumulate:
        key = ", ".join(c.name for c in table.primary_key.columns)
        sums = ", ".join(f"{c} = {c} + excluded.{c}" for c in accumulate)
        sql += f" ON CONFLICT ({key}) DO UPDATE SET {sums}"
    return sql, tuple(c.type.bind_processor(dialect) for c in columns)


def add_signup_hours(conn: Connection, counts: Mapping[datetime, int]) -> None:
    """Add signup counts to the hourly rollup (keys: starts of UTC hours). Every writer of
    ``signups`` calls this in the same transaction, so the rollup always matches."""
    insert_rows(conn, table_of(SignupHour),
                [{"hour_start": hour, "signups": n} for hour, n in sorted(counts.items())],
                accumulate=("signups",))


def save_onboarding_features(
    session: Session, account_id: str, features: Mapping[str, FeatureValue]
) -> None:
    """Replace the account's precomputed static onboarding features.

    Values must be float, int, bool or None (NumPy scalars are accepted); NaN is stored as
    None, because JSON has no NaN. Raises :class:`AccountNotFound` or :class:`InvalidData`.
    """
    clean = _clean_features(features)
    result = session.execute(
        update(Account).where(Account.account_id == account_id).values(onboarding_features=clean)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise AccountNotFound(account_id)


def mark_known_fraud(
    session: Session, account_id: str, known_at: datetime, typology: str | None = None
) -> None:
    """Record that the account is confirmed fraudulent from ``known_at`` on.

    Marking an account again keeps the earliest ``known_at`` (and its typology): the platform
    knew from then. Raises :class:`AccountNotFound` for an unknown account.
    """
    known_at = _aware(known_at, "known_at")
    if session.scalar(select(Account.account_id).where(Account.account_id == account_id)) is None:
        raise AccountNotFound(account_id)
    existing = session.get(KnownFraud, account_id)
    if existing is None:
        session.add(KnownFraud(account_id=account_id, known_at=known_at, typology=typology))
    elif known_at < existing.known_at:
        existing.known_at, existing.typology = known_at, typology
    session.flush()


def _clean_features(features: Mapping[str, FeatureValue]) -> dict[str, FeatureValue]:
    return {str(name): _feature_value(str(name), value) for name, value in features.items()}


def _require(record: Mapping[str, Any], fields: tuple[str, ...], name: str) -> None:
    missing = [f for f in fields if record.get(f) is None or record.get(f) == ""]
    if missing:
        raise InvalidData(f"{name} is missing required field(s): {', '.join(missing)}")


def _aware(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidData(f"{field} must be a datetime (got {type(value).__name__})")
    try:
        return require_aware(value, field)
    except ValueError as exc:
        raise InvalidData(str(exc)) from exc


def _feature_value(name: str, value: Any) -> FeatureValue:
    if hasattr(value, "item") and not isinstance(value, (bool, int, float)):
        value = value.item()  # NumPy scalar -> Python
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise InvalidData(f"onboarding feature {name!r} is infinite (JSON cannot store it)")
        return value
    raise InvalidData(
        f"onboarding feature {name!r} is {type(value).__name__}, not float, int, bool or None"
    )
