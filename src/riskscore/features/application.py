"""Onboarding features of one application: what the applicant submitted and how.

They are frozen at signup (nothing later changes what was submitted), computed by one
function for one application (the API) and mapped over every row for batch, so the
two can never disagree. Categories are encoded as integers here: pandas categoricals
do not survive a model signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

import numpy as np
from rapidfuzz import fuzz

from riskscore.identifiers import (
    DISPOSABLE_EMAIL_DOMAINS,
    FREE_EMAIL_DOMAINS,
    email_domain,
    normalise_email,
    parse_phone,
)
from riskscore.schema import BUSINESS_TYPES, IP_TYPES, VERIFICATION_STATUSES


@cache
def _extractor() -> Any:
    """The registered-domain parser, built on first use (batch runs whose applications are
    all cached never import it). Offline: the bundled public-suffix snapshot, never a
    download at run time."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


LICENSED_MCCS: frozenset[str] = frozenset(
    {"0742", "8011", "5912", "5921", "5993", "6051", "4829", "7995", "5122"})
HIGH_RISK_MCCS: frozenset[str] = frozenset(
    {"5732", "5912", "5921", "5993", "4722", "5967", "5816", "5094", "6051", "4829", "7995"})

APPLICATION_FEATURES: dict[str, str] = {
    "email_free_provider": "Contact email is on a free webmail provider.",
    "email_disposable": "Contact email is on a disposable-mail provider.",
    "email_domain_matches_website": "Email domain equals the registered domain of the website "
                                    "(-1 when there is no website or the email is on webmail).",
    "has_website": "A business website was given.",
    "social_profile_count": "Number of social or professional profiles given.",
    "licence_required": "The business category needs a licence.",
    "licence_missing": "A licence is needed and none was given.",
    "verification_status": "Identity verification outcome: 0 verified, 1 pending, "
                           "2 unverified, 3 failed (-1 unknown).",
    "verification_failures": "Failed identity-verification attempts.",
    "phone_present": "A phone number was given.",
    "phone_valid": "The phone number is a valid number (libphonenumber).",
    "phone_country_mismatch": "The phone number's country differs from the account's.",
    "name_email_similarity": "Best fuzzy similarity (0-100) of the email's local part to the "
                             "representative's or the business's name.",
    "bank_holder_similarity": "Fuzzy similarity (0-100) of the bank account holder's name to "
                              "the business or representative (-1 when absent).",
    "has_address": "A street address was given.",
    "has_tax_id": "A tax id was given.",
    "business_type": "0 individual, 1 company, 2 non-profit.",
    "mcc_high_risk": "The merchant category is a high-risk one.",
    "representative_age": "Representative's age in years at signup (-1 unknown).",
    "signup_ip_type": "IP type at signup: 0 residential, 1 mobile, 2 datacenter, 3 proxy "
                      "(-1 unknown).",
    "signup_ip_foreign": "The signup IP geolocates outside the account's country.",
    "signup_session_seconds": "Time spent filling in the application, in seconds.",
    "signup_hour_utc": "Hour of day (UTC) the application was submitted.",
}


def _code(values: tuple[str, ...], value: Any) -> int:
    return values.index(value) if isinstance(value, str) and value in values else -1


def _registered_domain(url: Any) -> str | None:
    if not isinstance(url, str) or not url.strip():
        return None
    parts = _extractor()(url.strip().lower())
    return f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def application_features(account: Mapping[str, Any],
                         signup: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Onboarding features of one application (an ``accounts`` row and its signup session).

    >>> f = application_features({"email": "Jo.Smith@gmail.com", "country": "US",
    ...                           "mcc": "5812", "business_type": "company"})
    >>> f["email_free_provider"], f["has_website"], f["phone_present"]
    (1.0, 0.0, 0.0)
    """
    signup = signup or {}
    country = _text(account.get("country")).upper()
    email = normalise_email(account.get("email"))
    domain = email_domain(account.get("email"))
    site = _registered_domain(account.get("website"))
    free = domain in FREE_EMAIL_DOMAINS
    disposable = domain in DISPOSABLE_EMAIL_DOMAINS
    match = -1.0 if site is None or free or disposable or domain is None else float(
        _registered_domain(domain) == site)
    e164, phone_country, phone_valid = parse_phone(account.get("phone"), country or None)

    local = email.split("@")[0] if email else ""
    letters = "".join(ch for ch in local if ch.isalpha())
    rep = f"{_text(account.get('representative_first_name'))}" \
          f"{_text(account.get('representative_last_name'))}".lower()
    business = "".join(ch for ch in _text(account.get("business_name")).lower() if ch.isalpha())
    name_sim = max(fuzz.partial_ratio(letters, rep) if letters and rep else 0.0,
                   fuzz.partial_ratio(letters, business) if letters and business else 0.0)
    holder = _text(account.get("bank_account_holder_name")).lower()
    rep_full = f"{_text(account.get('representative_first_name'))} " \
               f"{_text(account.get('representative_last_name'))}".strip().lower()
    holder_sim = -1.0 if not holder else max(
        fuzz.token_set_ratio(holder, _text(account.get("business_name")).lower()),
        fuzz.token_set_ratio(holder, rep_full) if rep_full else 0.0)

    mcc = _text(account.get("mcc"))
    profiles = account.get("social_profiles")
    n_profiles = len(profiles) if isinstance(profiles, list | tuple | np.ndarray) else 0
    licence = account.get("licence_number")
    created = account.get("created_at")
    dob = account.get("representative_dob")
    age = -1.0
    if isinstance(dob, datetime):
        dob = dob.date()
    if isinstance(created, datetime) and isinstance(dob, date) and dob == dob:  # not NaT
        age = (created.date() - dob).days / 365.25
    started, completed = signup.get("started_at"), signup.get("completed_at")
    session = (completed - started).total_seconds() if isinstance(started, datetime) and \
        isinstance(completed, datetime) else -1.0
    ip_country = signup.get("ip_country")
    failures = account.get("verification_failures")
    return {
        "email_free_provider": float(free),
        "email_disposable": float(disposable),
        "email_domain_matches_website": match,
        "has_website": float(site is not None),
        "social_profile_count": float(n_profiles),
        "licence_required": float(mcc in LICENSED_MCCS),
        "licence_missing": float(mcc in LICENSED_MCCS and not _text(licence).strip()),
        "verification_status": float(_code(VERIFICATION_STATUSES,
                                           account.get("verification_status"))),
        "verification_failures": float(failures) if isinstance(failures, int | float) and
        not np.isnan(failures) else 0.0,
        "phone_present": float(e164 is not None),
        "phone_valid": float(phone_valid),
        "phone_country_mismatch": float(phone_country is not None and phone_country != country),
        "name_email_similarity": float(name_sim),
        "bank_holder_similarity": float(holder_sim),
        "has_address": float(bool(_text(account.get("address_line1")).strip())),
        "has_tax_id": float(bool(_text(account.get("tax_id")).strip())),
        "business_type": float(_code(BUSINESS_TYPES, account.get("business_type"))),
        "mcc_high_risk": float(mcc in HIGH_RISK_MCCS),
        "representative_age": float(age),
        "signup_ip_type": float(_code(IP_TYPES, signup.get("ip_type"))),
        "signup_ip_foreign": float(isinstance(ip_country, str) and ip_country != country),
        "signup_session_seconds": float(session),
        "signup_hour_utc": float(completed.hour) if isinstance(completed, datetime) else -1.0,
    }

