"""Batch features: the whole portfolio, or many training snapshots, from Parquet.

``compute_features(data_dir, snapshots)`` returns one row per ``(account_id, as_of)``
with every feature of ``catalogue.feature_names()`` that the data can support. Features
whose input tables or columns are absent are dropped with a warning
(``DroppedFeaturesWarning``, see ``availability``), never faked.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from riskscore.analytics import duckdb_connection
from riskscore.dataset import DatasetReport, validate_dataset
from riskscore.features.application import APPLICATION_FEATURES
from riskscore.features.availability import describe, missing_inputs
from riskscore.features.batch_sql import (
    activity_sql,
    first_use_sql,
    flow_bucket_sql,
    flow_columns,
    totals_for,
)
from riskscore.features.catalogue import feature_names
from riskscore.features.definitions import HELPER_AGGREGATES, apply_derived
from riskscore.features.identity import create_identity
from riskscore.features.links import (
    changed_identifiers,
    cluster_features,
    component_duplicates,
    create_keys,
    duplicate_features,
    identifier_events,
    link_rows,
    shared_links,
    velocity_features,
)
from riskscore.schema import TABLES
from riskscore.settings import get_settings
from riskscore.store.hashing import IdentifierHasher

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
STAGES: tuple[str, ...] = ("application", "velocity", "links", "activity:movements",
                           "activity:logins", "activity:changes")
"""The stages ``compute_features`` reports as it finishes them (the movement side passes
report too, as ``activity:movements:<side>``)."""


class DroppedFeaturesWarning(UserWarning):
    """Features left out because the data lacks their inputs (see ``availability``)."""


def connect(report: DatasetReport) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per contract table present in the data."""
    con = duckdb_connection()
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


class _Matrix:
    """The output: one preallocated float64 block that every stage writes its columns
    into, so a million rows of features exist once (no per-stage frames, joins, concat).
    Column-major and uninitialised: a column's memory is touched when a stage writes it
    (the early, DuckDB-heavy stages run beside a fraction of the block), and the block is
    the DataFrame's own layout. Only written columns are ever read."""

    def __init__(self, n_rows: int, names: list[str]) -> None:
        self.values = np.empty((n_rows, len(names)), order="F")
        self.index = {n: i for i, n in enumerate(names)}
        self.filled: set[str] = set()

    def put(self, name: str, column: object) -> None:
        if name in self.index:
            self.values[:, self.index[name]] = np.asarray(column, float)
            self.filled.add(name)

    def column(self, name: str) -> np.ndarray:
        """A view of one filled column (no copy)."""
        return self.values[:, self.index[name]]

    def put_frame(self, frame: pd.DataFrame, positions: np.ndarray) -> None:
        """Columns of ``frame`` taken at row ``positions`` (-1: absent, NaN)."""
        for name in frame.columns:
            if name in self.index:
                column = frame[name].to_numpy(float)
                taken = column[np.maximum(positions, 0)] if len(column) else \
                    np.full(len(positions), np.nan)
                self.put(name, np.where(positions >= 0, taken, np.nan))


def _floats(values: np.ndarray) -> np.ndarray:
    """A column DuckDB's ``fetchnumpy`` returned, as float64 with NaN for its NULLs."""
    if np.ma.isMaskedArray(values):
        return values.astype(float).filled(np.nan)
    return values.astype(float)


def _common_as_of(con: duckdb.DuckDBPyConnection) -> str | None:
    """The as-of time of every row of table ``snapshots`` as a SQL literal (as DuckDB holds
    it), or None when they differ (or there are none)."""
    first, last = con.execute("SELECT min(as_of), max(as_of) FROM snapshots").fetchone()
    return f"'{first.isoformat()}'" if first is not None and first == last else None


def _positions(index: pd.Index, keys: pd.Series | np.ndarray) -> np.ndarray:
    """Row of each key in ``index`` (-1 when absent)."""
    return index.get_indexer(keys)


def compute_features(data_dir: Path | str, snapshots: pd.DataFrame,
                     progress: Progress | None = None,
                     report: DatasetReport | None = None,
                     application_workers: int | None = None) -> pd.DataFrame:
    """Features for each ``(account_id, as_of)`` row of ``snapshots`` (same order).

    ``report``: the data's ``validate_dataset`` report, by default validated here with its
    row checks in the background; the features are returned once those have passed
    (``DatasetReport.confirm``), and a failure on bad data raises what the checks found.
    ``application_workers``: processes for applications new to the cache (default
    ``settings.application_workers``)."""
    report = report or validate_dataset(data_dir, background=True)
    workers = application_workers or get_settings().application_workers
    try:
        frame = _features(snapshots, report, progress or (lambda _msg: None), workers)
    except Exception:
        report.confirm()  # bad data explains a failure better than where it surfaced
        raise
    report.confirm()
    return frame


