"""Stripe events to store rows: parse a webhook body, then map the event's object into an
:class:`Effect` (movements, changes, identifiers, account state), hashed and ready to write.

Pure functions: nothing here touches the database or the network. Each mapped row carries
the event's ordering key (:func:`version_key`), so the writer can keep, for every Stripe
object, the state of the newest event whatever order events arrive in. The field mapping
is documented in ``docs/stripe.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from riskscore.store.errors import InvalidData
from riskscore.store.hashing import IdentifierHasher

Obj = Mapping[str, Any]


class EventError(InvalidData):
    """A webhook body that is not a usable Stripe event; the message names the field."""


@dataclass(frozen=True)
class StripeEvent:
    """The envelope fields of a Stripe v1 event that the mapping needs."""

    id: str
    type: str
    created: datetime
    account: str | None
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None


@dataclass
class Effect:
    """What one event changes in the store, for one connected account.

    ``account`` is the account row to create when absent (from ``account.updated``),
    ``status`` the account's state at Stripe; ``movements`` and ``changes`` are store rows
    (times as aware datetimes), ``identifiers`` ``(kind, hash, seen_at)`` triples.
    Movement rows may carry ``foreign_country``: the card's or merchant's country, turned
    into ``international`` against the account's country when written.
    """

    account_id: str
    version: str
    movements: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    identifiers: list[tuple[str, str, datetime]] = field(default_factory=list)
    account: dict[str, Any] | None = None
    status: dict[str, Any] | None = None

    def is_empty(self) -> bool:
        return not (self.movements or self.changes or self.identifiers or self.account
                    or self.status)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form (times as ISO strings), to park the effect in the store."""
        return json.loads(json.dumps(asdict(self), default=_iso))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Effect:
        def rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: _from_iso(k, v) for k, v in row.items()} for row in items]

        return cls(
            account_id=data["account_id"], version=data["version"],
            movements=rows(data["movements"]), changes=rows(data["changes"]),
            identifiers=[(k, h, datetime.fromisoformat(t)) for k, h, t in data["identifiers"]],
            account=rows([data["account"]])[0] if data["account"] else None,
            status=rows([data["status"]])[0] if data["status"] else None,
        )


_TIME_KEYS = frozenset({"ts", "created_at", "updated_at"})


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _from_iso(key: str, value: Any) -> Any:
    return datetime.fromisoformat(value) if key in _TIME_KEYS and value is not None else value


