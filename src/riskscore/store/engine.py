"""Engines and sessions for the store: a SQLite file by default, PostgreSQL by URL.

SQLite connections get WAL (readers never block the writer), enforced foreign keys, a
busy timeout and a larger page cache. pysqlite's own transaction handling is switched off
and ``BEGIN`` is emitted by SQLAlchemy instead, so SAVEPOINTs work (``record_application``
relies on them) and a writer can ask for ``BEGIN IMMEDIATE`` with the execution option
``sqlite_begin_immediate=True`` to take the write lock up front. :class:`WriteLock`
queues a SQLite store's writers across threads and processes (several service workers).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from riskscore.settings import get_settings
from riskscore.store.errors import InvalidData

log = logging.getLogger(__name__)

SUPPORTED_BACKENDS: tuple[str, ...] = ("sqlite", "postgresql")
SQLITE_PRAGMAS: tuple[str, ...] = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=10000",
    "cache_size=-65536",  # 64 MiB, unless the engine asks for more (make_engine)
    "temp_store=MEMORY",
)
SQLITE_CACHE_MIB = 64


def make_engine(url: str | None = None, *, cache_mib: int = SQLITE_CACHE_MIB,
                **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: the settings' database URL), SQLite or PostgreSQL.

    A SQLite file's parent directory is created and each connection gets a page cache of
    ``cache_mib``. With more than the default, the engine pools one connection, reused
    last-in first-out: the one whose cache :func:`warm_cache` filled (more connections
    are opened when needed and closed after use). Extra keyword arguments go to
    :func:`sqlalchemy.create_engine`.
    """
    url_obj = make_url(url or get_settings().resolved_database_url())
    if url_obj.get_backend_name() not in SUPPORTED_BACKENDS:
        raise InvalidData(
            f"database URL {url_obj.render_as_string(hide_password=True)!r}: the store runs on "
            f"{' or '.join(SUPPORTED_BACKENDS)}"
        )
    if url_obj.get_backend_name() == "postgresql":
        return create_engine(url_obj, pool_pre_ping=True, **kwargs)
    in_memory = not url_obj.database or url_obj.database == ":memory:"
    if not in_memory:
        Path(url_obj.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        if cache_mib > SQLITE_CACHE_MIB:
            kwargs = {"pool_size": 1, "pool_use_lifo": True, **kwargs}
    engine = create_engine(url_obj, **kwargs)
    pragmas = (*SQLITE_PRAGMAS, *([f"cache_size={-1024 * cache_mib}"]
                                  if cache_mib != SQLITE_CACHE_MIB else []))

    def connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit at driver level; _sqlite_begin
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine, "connect", connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def warm_cache(engine: Engine, tables: tuple[str, ...]) -> float:
    """Read every index of ``tables`` into a SQLite engine's pooled connection's page
    cache; the seconds taken (0 for other databases).

    The scoring service's lookups land on random pages of large indexes (an identifier
    hash, a device). The OS page cache holds them only while memory is not wanted
    elsewhere (the benchmark VMs give it back within minutes): then each lookup reads
    the disk. Read once into the connection's own cache (``make_engine(cache_mib=...)``,
    large enough to hold them), they stay in the process.
    """
    if engine.url.get_backend_name() != "sqlite":
        return 0.0
    started = time.perf_counter()
    with engine.connect() as conn:
        names = ", ".join(f"'{t}'" for t in tables)
        indexes = conn.execute(text(
            f"SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' "
            f"AND tbl_name IN ({names}) ORDER BY tbl_name, name")).all()
        for index, table in indexes:
            conn.execute(text(f'SELECT count(*) FROM "{table}" INDEXED BY "{index}"')).all()
    return time.perf_counter() - started


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get("sqlite_begin_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def checkpoint_in_background(engine: Engine, every_seconds: float, autocheckpoint_pages: int,
                             write_lock: WriteLock | None = None) -> threading.Event | None:
    """Move a SQLite store's WAL checkpoints off the commit path (for the scoring service).

    SQLite checkpoints from inside the commit that fills the WAL past
    ``wal_autocheckpoint`` pages (1,000 by default): that commit copies the WAL into the
    database and syncs it. Here a daemon thread, on its own connection, runs a PASSIVE
    checkpoint (it never blocks readers or the writer) every ``every_seconds``, and the
    engine's connections only checkpoint themselves past ``autocheckpoint_pages``, a bound
    should the thread fall behind.

    The WAL is rewritten from its start only by a writer that began after a checkpoint
    copied all of it; under steady writes a commit nearly always lands during the pass, so
    the WAL would only grow until a commit hit the bound and checkpointed ~10,000 pages
    itself (at 1M and 100 req/s: an 80-100 ms stall every 2.75 s). So after a pass that
    found frames in the WAL, the thread copies the few that commits added meanwhile while
    holding ``write_lock`` (the writers' :class:`WriteLock`), and the next writer starts the
    WAL afresh (doing so only past a WAL size measured a worse tail). That pass copies
    little but syncs the WAL and the database, and scoring waits meanwhile: the more the
    pass before it had to copy, the longer (at 1M here, 20-35 ms after passes 0.5 s apart,
    less than half that at 0.15 s). Returns the event that stops the thread; ``None``
    (nothing done) for other databases or in-memory SQLite.
    """
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None

    def bound(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint_pages)}")

    event.listen(engine, "connect", bound)
    engine.dispose()  # connections opened before this get the bound when reopened
    lock = write_lock or WriteLock(engine)
    stop = threading.Event()

    def run() -> None:
        # Its own connection, outside the engine's pool (the pooled ones are the writers').
        raw = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        finished = -1  # WAL size when the last locked pass ended: nothing new since
        owner = _CheckpointOwner(f"{database}-checkpoint.lock")
        with closing(raw), closing(owner):
            while not stop.wait(every_seconds):
                if not owner.claim():  # another process (service worker) checkpoints
                    continue
                try:
                    _busy, frames, _copied = raw.execute("PRAGMA wal_checkpoint(PASSIVE)"
                                                         ).fetchone()
                    if frames > 0 and frames != finished:
                        with lock():  # what commits added meanwhile, writers held
                            finished = raw.execute("PRAGMA wal_checkpoint(PASSIVE)"
                                                   ).fetchone()[1]
                except Exception:  # a failed checkpoint is retried next time
                    log.exception("WAL checkpoint failed")

    threading.Thread(target=run, name="wal-checkpoint", daemon=True).start()
    return stop


