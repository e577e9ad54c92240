"""``riskscore serve`` as a child process on a free loopback port (benchmarks and tests).

The server runs in its own session; stopping it terminates BentoML's arbiter and every
process under it (its workers run in process groups of their own), waiting a bounded time.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

HOST = "127.0.0.1"


class ServiceFailed(RuntimeError):
    """The service exited or did not become ready in time (the message holds its log)."""


def free_port() -> int:
    """A loopback port nobody listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def start_service(env: dict[str, str], log: Path, ready_timeout: float = 120.0,
                  service: str | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``riskscore serve`` (or ``bentoml serve SERVICE`` from the repository root)
    with ``env``; its process and base URL once ``/readyz`` answers 200. Output goes to
    ``log``. Raises :class:`ServiceFailed` (after stopping it)."""
    port = free_port()
    command = (["riskscore", "serve"] if service is None else ["bentoml", "serve", service])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *command, "--host", HOST, "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            cwd=Path(__file__).resolve().parent.parent)
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceFailed(f"riskscore serve exited with {process.returncode}:\n"
                                f"{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_service(process)
    raise ServiceFailed(f"riskscore serve not ready within {ready_timeout:.0f} s:\n"
                        f"{log.read_text()[-4000:]}")


def stop_service(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM the server (its arbiter stops the workers); after ``timeout``, SIGKILL the
    server and any descendant still alive."""
    try:
        root = psutil.Process(process.pid)
        tree = [root, *root.children(recursive=True)]
        root.terminate()
    except psutil.NoSuchProcess:
        tree = []
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=5)
    if process.poll() is None:
        process.wait(timeout=5)
