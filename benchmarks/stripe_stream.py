"""A realistic stream of signed Stripe Connect webhook deliveries, and the store state to
compare runs by. Shared by the webhook benchmark and its (smaller) test.

Each account gets an ``account.updated``, a payout bank account, charges (some refunded
or disputed, disputes later closed), payouts (created then paid or failed), treasury
credits and outbound transfers, card authorisations and captures; a few events are of
types the store ignores. Event ``created`` times increase through the stream, so the
stream's own order is the in-order delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, select

from riskscore.store.models import (
    Account,
    Change,
    Identifier,
    Movement,
    ParkedEvent,
    ProcessedEvent,
    StripeAccount,
)

START = 1_735_689_600  # 2025-01-01T00:00:00Z


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value, computed as Stripe does."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class _Stream:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = START
        self.events: list[dict[str, Any]] = []
        self.n = 0

    def add(self, type_: str, obj: dict[str, Any], account: str | None,
            previous: dict[str, Any] | None = None) -> None:
        self.clock += self.rng.randint(1, 90)
        self.n += 1
        data: dict[str, Any] = {"object": obj}
        if previous is not None:
            data["previous_attributes"] = previous
        event = {"id": f"evt_{self.n:08d}", "object": "event", "api_version": "2025-01-27",
                 "created": self.clock, "type": type_, "livemode": False, "data": data,
                 "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}}
        if account is not None:
            event["account"] = account
        self.events.append(event)

    def uid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n:010d}{self.rng.randrange(16**6):06x}"


def _account(s: _Stream, account_id: str, email: str, interval: str) -> dict[str, Any]:
    return {
        "id": account_id, "object": "account", "type": "custom", "country": "US",
        "created": START, "email": email, "business_type": "company",
        "business_profile": {"mcc": "5734", "name": "Shop", "support_phone": "+14155550123",
                             "support_address": {"line1": "1 Main St", "city": "Austin",
                                                 "postal_code": "78701", "country": "US"}},
        "charges_enabled": True, "payouts_enabled": True, "details_submitted": True,
        "requirements": {"currently_due": [], "past_due": [], "pending_verification": [],
                         "disabled_reason": None},
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "settings": {"payouts": {"schedule": {"interval": interval, "delay_days": 2}}},
        "external_accounts": {"object": "list", "data": [], "has_more": False},
    }


def event_stream(accounts: int, events_per_account: int, seed: int = 0) -> list[dict]:
    """About ``accounts * events_per_account`` events, in order of ``created``."""
    s = _Stream(seed)
    ids = [f"acct_{i:08d}bench" for i in range(accounts)]
    for account_id in ids:
        s.add("account.updated", _account(s, account_id, f"owner{account_id}@shop.example",
                                          "daily"), account_id)
    while len(s.events) < accounts * events_per_account:
        account_id = s.rng.choice(ids)
        kind = s.rng.random()
        amount = s.rng.randint(100, 500_000)
        if kind < 0.35:
            charge = {"id": s.uid("ch"), "object": "charge", "amount": amount,
                      "amount_captured": amount, "captured": True, "created": s.clock,
                      "status": "succeeded", "payment_method_details": {
                          "type": "card", "card": {"country": s.rng.choice(["US", "US", "GB"])}}}
            s.add("charge.succeeded", charge, account_id)
            if s.rng.random() < 0.1:
                refund = {"id": s.uid("re"), "object": "refund", "amount": amount // 2,
                          "charge": charge["id"], "created": s.clock + 1, "status": "succeeded"}
                s.add("charge.refunded", {**charge, "amount_refunded": amount // 2,
                                          "refunds": {"object": "list", "data": [refund]}},
                      account_id)
            if s.rng.random() < 0.05:
                dispute = {"id": s.uid("dp"), "object": "dispute", "amount": amount,
                           "charge": charge["id"], "created": s.clock, "status": "needs_response"}
                s.add("charge.dispute.created", dispute, account_id)
                s.add("charge.dispute.closed",
                      {**dispute, "status": s.rng.choice(["won", "lost"])}, account_id)
        elif kind < 0.55:
            payout = {"id": s.uid("po"), "object": "payout", "amount": amount,
                      "created": s.clock, "status": "pending", "method": "standard",
                      "destination": "ba_dest"}
            s.add("payout.created", payout, account_id)
            final = "failed" if s.rng.random() < 0.05 else "paid"
            s.add(f"payout.{final}", {**payout, "status": final}, account_id)
        elif kind < 0.65:
            s.add("treasury.received_credit.created", {
                "id": s.uid("rc"), "object": "treasury.received_credit", "amount": amount,
                "created": s.clock, "status": "succeeded", "network": "ach",
                "initiating_payment_method_details": {"type": "us_bank_account",
                                                      "us_bank_account": {
                                                          "routing_number": "110000000",
                                                          "last4": f"{s.rng.randrange(10**4):04d}",
                                                          "bank_name": "BANK"}}}, account_id)
        elif kind < 0.72:
            transfer = {"id": s.uid("obt"), "object": "treasury.outbound_transfer",
                        "amount": amount, "created": s.clock, "status": "processing",
                        "destination_payment_method": "pm_x"}
            s.add("treasury.outbound_transfer.created", transfer, account_id)
            s.add("treasury.outbound_transfer.posted", {**transfer, "status": "posted"},
                  account_id)
        elif kind < 0.82:
            auth = {"id": s.uid("iauth"), "object": "issuing.authorization", "amount": amount,
                    "approved": True, "created": s.clock, "status": "closed",
                    "merchant_data": {"category": "gift_card_novelty_and_souvenir_shops",
                                      "country": "US", "network_id": "m1"}}
            s.add("issuing_authorization.created", auth, account_id)
            s.add("issuing_transaction.created", {
                "id": s.uid("ipi"), "object": "issuing.transaction", "amount": -amount,
                "authorization": auth["id"], "type": "capture", "created": s.clock,
                "merchant_data": auth["merchant_data"]}, account_id)
        elif kind < 0.86:
            s.add("account.external_account.created", {
                "id": s.uid("ba"), "object": "bank_account", "account": account_id,
                "fingerprint": s.uid("fp"), "last4": "6789"}, account_id)
        elif kind < 0.90:
            new_email = f"{s.uid('m')}@mail.example"
            s.add("account.updated", _account(s, account_id, new_email,
                                              s.rng.choice(["daily", "weekly"])),
                  account_id, previous={"email": "old@mail.example"})
        else:
            s.add(s.rng.choice(["customer.created", "invoice.paid", "plan.created"]),
                  {"id": s.uid("obj"), "object": "thing"}, account_id)
    return s.events


def deliveries(events: list[dict], duplicate_share: float, seed: int) -> list[bytes]:
    """The events as JSON bodies, with ``duplicate_share`` of them delivered twice, shuffled."""
    rng = random.Random(seed)
    bodies = [json.dumps(e).encode() for e in events]
    bodies += rng.sample(bodies, round(len(bodies) * duplicate_share))
    rng.shuffle(bodies)
    return bodies


def in_order(events: list[dict]) -> Iterator[bytes]:
    for event in events:
        yield json.dumps(event).encode()


def store_state(engine: Engine) -> dict[str, list[tuple]]:
    """What the events left in the store, comparable between runs (no receipt times or
    autoincrement ids)."""
    queries = {
        "accounts": select(Account.account_id, Account.created_at, Account.country,
                           Account.business_type, Account.mcc),
        "movements": select(*[c for c in Movement.__table__.columns]),
        "changes": select(Change.account_id, Change.ts, Change.change_type,
                          Change.new_value_hash, Change.source_id),
        "identifiers": select(*[c for c in Identifier.__table__.columns]),
        "stripe_accounts": select(*[c for c in StripeAccount.__table__.columns]),
        "processed_events": select(ProcessedEvent.event_id, ProcessedEvent.type,
                                   ProcessedEvent.outcome, ProcessedEvent.account_id),
        "parked": select(ParkedEvent.event_id),
    }
    with engine.connect() as conn:
        return {name: sorted(tuple(map(repr, row)) for row in conn.execute(query))
                for name, query in queries.items()}
