"""Activity features of one account from its own events, in NumPy.

The online twin of ``batch_sql``: the same ``definitions.AGGREGATES``, the same row
flags with the same meaning, evaluated on the events an account had before the as-of
time. ``tests/features/test_parity.py`` holds the two to the same answers.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

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


def _us(values: pd.Series | np.ndarray) -> np.ndarray:
    """Timestamps as integer microseconds since the epoch (UTC)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.to_numpy("datetime64[us]").astype(np.int64)  # the fast path
    series = pd.to_datetime(pd.Series(values), utc=True)
    return series.dt.tz_convert(None).to_numpy("datetime64[us]").astype(np.int64)


def _instant_us(when: datetime) -> int:
    """One aware timestamp as integer microseconds since the epoch."""
    return int(pd.Timestamp(when).value) // 1_000  # .value is always nanoseconds


def _columns(frame: pd.DataFrame, order: np.ndarray | None = None) -> dict[str, np.ndarray]:
    cols = {c: frame[c].to_numpy() for c in frame.columns}
    return cols if order is None else {c: v[order] for c, v in cols.items()}


def _first_seen(keys: list[np.ndarray], times: list[np.ndarray]) -> dict[object, int]:
    first: dict[object, int] = {}
    for key_arr, t_arr in zip(keys, times, strict=True):
        for k, t in zip(key_arr.tolist(), t_arr.tolist(), strict=True):
            if k is not None and (k not in first or t < first[k]):
                first[k] = t
    return first


