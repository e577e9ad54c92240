"""Request bodies shared by the in-process and the end-to-end service tests."""

from __future__ import annotations

import copy

from riskscore.contracts import Application

SAMPLE = Application.model_json_schema()["example"]


def application_body(account_id: str, **changes: object) -> dict:
    """The OpenAPI example application under a new id, with dotted-path ``changes``."""
    body = copy.deepcopy(SAMPLE)
    body.pop("created_at")
    body["account_id"] = account_id
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = body
        for p in parents:
            target = target[p]
        target[leaf] = value
    return body

