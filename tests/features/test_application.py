from datetime import UTC, date, datetime

import pandas as pd

from riskscore.features.application import APPLICATION_FEATURES, application_features
from riskscore.features.identity import change_identifiers, identity_table
from riskscore.store.hashing import IdentifierHasher

GOOD = {
    "account_id": "acct_1", "country": "GB", "business_type": "company", "mcc": "5812",
    "business_name": "Bright Line Kitchen Ltd", "website": "https://www.brightline.co.uk/",
    "email": " Hello@BrightLine.co.uk", "phone": "07400 123456",
    "address_line1": "12 High Street", "tax_id": "GB123456789", "bank_fingerprint": "abc",
    "bank_account_holder_name": "BRIGHT LINE KITCHEN LTD",
    "representative_first_name": "Amelia", "representative_last_name": "Jones",
    "representative_dob": date(1980, 5, 1), "social_profiles": ["https://x.com/brightline"],
    "licence_number": None, "verification_status": "verified", "verification_failures": 0,
    "created_at": datetime(2025, 6, 1, 12, tzinfo=UTC),
}
SIGNUP = {"ip_type": "residential", "ip_country": "GB",
          "started_at": datetime(2025, 6, 1, 11, 50, tzinfo=UTC),
          "completed_at": datetime(2025, 6, 1, 12, tzinfo=UTC)}


def test_a_clean_business_application() -> None:
    f = application_features(GOOD, SIGNUP)
    assert set(f) == set(APPLICATION_FEATURES)
    assert f["email_free_provider"] == 0 and f["email_disposable"] == 0
    assert f["email_domain_matches_website"] == 1  # .co.uk handled by the public suffix list
    assert f["has_website"] == 1 and f["social_profile_count"] == 1
    assert f["phone_valid"] == 1 and f["phone_country_mismatch"] == 0
    assert f["bank_holder_similarity"] == 100
    assert f["verification_status"] == 0
    assert 44 < f["representative_age"] < 46
    assert f["signup_session_seconds"] == 600 and f["signup_hour_utc"] == 12
    assert f["licence_required"] == 0 and f["licence_missing"] == 0


def test_warning_signs_are_seen() -> None:
    risky = {**GOOD, "email": "xk.qz+12@mailinator.com", "website": "https://other-shop.com",
             "phone": "+234 801 234 5678", "mcc": "5921", "licence_number": None,
             "bank_account_holder_name": "Somebody Else", "verification_status": "failed",
             "verification_failures": 3}
    f = application_features(risky, {**SIGNUP, "ip_type": "datacenter", "ip_country": "US"})
    assert f["email_disposable"] == 1 and f["email_domain_matches_website"] == -1
    assert f["phone_country_mismatch"] == 1
    assert f["licence_required"] == 1 and f["licence_missing"] == 1
    assert f["bank_holder_similarity"] < 50
    assert f["name_email_similarity"] < 60
    assert f["verification_status"] == 3 and f["verification_failures"] == 3
    assert f["signup_ip_type"] == 2 and f["signup_ip_foreign"] == 1


def test_mismatched_business_domain() -> None:
    f = application_features({**GOOD, "email": "sales@brightline-shop.com"}, SIGNUP)
    assert f["email_domain_matches_website"] == 0


def test_missing_optional_fields_do_not_break() -> None:
    minimal = {"account_id": "a", "country": "US", "business_type": "individual", "mcc": "5999",
               "business_name": "X", "email": "x@gmail.com",
               "created_at": datetime(2025, 1, 1, tzinfo=UTC)}
    f = application_features(minimal)
    assert f["phone_present"] == 0 and f["has_website"] == 0 and f["bank_holder_similarity"] == -1
    assert f["signup_ip_type"] == -1 and f["representative_age"] == -1


def test_identity_table_matches_row_function_and_caches(tmp_path) -> None:
    accounts = pd.DataFrame([GOOD, {**GOOD, "account_id": "acct_2", "email": "a@gmail.com"}])
    sessions = pd.DataFrame([{**SIGNUP, "account_id": "acct_2"},
                             {**SIGNUP, "account_id": "acct_1"}])
    hasher = IdentifierHasher(b"k")
    cache = tmp_path / "cache.parquet"
    table = identity_table(accounts, sessions, hasher, cache)
    assert list(table.account_id) == ["acct_1", "acct_2"]
    row = table.set_index("account_id").loc["acct_2", list(APPLICATION_FEATURES)]
    assert row.to_dict() == application_features(accounts.iloc[1].to_dict(), SIGNUP)
    assert table.id_email.iloc[1] == hasher.hash("email", "a@gmail.com")
    assert "a@gmail.com" not in cache.read_bytes().decode("latin-1")  # hashes only
    changed = accounts.assign(email=["x@mailinator.com", "a@gmail.com"])
    again = identity_table(changed, sessions, hasher, cache)
    assert again.email_disposable.tolist() == [1.0, 0.0]  # a changed application is redone


def test_change_identifiers_cache_phone_hashes_without_raw_values(tmp_path, monkeypatch) -> None:
    changes = pd.DataFrame({"change_type": ["phone", "email", "password", "phone"],
                            "new_value": ["07400 123456", "A@Gmail.com", None, "nonsense"],
                            "country": ["GB", "GB", "GB", "US"]})
    hasher = IdentifierHasher(b"k")
    cache = tmp_path / "phones.parquet"
    want = [hasher.change_value(t, v, c) for t, v, c in changes.itertuples(index=False)]
    assert change_identifiers(changes, hasher, cache) == want
    assert "07400" not in cache.read_bytes().decode("latin-1")  # keyed digests and hashes only
    fresh = IdentifierHasher(b"k")
    monkeypatch.setattr(fresh, "hash", lambda kind, *parts: (
        (_ for _ in ()).throw(AssertionError("parsed again")) if kind == "phone"
        else hasher.hash(kind, *parts)))
    assert change_identifiers(changes, fresh, cache) == want  # phones come from the cache


def test_many_applications_on_worker_processes_equal_one_process(sim_dir, monkeypatch) -> None:
    """A first run computes every application: on worker processes (in chunks) the table
    is the one a single process computes, in the same order, hashed with the same key."""
    from riskscore.features import identity

    accounts = pd.read_parquet(sim_dir / "accounts.parquet").head(600)
    sessions = pd.read_parquet(sim_dir / "signup_sessions.parquet")
    sessions = sessions[sessions.account_id.isin(accounts.account_id)].iloc[::-1]
    hasher = IdentifierHasher(b"another key")
    alone = identity._compute(accounts, sessions, hasher, workers=1)
    monkeypatch.setattr(identity, "PARALLEL_MIN_ROWS", 100)
    pooled = identity._compute(accounts, sessions, hasher, workers=2)
    pd.testing.assert_frame_equal(pooled, alone)
    assert pooled.id_email.iloc[0] == hasher.hash("email", accounts.email.iloc[0])
    assert alone.phone_valid.sum() > 100
