"""Features whose inputs are absent are dropped and named, never faked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riskscore.dataset import validate_dataset
from riskscore.features.availability import (
    describe,
    dropped_when_absent,
    feature_inputs,
    markdown,
    missing_inputs,
)
from riskscore.features.batch import DroppedFeaturesWarning, compute_features
from riskscore.features.catalogue import feature_names

EXPECTED_DROPPED = {
    "phone_present", "phone_valid", "phone_country_mismatch", "shared_phone",
    "fraud_shared_phone", "has_tax_id", "shared_tax_id", "fraud_shared_tax_id",
    "social_profile_count", "licence_missing", "signup_ip_type", "signup_ip_foreign",
    "signup_session_seconds", "signups_same_device_1h", "platform_signup_ratio",
    "failed_payout_count_30d", "force_capture_count_90d", "foreign_ip_login_count_30d",
    "email_change_count_7d", "hours_since_bank_change", "payout_after_bank_change_count_30d",
    "changes_from_new_device_count_30d",
}


def test_every_feature_declares_its_inputs() -> None:
    assert set(feature_inputs()) == set(feature_names())
    assert feature_inputs()["dispute_rate_90d"] == ("movements", "movements.type")


def test_complete_data_supports_every_feature(sim_dir: Path) -> None:
    assert missing_inputs(validate_dataset(sim_dir)) == {}


def test_absent_inputs_drop_their_features_and_say_why(sim_dir, slim_dir) -> None:
    slim = slim_dir
    dropped = missing_inputs(validate_dataset(slim))
    assert set(dropped) >= EXPECTED_DROPPED
    assert dropped["phone_present"] == ["accounts.phone"]
    assert dropped["email_change_count_7d"] == ["changes"]
    assert dropped["licence_missing"] == ["accounts.licence_number"]
    assert {"email_free_provider", "shared_email", "balance", "login_count_7d",
            "new_device_login_count_7d", "dispute_rate_90d"}.isdisjoint(dropped)
    assert "accounts.phone absent -> phone_present, phone_valid" in describe(dropped)

    accounts = pd.read_parquet(sim_dir / "accounts.parquet", columns=["account_id", "created_at"])
    snaps = accounts.tail(300).assign(as_of=lambda d: d.created_at + pd.Timedelta(days=30))
    with pytest.warns(DroppedFeaturesWarning, match="accounts.phone absent"):
        got = compute_features(slim, snaps)
    full = compute_features(sim_dir, snaps)
    assert set(dropped).isdisjoint(got.columns)
    assert len(got.columns) == len(full.columns) - len(dropped)
    for name in ("charge_sum_30d", "login_count_30d", "shared_email", "has_website"):
        np.testing.assert_allclose(got[name], full[name])


def test_docs_list_what_each_absent_input_costs() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "data.md").read_text()
    assert markdown() in docs, "regenerate the table in docs/data.md (availability.markdown)"
    assert dropped_when_absent()["accounts.phone"][0] == "phone_present"
