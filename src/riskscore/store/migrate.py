"""Schema migrations: Alembic, configured in code, scripts in ``store/migrations``.

``upgrade(url)`` brings a database to the latest schema; no ``alembic.ini`` is needed.
A new revision is generated from the models against a database at head::

    with make_engine(url).begin() as conn:
        command.revision(alembic_config(conn), "message", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from riskscore.store.engine import make_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the store's scripts; ``connection`` is used by ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade(url: str | Engine | None = None, revision: str = "head") -> None:
    """Migrate the store at ``url`` (an engine, or default: the settings' URL) to ``revision``."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
    finally:
        if engine is not url:
            engine.dispose()
