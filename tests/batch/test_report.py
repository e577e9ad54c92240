"""The change report: what counts as a change, order, and counts."""

from __future__ import annotations

import pandas as pd

from riskscore.batch.report import FILES, build_report, write_report


def _frame(rows: list[tuple[str, str, int, float, list[str]]]) -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": [r[0] for r in rows], "decision_id": [f"dec_{r[0]}" for r in rows],
        "action": [r[1] for r in rows], "delay_days": [r[2] for r in rows],
        "score": [r[3] for r in rows], "risk_level": "low",
        "reason_codes": [r[4] for r in rows]})


PREVIOUS = _frame([("a", "approve", 0, 0.01, []), ("b", "approve", 0, 0.02, []),
                   ("c", "pause_payouts", 5, 0.5, ["RISK_SCORE"]),
                   ("d", "delay_payouts", 3, 0.1, ["X"]), ("e", "reject", 30, 0.9, ["Y"])])
CURRENT = _frame([("a", "approve", 0, 0.01, []),
                  ("b", "manual_review", 4, 0.3, ["RISK_SCORE", "X"]),
                  ("c", "approve", 0, 0.05, []), ("d", "delay_payouts", 9, 0.2, ["X"]),
                  ("e", "reject", 30, 0.95, ["Y"]), ("f", "approve", 0, 0.0, []),
                  ("g", "reject", 20, 0.99, ["Y"])])


def test_changes_are_action_or_delay_changes_riskiest_first() -> None:
    report = build_report(CURRENT, PREVIOUS, "asof=before")
    changes = report.changes.set_index("account_id")
    assert list(report.changes["account_id"]) == ["g", "b", "d", "c"]
    assert changes["change"].to_dict() == {"g": "new", "b": "escalated", "d": "delay_changed",
                                           "c": "relaxed"}
    assert changes.loc["b", "reason_codes"] == "RISK_SCORE;X"
    assert changes.loc["c", "previous_action"] == "pause_payouts"


def test_counts_by_action_and_reason() -> None:
    report = build_report(CURRENT, PREVIOUS)
    by_action = report.by_action.set_index("action")
    assert by_action.loc["approve", ["previous", "current", "change"]].tolist() == [2, 3, 1]
    assert by_action.loc["reject", "changed_to"] == 1
    assert by_action["current"].sum() == len(CURRENT)
    by_reason = report.by_reason.set_index("reason_code")
    assert by_reason.loc["Y"].tolist() == [2, 1, 1]
    assert by_reason.loc["X"].tolist() == [2, 1, 2]


def test_without_previous_run_only_holds_are_changes(tmp_path) -> None:
    report = build_report(CURRENT, None)
    assert set(report.changes["account_id"]) == {"b", "d", "e", "g"}
    assert set(report.changes["change"]) == {"new"}
    out = write_report(report, tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert len(pd.read_csv(out / "changes.csv")) == 4
