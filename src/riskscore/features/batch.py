"""Batch features: the whole portfolio, or many training snapshots, from Parquet.

``compute_features(data_dir, snapshots)`` returns one row per ``(account_id, as_of)``
with every feature of ``catalogue.feature_names()`` that the data can support. Features
whose input tables or columns are absent are dropped with a warning
(``DroppedFeaturesWarning``, see ``availability``), never faked.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskscore.dataset import DatasetReport, validate_dataset
from riskscore.features.availability import describe, missing_inputs
from riskscore.features.batch_sql import activity_sql, flow_bucket_sql, flow_columns
from riskscore.features.catalogue import feature_names
from riskscore.features.definitions import HELPER_AGGREGATES, apply_derived
from riskscore.features.identity import identity_table
from riskscore.features.links import (
    cluster_features,
    duplicate_features,
    identifier_events,
    shared_links,
    velocity_features,
)
from riskscore.schema import TABLES
from riskscore.settings import get_settings
from riskscore.store.hashing import IdentifierHasher

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


class DroppedFeaturesWarning(UserWarning):
    """Features left out because the data lacks their inputs (see ``availability``)."""


def connect(report: DatasetReport) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per contract table present in the data."""
    settings = get_settings()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    with contextlib.suppress(duckdb.InvalidInputException):  # Jupyter without ipywidgets
        con.execute("SET enable_progress_bar = false")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET threads = {settings.duckdb_threads}")
    spill = settings.home / "duckdb-spill"
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{spill}'")
    for name in report.rows:
        path = report.root / f"{name}.parquet"
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def available_columns(report: DatasetReport) -> set[str]:
    """``table.column`` of every contract column present with at least one value."""
    return {f"{t}.{c.name}" for t in report.rows for c in TABLES[t].columns
            if report.has(t, c.name)}


def portfolio_snapshots(report: DatasetReport, as_of: pd.Timestamp) -> pd.DataFrame:
    """Every account that existed at ``as_of``, scored as of then."""
    con = connect(report)
    ids = con.execute("SELECT account_id FROM accounts WHERE created_at <= ? ORDER BY "
                      "created_at, account_id", [as_of.to_pydatetime()]).df()["account_id"]
    return pd.DataFrame({"account_id": ids, "as_of": as_of})


def latest_event(report: DatasetReport) -> pd.Timestamp:
    """The time of the newest movement: the natural "now" of a data export."""
    con = connect(report)
    return pd.Timestamp(con.execute("SELECT max(ts) FROM movements").fetchone()[0])


def compute_features(data_dir: Path | str, snapshots: pd.DataFrame,
                     progress: Progress | None = None,
                     report: DatasetReport | None = None) -> pd.DataFrame:
    """Features for each ``(account_id, as_of)`` row of ``snapshots`` (same order)."""
    step = progress or (lambda _msg: None)
    report = report or validate_dataset(data_dir)
    settings = get_settings()
    tables = set(report.rows)
    con = connect(report)
    snaps = snapshots[["account_id", "as_of"]].reset_index(drop=True).copy()
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    snaps.insert(0, "snapshot_id", np.arange(len(snaps), dtype=np.int64))
    con.register("snapshots", snaps)

    accounts = con.execute("SELECT * FROM accounts").df()
    sessions = con.execute("SELECT * FROM signup_sessions").df() if \
        "signup_sessions" in tables else None
    hasher = IdentifierHasher.from_settings(settings)
    identity = identity_table(accounts, sessions, hasher,
                              settings.home / "cache" / "application_features.parquet")
    step("application")
    static = identity.set_index("account_id")
    app_cols = [c for c in static.columns if not c.startswith("id_") and c != "created_at"]
    out = static[app_cols].reindex(snaps["account_id"]).set_axis(snaps.index)
    if sessions is not None:
        velocity = velocity_features(con)
        out = out.join(velocity.reindex(snaps["account_id"]).set_axis(snaps.index))
    step("velocity")

    identifier_events(con, identity, hasher, tables, report.has("changes", "new_value"))
    has_labels = "labels" in tables
    links = duplicate_features(con, has_labels)
    known = (con.execute("SELECT account_id, label_known_at FROM labels").df()
             .set_index("account_id")["label_known_at"] if has_labels else pd.Series(dtype=object))
    clusters = cluster_features(shared_links(con), snaps, known)
    out = out.join(links.reindex(snaps["snapshot_id"]).set_axis(snaps.index))
    out = out.join(clusters.reindex(snaps["snapshot_id"]).set_axis(snaps.index))
    step("links")

    buckets = con.execute(flow_bucket_sql()).df()
    columns: dict[str, np.ndarray] = flow_columns(buckets, len(snaps))
    available = available_columns(report)
    for table, sql in activity_sql(available, tables).items():
        frame = con.execute(sql).df().set_index("snapshot_id").reindex(snaps["snapshot_id"])
        columns.update({c: frame[c].to_numpy(float) for c in frame.columns})
        step(f"activity:{table}")
    created = static["created_at"].reindex(snaps["account_id"]).to_numpy()
    age = (snaps["as_of"].to_numpy() - created) / np.timedelta64(1, "D")
    columns["as_of_epoch"] = (snaps["as_of"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds() \
        .to_numpy()
    columns = apply_derived(columns, age)
    activity = pd.DataFrame({k: v for k, v in columns.items()
                             if k not in HELPER_AGGREGATES and k != "as_of_epoch"},
                            index=snaps.index)
    out = pd.concat([out, activity], axis=1)
    dropped = missing_inputs(report)
    if dropped:
        warnings.warn(f"{len(dropped)} features dropped, their inputs are absent: "
                      f"{describe(dropped)}", DroppedFeaturesWarning, stacklevel=2)
    out = out[[n for n in feature_names() if n in out.columns and n not in dropped]]
    out.insert(0, "as_of", snaps["as_of"])
    out.insert(0, "account_id", snaps["account_id"])
    return out
