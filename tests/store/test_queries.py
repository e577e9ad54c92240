from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import select

from riskscore import schema
from riskscore.store import (
    CLUSTER_KINDS,
    AccountNotFound,
    Cluster,
    DuplicateCount,
    InvalidData,
    account_event_columns,
    account_events,
    account_profile,
    duplicate_counts,
    identifier_hashes,
    linked_cluster,
    load_dataset,
    mark_known_fraud,
    record_application,
    signup_of,
    signup_velocity,
)
from riskscore.store.models import STORE_KINDS, Change, Identifier, Login, Movement

from .conftest import at

ACCOUNTS = ("acct_a", "acct_b", "acct_c", "acct_d", "acct_e")


@pytest.fixture
def loaded(engine, dataset, hasher, session):
    load_dataset(dataset, engine, hasher=hasher)
    return session


def _application(account_id, when, *, email=None, device="dev_new", ip="192.0.2.200", **more):
    application = {"account_id": account_id, "created_at": when, "country": "US",
                   "business_type": "individual", "mcc": "5999", "email": email, **more}
    signup = {"completed_at": when, "device_id": device, "ip": ip, "ip_type": "mobile"}
    return application, signup


def test_account_profile_and_not_found(loaded):
    profile = account_profile(loaded, "acct_c")
    assert (profile.country, profile.business_type, profile.created_at) == ("FR", "company",
                                                                            at(11, 9))
    with pytest.raises(AccountNotFound, match="'acct_nope' not found in table 'accounts'"):
        account_profile(loaded, "acct_nope")


def test_identifier_hashes_are_point_in_time(loaded, hasher):
    assert identifier_hashes(loaded, "acct_a", at(10, 10)) == []  # created exactly then
    onboarding = identifier_hashes(loaded, "acct_a", at(10, 10) + timedelta(microseconds=1))
    assert sorted(k for k, _ in onboarding) == sorted(
        ["email", "phone", "address", "tax_id", "bank_account", "device", "ip", "ip24"]
    )
    after_takeover = identifier_hashes(loaded, "acct_a", at(1, month=3))
    assert set(after_takeover) - set(onboarding) == {
        ("device", hasher.hash("device", "dev_9")), ("ip", hasher.hash("ip", "100.64.7.8")),
        ("ip24", hasher.hash("ip24", "100.64.7.8")),
        ("bank_account", hasher.hash("bank_account", "fp_X9")),
    }


def test_duplicate_counts_find_normalised_matches(loaded):
    t = at(20)
    counts = duplicate_counts(loaded, identifier_hashes(loaded, "acct_b", t), t, "acct_b")
    assert counts == {
        "email": DuplicateCount(1, 0), "phone": DuplicateCount(1, 0),
        "address": DuplicateCount(1, 0), "tax_id": DuplicateCount(1, 0),
        "bank_account": DuplicateCount(0, 0), "device": DuplicateCount(1, 0),  # acct_d
        "ip": DuplicateCount(0, 0), "ip24": DuplicateCount(2, 0),  # acct_a and acct_e
    }


def test_duplicate_counts_see_known_fraud_only_from_known_at(loaded):
    hashes = identifier_hashes(loaded, "acct_b", at(20))
    known_at = at(1, month=2)
    assert duplicate_counts(loaded, hashes, known_at, "acct_b")["device"] == DuplicateCount(1, 0)
    later = known_at + timedelta(microseconds=1)
    assert duplicate_counts(loaded, hashes, later, "acct_b")["device"] == DuplicateCount(1, 1)
    # acct_c is fraud too, but never detected: sharing its bank account shows no known fraud
    hashes_d = identifier_hashes(loaded, "acct_d", at(1, month=3))
    assert duplicate_counts(loaded, hashes_d, at(1, month=3), "acct_d")["bank_account"] == (
        DuplicateCount(1, 0)
    )


