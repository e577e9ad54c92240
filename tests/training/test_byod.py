"""Bring your own data: a platform's export with optional inputs missing trains, bad
exports are refused with the table and column named."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from riskscore.cli import app
from riskscore.features.batch import DroppedFeaturesWarning, compute_features
from riskscore.policy import load_policy
from riskscore.scoring import Scorer
from riskscore.settings import get_settings
from riskscore.store.engine import make_engine
from riskscore.training import registry
from riskscore.training.config import TrainingConfig
from riskscore.training.pipeline import train


@pytest.fixture
def own_home(tmp_path: Path) -> Iterator[Path]:
    """A throwaway RISKSCORE_HOME (own MLflow registry) for this test only."""
    old = os.environ.get("RISKSCORE_HOME")
    os.environ["RISKSCORE_HOME"] = str(tmp_path / "home")
    get_settings.cache_clear()
    yield tmp_path / "home"
    os.environ["RISKSCORE_HOME"] = old or ""
    get_settings.cache_clear()
    registry.configure()


def test_slim_export_trains_without_the_features_it_cannot_support(
        sim_dir: Path, slim_dir: Path, tmp_path: Path, own_home: Path) -> None:
    slim = slim_dir
    with pytest.warns(DroppedFeaturesWarning, match="training without .* accounts.phone absent"):
        result = train(slim, TrainingConfig(negative_rate=0.3, num_boost_round=150))
    assert {"phone_present", "has_tax_id", "signup_ip_type", "failed_payout_count_30d",
            "email_change_count_7d"} <= set(result.dropped)
    assert set(result.dropped).isdisjoint(result.features)
    assert result.metrics.loc["pr_auc", "lightgbm"] > result.metrics.loc["base_rate",
                                                                          "lightgbm"]
    run = mlflow.get_run(result.run_id)
    assert int(run.data.tags["features.dropped"]) == len(result.dropped)
    model = registry.load(registry.CHALLENGER).model
    assert model.feature_names == result.features

    # Online scoring computes every feature; the model takes its own and ignores the rest,
    # and a row lacking some of its features still scores (NaN, as LightGBM was trained on).
    accounts = pd.read_parquet(sim_dir / "accounts.parquet", columns=["account_id",
                                                                      "created_at"]).tail(20)
    rows = compute_features(sim_dir, accounts.assign(as_of=accounts.created_at)).drop(
        columns=["account_id", "as_of"]).to_dict("records")
    rows[0] = {k: v for k, v in rows[0].items() if k not in ("balance", "shared_email")}
    scorer = Scorer(make_engine(f"sqlite:///{tmp_path / 'store.db'}"), model, load_policy())
    decisions = scorer.decide(list(accounts["account_id"]), rows, datetime.now(UTC))
    assert all(d.score is not None and 0 <= d.score <= 1 for d in decisions)
    assert all(d.model_version == model.version for d in decisions)


def _without(sim_dir: Path, dst: Path, table: str, column: str | None = None) -> Path:
    dst.mkdir()
    for path in sim_dir.glob("*.parquet"):
        if path.stem != table:
            (dst / path.name).write_bytes(path.read_bytes())
        elif column:
            pq.write_table(pq.read_table(path).drop_columns([column]), dst / path.name)
    return dst


@pytest.mark.parametrize(("table", "column", "message"), [
    ("labels", None, "table labels: training needs labels.parquet"),
    ("labels", "label_known_at", "table labels: column 'label_known_at' is required"),
    ("movements", "amount", "table movements: required column 'amount' is missing"),
    ("accounts", None, "table accounts: required file"),
])
def test_train_cli_names_the_problem_without_a_traceback(sim_dir, tmp_path, own_home, table,
                                                         column, message) -> None:
    bad = _without(sim_dir, tmp_path / "bad", table, column)
    result = CliRunner().invoke(app, ["train", "--data", str(bad)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert "invalid data: " + message in " ".join(result.output.split())
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert not (own_home / "mlflow.db").exists()  # refused before anything was tracked


def test_train_cli_refuses_a_missing_directory(tmp_path, own_home) -> None:
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())


def test_summary_cli_lists_the_features_an_export_cannot_support(slim_dir: Path) -> None:
    result = CliRunner().invoke(app, ["summary", str(slim_dir)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "features dropped, their inputs are absent" in text
    assert "accounts.phone absent -> phone_present, phone_valid" in text
    assert "entirely null {'accounts': ['licence_number']}" in text