APPLICATION_WRITERS_KEY = 0x72736B617070  # "rskapp"
"""PostgreSQL advisory lock key of the transactions that record new applications."""


def lock_application_writers(session: Session) -> None:
    """Queue the transactions that read a new application's store features and record it,
    so each sees every application committed before it, whichever process wrote it. On
    SQLite such transactions already hold the database's one write lock (``BEGIN
    IMMEDIATE`` under :class:`WriteLock`); on PostgreSQL they take a transaction-scoped
    advisory lock (released at commit or rollback): without it, two service workers'
    applications sharing a device or an email in flight at once would miss each other."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                     {"key": APPLICATION_WRITERS_KEY})


class _CheckpointOwner:
    """One checkpointing thread per SQLite file: several service workers each start one,
    and two passes over the same WAL would only repeat each other's work and syncs (with
    two workers each spent ~8% of its samples there). The first to take a non-blocking
    ``flock`` on ``path`` keeps it while its process lives; the others try again at each
    tick, so one takes over when the owner's process exits."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._owned = False

    def claim(self) -> bool:
        if not self._owned:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self._owned = True
        return True

    def close(self) -> None:
        os.close(self._fd)  # releases the lock


class WriteLock:
    """One writer at a time on a SQLite file, across threads and processes.

    SQLite has one writer at a time, and a writer waiting on its lock sleeps in steps of
    milliseconds (the busy handler), while a deferred transaction that read before
    another process committed cannot write at all. Writers that hold this lock for the
    whole of a ``BEGIN IMMEDIATE`` transaction instead queue on a mutex (threads) and an
    ``flock`` on ``<database>-writer.lock`` (processes, e.g. several service workers),
    which wake the next writer as soon as the lock is released. For other databases and
    in-memory SQLite it does nothing.
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database
        self._path = (f"{database}-writer.lock" if engine.url.get_backend_name() == "sqlite"
                      and database and database != ":memory:" else None)
        self._mutex = threading.Lock()
        self._fd: int | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        with self._mutex:
            if self._fd is None:  # opened lazily, in the process that writes
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
