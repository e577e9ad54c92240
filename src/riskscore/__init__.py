"""riskscore: account-risk scoring for payment platforms."""

import os

# No telemetry, whoever imports us first (CLI, service, notebook, tests).
for _flag in ("MLFLOW_DISABLE_TELEMETRY", "BENTOML_DO_NOT_TRACK", "DO_NOT_TRACK"):
    os.environ.setdefault(_flag, "true")

__version__ = "0.1.0"
