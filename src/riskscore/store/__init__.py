"""The entity store: operational state the scoring service reads and writes.

SQLAlchemy models (:mod:`.models`) on a SQLite file by default or PostgreSQL by URL,
migrated by Alembic (:func:`upgrade`). Identifiers are kept only as keyed hashes
(:mod:`.hashing`). Bulk loading from the Parquet contract (:func:`load_dataset`), online
writes (:mod:`.record`) and point-in-time reads for online features (:mod:`.queries`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names are imported from their modules on first use: batch feature jobs need only
# ``hashing``, and SQLAlchemy and Alembic take seconds to import.
_EXPORTS: dict[str, str] = {
    "make_engine": "engine", "session_factory": "engine",
    "AccountNotFound": "errors", "DuplicateAccount": "errors", "InvalidData": "errors",
    "StoreError": "errors",
    "IdentifierHasher": "hashing",
    "load_dataset": "load",
    "upgrade": "migrate",
    **{name: "queries" for name in (
        "CLUSTER_KINDS", "AccountEventColumns", "AccountEvents", "AccountProfile", "Cluster",
        "DuplicateCount", "SignupVelocity", "account_event_columns", "account_events",
        "account_profile", "duplicate_counts", "identifier_hashes", "linked_cluster",
        "signup_of", "signup_velocity")},
    "mark_known_fraud": "record", "record_application": "record",
    "save_onboarding_features": "record",
}
__all__ = [
    "CLUSTER_KINDS",
    "AccountEventColumns",
    "AccountEvents",
    "AccountNotFound",
    "AccountProfile",
    "Cluster",
    "DuplicateAccount",
    "DuplicateCount",
    "IdentifierHasher",
    "InvalidData",
    "SignupVelocity",
    "StoreError",
    "account_event_columns",
    "account_events",
    "account_profile",
    "duplicate_counts",
    "identifier_hashes",
    "linked_cluster",
    "load_dataset",
    "make_engine",
    "mark_known_fraud",
    "record_application",
    "save_onboarding_features",
    "session_factory",
    "signup_of",
    "signup_velocity",
    "upgrade",
]

if TYPE_CHECKING:
    from riskscore.store.engine import make_engine, session_factory
    from riskscore.store.errors import AccountNotFound, DuplicateAccount, InvalidData, StoreError
    from riskscore.store.hashing import IdentifierHasher
    from riskscore.store.load import load_dataset
    from riskscore.store.migrate import upgrade
    from riskscore.store.queries import (
        CLUSTER_KINDS,
        AccountEventColumns,
        AccountEvents,
        AccountProfile,
        Cluster,
        DuplicateCount,
        SignupVelocity,
        account_event_columns,
        account_events,
        account_profile,
        duplicate_counts,
        identifier_hashes,
        linked_cluster,
        signup_of,
        signup_velocity,
    )
    from riskscore.store.record import (
        mark_known_fraud,
        record_application,
        save_onboarding_features,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
