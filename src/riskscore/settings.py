"""One typed settings object, read from ``RISKSCORE_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

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
    model_path: Path | None = Field(
        None, description="A model bundle directory to serve instead of the registry's "
                          "champion (a built Bento sets this to its packaged model).")
    bento_model: str | None = Field(
        None, description="BentoML model tag to serve (set inside a built Bento, e.g. "
                          "'riskscore-model:latest'); takes precedence over model_path.")
    api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="API keys of the scoring service as JSON "
        '{"caller name": "key"}; the name is recorded as the actor of each decision.')
    max_request_bytes: int = Field(
        262_144, ge=1024, description="Largest scoring request body accepted (larger: 413).")
    serving_workers: int = Field(
        2, ge=1, description="Worker processes of the scoring service (one a core). New "
        "applications are recorded one transaction at a time across them (SQLite: a write "
        "lock on the file; PostgreSQL: an advisory lock), so each sees every one before it; "
        "HTTP, validation, the model and the policy run in parallel.")
    serving_keepalive_requests: int = Field(
        100, ge=0, description="Mean number of requests a keep-alive connection to the "
        "scoring service serves before the service closes it (0: never), so connections "
        "that all landed on one worker spread over the workers as clients reconnect.")
    serving_max_group: int = Field(
        16, ge=1, le=256, description="Most new applications the service scores in one "
        "transaction (group commit: those waiting when the scorer frees up; one at a time "
        "below saturation).")
    serving_store_cache_mib: int = Field(
        4096, ge=2, description="SQLite page cache of the service's store connection (MiB), "
        "filled at start-up with the indexes scoring reads (readiness waits: ~11-13 s and "
        "~2.1 GB of RSS at 1M accounts), so lookups never wait for the disk. 64 or less: SQLite's "
        "usual cache, no warm-up. With several workers each keeps at most 256 MiB (another "
        "worker's commit empties the cache: serving.service.store_cache_mib).")
    serving_recorder: bool = Field(
        True, description="On a SQLite store, one process (serving.recorder) records every "
        "worker's new applications and logs their decisions, so the workers do not queue on "
        "the write lock and empty each other's page cache; off: each worker records itself.")
    serving_access_log: bool = Field(
        False, description="BentoML's access log line per request (the audit log in the "
        "store records every decision either way; the line costs ~1 ms of the service's "
        "core a request).")
    serving_tracing: bool = Field(
        False, description="OpenTelemetry spans for the scoring routes (configure an "
        "exporter in BentoML's config to see them; unsampled spans still cost ~1 ms a "
        "request).")
    shadow_challenger: bool = Field(
        False, description="Also score the registry's challenger in shadow (never acted on).")
    model_threads: int = Field(2, ge=1, description="Threads LightGBM uses to train and to "
                               "explain a batch of rows (more threads than free cores makes "
                               "it many times slower).")
    duckdb_memory_limit: str = Field(
        "1.5GB", description="Memory DuckDB may use before spilling to disk (batch jobs; the "
        "4 GB batch budget also holds the output block of 1M x 175 floats and the NumPy "
        "work beside DuckDB; measured at 1M accounts: 2GB peaked at 3.9 GB, 1.5GB at 3.5 GB "
        "in the same time)."
    )
    duckdb_threads: int = Field(2, description="Threads DuckDB uses (batch jobs).")
    hash_key: SecretStr = Field(
        SecretStr("riskscore-development-key-change-me"),
        description="HMAC key for identifier hashing. Set a secret value in production.",
    )
    cluster_max_size: int = Field(
        500, ge=1, description="Largest linked-account cluster the store explores for one account."
    )
    sqlite_checkpoint_seconds: float = Field(
        0.15, gt=0, description="The scoring service checkpoints a SQLite store's WAL from a "
        "background thread this often, so commits on the request path do not. Each pass "
        "ends with scoring paused while it copies what commits added during it: the more "
        "often, the shorter (at 1M and 100 req/s, p99 15 ms every 0.15 s, 24-43 ms every "
        "0.5 s, 49 ms every 1 s).")
    sqlite_checkpoint_bound_pages: int = Field(
        10_000, ge=1000, description="WAL size (pages) past which a commit of the scoring "
        "service checkpoints anyway, should the background thread fall behind.")

    policy_path: Path = Field(
        Path(__file__).resolve().parent / "policy" / "default.yaml",
        description="Decision policy file (YAML; see docs/policy.md). Default: the packaged "
                    "policy.",
    )
    stripe_api_key: SecretStr | None = Field(
        None, description="Stripe secret API key; without it Stripe actions are only recorded."
    )
    stripe_api_base: str | None = Field(
        None, description="Stripe API base URL (default Stripe's; a local stand-in in tests)."
    )
    stripe_live_actions: bool = Field(
        False, description="Send decisions' actions to Stripe (else dry-run: recorded only)."
    )
    stripe_webhook_secret: SecretStr | None = Field(
        None, description="Signing secret of the Stripe webhook endpoint (whsec_...)."
    )
    stripe_webhook_tolerance_seconds: int = Field(
        300, ge=1, description="Oldest accepted Stripe-Signature timestamp, in seconds."
    )
    stripe_webhook_max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest webhook body accepted (larger: HTTP 413)."
    )
    stripe_max_retries: int = Field(
        4, ge=0, description="Retries of a Stripe call after HTTP 429, 5xx or a network error."
    )
    stripe_retry_initial_seconds: float = Field(
        0.5, ge=0, description="First retry delay; doubles each retry (exponential backoff)."
    )
    stripe_retry_budget_seconds: float = Field(
        30.0, ge=0, description="Most time one Stripe call may spend waiting between retries."
    )
    stripe_timeout_seconds: float = Field(
        20.0, gt=0, description="Timeout of one HTTP request to the Stripe API."
    )
    application_workers: int = Field(
        2, ge=1, description="Processes computing the onboarding features of applications new "
        "to a batch run's cache (Python: phone parsing and fuzzy matching, ~0.2 ms each; "
        "the first run over a million accounts computes them all).")
    rescore_chunk_size: int = Field(
        100_000, ge=1, description="Accounts per chunk of a batch rescore (bounds memory of "
                                  "scoring; one output file and resume point each).")
    rescore_explain: Literal["all", "held", "changed"] = Field(
        "held", description="Model reasons (TreeSHAP, ~100x the cost of a score) in a batch "
        "rescore: `all` accounts, as the service does, or only accounts the policy `held` "
        "(approvals below every band with no rule firing then carry no reasons), or "
        "`changed`: as held, but an account held exactly as in the previous run (same "
        "action, delay, model and policy) keeps that run's model reasons.")
    spark_master: str = Field(
        "local[2]", description="Spark master of `rescore --engine spark` (a cluster URL, or "
                                "local[N]; spark-submit's --master wins when given).")

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'riskscore.db').resolve()}"

    def resolved_mlflow_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
