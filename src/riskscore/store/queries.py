"""The read side for online features: one account, as of a point in time.

Every history query takes an explicit ``as_of`` and counts only rows strictly before it
(an identifier first seen, a signup completed, fraud known, an event happened, before
``as_of``), so results as of ``t`` never change when later rows arrive: the same answer
at training time and at serving time.

Speed (budget: p99 ≤ 5 ms for one account among 1M on SQLite): every query is one or a
few statements served by an index (no per-row round trips), built once at import with
bind parameters and compiled once per dialect (:class:`_Prepared`). On SQLite they run on
the DBAPI connection, because SQLAlchemy's per-execution work (parameter processing,
expanding ``IN`` lists, result rows) costs several times what SQLite takes to answer them;
lists are bound whole (``json_each`` on SQLite, ``= ANY`` on PostgreSQL), so a statement
never changes with the length of a list.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    CompoundSelect,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from riskscore import schema
from riskscore.identifiers import CLUSTER_KINDS
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


class _Prepared:
    """A read statement built once per dialect by ``build(dialect_name)`` and run with plain
    parameters (lists as lists, timestamps as aware datetimes).

    On SQLite it is compiled once and run on the DBAPI connection inside the session's
    transaction; result values go through the columns' types (timestamps, JSON) unless
    ``raw``. Elsewhere it runs on the session's Core connection (its compiled cache holds
    it: no statement here has an expanding parameter).
    """

    def __init__(self, build: Callable[[str], Select[Any] | CompoundSelect], *,
                 raw: bool = False) -> None:
        self._build = build
        self._raw = raw
        self._statements: dict[str, Select[Any] | CompoundSelect] = {}
        self._sqlite: tuple[str, tuple[tuple[str, Any], ...], tuple[Any, ...] | None] | None \
            = None

    def rows(self, session: Session, params: Mapping[str, Any]) -> list[Any]:
        """The result rows (tuples on SQLite, ``Row`` objects elsewhere)."""
        conn = session.connection()
        if conn.dialect.name != "sqlite":
            return list(conn.execute(self._statement(conn.dialect.name), params))
        sql, binds, processors = self._sqlite or self._compile_sqlite(conn.dialect)
        args = [_sqlite_value(params[name] if literal is _REQUIRED else literal)
                for name, literal in binds]
        raw = conn.connection.driver_connection
        rows = raw.execute(sql, args).fetchall()  # type: ignore[union-attr]
        if processors is None:
            return rows
        return [tuple(v if p is None or v is None else p(v) for p, v in zip(processors, row,
                                                                          strict=True))
                for row in rows]

    def _statement(self, dialect: str) -> Select[Any] | CompoundSelect:
        if dialect not in self._statements:
            self._statements[dialect] = self._build(dialect)
        return self._statements[dialect]

    def _compile_sqlite(self, dialect: Dialect) -> tuple[str, tuple[tuple[str, Any], ...],
                                                         tuple[Any, ...] | None]:
        statement = self._statement("sqlite")
        compiled = statement.compile(dialect=dialect)
        binds = tuple((name, _REQUIRED if compiled.binds[name].required
                       else compiled.binds[name].value) for name in compiled.positiontup or ())
        processors = None
        if not self._raw:
            found = tuple(c.type.result_processor(dialect, None)
                          for c in statement.selected_columns)
            processors = found if any(p is not None for p in found) else None
        self._sqlite = (compiled.string, binds, processors)
        return self._sqlite


_REQUIRED = object()
"""Marks a bound parameter the caller supplies (the others are literals of the statement)."""


def _sqlite_value(value: Any) -> Any:
    """A parameter as SQLite holds it: timestamps in epoch microseconds (see
    ``types.UtcTimestamp``), lists as JSON arrays for :func:`_in`."""
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, list | tuple):
        return json.dumps(list(value))
    return value


def _in(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """``column IN`` the list bound to ``name``, as one parameter whatever its length:
    ``IN (SELECT value FROM json_each(?))`` on SQLite (which seeks an index for each value),
    ``= ANY(%(name)s)`` on PostgreSQL."""
    if dialect == "sqlite":
        values = func.json_each(bindparam(name, type_=String)).table_valued("value")
        return column.in_(select(values.c.value))
    return column == any_(bindparam(name, type_=ARRAY(String)))


def account_profile(session: Session, account_id: str) -> AccountProfile:
    """The account's row; raises :class:`AccountNotFound` naming the id."""
    rows = _PROFILE.rows(session, {"account_id": account_id})
    if not rows:
        raise AccountNotFound(account_id)
    *fields, features = rows[0]
    return AccountProfile(*fields, onboarding_features=dict(features or {}))


