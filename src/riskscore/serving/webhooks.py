"""The Stripe webhook endpoint as a small Starlette app: ``POST /webhooks``.

The BentoML service mounts it with ``@bentoml.asgi_app(webhook_app(...), path="/stripe")``,
so Stripe posts to ``/stripe/webhooks``. The body is read up to the configured limit
(larger: 413, without reading the rest); the work runs in a thread, off the event loop.
"""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from riskscore.integrations.stripe.webhooks import RiskCallback, WebhookProcessor
from riskscore.settings import Settings


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_app(
    engine: Engine, settings: Settings | None = None, on_risk_event: RiskCallback | None = None
) -> Starlette:
    """An ASGI app receiving Stripe webhooks into the store at ``engine``.

    ``on_risk_event(account_id, as_of)`` is called after an event that changed an
    account's stored history is committed. Raises
    :class:`~riskscore.integrations.stripe.webhooks.ConfigurationError` without a signing
    secret.
    """
    processor = WebhookProcessor(engine, settings, on_risk_event)

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await _read_body(request, processor.max_body_bytes)
        except _TooLarge:
            return JSONResponse(
                {"error": f"request body exceeds {processor.max_body_bytes} bytes"}, 413
            )
        result = await run_in_threadpool(
            processor.process, body, request.headers.get("stripe-signature")
        )
        return JSONResponse(result.body, result.status)

    return Starlette(routes=[Route("/webhooks", receive, methods=["POST"])])
