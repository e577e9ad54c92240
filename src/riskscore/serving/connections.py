"""Keep-alive connections closed after about N requests, so they spread over the workers.

BentoML's workers share one listening socket, and a worker that wakes to accept takes
every connection pending: keep-alive clients that connect together (a pool opening its
connections) can all land on one worker and stay there while the other idles (measured
with 32 clients and two workers: one worker's scoring thread busy 99% of the time, the
other's 0%). As nginx's ``keepalive_requests`` does, each answer here closes its connection
with probability ``1 / requests``: the client reconnects, and the worker waiting in accept,
the less busy one, takes the new connection. Clients see an ordinary ``Connection: close``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE = (b"connection", b"close")


class KeepAliveLimit:
    """ASGI middleware: a response closes its connection with probability
    ``1 / requests`` (``requests`` 0: never).

    >>> app = KeepAliveLimit(app, requests=100)   # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, requests: int,
                 draw: Callable[[], float] = random.random) -> None:
        self.app = app
        self.probability = 1.0 / requests if requests > 0 else 0.0
        self.draw = draw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.probability or self.draw() >= self.probability:
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != CLOSE[0]]
                message = {**message, "headers": [*headers, CLOSE]}
            await send(message)

        await self.app(scope, receive, closing)
