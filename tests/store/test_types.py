from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from riskscore.store.models import Account, ProcessedEvent


def test_timestamps_round_trip_as_utc(session):
    paris = timezone(timedelta(hours=1))
    local = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=paris)
    session.add(ProcessedEvent(event_id="evt_1", received_at=local, type="account.updated"))
    session.commit()
    session.expunge_all()
    stored = session.scalar(select(ProcessedEvent.received_at))
    assert stored == local
    assert stored.tzinfo == UTC
    assert stored.hour == 11 and stored.microsecond == 123456


def test_comparisons_use_the_instant_not_the_wall_clock(session):
    session.add(ProcessedEvent(event_id="evt_1", received_at=datetime(2025, 3, 1, 12, tzinfo=UTC),
                               type="t"))
    session.commit()
    earlier_wall_clock = datetime(2025, 3, 1, 8, tzinfo=timezone(timedelta(hours=-5)))  # 13:00Z
    query = select(ProcessedEvent.event_id).where(ProcessedEvent.received_at < earlier_wall_clock)
    assert session.scalars(query).all() == ["evt_1"]


def test_naive_datetimes_are_rejected(session):
    session.add(Account(account_id="acct_x", created_at=datetime(2025, 1, 1), country="US",
                        business_type="company", mcc="5734"))
    with pytest.raises(Exception, match="timezone-aware"):
        session.flush()
