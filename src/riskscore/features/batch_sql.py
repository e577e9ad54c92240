"""Batch activity features in SQL: every (account, as-of) snapshot at once.

The SQL is generated from ``definitions.AGGREGATES``; row-level flags that need
history (running balance, first sighting of a device, a recent bank change) are
computed once over the whole table in a way that only ever looks backwards from the
row, or records *when* a pattern completed so each snapshot can ask "before my as-of?".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from riskscore.features.definitions import (
    AGGREGATES,
    BANK_CHANGE_PAYOUT_HOURS,
    DRAIN_FLOOR,
    DRAIN_HOURS,
    DRAIN_MIN_AMOUNT,
    FLOW_TYPES,
    INBOUND_TYPES,
    NEW_DEVICE_HOURS,
    ROUND_UNIT,
    WINDOWS,
    Agg,
)
from riskscore.schema import MOVEMENT_SIGN

# Flags whose truth depends on the snapshot: compiled against the snapshot's as-of.
AS_OF_FLAGS = {"drained": "x.drain_s IS NOT NULL AND x.drain_s < x.as_of_s"}


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return "'" + str(value).replace("'", "''") + "'"


def condition(agg: Agg) -> str:
    """The FILTER condition of an aggregate on a joined row ``x`` (row age in seconds
    ``x.age_s``: integer arithmetic is far cheaper than timestamp intervals)."""
    parts = ["x.ts IS NOT NULL"]
    if agg.window is not None:
        parts.append(f"x.age_s <= {agg.window * 86_400}")
    for column, values in agg.where:
        if column in AS_OF_FLAGS:
            parts.append(AS_OF_FLAGS[column])
        elif len(values) == 1 and isinstance(values[0], bool):
            parts.append(f"x.{column} = {_literal(values[0])}")
        else:
            parts.append(f"x.{column} IN ({', '.join(_literal(v) for v in values)})")
    return " AND ".join(parts)


def aggregate_sql(agg: Agg) -> str:
    cond = condition(agg)
    value = f"x.{agg.value}" if agg.value else None
    expr = {
        "count": f"count(x.ts) FILTER (WHERE {cond})",
        "sum": f"coalesce(sum({value}) FILTER (WHERE {cond}), 0)",
        "max": f"max({value}) FILTER (WHERE {cond})",
        "avg": f"avg({value}) FILTER (WHERE {cond})",
        "distinct": f"count(DISTINCT {value}) FILTER (WHERE {cond})",
        "last_ts": f"epoch(max(x.ts) FILTER (WHERE {cond}))",
    }[agg.fn]
    return f"CAST({expr} AS DOUBLE) AS {agg.name}"


def enriched_movements_sql(has_changes: bool, has_status: bool = True) -> str:
    """Movements with signed amount, round flag, recent-bank-change flag and drain time.
    Without a ``status`` column every movement counts as succeeded (docs/data.md)."""
    signs = " ".join(f"WHEN '{t}' THEN {s}" for t, s in MOVEMENT_SIGN.items())
    inbound = ", ".join(_literal(t) for t in INBOUND_TYPES)
    after_change = (
        "(m.type = 'payout' AND EXISTS (SELECT 1 FROM changes c WHERE c.account_id = "
        "m.account_id AND c.change_type = 'bank_account' AND c.ts < m.ts AND c.ts >= m.ts - "
        f"INTERVAL {BANK_CHANGE_PAYOUT_HOURS} HOUR))" if has_changes else "FALSE")
    return f"""
    mv_base AS (
        SELECT m.*,
               CASE WHEN {"coalesce(m.status, 'succeeded') = 'failed'" if has_status else
                          "FALSE"} THEN 0
                    ELSE m.amount * (CASE m.type {signs} ELSE 0 END) END AS signed_amount,
               m.amount % {ROUND_UNIT} = 0 AS is_round,
               {after_change} AS after_bank_change
        FROM movements m
    ),
    mv_balance AS (
        SELECT movement_id, account_id, ts, type, amount,
               sum(signed_amount) OVER (PARTITION BY account_id ORDER BY ts, movement_id
                                        ROWS UNBOUNDED PRECEDING) AS balance
        FROM mv_base
    ),
    mv_drain AS (
        SELECT i.movement_id, min(j.ts) AS drain_ts
        FROM mv_balance i JOIN mv_balance j
          ON j.account_id = i.account_id
         AND (j.ts > i.ts OR (j.ts = i.ts AND j.movement_id > i.movement_id))
         AND j.ts <= i.ts + INTERVAL {DRAIN_HOURS} HOUR
         AND j.balance <= {DRAIN_FLOOR} * i.balance
        WHERE i.type IN ({inbound}) AND i.amount >= {DRAIN_MIN_AMOUNT} AND i.balance > 0
        GROUP BY i.movement_id
    ),
    mv AS (
        SELECT b.*, epoch(d.drain_ts) AS drain_s FROM mv_base b LEFT JOIN mv_drain d
        USING (movement_id)
    )"""


def enriched_logins_sql(has_sessions: bool, has_ip_country: bool = True) -> str:
    """Logins flagged new-device / new-IP (first sighting on the account) and foreign-IP."""
    signup_devices = ("SELECT account_id, device_id, completed_at AS ts FROM signup_sessions "
                      "UNION ALL " if has_sessions else "")
    signup_ips = ("SELECT account_id, ip, completed_at AS ts FROM signup_sessions UNION ALL "
                  if has_sessions else "")
    return f"""
    device_first AS (
        SELECT account_id, device_id, min(ts) AS first_ts FROM (
            {signup_devices}SELECT account_id, device_id, ts FROM logins) GROUP BY ALL
    ),
    ip_first AS (
        SELECT account_id, ip, min(ts) AS first_ts FROM (
            {signup_ips}SELECT account_id, ip, ts FROM logins) GROUP BY ALL
    ),
    lg AS (
        SELECT l.*, l.ts <= df.first_ts AS new_device, l.ts <= ipf.first_ts AS new_ip,
               {"(l.ip_country IS NOT NULL AND l.ip_country <> a.country)" if has_ip_country
                else "FALSE"} AS foreign_ip
        FROM logins l
        JOIN accounts a USING (account_id)
        JOIN device_first df USING (account_id, device_id)
        JOIN ip_first ipf USING (account_id, ip)
    )"""


def enriched_changes_sql(has_logins: bool, has_sessions: bool) -> str:
    """Changes flagged when made from a device first seen less than a day before."""
    sources = []
    if has_sessions:
        sources.append("SELECT account_id, device_id, completed_at AS ts FROM signup_sessions")
    if has_logins:
        sources.append("SELECT account_id, device_id, ts FROM logins")
    first = (f"SELECT account_id, device_id, min(ts) AS first_ts FROM ("
             f"{' UNION ALL '.join(sources)}) GROUP BY ALL" if sources else
             "SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS device_id, "
             "NULL::TIMESTAMPTZ AS first_ts WHERE FALSE")
    return f"""
    change_device_first AS ({first}),
    ch AS (
        SELECT c.*, (f.first_ts IS NULL OR f.first_ts > c.ts - INTERVAL {NEW_DEVICE_HOURS} HOUR)
                   AS from_new_device
        FROM changes c LEFT JOIN change_device_first f USING (account_id, device_id)
    )"""


def snapshot_aggregate_sql(source: str, aggs: list[Agg]) -> str:
    """One row per snapshot with the aggregates of ``source`` rows before its as-of."""
    columns = ",\n        ".join(aggregate_sql(a) for a in aggs)
    return f"""
    , x AS (
        SELECT s.snapshot_id, epoch(s.as_of) AS as_of_s, epoch(s.as_of) - epoch(r.ts) AS age_s,
               r.*
        FROM snapshots s LEFT JOIN {source} r ON r.account_id = s.account_id AND r.ts < s.as_of
    )
    SELECT x.snapshot_id,
        {columns}
    FROM x
    GROUP BY x.snapshot_id"""


def is_flow(agg: Agg) -> bool:
    """A per-type count or amount over one of ``WINDOWS``: computed by bucketing instead."""
    return (agg.table == "movements" and agg.window in WINDOWS and len(agg.where) == 1
            and agg.where[0][0] == "type" and len(agg.where[0][1]) == 1
            and (agg.fn == "count" or (agg.fn == "sum" and agg.value == "amount")))


def flow_columns(buckets: pd.DataFrame, n_snapshots: int) -> dict[str, np.ndarray]:
    """Flow features from ``flow_bucket_sql`` rows: cumulative over age buckets."""
    out: dict[str, np.ndarray] = {}
    snap = buckets["snapshot_id"].to_numpy(np.int64)
    for t in FLOW_TYPES:
        of_type = buckets["type"].to_numpy(object) == t
        for w in WINDOWS:
            rows = of_type & (buckets["bucket"].to_numpy() > 0) & (buckets["bucket"].to_numpy()
                                                                  <= w)
            for name, col in ((f"{t}_count_{w}d", "n"), (f"{t}_sum_{w}d", "amount")):
                weights = buckets[col].to_numpy(float)[rows]
                out[name] = np.bincount(snap[rows], weights=weights,
                                        minlength=n_snapshots).astype(float)
    return out


def flow_bucket_sql() -> str:
    """Counts and amounts per snapshot, movement type and age bucket; the flow features
    are cumulative sums over buckets (see ``flow_columns``)."""
    cases = " ".join(f"WHEN age_s <= {w * 86_400} THEN {w}" for w in WINDOWS)
    return f"""
    SELECT snapshot_id, type, CASE {cases} ELSE 0 END AS bucket, count(*) AS n,
           sum(amount) AS amount
    FROM (SELECT s.snapshot_id, m.type, m.amount, epoch(s.as_of) - epoch(m.ts) AS age_s
          FROM snapshots s JOIN movements m ON m.account_id = s.account_id AND m.ts < s.as_of)
    GROUP BY ALL"""


def aggregates_for(table: str, available: set[str]) -> list[Agg]:
    """Aggregates of ``table`` whose columns are all present (``available``: ``table.col``)."""
    derived_cols = {"signed_amount", "is_round", "after_bank_change", "drained", "new_device",
                    "new_ip", "foreign_ip", "from_new_device", "ts"}
    out = []
    for agg in AGGREGATES:
        if agg.table != table:
            continue
        needed = {c for c, _ in agg.where} | ({agg.value} if agg.value else set())
        if all(c in derived_cols or f"{table}.{c}" in available for c in needed):
            out.append(agg)
    return out


def activity_sql(available: set[str], tables: set[str]) -> dict[str, str]:
    """SQL per source table: ``{table: query}``, each giving one row per snapshot with the
    aggregates of that table other than the flow ones (``flow_bucket_sql``)."""
    queries = {}
    has_changes, has_logins = "changes" in tables, "logins" in tables
    has_sessions = "signup_sessions" in tables
    movement_aggs = [a for a in aggregates_for("movements", available) if not is_flow(a)]
    has_status = "movements.status" in available
    queries["movements"] = (f"WITH {enriched_movements_sql(has_changes, has_status)}"
                            + snapshot_aggregate_sql("mv", movement_aggs))
    if has_logins:
        lg = enriched_logins_sql(has_sessions, "logins.ip_country" in available)
        queries["logins"] = (f"WITH {lg}"
                             + snapshot_aggregate_sql("lg", aggregates_for("logins", available)))
    if has_changes:
        queries["changes"] = (f"WITH {enriched_changes_sql(has_logins, has_sessions)}"
                              + snapshot_aggregate_sql("ch", aggregates_for("changes",
                                                                            available)))
    return queries
