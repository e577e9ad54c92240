"""End to end: the real CLI in a child process."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "riskscore", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "RISKSCORE_HOME": str(home),
                                                       "COLUMNS": "200"})


def test_simulate_summary_features(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _run("simulate", "--accounts", "1500", "--days", "120", "--seed", "4", "--out",
                str(data), home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "wrote accounts=1,500" in done.stdout
    summary = _run("summary", str(data), home=tmp_path)
    assert summary.returncode == 0 and "Fraud by typology" in summary.stdout
    out = tmp_path / "features.parquet"
    feats = _run("features", "--data", str(data), "--out", str(out), "--as-of", "2025-04-01",
                 home=tmp_path)
    assert feats.returncode == 0, feats.stderr
    frame = pd.read_parquet(out)
    created = pd.read_parquet(data / "accounts.parquet").created_at
    assert len(frame) == (created <= pd.Timestamp("2025-04-01", tz="UTC")).sum()
    assert frame.shape[1] == 2 + 175


def test_bad_data_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run("simulate", "--accounts", "300", "--days", "60", "--out", str(data), home=tmp_path)
    (data / "movements.parquet").write_text("not parquet")
    done = _run("summary", str(data), home=tmp_path)
    assert done.returncode == 2
    assert "invalid data: table movements" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    bad = _run("simulate", "--accounts", "5", "--out", str(data), home=tmp_path)
    assert bad.returncode == 2 and "--accounts" in bad.stdout + bad.stderr


def test_rows_the_background_checks_reject_end_the_features_command(tmp_path: Path) -> None:
    """``riskscore features`` starts while the data's row checks still run; a duplicate
    movement id found by them ends it with the named error, and no output file."""
    data = tmp_path / "data"
    _run("simulate", "--accounts", "300", "--days", "60", "--out", str(data), home=tmp_path)
    movements = pq.read_table(data / "movements.parquet")
    pq.write_table(pa.concat_tables([movements, movements.slice(0, 1)]),
                   data / "movements.parquet")
    out = tmp_path / "features.parquet"
    done = _run("features", "--data", str(data), "--out", str(out), home=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "table movements, column 'movement_id': 1 duplicate values" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not out.exists()


def test_simulate_start_places_the_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _run("simulate", "--accounts", "300", "--days", "60", "--start", "2026-09-01",
                "--out", str(data), home=tmp_path)
    assert done.returncode == 0, done.stderr
    created = pd.read_parquet(data / "accounts.parquet").created_at
    moved = pd.read_parquet(data / "movements.parquet").ts
    assert created.min() >= pd.Timestamp("2026-09-01", tz="UTC")
    assert moved.max() < pd.Timestamp("2026-10-31", tz="UTC")
    bad = _run("simulate", "--accounts", "300", "--start", "yesterday-ish", "--out", str(data),
               home=tmp_path)
    assert bad.returncode == 2 and "--start" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_policy_check_prints_rules_or_names_the_problem(tmp_path: Path) -> None:
    done = _run("policy-check", home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "is valid" in done.stdout and "NEW_ACCOUNT_PULL_FUNDING" in done.stdout
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: x\nbands: {approve: 0.0, reject: 0.5}\n")
    done = _run("policy-check", str(bad), home=tmp_path)
    assert done.returncode == 2
    assert "invalid policy" in done.stdout and "risk_levels" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_stage_progress_counts_only_the_named_stages() -> None:
    """``compute_features`` also reports sub-stages (``activity:movements:<side>``): they
    relabel the bar without advancing it past its total."""
    from riskscore.cli import _stage_progress
    from riskscore.features.batch import STAGES

    progress, advance = _stage_progress(len(STAGES), STAGES, "features")
    with progress:
        for stage in STAGES:
            advance(stage)
            advance(f"{stage}:outbound")
    task = progress.tasks[0]
    assert task.completed == task.total == len(STAGES)
