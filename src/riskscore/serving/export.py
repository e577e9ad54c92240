"""Package the registry's champion for serving: a bundle under ``models/`` and a model in
the BentoML model store, which ``bentoml build`` packs into the Bento."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from riskscore.settings import Settings, get_settings
from riskscore.training import registry

BENTO_MODEL_NAME = "riskscore-model"


def export_champion(models_dir: Path, settings: Settings | None = None) -> tuple[Path, str]:
    """Copy the champion bundle to ``models_dir/champion`` and import it into BentoML's
    model store. Returns the bundle path and the BentoML model tag."""
    settings = settings or get_settings()
    os.environ.setdefault("BENTOML_HOME", str((settings.home / "bentoml").resolve()))
    import bentoml

    champion = registry.load(registry.CHAMPION, settings)
    target = models_dir / "champion"
    staging = champion.model.save(models_dir / "champion.partial")
    (staging / "registry.json").write_text(json.dumps(
        {"name": champion.name, "version": champion.version, "run_id": champion.run_id,
         "alias": champion.alias}, indent=2))
    if target.exists():
        shutil.rmtree(target)
    staging.replace(target)
    with bentoml.models.create(
            BENTO_MODEL_NAME, labels={"registry_version": champion.version},
            metadata={"registry": champion.label, "run_id": champion.run_id}) as bento_model:
        shutil.copytree(target, bento_model.path, dirs_exist_ok=True)
    return target, str(bento_model.tag)