def test_duplicate_counts_for_a_new_application(loaded, hasher):
    """Before an applicant is stored: hashes from the hasher, nothing to exclude."""
    application, signup = _application("acct_new", at(1, month=3),
                                       email="j.o.h.n.smith+2@gmail.com", device="dev_2")
    counts = duplicate_counts(loaded, hasher.application(application, signup), at(1, month=3))
    assert counts["email"] == DuplicateCount(2, 0)  # acct_a and acct_b, typed differently
    assert counts["device"] == DuplicateCount(2, 1)  # acct_b and acct_d (known fraud)
    assert duplicate_counts(loaded, [], at(1, month=3)) == {}


def test_an_identifier_counts_from_when_the_other_account_used_it(loaded):
    """e's email is changed to c's on 10 Feb: c sees the duplicate only from then."""
    hashes = [p for p in identifier_hashes(loaded, "acct_c", at(1, month=3)) if p[0] == "email"]
    changed = at(10, 11, month=2)
    assert duplicate_counts(loaded, hashes, changed, "acct_c")["email"].accounts == 0
    assert duplicate_counts(loaded, hashes, changed + timedelta(seconds=1),
                            "acct_c")["email"].accounts == 1


def test_duplicate_counts_count_an_account_once_across_hashes_of_a_kind(loaded):
    """e used two emails (its own, then c's): asked about both, e and c count once each.
    With d's email (d is known fraud) and device added, each kind counts on its own."""
    t = at(1, month=3)
    emails = [p for p in identifier_hashes(loaded, "acct_e", t) if p[0] == "email"]
    assert len(emails) == 2
    assert duplicate_counts(loaded, emails, t) == {"email": DuplicateCount(2, 0)}
    assert duplicate_counts(loaded, emails, t, "acct_e") == {"email": DuplicateCount(1, 0)}
    d = [p for p in identifier_hashes(loaded, "acct_d", t) if p[0] in ("device", "email")]
    both = duplicate_counts(loaded, emails + d, t)
    assert both["email"] == DuplicateCount(3, 1) and both["device"] == DuplicateCount(2, 1)


def test_linked_cluster(loaded):
    # a-b (same person), b-d (device), d-c (bank account); e shares only a's IP
    assert linked_cluster(loaded, "acct_a", at(11, 12)) == Cluster(2, 0, False)
    assert linked_cluster(loaded, "acct_a", at(13)) == Cluster(4, 0, False)
    assert linked_cluster(loaded, "acct_c", at(2, month=2)) == Cluster(4, 1, False)
    assert linked_cluster(loaded, "acct_d", at(2, month=2)) == Cluster(4, 0, False)  # not self
    assert linked_cluster(loaded, "acct_e", at(2, month=2)) == Cluster(1, 0, False)
    with_ips = linked_cluster(loaded, "acct_e", at(2, month=2), kinds=STORE_KINDS)
    assert with_ips == Cluster(5, 1, False)
    assert linked_cluster(loaded, "acct_a", at(13), max_size=3) == Cluster(3, 0, True)
    assert linked_cluster(loaded, "acct_a", at(13), kinds=("bank_account",)) == Cluster(1, 0,
                                                                                       False)


def test_linked_cluster_from_hashes_already_read_is_the_same(loaded):
    for account, when in (("acct_a", at(11, 12)), ("acct_a", at(13)), ("acct_c", at(2, month=2)),
                          ("acct_e", at(2, month=2))):
        own = identifier_hashes(loaded, account, when)
        for kinds in (CLUSTER_KINDS, STORE_KINDS):
            assert linked_cluster(loaded, account, when, kinds=kinds, own_hashes=own) == \
                linked_cluster(loaded, account, when, kinds=kinds)


