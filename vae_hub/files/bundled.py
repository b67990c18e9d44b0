"""Which model to use when none is named: the one bundled with the package, so a fresh
clone works offline, unless $VAE_HUB_MODEL (or an exported Space) names another.

`BUNDLED` is the bundled model's folder as an absolute path, so
`VAE.from_pretrained(vae_hub.BUNDLED)` means the same model from any working folder (a
relative "vae_hub/pretrained" works only from the repository's root, and anywhere else
would be taken for a Hub repo id)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..errors import ModelNotFoundError

BUNDLED_FOLDER = "pretrained"
MODEL_ENV = "VAE_HUB_MODEL"
DEFAULT_MODEL_HELP = (
    f"a save_pretrained folder or a Hub repo id (default: ${MODEL_ENV}, else the bundled model)"
)


def bundled_folder() -> Path:
    """Where the bundled model lives in the installed package (whether or not it is there)."""
    return Path(str(resources.files("vae_hub").joinpath(BUNDLED_FOLDER)))


BUNDLED = str(bundled_folder())


def bundled_model_path() -> Path:
    """Folder of the bundled model (config.json, model.safetensors, README.md, ...)."""
    path = bundled_folder()
    if not (path / "model.safetensors").is_file():
        raise ModelNotFoundError(
            f"the bundled model is missing from {path}; reinstall vae-hub or pass --model"
        )
    return path


def default_model(baked: str | None = None, beside: Path | None = None) -> str:
    """$VAE_HUB_MODEL, else `baked` (the model an exported Space's app.py names: a repo id,
    or a folder `beside` the app), else the bundled model."""
    if os.environ.get(MODEL_ENV):
        return os.environ[MODEL_ENV]
    if baked:
        folder = (beside or Path.cwd()) / baked
        return str(folder) if folder.is_dir() else baked
    return str(bundled_model_path())


def display_name(source: str) -> str:
    """How a page names a model: a repo id as is, a local folder without the path to it
    (which says nothing to a visitor and leaks the server's layout)."""
    path = Path(source)
    if not path.is_dir():
        return source
    if path.resolve() == bundled_folder().resolve():
        return "vae_hub/pretrained (bundled)"
    return path.name
