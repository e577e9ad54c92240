"""A lean HTTP/1.1 load generator on asyncio streams (keep-alive, JSON POSTs).

Open loop (requests start on a fixed schedule whatever the server does, and latency is
counted from the scheduled start, so a stalled server cannot hide queueing) and closed
loop (N clients, each sending its next request when the previous answer arrives). Written
on raw streams rather than httpx so the client spends little of the shared two cores.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Body = Callable[[int], bytes]
IDLE_REUSE_S = 2.0  # reuse a pooled connection only if it answered this recently


class Connection:
    """One keep-alive connection to ``host:port``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str, headers: dict[str, str]) -> None:
        self.reader, self.writer = reader, writer
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": host, **headers}.items())
        self.closing = False  # the server said ``Connection: close``: open another

    @classmethod
    async def open(cls, host: str, port: int, headers: dict[str, str]) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}", headers)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST a JSON body; the status and the response body."""
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.head}Content-Type: application/json"
                          f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)}
        self.closing = headers.get("connection", "").lower() == "close"
        if "content-length" in headers:
            return status, await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            return status, b"".join(chunks)
        raise RuntimeError(f"response without a length: {lines[0]}")

    def close(self) -> None:
        self.writer.close()


@dataclass
class Outcome:
    """Latencies (ms) of successful answers, status counts, errors and wall time.

    Percentiles cover 200 answers only: a fast 429 or 503 (load shed) is not a score.
    """

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # by exception type
    seconds: float = 0.0
    items: int = 0  # scores returned (a batch answer holds many)

    def add(self, status: int, latency_ms: float, items: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.latencies_ms.append(latency_ms)
            self.items += items

    def summary(self) -> dict[str, object]:
        ms = np.array(self.latencies_ms) if self.latencies_ms else np.array([np.nan])
        answered = sum(self.statuses.values())
        return {"requests": answered, "ok": len(self.latencies_ms), "errors": self.errors,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "seconds": round(self.seconds, 2),
                "requests_per_s": round(answered / self.seconds, 1),
                "scores_per_s": round(self.items / self.seconds, 1),
                **{f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99)},
                "max_ms": round(float(ms.max()), 2)}


def _items(status: int, body: bytes) -> int:
    if status != 200:
        return 0
    data = json.loads(body)
    return len(data) if isinstance(data, list) else 1


async def open_loop(host: str, port: int, headers: dict[str, str], path: str, body: Body,
                    rate: float, count: int) -> Outcome:
    """``count`` requests started at a fixed ``rate`` per second, on pooled connections."""
    out, idle = Outcome(), []  # idle: (last used, connection), most recent last

    async def connection() -> Connection:
        while idle:  # the server closes keep-alive connections idle for a few seconds
            used, conn = idle.pop()
            if time.perf_counter() - used < IDLE_REUSE_S:
                return conn
            conn.close()
        return await Connection.open(host, port, headers)

    async def one(i: int, scheduled: float) -> None:
        conn = await connection()
        try:
            status, answer = await conn.post(path, body(i))
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            out.errors[type(exc).__name__] = out.errors.get(type(exc).__name__, 0) + 1
            conn.close()
            return
        out.add(status, (time.perf_counter() - scheduled) * 1000, _items(status, answer))
        if conn.closing:
            conn.close()
        else:
            idle.append((time.perf_counter(), conn))

    started = time.perf_counter()
    tasks = []
    for i in range(count):
        scheduled = started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    out.seconds = time.perf_counter() - started
    for _, conn in idle:
        conn.close()
    return out


async def closed_loop(host: str, port: int, headers: dict[str, str], path: str, body: Body,
                      clients: int, seconds: float) -> Outcome:
    """``clients`` connections, each sending back to back for ``seconds``."""
    out, counter = Outcome(), iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        conn = await Connection.open(host, port, headers)
        try:
            while time.perf_counter() < deadline:
                if conn.closing:  # as an HTTP client pool would: reconnect
                    conn.close()
                    conn = await Connection.open(host, port, headers)
                sent = time.perf_counter()
                status, answer = await conn.post(path, body(next(counter)))
                out.add(status, (time.perf_counter() - sent) * 1000, _items(status, answer))
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    out.seconds = time.perf_counter() - started
    return out
