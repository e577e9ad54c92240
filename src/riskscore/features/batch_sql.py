"""Batch activity features in SQL: every (account, as-of) snapshot at once.

The SQL is generated from ``definitions.AGGREGATES``; row-level flags that need
history (running balance, first sighting of a device, a recent bank change) are
computed once over the whole table in a way that only ever looks backwards from the
row, or records *when* a pattern completed so each snapshot can ask "before my as-of?".
"""

from __future__ import annotations

import numpy as np

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

# Row flags that need an account's history. Rows carrying them are few, so each lives in
# a small side table of its own (``SIDE_TABLES``) instead of being joined back onto every
# movement; an aggregate that asks for the flag is evaluated over that table alone.
AS_OF_FLAGS = {"drained": "x.drain_s IS NOT NULL AND x.drain_s < x.as_of_s"}
AS_OF_COLUMNS = {"drained": "drain_s"}  # the row column each as-of flag reads
SIDE_FLAGS: dict[str, str] = {"drained": "mv_drained", "after_bank_change": "mv_bank_payout"}
SIDE_COLUMNS = {"account_id", "ts", "type", "amount", "drained", "after_bank_change"}
HOUR_US = 3_600 * 10**6


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return "'" + str(value).replace("'", "''") + "'"


def condition(agg: Agg) -> str:
    """The condition of an aggregate on a joined row ``x`` (row age in seconds
    ``x.age_s``: integer arithmetic is far cheaper than timestamp intervals)."""
    parts = ["x.ts IS NOT NULL"]
    if agg.window is not None:
        parts.append(f"x.age_s <= {agg.window * 86_400}")
    for column, values in agg.where:
        if column in AS_OF_FLAGS:
            parts.append(AS_OF_FLAGS[column])
        elif column in SIDE_FLAGS:
            continue  # every row of the flag's side table has it
        elif len(values) == 1 and isinstance(values[0], bool):
            parts.append(f"x.{column} = {_literal(values[0])}")
        else:
            parts.append(f"x.{column} IN ({', '.join(_literal(v) for v in values)})")
    return " AND ".join(parts)


def aggregate_sql(agg: Agg) -> str:
    """An aggregate over the rows meeting its condition, as a conditional expression
    (``CASE``, ``count_if``) rather than a ``FILTER`` clause: the same rows (aggregates
    skip the NULLs), and far cheaper in DuckDB when a query has many aggregates (each
    ``FILTER`` selects its own rows)."""
    cond = condition(agg)
    value = f"CASE WHEN {cond} THEN x.{agg.value} END" if agg.value else None
    expr = {
        "count": f"count_if({cond})",
        "sum": f"coalesce(sum({value}), 0)",
        "max": f"max({value})",
        "avg": f"avg({value})",
        "distinct": f"count(DISTINCT {value})",
        "last_ts": f"epoch(max({value}))",
    }[agg.fn]
    return f"CAST({expr} AS DOUBLE) AS {agg.name}"


def side_flag(agg: Agg) -> str | None:
    """The side-table flag an aggregate requires (at most one), or None."""
    flags = [c for c, values in agg.where if c in SIDE_FLAGS and values == (True,)]
    if len(flags) > 1 or not {c for c, _ in agg.where} <= SIDE_COLUMNS and flags:
        raise ValueError(f"{agg.name}: side-table aggregates filter on {SIDE_COLUMNS} only")
    return flags[0] if flags else None


def movement_rows_sql(has_status: bool = True) -> str:
    """Movements with their signed amount and round flag (cheap row expressions). Without
    a ``status`` column every movement counts as succeeded (docs/data.md)."""
    signs = " ".join(f"WHEN '{t}' THEN {s}" for t, s in MOVEMENT_SIGN.items())
    return f"""
    mv AS NOT MATERIALIZED (
        SELECT m.*,
               CASE WHEN {"coalesce(m.status, 'succeeded') = 'failed'" if has_status else
                          "FALSE"} THEN 0
                    ELSE m.amount * (CASE m.type {signs} ELSE 0 END) END AS signed_amount,
               m.amount % {ROUND_UNIT} = 0 AS is_round
        FROM movements m
    )"""


