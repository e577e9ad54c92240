"""The read side for online features: one account, as of a point in time.

Every history query takes an explicit ``as_of`` and counts only rows strictly before it
(an identifier first seen, a signup completed, fraud known, an event happened, before
``as_of``), so results as of ``t`` never change when later rows arrive: the same answer
at training time and at serving time.

Speed (budget: p99 ≤ 5 ms for one account among 1M on SQLite): every query is one or a
few statements served by an index (no per-row round trips), built once at import with
bind parameters and run on the session's Core connection, because building and caching a
fresh ORM statement costs several times more than SQLite takes to answer it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    distinct,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.orm import Session

from riskscore import schema
from riskscore.settings import get_settings
from riskscore.store.errors import AccountNotFound, InvalidData
from riskscore.store.models import (
    STORE_KINDS,
    Account,
    Change,
    Identifier,
    KnownFraud,
    Login,
    Movement,
    Signup,
    SignupHour,
    table_of,
)
from riskscore.store.types import floor_hour, require_aware, to_micros

HashPair = tuple[str, str]
CLUSTER_KINDS: tuple[str, ...] = ("email", "phone", "address", "tax_id", "bank_account", "device")
"""Kinds that link accounts into clusters by default. IPs and /24s are left out: carrier-grade
NAT, coworking spaces and mobile networks share them between unrelated accounts."""

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
BASELINE_DAYS = 28

_A, _I, _K, _S, _H, _M, _L, _C = (
    table_of(m).c
    for m in (Account, Identifier, KnownFraud, Signup, SignupHour, Movement, Login, Change)
)


@dataclass(frozen=True)
class AccountProfile:
    """The stored account row."""

    account_id: str
    created_at: datetime
    country: str
    business_type: str
    mcc: str
    onboarding_features: dict[str, float | int | bool | None]


@dataclass(frozen=True)
class DuplicateCount:
    """Other accounts sharing identifiers of one kind, and how many of them are known fraud."""

    accounts: int
    known_fraud: int


@dataclass(frozen=True)
class Cluster:
    """The accounts linked to one account through shared identifiers.

    ``size`` counts the account itself; ``known_fraud`` counts the *other* members known to
    be fraudulent. ``truncated`` is true when exploration stopped at the size limit.
    """

    size: int
    known_fraud: int
    truncated: bool


@dataclass(frozen=True)
class SignupVelocity:
    """Signups completed in the hour and the day before ``as_of``, by the same device, IP and
    IP /24, and platform-wide: the last day and the daily average of the 28 days before it."""

    device_1h: int
    device_1d: int
    ip_1h: int
    ip_1d: int
    ip24_1h: int
    ip24_1d: int
    platform_1d: int
    platform_daily_avg_28d: float


@dataclass(frozen=True)
class AccountEvents:
    """An account's events before ``as_of``, in the contract's columns, sorted by ``ts``.

    ``device_id``, ``ip`` and ``new_value`` hold keyed hashes (what the store keeps): equal
    raw values give equal hashes, so "new device" and "changed to a known value" still work.
    """

    movements: pd.DataFrame
    logins: pd.DataFrame
    changes: pd.DataFrame


def account_profile(session: Session, account_id: str) -> AccountProfile:
    """The account's row; raises :class:`AccountNotFound` naming the id."""
    row = session.connection().execute(_PROFILE, {"account_id": account_id}).first()
    if row is None:
        raise AccountNotFound(account_id)
    return AccountProfile(*row[:-1], onboarding_features=dict(row[-1]))


_PROFILE = select(
    _A.account_id, _A.created_at, _A.country, _A.business_type, _A.mcc, _A.onboarding_features
).where(_A.account_id == bindparam("account_id"))