_PROFILE = _Prepared(lambda _: select(
    _A.account_id, _A.created_at, _A.country, _A.business_type, _A.mcc, _A.onboarding_features
).where(_A.account_id == bindparam("account_id")))


def signup_of(session: Session, account_id: str) -> dict[str, Any] | None:
    """The account's signup under the contract's ``signup_sessions`` names (``started_at`` is
    not stored); ``device_id`` and ``ip`` hold keyed hashes, as in :func:`account_events`.
    ``None`` when the store has no signup for the account."""
    rows = _SIGNUP.rows(session, {"account_id": account_id})
    return dict(zip(_SIGNUP_NAMES, rows[0], strict=True)) if rows else None


_SIGNUP_NAMES = ("account_id", "completed_at", "device_id", "ip", "ip_type", "ip_country")
_SIGNUP = _Prepared(lambda _: select(
    _S.account_id, _S.completed_at, _S.device_hash, _S.ip_hash, _S.ip_type, _S.ip_country,
).where(_S.account_id == bindparam("account_id")))


def identifier_hashes(session: Session, account_id: str, as_of: datetime, *,
                      shared_only: bool = False) -> list[HashPair]:
    """``(kind, hash)`` of every identifier the account used before ``as_of``, sorted.

    ``shared_only``: only identifiers some other account has used too, at any time (the
    rows' ``shared`` flag, :mod:`riskscore.store.shared`). The others match no other account
    at any as-of time, so duplicate counts and cluster walks over the shared ones alone are
    the same as over all of them."""
    params = {"account_id": account_id, "as_of": _as_of(as_of)}
    query = _SHARED_HASHES if shared_only else _HASHES
    return [(kind, value_hash) for kind, value_hash in query.rows(session, params)]


def _own_hashes(shared_only: bool) -> _Prepared:
    query = (select(_I.kind, _I.value_hash)
             .where(_I.account_id == bindparam("account_id"), _I.seen_at < bindparam("as_of"))
             .order_by(_I.kind, _I.value_hash))
    return _Prepared(lambda _: query.where(_I.shared) if shared_only else query, raw=True)


_HASHES, _SHARED_HASHES = _own_hashes(False), _own_hashes(True)


def duplicate_counts(
    session: Session,
    hashes: Iterable[HashPair],
    as_of: datetime,
    exclude_account_id: str | None = None,
) -> dict[str, DuplicateCount]:
    """Per kind of ``hashes``: distinct other accounts that used any of them before ``as_of``,
    and how many of those were known fraud before ``as_of``. Kinds without matches count 0."""
    params: dict[str, Any] = {"as_of": _as_of(as_of), "exclude": exclude_account_id}
    pairs = _pairs(hashes)
    counts = {kind: DuplicateCount(0, 0) for kind, _ in pairs}
    per_kind = Counter(kind for kind, _ in pairs)
    # An identifier has one row per account (the primary key), so a kind with one hash
    # counts rows: index-only counts, no set of account ids. Several hashes of a kind (an
    # account's IPs) may share accounts, so those count distinct accounts across them.
    single = [pair for pair in pairs if per_kind[pair[0]] == 1]
    several = [pair for pair in pairs if per_kind[pair[0]] > 1]
    if pairs:
        params |= _pair_params(single) | _pair_params(several, "several")
        for kind, accounts, fraud in _DUPLICATES.rows(session, params):
            found = counts[kind]
            counts[kind] = DuplicateCount(found.accounts + accounts, found.known_fraud + fraud)
    return counts