def enrich_movements(mv: pd.DataFrame, changes: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row flags of ``batch_sql.enriched_movements_sql`` for one account's movements."""
    ts = _us(mv["ts"])
    order = np.lexsort((mv["movement_id"].to_numpy(object).astype(str), ts))
    columns = _columns(mv, order)
    ts = ts[order]
    amount = columns["amount"].astype(np.int64)
    type_ = columns["type"].astype(object)
    status = np.where(pd.isna(columns["status"]), "succeeded", columns["status"]) \
        if "status" in columns else np.full(len(mv), "succeeded", object)
    sign = np.array([MOVEMENT_SIGN.get(t, 0) for t in type_], np.int64)
    signed = np.where(status == "failed", 0, sign * amount)
    balance = np.cumsum(signed)
    bank = changes[changes["change_type"] == "bank_account"] if len(changes) else changes
    bank_ts = np.sort(_us(bank["ts"])) if len(bank) else np.empty(0, np.int64)
    window = BANK_CHANGE_PAYOUT_HOURS * HOUR_US
    lo = np.searchsorted(bank_ts, ts - window, "left")
    hi = np.searchsorted(bank_ts, ts, "left")
    after_change = (type_ == "payout") & (hi > lo)
    drain_ts = np.full(len(mv), np.iinfo(np.int64).max, np.int64)
    candidates = np.flatnonzero(np.isin(type_, INBOUND_TYPES) & (amount >= DRAIN_MIN_AMOUNT)
                                & (balance > 0))
    for i in candidates:
        end = np.searchsorted(ts, ts[i] + DRAIN_HOURS * HOUR_US, "right")
        later = np.flatnonzero(balance[i + 1:end] <= DRAIN_FLOOR * balance[i])
        if len(later):
            drain_ts[i] = ts[i + 1 + later[0]]
    for flag in ("instant", "international"):
        if flag in columns:
            columns[flag] = np.where(pd.isna(columns[flag]), False, columns[flag]).astype(bool)
    columns.update({"ts": ts, "signed_amount": signed, "is_round": amount % ROUND_UNIT == 0,
                    "after_bank_change": after_change, "drain_ts": drain_ts, "status": status})
    return columns


def enrich_logins(logins: pd.DataFrame, signup: dict[str, object] | None,
                  country: str) -> dict[str, np.ndarray]:
    """Row flags of ``batch_sql.enriched_logins_sql`` for one account's logins."""
    ts = _us(logins["ts"]) if len(logins) else np.empty(0, np.int64)
    device = logins["device_id"].to_numpy(object)
    ip = logins["ip"].to_numpy(object)
    s_ts = np.array([_instant_us(signup["completed_at"])] if signup else [], np.int64)
    first_device = _first_seen([np.array([signup["device_id"]] if signup else [], object),
                                device], [s_ts, ts])
    first_ip = _first_seen([np.array([signup["ip"]] if signup else [], object), ip], [s_ts, ts])
    ip_country = logins["ip_country"].to_numpy(object)
    columns = _columns(logins)
    columns.update({
        "ts": ts,
        "new_device": np.array([t <= first_device[d] for d, t in zip(device, ts, strict=True)],
                               bool),
        "new_ip": np.array([t <= first_ip[i] for i, t in zip(ip, ts, strict=True)], bool),
        "foreign_ip": np.array([isinstance(c, str) and c != country for c in ip_country], bool),
    })
    return columns


def enrich_changes(changes: pd.DataFrame, logins: pd.DataFrame,
                   signup: dict[str, object] | None) -> dict[str, np.ndarray]:
    """Row flags of ``batch_sql.enriched_changes_sql`` for one account's changes."""
    ts = _us(changes["ts"]) if len(changes) else np.empty(0, np.int64)
    login_ts = _us(logins["ts"]) if len(logins) else np.empty(0, np.int64)
    s_ts = np.array([_instant_us(signup["completed_at"])] if signup else [], np.int64)
    first = _first_seen([np.array([signup["device_id"]] if signup else [], object),
                         logins["device_id"].to_numpy(object)], [s_ts, login_ts])
    recent = NEW_DEVICE_HOURS * HOUR_US
    columns = _columns(changes)
    columns.update({
        "ts": ts,
        "from_new_device": np.array([d not in first or first[d] > t - recent for d, t in
                                     zip(changes["device_id"].to_numpy(object), ts,
                                         strict=True)], bool),
    })
    return columns


def _mask(agg: Agg, rows: dict[str, np.ndarray], as_of_us: int,
          cache: dict[object, np.ndarray]) -> np.ndarray:
    ts = rows["ts"]
    mask = ts < as_of_us
    if agg.window is not None:
        mask &= ts >= as_of_us - agg.window * DAY_US
    for column, values in agg.where:
        key = (id(rows), column, values)
        if key not in cache:
            if column == "drained":
                cache[key] = rows["drain_ts"] < as_of_us
            elif len(values) == 1 and isinstance(values[0], bool):
                cache[key] = rows[column].astype(bool) == values[0]
            else:
                cache[key] = np.isin(rows[column].astype(object), np.asarray(values, object))
        mask &= cache[key]
    return mask


def evaluate(agg: Agg, rows: dict[str, np.ndarray], as_of_us: int,
             cache: dict[object, np.ndarray]) -> float:
    """One aggregate over one account's enriched rows (``cache``: filter masks by rows)."""
    if len(rows["ts"]) == 0:
        return 0.0 if agg.fn in ("count", "sum", "distinct") else np.nan
    mask = _mask(agg, rows, as_of_us, cache)
    if agg.fn == "count":
        return float(mask.sum())
    if agg.fn == "last_ts":
        return float(rows["ts"][mask].max()) / 1e6 if mask.any() else np.nan
    values = rows[agg.value][mask] if agg.value else None
    if agg.fn == "sum":
        return float(np.sum(values)) if len(values) else 0.0
    if agg.fn == "distinct":
        return float(len({v for v in values.tolist() if v is not None}))
    if not len(values):
        return np.nan
    return float(np.max(values)) if agg.fn == "max" else float(np.mean(values))


def activity_aggregates(movements: pd.DataFrame, logins: pd.DataFrame, changes: pd.DataFrame,
                        signup: dict[str, object] | None, country: str,
                        as_of: datetime) -> dict[str, float]:
    """All ``AGGREGATES`` of one account as of ``as_of``."""
    as_of_us = _instant_us(as_of)
    rows = {
        "movements": enrich_movements(movements, changes),
        "logins": enrich_logins(logins, signup, country),
        "changes": enrich_changes(changes, logins, signup),
    }
    cache: dict[object, np.ndarray] = {}
    return {a.name: evaluate(a, rows[a.table], as_of_us, cache) for a in AGGREGATES}
