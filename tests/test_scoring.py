"""The Scorer on the worker's store: many accounts in one transaction, shadow scoring."""

from __future__ import annotations

import json
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


CONCURRENT_WORKERS, APPLICATIONS_EACH = 3, 15


def _score_applications(url: str, worker: int, start, errors) -> None:
    """One worker process: scores its applications, all from one shared device."""
    from bodies import application_body

    from riskscore.contracts import Application

    scorer = Scorer(make_engine(url), None, load_policy())
    start.wait()
    try:
        for i in range(APPLICATIONS_EACH):
            body = application_body(f"acct_conc_{worker}_{i:03d}",
                                    **{"signup.device_id": "dev_shared_by_all"})
            scorer.score_application(Application.model_validate(body), f"worker-{worker}")
    except Exception as exc:  # reported to the test, which fails on it
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}")


def test_worker_processes_write_one_at_a_time_and_see_each_other(tmp_path: Path) -> None:
    """Several processes scoring applications on one SQLite store (as service workers do):
    nothing fails, everything is written once, and each application's velocity feature
    counts exactly the applications committed before it (and submitted before it: features
    are as of the application's own time)."""
    import multiprocessing
    import sys

    from riskscore.store import upgrade

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    context = multiprocessing.get_context("spawn")
    start, errors = context.Barrier(CONCURRENT_WORKERS), context.Queue()
    sys.path.insert(0, str(Path(__file__).parent / "serving"))  # bodies.py, for the children
    try:
        workers = [context.Process(target=_score_applications, args=(url, w, start, errors))
                   for w in range(CONCURRENT_WORKERS)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
    finally:
        sys.path.pop(0)
    problems = [errors.get() for _ in range(errors.qsize())] if not errors.empty() else []
    assert not problems and all(w.exitcode == 0 for w in workers), problems
    total = CONCURRENT_WORKERS * APPLICATIONS_EACH
    with make_engine(url).connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("accounts", "signups", "decisions")}
        rolled_up = conn.execute(text("SELECT sum(signups) FROM signup_hours")).scalar_one()
        in_commit_order = conn.execute(text(
            "SELECT created_at, json_extract(onboarding_features, '$.signups_same_device_1d') "
            "FROM accounts ORDER BY rowid")).all()
    assert counts == {"accounts": total, "signups": total, "decisions": total}
    assert rolled_up == total
    seen = [int(n) for _, n in in_commit_order]
    expected = [sum(earlier < created for earlier, _ in in_commit_order[:i])
                for i, (created, _) in enumerate(in_commit_order)]
    assert seen == expected and seen[-1] >= total // 2


def test_an_application_that_cannot_be_recorded_writes_nothing(tmp_path: Path) -> None:
    """The scorer records without a SAVEPOINT: its transaction must still leave nothing of
    an application it refuses (here: an account id that exists)."""
    from riskscore.contracts import Application
    from riskscore.store import upgrade
    from riskscore.store.errors import DuplicateAccount

    example = {k: v for k, v in Application.model_json_schema()["example"].items()
               if k != "created_at"}

    def application_body(account_id: str, device: str = "dev_first_device") -> dict:
        return {**example, "account_id": account_id,
                "signup": {**example["signup"], "device_id": device}}

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    scorer = Scorer(make_engine(url), None, load_policy())
    scorer.score_application(Application.model_validate(application_body("acct_once")), "t")

    def rows() -> dict[str, int]:
        with scorer.engine.connect() as conn:
            return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("accounts", "identifiers", "signups", "decisions")}

    before = rows()
    again = application_body("acct_once", device="dev_other_device")
    with pytest.raises(DuplicateAccount):
        scorer.score_application(Application.model_validate(again), "t")
    assert rows() == before
    with scorer.engine.connect() as conn:
        assert conn.execute(text("SELECT sum(signups) FROM signup_hours")).scalar_one() == 1


def _applications(prefix: str, n: int) -> list:
    """``n`` applications from one device and one email domain, a second apart: each
    one's velocity and duplicate features count the ones before it."""
    from datetime import UTC, datetime, timedelta

    from riskscore.contracts import Application

    example = {k: v for k, v in Application.model_json_schema()["example"].items()
               if k != "created_at"}
    start, domain = datetime.now(UTC) - timedelta(minutes=5), prefix.replace("_", "-")
    return [Application.model_validate({
        **example, "account_id": f"{prefix}_{i:03d}",
        "created_at": (start + timedelta(seconds=i)).isoformat(),
        "contact": {**example["contact"], "email": f"owner{i}@{domain}.example.com"},
        "signup": {**example["signup"], "device_id": f"dev_{prefix}"}}) for i in range(n)]