def _others(pairs: tuple[Any, ColumnElement[Any], ColumnElement[Any]],
            known_fraud: bool) -> Select[Any]:
    """Rows of other accounts using the pairs of :func:`_pair_table` before ``as_of`` (only
    those known fraud before ``as_of``, if ``known_fraud``), no columns selected yet."""
    _, kind, value_hash = pairs
    query = select().select_from(table_of(Identifier)).where(
        _I.kind == kind, _I.value_hash == value_hash, _I.seen_at < bindparam("as_of"),
        or_(bindparam("exclude", type_=String).is_(None),
            _I.account_id != bindparam("exclude", type_=String)))
    if known_fraud:
        query = query.join(table_of(KnownFraud), and_(
            _K.account_id == _I.account_id, _K.known_at < bindparam("as_of")))
    return query


def _duplicates(dialect: str) -> CompoundSelect:
    """Rows ``(kind, accounts, known fraud)`` to add up per kind. Pairs bound as ``pairs``
    (one per kind) are counted each by correlated index counts; pairs bound as ``several``
    (kinds with several) by distinct accounts per kind, known fraud in a separate part:
    counting both in one pass over a left join to ``known_fraud`` and a kind's rows without
    the index counts cost ten times more on SQLite (an address of 5,000 accounts: 15.9 ms
    against 1.5 ms a call)."""
    single = _pair_table(dialect)
    table, kind, _ = single
    counts = [_others(single, fraud).add_columns(func.count()).correlate(table)
              .scalar_subquery() for fraud in (False, True)]

    def distinct_part(known_fraud: bool) -> Select[Any]:
        several = _pair_table(dialect, "several")
        count = func.count(distinct(_I.account_id))
        return (_others(several, known_fraud)
                .add_columns(_I.kind, count if not known_fraud else literal(0),
                             count if known_fraud else literal(0))
                .select_from(several[0]).group_by(_I.kind))

    return union_all(select(kind, *counts).select_from(table), distinct_part(False),
                     distinct_part(True))


_DUPLICATES = _Prepared(_duplicates, raw=True)


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
    taken in account-id order within a hop, so a truncated cluster is deterministic; each
    member's known-fraud flag comes with it.

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
    stored = {account_id} if account_id is not None else set()
    members, frontier, visited = set(stored), list(stored), set[HashPair]()
    hop = {pair for pair in seed_hashes if pair[0] in kinds}
    if own_hashes is not None and account_id is not None:
        hop |= {pair for pair in own_hashes if pair[0] in kinds}
        frontier = []
    applicant = 0 if account_id is not None else 1  # an unstored applicant counts itself
    truncated, known_fraud = False, 0
    while not truncated:
        if frontier:
            params = {"frontier": frontier, "kinds": list(kinds), "as_of": as_of}
            hop |= {(k, h) for k, h in _HOP_HASHES.rows(session, params)}
        hop -= visited
        if not hop:
            break
        visited |= hop
        room = limit - applicant - len(members)
        params = {"as_of": as_of, "members": sorted(members), "room": room + 1}
        found = sorted(_NEIGHBOURS.rows(session, params | _pair_params(_pairs(hop))))
        truncated = len(found) > room
        found = found[:room]
        frontier, hop = [member for member, _ in found], set()
        known_fraud += sum(bool(known) for _, known in found)
        members.update(frontier)
    return Cluster(applicant + len(members), known_fraud, truncated)


_HOP_HASHES = _Prepared(lambda dialect: select(_I.kind, _I.value_hash).where(
    _in(_I.account_id, "frontier", dialect), _in(_I.kind, "kinds", dialect),
    _I.seen_at < bindparam("as_of"), _I.shared,
), raw=True)


