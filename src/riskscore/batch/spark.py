"""The Spark engine of a rescore: the same features and decisions, spread over executors.

Accounts are split into partitions of about ``chunk_size``; each partition computes its
accounts' features with the batch DuckDB definitions (``features.batch``, over the whole
input data, so links and velocity see every account) and decides through a Scorer built
from the run's frozen job bundle (model + policy), inside ``mapInPandas``. The code is
the local engine's, so results are equal. Spark writes the decisions with its own commit
protocol; they are then moved into the run directory and listed in its manifest.

Cluster use (``docs/rescore.md``): every executor needs riskscore installed, the input
data at the same path (a shared filesystem) and the job bundle directory readable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from riskscore.batch.decide import PREVIOUS_COLUMNS, bundle_scorer, decision_frame
from riskscore.batch.output import RunWriter, read_decisions
from riskscore.batch.rescore import Progress
from riskscore.features.batch import compute_features
from riskscore.settings import Settings

SCHEMA = ("account_id string, as_of timestamp, decision_id string, score double, "
          "risk_level string, action string, delay_days int, reason_codes array<string>, "
          "reasons string, model_version string, policy_version string")
"""``batch.decide.DECISION_SCHEMA`` in Spark's DDL."""

def spark_session(settings: Settings):
    """The active Spark session, or a new one: ``settings.spark_master`` unless launched by
    spark-submit (which sets the master); local masters bind to loopback, no UI."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("riskscore-rescore") \
        .config("spark.ui.enabled", "false") \
        .config("spark.sql.session.timeZone", "UTC") \
        .config("spark.sql.execution.arrow.pyspark.enabled", "true") \
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
        builder = builder.master(settings.spark_master)
        if settings.spark_master.startswith("local"):
            # Python workers run this interpreter (pyspark reads PYSPARK_PYTHON, not conf).
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = builder.config("spark.driver.host", "127.0.0.1") \
                .config("spark.driver.bindAddress", "127.0.0.1")
    return builder.getOrCreate()


def partition_decider(data_dir: str, bundle: str, explain: str, previous: str | None
                      ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function: snapshots of one partition -> their decisions (with
    the driver's ``rescore_explain``, whatever the executor's settings say, and the
    ``previous`` run it keeps model reasons from)."""

    def decide(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        frames = list(batches)
        if not frames or not sum(len(f) for f in frames):
            return
        snapshots = pd.concat(frames, ignore_index=True)
        snapshots = snapshots.sort_values("row")[["account_id", "as_of"]]
        features = compute_features(data_dir, snapshots,  # Spark runs partitions in parallel
                                    application_workers=1)
        scorer = bundle_scorer(bundle)
        scorer.settings = scorer.settings.model_copy(update={"rescore_explain": explain})
        kept = None
        if previous:
            kept = read_decisions(Path(previous), PREVIOUS_COLUMNS)
            kept = kept[kept["account_id"].isin(snapshots["account_id"])].set_index(
                "account_id")
        yield decision_frame(scorer, features, previous=kept)

    return decide


def spark_decisions(data_dir: Path, snapshots: pd.DataFrame, bundle: Path,
                    writer: RunWriter, settings: Settings, show: Progress) -> list[Path]:
    """Run the rescore on Spark; returns the decision files, moved into the run directory."""
    manifest = writer.manifest
    spark = spark_session(settings)
    show("spark: features and decisions", 0, 1)
    frame = snapshots[["account_id", "as_of"]].reset_index(drop=True)
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    frame["row"] = range(len(frame))
    frame["part"] = frame["row"] // manifest.chunk_size
    staged = writer.work / "spark"
    (spark.createDataFrame(frame)
     .repartitionByRange(manifest.n_chunks, "part")
     .mapInPandas(partition_decider(str(Path(data_dir).resolve()), str(bundle.resolve()),
                                    manifest.explain, manifest.previous), SCHEMA)
     .write.mode("overwrite").parquet(str(staged)))
    if not (staged / "_SUCCESS").exists():
        raise RuntimeError(f"Spark did not commit its output in {staged}")
    for stale in writer.decisions.glob("*.parquet"):
        stale.unlink()
    files = []
    for i, part in enumerate(sorted(staged.glob("part-*.parquet"))):
        target = writer.decisions / f"spark-{i:05d}.parquet"
        os.replace(part, target)
        files.append(target)
    show("spark: features and decisions", 1, 1)
    return files
