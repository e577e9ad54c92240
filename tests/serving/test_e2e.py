"""The real service end to end: ``riskscore serve`` in a subprocess, called over HTTP.

The server listens on a free loopback port (so parallel test workers never clash), the
wait for readiness is bounded, and the server and its workers are stopped when the
module ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from benchmarks.service_process import ServiceFailed, start_service, stop_service

from .bodies import application_body

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("trained")]
AUTH = {"Authorization": "Bearer test-key-1"}
READY_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def base_url(trained, served_store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``riskscore serve`` with this worker's champion and store, on a free loopback port."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    try:
        process, base = start_service(os.environ.copy(), log, READY_TIMEOUT_S)
    except ServiceFailed as exc:
        pytest.fail(str(exc))
    try:
        yield base
    finally:
        stop_service(process)


@pytest.fixture()
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30.0) as c:
        yield c


def test_probes_and_openapi(client: httpx.Client) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/livez").status_code == 200
    assert "/score_application" in client.get("/docs.json").json()["paths"]
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "bentoml" in metrics.text


def test_application_scored_over_http(client: httpx.Client) -> None:
    r = client.post("/score_application", json=application_body("acct_e2e_new_000001"),
                    headers=AUTH)
    assert r.status_code == 200, r.text
    decision = r.json()
    assert decision["account_id"] == "acct_e2e_new_000001"
    assert decision["action"] in {"approve", "delay_payouts", "manual_review", "pause_payouts",
                                  "reject"}
    assert 0.0 <= decision["score"] <= 1.0
    assert decision["model_version"].startswith("riskscore/v")
    assert decision["policy_version"] and decision["decision_id"]
    # Recorded in the store: the account can now be rescored by id.
    again = client.post("/score_account", json={"account_id": "acct_e2e_new_000001"},
                        headers=AUTH)
    assert again.status_code == 200 and again.json()["account_id"] == "acct_e2e_new_000001"


def test_no_key_is_401(client: httpx.Client) -> None:
    body = application_body("acct_e2e_noauth_001")
    assert client.post("/score_application", json=body).status_code == 401
    assert client.post("/score_application", json=body,
                       headers={"X-API-Key": "not-a-key"}).status_code == 401


def test_bad_field_is_400_naming_it(client: httpx.Client) -> None:
    r = client.post("/score_application", headers=AUTH,
                    json=application_body("acct_e2e_bad_00001", **{"contact.email": "nope"}))
    assert r.status_code == 400 and "email" in r.text
    assert "Traceback" not in r.text


def test_unknown_account_is_404(client: httpx.Client) -> None:
    r = client.post("/score_account", json={"account_id": "acct_e2e_nobody"}, headers=AUTH)
    assert r.status_code == 404 and "acct_e2e_nobody" in r.text


def test_batch_endpoint(client: httpx.Client, sim_dir: Path) -> None:
    ids = pd.read_parquet(sim_dir / "accounts.parquet")["account_id"].iloc[20:30].tolist()
    r = client.post("/score_accounts", json={"account_ids": ids}, headers=AUTH)
    assert r.status_code == 200, r.text
    decisions = r.json()
    assert [d["account_id"] for d in decisions] == ids
    assert all(0.0 <= d["score"] <= 1.0 for d in decisions)


def _concurrent_applications(base_url: str, prefix: str) -> None:
    """Concurrent callers (grouped into shared transactions by the service): every one
    gets its own decision or its own 409, and each application's velocity counts exactly
    the applications from its device recorded before it (and created before it: features
    are as of the application's own time)."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import text

    from riskscore.store.engine import make_engine

    ids = [f"{prefix}_{i:03d}" for i in range(24)]
    bodies = [application_body(i, **{"signup.device_id": f"dev_{prefix}"})
              for i in [*ids, ids[3]]]  # ids[3] twice: one of the two is a conflict

    def post(body: dict) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30.0) as c:
            return c.post("/score_application", json=body, headers=AUTH)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, bodies))
    assert sorted(r.status_code for r in answers) == [200] * len(ids) + [409]
    assert sorted(r.json()["account_id"] for r in answers if r.status_code == 200) == ids
    with make_engine().connect() as conn:
        recorded = conn.execute(text(
            "SELECT created_at, json_extract(onboarding_features, '$.signups_same_device_1d') "
            f"FROM accounts WHERE account_id LIKE '{prefix}_%' ORDER BY rowid")).all()
    assert len(recorded) == len(ids)
    assert [int(n) for _, n in recorded] == [
        sum(earlier < created for earlier, _ in recorded[:i])
        for i, (created, _) in enumerate(recorded)]


def test_concurrent_applications_each_answered_and_seen_by_later_ones(base_url: str) -> None:
    _concurrent_applications(base_url, "acct_e2e_conc")


def test_two_workers_are_ready_together_and_write_one_at_a_time(
        base_url: str, tmp_path: Path) -> None:
    """Two worker processes on one SQLite store: ``/readyz`` answers 200 only once both
    have loaded, and concurrent applications spread over both see each other exactly."""
    from riskscore.settings import get_settings

    try:
        process, base = start_service({**os.environ, "RISKSCORE_SERVING_WORKERS": "2"},
                                      tmp_path / "serve.log", READY_TIMEOUT_S)
    except ServiceFailed as exc:
        pytest.fail(str(exc))
    try:
        marks = [p for d in (get_settings().home / "run").glob(f"ready-{process.pid}")
                 for p in d.iterdir()]
        assert len(marks) == 2  # both workers marked ready before /readyz said so
        _concurrent_applications(base, "acct_e2e_two")
    finally:
        stop_service(process)
