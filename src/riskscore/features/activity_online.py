"""Activity features of one account from its own events, in NumPy.

The online twin of ``batch_sql``: the same ``definitions.AGGREGATES``, the same row
flags with the same meaning, evaluated on the events an account had before the as-of
time. ``tests/features/test_parity.py`` holds the two to the same answers.

Rows come as column dicts of NumPy arrays (``ts`` in integer microseconds since the
epoch), as the store returns them: no DataFrame is built on the hot path. Rows are put
in time order once, so each window is an index range found by binary search, and each
filter mask is computed once per call and shared by every aggregate that uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np

from riskscore.features.definitions import (
    AGGREGATES,
    BANK_CHANGE_PAYOUT_HOURS,
    DRAIN_FLOOR,
    DRAIN_HOURS,
    DRAIN_MIN_AMOUNT,
    INBOUND_TYPES,
    NEW_DEVICE_HOURS,
    ROUND_UNIT,
    Agg,
)
from riskscore.schema import MOVEMENT_SIGN

HOUR_US = 3_600 * 10**6
DAY_US = 24 * HOUR_US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Rows = Mapping[str, np.ndarray]
"""One account's rows of one table: column name -> array, ``ts`` in epoch microseconds."""


def instant_us(when: datetime) -> int:
    """One aware timestamp as integer microseconds since the epoch."""
    delta = when - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 10**6 + delta.microseconds


def _is(values: np.ndarray, wanted: object) -> np.ndarray:
    """Elementwise ``values == wanted`` for object arrays that may hold None."""
    return np.asarray(values == wanted, bool) if len(values) else np.zeros(0, bool)


def _first_seen(keys: list[np.ndarray], times: list[np.ndarray]) -> dict[object, int]:
    first: dict[object, int] = {}
    for key_arr, t_arr in zip(keys, times, strict=True):
        for k, t in zip(key_arr.tolist(), t_arr.tolist(), strict=True):
            if k is not None and (k not in first or t < first[k]):
                first[k] = t
    return first


def enrich_movements(mv: Rows, changes: Rows, balance_before: int = 0) -> dict[str, np.ndarray]:
    """Row flags of ``batch_sql`` (signed amount, round, bank-change payout, drain time)
    for one account's movements, in (ts, movement_id) order. ``balance_before``: the signed
    sum of the account's earlier movements when ``mv`` holds only the recent ones."""
    ts = np.asarray(mv["ts"], np.int64)
    ids = mv["movement_id"]
    ordered = len(ts) < 2 or (bool(np.all(ts[1:] > ts[:-1])))
    order = None if ordered else np.lexsort((np.asarray(ids, object).astype(str), ts))
    columns = {c: np.asarray(v) if order is None else np.asarray(v)[order]
               for c, v in mv.items()}
    ts = np.asarray(columns["ts"], np.int64)
    amount = np.asarray(columns["amount"], np.int64)
    type_ = columns["type"]
    failed = _is(columns["status"], "failed") if "status" in columns else np.zeros(len(ts), bool)
    sign = np.array([MOVEMENT_SIGN.get(t, 0) for t in type_.tolist()], np.int64)
    signed = np.where(failed, 0, sign * amount)
    balance = balance_before + np.cumsum(signed)
    bank_rows = _is(changes["change_type"], "bank_account")
    bank_ts = np.sort(np.asarray(changes["ts"], np.int64)[bank_rows])
    window = BANK_CHANGE_PAYOUT_HOURS * HOUR_US
    lo = np.searchsorted(bank_ts, ts - window, "left")
    hi = np.searchsorted(bank_ts, ts, "left")
    payout = _is(type_, "payout")
    drain_ts = np.full(len(ts), np.iinfo(np.int64).max, np.int64)
    inbound = np.zeros(len(ts), bool)
    for t in INBOUND_TYPES:
        inbound |= _is(type_, t)
    candidates = np.flatnonzero(inbound & (amount >= DRAIN_MIN_AMOUNT) & (balance > 0))
    for i in candidates.tolist():
        end = np.searchsorted(ts, ts[i] + DRAIN_HOURS * HOUR_US, "right")
        later = np.flatnonzero(balance[i + 1:end] <= DRAIN_FLOOR * balance[i])
        if len(later):
            drain_ts[i] = ts[i + 1 + later[0]]
    for flag in ("instant", "international"):
        if flag in columns:
            columns[flag] = _is(columns[flag], True)
    columns.update({"ts": ts, "type": type_, "signed_amount": signed,
                    "is_round": amount % ROUND_UNIT == 0, "after_bank_change": payout & (hi > lo),
                    "drain_ts": drain_ts,
                    "status": np.where(failed, "failed", "succeeded").astype(object)})
    return columns


