"""The webhook route over real HTTP semantics (Starlette's test client)."""

import json
import warnings

import pytest
from benchmarks.stripe_stream import sign

from riskscore.integrations.stripe import ConfigurationError
from riskscore.serving.webhooks import webhook_app
from riskscore.settings import Settings

from .conftest import SECRET, account_event

with warnings.catch_warnings():  # starlette asks for httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@pytest.fixture
def client(engine, settings, recorder):
    return TestClient(webhook_app(engine, settings, recorder))


def test_signed_event_is_accepted(client, recorder):
    body = json.dumps(account_event()).encode()
    response = client.post("/webhooks", content=body, headers={"Stripe-Signature": sign(
        body, SECRET)})
    assert response.status_code == 200 and response.json()["outcome"] == "applied"
    assert len(recorder.calls) == 1


def test_unsigned_is_400_and_too_large_is_413(client, settings):
    body = json.dumps(account_event()).encode()
    assert client.post("/webhooks", content=body).status_code == 400
    big = b"x" * (settings.stripe_webhook_max_body_bytes + 1)
    response = client.post("/webhooks", content=big, headers={"Stripe-Signature": sign(
        big, SECRET)})
    assert response.status_code == 413


def test_no_secret_no_endpoint(engine):
    with pytest.raises(ConfigurationError, match="WEBHOOK_SECRET"):
        webhook_app(engine, Settings(stripe_webhook_secret=None))
