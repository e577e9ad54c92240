"""MLflow tracking and registry: where runs are logged and models get their aliases.

Local by default (a SQLite backend under ``settings.home``); ``RISKSCORE_MLFLOW_URI``
points elsewhere. Aliases, not stages: a new model is ``challenger``; ``champion`` is
what serves.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from riskscore.model import RiskModel
from riskscore.settings import Settings, get_settings

CHAMPION = "champion"
CHALLENGER = "challenger"
BUNDLE = "bundle"
TEST_SET = "test_set/test.parquet"
SIGNATURE_ROWS = 1_000


class RiskModelPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc face of a bundle: a frame of features -> calibrated probability.

    Used by tooling and Spark (``mlflow.pyfunc.spark_udf``); the service loads the
    bundle directly to keep the hot path lean.
    """

    def load_context(self, context: Any) -> None:
        self.model = RiskModel.load(context.artifacts[BUNDLE])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> np.ndarray:
        return self.model.predict_proba(self.model.matrix(model_input))


class RegistryError(RuntimeError):
    """The registry does not hold what was asked for (no champion yet, unknown alias)."""


@dataclass(frozen=True)
class RegisteredModel:
    """A model loaded from the registry with where it came from."""

    model: RiskModel
    name: str
    version: str
    alias: str
    run_id: str

    @property
    def label(self) -> str:
        return f"{self.name}/v{self.version}"


def configure(settings: Settings | None = None) -> MlflowClient:
    """Point MLflow at the configured store and make sure the experiment exists."""
    settings = settings or get_settings()
    uri = settings.resolved_mlflow_uri()
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    if client.get_experiment_by_name(settings.mlflow_experiment) is None:
        artifacts = (settings.home / "mlartifacts").resolve()
        artifacts.mkdir(parents=True, exist_ok=True)
        client.create_experiment(settings.mlflow_experiment, artifact_location=artifacts.as_uri())
    mlflow.set_experiment(settings.mlflow_experiment)
    return client


def git_commit() -> str:
    """The commit of the code that trained the model ("unknown" outside a checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def log_model(model: RiskModel, example: pd.DataFrame, settings: Settings | None = None) -> str:
    """Log the bundle as a pyfunc in the active run, register it, alias it ``challenger``.

    The signature is inferred from the first ``SIGNATURE_ROWS`` rows of ``example``: its
    column types are the same in every row, and inferring it from a whole test set meant
    scoring every row once more. Returns the new registry version.
    """
    settings = settings or get_settings()
    client = configure(settings)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = model.save(Path(tmp) / BUNDLE)
        x = example[model.feature_names].head(SIGNATURE_ROWS).astype(np.float64)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=RiskModelPyfunc(), artifacts={BUNDLE: str(bundle)},
            signature=infer_signature(x, model.predict_proba(model.matrix(x))),
            input_example=x.head(3), registered_model_name=settings.model_name,
            pip_requirements=["lightgbm", "numpy", "pandas", "mlflow"])
    version = str(info.registered_model_version)
    client.set_registered_model_alias(settings.model_name, CHALLENGER, version)
    return version


def load(alias: str = CHAMPION, settings: Settings | None = None) -> RegisteredModel:
    """The bundle behind ``alias``, downloaded from the registry."""
    settings = settings or get_settings()
    client = configure(settings)
    try:
        mv = client.get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as exc:
        raise RegistryError(f"no model has the alias {alias!r} in registered model "
                            f"{settings.model_name!r} at {settings.resolved_mlflow_uri()}; "
                            "train one with `riskscore train`"
                            + (" and `riskscore promote`" if alias == CHAMPION else "")) from exc
    target = settings.home / "models" / f"{settings.model_name}-v{mv.version}"
    if not target.is_dir():
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{settings.model_name}/{mv.version}")
        staging = RiskModel.load(Path(local) / "artifacts" / BUNDLE).save(
            target.with_name(target.name + ".partial"))
        staging.replace(target)
    model = RiskModel.load(target)
    model.meta["version"] = f"{settings.model_name}/v{mv.version}"
    return RegisteredModel(model, settings.model_name, str(mv.version), alias, mv.run_id or "")


def run_test_set(run_id: str) -> pd.DataFrame:
    """The out-of-time test snapshots (features and labels) a run was evaluated on."""
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=TEST_SET)
    return pd.read_parquet(path)


def set_alias(alias: str, version: str, tags: dict[str, str],
              settings: Settings | None = None) -> None:
    """Move ``alias`` to ``version`` and record why on the version."""
    settings = settings or get_settings()
    client = configure(settings)
    client.set_registered_model_alias(settings.model_name, alias, version)
    for key, value in tags.items():
        client.set_model_version_tag(settings.model_name, version, key, value)
