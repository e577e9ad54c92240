"""Identity-link features in batch: duplicates, linked clusters and signup velocity.

Accounts are linked when they use the same identifier (after normalisation): the
application's email, phone, address, tax id, bank account, device and IP, plus the
devices and IPs of later logins and the new values of later changes. Each identifier
counts from the moment an account first used it; fraud counts from the moment it
became known. The store answers the same questions for one account online.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskscore.features.identity import ID_COLUMNS, change_identifiers
from riskscore.store.hashing import IdentifierHasher
from riskscore.store.queries import CLUSTER_KINDS

LINK_KINDS: tuple[str, ...] = ("email", "phone", "address", "tax_id", "bank_account", "device",
                               "ip")
CLUSTER_MAX = 500
APPLICATION_KINDS: tuple[str, ...] = tuple(c.removeprefix("id_") for c in ID_COLUMNS)
LINK_FEATURES: dict[str, str] = {
    **{f"shared_{k}": f"Other accounts that used the same {k.replace('_', ' ')} before the "
       "as-of time." for k in LINK_KINDS},
    **{f"fraud_shared_{k}": f"Of those sharing the {k.replace('_', ' ')}, accounts known to be "
       "fraudulent before the as-of time." for k in LINK_KINDS},
    "cluster_size": f"Accounts in the linked cluster (sharing any of {', '.join(CLUSTER_KINDS)},"
                    f" transitively), capped at {CLUSTER_MAX}.",
    "cluster_known_fraud": "Other members of the linked cluster known to be fraudulent.",
}
VELOCITY_FEATURES: dict[str, str] = {
    "signups_same_device_1h": "Signups from the same device in the hour before this one.",
    "signups_same_device_1d": "Signups from the same device in the day before this one.",
    "signups_same_ip_1h": "Signups from the same IP in the hour before this one.",
    "signups_same_ip_1d": "Signups from the same IP in the day before this one.",
    "signups_same_ip24_1h": "Signups from the same /24 network in the hour before this one.",
    "signups_same_ip24_1d": "Signups from the same /24 network in the day before this one.",
    "platform_signups_1d": "Platform-wide signups in the day before this one.",
    "platform_signup_ratio": "Platform signups in the last day over the daily average of the 28 "
                             "days before (1 = normal).",
}


def identifier_events(con: duckdb.DuckDBPyConnection, hasher: IdentifierHasher,
                      tables: set[str], cache: Path | None = None,
                      has_new_values: bool = True) -> None:
    """Create table ``ident(account_id, kind, value, first_seen, onboarding)`` on ``con``:
    when each account first used each identifier. Table ``identity`` on ``con`` holds the
    hashed application identifiers per account (:func:`identity.create_identity`);
    ``cache``: see :func:`identity.change_identifiers`; ``has_new_values``:
    ``changes.new_value`` is present."""
    sources = [f"SELECT account_id, '{kind}' AS kind, id_{kind} AS value, created_at AS ts, "
               "TRUE AS onboarding FROM identity" for kind in APPLICATION_KINDS]
    if "signup_sessions" in tables:
        sources += ["SELECT account_id, 'device', device_id, completed_at, TRUE FROM "
                    "signup_sessions", "SELECT account_id, 'ip', ip, completed_at, TRUE FROM "
                    "signup_sessions"]
    # Failed logins link nothing: one credential-stuffing device would tie all its victims.
    # Each account uses few devices and IPs many times: reduce to first uses before the union.
    for table, where in (("logins", " WHERE success"), ("changes", "")):
        if table in tables:
            sources += [f"SELECT account_id, 'device', device_id, min(ts), FALSE FROM {table}"
                        f"{where} GROUP BY account_id, device_id",
                        f"SELECT account_id, 'ip', ip, min(ts), FALSE FROM {table}{where} "
                        "GROUP BY account_id, ip"]
    if "changes" in tables and has_new_values:
        ch = con.execute("""SELECT c.account_id, c.change_type, c.new_value, a.country, c.ts
                            FROM changes c JOIN accounts a USING (account_id)
                            WHERE c.new_value IS NOT NULL""").df()
        values = change_identifiers(ch, hasher, cache)
        keep = np.array([v is not None for v in values], bool)
        con.register("changed_ids", pd.DataFrame({
            "account_id": ch["account_id"][keep], "kind": [v[0] for v in values if v],
            "value": [v[1] for v in values if v], "ts": ch["ts"][keep]}))
        sources.append("SELECT account_id, kind, value, ts, FALSE FROM changed_ids")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE ident AS
        SELECT account_id, kind,
               CASE WHEN kind IN ('device', 'ip') THEN regexp_replace(value, '\\s+', '', 'g')
                    ELSE value END AS value,
               min(ts) AS first_seen, bool_or(onboarding) AS onboarding
        FROM ({' UNION ALL '.join(sources)}) WHERE value IS NOT NULL GROUP BY ALL""")


