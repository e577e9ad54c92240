"""KeepAliveLimit: about one answer in N closes its connection, and nothing else changes."""

from __future__ import annotations

import itertools

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from riskscore.serving.connections import KeepAliveLimit


def _app(requests: int, draws) -> TestClient:
    inner = Starlette(routes=[Route("/", lambda _r: PlainTextResponse(
        "ok", headers={"Connection": "keep-alive"}))])
    return TestClient(KeepAliveLimit(inner, requests, draw=lambda: next(draws)))


def test_an_answer_closes_its_connection_when_the_draw_says_so() -> None:
    client = _app(4, iter([0.9, 0.1, 0.5, 0.24]))  # closes below 1/4
    answers = [client.get("/") for _ in range(4)]
    assert [r.headers.get("connection") for r in answers] == \
        ["keep-alive", "close", "keep-alive", "close"]  # one header, never both
    assert all(r.text == "ok" and r.status_code == 200 for r in answers)


def test_zero_never_closes() -> None:
    client = _app(0, itertools.repeat(0.0))
    assert client.get("/").headers.get("connection") == "keep-alive"
