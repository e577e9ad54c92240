import math
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from riskscore.store import (
    AccountNotFound,
    DuplicateAccount,
    InvalidData,
    account_profile,
    mark_known_fraud,
    record,
    record_application,
    save_onboarding_features,
)
from riskscore.store.models import Account, Base, Identifier, KnownFraud, Signup

from .conftest import at, pii_values, stored_text


def _application(raw, index=0):
    return dict(raw["accounts"][index]), dict(raw["signup_sessions"][index])


def _total_rows(session):
    return sum(session.scalar(select(func.count()).select_from(t))
               for t in Base.metadata.sorted_tables)


def test_record_application_stores_account_identifiers_and_signup(session, raw, hasher):
    application, signup = _application(raw)
    record_application(session, application, signup, hasher=hasher)
    session.commit()
    profile = account_profile(session, "acct_a")
    assert (profile.created_at, profile.country, profile.mcc) == (at(10, 10), "US", "5734")
    rows = session.execute(select(Identifier.kind, Identifier.value_hash, Identifier.seen_at)
                           .where(Identifier.account_id == "acct_a")).all()
    assert {(k, h) for k, h, _ in rows} == set(hasher.application(application, signup))
    assert {t for _, _, t in rows} == {at(10, 10)}
    stored = session.get(Signup, "acct_a")
    assert stored.device_hash == hasher.hash("device", "dev_1")
    assert stored.ip24_hash == hasher.hash("ip24", "203.0.113.10")
    assert (stored.ip_type, stored.ip_country) == ("residential", "US")


def test_recorded_application_holds_no_raw_pii(session, engine, raw, hasher):
    for i in range(len(raw["accounts"])):
        record_application(session, *_application(raw, i), hasher=hasher)
    session.commit()
    cells = [c.lower() for c in stored_text(engine)]
    secrets = pii_values({"accounts": raw["accounts"], "signup_sessions": raw["signup_sessions"]})
    assert {s for s in secrets for c in cells if s.lower() in c} == set()


def test_duplicate_application_is_refused_and_keeps_the_original(session, raw, hasher):
    record_application(session, *_application(raw), hasher=hasher)
    session.commit()
    application, signup = _application(raw, 1)
    application["account_id"] = signup["account_id"] = "acct_a"
    with pytest.raises(DuplicateAccount, match="'acct_a'"):
        record_application(session, application, signup, hasher=hasher)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Identifier)) == 8
    assert session.get(Signup, "acct_a").device_hash == hasher.hash("device", "dev_1")


@pytest.mark.parametrize(("target", "field", "value", "message"), [
    ("application", "country", None, "application is missing required field.*country"),
    ("application", "mcc", "", "application is missing required field.*mcc"),
    ("signup", "device_id", None, "signup is missing required field.*device_id"),
    ("application", "created_at", datetime(2025, 1, 1), "application.created_at must be "
                                                        "timezone-aware"),
    ("signup", "completed_at", "2025-01-01", "signup.completed_at must be a datetime"),
    ("signup", "account_id", "acct_other", "signup.account_id 'acct_other' does not match"),
])
def test_invalid_applications_name_the_field(session, raw, hasher, target, field, value,
                                             message):
    application, signup = _application(raw)
    (application if target == "application" else signup)[field] = value
    with pytest.raises(InvalidData, match=message):
        record_application(session, application, signup, hasher=hasher)
    assert _total_rows(session) == 0


def test_failure_midway_stores_nothing_and_leaves_the_session_usable(session, raw, hasher,
                                                                     monkeypatch):
    insert_rows = record.insert_rows  # the account and identifiers are written before signups

    def fail_on_signup(conn, table, rows):
        if table.name == "signups":
            raise RuntimeError("disk full while writing signups")
        insert_rows(conn, table, rows)

    monkeypatch.setattr(record, "insert_rows", fail_on_signup)
    with pytest.raises(RuntimeError, match="disk full"):
        record_application(session, *_application(raw), hasher=hasher)
    monkeypatch.undo()
    record_application(session, *_application(raw, 1), hasher=hasher)
    session.commit()
    assert session.scalars(select(Account.account_id)).all() == ["acct_b"]
    assert set(session.scalars(select(Identifier.account_id))) == {"acct_b"}
    assert session.scalars(select(Signup.account_id)).all() == ["acct_b"]


def test_onboarding_features_round_trip(session, raw, hasher):
    record_application(session, *_application(raw), hasher=hasher)
    save_onboarding_features(session, "acct_a", {
        "email_free": True, "signup_seconds": 300, "name_similarity": np.float64(0.25),
        "n_profiles": np.int64(2), "verified": np.bool_(False), "age_days": math.nan,
        "missing": None,
    })
    session.commit()
    session.expunge_all()
    assert account_profile(session, "acct_a").onboarding_features == {
        "email_free": True, "signup_seconds": 300, "name_similarity": 0.25, "n_profiles": 2,
        "verified": False, "age_days": None, "missing": None,
    }


def test_onboarding_features_stored_with_the_application(session, raw, hasher):
    record_application(session, *_application(raw), hasher=hasher,
                       onboarding_features={"signup_seconds": np.float64(12.5),
                                            "age_days": math.nan})
    session.commit()
    session.expunge_all()
    assert account_profile(session, "acct_a").onboarding_features == {
        "signup_seconds": 12.5, "age_days": None}
    application, signup = _application(raw, 1)
    with pytest.raises(InvalidData, match="'ratio' is infinite"):
        record_application(session, application, signup, hasher=hasher,
                           onboarding_features={"ratio": math.inf})
    assert session.get(Account, application["account_id"]) is None


def test_onboarding_features_reject_bad_values_and_unknown_accounts(session, raw, hasher):
    record_application(session, *_application(raw), hasher=hasher)
    with pytest.raises(InvalidData, match="'ratio' is infinite"):
        save_onboarding_features(session, "acct_a", {"ratio": math.inf})
    with pytest.raises(InvalidData, match="'domain' is str"):
        save_onboarding_features(session, "acct_a", {"domain": "gmail.com"})
    with pytest.raises(AccountNotFound, match="'acct_zz'"):
        save_onboarding_features(session, "acct_zz", {"x": 1})


def test_mark_known_fraud_keeps_the_earliest(session, raw, hasher):
    record_application(session, *_application(raw), hasher=hasher)
    mark_known_fraud(session, "acct_a", at(1, month=3), "ato")
    mark_known_fraud(session, "acct_a", at(1, month=2), "bust_out")
    mark_known_fraud(session, "acct_a", at(1, month=4), "later")
    session.commit()
    row = session.get(KnownFraud, "acct_a")
    assert (row.known_at, row.typology) == (at(1, month=2), "bust_out")
    with pytest.raises(AccountNotFound):
        mark_known_fraud(session, "acct_zz", at(1, month=2) + timedelta(days=1))