def test_linked_cluster_of_an_application_not_stored_yet(loaded, hasher):
    application, signup = _application("acct_new", at(1, month=3), email="johnsmith@gmail.com",
                                       device="dev_new_1")
    seeds = hasher.application(application, signup)
    # the applicant + a and b (same email) + d (b's device) + c (d's bank account) + e (took
    # c's email on 10 Feb)
    assert linked_cluster(loaded, None, at(1, month=3), seed_hashes=seeds) == Cluster(6, 1, False)
    assert linked_cluster(loaded, None, at(11, 12), seed_hashes=seeds) == Cluster(3, 0, False)
    assert linked_cluster(loaded, None, at(1, month=3), seed_hashes=seeds, max_size=2) == (
        Cluster(2, 0, True))
    loner = hasher.application({**application, "email": "new@example.org"}, signup)
    assert linked_cluster(loaded, None, at(1, month=3), seed_hashes=loner) == Cluster(1, 0, False)


def test_signup_of(loaded, hasher):
    assert signup_of(loaded, "acct_c") == {
        "account_id": "acct_c", "completed_at": at(11, 9),
        "device_id": hasher.hash("device", "dev_3"), "ip": hasher.hash("ip", "198.51.100.5"),
        "ip_type": "mobile", "ip_country": "FR",
    }
    assert signup_of(loaded, "acct_nope") is None


def test_linked_cluster_default_size_comes_from_settings(loaded, monkeypatch):
    from riskscore.settings import get_settings

    monkeypatch.setattr(get_settings(), "cluster_max_size", 2)
    assert linked_cluster(loaded, "acct_a", at(13)) == Cluster(2, 0, True)


def test_signup_velocity_windows(session, hasher):
    t = at(15, 12)
    # same device and IP: 59 min before, 61 min before, 23 h before, 25 h before
    for i, minutes in enumerate([59, 61, 23 * 60, 25 * 60]):
        record_application(session, *_application(f"acct_d{i}", t - timedelta(minutes=minutes),
                                                  device="dev_x", ip="198.51.100.7"),
                           hasher=hasher)
    # same /24 only, exactly one hour and exactly one day before (inclusive bounds)
    record_application(session, *_application("acct_h", t - timedelta(hours=1),
                                              ip="198.51.100.99"), hasher=hasher)
    record_application(session, *_application("acct_y", t - timedelta(days=1),
                                              ip="198.51.100.98"), hasher=hasher)
    # at or after t: invisible
    record_application(session, *_application("acct_now", t, device="dev_x",
                                              ip="198.51.100.7"), hasher=hasher)
    # baseline: 56 signups spread over the 28 days before the last day
    for i in range(56):
        when = t - timedelta(days=1, hours=1) - timedelta(hours=12 * i)
        record_application(session, *_application(f"acct_b{i}", when, ip=f"10.0.{i}.1"),
                           hasher=hasher)
    session.commit()
    velocity = signup_velocity(session, hasher.hash("device", "dev_x"),
                               hasher.hash("ip", "198.51.100.7"),
                               hasher.hash("ip24", "198.51.100.7"), t)
    assert (velocity.device_1h, velocity.device_1d) == (1, 3)
    assert (velocity.ip_1h, velocity.ip_1d) == (1, 3)
    assert (velocity.ip24_1h, velocity.ip24_1d) == (2, 5)
    assert velocity.platform_1d == 5
    # baseline window [t-29d, t-1d): the 56 spread signups, d3 (25 h before), and acct_y
    # (exactly 1 day before belongs to the last day, not the baseline)
    assert velocity.platform_daily_avg_28d == pytest.approx(57 / 28)
    none = signup_velocity(session, None, None, None, t)
    assert (none.device_1d, none.ip_1d, none.ip24_1d, none.platform_1d) == (0, 0, 0, 5)


