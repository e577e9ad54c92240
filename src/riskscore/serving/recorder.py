"""One process records every worker's new applications: the SQLite store's one writer.

With several service workers on one SQLite file, each recording applications on its own
connection, the workers queue on the store's write lock, and every commit of one empties
the other's page cache (SQLite drops a connection's cache when another connection has
written). Measured at 1M accounts with 32 clients: two workers on one store answered
~320-450 scores/s, two workers each on a copy of it 505-646/s at a quarter less CPU an
answer. So one process, the recorder, owns the recording transactions: workers hash an
application and compute its own features, send them here, and get back its store
features (duplicates, cluster, velocity) once it is recorded; they decide on it
themselves (the model and policy stay on the workers' cores) and send the audit rows
back, which the recorder writes with its next transaction. Requests waiting from both
workers go in one transaction, so one commit carries one worker's recording and the
other's decisions.

The first worker to take ``<home>/run/recorder-<server pid>.lock`` starts the recorder as
its child process; every worker, that one included, talks to it over a Unix socket
(abstract, authenticated with a key derived from ``RISKSCORE_HASH_KEY``). The recorder
takes the same write lock as every other writer (webhooks, ``score_account``'s audit
rows, the checkpoint thread), so correctness never depends on it: a worker that cannot
reach it records in-process, as a single worker does. It exits with the worker that
started it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from riskscore.contracts import Application
from riskscore.scoring import (
    STORE_TABLES,
    Decided,
    DecisionsNotLogged,
    Prepared,
    Recorded,
    Scorer,
)
from riskscore.settings import Settings

log = logging.getLogger(__name__)
CONNECT_SECONDS = 600.0
"""How long a worker waits for the recorder to listen: it reads the store's indexes into
its cache first (~12 s at 1M accounts), and a worker is not ready before it can record."""
_PARENT_POLL_SECONDS = 0.5
CACHE_MIB = 1024
"""The recorder's SQLite page cache (at most ``serving_store_cache_mib``). At 1M accounts,
in-process, groups of 16 with the checkpoint thread running: 1.16 ms an application with
1 GiB, 1.23 with 512 MiB, 1.27 with SQLite's usual cache, 1.5-1.9 with 2-4 GiB (the
larger the cache, the dearer each reset of it)."""


class RecorderUnavailable(RuntimeError):
    """The recorder cannot be reached: the worker records in-process."""


def address(settings: Settings, server: int) -> str:
    """The recorder's socket of the server with pid ``server`` (Linux abstract namespace:
    no file to clean up, no path length to mind)."""
    store = hashlib.sha256(settings.resolved_database_url().encode()).hexdigest()[:16]
    return f"\0riskscore-recorder-{server}-{store}"


def _authkey(settings: Settings) -> bytes:
    return hmac.new(settings.hash_key.get_secret_value().encode(), b"riskscore-recorder",
                    hashlib.sha256).digest()


# ----------------------------------------------------------------------------- process side

def serve(settings: Settings, where: str, parent: int) -> None:
    """The recorder process: record what the workers send until ``parent`` exits."""
    from riskscore.policy import load_policy
    from riskscore.store.engine import make_engine, warm_cache

    logging.basicConfig(level=logging.INFO)
    engine = make_engine(settings.resolved_database_url(),
                         cache_mib=min(CACHE_MIB, settings.serving_store_cache_mib))
    scorer = Scorer(engine, None, load_policy(settings.policy_path), settings=settings)
    seconds = warm_cache(engine, STORE_TABLES)
    log.info("recorder: store indexes read into the page cache in %.1f s", seconds)
    requests: queue.SimpleQueue[tuple[Connection, tuple[Any, ...]]] = queue.SimpleQueue()
    listener = Listener(where, "AF_UNIX", authkey=_authkey(settings))
    threading.Thread(target=_accept, args=(listener, requests), daemon=True).start()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    while True:
        batch = [requests.get()]
        while True:
            try:
                batch.append(requests.get_nowait())
            except queue.Empty:
                break
        _handle(scorer, batch)


def _accept(listener: Listener, requests: queue.SimpleQueue) -> None:
    while True:
        try:
            conn = listener.accept()
        except (OSError, EOFError, AuthenticationError) as exc:  # failed the handshake
            log.warning("recorder: refused a connection: %s", exc)
            continue
        threading.Thread(target=_read, args=(conn, requests), daemon=True).start()


def _read(conn: Connection, requests: queue.SimpleQueue) -> None:
    while True:
        try:
            requests.put((conn, conn.recv()))
        except (EOFError, OSError):  # the worker went away
            return


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(0)


def _handle(scorer: Scorer, batch: list[tuple[Connection, tuple[Any, ...]]]) -> None:
    """Every waiting request in one transaction; if that fails, each in its own, so only
    the failing one fails (the worker then finds which of its applications it was)."""
    prepared = [m[1] for _, m in batch]
    logs = [d for _, m in batch for d in m[2]]
    try:
        recorded = scorer.record_prepared(sum(prepared[1:], prepared[0]), logs)
    except Exception as exc:
        if len(batch) == 1:
            _reply(batch[0][0], ("error", exc))
        else:
            for conn, message in batch:
                _reply(conn, _attempt(scorer, message))
        return
    start = 0
    for (conn, _), p in zip(batch, prepared, strict=True):
        _reply(conn, ("ok", recorded.slice(start, start + len(p))))
        start += len(p)


def _attempt(scorer: Scorer, message: tuple[Any, ...]) -> tuple[str, Any]:
    _, prepared, logs = message
    try:
        return "ok", scorer.record_prepared(prepared, logs)
    except Exception as exc:
        return "error", exc


def _reply(conn: Connection, answer: tuple[str, Any]) -> None:
    try:
        conn.send(answer)
    except (OSError, ValueError):  # the worker went away; an error that does not pickle
        with contextlib.suppress(OSError, ValueError):
            conn.send(("error", RuntimeError(repr(answer[1]))))


# ------------------------------------------------------------------------------ worker side

class RecorderClient:
    """A worker's connection to the recorder, with ``Scorer``'s recording methods; when
    the recorder cannot be reached it records with ``scorer`` in-process from then on."""

    def __init__(self, scorer: Scorer, conn: Connection) -> None:
        self.scorer = scorer
        self._conn: Connection | None = conn
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def record_applications(self, applications: Sequence[Application],
                            log: Sequence[Decided] = ()) -> Recorded:
        """As ``Scorer.record_applications``, in the recorder."""
        prepared = self.scorer.prepare(applications)
        try:
            return self._ask(prepared, log)
        except RecorderUnavailable:
            return self.scorer.record_prepared(prepared, log)

    def log_decisions(self, decided: Sequence[Decided]) -> None:
        """As ``Scorer.log_decisions``, in the recorder."""
        try:
            self._ask(Prepared([], []), decided)
        except RecorderUnavailable:
            self.scorer.log_decisions(decided)
        except Exception as exc:
            raise DecisionsNotLogged([d.account_id for x in decided for d in x.decisions]
                                     ) from exc

    def _ask(self, prepared: Prepared, earlier: Sequence[Decided]) -> Recorded:
        audit = [Decided([], d.audit) for d in earlier]  # all the recorder writes of them
        with self._lock:
            if self._conn is None:
                raise RecorderUnavailable
            try:
                self._conn.send(("record", prepared, audit))
                status, result = self._conn.recv()
            except (OSError, EOFError) as exc:
                log.error("the recorder went away (%s): recording in-process from now on",
                          exc)
                self._conn.close()
                self._conn = None
                raise RecorderUnavailable from exc
            except Exception as exc:  # an answer that does not unpickle
                raise RuntimeError(f"the recorder's answer could not be read: {exc}") from exc
        if status == "error":
            raise result
        return result

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class RecorderOwner:
    """The recorder process this worker started (it won the election), stopped with it."""

    def __init__(self, process: multiprocessing.process.BaseProcess, lock_fd: int,
                 lock_path: Path) -> None:
        self.process, self._fd, self._path = process, lock_fd, lock_path

    def stop(self, timeout: float = 10.0) -> None:
        self.process.terminate()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
        with contextlib.suppress(OSError):
            self._path.unlink()
        os.close(self._fd)


def connect(scorer: Scorer, settings: Settings, run_dir: Path,
            timeout: float = CONNECT_SECONDS) -> tuple[RecorderClient, RecorderOwner | None]:
    """This worker's client of the recorder of its server (its parent process), which the
    first worker to ask starts. Raises :class:`RecorderUnavailable` if it does not listen
    within ``timeout``."""
    server = os.getppid()
    where = address(settings, server)
    owner = _start_if_first(settings, where, run_dir / f"recorder-{server}.lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            return RecorderClient(scorer, Client(where, "AF_UNIX",
                                                 authkey=_authkey(settings))), owner
        except AuthenticationError as exc:
            raise RecorderUnavailable("the recorder refused this worker's key") from exc
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            if owner is not None and not owner.process.is_alive():
                raise RecorderUnavailable(f"the recorder exited with "
                                          f"{owner.process.exitcode}") from exc
            if time.monotonic() > deadline:
                raise RecorderUnavailable(f"no recorder listening after {timeout:.0f} s"
                                          ) from exc
            time.sleep(0.1)


def _start_if_first(settings: Settings, where: str, lock_path: Path) -> RecorderOwner | None:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    process = multiprocessing.get_context("spawn").Process(
        target=serve, args=(settings, where, os.getpid()), name="riskscore-recorder",
        daemon=True)
    process.start()
    log.info("started the store recorder (pid %d)", process.pid)
    return RecorderOwner(process, fd, lock_path)
