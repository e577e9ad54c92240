"""The riskscore BentoML service: onboarding and account decisions over HTTP.

- ``POST /score_application``: an onboarding application (the body is the application)
  -> decision; the application is recorded in the entity store.
- ``POST /score_account``: ``{"account_id": ...}`` -> decision from its stored history.
- ``POST /score_accounts``: many account ids at once (adaptive batching).
- ``POST /stripe/webhooks``: Stripe Connect events into the store (signature-checked);
  events that move risk rescore the account and hand the decision to Stripe actions.
- ``/livez``, ``/readyz`` (ready once model, policy and store are loaded in every
  worker), ``/metrics``
  (Prometheus), ``/docs`` (OpenAPI).

Every scoring call needs an API key (``RISKSCORE_API_KEYS``). When the model cannot
score, the answer is ``manual_review``, never ``approve``.
"""

from __future__ import annotations

import gc
import json
import logging
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

import bentoml
from pydantic import Field
from starlette.requests import Request

from riskscore.contracts import Application, Decision
from riskscore.scoring import STORE_TABLES, DecisionsNotLogged, Scorer
from riskscore.serving.auth import GuardMiddleware, KeyRing
from riskscore.serving.connections import KeepAliveLimit
from riskscore.serving.group_commit import ApplicationGroups, ShuttingDown
from riskscore.serving.readiness import WorkerReadiness
from riskscore.serving.recorder import (
    RecorderClient,
    RecorderOwner,
    RecorderUnavailable,
)
from riskscore.serving.recorder import connect as connect_recorder
from riskscore.settings import Settings, get_settings
from riskscore.store.engine import SQLITE_CACHE_MIB, warm_cache
from riskscore.store.errors import AccountNotFound, DuplicateAccount, InvalidData

log = logging.getLogger("riskscore.serving")
AccountId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
MAX_BATCH = 256
# A full batch is MAX_BATCH accounts at ~10-20 ms each: BentoML sheds (503) requests it
# expects to wait longer than this, so it sits between that and the 30 s request timeout.
BATCH_MAX_LATENCY_MS = 20_000
GC_THRESHOLDS = (700, 10, 100)
"""The collector's thresholds in the service: a full collection after 100 of the middle
generation's instead of 10. Requests make no cycles worth a pass (a full pass at 100
req/s collected 0-8 objects), but each pass walks everything allocated since start-up,
20-30 ms at 1M: every 2 s by default, the p99's worst pauses."""


SHARED_STORE_CACHE_MIB = 256
"""SQLite page cache of each worker's store connection when several workers write."""


def _server_workers(settings: Settings) -> int:
    """Workers of the server this instance runs in: one in-process (a test's ASGI client),
    where BentoML's server has not numbered it."""
    from bentoml._internal.context import server_context

    return settings.serving_workers if server_context.worker_index is not None else 1


def store_cache_mib(settings: Settings) -> int:
    """The page cache of this worker's store connection (MiB).

    SQLite drops a connection's whole page cache when another connection has written since
    its last transaction. With several workers each commit of one empties the others'
    caches, so a large warmed cache is lost at once, and the larger it is the longer the
    reset takes (at 1M, a group of 16 applications held the write lock 1.9 ms an
    application after another writer's commit with 4 GiB, 1.1-1.3 ms with 128-256 MiB).
    One worker keeps ``serving_store_cache_mib``; several keep a small one that holds the
    indexes' upper levels between commits.
    """
    if settings.serving_workers == 1:
        return settings.serving_store_cache_mib
    return min(settings.serving_store_cache_mib, SHARED_STORE_CACHE_MIB)


class Runtime:
    """What the service instance loaded; shared with the mounted webhook app."""

    readiness: WorkerReadiness | None = None
    scorer: Scorer | None = None
    groups: ApplicationGroups | None = None
    recorder: RecorderClient | None = None
    recorder_owner: RecorderOwner | None = None  # this worker started the recorder
    webhooks: Any = None
    actions: Any = None
    error: str | None = None


RUNTIME = Runtime()


