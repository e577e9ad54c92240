"""The Spark engine (local mode) gives the local engine's results."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskscore.batch.output import read_decisions
from riskscore.batch.rescore import rescore


def _as_of(run) -> pd.Timestamp:
    """The as-of of a rescore run."""
    return pd.Timestamp(run.manifest.as_of)


pytestmark = [pytest.mark.xdist_group("trained"), pytest.mark.slow]


def test_spark_equals_local(clean_run, sim_dir: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("pyspark")
    monkeypatch.setenv("RISKSCORE_SPARK_MASTER", "local[2]")
    chunk = -(-clean_run.manifest.n_accounts // 2)
    spark = rescore(sim_dir, _as_of(clean_run), tmp_path, engine="spark", chunk_size=chunk)
    assert spark.manifest.complete and spark.manifest.engine == "spark"
    local = read_decisions(clean_run.run_dir).sort_values("account_id", ignore_index=True)
    other = read_decisions(spark.run_dir).sort_values("account_id", ignore_index=True)
    pd.testing.assert_frame_equal(other, local)
    assert spark.report.changes["account_id"].tolist() == \
        clean_run.report.changes["account_id"].tolist()
