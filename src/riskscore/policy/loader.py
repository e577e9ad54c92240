"""Read a policy file: YAML -> validated :class:`Policy`, with a versioned content hash."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from riskscore.policy.errors import PolicyError
from riskscore.policy.model import Policy
from riskscore.settings import get_settings

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.yaml")


def load_policy(path: Path | str | None = None, *,
                features: Iterable[str] | None = None) -> Policy:
    """Load and validate a policy file (default: ``settings.policy_path``).

    ``features`` are the feature names rules may use (default: the feature catalogue).
    Raises :class:`PolicyError` naming the file and each problem (unknown feature, rule,
    unordered thresholds, bad delay bounds, YAML syntax).
    """
    path = Path(path) if path is not None else get_settings().policy_path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"policy file {path}: cannot read it ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise PolicyError(f"policy file {path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"policy file {path}: expected a mapping of settings at the top, "
                          f"got {type(raw).__name__}")
    raw["content_hash"] = hashlib.sha256(data).hexdigest()[:8]
    context = {"features": list(features)} if features is not None else None
    try:
        return Policy.model_validate(raw, context=context)
    except ValidationError as exc:
        raise PolicyError(f"policy file {path}: " + "; ".join(
            _describe(err, raw) for err in exc.errors())) from exc


def _describe(err: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    """``rules.3 (DRAIN_PATTERN).all.0: cannot read condition ...``"""
    loc = [str(p) for p in err["loc"]]
    if len(loc) >= 2 and loc[0] == "rules" and loc[1].isdigit():
        rules = raw.get("rules")
        rule = rules[int(loc[1])] if isinstance(rules, list) and int(loc[1]) < len(rules) \
            else None
        if isinstance(rule, Mapping) and rule.get("code"):
            loc[1] = f"{loc[1]} ({rule['code']})"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{'.'.join(loc)}: {message}" if loc else message
