"""One typed settings object, read from ``RISKSCORE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. Every tunable of the system lives here.

    Examples
    --------
    >>> import os
    >>> os.environ["RISKSCORE_DATABASE_URL"] = "sqlite:///tmp/x.db"
    >>> Settings().database_url
    'sqlite:///tmp/x.db'
    """

    model_config = SettingsConfigDict(env_prefix="RISKSCORE_", env_file=".env", extra="ignore")

    home: Path = Field(Path("var"), description="Directory for embedded stores and artifacts.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the entity store; default a SQLite file under home."
    )
    mlflow_uri: str | None = Field(
        None, description="MLflow tracking URI; default a SQLite file under home."
    )
    mlflow_experiment: str = Field("riskscore", description="MLflow experiment of training runs.")
    model_name: str = Field("riskscore", description="Registered model name in MLflow.")
    model_threads: int = Field(2, ge=1, description="Threads LightGBM uses to train (more "
                               "threads than free cores makes it many times slower).")
    duckdb_memory_limit: str = Field(
        "3GB", description="Memory DuckDB may use before spilling to disk (batch jobs)."
    )
    duckdb_threads: int = Field(2, description="Threads DuckDB uses (batch jobs).")
    hash_key: SecretStr = Field(
        SecretStr("riskscore-development-key-change-me"),
        description="HMAC key for identifier hashing. Set a secret value in production.",
    )
    cluster_max_size: int = Field(
        500, ge=1, description="Largest linked-account cluster the store explores for one account."
    )

    policy_path: Path = Field(
        Path(__file__).resolve().parent / "policy" / "default.yaml",
        description="Decision policy file (YAML; see docs/policy.md). Default: the packaged "
                    "policy.",
    )

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'riskscore.db').resolve()}"

    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
