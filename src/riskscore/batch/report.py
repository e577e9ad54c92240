"""The change report of a rescore: what changed since the previous run.

An account has changed when its action differs from the previous run's, or its payout
delay does. Accounts new since then start from ``approve`` (no hold), so only a new
account the policy holds or reviews is a change. Changes are listed riskiest first
(highest score); counts by action and by reason code cover the whole portfolio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from riskscore.batch.output import atomic_write_csv
from riskscore.contracts import Action

REPORT_DIR = "report"
COLUMNS = ["account_id", "decision_id", "score", "risk_level", "action", "delay_days",
           "reason_codes"]
FILES = ("changes.csv", "by_action.csv", "by_reason.csv")


@dataclass(frozen=True)
class ChangeReport:
    """Changed accounts (riskiest first) and portfolio counts by action and by reason."""

    previous: str | None
    n_accounts: int
    changes: pd.DataFrame
    by_action: pd.DataFrame
    by_reason: pd.DataFrame


def _severity(actions: pd.Series) -> np.ndarray:
    order = {a.value: a.severity for a in Action}
    codes, names = pd.factorize(actions)  # a few distinct actions: look each up once
    return np.array([order[a] for a in names], dtype=np.int64)[codes]


def _reason_counts(frame: pd.DataFrame) -> pd.Series:
    codes = frame["reason_codes"].explode().dropna()
    return codes.value_counts()


def build_report(current: pd.DataFrame, previous: pd.DataFrame | None,
                 previous_name: str | None = None) -> ChangeReport:
    """Compare ``current`` decisions with ``previous`` ones (``None``: no earlier run)."""
    before = (previous if previous is not None else pd.DataFrame(columns=COLUMNS))[
        ["account_id", "action", "delay_days", "score"]].rename(columns={
            "action": "previous_action", "delay_days": "previous_delay_days",
            "score": "previous_score"})
    # One decision per account on each side (pandas' own merge validation costs more).
    if not (current["account_id"].is_unique and before["account_id"].is_unique):
        raise ValueError("a run holds one decision per account")
    merged = current[COLUMNS].merge(before, on="account_id", how="left")  # current's order
    prev_action = merged["previous_action"].fillna(Action.APPROVE.value)
    prev_delay = merged["previous_delay_days"].fillna(0).astype(int)
    changed = ((merged["action"] != prev_action) | (merged["delay_days"] != prev_delay)
               ).to_numpy()
    moved = merged[changed]  # the few changed rows from here on (a million unchanged)
    step = np.sign(_severity(moved["action"]) - _severity(prev_action[changed]))
    kind = np.select([moved["previous_action"].isna(), step > 0, step < 0],
                     ["new", "escalated", "relaxed"], "delay_changed")
    changes = moved.assign(change=kind).sort_values(
        ["score", "account_id"], ascending=[False, True], na_position="last")
    changes = changes.assign(reason_codes=changes["reason_codes"].map(";".join))[
        ["account_id", "change", "previous_action", "action", "previous_delay_days",
         "delay_days", "previous_score", "score", "risk_level", "reason_codes",
         "decision_id"]].reset_index(drop=True)

    actions = [a.value for a in Action]
    now = current["action"].value_counts().reindex(actions, fill_value=0)
    then = (previous["action"].value_counts().reindex(actions, fill_value=0)
            if previous is not None else pd.Series(0, index=actions))
    by_action = pd.DataFrame({"action": actions, "previous": then.to_numpy(),
                              "current": now.to_numpy(),
                              "changed_to": changes["action"].value_counts()
                              .reindex(actions, fill_value=0).to_numpy()})
    by_action["change"] = by_action["current"] - by_action["previous"]

    reasons = pd.DataFrame({
        "accounts": _reason_counts(current),
        "previous": _reason_counts(previous) if previous is not None else pd.Series(
            dtype=int),
        "changed_accounts": _reason_counts(moved),
    }).fillna(0).astype(int)
    by_reason = reasons.rename_axis("reason_code").reset_index().sort_values(
        ["accounts", "reason_code"], ascending=[False, True]).reset_index(drop=True)
    return ChangeReport(previous_name, len(current), changes, by_action, by_reason)


def write_report(report: ChangeReport, run_dir: Path) -> Path:
    """Write the three CSVs under ``run_dir/report`` (each atomically)."""
    out = run_dir / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in zip(FILES, (report.changes, report.by_action, report.by_reason),
                           strict=True):
        atomic_write_csv(frame, out / name)
    return out