def duplicate_features(con: duckdb.DuckDBPyConnection, has_labels: bool) -> pd.DataFrame:
    """``shared_<kind>`` and ``fraud_shared_<kind>`` per snapshot (tables ``snapshots``,
    ``ident`` and optionally ``labels`` registered on ``con``)."""
    known = ("LEFT JOIN labels l ON l.account_id = j.account_id" if has_labels else "")
    known_col = "l.label_known_at < o.as_of" if has_labels else "FALSE"
    long = con.execute(f"""
        WITH own AS (
            SELECT s.snapshot_id, s.account_id, s.as_of, i.kind, i.value
            FROM snapshots s JOIN ident i ON i.account_id = s.account_id
             AND (i.first_seen < s.as_of OR (i.onboarding AND i.first_seen <= s.as_of))
        )
        SELECT o.snapshot_id, o.kind, count(DISTINCT j.account_id) AS shared,
               count(DISTINCT j.account_id) FILTER (WHERE {known_col}) AS fraud
        FROM own o JOIN ident j ON j.kind = o.kind AND j.value = o.value
         AND j.account_id <> o.account_id AND j.first_seen < o.as_of
        {known}
        GROUP BY ALL""").df()
    wide = long.pivot(index="snapshot_id", columns="kind", values=["shared", "fraud"])
    out = pd.DataFrame(index=pd.Index(con.execute("SELECT snapshot_id FROM snapshots").df()
                                      ["snapshot_id"], name="snapshot_id"))
    for kind in LINK_KINDS:
        for stat, prefix in (("shared", "shared_"), ("fraud", "fraud_shared_")):
            col = wide[(stat, kind)] if (stat, kind) in wide.columns else None
            out[prefix + kind] = 0.0 if col is None else col.reindex(out.index).fillna(0.0)
    return out.astype("float64")


class _Clusters:
    """Union-find over accounts and identifiers, with sizes and known-fraud counts."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}
        self.size: dict[object, int] = {}
        self.fraud: dict[object, int] = {}

    def find(self, x: object) -> object:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.size[x] = 1 if isinstance(x, str) else 0  # accounts count, identifiers don't
            self.fraud[x] = 0
            return x
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: object, b: object) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        self.fraud[ra] += self.fraud[rb]


def shared_links(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Rows of ``ident`` of the cluster kinds whose value more than one account used."""
    kinds = ", ".join(f"'{k}'" for k in CLUSTER_KINDS)
    return con.execute(f"""
        SELECT i.account_id, i.kind, i.value, i.first_seen, i.onboarding FROM ident i
        JOIN (SELECT kind, value FROM ident WHERE kind IN ({kinds}) GROUP BY ALL
              HAVING count(DISTINCT account_id) > 1) USING (kind, value)""").df()


