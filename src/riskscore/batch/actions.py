"""Hand a rescore's changed decisions to the Stripe actions outbox.

Only accounts whose action (or payout delay) changed are handed over: an unchanged
decision needs no new call. The outbox (``integrations.stripe.actions``) records each call
first and sends it only when live actions are on (dry-run by default). Decision ids are
stable (``batch.decide.decision_id``), so handing the same run over twice adds nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import pandas as pd

from riskscore.integrations.stripe import ActionRequest, StripeActions
from riskscore.settings import Settings, get_settings
from riskscore.store import make_engine, upgrade
from riskscore.store.errors import InvalidData

log = logging.getLogger(__name__)


def hand_to_stripe(changes: pd.DataFrame, settings: Settings | None = None,
                   advance: Callable[[], None] | None = None) -> tuple[bool, Counter[str]]:
    """Submit each changed decision; returns whether actions are live and the outbox
    statuses of the resulting calls (``dry_run``, ``sent``, ``operator``, ...)."""
    settings = settings or get_settings()
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    actions = StripeActions(engine, settings)
    statuses: Counter[str] = Counter()
    for row in changes.itertuples(index=False):
        try:
            request = ActionRequest(
                decision_id=row.decision_id, account_id=row.account_id, action=row.action,
                delay_days=int(row.delay_days) if row.action == "delay_payouts" else None)
        except InvalidData as exc:
            log.warning("decision %s not handed to Stripe: %s", row.decision_id, exc)
            statuses["invalid"] += 1
        else:
            statuses.update(r.status for r in actions.submit(request))
        if advance:
            advance()
    return actions.live, statuses
