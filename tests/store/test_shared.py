"""The ``shared`` flag of identifier rows is kept by every writer: the loader, the online
write path and the migration that introduced it (the Stripe writer: tests/integrations)."""

from datetime import timedelta

from alembic import command
from sqlalchemy import text, update

from riskscore.store import (
    Cluster,
    linked_cluster,
    load_dataset,
    record_application,
    upgrade,
)
from riskscore.store.migrate import alembic_config
from riskscore.store.models import Identifier

from .conftest import at, schema_diffs

# Rows whose flag disagrees with "another account has the same kind and hash".
WRONG_FLAGS = text(
    "SELECT i.account_id, i.kind, i.shared FROM identifiers i WHERE i.shared <> ("
    "SELECT count(*) > 1 FROM identifiers o WHERE o.kind = i.kind "
    "AND o.value_hash = i.value_hash)"
)


def wrong_flags(engine):
    with engine.connect() as conn:
        return conn.execute(WRONG_FLAGS).all()


def shared_count(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM identifiers WHERE shared")).scalar()


def test_loader_flags_exactly_the_shared_rows(engine, dataset, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    assert wrong_flags(engine) == []
    assert shared_count(engine) > 0


def test_the_check_can_fail(engine, dataset, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    flagged = shared_count(engine)
    with engine.begin() as conn:
        conn.execute(update(Identifier).values(shared=False))
    assert len(wrong_flags(engine)) == flagged


def _application(account_id, when, email, device):
    application = {"account_id": account_id, "created_at": when, "country": "US",
                   "business_type": "individual", "mcc": "5999", "email": email}
    return application, {"completed_at": when, "device_id": device, "ip": "192.0.2.201"}


def test_recorded_applications_keep_the_flags(engine, dataset, hasher, session):
    load_dataset(dataset, engine, hasher=hasher)
    when = at(1, month=4)
    # First user of a new email and device, then a second and a third user of them, then
    # one sharing an email that exactly one stored account (acct_e) used.
    for account_id, email, device in (("acct_n1", "only@new.example", "dev_n"),
                                      ("acct_n2", "only@new.example", "dev_n"),
                                      ("acct_n3", "only@new.example", "dev_n3"),
                                      ("acct_n4", "hello@teashop.example", "dev_n4")):
        record_application(session, *_application(account_id, when, email, device),
                           hasher=hasher)
        assert session.execute(WRONG_FLAGS).all() == []
    session.commit()
    assert wrong_flags(engine) == []
    with engine.connect() as conn:
        flags = dict(conn.execute(text(
            "SELECT account_id, shared FROM identifiers WHERE kind = 'device' "
            "AND account_id LIKE 'acct_n%'")).all())
        emails = dict(conn.execute(text(
            "SELECT account_id, shared FROM identifiers WHERE kind = 'email' "
            "AND account_id IN ('acct_e', 'acct_n4')")).all())
    assert {k: bool(v) for k, v in flags.items()} == {
        "acct_n1": True, "acct_n2": True, "acct_n3": False, "acct_n4": False}
    assert {k: bool(v) for k, v in emails.items()} == {"acct_e": True, "acct_n4": True}


def test_walks_follow_only_flagged_rows(engine, dataset, hasher, session):
    """The cluster walk trusts the flag: an unflagged link is not followed (so the flags
    above are what keeps clusters right)."""
    load_dataset(dataset, engine, hasher=hasher)
    assert linked_cluster(session, "acct_a", at(13)) == Cluster(4, 0, False)
    session.execute(update(Identifier).values(shared=False))
    assert linked_cluster(session, "acct_a", at(13)) == Cluster(1, 0, False)


def test_migration_flags_existing_rows(engine):
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    t = at(1)
    with engine.begin() as conn:
        for account_id in ("acct_x", "acct_y", "acct_z"):
            conn.execute(text(
                "INSERT INTO accounts (account_id, created_at, country, business_type, mcc, "
                "onboarding_features) VALUES (:a, :t, 'US', 'company', '5734', '{}')"),
                {"a": account_id, "t": _db_time(engine, t)})
        for account_id, kind, value_hash in (("acct_x", "email", "e1"), ("acct_y", "email", "e1"),
                                             ("acct_z", "email", "e2"), ("acct_x", "device", "d1"),
                                             ("acct_z", "device", "d1"), ("acct_y", "ip", "i1")):
            conn.execute(text(
                "INSERT INTO identifiers (account_id, kind, value_hash, seen_at) "
                "VALUES (:a, :k, :h, :t)"),
                {"a": account_id, "k": kind, "h": value_hash,
                 "t": _db_time(engine, t + timedelta(hours=1))})
    upgrade(engine)
    assert wrong_flags(engine) == []
    assert schema_diffs(engine) == []
    with engine.connect() as conn:
        flagged = conn.execute(text(
            "SELECT account_id, kind FROM identifiers WHERE shared ORDER BY 1, 2")).all()
    assert [tuple(r) for r in flagged] == [("acct_x", "device"), ("acct_x", "email"),
                                          ("acct_y", "email"), ("acct_z", "device")]


def _db_time(engine, when):
    """A time as the dialect stores it (SQLite: epoch microseconds, see types.UtcTimestamp)."""
    if engine.dialect.name == "sqlite":
        return int(when.timestamp()) * 10**6
    return when
