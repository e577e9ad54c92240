"""Online feature shortcuts agree with the general online computation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from riskscore.features import online


@pytest.mark.parametrize(("country", "signup", "when"), [
    ("GB", {"completed_at": datetime(2025, 3, 4, 5, 6, tzinfo=UTC), "device_id": "d1",
            "ip": "i1"}, datetime(2025, 3, 4, 5, 6, tzinfo=UTC)),
    ("US", None, datetime(2026, 12, 1, 20, 0, 1, 5, tzinfo=UTC)),
])
def test_new_application_activity_is_the_general_result_for_no_events(country, signup, when):
    general = online._activity(online._NO_EVENTS, country, signup, when, when)
    cached = online.new_application_activity()
    assert general.keys() == cached.keys()
    assert all(np.isclose(general[k], cached[k], equal_nan=True) for k in general)
