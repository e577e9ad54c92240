"""Evaluation plots, written as PNG files (logged to MLflow as artifacts)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from riskscore.model import RiskModel  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pr_roc_curves(label: np.ndarray, scores: Mapping[str, np.ndarray], out: Path) -> list[Path]:
    """Precision-recall and ROC curves of every scorer on the same test set."""
    fig_pr, ax_pr = plt.subplots(figsize=(6, 5))
    fig_roc, ax_roc = plt.subplots(figsize=(6, 5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(label, score)
        ax_pr.plot(recall, precision, label=name)
        fpr, tpr, _ = roc_curve(label, score)
        ax_roc.plot(fpr, tpr, label=name)
    ax_pr.axhline(label.mean(), color="grey", ls=":", label="base rate")
    ax_pr.set(xlabel="recall", ylabel="precision", title="Precision-recall (test)")
    ax_roc.plot([0, 1], [0, 1], color="grey", ls=":")
    ax_roc.set(xlabel="false-positive rate", ylabel="recall", title="ROC (test)", xscale="log",
               xlim=(1e-3, 1))
    ax_pr.legend()
    ax_roc.legend()
    return [_save(fig_pr, out / "pr_curve.png"), _save(fig_roc, out / "roc_curve.png")]


def calibration_plot(label: np.ndarray, prob: np.ndarray, out: Path, bins: int = 15) -> Path:
    """Reliability diagram over equal-count bins (log axes: fraud is rare)."""
    order = np.argsort(prob, kind="stable")
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    predicted = np.array([prob[c].mean() for c in chunks])
    observed = np.array([label[c].mean() for c in chunks])
    fig, ax = plt.subplots(figsize=(5.5, 5))
    low = max(min(predicted[predicted > 0].min(initial=1e-4),
                  observed[observed > 0].min(initial=1e-4)) / 2, 1e-5)
    ax.plot([low, 1], [low, 1], color="grey", ls=":")
    ax.plot(np.clip(predicted, low, 1), np.clip(observed, low, 1), marker="o")
    ax.set(xscale="log", yscale="log", xlabel="predicted probability", ylabel="observed rate",
           title="Calibration (test, equal-count bins)")
    return _save(fig, out / "calibration.png")


def score_distribution(label: np.ndarray, prob: np.ndarray, out: Path) -> Path:
    """Histogram of calibrated scores for fraud and good snapshots."""
    fig, ax = plt.subplots(figsize=(6, 4))
    edges = np.logspace(np.log10(max(prob[prob > 0].min(initial=1e-5), 1e-5)), 0, 50)
    for value, name in ((0, "good"), (1, "fraud")):
        ax.hist(np.clip(prob[label == value], edges[0], 1), bins=edges, density=True,
                alpha=0.55, label=name)
    ax.set(xscale="log", xlabel="calibrated probability", ylabel="density",
           title="Score distribution by class (test)")
    ax.legend()
    return _save(fig, out / "score_distribution.png")


def feature_importance(model: RiskModel, out: Path, top: int = 25) -> Path:
    """Total split gain per feature."""
    gain = pd.Series(model.booster.feature_importance("gain"), index=model.feature_names)
    gain = gain.sort_values().tail(top)
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(gain) + 1))
    ax.barh(gain.index, gain.to_numpy())
    ax.set(xlabel="total gain", title=f"Feature importance (top {len(gain)})")
    return _save(fig, out / "feature_importance.png")


def shap_summary(model: RiskModel, x: pd.DataFrame, out: Path, threads: int = 1) -> Path:
    """SHAP summary of the rows of ``x`` (a sample: TreeSHAP costs milliseconds a row)
    from LightGBM's own TreeSHAP contributions."""
    import shap

    contrib = model.contributions(model.matrix(x), threads)[:, :-1]
    shap.summary_plot(contrib, x[model.feature_names], show=False, max_display=20,
                      plot_size=(8, 7))
    fig = plt.gcf()
    return _save(fig, out / "shap_summary.png")
