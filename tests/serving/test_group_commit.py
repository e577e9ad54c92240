"""ApplicationGroups: waiting applications scored together, a failure kept to its own."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from riskscore.contracts import Application
from riskscore.policy import load_policy
from riskscore.scoring import Scorer
from riskscore.serving.group_commit import ApplicationGroups
from riskscore.store import upgrade
from riskscore.store.engine import make_engine
from riskscore.store.errors import DuplicateAccount

from .bodies import application_body


class GatedScorer(Scorer):
    """A scorer whose first group waits for ``gate``: the rest queue behind it, as behind a
    busy scorer. Records the size of every group it is given."""

    def __init__(self, url: str) -> None:
        super().__init__(make_engine(url), None, load_policy())
        self.gate, self.groups = threading.Event(), []

    def score_applications(self, applications, actor):
        self.groups.append(len(applications))
        self.gate.wait(10)
        return super().score_applications(applications, actor)


@pytest.fixture
def scorer(tmp_path: Path) -> GatedScorer:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return GatedScorer(url)


def _app(account_id: str) -> Application:
    return Application.model_validate(application_body(account_id, **{
        "signup.device_id": "dev_group_commit"}))


async def _submit(groups: ApplicationGroups, scorer: GatedScorer, ids: list[str],
                  actor: str = "t") -> list[object]:
    """The first id alone (it holds the scorer), then the rest while it waits."""
    first = asyncio.ensure_future(groups.score(_app(ids[0]), actor))
    while not scorer.groups:
        await asyncio.sleep(0.001)
    rest = [asyncio.ensure_future(groups.score(_app(i), actor)) for i in ids[1:]]
    await asyncio.sleep(0.05)
    scorer.gate.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_waiting_applications_are_scored_as_one_group(scorer: GatedScorer) -> None:
    groups = ApplicationGroups(scorer, max_group=4)
    ids = [f"acct_gc_{i:02d}" for i in range(7)]
    decisions = asyncio.run(_submit(groups, scorer, ids))
    groups.close()
    assert [d.account_id for d in decisions] == ids
    assert scorer.groups == [1, 4, 2]  # the first alone, then the six waiting, four at most
    with scorer.engine.connect() as conn:
        seen = conn.execute(text(
            "SELECT json_extract(onboarding_features, '$.signups_same_device_1h') "
            "FROM accounts ORDER BY account_id")).scalars().all()
    assert seen == list(range(7))  # each saw every application before it


def test_a_failing_application_fails_alone(scorer: GatedScorer) -> None:
    groups = ApplicationGroups(scorer, max_group=16)
    ids = ["acct_gc_a", "acct_gc_b", "acct_gc_a", "acct_gc_c"]  # the second acct_gc_a exists
    answers = asyncio.run(_submit(groups, scorer, ids))
    groups.close()
    assert isinstance(answers[2], DuplicateAccount)
    assert [a.account_id for i, a in enumerate(answers) if i != 2] == \
        ["acct_gc_a", "acct_gc_b", "acct_gc_c"]
    assert scorer.groups[:2] == [1, 3]  # the group of three failed, then each went alone
    with scorer.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM decisions")).scalar_one() == 3


def test_callers_are_audited_as_themselves(scorer: GatedScorer) -> None:
    groups = ApplicationGroups(scorer, max_group=16)
    scorer.gate.set()

    async def both() -> None:
        await asyncio.gather(groups.score(_app("acct_gc_x"), "onboarding"),
                             groups.score(_app("acct_gc_y"), "partner"))

    asyncio.run(both())
    groups.close()
    with scorer.engine.connect() as conn:
        assert dict(conn.execute(text("SELECT account_id, actor FROM decisions")).all()) == \
            {"acct_gc_x": "onboarding", "acct_gc_y": "partner"}


def test_a_group_whose_decisions_are_not_logged_is_not_scored_again(
        scorer: GatedScorer) -> None:
    """Recorded but unlogged: every caller of the group gets the error, and the group is
    not retried one by one (its applications exist by then: a retry would conflict)."""
    from riskscore.scoring import DecisionsNotLogged

    with scorer.engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON decisions "
                          "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"))
    groups = ApplicationGroups(scorer, max_group=16)
    answers = asyncio.run(_submit(groups, scorer, [f"acct_gc_nolog_{i}" for i in range(4)]))
    groups.close()
    assert all(isinstance(a, DecisionsNotLogged) for a in answers)
    assert scorer.groups == [1, 3]