def _store_rows(scorer: Scorer) -> dict[str, list]:
    """What scoring wrote, decision ids and write times aside."""
    with scorer.engine.connect() as conn:
        return {
            "accounts": conn.execute(text("SELECT account_id, onboarding_features FROM accounts "
                                          "ORDER BY account_id")).all(),
            "identifiers": conn.execute(text("SELECT account_id, kind, value_hash FROM "
                                             "identifiers ORDER BY 1, 2, 3")).all(),
            "signup_hours": conn.execute(text("SELECT * FROM signup_hours")).all(),
            "decisions": conn.execute(text("SELECT account_id, actor, inputs_hash, score, "
                                           "action, delay_days, reasons FROM decisions "
                                           "ORDER BY account_id")).all()}


def _fresh_scorer(trained, path: Path) -> Scorer:
    from riskscore.store import upgrade

    url = f"sqlite:///{path}"
    upgrade(url)
    return Scorer(make_engine(url), registry.load(registry.CHAMPION).model, load_policy())


def test_a_group_of_applications_decides_and_writes_as_one_call_each(
        trained, tmp_path: Path) -> None:
    """Group commit changes what a group shares (transaction, model call, commit), never a
    decision: the same applications one call each and in one group write the same rows."""
    apps = _applications("acct_group", 6)
    alone, grouped = (_fresh_scorer(trained, tmp_path / f"{n}.db") for n in ("alone", "grouped"))
    one_by_one = [alone.score_application(a, "t") for a in apps]
    together = grouped.score_applications(apps, "t")
    strip = {"decision_id", "shadow"}
    assert ([d.model_dump(exclude=strip) for d in together]
            == [d.model_dump(exclude=strip) for d in one_by_one])
    assert _store_rows(grouped) == _store_rows(alone)
    features = [json.loads(f) for _, f in _store_rows(grouped)["accounts"]]
    assert [f["signups_same_device_1h"] for f in features] == list(range(6))


def test_a_group_with_one_bad_application_writes_nothing(trained, tmp_path: Path) -> None:
    from riskscore.store.errors import DuplicateAccount

    scorer = _fresh_scorer(trained, tmp_path / "store.db")
    first, *rest = _applications("acct_badgroup", 4)
    scorer.score_application(first, "t")
    before = _store_rows(scorer)
    with pytest.raises(DuplicateAccount):
        scorer.score_applications([*rest, first], "t")
    assert _store_rows(scorer) == before


def _refuse_audit_rows(scorer: Scorer) -> None:
    """The audit log refuses every insert (as a full disk or a lost database would)."""
    with scorer.engine.begin() as conn:
        conn.execute(text("CREATE TRIGGER refuse_audit BEFORE INSERT ON decisions "
                          "BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END"))


def test_decisions_the_audit_log_refuses_are_not_returned(trained, tmp_path: Path) -> None:
    """A decision is returned only once it is logged. The application's recording is its
    own transaction before that: it stays, so it can be scored again as a stored account."""
    from riskscore.scoring import DecisionsNotLogged

    scorer = _fresh_scorer(trained, tmp_path / "store.db")
    apps = _applications("acct_unlogged", 3)
    _refuse_audit_rows(scorer)
    with pytest.raises(DecisionsNotLogged, match="acct_unlogged_000") as caught:
        scorer.score_applications(apps, "t")
    assert caught.value.account_ids == [a.account_id for a in apps]
    with pytest.raises(DecisionsNotLogged):
        scorer.score_account(apps[0].account_id, "t")
    rows = _store_rows(scorer)
    assert [a for a, _ in rows["accounts"]] == [a.account_id for a in apps]
    assert rows["decisions"] == []
    with scorer.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_audit"))
    again = scorer.score_account(apps[0].account_id, "t")
    assert _store_rows(scorer)["decisions"][0][0] == again.account_id


def test_the_inputs_hash_names_the_features_and_their_values() -> None:
    from riskscore.scoring import inputs_hash

    features = {"b_count": 2.0, "a_ratio": 0.25, "c_missing": None}
    same = inputs_hash("acct_h", features)
    assert len(same) == 64
    assert inputs_hash("acct_h", dict(reversed(features.items()))) == same  # order-free
    assert inputs_hash("acct_h", {**features, "c_missing": float("nan")}) == same
    assert inputs_hash("acct_other", features) != same
    assert inputs_hash("acct_h", {**features, "a_ratio": 0.25 + 1e-12}) != same
    assert inputs_hash("acct_h", {"b_count": 2.0, "a_ratio": 0.25, "d_missing": None}) != same
