from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from riskscore.contracts import Application
from riskscore.model import RiskModel
from riskscore.settings import Settings
from riskscore.training import registry

pytestmark = pytest.mark.xdist_group("trained")


def test_champion_exported_to_models_dir_and_bentoml_store(trained, tmp_path: Path) -> None:
    from riskscore.serving.export import export_champion

    path, tag = export_champion(tmp_path / "models")
    champion = registry.load(registry.CHAMPION)
    assert json.loads((path / "registry.json").read_text())["version"] == champion.version
    assert tag.startswith("riskscore-model:")
    x = np.zeros((1, len(champion.model.feature_names)))
    import bentoml

    served = RiskModel.load(bentoml.models.get(tag).path)
    np.testing.assert_allclose(served.predict_proba(x), champion.model.predict_proba(x))
    # A built Bento serves the packaged model, not the registry.
    from riskscore.scoring import Scorer

    scorer = Scorer.from_settings(Settings(bento_model=tag))
    np.testing.assert_allclose(scorer.model.predict_proba(x), served.predict_proba(x))


def test_example_application_is_valid() -> None:
    example = dict(Application.model_config["json_schema_extra"]["example"])
    example.pop("account_id")
    app = Application.model_validate(example)
    assert app.account_id.startswith("acct_")
