from sqlalchemy import inspect, text

from riskscore.store import upgrade
from riskscore.store.models import Base

from .conftest import schema_diffs as _diffs


def test_migrated_schema_matches_models(engine):
    assert _diffs(engine) == []
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)


def test_comparison_detects_drift(engine):
    """The check above can fail: a missing index is reported."""
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_movements_account_id_ts"))
    diffs = _diffs(engine)
    assert [d[0] for d in diffs] == ["add_index"]
    assert diffs[0][1].name == "ix_movements_account_id_ts"


def test_upgrade_again_is_a_no_op(engine):
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [
            "0004"
        ]
    assert _diffs(engine) == []