def enrich_logins(logins: Rows, signup: Mapping[str, object] | None,
                  country: str) -> dict[str, np.ndarray]:
    """Row flags of ``batch_sql.enriched_logins_sql`` for one account's logins."""
    ts = np.asarray(logins["ts"], np.int64)
    device = np.asarray(logins["device_id"], object)
    ip = np.asarray(logins["ip"], object)
    s_ts = np.array([instant_us(signup["completed_at"])] if signup else [], np.int64)  # type: ignore[arg-type]
    first_device = _first_seen([np.array([signup["device_id"]] if signup else [], object),
                                device], [s_ts, ts])
    first_ip = _first_seen([np.array([signup["ip"]] if signup else [], object), ip], [s_ts, ts])
    columns = dict(logins)
    columns.update({
        "ts": ts,
        "new_device": np.array([t <= first_device[d] for d, t in
                                zip(device.tolist(), ts.tolist(), strict=True)], bool),
        "new_ip": np.array([t <= first_ip[i] for i, t in zip(ip.tolist(), ts.tolist(),
                                                               strict=True)], bool),
        "foreign_ip": np.array([isinstance(c, str) and c != country
                                for c in logins["ip_country"].tolist()], bool),
    })
    return columns


def enrich_changes(changes: Rows, logins: Rows,
                   signup: Mapping[str, object] | None) -> dict[str, np.ndarray]:
    """Row flags of ``batch_sql.enriched_changes_sql`` for one account's changes."""
    ts = np.asarray(changes["ts"], np.int64)
    login_ts = np.asarray(logins["ts"], np.int64)
    s_ts = np.array([instant_us(signup["completed_at"])] if signup else [], np.int64)  # type: ignore[arg-type]
    first = _first_seen([np.array([signup["device_id"]] if signup else [], object),
                         np.asarray(logins["device_id"], object)], [s_ts, login_ts])
    recent = NEW_DEVICE_HOURS * HOUR_US
    columns = dict(changes)
    columns.update({
        "ts": ts,
        "from_new_device": np.array([d not in first or first[d] > t - recent for d, t in
                                     zip(changes["device_id"].tolist(), ts.tolist(),
                                         strict=True)], bool),
    })
    return columns


class _Table:
    """One table's enriched rows in time order, with filter masks computed on demand.

    ``since_us``: the rows start there (earlier ones were not read); ``sums_before`` then
    holds the sums of columns over the earlier rows, which all-history sums add."""

    def __init__(self, rows: dict[str, np.ndarray], as_of_us: int, since_us: int | None = None,
                 sums_before: Mapping[str, int] | None = None) -> None:
        ts = rows["ts"]
        if len(ts) > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
            order = np.argsort(ts, kind="stable")
            rows = {c: np.asarray(v)[order] for c, v in rows.items()}
        self.rows = rows
        self.ts = rows["ts"]
        self.as_of_us = as_of_us
        self.end = int(np.searchsorted(self.ts, as_of_us, "left"))
        self.masks: dict[tuple[str, tuple[object, ...]], np.ndarray] = {}
        self.starts: dict[int, int] = {}
        self.since_us = since_us
        self.sums_before = dict(sums_before or {})

    def start(self, window: int | None) -> int:
        if window is None:
            return 0
        if self.since_us is not None and self.as_of_us - window * DAY_US < self.since_us:
            raise ValueError(f"a {window}-day window reaches before the rows read")
        if window not in self.starts:
            self.starts[window] = int(np.searchsorted(self.ts, self.as_of_us - window * DAY_US,
                                                      "left"))
        return self.starts[window]

    def mask(self, column: str, values: tuple[object, ...]) -> np.ndarray:
        key = (column, values)
        if key not in self.masks:
            if column == "drained":
                self.masks[key] = self.rows["drain_ts"] < self.as_of_us
            elif len(values) == 1 and isinstance(values[0], bool):
                self.masks[key] = self.rows[column].astype(bool) == values[0]
            else:
                found = np.zeros(len(self.ts), bool)
                for value in values:
                    found |= _is(self.rows[column], value)
                self.masks[key] = found
        return self.masks[key]


