"""A small stand-in for the Stripe API on loopback, for the real ``stripe`` library.

Serves connected accounts and, per ``Stripe-Account`` header, their charges, refunds,
disputes and payouts as lists with ``has_more``/``starting_after`` pagination; accepts
account updates and rejections; records every request (path, headers, form body); and
answers the next requests with injected failures (e.g. 429, 500).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeStripe:
    def __init__(self) -> None:
        self.accounts: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[dict[str, Any]] = []
        self.failures: deque[int] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeStripe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                query = parse_qs(url.query)
                fake.requests.append({"method": method, "path": url.path, "query": query,
                                      "form": form, "headers": dict(self.headers)})
                if fake.failures:
                    status = fake.failures.popleft()
                    return self._answer(status, {"error": {"type": "api_error",
                                                           "message": f"injected {status}"}})
                parts = url.path.strip("/").split("/")
                if method == "GET" and parts[1:] == ["accounts"]:
                    return self._list(list(fake.accounts.values()), query)
                if method == "GET" and len(parts) == 2:
                    account = self.headers.get("Stripe-Account", "")
                    return self._list(fake.objects.get((account, parts[1]), []), query)
                if method == "POST" and parts[1] == "accounts" and parts[2] in fake.accounts:
                    account = fake.accounts[parts[2]]
                    if parts[3:] == ["reject"]:
                        account["charges_enabled"] = account["payouts_enabled"] = False
                    return self._answer(200, account)
                return self._answer(404, {"error": {"type": "invalid_request_error",
                                                    "message": f"no route {url.path}"}})

            def _list(self, items: list[dict[str, Any]], query: dict[str, list[str]]) -> None:
                limit = int(query.get("limit", ["10"])[0])
                after = query.get("starting_after", [None])[0]
                gte = query.get("created[gte]", [None])[0]
                if gte is not None:
                    items = [i for i in items if i.get("created", 0) >= int(gte)]
                start = 0 if after is None else next(
                    n + 1 for n, i in enumerate(items) if i["id"] == after)
                page = items[start:start + limit]
                self._answer(200, {"object": "list", "url": self.path, "data": page,
                                   "has_more": start + limit < len(items)})

            def do_GET(self) -> None:  # noqa: N802
                self._handle("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

        return Handler
