import sys
from datetime import UTC, datetime

import pandas as pd
from pydantic import SecretStr

from riskscore.dataset import validate_dataset
from riskscore.integrations.stripe import backfill, stripe_client
from riskscore.settings import Settings
from riskscore.store import load_dataset

from .conftest import T0, fixture
from .fake_api import FakeStripe


def _platform(api: FakeStripe, accounts: int = 5, charges: int = 7) -> None:
    for a in range(accounts):
        account_id = f"acct_{a:04d}"
        account = fixture("account", id=account_id, created=T0 - 1000 + a,
                          business_type=None if a == 0 else "individual",
                          email=f"owner{a}@shop.example")
        account["business_profile"]["mcc"] = "5734"
        account["external_accounts"]["data"] = [fixture("bank_account", fingerprint=f"fp{a}")]
        api.accounts[account_id] = account
        api.objects[(account_id, "charges")] = [
            fixture("charge", id=f"ch_{a}_{c}", amount=1_000 + c, created=T0 + c,
                    captured=True, amount_captured=1_000 + c) for c in range(charges)]
        api.objects[(account_id, "charges")].append(
            fixture("charge", id=f"ch_{a}_old", created=T0 - 10 * 86_400))
        api.objects[(account_id, "refunds")] = [fixture("refund", id=f"re_{a}", created=T0)]
        api.objects[(account_id, "disputes")] = [fixture("dispute", id=f"dp_{a}",
                                                         created=T0 + 5)]
        api.objects[(account_id, "payouts")] = [fixture("payout", id=f"po_{a}", created=T0 + 9,
                                                        status="failed")]


def test_backfill_writes_the_contract_and_loads(tmp_path, engine):
    with FakeStripe() as api:
        _platform(api)
        api.failures.append(429)  # the first page is rate limited once, then retried
        settings = Settings(stripe_api_key=SecretStr("sk_test_1"), stripe_api_base=api.url,
                            stripe_retry_initial_seconds=0.01)
        with_since = datetime.fromtimestamp(T0 - 86_400, UTC)
        result = backfill(stripe_client(settings), with_since, tmp_path / "data",
                          settings=settings)
        requests = list(api.requests)
    assert result.rows == {"accounts": 5, "movements": 5 * (7 + 3)}
    report = validate_dataset(tmp_path / "data")
    assert report.rows == {"accounts": 5, "movements": 50}
    movements = pd.read_parquet(tmp_path / "data" / "movements.parquet")
    assert "ch_0_old" not in set(movements.movement_id)  # before --since
    assert movements.groupby("type").size().to_dict() == {"charge": 35, "dispute": 5,
                                                          "payout": 5, "refund": 5}
    assert set(movements[movements.type == "payout"].status) == {"failed"}
    charge_pages = [r for r in requests if r["path"] == "/v1/charges"]
    assert {r["headers"]["Stripe-Account"] for r in charge_pages} == {f"acct_{a:04d}"
                                                                      for a in range(5)}
    accounts = pd.read_parquet(tmp_path / "data" / "accounts.parquet")
    assert accounts.business_type.tolist()[:2] == ["company", "individual"]
    assert accounts.bank_fingerprint.tolist()[0] == "fp0"
    written = load_dataset(tmp_path / "data", engine)
    assert written["movements"] == 50 and written["accounts"] == 5


def test_backfill_paginates(tmp_path, monkeypatch):
    module = sys.modules["riskscore.integrations.stripe.backfill"]
    monkeypatch.setattr(module, "PAGE_SIZE", 3)
    with FakeStripe() as api:
        _platform(api, accounts=7, charges=8)
        settings = Settings(stripe_api_key=SecretStr("sk_test_1"), stripe_api_base=api.url)
        result = backfill(stripe_client(settings), datetime.fromtimestamp(T0, UTC),
                          tmp_path / "d", settings=settings)
        account_pages = [r for r in api.requests if r["path"] == "/v1/accounts"]
    assert result.rows["accounts"] == 7 and len(account_pages) == 3
    assert result.rows["movements"] == 7 * (8 + 3)
    assert "starting_after" in account_pages[1]["query"]


def test_backfill_plus_own_labels_is_a_training_source(tmp_path):
    """The backfill writes contract tables; with the platform's labels added, features are
    computed from them, and what Stripe cannot supply is dropped and named, not faked."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pytest

    from riskscore.dataset import require_for_training
    from riskscore.features.availability import missing_inputs
    from riskscore.features.batch import DroppedFeaturesWarning, compute_features
    from riskscore.schema import LABELS

    with FakeStripe() as api:
        _platform(api)
        settings = Settings(stripe_api_key=SecretStr("sk_test_1"), stripe_api_base=api.url)
        backfill(stripe_client(settings), datetime.fromtimestamp(T0 - 86_400, UTC),
                 tmp_path / "data", settings=settings)
    known = datetime.fromtimestamp(T0 + 30 * 86_400, UTC)
    pq.write_table(pa.Table.from_pylist([
        {"account_id": f"acct_{a:04d}", "is_fraud": a == 1, "label_known_at": known if a == 1
         else None} for a in range(5)], schema=LABELS.schema), tmp_path / "data" /
        "labels.parquet")
    report = validate_dataset(tmp_path / "data")
    require_for_training(report)
    assert {"tax_id", "social_profiles", "licence_number"} <= set(report.empty_columns[
        "accounts"])
    dropped = missing_inputs(report)
    assert {"has_tax_id", "shared_tax_id", "social_profile_count", "licence_missing",
            "signup_ip_type", "login_count_7d", "email_change_count_7d"} <= set(dropped)
    assert {"shared_bank_account", "charge_sum_30d", "dispute_rate_90d",
            "email_free_provider"}.isdisjoint(dropped)
    snaps = pd.DataFrame({"account_id": [f"acct_{a:04d}" for a in range(5)],
                          "as_of": pd.Timestamp(T0 + 86_400, unit="s", tz="UTC")})
    with pytest.warns(DroppedFeaturesWarning):
        feats = compute_features(tmp_path / "data", snaps, report=report)
    assert set(dropped).isdisjoint(feats.columns)
    assert feats["charge_count_1d"].tolist() == [7.0] * 5
