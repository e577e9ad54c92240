"""API-key authentication and request-size limits, as one ASGI middleware.

Keys come from ``settings.api_keys`` (caller name -> key); the caller's name is what the
audit log records as the decision's actor. Probes, metrics, the OpenAPI document and
Stripe webhooks (which carry their own signature) are open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from pydantic import SecretStr

OPEN_PREFIXES = ("/livez", "/readyz", "/healthz", "/metrics", "/docs", "/stripe/")
Scope = dict
Message = dict


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    """Who a presented key belongs to, compared in constant time."""

    def __init__(self, keys: Mapping[str, SecretStr]) -> None:
        self._keys = [(name, _digest(k.get_secret_value())) for name, k in keys.items()]

    def caller(self, headers: Mapping[str, str]) -> str | None:
        presented = headers.get("x-api-key") or ""
        auth = headers.get("authorization") or ""
        if not presented and auth.lower().startswith("bearer "):
            presented = auth[7:].strip()
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        for name, expected in self._keys:
            if hmac.compare_digest(digest, expected):
                found = name
        return found


async def _send_json(send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    """401 without a valid key, 413 for bodies over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app, keys: KeyRing, max_bytes: int) -> None:
        self.app = app
        self.keys = keys
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] == "/" or scope["path"].startswith(
                OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        caller = self.keys.caller(headers)
        if caller is None:
            await _send_json(send, 401, {"error": "missing or invalid API key (send it as "
                                                  "'Authorization: Bearer <key>' or X-API-Key)"})
            return
        scope.setdefault("state", {})["caller"] = caller
        declared = headers.get("content-length", "")
        if declared.isdigit():
            if int(declared) > self.max_bytes:
                await _send_json(send, 413, {"error": f"request body over {self.max_bytes} "
                                                      "bytes"})
                return
            await self.app(scope, receive, send)
            return
        body = await _read_up_to(receive, self.max_bytes)  # chunked: buffer, bounded
        if body is None:
            await _send_json(send, 413, {"error": f"request body over {self.max_bytes} bytes"})
            return
        await self.app(scope, _replay(body), send)


async def _read_up_to(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes):
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
