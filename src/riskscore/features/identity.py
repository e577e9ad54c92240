"""The application table: onboarding features and hashed identifiers per account.

Parsing a million phone numbers takes minutes, and what an applicant submitted never
changes, so batch runs keep this table in a cache keyed by a digest of each account's
submitted fields: only new or changed applications are computed again. The cache holds
keyed hashes, never raw identifiers.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from riskscore.features.application import APPLICATION_FEATURES, application_features
from riskscore.store.hashing import IdentifierHasher

log = logging.getLogger(__name__)

ID_COLUMNS: tuple[str, ...] = ("id_email", "id_phone", "id_address", "id_tax_id",
                               "id_bank_account")


def _digest(accounts: pd.DataFrame, sessions: pd.DataFrame | None) -> pd.Series:
    frame = accounts.copy()
    if "social_profiles" in frame:
        frame["social_profiles"] = frame["social_profiles"].map(
            lambda v: "|".join(v) if v is not None and not isinstance(v, float) else "")
    if sessions is not None:
        frame = frame.merge(sessions, on="account_id", how="left", suffixes=("", "_s"))
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].astype("string")
    return pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy(),
                     index=accounts["account_id"].to_numpy())


def _compute(accounts: pd.DataFrame, sessions: pd.DataFrame | None,
             hasher: IdentifierHasher) -> pd.DataFrame:
    signups = ({} if sessions is None else
               sessions.set_index("account_id").reindex(accounts["account_id"]).reset_index()
               .to_dict("records"))
    rows = []
    for i, account in enumerate(accounts.to_dict("records")):
        signup = signups[i] if signups else {}
        features = application_features(account, signup)
        country = account.get("country")
        features.update({
            "id_email": hasher.hash("email", account.get("email")),
            "id_phone": hasher.hash("phone", account.get("phone"), country),
            "id_address": hasher.hash("address", account.get("address_line1"),
                                      account.get("city"), account.get("postal_code"), country),
            "id_tax_id": hasher.hash("tax_id", account.get("tax_id")),
            "id_bank_account": hasher.hash("bank_account", account.get("bank_fingerprint")),
        })
        rows.append(features)
    frame = pd.DataFrame(rows, columns=[*APPLICATION_FEATURES, *ID_COLUMNS])
    frame.insert(0, "account_id", accounts["account_id"].to_numpy())
    frame.insert(1, "created_at", accounts["created_at"].to_numpy())
    return frame


def identity_table(accounts: pd.DataFrame, sessions: pd.DataFrame | None,
                   hasher: IdentifierHasher, cache: Path | None = None) -> pd.DataFrame:
    """Application features and hashed identifiers, one row per account (see module doc)."""
    digest = _digest(accounts, sessions)
    cached = pd.DataFrame()
    if cache is not None and cache.exists():
        cached = pd.read_parquet(cache)
        cached = cached[cached["digest"].to_numpy() == digest.reindex(cached["account_id"])
                        .to_numpy()]
    todo = accounts[~accounts["account_id"].isin(cached.get("account_id", []))]
    if len(todo):
        log.info("computing application features for %d accounts (%d cached)", len(todo),
                 len(cached))
        fresh = _compute(todo, sessions, hasher)
        fresh["digest"] = digest.reindex(fresh["account_id"]).to_numpy()
        cached = pd.concat([cached, fresh], ignore_index=True) if len(cached) else fresh
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp")  # concurrent writers
            cached.to_parquet(tmp, index=False)
            os.replace(tmp, cache)
    table = cached.set_index("account_id").reindex(accounts["account_id"]).reset_index()
    return table.drop(columns="digest")
