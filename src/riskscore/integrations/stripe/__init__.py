"""Stripe integration: webhooks in (:mod:`.webhooks`, mapping in :mod:`.events`, store
writes in :mod:`.writer`), actions out (:mod:`.actions`), history backfill
(:mod:`.backfill`). Field mapping and semantics: ``docs/stripe.md``."""

from riskscore.integrations.stripe.actions import (
    ACTIONS,
    ActionRecord,
    ActionRequest,
    StripeActions,
    idempotency_key,
)
from riskscore.integrations.stripe.backfill import BackfillResult, backfill
from riskscore.integrations.stripe.client import call_with_retries, stripe_client
from riskscore.integrations.stripe.events import (
    HANDLERS,
    Effect,
    EventError,
    StripeEvent,
    map_event,
    parse_event,
)
from riskscore.integrations.stripe.webhooks import (
    ConfigurationError,
    RiskCallback,
    WebhookProcessor,
    WebhookResult,
    process_webhook,
)

__all__ = [
    "ACTIONS",
    "HANDLERS",
    "ActionRecord",
    "ActionRequest",
    "BackfillResult",
    "ConfigurationError",
    "Effect",
    "EventError",
    "RiskCallback",
    "StripeActions",
    "StripeEvent",
    "WebhookProcessor",
    "WebhookResult",
    "backfill",
    "call_with_retries",
    "idempotency_key",
    "map_event",
    "parse_event",
    "process_webhook",
    "stripe_client",
]
