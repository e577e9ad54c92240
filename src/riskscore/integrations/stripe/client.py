"""The official ``stripe`` client, configured from settings, and bounded retries.

The library's own retries are switched off (it does not retry HTTP 429 and waits at least
0.5 s per retry): :func:`call_with_retries` retries 429, 5xx and network errors with
exponential backoff, bounded in count and in total waiting time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import stripe

from riskscore.settings import Settings, get_settings
from riskscore.store.errors import InvalidData

T = TypeVar("T")


def stripe_client(settings: Settings | None = None) -> stripe.StripeClient:
    """A client for the settings' API key and base URL; raises :class:`InvalidData` when no
    ``stripe_api_key`` is set."""
    settings = settings or get_settings()
    if settings.stripe_api_key is None:
        raise InvalidData("RISKSCORE_STRIPE_API_KEY is not set")
    bases: dict[str, str] = {}
    if settings.stripe_api_base:
        bases["api"] = settings.stripe_api_base.rstrip("/")
    return stripe.StripeClient(
        settings.stripe_api_key.get_secret_value(), base_addresses=bases,  # type: ignore[arg-type]
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )


def is_transient(error: stripe.StripeError) -> bool:
    """Worth retrying: rate limited (429), a Stripe-side error (5xx) or no answer at all."""
    if isinstance(error, stripe.APIConnectionError):
        return True
    status = error.http_status or 0
    return status == 429 or status >= 500


def call_with_retries(
    call: Callable[[], T],
    settings: Settings | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """Run ``call``, retrying transient errors (:func:`is_transient`) up to
    ``stripe_max_retries`` times with delays doubling from ``stripe_retry_initial_seconds``,
    while the total delay stays within ``stripe_retry_budget_seconds``.

    Returns the result and the number of attempts; re-raises the last error when out of
    retries or time, or at once for a non-transient error.
    """
    settings = settings or get_settings()
    delay, waited, attempt = settings.stripe_retry_initial_seconds, 0.0, 0
    while True:
        attempt += 1
        try:
            return call(), attempt
        except stripe.StripeError as exc:
            out_of_retries = attempt > settings.stripe_max_retries
            out_of_time = waited + delay > settings.stripe_retry_budget_seconds
            if not is_transient(exc) or out_of_retries or out_of_time:
                exc.riskscore_attempts = attempt  # type: ignore[attr-defined]
                raise
        sleep(delay)
        waited += delay
        delay *= 2