def bank_payout_sql() -> str:
    """Payouts made within ``BANK_CHANGE_PAYOUT_HOURS`` after a bank-account change: the
    last change strictly before each payout, found by an ASOF join."""
    return f"""
    bank AS (SELECT account_id, ts AS bank_ts FROM changes WHERE change_type = 'bank_account'),
    mv_bank_payout AS (
        SELECT m.account_id, m.ts, m.type, m.amount
        FROM (SELECT account_id, ts, type, amount FROM movements WHERE type = 'payout') m
        ASOF JOIN bank b ON b.account_id = m.account_id AND b.bank_ts < m.ts
        WHERE b.bank_ts >= m.ts - INTERVAL {BANK_CHANGE_PAYOUT_HOURS} HOUR
    )"""


def drain_sql(since: str = "TRUE") -> str:
    """Inbound movements that were drained, with when (``drain_s``): the first later
    movement within ``DRAIN_HOURS`` that took the running balance to at most
    ``DRAIN_FLOOR`` of the balance right after the inbound one.

    A window minimum over the next ``DRAIN_HOURS`` picks the candidates that drain at all
    (a superset: it may include same-time rows ordered before); the exact first drain is
    then found by an equi-join on the account and 48-hour buckets, so the pairs compared
    are bounded by the rows of two buckets instead of every row of the account. Only
    accounts with a large inbound movement are sequenced at all, and only the rows that
    match ``since`` (a condition on ``ts`` that every later row also meets, see
    ``since_sql``): earlier rows only add their sum to an opening balance.
    """
    inbound = ", ".join(_literal(t) for t in INBOUND_TYPES)
    span = DRAIN_HOURS * HOUR_US
    return f"""
    mv_drain_accounts AS (
        SELECT DISTINCT account_id FROM movements
        WHERE type IN ({inbound}) AND amount >= {DRAIN_MIN_AMOUNT} AND {since}
    ),
    mv_opening AS (
        SELECT account_id, sum(signed_amount) AS opening FROM mv
        WHERE NOT ({since}) AND account_id IN (SELECT account_id FROM mv_drain_accounts)
        GROUP BY account_id
    ),
    mv_seq AS (
        SELECT account_id, ts, type, amount, epoch_us(ts) AS us,
               coalesce(o.opening, 0) + sum(signed_amount) OVER w AS balance,
               row_number() OVER w AS rn
        FROM mv LEFT JOIN mv_opening o USING (account_id)
        WHERE {since} AND account_id IN (SELECT account_id FROM mv_drain_accounts)
        WINDOW w AS (PARTITION BY account_id ORDER BY ts, movement_id
                     ROWS UNBOUNDED PRECEDING)
    ),
    mv_cand AS (
        SELECT * FROM (
            SELECT *, min(balance) OVER (PARTITION BY account_id ORDER BY us RANGE BETWEEN
                                         CURRENT ROW AND {span} FOLLOWING) AS ahead_min
            FROM mv_seq)
        WHERE type IN ({inbound}) AND amount >= {DRAIN_MIN_AMOUNT} AND balance > 0
          AND ahead_min <= {DRAIN_FLOOR} * balance
    ),
    mv_drained AS (
        SELECT i.account_id, any_value(i.ts) AS ts, any_value(i.type) AS type,
               any_value(i.amount) AS amount, min(j.us) / 1e6 AS drain_s
        FROM (SELECT *, us // {span} + k AS bucket FROM mv_cand, (VALUES (0), (1)) t(k)) i
        JOIN (SELECT *, us // {span} AS bucket FROM mv_seq) j
          ON j.account_id = i.account_id AND j.bucket = i.bucket
         AND j.rn > i.rn AND j.us <= i.us + {span} AND j.balance <= {DRAIN_FLOOR} * i.balance
        GROUP BY i.account_id, i.rn
    )"""