def cluster_features(links: pd.DataFrame, snapshots: pd.DataFrame,
                     known_at: pd.Series) -> pd.DataFrame:
    """Linked-cluster size and known-fraud members per snapshot, by replaying identifier
    first-uses and fraud discoveries in time order (only identifiers ever shared matter).

    As everywhere, a snapshot sees what happened strictly before its as-of time, plus the
    account's own application identifiers.
    """
    out = pd.DataFrame({"cluster_size": 1.0, "cluster_known_fraud": 0.0},
                       index=snapshots["snapshot_id"])
    involved = set(links["account_id"])
    queries = snapshots[snapshots["account_id"].isin(involved)]
    if queries.empty:
        return out
    known = known_at.dropna()
    known = known[known.index.isin(involved)]
    # At equal times queries come first: what happens at t is not visible at t.
    events = pd.concat([
        pd.DataFrame({"t": queries["as_of"].to_numpy(), "order": 0,
                      "account_id": queries["account_id"].to_numpy(),
                      "item": queries["snapshot_id"].to_numpy()}),
        pd.DataFrame({"t": known.to_numpy(), "order": 1, "account_id": known.index,
                      "item": None}),
        pd.DataFrame({"t": links["first_seen"].to_numpy(), "order": 2,
                      "account_id": links["account_id"].to_numpy(),
                      "item": list(zip(links["kind"], links["value"], strict=True))}),
    ], ignore_index=True).sort_values(["t", "order"], kind="stable")
    own = links[links["onboarding"]]
    application: dict[str, list[tuple[str, str]]] = {}
    for account, kind, value in zip(own["account_id"], own["kind"], own["value"], strict=True):
        application.setdefault(account, []).append((kind, value))
    uf = _Clusters()
    known_before: set[str] = set()
    rows, sizes, frauds = [], [], []
    for order, account, item in zip(events["order"], events["account_id"], events["item"],
                                    strict=True):
        if order == 2:
            uf.union(account, item)
        elif order == 1:
            known_before.add(account)
            uf.fraud[uf.find(account)] += 1
        else:
            for node in application.get(account, ()):
                uf.union(account, node)
            root = uf.find(account)
            rows.append(item)
            sizes.append(min(uf.size[root], CLUSTER_MAX))
            frauds.append(uf.fraud[root] - (account in known_before))
    out.loc[rows, "cluster_size"] = np.asarray(sizes, float)
    out.loc[rows, "cluster_known_fraud"] = np.asarray(frauds, float)
    return out


def velocity_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Signup velocity per account, frozen at its signup (table ``signup_sessions``)."""
    per_key = []
    for key in ("device", "ip", "ip24"):
        per_key.append(f"""
            {key} AS (
                SELECT a.account_id,
                       count(b.account_id) FILTER (WHERE b.completed_at >= a.completed_at -
                           INTERVAL 1 HOUR) AS {key}_1h,
                       count(b.account_id) AS {key}_1d
                FROM s a LEFT JOIN s b ON b.{key} = a.{key} AND b.{key} <> ''
                 AND b.completed_at < a.completed_at
                 AND b.completed_at >= a.completed_at - INTERVAL 1 DAY
                GROUP BY a.account_id)""")
    frame = con.execute(f"""
        WITH s AS (
            SELECT account_id, completed_at,
                   regexp_replace(device_id, '\\s+', '', 'g') AS device,
                   regexp_replace(ip, '\\s+', '', 'g') AS ip,
                   regexp_extract(regexp_replace(ip, '\\s+', '', 'g'), '^(.*)\\.[^.]*$', 1)
                       AS ip24
            FROM signup_sessions),
        {', '.join(per_key)}
        SELECT s.account_id, epoch_us(s.completed_at) AS completed_us, device_1h, device_1d,
               ip_1h, ip_1d, ip24_1h, ip24_1d
        FROM s JOIN device USING (account_id) JOIN ip USING (account_id)
        JOIN ip24 USING (account_id)""").df()
    c = frame["completed_us"].to_numpy(np.int64)
    times = np.sort(c)
    day, month = 86_400 * 10**6, 29 * 86_400 * 10**6
    last_day = np.searchsorted(times, c, "left") - np.searchsorted(times, c - day, "left")
    before = (np.searchsorted(times, c - day, "left")
              - np.searchsorted(times, c - month, "left")) / 28.0
    counts = {f"signups_same_{key}_{w}": frame[f"{key}_{w}"].to_numpy()
              for key in ("device", "ip", "ip24") for w in ("1h", "1d")}
    return pd.DataFrame({
        **counts,
        "platform_signups_1d": last_day,
        "platform_signup_ratio": last_day / np.maximum(before, 1.0),
    }, index=pd.Index(frame["account_id"], name="account_id")).astype("float64")
