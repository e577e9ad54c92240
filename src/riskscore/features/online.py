"""Online features: one account (or one new application) from the entity store.

Same names, meanings and windows as ``batch``; only the source differs (the store keeps
keyed hashes where the Parquet data has raw identifiers, which compare the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from riskscore import schema
from riskscore.features.activity_online import MOVEMENT_WINDOW_DAYS, activity_aggregates
from riskscore.features.application import APPLICATION_FEATURES, application_features
from riskscore.features.definitions import HELPER_AGGREGATES, apply_derived
from riskscore.features.links import CLUSTER_MAX, LINK_KINDS, VELOCITY_FEATURES
from riskscore.identifiers import CLUSTER_KINDS
from riskscore.store import queries
from riskscore.store.hashing import IdentifierHasher

HashPair = tuple[str, str]
ONBOARDING_FEATURES: list[str] = [*APPLICATION_FEATURES, *VELOCITY_FEATURES]
"""Features frozen at signup (the application's own and the signup velocity before it),
kept with the account in the store, so later scores reuse them."""


def velocity_features(velocity: queries.SignupVelocity) -> dict[str, float]:
    """The store's signup counts under the batch feature names."""
    return {
        "signups_same_device_1h": velocity.device_1h,
        "signups_same_device_1d": velocity.device_1d,
        "signups_same_ip_1h": velocity.ip_1h,
        "signups_same_ip_1d": velocity.ip_1d,
        "signups_same_ip24_1h": velocity.ip24_1h,
        "signups_same_ip24_1d": velocity.ip24_1d,
        "platform_signups_1d": velocity.platform_1d,
        "platform_signup_ratio": velocity.platform_1d / max(velocity.platform_daily_avg_28d, 1.0),
    }


def application_store_features(session: Session, account: Mapping[str, Any],
                               signup: Mapping[str, Any], hasher: IdentifierHasher,
                               as_of: datetime) -> dict[str, float]:
    """What a new application's features read from the store: the signup velocity before
    it and its links to stored accounts. The rest (:func:`application_features`) depends on
    the application alone, so a writer computes it before taking the store's write lock."""
    ip = signup.get("ip")
    velocity = queries.signup_velocity(session, hasher.hash("device", signup.get("device_id")),
                                       hasher.hash("ip", ip), hasher.hash("ip24", ip), as_of)
    features = {k: float(v) for k, v in velocity_features(velocity).items()}
    hashes = hasher.application(account, signup)
    features.update(_link_features(session, hashes, as_of, lambda: queries.linked_cluster(
        session, None, as_of, max_size=CLUSTER_MAX, seed_hashes=hashes), exclude=None))
    return features


def _link_features(session: Session, hashes: list[HashPair], as_of: datetime,
                   cluster: Callable[[], queries.Cluster], exclude: str | None
                   ) -> dict[str, float]:
    counts = queries.duplicate_counts(session, [h for h in hashes if h[0] in LINK_KINDS], as_of,
                                      exclude_account_id=exclude)
    out: dict[str, float] = {}
    for kind in LINK_KINDS:
        found = counts.get(kind)
        out[f"shared_{kind}"] = float(found.accounts if found else 0)
        out[f"fraud_shared_{kind}"] = float(found.known_fraud if found else 0)
    # The walk's first hop finds the other accounts that used a clustering identifier
    # before ``as_of``: when the counts say there are none, the cluster is the account
    # alone, without the walk's query (most applications).
    alone = all((found := counts.get(kind)) is not None and found.accounts == 0
                for kind, _ in hashes if kind in CLUSTER_KINDS)
    linked = queries.Cluster(1, 0, False) if alone else cluster()
    out["cluster_size"] = float(min(linked.size, CLUSTER_MAX))
    out["cluster_known_fraud"] = float(linked.known_fraud)
    return out


def _activity(events: queries.AccountEventColumns, country: str,
              signup: Mapping[str, Any] | None, created_at: datetime,
              as_of: datetime) -> dict[str, float]:
    aggregates = activity_aggregates(events.movements, events.logins, events.changes,
                                     dict(signup) if signup else None, country, as_of,
                                     movements_since_us=events.movements_since,
                                     balance_before=events.balance_before)
    aggregates["as_of_epoch"] = as_of.timestamp()
    age = (as_of - created_at).total_seconds() / 86_400
    derived = apply_derived({k: np.asarray([v], float) for k, v in aggregates.items()},
                            np.asarray([age]))
    return {k: float(v[0]) for k, v in derived.items()
            if k not in HELPER_AGGREGATES and k != "as_of_epoch"}


_NO_EVENTS = queries.AccountEventColumns(*(
    {c.name: np.empty(0, np.int64 if c.name == "ts" else object)
     for c in schema.TABLES[t].columns} for t in ("movements", "logins", "changes")))


@cache
def new_application_activity() -> dict[str, float]:
    """Activity features of a new application: no events, age 0. Aggregates over no rows
    depend on nothing else (counts and sums 0, the rest NaN, ratios 0), so they are
    evaluated once, by the same code as for any account."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    return _activity(_NO_EVENTS, "US", None, epoch, epoch)


def application_online_features(session: Session, account: Mapping[str, Any],
                                signup: Mapping[str, Any], hasher: IdentifierHasher,
                                as_of: datetime,
                                own: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every feature of a new application, before it is recorded in the store. ``own``:
    its :func:`application_features`, when already computed (outside the write lock)."""
    features = {k: float(v) for k, v in
                (own if own is not None else application_features(account, signup)).items()}
    features.update(application_store_features(session, account, signup, hasher, as_of))
    features.update(new_application_activity())
    return features


def account_online_features(session: Session, account_id: str,
                            as_of: datetime) -> dict[str, float]:
    """Every feature of a stored account as of ``as_of`` (after its signup)."""
    profile = queries.account_profile(session, account_id)
    features = {k: float(v) for k, v in (profile.onboarding_features or {}).items()
                if v is not None}
    # Identifiers no other account ever used match nobody: the link features need only
    # the shared ones (the same counts and cluster, fewer lookups).
    hashes = queries.identifier_hashes(session, account_id, as_of, shared_only=True)
    features.update(_link_features(session, hashes, as_of, lambda: queries.linked_cluster(
        session, account_id, as_of, max_size=CLUSTER_MAX, own_hashes=hashes),
        exclude=account_id))
    signup = queries.signup_of(session, account_id)
    events = queries.account_event_columns(
        session, account_id, as_of, movements_since=as_of - timedelta(days=MOVEMENT_WINDOW_DAYS))
    features.update(_activity(events, profile.country, signup, profile.created_at, as_of))
    return features