async def stripe_webhooks(scope, receive, send) -> None:
    """ASGI entry for Stripe: forwards to the webhook app once the service has loaded."""
    if RUNTIME.webhooks is None:
        body = json.dumps({"error": "Stripe webhooks are not configured "
                                    "(RISKSCORE_STRIPE_WEBHOOK_SECRET)"}).encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    await RUNTIME.webhooks(scope, receive, send)


def _caller(ctx: bentoml.Context) -> str:
    request: Request = ctx.request
    return request.scope.get("state", {}).get("caller", "unknown")


def _not_ready() -> bentoml.exceptions.ServiceUnavailable:
    return bentoml.exceptions.ServiceUnavailable(
        f"riskscore is not ready: {RUNTIME.error or 'still loading'}")


def _not_logged(exc: DecisionsNotLogged, then: str) -> bentoml.exceptions.ServiceUnavailable:
    """503 for decisions the audit log did not take: none is returned unlogged. BentoML
    answers a 5xx with a generic message, so what to do next goes to the server log."""
    log.error("%s; %s", exc, then, exc_info=exc.__cause__)
    return bentoml.exceptions.ServiceUnavailable(f"{exc}; {then}")


SCORING_ROUTES = ("/score_application", "/score_account", "/score_accounts")


def service_config(settings: Settings) -> dict[str, Any]:
    """BentoML's configuration of the service: worker processes, load shedding, and
    per-request access log lines and tracing spans off unless asked for (together they
    cost more of the core than HTTP parsing and validation; docs/serving.md#performance)."""
    config: dict[str, Any] = {"traffic": {"timeout": 30, "max_concurrency": 512},
                              "workers": settings.serving_workers,
                              "logging": {"access": {"enabled": settings.serving_access_log}}}
    if not settings.serving_tracing:
        config["tracing"] = {"excluded_urls": list(SCORING_ROUTES)}
    return config