def signup_of(session: Session, account_id: str) -> dict[str, Any] | None:
    """The account's signup under the contract's ``signup_sessions`` names (``started_at`` is
    not stored); ``device_id`` and ``ip`` hold keyed hashes, as in :func:`account_events`.
    ``None`` when the store has no signup for the account."""
    row = session.connection().execute(_SIGNUP, {"account_id": account_id}).first()
    return None if row is None else dict(row._mapping)


_SIGNUP = select(
    _S.account_id, _S.completed_at, _S.device_hash.label("device_id"), _S.ip_hash.label("ip"),
    _S.ip_type, _S.ip_country,
).where(_S.account_id == bindparam("account_id"))


def identifier_hashes(session: Session, account_id: str, as_of: datetime) -> list[HashPair]:
    """``(kind, hash)`` of every identifier the account used before ``as_of``, sorted."""
    params = {"account_id": account_id, "as_of": _as_of(as_of)}
    return [(kind, value_hash) for kind, value_hash in
            session.connection().execute(_HASHES, params)]


_HASHES = (
    select(_I.kind, _I.value_hash)
    .where(_I.account_id == bindparam("account_id"), _I.seen_at < bindparam("as_of"))
    .order_by(_I.kind, _I.value_hash)
)


def duplicate_counts(
    session: Session,
    hashes: Iterable[HashPair],
    as_of: datetime,
    exclude_account_id: str | None = None,
) -> dict[str, DuplicateCount]:
    """Per kind of ``hashes``: distinct other accounts that used any of them before ``as_of``,
    and how many of those were known fraud before ``as_of``. Kinds without matches count 0."""
    params: dict[str, Any] = {"as_of": _as_of(as_of), "exclude": exclude_account_id}
    by_kind = _by_kind(hashes)
    counts = {kind: DuplicateCount(0, 0) for kind in by_kind}
    if by_kind:
        query = _duplicates_query(tuple(sorted(by_kind)))
        for kind, accounts, fraud in session.connection().execute(query, params | by_kind):
            counts[kind] = DuplicateCount(accounts, fraud)
    return counts


@cache
def _duplicates_query(kinds: tuple[str, ...]) -> Select[Any]:
    known = case((_K.known_at < bindparam("as_of"), _I.account_id))
    return (
        select(_I.kind, func.count(distinct(_I.account_id)), func.count(distinct(known)))
        .outerjoin_from(table_of(Identifier), table_of(KnownFraud),
                        _K.account_id == _I.account_id)
        .where(_matching(kinds), _I.seen_at < bindparam("as_of"))
        .where(or_(bindparam("exclude", type_=String).is_(None),
                   _I.account_id != bindparam("exclude", type_=String)))
        .group_by(_I.kind)
    )


def linked_cluster(
    session: Session,
    account_id: str | None,
    as_of: datetime,
    kinds: Sequence[str] = CLUSTER_KINDS,
    max_size: int | None = None,
    seed_hashes: Iterable[HashPair] = (),
    own_hashes: Iterable[HashPair] | None = None,
) -> Cluster:
    """The connected component of an account in the graph "shares an identifier of one of
    ``kinds``, both first used before ``as_of``", explored breadth-first with two queries per
    hop and cut at ``max_size`` members (default: settings' ``cluster_max_size``). Members are
    taken in account-id order within a hop, so a truncated cluster is deterministic.

    The account is ``account_id`` (its stored identifiers), plus ``seed_hashes``; for an
    application not stored yet, pass ``account_id=None`` and its hashes as ``seed_hashes``
    (it still counts itself in ``size``). ``own_hashes``: the stored account's identifiers
    before ``as_of`` (:func:`identifier_hashes`) when the caller has them already, which
    saves the first query.
    """
    as_of = _as_of(as_of)
    limit = get_settings().cluster_max_size if max_size is None else max_size
    if limit < 1:
        raise InvalidData(f"max_size must be at least 1 (got {limit})")
    conn = session.connection()
    stored = {account_id} if account_id is not None else set()
    members, frontier, visited = set(stored), list(stored), set[HashPair]()
    hop = {pair for pair in seed_hashes if pair[0] in kinds}
    if own_hashes is not None and account_id is not None:
        hop |= {pair for pair in own_hashes if pair[0] in kinds}
        frontier = []
    applicant = 0 if account_id is not None else 1  # an unstored applicant counts itself
    truncated = False
    while not truncated:
        if frontier:
            params = {"frontier": frontier, "kinds": list(kinds), "as_of": as_of}
            hop |= {(k, h) for k, h in conn.execute(_HOP_HASHES, params)}
        hop -= visited
        if not hop:
            break
        visited |= hop
        room = limit - applicant - len(members)
        by_kind = _by_kind(hop)
        params = {"as_of": as_of, "members": sorted(members), "room": room + 1} | by_kind
        neighbours = list(conn.execute(_neighbours_query(tuple(sorted(by_kind))), params).scalars())
        truncated = len(neighbours) > room
        frontier, hop = neighbours[:room], set()
        members.update(frontier)
    others = sorted(members - stored)
    known_fraud = conn.execute(_KNOWN, {"ids": others, "as_of": as_of}).scalar_one() \
        if others else 0
    return Cluster(applicant + len(members), known_fraud, truncated)


