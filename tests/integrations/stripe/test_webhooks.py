import json
import random

from benchmarks.stripe_stream import deliveries, event_stream, in_order, sign, store_state
from sqlalchemy import func, select

from riskscore.features.online import account_online_features
from riskscore.integrations.stripe import WebhookProcessor
from riskscore.store import account_events
from riskscore.store.models import (
    Account,
    Change,
    Identifier,
    Movement,
    ParkedEvent,
    ProcessedEvent,
    StripeAccount,
)
from store.conftest import stored_text
from store.test_shared import wrong_flags

from .conftest import ACCOUNT, SECRET, T0, Recorder, account_event, event, fixture


def _count(engine, model):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def _movement(engine, movement_id):
    with engine.connect() as conn:
        return conn.execute(select(Movement).where(Movement.movement_id == movement_id)).first()


def test_account_then_charge_is_stored_and_scored(engine, deliver, recorder):
    assert deliver(account_event()).body["outcome"] == "applied"
    charge = fixture("charge", id="ch_1", amount=5_000, amount_captured=5_000, captured=True,
                     created=T0 + 10)
    charge["payment_method_details"]["card"]["country"] = "GB"
    result = deliver(event("charge.succeeded", charge, created=T0 + 10))
    assert (result.status, result.body["outcome"]) == (200, "applied")
    row = _movement(engine, "ch_1")
    assert (row.type, row.amount, row.status, row.international) == (
        "charge", 5_000, "succeeded", True)
    assert [c[0] for c in recorder.calls] == [ACCOUNT, ACCOUNT]
    with engine.connect() as conn:
        status = conn.execute(select(StripeAccount)).one()
    assert status.disabled_reason == "requirements.past_due" and status.currently_due == 6
    assert (status.payout_interval, status.payout_delay_days) == ("daily", 2)


def test_online_features_see_webhook_events(engine, deliver, session):
    deliver(account_event())
    deliver(event("payout.created", fixture("payout", id="po_1", amount=900, created=T0 + 5,
                                            status="pending"), created=T0 + 5))
    deliver(event("account.external_account.created",
                  fixture("bank_account", id="ba_new", account=ACCOUNT), created=T0 + 7))
    events = account_events(session, ACCOUNT, datetime_after(T0 + 100))
    assert events.movements.movement_id.tolist() == ["po_1"]
    assert events.changes.change_type.tolist() == ["bank_account"]
    assert events.changes.new_value.notna().all()
    features = account_online_features(session, ACCOUNT, datetime_after(T0 + 100))
    assert features["payout_count_30d"] == 1
    assert features["bank_account_change_count_30d"] == 1


def test_no_raw_pii_is_stored(engine, deliver):
    account = account_event()
    account["data"]["object"]["business_profile"]["support_phone"] = "+1 415 555 0100"
    account["data"]["object"]["external_accounts"]["data"] = [fixture("bank_account")]
    deliver(account)
    deliver(event("treasury.received_credit.created", fixture("treasury.received_credit"),
                  created=T0 + 1))
    text = " ".join(stored_text(engine))
    for raw in ("site@stripe.com", "4155550100", "AuoSJ18zsVWV9SPc", "110000000", "Jane"):
        assert raw not in text, raw


def datetime_after(seconds):
    from datetime import UTC, datetime
    return datetime.fromtimestamp(seconds, UTC)


def test_duplicate_delivery_changes_nothing(engine, deliver, recorder):
    body = account_event()
    assert deliver(body).body["outcome"] == "applied"
    before = store_state(engine)
    assert deliver(body).body == {"id": body["id"], "outcome": "duplicate"}
    assert store_state(engine) == before
    assert len(recorder.calls) == 1


def test_older_state_never_overwrites_newer(engine, deliver):
    deliver(account_event())
    payout = fixture("payout", id="po_9", amount=1_000, created=T0, status="pending")
    deliver(event("payout.failed", {**payout, "status": "failed"}, created=T0 + 60))
    deliver(event("payout.created", payout, created=T0 + 1))
    assert _movement(engine, "po_9").status == "failed"
    newer = account_event(created=T0 + 50, payouts_enabled=True)
    older = account_event(created=T0 + 40, payouts_enabled=False)
    deliver(newer)
    deliver(older)
    with engine.connect() as conn:
        assert conn.execute(select(StripeAccount.payouts_enabled)).scalar_one() is True


