"""Loading policy files: the default loads; a bad file is an error naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from riskscore.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy
from riskscore.settings import Settings


def _write(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    edit(raw)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_policy_loads_with_a_hashed_version() -> None:
    policy = load_policy(DEFAULT_POLICY_PATH)
    assert policy.full_version.startswith(f"{policy.version}+")
    assert len(policy.content_hash) == 8 and policy.rules
    assert Settings().policy_path == DEFAULT_POLICY_PATH
    assert load_policy().full_version == policy.full_version


def test_settings_path_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, lambda raw: raw.update(version="custom-1"))
    monkeypatch.setenv("RISKSCORE_POLICY_PATH", str(path))
    assert Settings().policy_path == path
    assert load_policy(Settings().policy_path).version == "custom-1"


def test_any_edit_changes_the_version(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda raw: raw["bands"].update(manual_review=0.3))
    assert load_policy(path).version == load_policy().version
    assert load_policy(path).full_version != load_policy().full_version


def _edit_rule(field: str, value):
    def edit(raw):
        raw["rules"][1][field] = value
    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (_edit_rule("all", ["drain_cnt_30d >= 2"]),
     "rule KNOWN_FRAUD_BANK_OR_TAX_ID: unknown feature 'drain_cnt_30d'"),
    (_edit_rule("any", ["fraud_shared_bank_account => 1"]),
     "rules.1 (KNOWN_FRAUD_BANK_OR_TAX_ID).any.0: cannot read condition"),
    (_edit_rule("at_least", "ban"), "rules.1 (KNOWN_FRAUD_BANK_OR_TAX_ID).at_least"),
    (_edit_rule("code", "lower case"), "rules.1 (lower case).code"),
    (lambda raw: raw["rules"][0].pop("any"), "KNOWN_FRAUD_IDENTIFIER: give at least one "
                                              "condition"),
    (lambda raw: raw["rules"].append(dict(raw["rules"][0])),
     "rule code KNOWN_FRAUD_IDENTIFIER is used twice"),
    (lambda raw: raw["bands"].update(manual_review=0.05),
     "bands: manual_review (0.05) must be above delay_payouts (0.08)"),
    (lambda raw: raw["bands"].pop("approve"), "bands: `approve: 0.0` is required"),
    (lambda raw: raw["risk_levels"].update(critical=0.1),
     "risk_levels: critical (0.1) must be above high (0.2)"),
    (lambda raw: raw["risk_levels"].update(high=1.5), "risk_levels.high"),
    (lambda raw: raw["payout_delay"].update(min_days=40), "payout_delay.min_days"),
    (lambda raw: raw["payout_delay"].update(min_days=20, max_days=10),
     "payout_delay: min_days (20) is above max_days (10)"),
    (lambda raw: raw["payout_delay"]["exposure"].update(pending=1.0),
     "payout_delay.exposure: unknown feature 'pending'"),
    (lambda raw: raw["payout_delay"].update(max_days=5),
     "rule NEW_ACCOUNT_PULL_FUNDING: min_delay_days (6) is above payout_delay.max_days (5)"),
    (lambda raw: raw.update(fail_closed={"action": "approve"}),
     "fail_closed.action: must be manual_review or stricter"),
    (lambda raw: raw.update(surprise=1), "surprise: Extra inputs are not permitted"),
    (lambda raw: raw["rules"][4].update(at_least="approve"),
     "NEW_ACCOUNT_PULL_FUNDING: min_delay_days needs at_least delay_payouts"),
])
def test_bad_policy_errors_name_the_problem(tmp_path: Path, edit, message: str) -> None:
    path = _write(tmp_path, edit)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read it"):
        load_policy(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(PolicyError, match="expected a mapping"):
        load_policy(bad)


def test_feature_names_can_be_given(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="unknown feature 'account_age_days'"):
        load_policy(features=["balance"])