def evaluate(agg: Agg, table: _Table) -> float:
    """One aggregate over one account's enriched rows."""
    if agg.window is None and table.since_us is not None:
        if agg.fn != "sum" or agg.where or agg.value not in table.sums_before:
            raise ValueError(f"{agg.name} needs rows before those read")
        rows = table.rows[agg.value][:table.end]
        return float(table.sums_before[agg.value] + int(np.sum(rows)))
    lo, hi = table.start(agg.window), table.end
    if hi <= lo:
        return 0.0 if agg.fn in ("count", "sum", "distinct") else np.nan
    mask: np.ndarray | None = None
    for column, values in agg.where:
        part = table.mask(column, values)[lo:hi]
        mask = part if mask is None else mask & part
    if agg.fn == "count":
        return float(hi - lo if mask is None else np.count_nonzero(mask))
    if agg.fn == "last_ts":
        ts = table.ts[lo:hi] if mask is None else table.ts[lo:hi][mask]
        return float(ts.max()) / 1e6 if len(ts) else np.nan
    values = table.rows[agg.value][lo:hi]  # type: ignore[index]
    if mask is not None:
        values = values[mask]
    if agg.fn == "sum":
        return float(np.sum(values)) if len(values) else 0.0
    if agg.fn == "distinct":
        return float(len({v for v in values.tolist() if v is not None}))
    if not len(values):
        return np.nan
    return float(np.max(values)) if agg.fn == "max" else float(np.mean(values))


def _by_type(agg: Agg) -> str | None:
    """The movement type of a count, or a sum of ``amount``, over one movement type in a
    window (the flow aggregates), else ``None``."""
    if agg.table != "movements" or agg.window is None or len(agg.where) != 1:
        return None
    (column, values), = agg.where
    if column != "type" or len(values) != 1:
        return None
    if agg.fn == "count" or (agg.fn == "sum" and agg.value == "amount"):
        return str(values[0])
    return None


_BY_TYPE: tuple[Agg, ...] = tuple(a for a in AGGREGATES if _by_type(a) is not None)
_OTHERS: tuple[Agg, ...] = tuple(a for a in AGGREGATES if _by_type(a) is None)
_BY_TYPE_TYPES: tuple[str, ...] = tuple(str(_by_type(a)) for a in _BY_TYPE)
_TYPE_CODE: dict[str, int] = {t: i for i, t in enumerate(dict.fromkeys(_BY_TYPE_TYPES))}
_WINDOWS: tuple[int, ...] = tuple(sorted({int(a.window or 0) for a in _BY_TYPE}))


def _by_type_aggregates(table: _Table) -> dict[str, float]:
    """The by-type aggregates (:func:`_by_type`): the rows of the widest window get a type
    code once, then two ``bincount`` calls per window give every type's count and sum
    (amounts add exactly in float64 below 2**53 minor units)."""
    end, starts = table.end, {w: table.start(w) for w in _WINDOWS}
    first = min(starts.values())
    if end <= first:
        return dict.fromkeys((a.name for a in _BY_TYPE), 0.0)
    other = len(_TYPE_CODE)
    codes = np.fromiter((_TYPE_CODE.get(t, other) for t in table.rows["type"][first:end].tolist()),
                        np.intp, end - first)
    amount = np.asarray(table.rows["amount"][first:end], np.float64)
    found = {}
    for window, lo in starts.items():
        part = codes[lo - first:]
        found[window] = (np.bincount(part, minlength=other + 1),
                         np.bincount(part, amount[lo - first:], minlength=other + 1))
    return {a.name: float(found[a.window][0 if a.fn == "count" else 1][_TYPE_CODE[t]])
            for a, t in zip(_BY_TYPE, _BY_TYPE_TYPES, strict=True)}


MOVEMENT_WINDOW_DAYS: int = max(int(a.window) for a in AGGREGATES
                                if a.table == "movements" and a.window is not None)
"""The longest window of a movement aggregate: movements before it enter only the balance
(the one all-history movement aggregate), so they can come as a sum."""


def activity_aggregates(movements: Rows, logins: Rows, changes: Rows,
                        signup: Mapping[str, object] | None, country: str,
                        as_of: datetime, *, movements_since_us: int | None = None,
                        balance_before: int = 0) -> dict[str, float]:
    """All ``AGGREGATES`` of one account as of ``as_of``. ``movements_since_us``: the
    movements start there (at most :data:`MOVEMENT_WINDOW_DAYS` before ``as_of``), the
    signed sum of the earlier ones being ``balance_before``."""
    as_of_us = instant_us(as_of)
    tables = {
        "movements": _Table(enrich_movements(movements, changes, balance_before), as_of_us,
                            movements_since_us, {"signed_amount": balance_before}),
        "logins": _Table(enrich_logins(logins, signup, country), as_of_us),
        "changes": _Table(enrich_changes(changes, logins, signup), as_of_us),
    }
    found = _by_type_aggregates(tables["movements"])
    found.update((a.name, evaluate(a, tables[a.table])) for a in _OTHERS)
    return {a.name: found[a.name] for a in AGGREGATES}
