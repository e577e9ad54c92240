"""The Scorer on the worker's store: many accounts in one transaction, shadow scoring."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from riskscore.policy import load_policy
from riskscore.scoring import Scorer
from riskscore.store.engine import make_engine
from riskscore.store.errors import AccountNotFound
from riskscore.training import registry

pytestmark = pytest.mark.xdist_group("trained")


@pytest.fixture(scope="module")
def scorer(trained, served_store) -> Scorer:
    model = registry.load(registry.CHAMPION).model
    return Scorer(make_engine(served_store), model, load_policy(), challenger=model)


def _audited(scorer: Scorer, actor: str) -> list[str]:
    with scorer.engine.connect() as conn:
        return list(conn.execute(text("SELECT account_id FROM decisions WHERE actor = :a "
                                      "ORDER BY account_id"), {"a": actor}).scalars())


def test_many_accounts_scored_in_order_and_audited(scorer: Scorer, sim_dir: Path) -> None:
    ids = pd.read_parquet(sim_dir / "accounts.parquet")["account_id"].iloc[40:52].tolist()
    decisions = scorer.score_accounts(ids, "scoring-test-many")
    assert [d.account_id for d in decisions] == ids
    assert len({d.decision_id for d in decisions}) == len(ids)
    assert _audited(scorer, "scoring-test-many") == sorted(ids)
    one = scorer.score_account(ids[0], "scoring-test-one")
    assert one.score == pytest.approx(decisions[0].score, abs=0.05)


def test_shadow_challenger_rides_along_without_acting(scorer: Scorer, sim_dir: Path) -> None:
    account_id = pd.read_parquet(sim_dir / "accounts.parquet")["account_id"].iloc[60]
    decision = scorer.score_account(account_id, "scoring-test-shadow")
    assert decision.shadow is not None
    # The challenger here is the champion itself: the same score and action.
    assert decision.shadow["score"] == pytest.approx(decision.score)
    assert decision.shadow["action"] == str(decision.action)


def test_unknown_account_in_a_batch_writes_nothing(scorer: Scorer, sim_dir: Path) -> None:
    ids = pd.read_parquet(sim_dir / "accounts.parquet")["account_id"].iloc[70:73].tolist()
    with pytest.raises(AccountNotFound):
        scorer.score_accounts([*ids, "acct_not_in_store"], "scoring-test-unknown")
    assert _audited(scorer, "scoring-test-unknown") == []