def test_events_before_their_account_are_parked_then_applied(engine, deliver, recorder):
    dispute = fixture("dispute", id="dp_1", amount=700, created=T0 + 3, status="lost")
    assert deliver(event("charge.dispute.closed", dispute, created=T0 + 3)).body[
        "outcome"] == "parked"
    assert _count(engine, ParkedEvent) == 1 and _movement(engine, "dp_1") is None
    assert recorder.calls == []
    deliver(account_event())
    row = _movement(engine, "dp_1")
    assert (row.type, row.status, row.related_id) == ("dispute", "succeeded",
                                                     "ch_1PgafuB7WZ01zgkWXYmPNZs8")
    assert _count(engine, ParkedEvent) == 0
    with engine.connect() as conn:
        outcomes = dict(conn.execute(select(ProcessedEvent.type, ProcessedEvent.outcome)).all())
    assert outcomes["charge.dispute.closed"] == "applied"


def test_bad_signature_stores_nothing(engine, deliver):
    body = json.dumps(account_event()).encode()
    wrong = sign(body, "whsec_other")
    stale = sign(body, SECRET, timestamp=T0)
    for header in (None, "", wrong, stale, "t=1,v1=abc"):
        result = deliver(body, signature=header)
        assert result.status == 400, header
        assert "Stripe-Signature" in result.body["error"]
    assert _count(engine, ProcessedEvent) == 0 and _count(engine, Account) == 0


def test_malformed_events_get_400_naming_the_field(engine, deliver):
    good = account_event()
    no_data = {k: v for k, v in good.items() if k != "data"}
    no_amount = event("payout.paid", {k: v for k, v in fixture("payout").items()
                                      if k != "amount"})
    cases = [(b"{not json", "not valid JSON"), (no_data, "event.data"),
             ({**good, "created": "yesterday"}, "event.created"),
             ({**good, "id": None}, "event.id"),
             (no_amount, "event.data.object.amount")]
    for body, field in cases:
        result = deliver(body)
        assert result.status == 400 and field in result.body["error"], (field, result)
    assert _count(engine, ProcessedEvent) == 0


