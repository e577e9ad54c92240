"""The feature catalogue: every model input, its meaning, the signal it serves, its window.

``docs/features.md`` is generated from here (``riskscore features-doc``) and a test keeps
it in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskscore.features.application import APPLICATION_FEATURES
from riskscore.features.definitions import AGGREGATES, DERIVED, HELPER_AGGREGATES
from riskscore.features.links import LINK_FEATURES, VELOCITY_FEATURES


@dataclass(frozen=True)
class FeatureInfo:
    name: str
    group: str
    description: str
    signal: str
    window: str


APPLICATION_SIGNALS: dict[str, str] = {
    "email_free_provider": "email on the business's own domain vs free webmail",
    "email_disposable": "email on the business's own domain vs free webmail",
    "email_domain_matches_website": "whether the email domain matches the website",
    "has_website": "online presence",
    "social_profile_count": "online presence (social or professional profiles)",
    "licence_required": "business licences where the industry needs them",
    "licence_missing": "business licences where the industry needs them",
    "verification_status": "identity verification outcome and failures",
    "verification_failures": "identity verification outcome and failures",
    "phone_present": "contact details",
    "phone_valid": "contact details",
    "phone_country_mismatch": "known location",
    "name_email_similarity": "identity consistency",
    "bank_holder_similarity": "bank account ownership matching the account holder",
    "has_address": "physical address",
    "has_tax_id": "identity verification",
    "business_type": "business profile",
    "mcc_high_risk": "business profile (industry risk)",
    "representative_age": "identity (synthetic identities skew young)",
    "signup_ip_type": "datacenter or foreign IP",
    "signup_ip_foreign": "datacenter or foreign IP",
    "signup_session_seconds": "device and session behaviour (scripted signups are fast)",
    "signup_hour_utc": "device and session behaviour",
}


def catalogue() -> list[FeatureInfo]:
    """Every feature, in model-input order."""
    out = [FeatureInfo(n, "application", d, APPLICATION_SIGNALS[n], "at signup")
           for n, d in APPLICATION_FEATURES.items()]
    out += [FeatureInfo(n, "velocity", d, "signup volume spikes; rings (device, IP, /24)",
                        "1 h / 1 d before signup (28 d baseline)")
            for n, d in VELOCITY_FEATURES.items()]
    out += [FeatureInfo(n, "links", d, "duplicate information vs known-fraud accounts; rings",
                        "all history before t") for n, d in LINK_FEATURES.items()]
    out += [FeatureInfo(a.name, f"activity:{a.table}", a.description, a.signal,
                        f"{a.window} d before t" if a.window else "all history before t")
            for a in AGGREGATES if a.name not in HELPER_AGGREGATES]
    out += [FeatureInfo(d.name, "activity:derived", d.description, d.signal, "see description")
            for d in DERIVED]
    out.append(FeatureInfo("account_age_days", "activity:derived", "Days since signup.",
                           "new accounts (first 30 days)", "at t"))
    return out


def feature_names() -> list[str]:
    return [f.name for f in catalogue()]


def markdown() -> str:
    """The catalogue as the Markdown page ``docs/features.md``."""
    lines = [
        "# Feature catalogue",
        "",
        "Generated from `riskscore.features.catalogue` (`riskscore features-doc > "
        "docs/features.md`). Every feature is computed as of a time *t* from what was known "
        "before *t*; onboarding features are frozen at signup. One definition serves batch "
        "(DuckDB SQL over Parquet, `features/batch_sql.py`), training snapshots (the same "
        "SQL for many `(account, t)` pairs) and online scoring (`features/online.py` over "
        "the entity store); `tests/features/test_parity.py` checks they agree.",
        "",
        f"{len(catalogue())} features.",
        "",
        "| feature | group | meaning | signal (DOMAIN.md) | window |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| `{f.name}` | {f.group} | {f.description} | {f.signal} | {f.window} |"
              for f in catalogue()]
    return "\n".join(lines) + "\n"
