"""The pretrained model that ships inside the package, so a fresh clone works offline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ModelNotFoundError

BUNDLED = "pretrained"


def bundled_folder() -> Path:
    """Where the bundled model lives in the installed package (whether or not it is there)."""
    return Path(str(resources.files("vae_hub").joinpath(BUNDLED)))


def bundled_model_path() -> Path:
    """Folder of the bundled model (config.json, model.safetensors, README.md, ...)."""
    path = bundled_folder()
    if not (path / "model.safetensors").is_file():
        raise ModelNotFoundError(
            f"the bundled model is missing from {path}; reinstall vae-hub or pass --model"
        )
    return path
