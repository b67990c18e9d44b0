"""Reading a saved model back: config.json and model.safetensors, checked before use.

Only JSON and safetensors are ever parsed, so a downloaded file can describe a wrong model
but never run code. Every problem becomes one `InvalidModelError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .errors import InvalidModelError, ModelNotFoundError

if TYPE_CHECKING:
    from .model import VAE

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def looks_like_local_path(name: str) -> bool:
    """True for names that can only mean a folder (a repo id is `name` or `owner/name`)."""
    return (
        name.startswith((".", "/", "~"))
        or "\\" in name
        or name.count("/") > 1
        or os.path.exists(name)
    )


def resolve_model_files(name: str, **hub_kwargs) -> tuple[Path, Path]:
    """Paths of (config.json, model.safetensors) for a local folder or a Hub repo id;
    `hub_kwargs` (revision, cache_dir, token, ...) go to `hub.download_model_files`."""
    folder = Path(name).expanduser()
    if folder.is_dir():
        for filename in (CONFIG_NAME, WEIGHTS_NAME):
            if not (folder / filename).is_file():
                raise ModelNotFoundError(
                    f"{folder / filename} is missing: a vae-hub model folder holds "
                    f"{CONFIG_NAME} and {WEIGHTS_NAME}, as written by VAE.save_pretrained()"
                )
        return folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if looks_like_local_path(name):
        raise ModelNotFoundError(f"no model folder at {name!r}")
    from .hub import download_model_files

    return download_model_files(name, **hub_kwargs)


def read_config(path: Path) -> dict:
    """Parse and validate config.json against the VAE schema."""
    from .model import validate_config

    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidModelError(f"{path}: cannot read it as JSON ({e})") from e
    if not isinstance(config, dict):
        raise InvalidModelError(f"{path}: expected a JSON object, got {type(config).__name__}")
    try:
        return validate_config(config)
    except ValueError as e:
        raise InvalidModelError(f"{path} is not a vae-hub VAE config: {e}") from e


def read_weights(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Load model.safetensors and check it holds exactly the tensors `model` expects."""
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidModelError(
            f"{path}: not a readable safetensors file (truncated or corrupt?): {e}"
        ) from e
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing tensors: {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {_some(unexpected)}")
    if mismatched:
        problems.append(f"shapes that do not match config.json: {_some(mismatched)}")
    if problems:
        raise InvalidModelError(f"{path} does not match its config.json: " + "; ".join(problems))
    return state


def load_model(
    cls: type[VAE],
    name: str,
    *,
    map_location: str | torch.device = "cpu",
    **hub_kwargs,
) -> VAE:
    """Build `cls` from config.json, fill it strictly from model.safetensors, eval mode."""
    config_path, weights_path = resolve_model_files(name, **hub_kwargs)
    model = cls(**read_config(config_path))
    model.load_state_dict(read_weights(weights_path, model), strict=True)
    return model.to(map_location).eval()


def _some(items: list[str], limit: int = 5) -> str:
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