def first_use_sql(has_logins: bool, has_sessions: bool) -> list[str]:
    """Statements creating tables ``device_first(ah, kh, device_id, first_ts, first_ok_ts,
    signup_ts)`` and ``ip_first(ah, kh, ip, ...)``: when each account's signup or logins
    first used each device and IP (``first_ok_ts``: by a successful login; ``signup_ts``:
    the signup, when it used it), keyed by 64-bit hashes of the
    account id (``ah``) and of the device or IP (``kh``), so the group-by and the joins that
    read the tables compare integers. One pass over the logins serves new-device and
    new-IP logins, changes from a new device and the identity links. None without logins
    and signup sessions."""
    out = []
    for table, key in (("device_first", "device_id"), ("ip_first", "ip")):
        sources = []
        if has_sessions:
            sources.append(f"SELECT account_id, {key}, completed_at AS ts, FALSE AS ok, "
                           "TRUE AS signup FROM signup_sessions")
        if has_logins:
            sources.append(f"SELECT account_id, {key}, ts, success AS ok, FALSE AS signup "
                           "FROM logins")
        if sources:
            out.append(f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT hash(account_id) AS ah, hash({key}) AS kh, any_value({key}) AS {key},
                       min(ts) AS first_ts, min(CASE WHEN ok THEN ts END) AS first_ok_ts,
                       min(CASE WHEN signup THEN ts END) AS signup_ts
                FROM ({' UNION ALL '.join(sources)}) WHERE {key} IS NOT NULL
                GROUP BY ah, kh""")
    return out


def enriched_logins_sql(has_ip_country: bool = True) -> str:
    """Logins flagged new-device / new-IP (first sighting on the account, tables of
    ``first_use_sql``) and foreign-IP."""
    return f"""
    lg AS (
        SELECT l.*, l.ts <= df.first_ts AS new_device, l.ts <= ipf.first_ts AS new_ip,
               {"(l.ip_country IS NOT NULL AND l.ip_country <> a.country)" if has_ip_country
                else "FALSE"} AS foreign_ip
        FROM (SELECT *, hash(account_id) AS ah FROM logins) l
        JOIN accounts a USING (account_id)
        JOIN device_first df ON df.ah = l.ah AND df.kh = hash(l.device_id)
        JOIN ip_first ipf ON ipf.ah = l.ah AND ipf.kh = hash(l.ip)
    )"""


def enriched_changes_sql(has_logins: bool, has_sessions: bool) -> str:
    """Changes flagged when made from a device first seen (table ``device_first`` of
    ``first_use_sql``) less than a day before."""
    first = ("SELECT ah, kh, first_ts FROM device_first" if has_logins or has_sessions else
             "SELECT NULL::UBIGINT AS ah, NULL::UBIGINT AS kh, NULL::TIMESTAMPTZ AS first_ts "
             "WHERE FALSE")
    return f"""
    change_device_first AS ({first}),
    ch AS (
        SELECT c.*, (f.first_ts IS NULL OR f.first_ts > c.ts - INTERVAL {NEW_DEVICE_HOURS} HOUR)
                   AS from_new_device
        FROM changes c LEFT JOIN change_device_first f
          ON f.ah = hash(c.account_id) AND f.kh = hash(c.device_id)
    )"""


def max_window(aggs: list[Agg]) -> int | None:
    """The longest window of ``aggs`` in days; None when one of them spans all history."""
    if not aggs or any(a.window is None for a in aggs):
        return None
    return max(a.window for a in aggs if a.window is not None)


def since_sql(column: str, window: int | None, earliest_as_of: str | None) -> str:
    """A condition keeping the rows of ``column`` that can fall in a ``window``-day window
    before the earliest as-of time (a SQL timestamp literal): a day of margin, the exact
    window is the aggregates' own filter. TRUE without a window."""
    if window is None or earliest_as_of is None:
        return "TRUE"
    return f"{column} >= {earliest_as_of}::TIMESTAMPTZ - INTERVAL {window + 1} DAY"


def row_columns(aggs: list[Agg]) -> list[str]:
    """The source columns the aggregates read (``ts`` first): a joined row carries only
    these (DuckDB materialises the joined rows once when an aggregate is a distinct
    count)."""
    needed = {"ts"} | {a.value for a in aggs if a.value}
    for agg in aggs:
        for column, _ in agg.where:
            if column in AS_OF_FLAGS:
                needed.add(AS_OF_COLUMNS[column])
            elif column not in SIDE_FLAGS:
                needed.add(column)
    return ["ts", *sorted(needed - {"ts"})]


def snapshot_aggregate_sql(source: str, aggs: list[Agg], earliest_as_of: str | None = None,
                           common_as_of: str | None = None) -> str:
    """One row per snapshot with the aggregates of ``source`` rows before its as-of. When
    every aggregate is windowed, only rows that can fall in the longest window are joined
    (``earliest_as_of``: the earliest as-of time, a SQL timestamp literal). When every
    snapshot has the same as-of time (``common_as_of``, a literal), rows are aggregated
    per account first and the snapshots joined to those (see :func:`per_account_sql`)."""
    columns = ",\n        ".join(aggregate_sql(a) for a in aggs)
    window = max_window(aggs)
    carried = ", ".join(f"r.{c}" for c in row_columns(aggs))
    rows = f"(SELECT * FROM {source} WHERE {since_sql('ts', window, earliest_as_of)}) r"
    if common_as_of is not None:
        at = f"{common_as_of}::TIMESTAMPTZ"
        near = "" if window is None else f" AND r.ts >= {at} - INTERVAL {window + 1} DAY"
        return f"""
    , x AS (
        SELECT hash(r.account_id) AS ah, epoch({at}) AS as_of_s,
               epoch({at}) - epoch(r.ts) AS age_s, {carried}
        FROM {rows} WHERE r.ts < {at}{near}
    ),
    per_account AS (
        SELECT x.ah,
        {columns}
        FROM x
        GROUP BY x.ah
    )
    {per_account_sql("per_account", aggs)}"""
    near = "" if window is None else f" AND r.ts >= s.as_of - INTERVAL {window + 1} DAY"
    return f"""
    , x AS (
        SELECT s.snapshot_id, epoch(s.as_of) AS as_of_s, epoch(s.as_of) - epoch(r.ts) AS age_s,
               {carried}
        FROM snapshots s LEFT JOIN {rows}
          ON r.account_id = s.account_id AND r.ts < s.as_of{near}
    )
    SELECT x.snapshot_id,
        {columns}
    FROM x
    GROUP BY x.snapshot_id"""


def per_account_sql(table: str, aggs: list[Agg]) -> str:
    """Snapshots (table ``snapshot_keys`` of ``links.create_keys``) joined to ``table`` of
    per-account aggregates (column ``ah``: the 64-bit hash of the account id, distinct per
    account: ``DatasetReport.account_hashes_distinct``).
    A snapshot without rows gets what the aggregate of no rows is: 0 for counts, sums and
    distinct counts, NULL otherwise."""
    zero = ("count", "sum", "distinct")
    columns = ", ".join(f"coalesce(p.{a.name}, 0.0) AS {a.name}" if a.fn in zero else
                        f"p.{a.name}" for a in aggs)
    return f"""SELECT s.snapshot_id, {columns}
    FROM snapshot_keys s
    LEFT JOIN {table} p USING (ah)"""


def is_flow(agg: Agg) -> bool:
    """A per-type count or amount over one of ``WINDOWS``: computed by bucketing instead."""
    return (agg.table == "movements" and agg.window in WINDOWS and len(agg.where) == 1
            and agg.where[0][0] == "type" and len(agg.where[0][1]) == 1
            and (agg.fn == "count" or (agg.fn == "sum" and agg.value == "amount")))


def is_total(agg: Agg) -> bool:
    """A movement count or sum over all history and every row (the balance): summed over
    the buckets of ``flow_bucket_sql``, which already join every movement."""
    return (agg.table == "movements" and agg.window is None and not agg.where
            and agg.fn in ("count", "sum"))


def bucketed(agg: Agg) -> bool:
    """Computed from ``flow_bucket_sql`` rows (see ``flow_columns``)."""
    return is_flow(agg) or is_total(agg)


def flow_columns(buckets: dict[str, np.ndarray], n_snapshots: int,
                 totals: list[Agg]) -> dict[str, np.ndarray]:
    """Flow features and ``totals`` from ``flow_bucket_sql`` rows (NumPy columns): sums
    over age buckets. Per type, one pass sums each snapshot's buckets and a cumulative sum
    over them gives every window. Each bucket holds an exact integer sum, far below 2**53,
    so adding them in float64 is exact (in any order)."""
    out: dict[str, np.ndarray] = {}
    snap = buckets["snapshot_id"].astype(np.int64)
    code, bucket = buckets["type_code"], buckets["bucket"]
    windowed = bucket > 0  # bucket 0: older than every window
    # Bucket w is the smallest window holding the row: its position in WINDOWS.
    position = np.searchsorted(np.asarray(WINDOWS), bucket)
    for i, t in enumerate(FLOW_TYPES):
        rows = np.flatnonzero((code == i) & windowed)
        cell = position[rows] * n_snapshots + snap[rows]  # bucket-major: rows contiguous
        for stat, col in (("count", "n"), ("sum", "amount")):
            sums = np.bincount(cell, weights=buckets[col][rows].astype(float),
                               minlength=len(WINDOWS) * n_snapshots)
            within = np.cumsum(sums.reshape(len(WINDOWS), n_snapshots), axis=0)
            for j, w in enumerate(WINDOWS):
                out[f"{t}_{stat}_{w}d"] = within[j]
    for agg in totals:
        out[agg.name] = np.bincount(snap, weights=buckets[agg.name].astype(float),
                                    minlength=n_snapshots).astype(float)
    return out


def flow_bucket_sql(totals: list[Agg], has_status: bool = True,
                    common_as_of: str | None = None) -> str:
    """Counts and amounts per snapshot, movement type (``type_code``: position in
    ``FLOW_TYPES``, -1 other) and age bucket, with the per-bucket parts of ``totals``; the
    features are sums over buckets (see ``flow_columns``). With one as-of time for every
    snapshot (``common_as_of``, a literal) movements are bucketed per account and the
    snapshots (table ``snapshot_keys``) joined to the buckets (see :func:`per_account_sql`)."""
    cases = " ".join(f"WHEN age_s <= {w * 86_400} THEN {w}" for w in WINDOWS)
    codes = " ".join(f"WHEN {_literal(t)} THEN {i}" for i, t in enumerate(FLOW_TYPES))
    parts = "".join(f", CAST({'count(*)' if a.fn == 'count' else f'sum({a.value})'} AS DOUBLE)"
                    f" AS {a.name}" for a in totals)
    groups = (f"CASE type {codes} ELSE -1 END AS type_code, CASE {cases} ELSE 0 END AS bucket, "
              f"count(*) AS n, CAST(sum(amount) AS DOUBLE) AS amount{parts}")
    if common_as_of is not None:
        at = f"{common_as_of}::TIMESTAMPTZ"
        return f"""
    WITH {movement_rows_sql(has_status)},
    g AS (
        SELECT hash(account_id) AS ah, {groups}
        FROM (SELECT m.*, epoch({at}) - epoch(m.ts) AS age_s FROM mv m WHERE m.ts < {at})
        GROUP BY ALL)
    SELECT s.snapshot_id, g.* EXCLUDE (ah)
    FROM snapshot_keys s JOIN g USING (ah)"""
    return f"""
    WITH {movement_rows_sql(has_status)}
    SELECT snapshot_id, {groups}
    FROM (SELECT s.snapshot_id, m.*, epoch(s.as_of) - epoch(m.ts) AS age_s
          FROM snapshots s JOIN mv m ON m.account_id = s.account_id AND m.ts < s.as_of)
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


def activity_sql(available: set[str], tables: set[str], earliest_as_of: str | None = None,
                 common_as_of: str | None = None) -> dict[str, str]:
    """SQL per row source: ``{name: query}``, each giving one row per snapshot with the
    aggregates of that source other than the bucketed ones (``flow_bucket_sql``).
    Movements are split into the plain rows and the side tables of ``SIDE_FLAGS``.
    ``earliest_as_of``, ``common_as_of``: see :func:`snapshot_aggregate_sql`."""
    queries = {}
    has_changes, has_logins = "changes" in tables, "logins" in tables
    has_sessions = "signup_sessions" in tables
    movement_aggs = [a for a in aggregates_for("movements", available) if not bucketed(a)]
    has_status = "movements.status" in available
    plain = [a for a in movement_aggs if side_flag(a) is None]
    queries["movements"] = (f"WITH {movement_rows_sql(has_status)}"
                            + snapshot_aggregate_sql("mv", plain, earliest_as_of,
                                                     common_as_of))
    drained = [a for a in movement_aggs if side_flag(a) == "drained"]
    if drained:
        since = since_sql("ts", max_window(drained), earliest_as_of)
        queries["movements:drained"] = (f"WITH {movement_rows_sql(has_status)}, "
                                        f"{drain_sql(since)}"
                                        + snapshot_aggregate_sql("mv_drained", drained,
                                                                 earliest_as_of, common_as_of))
    after_change = [a for a in movement_aggs if side_flag(a) == "after_bank_change"]
    if after_change:
        side = (f"WITH {bank_payout_sql()}" if has_changes else
                "WITH mv_bank_payout AS (SELECT account_id, ts, type, amount FROM movements "
                "WHERE FALSE)")
        queries["movements:bank_payout"] = side + snapshot_aggregate_sql(
            "mv_bank_payout", after_change, earliest_as_of, common_as_of)
    if has_logins:
        lg = enriched_logins_sql("logins.ip_country" in available)
        queries["logins"] = (f"WITH {lg}" + snapshot_aggregate_sql(
            "lg", aggregates_for("logins", available), earliest_as_of, common_as_of))
    if has_changes:
        queries["changes"] = (f"WITH {enriched_changes_sql(has_logins, has_sessions)}"
                              + snapshot_aggregate_sql("ch", aggregates_for("changes",
                                                                            available),
                                                       earliest_as_of, common_as_of))
    return queries


def totals_for(available: set[str]) -> list[Agg]:
    """The all-history movement totals computed in the bucket pass (``is_total``)."""
    return [a for a in aggregates_for("movements", available) if is_total(a)]
