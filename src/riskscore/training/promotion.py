"""The promotion gate: a challenger replaces the champion only if it is at least as good
on the champion's own out-of-time test set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from riskscore.settings import Settings, get_settings
from riskscore.training import registry
from riskscore.training.evaluate import EvalFrame, evaluate

GATE_METRICS = ("pr_auc", "recall_at_5pct_fpr")


@dataclass(frozen=True)
class GateResult:
    """The comparison printed to the person promoting, and recorded on the version."""

    challenger: str
    champion: str | None
    table: pd.DataFrame
    passed: bool
    forced: bool
    promoted: bool
    notes: list[str]


def compare(settings: Settings | None = None) -> GateResult:
    """Score champion and challenger on the champion's test set; no alias moves."""
    settings = settings or get_settings()
    challenger = registry.load(registry.CHALLENGER, settings)
    try:
        champion = registry.load(registry.CHAMPION, settings)
    except registry.RegistryError:
        return GateResult(challenger.label, None, pd.DataFrame(), True, False, False,
                          ["no champion yet: the challenger becomes the first champion"])
    if champion.version == challenger.version:
        return GateResult(challenger.label, champion.label, pd.DataFrame(), False, False, False,
                          ["the challenger already is the champion"])
    test = registry.run_test_set(champion.run_id)
    notes = []
    missing = sorted(set(challenger.model.feature_names) - set(test.columns))
    if missing:
        notes.append(f"challenger needs {len(missing)} features absent from the champion's "
                     f"test set (scored as missing): {missing[:5]}...")
    fit_time = challenger.model.meta.get("timeline", {}).get("t_fit")
    if fit_time and pd.Timestamp(fit_time) > test["as_of"].min():
        notes.append("the challenger's training period overlaps the champion's test period; "
                     "its score there is optimistic")
    ev = EvalFrame.from_snapshots(test)
    table = pd.DataFrame({
        name: evaluate(ev, rm.model.margin(rm.model.matrix(test)), None, (0.01, 0.05),
                       (0.01, 0.03))
        for name, rm in (("champion", champion), ("challenger", challenger))
    }).loc[list(GATE_METRICS)]
    passed = bool((table["challenger"] >= table["champion"]).all())
    return GateResult(challenger.label, champion.label, table, passed, False, False, notes)


def promote(force: bool = False, reason: str | None = None,
            settings: Settings | None = None) -> GateResult:
    """Move ``champion`` to the challenger if it passes the gate (or ``force``, recorded)."""
    settings = settings or get_settings()
    gate = compare(settings)
    if force and not reason:
        raise ValueError("a forced promotion needs a --reason, recorded on the model version")
    if not (gate.passed or force) or gate.champion == gate.challenger:
        return gate
    forced = force and not gate.passed
    version = gate.challenger.rsplit("/v", 1)[1]
    tags = {"promoted_at": datetime.now(UTC).isoformat(), "promoted_over": gate.champion or "",
            "promotion_forced": str(forced).lower(),
            **{f"gate.{m}.{who}": f"{v:.5f}" for m, row in gate.table.iterrows()
               for who, v in row.items()}}
    if reason:
        tags["promotion_reason"] = reason
    registry.set_alias(registry.CHAMPION, version, tags, settings)
    return GateResult(gate.challenger, gate.champion, gate.table, gate.passed, forced, True,
                      gate.notes)