_HOP_HASHES = select(_I.kind, _I.value_hash).where(
    _I.account_id.in_(bindparam("frontier", expanding=True)),
    _I.kind.in_(bindparam("kinds", expanding=True)),
    _I.seen_at < bindparam("as_of"),
)
_KNOWN = select(func.count()).where(
    _K.account_id.in_(bindparam("ids", expanding=True)), _K.known_at < bindparam("as_of")
)


@cache
def _neighbours_query(kinds: tuple[str, ...]) -> Select[Any]:
    return (
        select(_I.account_id).distinct()
        .where(_matching(kinds), _I.seen_at < bindparam("as_of"))
        .where(_I.account_id.not_in(bindparam("members", expanding=True)))
        .order_by(_I.account_id)
        .limit(bindparam("room"))
    )


def signup_velocity(
    session: Session,
    device_hash: str | None,
    ip_hash: str | None,
    ip24_hash: str | None,
    as_of: datetime,
) -> SignupVelocity:
    """Signup counts in ``[as_of - 1h, as_of)`` and ``[as_of - 1d, as_of)`` per device, IP and
    /24 (0 for a missing hash), platform-wide in ``[as_of - 1d, as_of)``, and the platform's
    daily average over the 28 days before that, ``[as_of - 29d, as_of - 1d)``, in one query.

    Platform-wide counts add whole hours from the ``signup_hours`` rollup to exact counts of
    the partial hours at both ends of the window, so they are exact and cheap.
    """
    as_of = _as_of(as_of)
    params: dict[str, Any] = {
        "device": device_hash, "ip": ip_hash, "ip24": ip24_hash, "now": as_of,
        "hour": as_of - HOUR, "day": as_of - DAY,
    }
    params |= _window_params("day", as_of - DAY, as_of)
    params |= _window_params("base", as_of - (BASELINE_DAYS + 1) * DAY, as_of - DAY)
    *counts, baseline = session.connection().execute(_VELOCITY, params).one()
    return SignupVelocity(*counts, platform_daily_avg_28d=baseline / BASELINE_DAYS)


