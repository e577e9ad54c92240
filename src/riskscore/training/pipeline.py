"""``riskscore train``: snapshots -> features -> LightGBM + baselines -> evaluation -> MLflow.

Everything a risk team needs to trust a model is produced by one call: the same test
set for the model and both baselines, plots, and a registered ``challenger``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from riskscore.dataset import DatasetReport, require_for_training, validate_dataset
from riskscore.features.availability import describe, missing_inputs
from riskscore.features.batch import DroppedFeaturesWarning, compute_features
from riskscore.model import INPUT_DTYPE, RiskModel
from riskscore.settings import Settings, get_settings
from riskscore.training import plots, registry
from riskscore.training.baselines import RulesScorecard, logistic_regression
from riskscore.training.config import TrainingConfig
from riskscore.training.evaluate import EvalFrame, evaluate, segment_recall
from riskscore.training.lgbm import calibrate, fit_booster, imbalance_weight
from riskscore.training.snapshots import Timeline, build_snapshots

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
META_COLUMNS = ["account_id", "as_of", "age_days", "label", "label_known_at", "typology",
                "loss_amount", "split", "weight"]
STAGES = ("snapshots", "features", "lightgbm", "calibration", "logistic_regression",
          "rules_scorecard", "evaluation", "plots", "mlflow")


@dataclass
class TrainingData:
    """Labelled snapshots with their features, split out of time."""

    frame: pd.DataFrame
    features: list[str]
    timeline: Timeline

    def part(self, split: str) -> pd.DataFrame:
        return self.frame[self.frame["split"] == split]


@dataclass
class TrainResult:
    """What a training run produced and how good it is."""

    run_id: str
    version: str
    metrics: pd.DataFrame
    segments: pd.DataFrame
    counts: pd.DataFrame
    timeline: Timeline
    features: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    dropped: dict[str, list[str]] = field(default_factory=dict)


def dataset_fingerprint(report: DatasetReport) -> str:
    """SHA-256 over the contract tables' bytes: the same data gives the same fingerprint."""
    digest = hashlib.sha256()
    for name in sorted(report.rows):
        digest.update(name.encode())
        with open(report.root / f"{name}.parquet", "rb") as fh:
            digest.update(hashlib.file_digest(fh, "sha256").digest())
    return digest.hexdigest()


def training_data(report: DatasetReport, cfg: TrainingConfig,
                  progress: Progress | None = None) -> TrainingData:
    """Labelled snapshots and their point-in-time features."""
    snaps, timeline = build_snapshots(report, cfg)
    if progress:
        progress("snapshots")
    with warnings.catch_warnings():  # train() reports them (TrainResult.dropped, MLflow)
        warnings.simplefilter("ignore", DroppedFeaturesWarning)
        feats = compute_features(report.root, snaps[["account_id", "as_of"]], report=report,
                                 progress=progress and (lambda s: progress(f"features:{s}")))
    names = [c for c in feats.columns if c not in ("account_id", "as_of")]
    frame = pd.concat([snaps[META_COLUMNS].reset_index(drop=True),
                       feats[names].astype(INPUT_DTYPE).reset_index(drop=True)], axis=1)
    if progress:
        progress("features")
    return TrainingData(frame, names, timeline)


