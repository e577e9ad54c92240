"""The entity store: operational state the scoring service reads and writes.

SQLAlchemy models (:mod:`.models`) on a SQLite file by default or PostgreSQL by URL,
migrated by Alembic (:func:`upgrade`). Identifiers are kept only as keyed hashes
(:mod:`.hashing`). Bulk loading from the Parquet contract (:func:`load_dataset`), online
writes (:mod:`.record`) and point-in-time reads for online features (:mod:`.queries`).
"""

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
from riskscore.store.record import mark_known_fraud, record_application, save_onboarding_features

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
