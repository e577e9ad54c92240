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

    def record_applications(self, applications, log=()):
        self.groups.append(len(applications))
        self.gate.wait(10)
        return super().record_applications(applications, log)

    def score_applications(self, applications, actor):  # a lone application
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


def test_a_lone_application_is_recorded_decided_and_logged_in_one_transaction(
        tmp_path: Path) -> None:
    """Nothing else queued: one commit holds the application and its decision; one arriving
    after it is answered is alone again."""
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    scorer = Scorer(make_engine(url), None, load_policy())
    commits: list[int] = []
    event.listen(scorer.engine, "commit", lambda conn: commits.append(1))
    groups = ApplicationGroups(scorer, max_group=16)
    first = asyncio.run(groups.score(_app("acct_gc_lone_1"), "t"))
    second = asyncio.run(groups.score(_app("acct_gc_lone_2"), "t"))
    groups.close()
    assert (first.account_id, second.account_id) == ("acct_gc_lone_1", "acct_gc_lone_2")
    assert first.action == "manual_review"  # no model: fail closed
    assert len(commits) == 2
    with scorer.engine.connect() as conn:
        assert conn.execute(text(
            "SELECT account_id, json_extract(onboarding_features, '$.signups_same_device_1h') "
            "FROM accounts JOIN decisions USING (account_id) ORDER BY 1")).all() == \
            [("acct_gc_lone_1", 0), ("acct_gc_lone_2", 1)]


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


class SteppedScorer(Scorer):
    """Records each call's applications and how many earlier decisions it logged; the
    second recording waits for ``second``, the first decisions for ``decide``."""

    def __init__(self, url: str) -> None:
        super().__init__(make_engine(url), None, load_policy())
        self.calls: list[tuple[list[str], int]] = []
        self.second, self.decide, self.deciding = (threading.Event() for _ in range(3))

    def record_applications(self, applications, log=()):
        self.calls.append(([a.account_id for a in applications],
                           sum(len(d.decisions) for d in log)))
        if len(self.calls) == 2:
            self.second.wait(10)
        return super().record_applications(applications, log)

    def decisions_for(self, recorded, actor):
        if not self.deciding.is_set():
            self.deciding.set()
            self.decide.wait(10)
        return super().decisions_for(recorded, actor)


@pytest.mark.parametrize("third", ["acct_gc_s3", "acct_gc_s1"])  # new, or the first's id
def test_decisions_are_logged_by_the_next_recording(tmp_path: Path, third: str) -> None:
    """Decisions made while another group records ride on the next recording transaction
    (one commit for both); when that transaction fails, they are logged alone and only
    the failing application fails."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    scorer = SteppedScorer(url)
    groups = ApplicationGroups(scorer, max_group=16, alone=False)

    async def wait_for(condition) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async def run() -> list[object]:
        first = asyncio.ensure_future(groups.score(_app("acct_gc_s1"), "t"))
        await wait_for(scorer.deciding.is_set)  # recorded, its decision held
        second = asyncio.ensure_future(groups.score(_app("acct_gc_s2"), "t"))
        await wait_for(lambda: len(scorer.calls) == 2)  # the second recording waits
        scorer.decide.set()  # the first decision now waits for the recording thread
        last = asyncio.ensure_future(groups.score(_app(third), "t"))
        await asyncio.sleep(0.2)
        scorer.second.set()
        return await asyncio.gather(first, second, last, return_exceptions=True)

    answers = asyncio.run(run())
    groups.close()
    assert scorer.calls[:3] == [(["acct_gc_s1"], 0), (["acct_gc_s2"], 0), ([third], 1)]
    assert [a.account_id for a in answers[:2]] == ["acct_gc_s1", "acct_gc_s2"]
    with scorer.engine.connect() as conn:
        logged = conn.execute(text("SELECT account_id FROM decisions ORDER BY 1")).scalars()
        logged = list(logged)
    if third == "acct_gc_s3":
        assert answers[2].account_id == third and logged == ["acct_gc_s1", "acct_gc_s2", third]
    else:  # the carrying transaction failed: the decision it carried was logged alone
        assert isinstance(answers[2], DuplicateAccount)
        assert scorer.calls[3] == ([third], 0)
        assert logged == ["acct_gc_s1", "acct_gc_s2"]


def test_close_scores_and_logs_what_is_queued(scorer: GatedScorer) -> None:
    """Applications queued before ``close`` are all recorded, decided and logged, those
    queued behind its stop marker included; after it, an application is refused."""
    from riskscore.serving.group_commit import ShuttingDown

    groups = ApplicationGroups(scorer, max_group=4)
    ids = [f"acct_gc_close_{i}" for i in range(9)]

    async def run() -> list[object]:
        futures = [asyncio.ensure_future(groups.score(_app(i), "t")) for i in ids[:-1]]
        await asyncio.sleep(0)  # queued, the first group held at the gate
        groups._queue.put(None)  # close()'s stop marker, without joining on this loop
        futures.append(asyncio.ensure_future(groups.score(_app(ids[-1]), "t")))
        await asyncio.sleep(0)
        scorer.gate.set()
        return await asyncio.wait_for(asyncio.gather(*futures), 20)

    answers = asyncio.run(run())
    groups.close()
    assert [a.account_id for a in answers] == ids
    with scorer.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM decisions")).scalar_one() == len(ids)
    with pytest.raises(ShuttingDown):
        asyncio.run(groups.score(_app("acct_gc_close_late"), "t"))
