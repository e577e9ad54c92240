"""The floor under the scoring service: BentoML with the scoring service's configuration,
IO types and auth middleware, answering a fixed decision instead of scoring. What it
costs per request is what BentoML itself costs on this machine (bench_serving runs it)."""

from __future__ import annotations

from datetime import UTC, datetime

import bentoml

from riskscore.contracts import Action, Application, Decision, Reason, RiskLevel
from riskscore.serving.auth import GuardMiddleware, KeyRing
from riskscore.serving.connections import KeepAliveLimit
from riskscore.serving.service import service_config
from riskscore.settings import get_settings

REASONS = [Reason(code="RISK_SCORE", message="The model's risk score is low.", source="model",
                  contribution=-1.5)] * 3


@bentoml.service(name="riskscore-floor", **service_config(get_settings()))
class Floor:
    """``POST /score_application``: validates the application, answers a fixed decision."""

    @bentoml.api(route="/score_application")
    def score_application(self, application: Application, /,
                          ctx: bentoml.Context) -> Decision:
        return Decision(account_id=application.account_id, score=0.01,
                        risk_level=RiskLevel.LOW, action=Action.APPROVE, delay_days=0,
                        reasons=REASONS, model_version="floor", policy_version="floor",
                        scored_at=datetime.now(UTC))


_settings = get_settings()
Floor.add_asgi_middleware(GuardMiddleware, keys=KeyRing(_settings.api_keys),
                          max_bytes=_settings.max_request_bytes)
Floor.add_asgi_middleware(KeepAliveLimit, requests=_settings.serving_keepalive_requests)