def parse_event(payload: bytes | str) -> StripeEvent:
    """The event in a webhook body; raises :class:`EventError` naming a missing or bad field."""
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError(f"request body is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise EventError("request body must be a JSON object (a Stripe event)")
    if body.get("object", "event") != "event":
        raise EventError(f"event.object must be 'event' (got {body.get('object')!r})")
    data = body.get("data")
    if not isinstance(data, dict):
        raise EventError("event.data is missing or not an object")
    obj = data.get("object")
    if not isinstance(obj, dict):
        raise EventError("event.data.object is missing or not an object")
    account = body.get("account")
    if account is not None and not isinstance(account, str):
        raise EventError("event.account must be a string (acct_...)")
    previous = data.get("previous_attributes")
    return StripeEvent(
        id=_str(body, "id", "event"), type=_str(body, "type", "event"),
        created=_time(body, "created", "event"), account=account, object=obj,
        previous_attributes=previous if isinstance(previous, dict) else None,
    )


def version_key(event: StripeEvent, rank: int = 0) -> str:
    """Ordering key of the state an event carries: its ``created`` second, then ``rank``
    (later lifecycle states rank higher, for events created in the same second), then the
    event id. Fixed width, so string order is this order in SQL too."""
    return f"{int(event.created.timestamp()):012d}.{rank:02d}.{event.id}"


def map_event(event: StripeEvent, hasher: IdentifierHasher) -> Effect | None:
    """The store effect of ``event``; ``None`` for a type the store keeps nothing of."""
    handler = HANDLERS.get(event.type)
    if handler is None:
        return None
    return handler(event, hasher)


# --- field access that names the field on failure ---------------------------------------

def _path(where: str, key: str) -> str:
    return f"{where}.{key}"


def _str(obj: Obj, key: str, where: str = "event.data.object") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise EventError(f"{_path(where, key)} is missing or not a non-empty string")
    return value


def _int(obj: Obj, key: str, where: str = "event.data.object") -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventError(f"{_path(where, key)} is missing or not an integer")
    return value


def _time(obj: Obj, key: str, where: str = "event.data.object") -> datetime:
    return datetime.fromtimestamp(_int(obj, key, where), UTC)


def _opt(obj: Obj | None, *keys: str) -> Any:
    """A nested optional value (``None`` when any level is absent)."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _account_of(event: StripeEvent, fallback: str | None = None) -> str:
    """The connected account: the event's ``account`` (Connect events), else ``fallback``."""
    account = event.account or fallback
    if not account:
        raise EventError("event.account is missing (expected a Connect event of a connected "
                         "account, acct_...)")
    return account


# --- movements -------------------------------------------------------------------------

def _movement(event: StripeEvent, type_: str, amount: int, *, status: str, rank: int,
              account_id: str | None = None, movement_id: str | None = None,
              **columns: Any) -> Effect | None:
    obj = event.object
    amount = abs(amount)
    account = _account_of(event, account_id)
    effect = Effect(account, version_key(event, rank))
    if amount > 0:  # a zero amount moves nothing the contract can hold (amount > 0)
        effect.movements.append({
            "movement_id": movement_id or _str(obj, "id"), "account_id": account,
            "ts": _time(obj, "created"), "type": type_, "amount": amount, "status": status,
            "instant": None, "international": None, "counterparty": None,
            "merchant_category": None, "related_id": None, "capture_kind": None,
            "return_code": None, "foreign_country": None, "stripe_version": effect.version,
            **columns,
        })
    return effect


def _status(value: Any, failed: frozenset[str]) -> str:
    return "failed" if value in failed else "succeeded"


def _rank(value: Any, terminal: frozenset[str]) -> int:
    return 1 if value in terminal else 0


_CHARGE_FAILED = frozenset({"failed"})
_CHARGE_FINAL = frozenset({"succeeded", "failed"})


def _charge(event: StripeEvent, hasher: IdentifierHasher) -> Effect | None:
    """A charge (card or other payment) into the account; with its listed refunds."""
    obj = event.object
    status = obj.get("status")
    captured = obj.get("amount_captured")
    amount = captured if obj.get("captured") and isinstance(captured, int) and captured > 0 \
        else _int(obj, "amount")
    effect = _movement(event, "charge", amount, status=_status(status, _CHARGE_FAILED),
                       rank=_rank(status, _CHARGE_FINAL),
                       foreign_country=_opt(obj, "payment_method_details", "card", "country"))
    assert effect is not None
    refunds = _opt(obj, "refunds", "data")
    for refund in refunds if isinstance(refunds, list) else []:
        if isinstance(refund, dict):
            nested = StripeEvent(event.id, event.type, event.created, event.account, refund,
                                 None)
            part = _refund(nested, hasher)
            if part is not None:
                effect.movements.extend(part.movements)
    return effect


_REFUND_FAILED = frozenset({"failed", "canceled"})
_REFUND_FINAL = frozenset({"succeeded", "failed", "canceled"})


def _refund(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    obj = event.object
    status = obj.get("status")
    return _movement(event, "refund", _int(obj, "amount"), status=_status(status, _REFUND_FAILED),
                     rank=_rank(status, _REFUND_FINAL), related_id=obj.get("charge"))


# Disputes that take no money (inquiries, prevented, won back) are stored as `failed`.
_DISPUTE_NO_MONEY = frozenset({"warning_needs_response", "warning_under_review",
                               "warning_closed", "prevented", "won"})
_DISPUTE_FINAL = frozenset({"won", "lost", "warning_closed", "prevented"})


def _dispute(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    obj = event.object
    status = obj.get("status")
    return _movement(event, "dispute", _int(obj, "amount"),
                     status=_status(status, _DISPUTE_NO_MONEY), rank=_rank(status, _DISPUTE_FINAL),
                     related_id=obj.get("charge"))


_PAYOUT_FAILED = frozenset({"failed", "canceled"})
_PAYOUT_RANK = {"pending": 0, "in_transit": 1, "paid": 2, "failed": 3, "canceled": 3}


def _payout(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    obj = event.object
    status = obj.get("status")
    destination = obj.get("destination")
    return _movement(event, "payout", _int(obj, "amount"), status=_status(status, _PAYOUT_FAILED),
                     rank=_PAYOUT_RANK.get(status, 0), instant=obj.get("method") == "instant",
                     counterparty=destination if isinstance(destination, str) else None)


def _transfer_reversed(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    """Reversals of a platform transfer take money back from the destination account:
    stored as ``refund`` movements (id of the reversal, related to the transfer)."""
    obj = event.object
    destination = obj.get("destination")
    account = _account_of(event, destination if isinstance(destination, str) else None)
    effect = Effect(account, version_key(event))
    reversals = _opt(obj, "reversals", "data")
    for reversal in reversals if isinstance(reversals, list) else []:
        if not isinstance(reversal, dict):
            continue
        nested = StripeEvent(event.id, event.type, event.created, account, reversal, None)
        part = _movement(nested, "refund", _int(reversal, "amount",
                                                "event.data.object.reversals.data[]"),
                         status="succeeded", rank=0, related_id=obj.get("id"),
                         counterparty="transfer_reversal")
        if part is not None:
            effect.movements.extend(part.movements)
    return effect


def _bank_counterparty(details: Any, hasher: IdentifierHasher) -> str | None:
    """A keyed hash of the other side's bank account (routing number and last 4), or the
    Stripe id of a financial account; never the raw bank details."""
    if not isinstance(details, Mapping):
        return None
    bank = details.get("us_bank_account")
    if isinstance(bank, Mapping):
        key = bank.get("fingerprint") or "|".join(
            str(bank.get(k) or "") for k in ("routing_number", "last4", "bank_name"))
        return hasher.hash("bank_account", key)
    fa = details.get("financial_account")
    return fa.get("id") if isinstance(fa, Mapping) else None


_TREASURY_FAILED = frozenset({"failed", "canceled", "returned"})
_TREASURY_FINAL = frozenset({"succeeded", "failed", "canceled", "returned", "posted",
                             "completed"})


def _received(type_: str) -> Callable[[StripeEvent, IdentifierHasher], Effect | None]:
    def handler(event: StripeEvent, hasher: IdentifierHasher) -> Effect | None:
        obj = event.object
        status = obj.get("status")
        return _movement(
            event, type_, _int(obj, "amount"), status=_status(status, _TREASURY_FAILED),
            rank=_rank(status, _TREASURY_FINAL),
            counterparty=_bank_counterparty(obj.get("initiating_payment_method_details"), hasher),
            return_code=obj.get("failure_code"),
        )
    handler.__doc__ = f"A treasury received {type_.split('_')[1]} into the financial account."
    return handler


def _credit_reversal(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    """Reversing a received credit returns the money to its sender: an ``ach_return``."""
    obj = event.object
    status = obj.get("status")
    return _movement(event, "ach_return", _int(obj, "amount"),
                     status=_status(status, _TREASURY_FAILED), rank=_rank(status, _TREASURY_FINAL),
                     related_id=obj.get("received_credit"))


def _debit_reversal(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    """The account disputed a received debit and gets the money back: a ``received_credit``
    related to the debit (counterparty ``debit_reversal``)."""
    obj = event.object
    status = obj.get("status")
    return _movement(event, "received_credit", _int(obj, "amount"),
                     status=_status(status, _TREASURY_FAILED), rank=_rank(status, _TREASURY_FINAL),
                     related_id=obj.get("received_debit"), counterparty="debit_reversal")


def _outbound(event: StripeEvent, hasher: IdentifierHasher) -> Effect | None:
    """An outbound transfer or payment out of the financial account."""
    obj = event.object
    status = obj.get("status")
    details = obj.get("destination_payment_method_details")
    country = _opt(details, "billing_details", "address", "country")
    return _movement(event, "outbound_transfer", _int(obj, "amount"),
                     status=_status(status, _TREASURY_FAILED), rank=_rank(status, _TREASURY_FINAL),
                     counterparty=_bank_counterparty(details, hasher)
                     or obj.get("destination_payment_method"),
                     foreign_country=country, return_code=_opt(obj, "returned_details", "code"))


# Stripe's issuing merchant categories that the features call gift-card or quasi-cash.
MERCHANT_CATEGORIES: dict[str, str] = {
    "gift_card_novelty_and_souvenir_shops": "gift_cards",
    "non_fi_stored_value_card_purchase_load": "gift_cards",
    "non_fi_money_orders": "quasi_cash",
    "financial_institutions": "quasi_cash",
    "wires_money_orders": "quasi_cash",
    "manual_cash_disbursements": "quasi_cash",
    "automated_cash_disburse": "quasi_cash",
}
_AUTH_FINAL = frozenset({"closed", "reversed", "expired"})


def _merchant(obj: Obj) -> dict[str, Any]:
    category = _opt(obj, "merchant_data", "category")
    return {"merchant_category": MERCHANT_CATEGORIES.get(category, category),
            "counterparty": _opt(obj, "merchant_data", "network_id"),
            "foreign_country": _opt(obj, "merchant_data", "country")}


def _authorization(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    obj = event.object
    amount = obj.get("amount") or _opt(obj, "pending_request", "amount") or 0
    if not isinstance(amount, int):
        raise EventError("event.data.object.amount is not an integer")
    status = obj.get("status")
    return _movement(event, "card_authorization", amount,
                     status="failed" if obj.get("approved") is False else "succeeded",
                     rank=_rank(status, _AUTH_FINAL), **_merchant(obj))


def _issuing_transaction(event: StripeEvent, _hasher: IdentifierHasher) -> Effect | None:
    """A card capture; one without an authorisation is a force capture. Card refunds
    (type ``refund``) have no contract movement type and are not stored."""
    obj = event.object
    if obj.get("type") != "capture":
        return Effect(_account_of(event), version_key(event))
    authorization = obj.get("authorization")
    return _movement(event, "card_capture", _int(obj, "amount"), status="succeeded", rank=0,
                     related_id=authorization,
                     capture_kind="normal" if authorization else "force", **_merchant(obj))


# --- account state and changes ---------------------------------------------------------

def contract_business_type(value: Any) -> str:
    """The contract's business type of a Stripe ``business_type``: ``individual`` and
    ``non_profit`` as they are; ``company``, ``government_entity`` and not-yet-chosen
    (null) as ``company``, the contract having no other value."""
    return value if value in ("individual", "non_profit") else "company"


def _account_updated(event: StripeEvent, hasher: IdentifierHasher) -> Effect | None:
    obj = event.object
    account_id = _str(obj, "id")
    if event.account not in (None, account_id):
        raise EventError(f"event.account {event.account!r} does not match "
                         f"event.data.object.id {account_id!r}")
    effect = Effect(account_id, version_key(event))
    created = obj.get("created")
    effect.account = {
        "account_id": account_id,
        "created_at": datetime.fromtimestamp(created, UTC) if isinstance(created, int)
        else event.created,
        "country": _str(obj, "country"),
        "business_type": contract_business_type(obj.get("business_type")),
        "mcc": _opt(obj, "business_profile", "mcc") or "",
    }
    requirements = obj.get("requirements") or {}
    schedule = _opt(obj, "settings", "payouts", "schedule") or {}
    capabilities = obj.get("capabilities")
    effect.status = {
        "account_id": account_id, "stripe_version": effect.version, "updated_at": event.created,
        "charges_enabled": obj.get("charges_enabled"),
        "payouts_enabled": obj.get("payouts_enabled"),
        "details_submitted": obj.get("details_submitted"),
        "disabled_reason": requirements.get("disabled_reason"),
        "currently_due": len(requirements.get("currently_due") or []),
        "past_due": len(requirements.get("past_due") or []),
        "pending_verification": len(requirements.get("pending_verification") or []),
        "verification_status": _opt(obj, "individual", "verification", "status")
        or _opt(obj, "company", "verification", "document", "status"),
        "capabilities": dict(capabilities) if isinstance(capabilities, Mapping) else {},
        "payout_interval": schedule.get("interval"),
        "payout_delay_days": schedule.get("delay_days"),
    }
    country = effect.account["country"]
    seen = event.created
    address = _opt(obj, "business_profile", "support_address") or {}
    for kind, parts in (
        ("email", (obj.get("email"),)),
        ("phone", (_opt(obj, "business_profile", "support_phone"), country)),
        ("address", (address.get("line1"), address.get("city"), address.get("postal_code"),
                     address.get("country") or country)),
    ):
        value = hasher.hash(kind, *parts)
        if value is not None:
            effect.identifiers.append((kind, value, seen))
    externals = _opt(obj, "external_accounts", "data")
    for external in externals if isinstance(externals, list) else []:
        bank = hasher.hash("bank_account", _opt(external, "fingerprint"))
        if bank is not None:
            effect.identifiers.append(("bank_account", bank, seen))
    previous = event.previous_attributes or {}
    if "email" in previous and effect.identifiers and effect.identifiers[0][0] == "email":
        effect.changes.append(_change(account_id, event.created, "email",
                                      effect.identifiers[0][1], f"event:{event.id}"))
    return effect


def _change(account_id: str, ts: datetime, change_type: str, new_value_hash: str | None,
            source_id: str) -> dict[str, Any]:
    return {"account_id": account_id, "ts": ts, "change_type": change_type,
            "device_hash": None, "ip_hash": None, "new_value_hash": new_value_hash,
            "source_id": source_id}


def _external_account(event: StripeEvent, hasher: IdentifierHasher) -> Effect | None:
    """A payout bank account (or debit card) attached to the account: a ``bank_account``
    change, one per external account (its earliest event's time), and the new identifier."""
    obj = event.object
    fallback = obj.get("account")
    account_id = _account_of(event, fallback if isinstance(fallback, str) else None)
    value = hasher.hash("bank_account", _str(obj, "fingerprint"))
    effect = Effect(account_id, version_key(event))
    effect.changes.append(_change(account_id, event.created, "bank_account", value,
                                  f"external_account:{_str(obj, 'id')}"))
    if value is not None:
        effect.identifiers.append(("bank_account", value, event.created))
    return effect


Handler = Callable[[StripeEvent, IdentifierHasher], Effect | None]


def _types(prefix: str, *suffixes: str) -> list[str]:
    return [f"{prefix}.{s}" for s in suffixes]


HANDLERS: dict[str, Handler] = {
    "account.updated": _account_updated,
    **dict.fromkeys(_types("account.external_account", "created", "updated"), _external_account),
    **dict.fromkeys(_types("charge", "succeeded", "failed", "captured", "updated", "refunded"),
                    _charge),
    **dict.fromkeys([*_types("refund", "created", "updated", "failed"), "charge.refund.updated"],
                    _refund),
    **dict.fromkeys(_types("charge.dispute", "created", "updated", "closed", "funds_withdrawn",
                           "funds_reinstated"), _dispute),
    **dict.fromkeys(_types("payout", "created", "updated", "paid", "failed", "canceled"),
                    _payout),
    "transfer.reversed": _transfer_reversed,
    **dict.fromkeys(_types("treasury.received_credit", "created", "succeeded", "failed"),
                    _received("received_credit")),
    "treasury.received_debit.created": _received("received_debit"),
    **dict.fromkeys(_types("treasury.credit_reversal", "created", "posted"), _credit_reversal),
    **dict.fromkeys(_types("treasury.debit_reversal", "created", "completed",
                           "initial_credit_granted"), _debit_reversal),
    **dict.fromkeys([*_types("treasury.outbound_transfer", "created", "posted", "failed",
                             "canceled", "returned"),
                     *_types("treasury.outbound_payment", "created", "posted", "failed",
                             "canceled", "returned")], _outbound),
    **dict.fromkeys(_types("issuing_authorization", "created", "updated"), _authorization),
    **dict.fromkeys(_types("issuing_transaction", "created", "updated"), _issuing_transaction),
}
"""Event types the store keeps something of; every other type is acknowledged and ignored."""
