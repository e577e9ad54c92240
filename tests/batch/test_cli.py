"""``riskscore rescore``: end to end in a child process, and its errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from riskscore.cli import app
from riskscore.settings import get_settings

pytestmark = pytest.mark.xdist_group("trained")


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "riskscore", "rescore", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **env})


@pytest.mark.slow
def test_rescore_writes_decisions_report_and_stripe_actions(trained, sim_dir: Path,
                                                             tmp_path: Path) -> None:
    done = _run("--as-of", "2025-12-01", "--out", str(tmp_path), "--data", str(sim_dir),
                "--chunk-size", "3000", "--stripe-actions")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "asof=2025-12-01T000000Z"
    decisions = pd.concat(pd.read_parquet(p) for p in sorted((run / "decisions").iterdir()))
    assert {"score", "action", "delay_days", "reason_codes", "model_version",
            "policy_version"} <= set(decisions.columns)
    changes = pd.read_csv(run / "report" / "changes.csv")
    assert f"{len(changes):,} changed accounts, riskiest first" in done.stdout
    assert "Accounts by action" in done.stdout and "dry-run" in done.stdout
    assert f"rescored {len(decisions):,} accounts" in done.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["--as-of", "yesterday-ish"], 2, "invalid --as-of"),
    (["--as-of", "2025-12-01", "--data", "/nonexistent/data"], 2, "does not exist"),
    (["--as-of", "2025-12-01", "--engine", "hadoop"], 2, "invalid --engine"),
    (["--as-of", "2025-12-01", "--previous", "/nonexistent/run"], 2,
     "is not a complete rescore run"),
])
def test_bad_input_is_a_clear_error(sim_dir: Path, tmp_path: Path, args: list[str], code: int,
                                    message: str) -> None:
    full = [*args, "--out", str(tmp_path)]
    if "--data" not in args:
        full += ["--data", str(sim_dir)]
    result = CliRunner().invoke(app, ["rescore", *full])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert isinstance(result.exception, SystemExit | None)


def test_no_champion_is_a_clear_error(sim_dir: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RISKSCORE_HOME", str(tmp_path / "empty-home"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["rescore", "--as-of", "2025-12-01", "--out",
                                          str(tmp_path / "out"), "--data", str(sim_dir)])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 1, result.output
    assert "no model has the alias 'champion'" in result.output
    assert isinstance(result.exception, SystemExit)
    assert not (tmp_path / "out").exists()