def test_account_events_match_the_contract_rows(loaded, dataset, hasher):
    as_of = at(6, 3, month=2)  # the failed login at exactly as_of is excluded
    events = account_events(loaded, "acct_a", as_of)

    def expected(table):
        frame = pd.read_parquet(dataset / f"{table}.parquet")
        frame = frame[(frame.account_id == "acct_a") & (frame.ts < as_of)]
        frame = frame.sort_values("ts", kind="stable").reset_index(drop=True)
        for column, kind in (("device_id", "device"), ("ip", "ip"),
                             ("counterparty", "counterparty")):
            if column in frame:
                frame[column] = frame[column].map(lambda v, k=kind: hasher.hash(k, v))
        return frame

    movements, logins, changes = expected("movements"), expected("logins"), expected("changes")
    changes["new_value"] = [hasher.hash("bank_account", "fp_X9"), None]
    changes["new_value"] = changes["new_value"].astype("str")
    pd.testing.assert_frame_equal(events.movements, movements)
    pd.testing.assert_frame_equal(events.logins, logins)
    pd.testing.assert_frame_equal(events.changes, changes)
    assert len(events.logins) == 2
    assert list(events.movements.columns) == [c.name for c in schema.MOVEMENTS.columns]


def test_account_event_columns_hold_the_same_rows(loaded):
    for as_of in (at(1), at(13), at(2, month=2)):
        frames = account_events(loaded, "acct_a", as_of)
        columns = account_event_columns(loaded, "acct_a", as_of)
        for frame, cols in ((frames.movements, columns.movements),
                            (frames.logins, columns.logins), (frames.changes, columns.changes)):
            assert list(cols) == list(frame.columns)
            micros = frame.ts.to_numpy("datetime64[us]").astype("int64")
            assert cols["ts"].dtype == "int64" and cols["ts"].tolist() == micros.tolist()
            for name in frame.columns.drop(["ts", "success"], errors="ignore"):
                assert [None if pd.isna(v) else v for v in frame[name]] == \
                    [None if v is None else v for v in cols[name].tolist()], name
            if "success" in cols:
                assert [bool(v) for v in cols["success"]] == frame.success.tolist()


def test_account_events_empty_frames_keep_columns_and_types(loaded):
    events = account_events(loaded, "acct_a", at(1))
    assert events.movements.empty and events.logins.empty and events.changes.empty
    assert list(events.changes.columns) == [c.name for c in schema.CHANGES.columns]
    assert str(events.logins.ts.dtype) == "datetime64[us, UTC]"


def test_naive_as_of_is_refused(loaded):
    from datetime import datetime

    with pytest.raises(InvalidData, match="as_of must be timezone-aware"):
        identifier_hashes(loaded, "acct_a", datetime(2025, 2, 1))


def _everything(session, t, hasher):
    result = {}
    for account in ACCOUNTS:
        hashes = identifier_hashes(session, account, t)
        events = account_events(session, account, t)
        result[account] = (
            hashes,
            duplicate_counts(session, hashes, t, account),
            linked_cluster(session, account, t),
            linked_cluster(session, account, t, kinds=STORE_KINDS),
            [frame.to_dict("records") for frame in (events.movements, events.logins,
                                                    events.changes)],
        )
    result["velocity"] = signup_velocity(session, hasher.hash("device", "dev_2"),
                                         hasher.hash("ip", "203.0.113.10"),
                                         hasher.hash("ip24", "203.0.113.10"), t)
    return result


