from alembic import command
from sqlalchemy import inspect, text

from riskscore.store import load_dataset, upgrade
from riskscore.store.migrate import alembic_config
from riskscore.store.models import Base

from .conftest import schema_diffs as _diffs


def test_migrated_schema_matches_models(engine):
    assert _diffs(engine) == []
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_comparison_detects_drift(engine):
    """The check above can fail: a missing index is reported."""
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_logins_account_id_ts"))
    diffs = _diffs(engine)
    assert [d[0] for d in diffs] == ["add_index"]
    assert diffs[0][1].name == "ix_logins_account_id_ts"


def test_upgrade_again_is_a_no_op(engine):
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            "0005"
        ]
    assert _diffs(engine) == []


def test_movements_keep_every_row_through_their_rekeying_and_back(engine, dataset, hasher):
    """0005 rebuilds movements on SQLite (clustered by account and time); rows survive it
    and its downgrade unchanged."""
    load_dataset(dataset, engine, hasher=hasher)

    def movements():
        with engine.connect() as conn:
            return conn.execute(text("SELECT * FROM movements ORDER BY movement_id")).all()

    before = movements()
    assert len(before) == 4
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
    assert movements() == before
    assert "ix_movements_account_id_ts" in {i["name"] for i in
                                            inspect(engine).get_indexes("movements")}
    upgrade(engine)
    assert movements() == before
    assert _diffs(engine) == []