def _neighbours(dialect: str) -> Select[Any]:
    """The first ``room`` other accounts (by id) using any of the bound pairs before
    ``as_of``, each with whether it was known fraud before ``as_of``."""
    pairs, kind, value_hash = _pair_table(dialect)
    on = and_(_I.kind == kind, _I.value_hash == value_hash)
    found = (
        select(_I.account_id).distinct()
        .select_from(pairs).join(table_of(Identifier), on)
        .where(_I.seen_at < bindparam("as_of"))
        .where(~_in(_I.account_id, "members", dialect))
        .order_by(_I.account_id)
        .limit(bindparam("room"))
        .subquery()
    )
    known = exists().where(_K.account_id == found.c.account_id,
                           _K.known_at < bindparam("as_of"))
    return select(found.c.account_id, known)


_NEIGHBOURS = _Prepared(_neighbours, raw=True)


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

    Platform-wide counts are exact and cheap: the ``signup_hours`` rollup from the hour
    after the window's start to the hour after its end, plus the signups counted before
    that first hour, less those counted after the window's end (in real time none, where
    counting the hour so far would read every signup of a burst).
    """
    as_of = _as_of(as_of)
    params: dict[str, Any] = {
        "device": device_hash, "ip": ip_hash, "ip24": ip24_hash, "now": as_of,
        "hour": as_of - HOUR, "day": as_of - DAY,
    }
    params |= _window_params("day", as_of - DAY, as_of)
    params |= _window_params("base", as_of - (BASELINE_DAYS + 1) * DAY, as_of - DAY)
    *counts, baseline = _VELOCITY.rows(session, params)[0]
    return SignupVelocity(*counts, platform_daily_avg_28d=baseline / BASELINE_DAYS)


def _window_params(name: str, start: datetime, end: datetime) -> dict[str, datetime]:
    """Bounds that count ``[start, end)`` as ``[start, lo)`` + the rollup's hours
    ``[lo, hi)`` - ``[end, hi)``, with ``lo`` and ``hi`` the hours after ``start`` and
    ``end``: both exact counts span less than an hour, and ``[end, hi)`` is empty in real
    time (nothing has completed after now)."""
    return {f"{name}_start": start, f"{name}_lo": _ceil_hour(start),
            f"{name}_hi": _ceil_hour(end), f"{name}_end": end}


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
    hours = select(func.coalesce(func.sum(_H.signups), 0)).where(
        _H.hour_start >= bindparam(f"{name}_lo"), _H.hour_start < bindparam(f"{name}_hi")
    ).scalar_subquery()
    head = _signups(f"{name}_start", f"{name}_lo")
    after_end = _signups(f"{name}_end", f"{name}_hi")
    return head + hours - after_end


_VELOCITY = _Prepared(lambda _: select(
    _signups("hour", "now", _S.device_hash), _signups("day", "now", _S.device_hash),
    _signups("hour", "now", _S.ip_hash), _signups("day", "now", _S.ip_hash),
    _signups("hour", "now", _S.ip24_hash), _signups("day", "now", _S.ip24_hash),
    _platform_signups("day"), _platform_signups("base"),
), raw=True)


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
    datetime object is built per row.

    ``movements_since``: when set (epoch microseconds), ``movements`` holds only the rows at
    or after it, and ``balance_before`` the signed sum of the earlier ones (the contract's
    ``MOVEMENT_SIGN``, failed movements 0): all an all-history balance needs of them."""

    movements: EventColumns
    logins: EventColumns
    changes: EventColumns
    movements_since: int | None = None
    balance_before: int = 0


def account_event_columns(session: Session, account_id: str, as_of: datetime, *,
                          movements_since: datetime | None = None) -> AccountEventColumns:
    """The account's movements, logins and changes with ``ts < as_of``, sorted by ``ts``,
    as column arrays (:class:`AccountEventColumns`; names as in :func:`account_events`).
    With ``movements_since``, movements before it come only as their signed sum: an old
    account's year of movements is not fetched row by row for windows of 90 days."""
    params = {"account_id": account_id, "as_of": _as_of(as_of)}
    if movements_since is None:
        return AccountEventColumns(*(_columns(query.rows(session, params), names)
                                     for query, names in _EVENT_COLUMNS))
    params["since"] = _as_of(movements_since)
    (_, names), *others = _EVENT_COLUMNS
    (before,), = _BALANCE_BEFORE.rows(session, params)
    return AccountEventColumns(
        _columns(_RECENT_MOVEMENTS.rows(session, params), names),
        *(_columns(query.rows(session, params), names) for query, names in others),
        movements_since=to_micros(params["since"]), balance_before=int(before))


