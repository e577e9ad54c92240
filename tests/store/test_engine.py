import pytest
from sqlalchemy import text

from riskscore.store import InvalidData, make_engine, session_factory


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
