import time

import pytest
from sqlalchemy import text

from riskscore.store import InvalidData, make_engine, session_factory
from riskscore.store.engine import checkpoint_in_background


def test_sqlite_engine_creates_parent_dir_and_sets_pragmas(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'store.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    assert (tmp_path / "a" / "b" / "store.db").exists()
    engine.dispose()


def test_sqlite_savepoints_roll_back_only_the_inner_work(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with session_factory(engine)() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        nested = session.begin_nested()
        session.execute(text("INSERT INTO t VALUES (2)"))
        nested.rollback()
        session.commit()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [1]
    engine.dispose()


def test_other_databases_are_refused_without_showing_the_password():
    with pytest.raises(InvalidData, match="mysql.*runs on sqlite or postgresql") as info:
        make_engine("mysql://user:secret@localhost/db")
    assert "secret" not in str(info.value)


def _wal_sizes(tmp_path, name, background):
    """WAL file size after a batch of writes, then after a pause and the same batch again."""
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    stop = checkpoint_in_background(engine, 0.01, 100_000) if background else None
    sizes = []
    with engine.begin() as conn:
        if not background:  # the same bound, without the thread
            conn.execute(text("PRAGMA wal_autocheckpoint=100000"))
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        pages = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    for _ in range(2):
        for i in range(100):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": f"{i:04d}" * 500})
        sizes.append((tmp_path / f"{name}-wal").stat().st_size)
        # The background thread checkpoints everything written (every 0.01 s; generous for
        # a thread starved by a loaded CI machine: 0.5 s once saw the WAL not yet recycled).
        time.sleep(2.0)
        if stop is not None:  # a pass that met the next writer would stop its WAL restart
            stop.set()
            time.sleep(0.1)
    engine.dispose()
    return sizes, pages


def test_background_checkpoints_recycle_the_wal_without_the_commits_doing_it(tmp_path):
    (one_batch, both), pages = _wal_sizes(tmp_path, "alone.db", background=False)
    assert both > 1.5 * one_batch  # nothing checkpointed: the WAL holds both batches
    (_first, second), pages = _wal_sizes(tmp_path, "bg.db", background=True)
    assert pages == 100_000  # commits on the engine's connections no longer checkpoint
    # Checkpointed in the pause: the second batch rewrote the WAL from its start (a WAL
    # also recycled during a slow first batch is smaller after it, so not compared).
    assert second < 1.2 * one_batch, (one_batch, second)


def test_background_checkpoints_do_nothing_for_other_stores():
    assert checkpoint_in_background(make_engine("sqlite://"), 1.0, 1000) is None


def test_background_checkpoints_recycle_the_wal_under_steady_writes(tmp_path):
    """Writers that never pause (as the service at 100 req/s): a pass nearly always ends
    with new commits in the WAL, so without finishing under the writers' lock the WAL
    would only grow, until a commit hit the bound and checkpointed all of it itself."""
    from riskscore.store.engine import WriteLock

    engine = make_engine(f"sqlite:///{tmp_path / 'steady.db'}")
    lock = WriteLock(engine)
    stop = checkpoint_in_background(engine, 0.01, 100_000, lock)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
    deadline, commits = time.monotonic() + 1.5, 0
    while time.monotonic() < deadline:
        with lock(), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 4000})
        commits += 1
        time.sleep(0.0005)  # the next request
    stop.set()
    wal_mb = (tmp_path / "steady.db-wal").stat().st_size / 1e6
    assert commits > 500 and wal_mb < 2, (commits, wal_mb)  # ~3 pages a commit: 10+ MB
    engine.dispose()


def test_a_large_cache_engine_pools_one_warm_connection(tmp_path):
    """``cache_mib`` above the default: one pooled connection with that cache, reused, and
    ``warm_cache`` reads the tables' indexes through it; the checkpoint thread keeps its
    own connection outside the pool."""
    from riskscore.store import upgrade
    from riskscore.store.engine import warm_cache

    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    engine = make_engine(url, cache_mib=512)
    stop = checkpoint_in_background(engine, 0.01, 100_000)
    assert warm_cache(engine, ("identifiers", "signups")) > 0
    time.sleep(0.05)
    assert engine.pool.checkedout() == 0 and engine.pool.size() == 1
    with engine.connect() as first:
        first_id = id(first.connection.driver_connection)
        assert first.execute(text("PRAGMA cache_size")).scalar() == -512 * 1024
    with engine.connect() as again:
        assert id(again.connection.driver_connection) == first_id
    stop.set()
    with make_engine(url).connect() as default:
        assert default.execute(text("PRAGMA cache_size")).scalar() == -64 * 1024


def test_one_checkpointer_per_store_file_and_another_takes_over(tmp_path):
    """Each service worker starts a checkpoint thread; only one of them checkpoints at a
    time, and when its process goes (its lock file closed) another takes over."""
    from riskscore.store.engine import _CheckpointOwner

    path = str(tmp_path / "store.db-checkpoint.lock")
    first, second = _CheckpointOwner(path), _CheckpointOwner(path)
    assert first.claim() and first.claim()
    assert not second.claim()
    first.close()
    assert second.claim()
    second.close()


@pytest.mark.postgres
def test_application_writers_queue_on_postgresql(engine) -> None:
    """The advisory lock of ``lock_application_writers``: a second writer's transaction
    waits for the first one's commit (SQLite writers queue on ``WriteLock`` instead)."""
    import threading

    from riskscore.store.engine import lock_application_writers, session_factory

    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers queue on WriteLock")
    sessions = session_factory(engine)
    acquired = threading.Event()

    def second() -> None:
        with sessions() as s, s.begin():
            lock_application_writers(s)
            acquired.set()

    with sessions() as first, first.begin():
        lock_application_writers(first)
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.5)  # held by the first transaction
    assert acquired.wait(5)  # released by its commit
    thread.join(5)