def _ts_us(column: Any, dialect: str) -> Any:
    """A timestamp column as integer epoch microseconds, computed by the database."""
    if dialect == "sqlite":  # stored as epoch microseconds already (see types.UtcTimestamp)
        return type_coerce(column, BigInteger).label("ts")
    return cast(func.extract("epoch", column) * 1_000_000, BigInteger).label("ts")


def _event_columns(query: Select[Any]) -> _Prepared:
    """``query`` with ``ts`` as epoch microseconds (no datetime per row), raw values."""
    def build(dialect: str) -> Select[Any]:
        columns = [_ts_us(c, dialect) if c.name == "ts" else c for c in query.selected_columns]
        return query.with_only_columns(*columns, maintain_column_froms=True)
    return _Prepared(build, raw=True)


_EVENT_COLUMNS: tuple[tuple[_Prepared, tuple[str, ...]], ...] = tuple(
    (_event_columns(query), tuple(c.name for c in table.columns))
    for query, table in ((_MOVEMENTS, schema.MOVEMENTS), (_LOGINS, schema.LOGINS),
                         (_CHANGES, schema.CHANGES))
)


_RECENT_MOVEMENTS = _event_columns(_MOVEMENTS.where(_M.ts >= bindparam("since")))
_SIGNED_AMOUNT = case((_M.status == "failed", 0), else_=_M.amount * case(
    schema.MOVEMENT_SIGN, value=_M.type, else_=0))
_BALANCE_BEFORE = _Prepared(lambda _: select(func.coalesce(func.sum(_SIGNED_AMOUNT), 0)).where(
    _M.account_id == bindparam("account_id"), _M.ts < bindparam("since")), raw=True)


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


def _pairs(pairs: Iterable[HashPair]) -> list[HashPair]:
    """Distinct ``(kind, hash)`` pairs, sorted; raises :class:`InvalidData` for a kind the
    store does not keep."""
    found = sorted(set(pairs))
    for kind, _ in found:
        if kind not in STORE_KINDS:
            raise InvalidData(f"unknown identifier kind {kind!r} (expected one of {STORE_KINDS})")
    return found


def _pair_params(pairs: Sequence[HashPair], name: str = "pairs") -> dict[str, Any]:
    """Pairs bound for :func:`_pair_table` under ``name``: one JSON array of ``[kind, hash]``
    on SQLite, two parallel arrays on PostgreSQL (a statement binds only the names it uses)."""
    return {name: [list(p) for p in pairs], f"{name}_kinds": [k for k, _ in pairs],
            f"{name}_hashes": [h for _, h in pairs]}


def _pair_table(dialect: str, name: str = "pairs"
                ) -> tuple[Any, ColumnElement[Any], ColumnElement[Any]]:
    """The bound ``(kind, hash)`` pairs as a table, with its kind and hash columns. One
    statement whatever kinds and how many pairs there are (nothing compiled per call);
    both databases seek the (kind, value_hash, ...) index once per pair."""
    if dialect == "sqlite":
        table = func.json_each(bindparam(name, type_=String)).table_valued("value")
        kind, value_hash = (func.json_extract(table.c.value, f"$[{i}]") for i in (0, 1))
        return table, kind, value_hash
    table = func.unnest(bindparam(f"{name}_kinds", type_=ARRAY(String)),
                        bindparam(f"{name}_hashes", type_=ARRAY(String))
                        ).table_valued("kind", "value_hash").render_derived()
    return table, table.c.kind, table.c.value_hash


def _as_of(as_of: datetime) -> datetime:
    try:
        return require_aware(as_of, "as_of")
    except ValueError as exc:
        raise InvalidData(str(exc)) from exc

