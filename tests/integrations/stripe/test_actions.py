import pytest
from pydantic import SecretStr

from riskscore.integrations.stripe import ActionRequest, StripeActions, idempotency_key
from riskscore.settings import Settings
from riskscore.store import InvalidData

from .conftest import ACCOUNT, fixture
from .fake_api import FakeStripe


@pytest.fixture
def api():
    with FakeStripe() as fake:
        fake.accounts[ACCOUNT] = fixture("account")
        yield fake


def _live(api, **extra) -> Settings:
    return Settings(stripe_api_key=SecretStr("sk_test_123"), stripe_api_base=api.url,
                    stripe_live_actions=True, stripe_max_retries=2,
                    stripe_retry_initial_seconds=0.01, **extra)


def _sleeps():
    waited = []
    return waited, waited.append


def test_dry_run_records_calls_without_sending(engine, api):
    actions = StripeActions(engine, Settings(stripe_api_key=SecretStr("sk_test_123"),
                                             stripe_api_base=api.url))
    assert not actions.live
    records = actions.submit(ActionRequest("dec_1", ACCOUNT, "delay_payouts", delay_days=7))
    assert [(r.call, r.status) for r in records] == [("update_payout_schedule", "dry_run")]
    assert records[0].params["request"] == {"settings": {"payouts": {"schedule": {
        "delay_days": 7}}}}
    assert api.requests == []


def test_live_calls_carry_idempotency_keys(engine, api):
    actions = StripeActions(engine, _live(api))
    actions.submit(ActionRequest("dec_2", ACCOUNT, "pause_payouts"))
    actions.submit(ActionRequest("dec_3", ACCOUNT, "reject"))
    sent = [(r["path"], r["headers"].get("Idempotency-Key"), r["form"]) for r in api.requests]
    assert sent == [
        (f"/v1/accounts/{ACCOUNT}", idempotency_key("dec_2", "update_payout_schedule"),
         {"settings[payouts][schedule][interval]": ["manual"]}),
        (f"/v1/accounts/{ACCOUNT}/reject", idempotency_key("dec_3", "reject_account"),
         {"reason": ["fraud"]}),
    ]
    assert {r.status for r in actions.records(ACCOUNT)} == {"sent"}


def test_same_decision_twice_sends_once(engine, api):
    actions = StripeActions(engine, _live(api))
    request = ActionRequest("dec_4", ACCOUNT, "delay_payouts", delay_days=3)
    actions.submit(request)
    actions.submit(request)
    assert len(api.requests) == 1


def test_retry_then_success(engine, api):
    waited, sleep = _sleeps()
    api.failures.extend([429, 500])
    actions = StripeActions(engine, _live(api), sleep=sleep)
    [record] = actions.submit(ActionRequest("dec_5", ACCOUNT, "reject"))
    assert (record.status, record.attempts) == ("sent", 3)
    assert waited == [0.01, 0.02]  # exponential backoff
    keys = {r["headers"]["Idempotency-Key"] for r in api.requests}
    assert keys == {idempotency_key("dec_5", "reject_account")}


def test_retries_exhausted_stay_pending_then_retry_command_sends(engine, api):
    waited, sleep = _sleeps()
    api.failures.extend([503, 503, 503])
    actions = StripeActions(engine, _live(api), sleep=sleep)
    [record] = actions.submit(ActionRequest("dec_6", ACCOUNT, "pause_payouts"))
    assert (record.status, record.attempts) == ("pending", 3)
    assert "503" in record.last_error and len(waited) == 2
    [retried] = actions.retry_pending()
    assert (retried.status, retried.attempts) == ("sent", 4)


def test_refused_call_is_failed_not_retried(engine, api):
    api.failures.append(400)
    actions = StripeActions(engine, _live(api), sleep=lambda s: None)
    [record] = actions.submit(ActionRequest("dec_7", ACCOUNT, "reject"))
    assert record.status == "failed" and len(api.requests) == 1
    assert actions.retry_pending() == []


def test_manual_review_goes_to_an_operator_and_approve_restores_a_hold(engine, api, deliver):
    from .conftest import account_event
    deliver(account_event())  # Stripe reports: daily payouts, 2 days delay
    actions = StripeActions(engine, _live(api))
    assert [r.status for r in actions.submit(ActionRequest("d1", ACCOUNT, "approve"))] == [
        "skipped"]
    assert [r.status for r in actions.submit(ActionRequest("d2", ACCOUNT, "manual_review"))] \
        == ["operator"]
    actions.submit(ActionRequest("d3", ACCOUNT, "delay_payouts", delay_days=14))
    actions.submit(ActionRequest("d4", ACCOUNT, "pause_payouts"))
    [restore] = actions.submit(ActionRequest("d5", ACCOUNT, "approve"))
    assert restore.call == "restore_payout_schedule"
    assert restore.params["request"] == {"settings": {"payouts": {"schedule": {
        "interval": "daily", "delay_days": 2}}}}
    assert api.requests[-1]["form"] == {"settings[payouts][schedule][interval]": ["daily"],
                                        "settings[payouts][schedule][delay_days]": ["2"]}
    [again] = actions.submit(ActionRequest("d6", ACCOUNT, "approve"))
    assert again.status == "skipped"  # nothing of ours is held any more


@pytest.mark.parametrize("kwargs", [
    {"action": "freeze"}, {"action": "delay_payouts"}, {"action": "delay_payouts",
                                                        "delay_days": 0},
    {"action": "approve", "decision_id": ""},
])
def test_bad_requests_name_the_field(kwargs):
    fields = {"decision_id": "d", "account_id": ACCOUNT} | kwargs
    with pytest.raises(InvalidData, match="action|delay_days|decision_id"):
        ActionRequest(**fields)
