"""Stripe webhooks over loopback HTTP: 10,000 deliveries, 10% duplicated, shuffled.

The webhook app (Starlette, as the service mounts it) runs under uvicorn in its own
process on 127.0.0.1 with a SQLite store; a client process posts every signed delivery
(4 connections in flight, as Stripe delivers concurrently). Checks: every answer 2xx,
and the final store equals the state the same events leave when delivered once, in
order (in-process).
Target: at least 300 deliveries per second.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
from pydantic import SecretStr

from benchmarks.common import ROOT, WORK, record
from benchmarks.stripe_stream import deliveries, event_stream, in_order, sign, store_state

TARGET_PER_SECOND = 300
DELIVERIES = 10_000
DUPLICATES = 0.10
CONCURRENCY = 4
SECRET = "whsec_benchmark"


def _store(name: str):
    from riskscore.store import make_engine, upgrade

    path = WORK / "webhooks" / name
    shutil.rmtree(path, ignore_errors=True)
    engine = make_engine(f"sqlite:///{path / 'store.db'}")
    upgrade(engine)
    return engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _post_all(url: str, bodies: list[bytes]) -> list[int]:
    statuses: list[int] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    async with httpx.AsyncClient(timeout=30) as client:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                response = await client.post(url, content=body, headers={
                    "Stripe-Signature": sign(body, SECRET), "Content-Type": "application/json"})
                statuses.append(response.status_code)
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


def server_app():  # noqa: ANN201 - uvicorn factory
    """The served app (``uvicorn --factory``): the store at ``RISKSCORE_BENCH_STORE``."""
    from riskscore.serving.webhooks import webhook_app
    from riskscore.settings import Settings
    from riskscore.store import make_engine

    calls = []
    return webhook_app(make_engine(os.environ["RISKSCORE_BENCH_STORE"]),
                       Settings(stripe_webhook_secret=SecretStr(SECRET)),
                       lambda account, as_of: calls.append(account))


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.bench_webhooks:server_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT.parent, env={**os.environ, "RISKSCORE_BENCH_STORE": url})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("webhook server did not start within 60 s")


def main() -> dict[str, object]:
    os.environ["RISKSCORE_HOME"] = str(WORK / "webhooks-home")
    from riskscore.integrations.stripe import WebhookProcessor
    from riskscore.settings import Settings

    settings = Settings(stripe_webhook_secret=SecretStr(SECRET))
    unique = round(DELIVERIES / (1 + DUPLICATES))
    events = event_stream(accounts=200, events_per_account=unique // 200 + 1, seed=11)[:unique]
    bodies = deliveries(events, DUPLICATES, seed=12)

    reference = _store("in-order")
    processor = WebhookProcessor(reference, settings)
    for body in in_order(events):
        processor.process(body, sign(body, SECRET))
    expected = store_state(reference)

    engine = _store("http")
    port = _free_port()
    server = _serve(str(engine.url), port)
    try:
        started = time.perf_counter()
        statuses = asyncio.run(_post_all(f"http://127.0.0.1:{port}/webhooks", bodies))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)

    per_second = len(bodies) / seconds
    all_2xx = all(200 <= s < 300 for s in statuses) and len(statuses) == len(bodies)
    same = store_state(engine) == expected
    result = {"deliveries": len(bodies), "events": len(events),
              "duplicates": len(bodies) - len(events), "concurrency": CONCURRENCY,
              "seconds": round(seconds, 2), "deliveries_per_second": round(per_second, 1),
              "all_2xx": all_2xx, "store_equals_in_order": same,
              "movements": len(expected["movements"]),
              "target_per_second": TARGET_PER_SECOND,
              "passed": all_2xx and same and per_second >= TARGET_PER_SECOND}
    record("webhooks", result)
    return result


if __name__ == "__main__":
    main()
