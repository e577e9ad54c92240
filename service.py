"""Entry point for `bentoml serve` / `bentoml build` from the repository root.

The service itself lives in ``riskscore.serving.service``; this file only makes the
``src/`` layout importable both here and inside a built Bento (which copies ``src/``).
"""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from riskscore.serving.service import RiskScore  # noqa: E402

__all__ = ["RiskScore"]
