"""Training snapshots: (account, as-of time) pairs with a label that respects when it
became known, and an out-of-time split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from riskscore.dataset import DataContractError, DatasetReport, require_for_training
from riskscore.features.batch import connect
from riskscore.training.config import TrainingConfig

SPLITS = ("train", "valid", "test")
SAMPLED_SPLITS = ("train", "valid")  # negatives sampled (weighted); test is always whole


@dataclass(frozen=True)
class Timeline:
    """The boundaries of the out-of-time split (see ``TrainingConfig``)."""

    data_end: pd.Timestamp
    valid_start: pd.Timestamp
    valid_end: pd.Timestamp
    t_fit: pd.Timestamp
    test_end: pd.Timestamp

    @classmethod
    def from_end(cls, data_end: pd.Timestamp, cfg: TrainingConfig) -> Timeline:
        horizon = pd.Timedelta(days=cfg.horizon_days)
        test_end = data_end - horizon
        t_fit = test_end - pd.Timedelta(days=cfg.test_days)
        valid_end = t_fit - horizon
        return cls(data_end, valid_end - pd.Timedelta(days=cfg.valid_days), valid_end, t_fit,
                   test_end)

    def as_dict(self) -> dict[str, str]:
        return {k: v.isoformat() for k, v in self.__dict__.items()}


def data_end(report: DatasetReport) -> pd.Timestamp:
    """The newest event in the data: labels and activity are complete up to here."""
    con = connect(report)
    parts = ["SELECT max(created_at) AS t FROM accounts"]
    parts += [f"SELECT max({col}) FROM {table}" for table, col in
              (("movements", "ts"), ("logins", "ts"), ("changes", "ts")) if table in report.rows]
    return pd.Timestamp(con.execute(f"SELECT max(t) FROM ({' UNION ALL '.join(parts)})")
                        .fetchone()[0]).tz_convert("UTC")


def build_snapshots(report: DatasetReport, cfg: TrainingConfig) -> tuple[pd.DataFrame, Timeline]:
    """Labelled snapshots for every account at each configured age, split out of time.

    A snapshot is positive when the account's fraud became known within
    ``horizon_days`` after it; a snapshot taken after the fraud was already known is
    dropped (there is nothing left to detect). Snapshots between the splits are dropped
    so no label used for fitting arrives after ``t_fit``.
    """
    require_for_training(report)
    timeline = Timeline.from_end(data_end(report), cfg)
    con = connect(report)
    ages = pd.DataFrame({"age_days": np.asarray(cfg.snapshot_ages_days, np.int32)})
    con.register("ages", ages)
    has_loss = report.has("labels", "loss_amount")
    has_typology = report.has("labels", "typology")
    frame = con.execute(f"""
        SELECT a.account_id, a.created_at + to_days(g.age_days) AS as_of, g.age_days,
               coalesce(l.is_fraud, false) AND l.label_known_at IS NOT NULL
                 AND l.label_known_at <= a.created_at + to_days(g.age_days + ?) AS label,
               l.label_known_at,
               {"l.typology" if has_typology else "NULL::VARCHAR"} AS typology,
               {"coalesce(l.loss_amount, 0)" if has_loss else "0::BIGINT"} AS loss_amount
        FROM accounts a CROSS JOIN ages g
        LEFT JOIN labels l USING (account_id)
        WHERE a.created_at + to_days(g.age_days) < ?
          AND (l.label_known_at IS NULL OR NOT coalesce(l.is_fraud, false)
               OR l.label_known_at > a.created_at + to_days(g.age_days))
        ORDER BY as_of, account_id
    """, [cfg.horizon_days, timeline.test_end.to_pydatetime()]).df()
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True).dt.floor("us")
    frame["label"] = frame["label"].astype(np.int8)
    frame.loc[frame["label"] == 0, ["typology", "loss_amount"]] = [None, 0]
    frame["split"] = _split(frame["as_of"], timeline)
    frame = frame[frame["split"].notna()].reset_index(drop=True)
    frame = _sample_negatives(frame, cfg)
    _check_splits(frame, cfg, timeline)
    return frame, timeline


def _split(as_of: pd.Series, t: Timeline) -> pd.Series:
    conditions = [as_of < t.valid_start, (as_of >= t.valid_start) & (as_of < t.valid_end),
                  (as_of >= t.t_fit) & (as_of < t.test_end)]
    return pd.Series(np.select(conditions, list(SPLITS), default=None), index=as_of.index)


def _sample_negatives(frame: pd.DataFrame, cfg: TrainingConfig) -> pd.DataFrame:
    """Keep ``negative_rate`` of train and validation negatives; ``weight`` restores their
    total mass. Runs on the snapshot list, before any feature is computed: the dropped
    snapshots cost nothing. Positives and the test split are never sampled."""
    frame["weight"] = 1.0
    if cfg.negative_rate >= 1.0:
        return frame
    rng = np.random.default_rng(cfg.seed)
    fit_neg = frame["split"].isin(SAMPLED_SPLITS) & (frame["label"] == 0)
    drop = fit_neg & (rng.random(len(frame)) >= cfg.negative_rate)
    frame.loc[fit_neg, "weight"] = 1.0 / cfg.negative_rate
    return frame[~drop].reset_index(drop=True)


def _check_splits(frame: pd.DataFrame, cfg: TrainingConfig, t: Timeline) -> None:
    positives = frame.groupby("split")["label"].sum().reindex(list(SPLITS), fill_value=0)
    short = positives[positives < cfg.min_positives]
    if not short.empty:
        raise DataContractError(
            f"too few fraud labels to train and test honestly: {short.to_dict()} positives "
            f"(need {cfg.min_positives} per split). Data ends {t.data_end:%Y-%m-%d}; the "
            f"split needs history before {t.valid_start:%Y-%m-%d} for training. Use more "
            f"accounts or history, or shorten --horizon-days / --valid-days / --test-days.")
