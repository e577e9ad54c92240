"""The local engine: resume after a crash, previous-run detection, Stripe handoff."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import riskscore.batch.rescore as rescore_module
from riskscore.batch.actions import hand_to_stripe
from riskscore.batch.decide import save_job_bundle
from riskscore.batch.output import IncompleteRun, decision_files, read_decisions, read_manifest
from riskscore.batch.rescore import rescore
from riskscore.batch.spark import partition_decider
from riskscore.integrations.stripe import StripeActions
from riskscore.scoring import Scorer
from riskscore.settings import get_settings
from riskscore.store import make_engine


def _as_of(run) -> pd.Timestamp:
    """The as-of of a rescore run."""
    return pd.Timestamp(run.manifest.as_of)


pytestmark = pytest.mark.xdist_group("trained")


def test_clean_run_covers_the_portfolio(clean_run, sim_dir: Path) -> None:
    accounts = pd.read_parquet(sim_dir / "accounts.parquet")
    decisions = read_decisions(clean_run.run_dir)
    assert len(decisions) == (accounts["created_at"] <= _as_of(clean_run)).sum()
    assert decisions["account_id"].is_unique
    assert clean_run.manifest.complete and clean_run.manifest.n_chunks >= 3
    assert len(decision_files(clean_run.run_dir)) == clean_run.manifest.n_chunks
    assert set(decisions["action"]) > {"approve"}
    assert (clean_run.run_dir / "report" / "changes.csv").is_file()


def test_crash_mid_run_resumes_to_the_same_result(clean_run, sim_dir: Path, tmp_path: Path,
                                                  monkeypatch) -> None:
    real, calls = rescore_module.decision_frame, []

    def crash_on_third(scorer, features, **options):
        calls.append(len(features))
        if len(calls) == 3:
            raise RuntimeError("injected crash")
        return real(scorer, features, **options)

    monkeypatch.setattr(rescore_module, "decision_frame", crash_on_third)
    with pytest.raises(RuntimeError, match="injected crash"):
        rescore(sim_dir, _as_of(clean_run), tmp_path, chunk_size=clean_run.manifest.chunk_size)
    run = tmp_path / clean_run.run_dir.name
    manifest = read_manifest(run)
    assert not manifest.complete and len(manifest.chunks) == 2
    with pytest.raises(IncompleteRun):
        read_decisions(run)
    assert not list(run.rglob("*.tmp")) and not (run / "report").exists()

    monkeypatch.setattr(rescore_module, "decision_frame", real)
    resumed = rescore(sim_dir, _as_of(clean_run), tmp_path,
                      chunk_size=clean_run.manifest.chunk_size)
    assert resumed.resumed_chunks == 2
    pd.testing.assert_frame_equal(read_decisions(run), read_decisions(clean_run.run_dir))
    for name in ("changes.csv", "by_action.csv", "by_reason.csv"):
        assert (run / "report" / name).read_bytes() == \
            (clean_run.run_dir / "report" / name).read_bytes()


def test_next_run_compares_with_the_previous_one(clean_run, sim_dir: Path) -> None:
    later = rescore(sim_dir, _as_of(clean_run) + pd.Timedelta(days=30), clean_run.run_dir.parent,
                    chunk_size=clean_run.manifest.chunk_size)
    assert later.previous == clean_run.run_dir
    report = later.report
    assert report.previous == clean_run.run_dir.name
    assert report.by_action["previous"].sum() == clean_run.manifest.n_accounts
    assert report.by_action["current"].sum() == later.manifest.n_accounts
    before = read_decisions(clean_run.run_dir).set_index("account_id")["action"]
    after = read_decisions(later.run_dir).set_index("account_id")
    old = after.loc[before.index]
    moved = old.index[(old["action"] != before)].tolist()
    listed = report.changes[report.changes["change"] != "new"]
    assert set(moved) <= set(listed["account_id"])
    assert report.changes["score"].is_monotonic_decreasing
    csv = pd.read_csv(later.run_dir / "report" / "changes.csv")
    assert csv["account_id"].tolist() == report.changes["account_id"].tolist()


def test_changed_decisions_go_to_the_stripe_outbox_once(clean_run, tmp_path: Path) -> None:
    changes = clean_run.report.changes
    assert len(changes) > 0
    settings = get_settings().model_copy(update={
        "database_url": f"sqlite:///{tmp_path / 'store.db'}"})
    live, statuses = hand_to_stripe(changes, settings)
    assert not live and "sent" not in statuses
    assert sum(statuses.values()) == len(changes)  # one call (or record) per decision
    outbox = StripeActions(make_engine(settings.resolved_database_url()), settings)
    held = changes[changes["action"].isin(["pause_payouts", "reject"])].iloc[0]
    records = outbox.records(held["account_id"])
    assert [(r.decision_id, r.status) for r in records] == [(held["decision_id"], "dry_run")]
    before = len(outbox.records())
    hand_to_stripe(changes, settings)
    assert len(outbox.records()) == before


def test_empty_portfolio_is_an_empty_complete_run(trained, sim_dir: Path,
                                                  tmp_path: Path) -> None:
    result = rescore(sim_dir, pd.Timestamp("2020-01-01", tz="UTC"), tmp_path)
    assert result.manifest.complete and result.manifest.n_accounts == 0
    assert read_decisions(result.run_dir).empty and result.report.changes.empty


def _model_reasons(text: str) -> list[dict]:
    return [r for r in json.loads(text) if r["contribution"] is not None]


def test_changed_mode_keeps_the_model_reasons_of_unchanged_holds(clean_run, sim_dir: Path,
                                                                 tmp_path: Path) -> None:
    later, chunk = _as_of(clean_run) + pd.Timedelta(days=30), clean_run.manifest.chunk_size
    settings = get_settings().model_copy(update={"rescore_explain": "changed"})
    changed = rescore(sim_dir, later, tmp_path / "changed", chunk_size=chunk,
                      previous=clean_run.run_dir, settings=settings)
    held = rescore(sim_dir, later, tmp_path / "held", chunk_size=chunk,
                   previous=clean_run.run_dir)
    assert changed.manifest.previous == str(clean_run.run_dir.resolve())
    now, full = read_decisions(changed.run_dir), read_decisions(held.run_dir)
    same = ["account_id", "decision_id", "score", "risk_level", "action", "delay_days"]
    pd.testing.assert_frame_equal(now[same], full[same])
    before = read_decisions(clean_run.run_dir).set_index("account_id").reindex(
        now["account_id"])
    kept = ((before["action"] == now["action"].to_numpy()) &
            (before["delay_days"] == now["delay_days"].to_numpy()) &
            (now["action"] != "approve").to_numpy()).to_numpy()
    assert 0 < kept.sum() < (now["action"] != "approve").sum()
    assert now.loc[~kept, "reasons"].tolist() == full.loc[~kept, "reasons"].tolist()
    for mine, old, fresh in zip(now.loc[kept, "reasons"], before.loc[kept, "reasons"],
                                full.loc[kept, "reasons"], strict=True):
        assert _model_reasons(mine) == _model_reasons(old)
        assert [r for r in json.loads(mine) if r["contribution"] is None] == \
            [r for r in json.loads(fresh) if r["contribution"] is None]

    # A Spark partition keeps the same reasons (its function, without Spark).
    bundle = changed.run_dir.parent / "bundle"
    save_job_bundle(Scorer.from_settings(), bundle)
    sample = now.iloc[np.r_[np.flatnonzero(kept)[:100], np.flatnonzero(~kept)[:100]]]
    snapshots = sample[["account_id", "as_of"]].assign(row=range(len(sample)))
    decide = partition_decider(str(sim_dir), str(bundle), "changed",
                               changed.manifest.previous)
    (partition,) = decide(iter([snapshots.iloc[:120], snapshots.iloc[120:]]))
    pd.testing.assert_frame_equal(partition, sample.reset_index(drop=True))


def test_a_champion_that_fails_to_load_stops_the_features_computed_meanwhile(
        sim_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """A first run computes features while the champion loads; a failed load is raised at
    the next feature stage, and nothing is written."""
    from riskscore.training.registry import RegistryError

    stages: list[str] = []

    def no_champion(settings):
        raise RegistryError("no model has the alias 'champion'")

    monkeypatch.setattr(rescore_module.Scorer, "from_settings", staticmethod(no_champion))
    with pytest.raises(RegistryError, match="champion"):
        rescore(sim_dir, pd.Timestamp("2025-11-01", tz="UTC"), tmp_path,
                progress=lambda label, done, total: stages.append(label))
    assert [s for s in stages if s.startswith("features: ")] == []
    assert not any(tmp_path.iterdir())
