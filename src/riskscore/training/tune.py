"""``riskscore tune``: a bounded Optuna search over LightGBM parameters.

Each trial is an MLflow child run scored on the validation period (never the test
set); the best parameters are written to a JSON file ``riskscore train --params`` reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import optuna
from sklearn.metrics import average_precision_score

from riskscore.dataset import validate_dataset
from riskscore.settings import get_settings
from riskscore.training.config import TrainingConfig
from riskscore.training.lgbm import fit_booster
from riskscore.training.pipeline import tracked_run, training_data


def search_space(trial: optuna.Trial) -> dict[str, float | int]:
    """The parameters worth searching for tabular fraud data, in sane ranges. Leaves stop
    at 32: the default ``max_depth`` 5 (what keeps TreeSHAP reasons cheap) allows no more."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 32, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 10, 300, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def tune(data_dir: Path | str, out: Path, n_trials: int = 20, timeout_s: float = 600.0,
         cfg: TrainingConfig | None = None,
         on_trial: Callable[[int, float], None] | None = None) -> dict:
    """Search, log every trial as a child run, write the best parameters to ``out``."""
    cfg = cfg or TrainingConfig()
    settings = get_settings()
    report = validate_dataset(data_dir)
    data = training_data(report, cfg)
    train, valid = data.part("train"), data.part("valid")
    x_train, x_valid = train[data.features], valid[data.features]
    y_valid, w_valid = valid["label"].to_numpy(), valid["weight"].to_numpy()

    def objective(trial: optuna.Trial) -> float:
        params = search_space(trial)
        with mlflow.start_run(nested=True, run_name=f"trial-{trial.number}"):
            booster = fit_booster(x_train, train["label"].to_numpy(), train["weight"].to_numpy(),
                                  x_valid, y_valid, w_valid, cfg, params)
            value = float(average_precision_score(
                y_valid, booster.predict(x_valid.to_numpy(float), raw_score=True),
                sample_weight=w_valid))
            mlflow.log_params(params)
            mlflow.log_metrics({"valid.pr_auc": value, "best_iteration": booster.best_iteration})
        if on_trial:
            on_trial(trial.number, value)
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    with tracked_run(settings, report, cfg, data, None):
        mlflow.set_tag("kind", "tuning")
        study.optimize(objective, n_trials=n_trials, timeout=timeout_s)
        best = {"params": study.best_params, "valid_pr_auc": study.best_value,
                "trials": len(study.trials)}
        mlflow.log_params({f"best.{k}": v for k, v in study.best_params.items()})
        mlflow.log_metric("best.valid.pr_auc", study.best_value)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(best, indent=2))
        mlflow.log_artifact(str(out))
    return best