def test_rows_at_or_after_as_of_never_change_results(loaded, hasher):
    t = at(25, 12)
    before = _everything(loaded, t, hasher)
    # at exactly t: a new account reusing a's email and b's device (signup velocity, duplicates
    # and a link between clusters), e becomes known fraud, and a gets events and a new device
    application, signup = _application("acct_late", t, email="johnsmith@gmail.com",
                                       device="dev_2", ip="203.0.113.10",
                                       bank_fingerprint="fp_E5")
    record_application(loaded, application, signup, hasher=hasher)
    mark_known_fraud(loaded, "acct_e", t, "ring")
    loaded.add_all([
        Movement(movement_id="mv_late", account_id="acct_a", ts=t, type="charge", amount=1),
        Login(account_id="acct_a", ts=t, device_hash=hasher.hash("device", "dev_late"),
              ip_hash=hasher.hash("ip", "192.0.2.9"), success=True),
        Change(account_id="acct_b", ts=t, change_type="password",
               device_hash=hasher.hash("device", "dev_2"), ip_hash=hasher.hash("ip", "1.2.3.4")),
        Identifier(account_id="acct_a", kind="device", value_hash=hasher.hash("device", "dev_late"),
                   seen_at=t),
    ])
    loaded.commit()
    assert _everything(loaded, t, hasher) == before
    # ...and the same rows are visible a microsecond later, so the check above has teeth
    after = _everything(loaded, t + timedelta(microseconds=1), hasher)
    for account in ACCOUNTS:
        assert after[account] != before[account], account
    assert after["velocity"] != before["velocity"]


def test_identifier_kinds_are_constrained(loaded):
    from sqlalchemy.exc import IntegrityError

    loaded.add(Identifier(account_id="acct_a", kind="passport", value_hash="0" * 32,
                          seen_at=at(1)))
    with pytest.raises(IntegrityError):
        loaded.flush()
    loaded.rollback()
    assert "passport" not in set(loaded.scalars(select(Identifier.kind)))


def test_platform_counts_are_exact_for_any_as_of(session, engine, hasher):
    """Whole hours come from the rollup, partial hours from signups: compare with counting."""
    import random

    from sqlalchemy import func

    from riskscore.store.models import Signup

    rng = random.Random(5)
    start = at(1)
    burst = at(20, 13)  # a burst: 40 signups within one hour, scored from inside it too
    whens = [start + timedelta(minutes=rng.randrange(40 * 24 * 60), seconds=rng.random())
             for _ in range(150)] + [burst + timedelta(seconds=rng.randrange(3600))
                                     for _ in range(40)]
    for i, when in enumerate(whens):
        record_application(session, *_application(f"acct_{i}", when, ip=f"10.1.{i}.1"),
                           hasher=hasher)
    session.commit()

    def brute(lo, hi):
        return session.scalar(select(func.count()).select_from(Signup).where(
            Signup.completed_at >= lo, Signup.completed_at < hi))

    as_ofs = [start + timedelta(minutes=rng.randrange(45 * 24 * 60), microseconds=rng.randrange(
        10**6)) for _ in range(25)] + [at(20), at(20, 13), at(4, 7, 30, month=2)] + [
        burst + timedelta(minutes=m, seconds=7) for m in (0, 1, 29, 59)] + [
        burst + timedelta(days=1, minutes=m) for m in (0, 30)]
    for as_of in as_ofs:
        velocity = signup_velocity(session, None, None, None, as_of)
        assert velocity.platform_1d == brute(as_of - timedelta(days=1), as_of), as_of
        baseline = brute(as_of - timedelta(days=29), as_of - timedelta(days=1))
        assert velocity.platform_daily_avg_28d == pytest.approx(baseline / 28), as_of


def test_signup_hours_rollup_matches_signups(engine, dataset, hasher, session):
    from collections import Counter

    from riskscore.store.models import Signup, SignupHour

    load_dataset(dataset, engine, hasher=hasher)
    for i, minutes in enumerate([0, 5, 59, 60, 61]):
        record_application(session, *_application(f"acct_r{i}", at(10, 10, 0) + timedelta(
            minutes=minutes)), hasher=hasher)
    session.commit()
    expected = Counter(t.replace(minute=0, second=0, microsecond=0)
                       for t in session.scalars(select(Signup.completed_at)))
    stored = dict(session.execute(select(SignupHour.hour_start, SignupHour.signups)).all())
    assert stored == dict(expected)
    assert stored[at(10, 10)] == 5  # acct_a, acct_b (loaded), and three recorded
