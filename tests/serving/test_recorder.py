"""The recorder process: every worker's applications recorded by one writer, exactly."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from riskscore.contracts import Application
from riskscore.policy import load_policy
from riskscore.scoring import Scorer
from riskscore.serving import recorder
from riskscore.settings import Settings
from riskscore.store import upgrade
from riskscore.store.engine import make_engine
from riskscore.store.errors import DuplicateAccount

from .bodies import application_body


@pytest.fixture
def store(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    return Settings(home=tmp_path / "home", database_url=url)


def _scorer(settings: Settings) -> Scorer:
    return Scorer(make_engine(settings.database_url), None, load_policy(), settings=settings)


def _app(account_id: str) -> Application:
    return Application.model_validate(application_body(account_id, **{
        "signup.device_id": "dev_recorder"}))


def test_two_workers_record_through_one_recorder(store: Settings) -> None:
    """The first to connect starts the recorder; both record through it, concurrently,
    and each application's velocity counts exactly the ones recorded before it; a
    conflict comes back as the store's own error; decisions are logged by it, and a lone
    application is scored there whole (no model here: fail closed)."""
    first, second = _scorer(store), _scorer(store)
    one, owner = recorder.connect(first, store, store.home / "run", timeout=60)
    two, not_owner = recorder.connect(second, store, store.home / "run", timeout=60)
    try:
        assert owner is not None and not_owner is None
        assert owner.process.is_alive() and one.connected and two.connected

        def record(client: recorder.RecorderClient, worker: int) -> None:
            for i in range(6):
                client.record_applications([_app(f"acct_rec_{worker}_{i}a"),
                                            _app(f"acct_rec_{worker}_{i}b")])

        threads = [threading.Thread(target=record, args=(c, w))
                   for w, c in enumerate((one, two))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with pytest.raises(DuplicateAccount, match="acct_rec_0_0a"):
            two.record_applications([_app("acct_rec_new"), _app("acct_rec_0_0a")])
        recorded = one.record_applications([_app("acct_rec_last")])
        one.log_decisions([first.decisions_for(recorded, "recorder-test")])
        lone, = two.score_applications([_app("acct_rec_lone")], "lone-test")  # in one go
        assert lone.account_id == "acct_rec_lone" and lone.action == "manual_review"
    finally:
        one.close()
        two.close()
        owner.stop()
    with first.engine.connect() as conn:
        seen = conn.execute(text(
            "SELECT account_id, created_at, "
            "json_extract(onboarding_features, '$.signups_same_device_1h') "
            "FROM accounts ORDER BY rowid")).all()
        logged = conn.execute(text("SELECT account_id, actor FROM decisions "
                                   "ORDER BY rowid")).all()
    ids = {a for a, _, _ in seen}
    assert len(seen) == 26 and ids >= {"acct_rec_1_5b", "acct_rec_last", "acct_rec_lone"}
    # each saw every application recorded before it and created before it
    assert [n for _, _, n in seen] == [sum(earlier < created for _, earlier, _ in seen[:i])
                                       for i, (_, created, _) in enumerate(seen)]
    assert "acct_rec_new" not in ids  # its group failed whole
    assert logged == [("acct_rec_last", "recorder-test"), ("acct_rec_lone", "lone-test")]
    assert recorded.features[0]["signups_same_device_1h"] == 24


def test_without_the_recorder_a_worker_records_in_process(store: Settings) -> None:
    scorer = _scorer(store)
    client, owner = recorder.connect(scorer, store, store.home / "run", timeout=60)
    client.record_applications([_app("acct_rec_before")])
    owner.stop()  # the recorder's worker went away
    recorded = client.record_applications([_app("acct_rec_after")])
    assert not client.connected
    assert recorded.account_ids == ["acct_rec_after"]
    assert recorded.features[0]["signups_same_device_1h"] == 1
    client.log_decisions([scorer.decisions_for(recorded, "t")])
    with scorer.engine.connect() as conn:
        assert conn.execute(text("SELECT account_id FROM decisions")).scalars().all() == \
            ["acct_rec_after"]


def test_a_client_with_the_wrong_key_is_refused(store: Settings) -> None:
    scorer = _scorer(store)
    client, owner = recorder.connect(scorer, store, store.home / "run", timeout=60)
    try:
        other = store.model_copy(update={"hash_key": SecretStr("another-key")})
        with pytest.raises(recorder.RecorderUnavailable):
            recorder.connect(scorer, other, store.home / "run", timeout=1)
    finally:
        client.close()
        owner.stop()


def test_a_worker_reconnects_to_the_next_recorder(store: Settings, monkeypatch) -> None:
    """The recorder's worker restarts: the other worker records in-process meanwhile, then
    through the recorder the restarted worker starts."""
    monkeypatch.setattr(recorder, "RECONNECT_SECONDS", 0.0)
    run = store.home / "run"
    first, second = _scorer(store), _scorer(store)
    one, owner = recorder.connect(first, store, run, timeout=60)
    two, _ = recorder.connect(second, store, run, timeout=60)
    one.close()
    owner.stop()
    two.record_applications([_app("acct_rec_gap")])
    assert not two.connected
    again, new_owner = recorder.connect(first, store, run, timeout=60)
    try:
        assert new_owner is not None and new_owner.process.pid != owner.process.pid
        recorded = two.record_applications([_app("acct_rec_back")])
        assert two.connected
        assert recorded.features[0]["signups_same_device_1h"] == 1
    finally:
        again.close()
        two.close()
        new_owner.stop()


def test_an_answer_that_does_not_pickle_comes_back_as_an_error() -> None:
    from multiprocessing import Pipe

    class Unpicklable(Exception):  # local: pickle cannot find it
        pass

    ours, theirs = Pipe()
    recorder._reply(ours, ("error", Unpicklable("boom")))
    status, error = theirs.recv()
    assert status == "error" and isinstance(error, RuntimeError) and "boom" in str(error)