def test_unknown_types_are_acknowledged_and_recorded_as_ignored(engine, deliver, recorder):
    result = deliver(event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    assert (result.status, result.body["outcome"]) == (200, "ignored")
    with engine.connect() as conn:
        assert conn.execute(select(ProcessedEvent.outcome)).scalar_one() == "ignored"
    assert recorder.calls == []


def test_callback_failure_does_not_lose_the_event(engine, settings, hasher, caplog):
    processor = WebhookProcessor(engine, settings, Recorder(fail=True), hasher)
    body = json.dumps(account_event()).encode()
    result = processor.process(body, sign(body, SECRET))
    assert result.status == 200 and _count(engine, Account) == 1
    assert "on_risk_event failed" in caplog.text


def test_bank_change_and_email_change_are_hashed(engine, deliver):
    deliver(account_event())
    bank = fixture("bank_account", id="ba_2", account=ACCOUNT, fingerprint="FP_NEW_123")
    deliver(event("account.external_account.created", bank, created=T0 + 5))
    deliver(event("account.external_account.updated", bank, created=T0 + 9))
    deliver(account_event(created=T0 + 20, email="new.owner@example.com")
            | {"id": "evt_email"} | {"data": {"object": fixture(
                "account", email="new.owner@example.com", created=T0),
                "previous_attributes": {"email": "site@stripe.com"}}})
    with engine.connect() as conn:
        changes = conn.execute(select(Change.change_type, Change.ts, Change.new_value_hash,
                                      Change.device_hash)).all()
        kinds = {k for (k,) in conn.execute(select(Identifier.kind))}
    assert sorted(c.change_type for c in changes) == ["bank_account", "email"]
    bank_change = next(c for c in changes if c.change_type == "bank_account")
    assert bank_change.ts == datetime_after(T0 + 5) and bank_change.device_hash is None
    assert {"bank_account", "email"} <= kinds
    stored = json.dumps([list(map(str, c)) for c in changes])
    assert "FP_NEW_123" not in stored and "new.owner" not in stored


def test_identifiers_shared_between_accounts_are_flagged(engine, deliver):
    """A bank account another account also uses gets the ``shared`` flag on both accounts'
    rows; the other account's own identifiers stay unflagged."""
    deliver(account_event())
    deliver(event("account.external_account.created", fixture("bank_account", account=ACCOUNT),
                  created=T0 + 2))
    other = fixture("account", id="acct_other", created=T0 - 86_400, email="solo@example.com",
                    business_profile={"mcc": "5734"})
    deliver(event("account.updated", other, created=T0 + 1, account="acct_other"))
    with engine.connect() as conn:
        assert not any(conn.execute(select(Identifier.shared).where(
            Identifier.account_id == "acct_other")).scalars())
    bank = fixture("bank_account", id="ba_3", account="acct_other")
    deliver(event("account.external_account.created", bank, created=T0 + 5, account="acct_other"))
    with engine.connect() as conn:
        flagged = conn.execute(select(Identifier.account_id, Identifier.kind)
                               .where(Identifier.shared)).all()
    assert wrong_flags(engine) == []
    assert sorted(flagged) == [(ACCOUNT, "bank_account"), ("acct_other", "bank_account")]


def test_every_risk_event_type_maps(engine, deliver):
    deliver(account_event())
    cases = {
        "refund.created": ("refund", fixture("refund", id="re_1", created=T0)),
        "transfer.reversed": None,
        "treasury.received_credit.created": ("received_credit",
                                             fixture("treasury.received_credit", created=T0)),
        "treasury.received_debit.created": ("received_debit",
                                            fixture("treasury.received_debit", created=T0)),
        "treasury.outbound_transfer.posted": ("outbound_transfer", fixture(
            "treasury.outbound_transfer", created=T0, status="posted")),
        "treasury.debit_reversal.completed": ("received_credit", fixture(
            "treasury.debit_reversal", created=T0)),
        "treasury.credit_reversal.posted": ("ach_return", fixture(
            "treasury.credit_reversal", created=T0, amount=300)),
        "issuing_authorization.created": ("card_authorization", fixture(
            "issuing.authorization", created=T0)),
        "issuing_transaction.created": ("card_capture", fixture(
            "issuing.transaction", created=T0)),
    }
    for type_, case in cases.items():
        if case is None:
            continue
        expected, obj = case
        assert deliver(event(type_, obj, created=T0 + 1)).body["outcome"] == "applied", type_
        row = _movement(engine, obj["id"])
        assert row is not None and row.type == expected and row.amount > 0, type_
    transfer = fixture("transfer", destination=ACCOUNT)
    transfer["reversals"] = {"object": "list", "data": [{"id": "trr_1", "amount": 400,
                                                         "created": T0}]}
    deliver(event("transfer.reversed", transfer, account=None, created=T0 + 2))
    assert _movement(engine, "trr_1").related_id == transfer["id"]
    received = fixture("treasury.received_credit")
    assert "6789" not in str(_movement(engine, received["id"]).counterparty)


def test_shuffled_duplicated_delivery_equals_in_order(engine, settings, hasher):
    events = event_stream(accounts=15, events_per_account=30, seed=5)
    processor = WebhookProcessor(engine, settings, None, hasher)
    for body in in_order(events):
        assert processor.process(body, sign(body, SECRET)).status == 200
    expected = store_state(engine)
    with engine.begin() as conn:
        for model in (ProcessedEvent, ParkedEvent, StripeAccount, Movement, Change, Identifier,
                      Account):
            conn.execute(model.__table__.delete())
    shuffled = deliveries(events, duplicate_share=0.1, seed=random.Random(1).randrange(99))
    assert len(shuffled) > len(events)
    for body in shuffled:
        assert processor.process(body, sign(body, SECRET)).status == 200
    assert store_state(engine) == expected
    assert len(expected["movements"]) > 100 and expected["parked"] == []
