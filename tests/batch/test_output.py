"""Atomic output and the resume manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from riskscore.batch.decide import DECISION_SCHEMA
from riskscore.batch.output import (
    IncompleteRun,
    Manifest,
    RunWriter,
    complete_runs,
    decision_files,
    read_decisions,
    read_manifest,
)


def _manifest(**changes) -> Manifest:
    base = dict(as_of="2025-10-01T00:00:00+00:00", data="d", model_version="m/v1",
                policy_version="p", engine="local", chunk_size=2, n_accounts=4,
                explain="held")
    return Manifest(**{**base, **changes})


def _chunk(ids: list[str]) -> pd.DataFrame:
    frame = DECISION_SCHEMA.empty_table().to_pandas()
    return pd.DataFrame({
        "account_id": ids, "as_of": pd.Timestamp("2025-10-01", tz="UTC"),
        "decision_id": [f"dec_{i}" for i in ids], "score": 0.1, "risk_level": "low",
        "action": "approve", "delay_days": 0, "reason_codes": [[] for _ in ids],
        "reasons": "[]", "model_version": "m/v1", "policy_version": "p"})[frame.columns]


def test_a_run_is_complete_only_when_finished(tmp_path: Path) -> None:
    run = tmp_path / "asof=x"
    writer = RunWriter(run, _manifest())
    writer.write_chunk(0, _chunk(["a", "b"]))
    assert not read_manifest(run).complete
    with pytest.raises(IncompleteRun):
        decision_files(run)
    assert complete_runs(tmp_path) == []
    with pytest.raises(IncompleteRun, match="expected 4"):
        writer.finish()
    writer.write_chunk(1, _chunk(["c", "d"]))
    writer.finish()
    assert read_manifest(run).complete and not (run / "_work").exists()
    assert read_decisions(run)["account_id"].tolist() == ["a", "b", "c", "d"]
    assert [p for p, _ in complete_runs(tmp_path)] == [run]
    assert not list(run.rglob("*.tmp"))


def test_resume_keeps_intact_chunks_and_redoes_damaged_ones(tmp_path: Path) -> None:
    run = tmp_path / "asof=x"
    writer = RunWriter(run, _manifest(n_accounts=6))
    writer.write_chunk(0, _chunk(["a", "b"]))
    writer.write_chunk(1, _chunk(["c", "d"]))
    damaged = run / writer.manifest.chunks["1"]["file"]
    damaged.write_bytes(damaged.read_bytes()[:100])  # e.g. a disk problem after the rename
    again = RunWriter(run, _manifest(n_accounts=6))
    assert again.resumed and again.done(0) and not again.done(1)


def test_other_inputs_start_over_and_never_overwrite_a_complete_run(tmp_path: Path) -> None:
    run = tmp_path / "asof=x"
    writer = RunWriter(run, _manifest())
    writer.write_chunk(0, _chunk(["a", "b"]))
    fresh = RunWriter(run, _manifest(model_version="m/v2"))
    assert not fresh.resumed and not fresh.manifest.chunks
    assert not list((run / "decisions").iterdir())
    fresh.write_chunk(0, _chunk(["a", "b"]))
    fresh.write_chunk(1, _chunk(["c", "d"]))
    fresh.finish()
    with pytest.raises(IncompleteRun, match="already holds a complete run"):
        RunWriter(run, _manifest(model_version="m/v3"))
    assert RunWriter(run, _manifest(model_version="m/v2")).manifest.complete