@bentoml.service(name="riskscore", **service_config(get_settings()))
class RiskScore:
    """Account-risk decisions for a payments platform."""

    def __init__(self) -> None:
        settings = get_settings()
        try:
            cache_mib = store_cache_mib(settings)
            scorer = Scorer.from_settings(settings, shadow=settings.shadow_challenger,
                                          cache_mib=cache_mib)
            scorer.checkpoint_in_background()  # before warm_cache: it reopens connections
            if cache_mib > SQLITE_CACHE_MIB:
                seconds = warm_cache(scorer.engine, STORE_TABLES)
                log.info("store indexes read into the page cache in %.1f s", seconds)
        except Exception as exc:  # not ready; /readyz says so and scoring answers 503
            log.exception("could not load the model, policy or store")
            RUNTIME.error = f"{type(exc).__name__}: {exc}"
            return
        RUNTIME.scorer = scorer
        RUNTIME.groups = ApplicationGroups(scorer, settings.serving_max_group,
                                           recorder=self._recorder(scorer, settings))
        self._wire_stripe(settings)
        # What is loaded by now (libraries, BentoML, model, policy) lives as long as the
        # process. Frozen out of the collector's sight, a full collection walks only what
        # requests allocate: at 1M and 100 req/s, full collections paused the service
        # for ~300 ms every few seconds (one in-process: 294 ms, frozen 22 ms).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        RUNTIME.readiness = WorkerReadiness(settings.home / "run", _server_workers(settings))
        RUNTIME.readiness.mark()

    @staticmethod
    def _recorder(scorer: Scorer, settings: Settings) -> RecorderClient | None:
        """This worker's client of the server's recorder process, which the first worker
        starts (SQLite, in BentoML's server, ``serving_recorder``); ``None``: record
        in-process (and so when the recorder does not start)."""
        if not (settings.serving_recorder and _server_workers(settings) > 1
                and scorer.engine.url.get_backend_name() == "sqlite"):
            return None
        try:
            RUNTIME.recorder, RUNTIME.recorder_owner = connect_recorder(
                scorer, settings, settings.home / "run")
        except RecorderUnavailable:
            log.exception("no store recorder: this worker records in-process")
            return None
        return RUNTIME.recorder

    @staticmethod
    def _wire_stripe(settings) -> None:
        from riskscore.integrations.stripe import StripeActions
        from riskscore.integrations.stripe.actions import ActionRequest
        from riskscore.serving.webhooks import webhook_app

        scorer = RUNTIME.scorer
        RUNTIME.actions = StripeActions(scorer.engine, settings)

        def on_risk_event(account_id: str, as_of: datetime) -> None:
            decision = scorer.score_account(account_id, "stripe-webhook", as_of)
            RUNTIME.actions.submit(ActionRequest(decision.decision_id, account_id,
                                                 str(decision.action),
                                                 decision.delay_days or None))

        if settings.stripe_webhook_secret is not None:
            RUNTIME.webhooks = webhook_app(scorer.engine, settings, on_risk_event)

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        """Score the applications already queued; hand the start-up objects back to the
        collector, so the interpreter's exit frees them (extension modules report what is
        still alive then as leaked)."""
        if RUNTIME.readiness is not None:
            RUNTIME.readiness.clear()
        if RUNTIME.groups is not None:
            RUNTIME.groups.close()
            RUNTIME.groups = None
        if RUNTIME.recorder is not None:
            RUNTIME.recorder.close()
        if RUNTIME.recorder_owner is not None:
            RUNTIME.recorder_owner.stop()
        gc.unfreeze()

    def __is_ready__(self) -> bool:
        """Model, policy and store loaded, in this worker and every other one."""
        return (RUNTIME.scorer is not None and RUNTIME.readiness is not None
                and RUNTIME.readiness.all_ready())

    @bentoml.api(route="/score_application")
    async def score_application(self, application: Application, /,
                                ctx: bentoml.Context) -> Decision:
        """Score a new onboarding application and record it."""
        if RUNTIME.groups is None:
            raise _not_ready()
        try:
            return await RUNTIME.groups.score(application, _caller(ctx))
        except DuplicateAccount as exc:
            raise bentoml.exceptions.BentoMLException(
                f"account_id {application.account_id!r} already exists; score it with "
                "/score_account", error_code=HTTPStatus.CONFLICT) from exc
        except InvalidData as exc:
            raise bentoml.exceptions.InvalidArgument(str(exc)) from exc
        except DecisionsNotLogged as exc:
            raise _not_logged(exc, "the application is recorded; rescore it with "
                                   "/score_account") from exc
        except ShuttingDown as exc:
            raise bentoml.exceptions.ServiceUnavailable(str(exc)) from exc

    @bentoml.api(route="/score_account")
    def score_account(self, account_id: AccountId, ctx: bentoml.Context) -> Decision:
        """Rescore a stored account from its history up to now."""
        if RUNTIME.scorer is None:
            raise _not_ready()
        try:
            return RUNTIME.scorer.score_account(account_id, _caller(ctx))
        except AccountNotFound as exc:
            raise bentoml.exceptions.NotFound(f"account_id {account_id!r} is not in the store"
                                              ) from exc
        except DecisionsNotLogged as exc:
            raise _not_logged(exc, "try again") from exc

    @bentoml.api(route="/score_accounts", batchable=True, max_batch_size=MAX_BATCH,
                 max_latency_ms=BATCH_MAX_LATENCY_MS)
    def score_accounts(self, account_ids: list[AccountId]) -> list[Decision]:
        """Many accounts at once; concurrent callers' requests are batched together.
        An unknown id answers 404 for the whole request."""
        if RUNTIME.scorer is None:
            raise _not_ready()
        if not account_ids:
            return []
        try:
            return RUNTIME.scorer.score_accounts(account_ids, "batch")
        except AccountNotFound as exc:
            raise bentoml.exceptions.NotFound(str(exc)) from exc
        except DecisionsNotLogged as exc:
            raise _not_logged(exc, "try again") from exc


_settings = get_settings()
RiskScore.add_asgi_middleware(GuardMiddleware, keys=KeyRing(_settings.api_keys),
                              max_bytes=_settings.max_request_bytes)
RiskScore.add_asgi_middleware(KeepAliveLimit, requests=_settings.serving_keepalive_requests)
RiskScore.mount_asgi_app(stripe_webhooks, path="/stripe")
