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


def _wal_bytes_after_writes(tmp_path, name, background):
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    stop = checkpoint_in_background(engine, 0.005, 100_000) if background else None
    with engine.begin() as conn:
        conn.execute(text("PRAGMA wal_autocheckpoint=100000" if not background else "SELECT 1"))
        conn.execute(text("CREATE TABLE t (x TEXT)"))
    for i in range(300):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": f"{i:04d}" * 500})
        time.sleep(0.001)
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    size = (tmp_path / f"{name}-wal").stat().st_size
    if stop is not None:
        stop.set()
    engine.dispose()
    return size, pages


def test_background_checkpoints_keep_the_wal_small_without_the_commits_doing_it(tmp_path):
    # Without checkpoints the WAL holds every write; the background thread recycles it.
    alone, _ = _wal_bytes_after_writes(tmp_path, "alone.db", background=False)
    checkpointed, pages = _wal_bytes_after_writes(tmp_path, "bg.db", background=True)
    assert pages == 100_000  # commits on the engine's connections no longer checkpoint
    assert alone > 500_000
    assert checkpointed < alone / 4


def test_background_checkpoints_do_nothing_for_other_stores():
    assert checkpoint_in_background(make_engine("sqlite://"), 1.0, 1000) is None