def _window_params(name: str, start: datetime, end: datetime) -> dict[str, datetime]:
    """Split ``[start, end)`` into a head ``[start, lo)``, whole hours ``[lo, hi)`` and a tail
    ``[hi, end)``; head and tail are shorter than an hour (empty when aligned)."""
    lo = min(_ceil_hour(start), end)
    hi = max(floor_hour(end), lo)
    return {f"{name}_start": start, f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_end": end}


def _ceil_hour(value: datetime) -> datetime:
    floor = floor_hour(value)
    return floor if floor == value else floor + HOUR


def _signups(start: str, end: str, column: Any = None) -> Any:
    """Count of signups completed in ``[start, end)`` (with ``column`` equal to its parameter).
    A NULL parameter matches nothing, so a missing hash counts 0."""
    query = select(func.count()).where(
        _S.completed_at >= bindparam(start), _S.completed_at < bindparam(end)
    )
    if column is not None:
        query = query.where(column == bindparam(column.name.removesuffix("_hash")))
    return query.scalar_subquery()


def _platform_signups(name: str) -> Any:
    """Platform-wide signups in the window split by :func:`_window_params` under ``name``."""
    whole_hours = select(func.coalesce(func.sum(_H.signups), 0)).where(
        _H.hour_start >= bindparam(f"{name}_lo"), _H.hour_start < bindparam(f"{name}_hi")
    ).scalar_subquery()
    head = _signups(f"{name}_start", f"{name}_lo")
    tail = _signups(f"{name}_hi", f"{name}_end")
    return head + whole_hours + tail


_VELOCITY = select(
    _signups("hour", "now", _S.device_hash), _signups("day", "now", _S.device_hash),
    _signups("hour", "now", _S.ip_hash), _signups("day", "now", _S.ip_hash),
    _signups("hour", "now", _S.ip24_hash), _signups("day", "now", _S.ip24_hash),
    _platform_signups("day"), _platform_signups("base"),
)


def account_events(session: Session, account_id: str, as_of: datetime) -> AccountEvents:
    """The account's movements, logins and changes with ``ts < as_of`` (:class:`AccountEvents`)."""
    conn = session.connection()
    params = {"account_id": account_id, "as_of": _as_of(as_of)}
    return AccountEvents(*(
        _frame(conn.execute(query, params).all(), table)
        for query, table in ((_MOVEMENTS, schema.MOVEMENTS), (_LOGINS, schema.LOGINS),
                             (_CHANGES, schema.CHANGES))
    ))


def _events(columns: Sequence[Any], c: Any, *order: Any) -> Select[Any]:
    """Events of one account before ``as_of``; ``columns`` in the contract's order."""
    return (
        select(*columns)
        .where(c.account_id == bindparam("account_id"), c.ts < bindparam("as_of"))
        .order_by(c.ts, *order)
    )


_MOVEMENTS = _events([_M[col.name] for col in schema.MOVEMENTS.columns], _M, _M.movement_id)
_LOGINS = _events([_L.account_id, _L.ts, _L.device_hash, _L.ip_hash, _L.ip_type, _L.ip_country,
                   _L.success], _L, _L.id)
_CHANGES = _events([_C.account_id, _C.ts, _C.change_type, _C.device_hash, _C.ip_hash,
                    _C.new_value_hash], _C, _C.id)


EventColumns = dict[str, np.ndarray]
"""One table's rows as column arrays: ``ts`` in integer microseconds since the epoch,
the other columns as fetched (object arrays; SQLite gives booleans as 0/1)."""


@dataclass(frozen=True)
class AccountEventColumns:
    """:class:`AccountEvents` as column arrays, for the online hot path: no DataFrame and no
    datetime object is built per row."""

    movements: EventColumns
    logins: EventColumns
    changes: EventColumns


def account_event_columns(session: Session, account_id: str,
                          as_of: datetime) -> AccountEventColumns:
    """The account's movements, logins and changes with ``ts < as_of``, sorted by ``ts``,
    as column arrays (:class:`AccountEventColumns`; names as in :func:`account_events`)."""
    conn = session.connection()
    params = {"account_id": account_id, "as_of": _as_of(as_of)}
    if conn.dialect.name == "sqlite":  # SQLAlchemy's per-row work would cost 3x SQLite's
        cursor = conn.connection.driver_connection
        args = (account_id, to_micros(params["as_of"]))
        return AccountEventColumns(*(
            _columns(cursor.execute(sql, args).fetchall(), names)  # type: ignore[union-attr]
            for sql, names in _sqlite_column_sql()
        ))
    return AccountEventColumns(*(
        _columns(conn.execute(query, params).all(), names)
        for query, names in _column_queries(conn.dialect.name)
    ))


@cache
def _sqlite_column_sql() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The event queries compiled once for SQLite, for the DBAPI cursor: parameters are
    the account id and ``as_of`` in epoch microseconds (how SQLite stores timestamps)."""
    out = []
    for query, names in _column_queries("sqlite"):
        compiled = query.compile(dialect=sqlite_dialect())
        if list(compiled.positiontup or ()) != ["account_id", "as_of"]:
            raise RuntimeError(f"unexpected parameters {compiled.positiontup}")
        out.append((compiled.string, names))
    return tuple(out)


def _ts_us(column: Any, dialect: str) -> Any:
    """A timestamp column as integer epoch microseconds, computed by the database."""
    if dialect == "sqlite":  # stored as epoch microseconds already (see types.UtcTimestamp)
        return type_coerce(column, BigInteger).label("ts")
    return cast(func.extract("epoch", column) * 1_000_000, BigInteger).label("ts")


@cache
def _column_queries(dialect: str) -> tuple[tuple[Select[Any], tuple[str, ...]], ...]:
    out = []
    for query, table in ((_MOVEMENTS, schema.MOVEMENTS), (_LOGINS, schema.LOGINS),
                         (_CHANGES, schema.CHANGES)):
        columns = [_ts_us(c, dialect) if c.name == "ts" else c
                   for c in query.selected_columns]
        out.append((query.with_only_columns(*columns, maintain_column_froms=True),
                    tuple(c.name for c in table.columns)))
    return tuple(out)


def _columns(rows: Sequence[Any], names: tuple[str, ...]) -> EventColumns:
    if not rows:
        return {n: np.empty(0, np.int64 if n == "ts" else object) for n in names}
    out = {}
    for name, values in zip(names, zip(*rows, strict=True), strict=True):
        out[name] = np.array(values, np.int64) if name == "ts" else np.array(values, object)
    return out


def _frame(rows: Sequence[Any], table: schema.Table) -> pd.DataFrame:
    """Rows (in the contract's column order) as a DataFrame with the contract's names and
    Arrow types, so dtypes match a DataFrame read from the Parquet files."""
    if not rows:
        return _empty_frame(table.name).copy()  # ~20x cheaper than converting an empty table
    arrays = [
        pa.array(values, type=c.type)
        for values, c in zip(zip(*rows, strict=True), table.columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=table.schema).to_pandas()


@cache
def _empty_frame(name: str) -> pd.DataFrame:
    return schema.TABLES[name].schema.empty_table().to_pandas()


def _by_kind(pairs: Iterable[HashPair]) -> dict[str, list[str]]:
    """Hashes grouped by kind, as bind parameters of :func:`_matching` (sorted, distinct)."""
    grouped: dict[str, set[str]] = {}
    for kind, value_hash in pairs:
        if kind not in STORE_KINDS:
            raise InvalidData(f"unknown identifier kind {kind!r} (expected one of {STORE_KINDS})")
        grouped.setdefault(kind, set()).add(value_hash)
    return {kind: sorted(values) for kind, values in grouped.items()}


def _matching(kinds: tuple[str, ...]) -> ColumnElement[bool]:
    """``(kind, value_hash)`` in the hashes bound per kind (parameter named after the kind),
    written as one ``kind = k AND value_hash IN (...)`` per kind: SQLite and PostgreSQL seek
    the (kind, value_hash, ...) index for this form, while SQLite scans the whole index for
    a row-value ``IN``."""
    return or_(*(
        and_(_I.kind == kind, _I.value_hash.in_(bindparam(kind, expanding=True)))
        for kind in kinds
    ))


def _as_of(as_of: datetime) -> datetime:
    try:
        return require_aware(as_of, "as_of")
    except ValueError as exc:
        raise InvalidData(str(exc)) from exc

