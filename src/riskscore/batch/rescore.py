"""Rescore the portfolio as of a time: features -> champion -> policy -> Parquet + report.

The local engine computes the batch features of every account once (DuckDB, the same
definitions as online scoring), then scores and decides chunk by chunk exactly as
``scoring.Scorer`` does (:mod:`.decide`): each chunk an atomic file and a resume point
(see :mod:`.output`); a resumed run computes the features of its unfinished chunks only.
``engine="spark"`` runs the features and decisions on Spark (:mod:`.spark`) and lands in
the same layout.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from riskscore.batch.decide import PREVIOUS_COLUMNS, decision_frame, save_job_bundle
from riskscore.batch.output import (
    Manifest,
    RunWriter,
    complete_runs,
    data_fingerprint,
    read_decisions,
    read_manifest,
    run_name,
)
from riskscore.batch.report import COLUMNS, ChangeReport, build_report, write_report
from riskscore.dataset import DatasetReport, validate_dataset
from riskscore.features.batch import STAGES, compute_features, portfolio_snapshots
from riskscore.scoring import Scorer
from riskscore.settings import Settings, get_settings

ENGINES = ("local", "spark")
BUNDLE_DIR = "bundle"

Progress = Callable[[str, int, int], None]
"""``(label, done, total)``: the stage being run and how far it is."""


@dataclass(frozen=True)
class RescoreResult:
    """Where the run is, what it is, and what changed."""

    run_dir: Path
    manifest: Manifest
    resumed_chunks: int
    previous: Path | None
    report: ChangeReport


def previous_run(out_root: Path, as_of: pd.Timestamp) -> Path | None:
    """The latest complete run under ``out_root`` from before ``as_of``."""
    earlier = [p for p, m in complete_runs(out_root) if pd.Timestamp(m.as_of) < as_of]
    return earlier[-1] if earlier else None


def rescore(data_dir: Path, as_of: pd.Timestamp, out_root: Path, *, engine: str = "local",
            chunk_size: int | None = None, previous: Path | None = None,
            settings: Settings | None = None, scorer: Scorer | None = None,
            progress: Progress | None = None) -> RescoreResult:
    """Rescore every account existing at ``as_of``; resume an unfinished run of the same
    inputs. Raises ``DataContractError`` (bad data), ``RegistryError`` (no champion),
    ``IncompleteRun`` (a bad ``previous``) and ``ValueError`` (bad arguments)."""
    settings = settings or get_settings()
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    chunk_size = chunk_size or settings.rescore_chunk_size
    as_of = as_of.tz_convert("UTC") if as_of.tzinfo else as_of.tz_localize("UTC")
    show = progress or (lambda _label, _done, _total: None)
    show("validating the data, loading the champion", 0, 1)
    run_dir = Path(out_root) / run_name(as_of)
    with ThreadPoolExecutor(1) as pool:  # MLflow loads while DuckDB (GIL released) scans
        loading = pool.submit(Scorer.from_settings, settings) if scorer is None else None
        report = validate_dataset(data_dir, background=True)  # row checks: see _local
        if previous is not None:
            read_decisions(Path(previous), ["account_id"])  # fail early on a bad --previous
        else:
            previous = previous_run(Path(out_root), as_of)
        show("listing the accounts", 0, 1)
        snapshots = portfolio_snapshots(report, as_of)
        # A first run of this as-of time decides every account, whatever the champion:
        # its features are computed while the champion loads (a run to resume or redo
        # waits for the champion, which says what is left). A failed load stops them at
        # the next stage.
        early = _features(data_dir, snapshots, report, _failing_with(loading, show)) \
            if engine == "local" and len(snapshots) and read_manifest(run_dir) is None \
            else None
        scorer = scorer or loading.result()
    if scorer.model is None:
        raise ValueError("no model to rescore with")
    explain = scorer.settings.rescore_explain
    kept = previous if explain == "changed" else None
    writer = RunWriter(run_dir, Manifest(
        as_of=as_of.isoformat(), data=data_fingerprint(data_dir),
        model_version=scorer.model_version, policy_version=scorer.policy.full_version,
        engine=engine, chunk_size=chunk_size, n_accounts=len(snapshots), explain=explain,
        previous=str(kept.resolve()) if kept else None))
    resumed = len(writer.manifest.chunks)
    if not writer.manifest.complete:
        bundle = save_job_bundle(scorer, writer.work / BUNDLE_DIR)
        if engine == "spark" and len(snapshots):
            from riskscore.batch.spark import spark_decisions

            report.confirm()
            writer.adopt(spark_decisions(data_dir, snapshots, bundle, writer, settings,
                                         show))
        else:
            _local(data_dir, snapshots, scorer, writer, report, show, early)
        del early
        show("change report", 0, 1)
        report.confirm()
        current = _decisions(writer)
        change = build_report(current, _previous(previous), previous and previous.name)
        write_report(change, run_dir)
        writer.finish()
    else:
        change = build_report(read_decisions(run_dir, COLUMNS), _previous(previous),
                              previous and previous.name)
    show("done", 1, 1)
    return RescoreResult(run_dir, writer.manifest, resumed, previous, change)


def _previous(run_dir: Path | None) -> pd.DataFrame | None:
    return None if run_dir is None else read_decisions(run_dir, COLUMNS)


def _decisions(writer: RunWriter) -> pd.DataFrame:
    chunks = sorted(writer.manifest.chunks.values(), key=lambda c: c["file"])
    return pa.concat_tables([pq.read_table(writer.run_dir / c["file"], columns=COLUMNS)
                             for c in chunks]).to_pandas()


def _failing_with(loading: Future[Scorer] | None, show: Progress) -> Progress:
    """``show``, raising the error of ``loading`` once it has failed."""
    def progress(label: str, done: int, total: int) -> None:
        if loading is not None and loading.done() and loading.exception() is not None:
            raise loading.exception()
        show(label, done, total)

    return progress


def _features(data_dir: Path, snapshots: pd.DataFrame, report: DatasetReport,
              show: Progress) -> pd.DataFrame:
    """Batch features of ``snapshots``, with a progress step per stage."""
    done = iter(range(1, len(STAGES) + 1))
    show("features", 0, len(STAGES))
    return compute_features(data_dir, snapshots, report=report,
                            progress=lambda s: show(f"features: {s}", next(done, 0),
                                                    len(STAGES)))


def _local(data_dir: Path, snapshots: pd.DataFrame, scorer: Scorer, writer: RunWriter,
           report: DatasetReport, show: Progress, features: pd.DataFrame | None = None
           ) -> None:
    """Features of the accounts of every unfinished chunk (one DuckDB pass, held in
    memory; ``features``: those of every snapshot, computed already), then each chunk's
    decisions, written as it is done. Nothing else is kept: a resumed run computes the
    features of the chunks it still has to do, which are the same values (features of an
    account depend on the data, not on the other snapshots). The data's row checks run
    beside the features, which wait for them before scoring."""
    manifest = writer.manifest
    total, size = manifest.n_chunks, manifest.chunk_size
    pending = [c for c in range(total) if not writer.done(c)]
    if not pending:
        return
    if not manifest.n_accounts:  # nothing existed yet: an empty, complete run
        writer.write_chunk(0, decision_frame(scorer, snapshots))
        return
    bounds = [(c, c * size, min((c + 1) * size, manifest.n_accounts)) for c in pending]
    if features is not None and len(pending) == total:
        frame = features
    else:
        todo = snapshots.iloc[np.concatenate([np.arange(a, b) for _, a, b in bounds])]
        frame = _features(data_dir, todo, report, show)
    show("scoring", total - len(pending), total)
    kept = read_decisions(Path(manifest.previous), PREVIOUS_COLUMNS).set_index(
        "account_id") if manifest.previous else None
    starts = np.cumsum([0] + [b - a for _, a, b in bounds])
    # One lane per model thread, each deciding a chunk on one thread: a lane's Python work
    # (reasons, ids, rows) runs while another is in LightGBM (GIL released), and the
    # cores never hold more LightGBM threads than there are (oversubscribed OpenMP threads
    # spin). Chunks are written in order as they are done.
    lanes = scorer.settings.model_threads
    with ThreadPoolExecutor(lanes) as pool:
        decided = pool.map(lambda i: decision_frame(
            scorer, frame.iloc[starts[i]:starts[i + 1]], previous=kept,
            threads=1 if lanes > 1 else None), range(len(bounds)))
        for (chunk, _, _), decisions in zip(bounds, decided, strict=True):
            writer.write_chunk(chunk, decisions)
            show("scoring", len(manifest.chunks), total)
