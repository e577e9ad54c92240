"""Training end to end on the session's simulated platform, with a real local MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest

from riskscore.settings import get_settings
from riskscore.training import registry
from riskscore.training.config import TrainingConfig
from riskscore.training.pipeline import STAGES, train
from riskscore.training.promotion import compare, promote

pytestmark = pytest.mark.xdist_group("trained")


def test_model_beats_rules_and_metrics_are_logged(trained) -> None:
    m = trained.metrics
    assert m.loc["pr_auc", "lightgbm"] > m.loc["pr_auc", "rules_scorecard"]
    assert m.loc["recall_at_5pct_fpr", "lightgbm"] > m.loc["recall_at_5pct_fpr",
                                                             "rules_scorecard"]
    assert 0 <= m.loc["calibration_error", "lightgbm"] < 0.05
    run = mlflow.get_run(trained.run_id)
    assert run.data.metrics["lightgbm.pr_auc"] == pytest.approx(m.loc["pr_auc", "lightgbm"])
    assert len(run.data.tags["dataset.fingerprint"]) == 64
    assert run.data.tags["git.commit"]
    assert run.data.params["horizon_days"] == "60"
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(trained.run_id, "plots")}
    assert {f"plots/{p}.png" for p in ("pr_curve", "roc_curve", "calibration",
                                       "score_distribution", "feature_importance",
                                       "shap_summary")} <= artifacts
    assert set(trained.segments["segment"]) >= {"age=onboarding", "age=later"}
    # Every stage is timed, and the run says how many rows each split and sample had.
    assert set(trained.seconds) == set(STAGES)
    assert {f"seconds.{stage}" for stage in STAGES} <= set(run.data.metrics)
    counts = trained.counts
    for split in ("train", "valid", "test"):
        assert run.data.metrics[f"snapshots.{split}"] == counts.loc[split, "snapshots"]
        assert run.data.metrics[f"fraud.{split}"] == counts.loc[split, "fraud"]
    cfg = TrainingConfig()
    assert int(run.data.params["logreg.fit_rows"]) == min(counts.loc["train", "snapshots"],
                                                          cfg.logreg_max_rows)
    assert int(run.data.params["shap.rows"]) == min(counts.loc["test", "snapshots"],
                                                    cfg.shap_rows)


def test_registered_model_loads_as_pyfunc_and_bundle_alike(trained) -> None:
    settings = get_settings()
    champion = registry.load(registry.CHAMPION)
    assert champion.version == trained.version
    test = registry.run_test_set(trained.run_id)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
    direct = champion.model.predict_proba(champion.model.matrix(test))
    np.testing.assert_allclose(pyfunc.predict(test[champion.model.feature_names]), direct,
                               rtol=1e-9)
    np.testing.assert_allclose(direct, test["score"], rtol=1e-5)
    # The signature (from a bounded head of the test set) names every feature; the
    # input example is logged with it.
    info = mlflow.models.get_model_info(f"models:/{settings.model_name}/{trained.version}")
    assert info.signature.inputs.input_names() == champion.model.feature_names
    assert info.saved_input_example_info is not None


def test_promotion_gate_and_forced_promotion_are_recorded(trained, sim_dir: Path) -> None:
    weak = train(sim_dir, TrainingConfig(negative_rate=0.5, num_boost_round=300,
                                         lgbm={"num_leaves": 2, "learning_rate": 0.01,
                                               "min_child_samples": 2000}))
    gate = compare()
    assert gate.champion.endswith(f"v{trained.version}")
    assert gate.challenger.endswith(f"v{weak.version}")
    assert not gate.passed  # a stump model is worse on the champion's test set
    assert not promote().promoted
    assert registry.load(registry.CHAMPION).version == trained.version
    with pytest.raises(ValueError, match="reason"):
        promote(force=True)
    forced = promote(force=True, reason="test: forced on purpose")
    assert forced.promoted and forced.forced
    mv = mlflow.MlflowClient().get_model_version_by_alias(get_settings().model_name, "champion")
    assert str(mv.version) == weak.version
    assert mv.tags["promotion_forced"] == "true"
    assert mv.tags["promotion_reason"] == "test: forced on purpose"
    # Put the good model back as champion for other tests in this worker.
    registry.set_alias(registry.CHAMPION, trained.version, {"restored_by": "test"})