def _features(snapshots: pd.DataFrame, report: DatasetReport, step: Progress,
              workers: int) -> pd.DataFrame:
    settings = get_settings()
    tables = set(report.rows)
    con = connect(report)
    snaps = snapshots[["account_id", "as_of"]].reset_index(drop=True).copy()
    snaps["as_of"] = pd.to_datetime(snaps["as_of"], utc=True)
    snaps.insert(0, "snapshot_id", np.arange(len(snaps), dtype=np.int64))
    con.register("snapshots", snaps)
    out = _Matrix(len(snaps), feature_names())

    has_sessions = "signup_sessions" in tables
    hasher = IdentifierHasher.from_settings(settings)
    create_identity(con, hasher, settings.home / "cache" / "application_features.parquet",
                    has_sessions, workers)
    step("application")
    app_cols = list(APPLICATION_FEATURES)
    if not has_sessions:  # dropped below with the other features lacking inputs
        app_cols = [c for c in app_cols if not c.startswith("signup_")]
    static = con.execute(f"""SELECT epoch_us(i.created_at) AS created_us, {', '.join(
        f'i.{c}' for c in app_cols)} FROM snapshots s LEFT JOIN identity i USING (account_id)
        ORDER BY s.snapshot_id""").fetchnumpy()
    for name in app_cols:
        out.put(name, _floats(static[name]))
    created_us = static["created_us"]
    del static
    create_keys(con)
    keys = con.execute("SELECT coalesce(aid, -1) AS aid FROM snapshot_keys ORDER BY "
                       "snapshot_id").fetchnumpy()["aid"].astype(np.int64)
    n_accounts = con.execute("SELECT count(*) FROM account_keys").fetchone()[0]
    if has_sessions:
        velocity = velocity_features(con, by_key=True)
        aids = velocity.index.to_numpy()  # -1: a session of an account not in accounts
        row = np.full(n_accounts + 1, -1)  # velocity row per account key; key -1 (last): none
        row[aids[aids >= 0]] = np.flatnonzero(aids >= 0)
        out.put_frame(velocity, row[keys])
    step("velocity")

    with ThreadPoolExecutor(1) as pool:  # Python hashing beside DuckDB (GIL released)
        changed = pool.submit(changed_identifiers, con.cursor(), hasher, settings.home
                              / "cache" / "change_phones.parquet") \
            if report.has("changes", "new_value") else None
        for sql in first_use_sql("logins" in tables, has_sessions):
            con.execute(sql)
        identifier_events(con, tables, changed.result() if changed else None)
    con.execute("DROP TABLE identity")  # DuckDB's memory is for the joins to come
    has_labels = "labels" in tables
    known_us = np.full(n_accounts, np.nan)
    if has_labels:
        found = con.execute("""SELECT k.aid, epoch_us(l.label_known_at) AS known FROM labels l
                               JOIN account_keys k USING (account_id)
                               WHERE l.label_known_at IS NOT NULL""").fetchnumpy()
        known_us[found["aid"]] = found["known"]
    as_of_us = snaps["as_of"].to_numpy("datetime64[us]").astype(np.int64)
    helpers: dict[str, np.ndarray] = {}  # aggregates that only feed derived features
    # NumPy and SciPy work (GIL released) runs beside DuckDB's scans: the duplicate counts
    # of a portfolio run and the flows' sums. Their columns are filled at the end.
    with ThreadPoolExecutor(2) as beside:
        later = []
        if len(snaps) and (as_of_us == as_of_us[0]).all():
            later.append(beside.submit(component_duplicates, link_rows(con), keys,
                                       int(as_of_us[0]), known_us))
        else:
            links = duplicate_features(con, has_labels)
            out.put_frame(links, _positions(links.index, snaps["snapshot_id"]))
            del links
        for name, column in cluster_features(shared_links(con), keys, as_of_us,
                                             known_us).items():
            out.put(name, column)
        con.execute("DROP TABLE ident")
        step("links")

        available = available_columns(report)
        totals = totals_for(available)
        common = _common_as_of(con) if report.account_hashes_distinct else None
        buckets = con.execute(flow_bucket_sql(totals, "movements.status" in available,
                                              common)).fetchnumpy()
        later.append(beside.submit(flow_columns, buckets, len(snaps), totals))
        del buckets
        earliest = f"'{snaps['as_of'].min().isoformat()}'" if len(snaps) else None
        for table, sql in activity_sql(available, tables, earliest, common).items():
            got = con.execute(sql).fetchnumpy()
            rows = got.pop("snapshot_id").astype(np.int64)
            for name, values in got.items():
                column = np.full(len(snaps), np.nan)
                column[rows] = _floats(values)
                if name in HELPER_AGGREGATES:
                    helpers[name] = column
                else:
                    out.put(name, column)
            del got
            step(f"activity:{table}")
        for future in later:
            for name, column in future.result().items():
                out.put(name, column)
        del later
    columns = {**{n: out.column(n) for n in out.filled}, **helpers}
    age = (as_of_us - _floats(created_us)) / 86_400e6
    columns["as_of_epoch"] = (snaps["as_of"] - pd.Timestamp(0, tz="UTC")).dt.total_seconds() \
        .to_numpy()
    for name, column in apply_derived(columns, age).items():
        if name not in columns:
            out.put(name, column)
    del columns, helpers
    dropped = missing_inputs(report)
    if dropped:
        warnings.warn(f"{len(dropped)} features dropped, their inputs are absent: "
                      f"{describe(dropped)}", DroppedFeaturesWarning, stacklevel=2)
    names = [n for n in feature_names() if n in out.filled and n not in dropped]
    values = out.values if len(names) == len(out.index) else \
        out.values[:, [out.index[n] for n in names]]
    frame = pd.DataFrame(values, columns=names, index=snaps.index, copy=False)
    frame.insert(0, "as_of", snaps["as_of"])
    frame.insert(0, "account_id", snaps["account_id"])
    return frame