def train(data_dir: Path | str, cfg: TrainingConfig | None = None, params: dict | None = None,
          progress: Progress | None = None) -> TrainResult:
    """Train, evaluate against baselines, log to MLflow and register a ``challenger``."""
    cfg = cfg or TrainingConfig()
    step = progress or (lambda _stage: None)
    settings = get_settings()
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        if stage not in STAGES:  # a sub-step: report it, do not time it
            step(stage)
            return
        seconds[stage] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        step(stage)

    report = validate_dataset(data_dir)
    require_for_training(report)
    dropped = missing_inputs(report)
    if dropped:
        warnings.warn(f"training without {len(dropped)} features whose inputs are absent: "
                      f"{describe(dropped)}", DroppedFeaturesWarning, stacklevel=2)
    data = training_data(report, cfg, lap)
    threads = settings.model_threads
    train_part, valid, test = data.part("train"), data.part("valid"), data.part("test")
    x_train, x_valid, x_test = (p[data.features] for p in (train_part, valid, test))
    (y_train, w_train), (y_valid, w_valid) = ((p["label"].to_numpy(), p["weight"].to_numpy())
                                              for p in (train_part, valid))

    booster = fit_booster(x_train, y_train, w_train, x_valid, y_valid, w_valid, cfg, params)
    lap("lightgbm")
    model = calibrate(booster, x_valid, y_valid, w_valid,
                      {"scale_pos_weight": imbalance_weight(y_train, w_train)})
    lap("calibration")

    logreg = logistic_regression(cfg.seed)
    sample = _cap(train_part, cfg.logreg_max_rows, cfg.seed)
    logreg.fit(sample[data.features], sample["label"], logisticregression__sample_weight=sample[
        "weight"].to_numpy())
    lr_prob = logreg.predict_proba(x_test)[:, 1]
    lap("logistic_regression")
    rules_score = RulesScorecard().score(x_test)
    lap("rules_scorecard")

    ev = EvalFrame.from_snapshots(test)
    margin = model.margin(model.matrix(x_test), threads)
    prob = model.calibration(margin)
    scorers = {"lightgbm": (margin, prob), "logistic_regression": (lr_prob, None),
               "rules_scorecard": (rules_score, None)}
    metrics = pd.DataFrame({name: evaluate(ev, score, p, cfg.fpr_points, cfg.review_capacities)
                            for name, (score, p) in scorers.items()})
    segments = segment_recall(ev, margin, max(cfg.fpr_points)).set_index("segment")
    segments["logreg_recall"] = segment_recall(ev, lr_prob, max(cfg.fpr_points)).set_index(
        "segment")["recall"]
    segments["rules_recall"] = segment_recall(ev, rules_score, max(cfg.fpr_points)).set_index(
        "segment")["recall"]
    counts = data.frame.groupby("split").agg(snapshots=("label", "size"),
                                             fraud=("label", "sum"),
                                             accounts=("account_id", "nunique"))
    lap("evaluation")

    shap_rows = _cap(test, cfg.shap_rows, cfg.seed)[data.features]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files = plots.pr_roc_curves(ev.label, {n: s for n, (s, _) in scorers.items()}, out)
        files += [plots.calibration_plot(ev.label, prob, out),
                  plots.score_distribution(ev.label, prob, out),
                  plots.feature_importance(model, out),
                  plots.shap_summary(model, shap_rows, out, threads)]
        lap("plots")
        with tracked_run(settings, report, cfg, data, params, dropped) as run_id:
            mlflow.log_metrics({f"{name}.{k}": v for name, col in metrics.items()
                                for k, v in col.items() if np.isfinite(v)})
            mlflow.log_metrics({"best_iteration": model.booster.best_iteration,
                                **{f"seconds.{k}": v for k, v in seconds.items()},
                                **{f"{col}.{split}": n for col in ("snapshots", "fraud")
                                   for split, n in counts[col].items()}})
            mlflow.log_params({"logreg.fit_rows": len(sample), "shap.rows": len(shap_rows)})
            for path in files:
                mlflow.log_artifact(str(path), "plots")
            for name, frame in (("metrics", metrics), ("segments", segments),
                                ("counts", counts)):
                frame.to_csv(out / f"{name}.csv")
                mlflow.log_artifact(str(out / f"{name}.csv"), "evaluation")
            test_path = out / "test.parquet"
            test.assign(score=prob).to_parquet(test_path, index=False)
            mlflow.log_artifact(str(test_path), Path(registry.TEST_SET).parent.as_posix())
            model.meta.update({"run_id": run_id, "timeline": data.timeline.as_dict(),
                               "horizon_days": cfg.horizon_days})
            version = registry.log_model(model, x_test, settings)
            lap("mlflow")
            mlflow.log_metric("seconds.mlflow", seconds["mlflow"])
    return TrainResult(run_id, version, metrics, segments.reset_index(), counts,
                       data.timeline, data.features, seconds, dropped)


@contextmanager
def tracked_run(settings: Settings, report: DatasetReport, cfg: TrainingConfig,
                data: TrainingData, params: dict | None,
                dropped: dict[str, list[str]] | None = None) -> Iterator[str]:
    """An MLflow run carrying the config, params and lineage tags, and the features the
    data could not support (``features_dropped.json``); yields its id."""
    registry.configure(settings)
    with mlflow.start_run() as run:
        mlflow.log_params({**{k: v for k, v in cfg.model_dump().items() if k != "lgbm"},
                           **{f"lgbm.{k}": v for k, v in {**cfg.lgbm, **(params or {})}.items()},
                           "n_features": len(data.features)})
        mlflow.set_tags({"dataset.fingerprint": dataset_fingerprint(report),
                         "dataset.path": str(report.root.resolve()),
                         "git.commit": registry.git_commit(),
                         "features.dropped": str(len(dropped or {})),
                         **{f"timeline.{k}": v for k, v in data.timeline.as_dict().items()}})
        mlflow.log_text(json.dumps(data.features, indent=1), "features.json")
        if dropped:
            mlflow.log_text(json.dumps(dropped, indent=1), "features_dropped.json")
        yield run.info.run_id


def _cap(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame if len(frame) <= rows else frame.sample(rows, random_state=seed)


def score_frame(model: RiskModel, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities for a frame holding (at least) the model's features."""
    return model.predict_proba(model.matrix(frame))
