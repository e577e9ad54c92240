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
other's decisions. A lone application (nothing else queued in its worker) is scored
whole here instead, model included: recorded, decided and logged in one transaction,
with one round trip.

The first worker to take ``<home>/run/recorder-<server pid>.lock`` starts the recorder as
its child process; every worker, that one included, talks to it over a Unix socket
(abstract, authenticated with a key derived from ``RISKSCORE_HASH_KEY``). The recorder
takes the same write lock as every other writer (webhooks, ``score_account``'s audit
rows, the checkpoint thread), so correctness never depends on it: a worker that cannot
reach it records in-process, as a single worker does, and tries to reconnect every few
seconds. It exits with the worker that started it; when the server restarts that worker,
the new one starts the next recorder.

An application whose recorder went away after recording it but before answering is
recorded again in-process: it answers 409 (the account exists; ``/score_account``
scores it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener, wait
from pathlib import Path
from typing import Any

from riskscore.contracts import Application, Decision
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
_ACCEPT_SECONDS = 0.1
RECONNECT_SECONDS = 5.0
CACHE_MIB = 1024
"""The recorder's SQLite page cache (at most ``serving_store_cache_mib``). At 1M accounts,
in-process, groups of 32, record only, the OS page cache warm: 0.77-0.81 ms an
application with 1 GiB (0.66-0.69 of CPU), 1.07-1.12 with 4 GiB (1.0 of CPU), the same
without checkpoints (0.89 against 1.23). Once the VM has given the OS page cache back,
1.3-1.9 ms whatever the size."""


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

def serve(settings: Settings, where: str, parent: int, models: tuple[Any, Any, Any]) -> None:
    """The recorder process: record what the workers send until ``parent`` exits.
    ``models``: the starting worker's model, challenger and policy, so a lone application
    decided here is decided by the same ones."""
    from riskscore.store.engine import make_engine, warm_cache

    logging.basicConfig(level=logging.INFO)
    model, challenger, policy = models
    engine = make_engine(settings.resolved_database_url(),
                         cache_mib=min(CACHE_MIB, settings.serving_store_cache_mib))
    scorer = Scorer(engine, model, policy, challenger, settings)
    seconds = warm_cache(scorer.engine, STORE_TABLES)
    log.info("recorder: store indexes read into the page cache in %.1f s", seconds)
    connections: list[Connection] = []
    listener = Listener(where, "AF_UNIX", authkey=_authkey(settings))
    threading.Thread(target=_accept, args=(listener, connections), daemon=True).start()
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    while True:
        batch = []
        # Read on this thread (no hand-off: one wake-up a request); a worker that has just
        # connected is waited on from the next pass, at most _ACCEPT_SECONDS later.
        for conn in wait(list(connections), timeout=_ACCEPT_SECONDS):
            try:
                batch.append((conn, conn.recv()))
            except (EOFError, OSError):  # the worker went away
                connections.remove(conn)
        if batch:
            _handle(scorer, batch)


def _accept(listener: Listener, connections: list[Connection]) -> None:
    while True:
        try:
            connections.append(listener.accept())
        except (OSError, EOFError, AuthenticationError) as exc:  # failed the handshake
            log.warning("recorder: refused a connection: %s", exc)


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(0)


def _handle(scorer: Scorer, batch: list[tuple[Connection, tuple[Any, ...]]]) -> None:
    """A lone application scored whole (recorded, decided, logged: one transaction);
    every recording waiting, from any worker, in one transaction, and if that fails,
    each in its own, so only the failing one fails (its worker then finds which of its
    applications it was)."""
    records = [(conn, m) for conn, m in batch if m[0] == "record"]
    for conn, (_, prepared, actor) in ((c, m) for c, m in batch if m[0] == "score"):
        _reply(conn, _attempt(scorer.score_prepared, prepared, actor))
    if not records:
        return
    prepared = [m[1] for _, m in records]
    logs = [d for _, m in records for d in m[2]]
    try:
        recorded = scorer.record_prepared(sum(prepared[1:], prepared[0]), logs)
    except Exception as exc:
        if len(records) == 1:
            _reply(records[0][0], ("error", exc))
        else:
            for conn, (_, one, earlier) in records:
                _reply(conn, _attempt(scorer.record_prepared, one, earlier))
        return
    start = 0
    for (conn, _), p in zip(records, prepared, strict=True):
        _reply(conn, ("ok", recorded.slice(start, start + len(p))))
        start += len(p)


def _attempt(call: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "ok", call(*args)
    except Exception as exc:
        return "error", exc


def _reply(conn: Connection, answer: tuple[str, Any]) -> None:
    try:
        conn.send(answer)  # pickled whole before anything is written
    except OSError:  # the worker went away
        return
    except Exception:  # an answer that does not pickle (an exception of a foreign kind)
        with contextlib.suppress(OSError):
            conn.send(("error", RuntimeError(repr(answer[1]))))


# ------------------------------------------------------------------------------ worker side

class RecorderClient:
    """A worker's connection to the recorder, with ``Scorer``'s recording methods. While
    the recorder cannot be reached it records with ``scorer`` in-process, and tries to
    reconnect every ``RECONNECT_SECONDS`` (a worker restarted by the server starts a new
    recorder)."""

    def __init__(self, scorer: Scorer, reconnect: Callable[[], Connection]) -> None:
        self.scorer = scorer
        self._reconnect = reconnect
        self._conn: Connection | None = reconnect()
        self._retry_at = 0.0
        self._closed = False
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

    def score_applications(self, applications: Sequence[Application], actor: str
                           ) -> list[Decision]:
        """As ``Scorer.score_applications`` (one transaction), in the recorder."""
        prepared = self.scorer.prepare(applications)
        try:
            return self._send(("score", prepared, actor))
        except RecorderUnavailable:
            return self.scorer.score_prepared(prepared, actor)

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
        return self._send(("record", prepared, audit))

    def _send(self, message: tuple[Any, ...]) -> Any:
        with self._lock:
            if self._conn is None:
                self._try_reconnect()
            if self._conn is None:
                raise RecorderUnavailable
            try:
                self._conn.send(message)
                status, result = self._conn.recv()
            except (OSError, EOFError) as exc:
                log.error("the recorder went away (%s): recording in-process until it is "
                          "back", exc)
                self._conn.close()
                self._conn = None
                self._retry_at = time.monotonic() + RECONNECT_SECONDS
                raise RecorderUnavailable from exc
            except Exception as exc:  # an answer that does not unpickle
                raise RuntimeError(f"the recorder's answer could not be read: {exc}") from exc
        if status == "error":
            raise result
        return result

    def _try_reconnect(self) -> None:
        if self._closed or time.monotonic() < self._retry_at:
            return
        try:
            self._conn = self._reconnect()
        except (OSError, AuthenticationError):
            self._retry_at = time.monotonic() + RECONNECT_SECONDS
        else:
            log.info("reconnected to the recorder")

    def close(self) -> None:
        with self._lock:
            self._closed = True
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
    owner = _start_if_first(scorer, settings, where, run_dir / f"recorder-{server}.lock")
    deadline = time.monotonic() + timeout
    key = _authkey(settings)
    while True:
        try:
            return RecorderClient(scorer, lambda: Client(where, "AF_UNIX", authkey=key)), owner
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


def _start_if_first(scorer: Scorer, settings: Settings, where: str, lock_path: Path
                    ) -> RecorderOwner | None:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    process = multiprocessing.get_context("spawn").Process(
        target=serve, name="riskscore-recorder",
        args=(settings, where, os.getpid(), (scorer.model, scorer.challenger, scorer.policy)),
        daemon=True)
    process.start()
    log.info("started the store recorder (pid %d)", process.pid)
    return RecorderOwner(process, fd, lock_path)
