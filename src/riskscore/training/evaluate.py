"""Metrics a risk team reads: ranking quality, operating points, money and calibration.

Ranking metrics use the score as given; Brier and calibration error need a probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve


@dataclass(frozen=True)
class EvalFrame:
    """What the metrics need for one test set, aligned row by row."""

    label: np.ndarray
    loss: np.ndarray
    typology: np.ndarray
    age_days: np.ndarray

    @classmethod
    def from_snapshots(cls, snaps: pd.DataFrame) -> EvalFrame:
        return cls(snaps["label"].to_numpy(np.int8), snaps["loss_amount"].to_numpy(float),
                   snaps["typology"].fillna("").to_numpy(str), snaps["age_days"].to_numpy())


def recall_at_fpr(label: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """Share of fraud caught by the threshold that flags ``fpr`` of good accounts."""
    fprs, tprs, _ = roc_curve(label, score)
    return float(np.interp(fpr, fprs, tprs))


def threshold_at_fpr(label: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """The score above which ``fpr`` of the good snapshots lie."""
    return float(np.quantile(score[label == 0], 1.0 - fpr))


def top_k_mask(score: np.ndarray, share: float) -> np.ndarray:
    """The ``share`` highest-scored rows: what a review team of that capacity looks at."""
    k = max(int(round(share * len(score))), 1)
    mask = np.zeros(len(score), bool)
    mask[np.argsort(-score, kind="stable")[:k]] = True
    return mask


def calibration_error(label: np.ndarray, prob: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error over equal-count bins (fraud is rare, so equal-width
    bins would put nearly every row in the first one)."""
    order = np.argsort(prob, kind="stable")
    chunks = np.array_split(order, bins)
    return float(sum(len(c) * abs(prob[c].mean() - label[c].mean()) for c in chunks if len(c))
                 / len(prob))


def evaluate(ev: EvalFrame, score: np.ndarray, prob: np.ndarray | None,
             fpr_points: tuple[float, ...], capacities: tuple[float, ...]) -> dict[str, float]:
    """Headline metrics of one scorer on one test set."""
    y = ev.label
    out = {"pr_auc": float(average_precision_score(y, score)),
           "roc_auc": float(roc_auc_score(y, score)),
           "base_rate": float(y.mean())}
    for fpr in fpr_points:
        out[f"recall_at_{_pct(fpr)}_fpr"] = recall_at_fpr(y, score, fpr)
    total_loss = ev.loss[y == 1].sum()
    for share in capacities:
        flagged = top_k_mask(score, share)
        caught = flagged & (y == 1)
        out[f"precision_top_{_pct(share)}"] = float(caught.sum() / flagged.sum())
        out[f"recall_top_{_pct(share)}"] = float(caught.sum() / max(y.sum(), 1))
        out[f"loss_caught_top_{_pct(share)}"] = float(ev.loss[caught].sum() / 100.0)
        out[f"loss_caught_share_top_{_pct(share)}"] = float(
            ev.loss[caught].sum() / total_loss) if total_loss else 0.0
    out["fraud_loss_total"] = float(total_loss / 100.0)
    if prob is not None:
        out["brier"] = float(brier_score_loss(y, prob))
        out["calibration_error"] = calibration_error(y, prob)
    return out


def segment_recall(ev: EvalFrame, score: np.ndarray, fpr: float) -> pd.DataFrame:
    """Recall per typology and per account age at the threshold flagging ``fpr`` of goods."""
    flagged = score >= threshold_at_fpr(ev.label, score, fpr)
    positives = ev.label == 1
    segments = {f"typology={t}": positives & (ev.typology == t)
                for t in sorted(set(ev.typology[positives]))}
    segments["age=onboarding"] = positives & (ev.age_days == 0)
    segments["age=later"] = positives & (ev.age_days > 0)
    rows = [{"segment": name, "fraud_snapshots": int(mask.sum()),
             "recall": float(flagged[mask].mean()) if mask.any() else float("nan")}
            for name, mask in segments.items()]
    return pd.DataFrame(rows)


def _pct(share: float) -> str:
    return f"{share * 100:g}pct"
