"""Fixtures of the Stripe tests: a migrated store (SQLite, and PostgreSQL when reachable),
settings with a webhook secret, signed deliveries of events built from Stripe's examples."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from benchmarks.stripe_stream import sign
from pydantic import SecretStr

from riskscore.integrations.stripe import WebhookProcessor
from riskscore.settings import Settings
from riskscore.store import IdentifierHasher
from store.conftest import engine, postgres_problem, session  # noqa: F401 - shared fixtures

FIXTURES = Path(__file__).with_name("fixtures")
SECRET = "whsec_test_secret"
ACCOUNT = "acct_1PgafTB7WZ01zgkW"
T0 = 1_735_689_600  # 2025-01-01T00:00:00Z


def fixture(name: str, **changes: Any) -> dict[str, Any]:
    """A Stripe example object with fields replaced."""
    obj = json.loads((FIXTURES / f"{name}.json").read_text())
    obj.update(changes)
    return obj


def event(type_: str, obj: dict[str, Any], *, created: int = T0, event_id: str | None = None,
          account: str | None = ACCOUNT, previous: dict[str, Any] | None = None) -> dict:
    data: dict[str, Any] = {"object": copy.deepcopy(obj)}
    if previous is not None:
        data["previous_attributes"] = previous
    body = {"id": event_id or f"evt_{type_}_{created}_{obj.get('id')}", "object": "event",
            "created": created, "type": type_, "livemode": False, "data": data,
            "api_version": "2025-01-27"}
    if account is not None:
        body["account"] = account
    return body


def account_event(created: int = T0, **changes: Any) -> dict:
    obj = fixture("account", created=T0 - 86_400, business_type="company", **changes)
    obj["business_profile"]["mcc"] = "5734"
    return event("account.updated", obj, created=created)


@pytest.fixture
def settings() -> Settings:
    return Settings(stripe_webhook_secret=SecretStr(SECRET))


@pytest.fixture
def hasher() -> IdentifierHasher:
    return IdentifierHasher(b"stripe-tests-key")


class Recorder:
    """A recording ``on_risk_event``."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[str, datetime]] = []
        self.fail = fail

    def __call__(self, account_id: str, as_of: datetime) -> None:
        self.calls.append((account_id, as_of))
        if self.fail:
            raise RuntimeError("scorer down")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def deliver(engine, settings, recorder, hasher) -> Callable[..., Any]:  # noqa: F811
    processor = WebhookProcessor(engine, settings, recorder, hasher)

    def send(body: dict | bytes, signature: str | None = "sign") -> Any:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        header = sign(payload, SECRET) if signature == "sign" else signature
        return processor.process(payload, header)

    return send
