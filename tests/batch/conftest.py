"""A clean (uninterrupted) local rescore of the shared simulated platform."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

AS_OF = pd.Timestamp("2025-10-01", tz="UTC")
CHUNK = 2_500


@pytest.fixture(scope="session")
def clean_run(trained, sim_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A local rescore as of ``AS_OF`` in chunks of ``CHUNK``, never interrupted."""
    from riskscore.batch.rescore import rescore

    return rescore(sim_dir, AS_OF, tmp_path_factory.mktemp("clean"), chunk_size=CHUNK)
