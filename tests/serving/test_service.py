"""The BentoML service in-process (Starlette TestClient over its ASGI app)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from riskscore.store.engine import make_engine, session_factory
from riskscore.store.models import Decision as DecisionRow

from .bodies import application_body

pytestmark = pytest.mark.xdist_group("trained")
AUTH = {"Authorization": "Bearer test-key-1"}
WEBHOOK_SECRET = "whsec_service_tests"


@pytest.fixture(scope="module")
def client(trained, served_store):
    import os

    from riskscore.serving.service import RiskScore
    from riskscore.settings import get_settings

    os.environ["RISKSCORE_STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    get_settings.cache_clear()
    try:
        with TestClient(RiskScore.to_asgi()) as c:
            yield c
    finally:
        del os.environ["RISKSCORE_STRIPE_WEBHOOK_SECRET"]
        get_settings.cache_clear()


def test_ready_and_open_endpoints(client: TestClient) -> None:
    import gc

    assert gc.get_freeze_count() > 0  # start-up objects are out of the collector's walks
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200
    assert "score_application" in client.get("/docs.json").text
    assert client.get("/metrics").status_code == 200


def test_scoring_needs_an_api_key(client: TestClient) -> None:
    body = application_body("acct_noauth0000001")
    assert client.post("/score_application", json=body).status_code == 401
    assert client.post("/score_application", json=body,
                       headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_application_is_scored_recorded_and_audited(client: TestClient, served_store) -> None:
    r = client.post("/score_application", json=application_body("acct_newseller00001"),
                    headers=AUTH)
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["action"] in {"approve", "delay_payouts", "manual_review", "pause_payouts",
                                  "reject"}
    assert 0.0 <= decision["score"] <= 1.0
    assert decision["model_version"].startswith("riskscore/v")
    assert decision["reasons"] and all(r["code"] and r["message"] for r in decision["reasons"])
    with session_factory(make_engine(served_store))() as s:
        row = s.scalars(select(DecisionRow).where(
            DecisionRow.decision_id == decision["decision_id"])).one()
    assert row.actor == "onboarding-tests" and len(row.inputs_hash) == 64
    assert row.policy_version == decision["policy_version"]
    # Recorded: the same id again is a conflict, and scoring it as an account works.
    again = client.post("/score_application", json=application_body("acct_newseller00001"),
                        headers=AUTH)
    assert again.status_code == 409
    assert client.post("/score_account", json={"account_id": "acct_newseller00001"},
                       headers=AUTH).status_code == 200


def test_later_applications_see_earlier_ones_as_duplicates(client: TestClient) -> None:
    first = application_body("acct_dupfirst000001", **{"contact.email": "Same.Person+x@gmail.com",
                                                   "signup.device_id": "dev_shared_device_01"})
    second = application_body("acct_dupsecond00001", **{"contact.email": "sameperson@gmail.com",
                                                    "signup.device_id": "dev_shared_device_01"})
    assert client.post("/score_application", json=first, headers=AUTH).status_code == 200
    r = client.post("/score_application", json=second, headers=AUTH)
    assert r.status_code == 200
    from riskscore.serving.service import RUNTIME
    from riskscore.store.engine import session_factory as sf

    with sf(RUNTIME.scorer.engine)() as s:
        from riskscore.features.online import account_online_features

        feats = account_online_features(s, "acct_dupsecond00001", pd.Timestamp.now(tz="UTC"))
    assert feats["shared_email"] >= 1 and feats["shared_device"] >= 1


@pytest.mark.parametrize(("change", "field"), [
    ({"contact.email": "not-an-email"}, "email"),
    ({"business.country": 42}, "country"),
    ({"signup.duration_seconds": "slow"}, "duration_seconds"),
])
def test_bad_input_is_a_400_naming_the_field(client: TestClient, change, field) -> None:
    r = client.post("/score_application", json=application_body("acct_badinput000001", **change),
                    headers=AUTH)
    assert r.status_code == 400
    assert field in r.text


def test_missing_field_oversized_body_and_unknown_account(client: TestClient) -> None:
    body = application_body("acct_missing0000001")
    del body["contact"]
    r = client.post("/score_application", json=body, headers=AUTH)
    assert r.status_code == 400 and "contact" in r.text
    huge = application_body("acct_huge000000001", **{"business.name": "x" * 400_000})
    assert client.post("/score_application", json=huge, headers=AUTH).status_code == 413
    r = client.post("/score_account", json={"account_id": "acct_doesnotexist"}, headers=AUTH)
    assert r.status_code == 404 and "acct_doesnotexist" in r.text
    assert client.post("/score_account", json={"account_id": ""}, headers=AUTH).status_code == 400


def test_batch_endpoint_scores_many_and_handles_empty(client: TestClient, sim_dir: Path) -> None:
    ids = pd.read_parquet(sim_dir / "accounts.parquet")["account_id"].head(5).tolist()
    r = client.post("/score_accounts", json={"account_ids": ids}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert [d["account_id"] for d in r.json()] == ids
    empty = client.post("/score_accounts", json={"account_ids": []}, headers=AUTH)
    assert empty.status_code == 200 and empty.json() == []


def test_fails_closed_when_the_model_cannot_score(client: TestClient, monkeypatch) -> None:
    from riskscore.serving.service import RUNTIME

    def broken(*_a, **_k):
        raise RuntimeError("booster exploded")

    monkeypatch.setattr(RUNTIME.scorer.model, "predict_proba", broken)
    r = client.post("/score_application", json=application_body("acct_failclosed0001"),
                    headers=AUTH)
    assert r.status_code == 200
    decision = r.json()
    assert decision["action"] == "manual_review" and decision["score"] is None
    assert any(reason["code"] == "MODEL_UNAVAILABLE" for reason in decision["reasons"])


def test_a_decision_the_audit_log_refuses_is_a_503_not_an_answer(
        client: TestClient, monkeypatch) -> None:
    import sqlite3

    def refuse(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("riskscore.scoring.insert_rows", refuse)
    r = client.post("/score_application", json=application_body("acct_unlogged0000001"),
                    headers=AUTH)
    assert r.status_code == 503  # BentoML keeps a 5xx's message to the server log
    assert client.post("/score_account", json={"account_id": "acct_unlogged0000001"},
                       headers=AUTH).status_code == 503
    monkeypatch.undo()  # the application was recorded: it is now a stored account
    r = client.post("/score_account", json={"account_id": "acct_unlogged0000001"},
                    headers=AUTH)
    assert r.status_code == 200 and r.json()["account_id"] == "acct_unlogged0000001"


def test_stripe_event_rescores_the_account_and_queues_its_action(
        client: TestClient, sim_dir: Path, served_store) -> None:
    import json
    import time

    from benchmarks.stripe_stream import sign
    from sqlalchemy import text

    account_id = pd.read_parquet(sim_dir / "accounts.parquet")["account_id"].iloc[10]
    charge = json.loads((Path(__file__).parents[1] / "integrations" / "stripe" / "fixtures"
                         / "charge.json").read_text())
    charge.update(id="ch_service_test_1", amount=125_000, created=int(time.time()) - 60)
    event = {"id": "evt_service_test_1", "object": "event", "type": "charge.succeeded",
             "created": int(time.time()) - 30, "account": account_id, "livemode": False,
             "api_version": "2025-01-27", "data": {"object": charge}}
    payload = json.dumps(event).encode()
    unsigned = client.post("/stripe/webhooks", content=payload)
    assert unsigned.status_code == 400
    r = client.post("/stripe/webhooks", content=payload,
                    headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET),
                             "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    engine = make_engine(served_store)
    with engine.connect() as conn:
        decision = conn.execute(text(
            "SELECT decision_id, action FROM decisions WHERE account_id = :a "
            "AND actor = 'stripe-webhook'"), {"a": account_id}).one()
        queued = conn.execute(text("SELECT count(*) FROM stripe_actions WHERE decision_id = :d"),
                              {"d": decision.decision_id}).scalar()
    assert queued >= 1  # dry-run by default: recorded, not sent


def test_access_log_and_tracing_of_scoring_routes_are_off_unless_asked_for() -> None:
    from riskscore.serving.service import SCORING_ROUTES, service_config
    from riskscore.settings import Settings

    quiet = service_config(Settings())
    assert quiet["logging"]["access"]["enabled"] is False
    assert set(quiet["tracing"]["excluded_urls"]) == set(SCORING_ROUTES)
    assert quiet["workers"] == 2 and quiet["traffic"]["max_concurrency"] == 512
    loud = service_config(Settings(serving_access_log=True, serving_tracing=True))
    assert loud["logging"]["access"]["enabled"] is True and "tracing" not in loud


def test_several_workers_keep_a_small_store_cache() -> None:
    """Another worker's commit empties a SQLite connection's cache: with several workers a
    large warmed one would only be lost, and cost its reset."""
    from riskscore.serving.service import SHARED_STORE_CACHE_MIB, store_cache_mib
    from riskscore.settings import Settings

    assert store_cache_mib(Settings(serving_workers=1)) == 4096
    assert store_cache_mib(Settings(serving_workers=2)) == SHARED_STORE_CACHE_MIB
    assert store_cache_mib(Settings(serving_workers=2, serving_store_cache_mib=64)) == 64
