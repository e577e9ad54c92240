from sqlalchemy import inspect

from riskscore.store import load_dataset, make_engine, upgrade
from riskscore.store.bulk import deferred_indexes
from riskscore.store.models import Identifier, Login, table_of


def test_sqlite_connection_settings_are_restored_after_a_load(tmp_path, dataset, hasher):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}", pool_size=1)
    upgrade(engine)
    load_dataset(dataset, engine, hasher=hasher)
    with engine.connect() as conn:  # the pool's only connection: the one that loaded
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -65536
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
    engine.dispose()


def test_deferred_indexes_only_for_empty_tables(engine, dataset, hasher):
    load_dataset(dataset, engine, hasher=hasher)
    with engine.connect() as conn:
        conn.exec_driver_sql("DELETE FROM logins")
        with deferred_indexes(conn, [table_of(Identifier), table_of(Login)]):
            live = inspect(conn)
            seen = {t: {i["name"] for i in live.get_indexes(t)} for t in ("identifiers",
                                                                         "logins")}
        rebuilt = {i["name"] for i in inspect(conn).get_indexes("logins")}
        conn.rollback()
    assert seen == {"identifiers": {"ix_identifiers_kind_value_hash_seen_at_account_id"},
                    "logins": set()}
    assert rebuilt == {"ix_logins_account_id_ts"}
