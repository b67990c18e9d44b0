"""Resumable training checkpoints, written atomically and read without pickle.

A checkpoint is a save_pretrained folder (config.json, model.safetensors, README.md) plus
`training_state.safetensors`: the optimizer's tensors and the RNG states as tensors, and the
loop position and history as JSON in the safetensors metadata. `checkpoints/latest.json`
names the newest one and is replaced atomically after that folder is complete, so a run
killed at any moment still resumes from the last whole checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..atomic import atomic_directory, atomic_write_json
from ..errors import InvalidModelError
from ..model import VAE

CHECKPOINTS_DIR = "checkpoints"
LATEST = "latest.json"
STATE_FILE = "training_state.safetensors"


@dataclass
class TrainState:
    """Where the loop is. `batch` > 0 only for a checkpoint taken in the middle of an epoch."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches completed within epoch `epoch`
    step: int = 0  # optimisation steps in all
    elapsed: float = 0.0  # seconds spent training
    partial: dict[str, float] = field(default_factory=dict)  # running sums of a partial epoch
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per epoch


def checkpoint_name(state: TrainState) -> str:
    if state.batch == 0:
        return f"epoch-{state.epoch:04d}"
    return f"epoch-{state.epoch:04d}-batch-{state.batch:05d}"


def save_checkpoint(
    run_dir: Path,
    model: VAE,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    rng: dict[str, torch.Tensor],
    keep: bool,
    ema: VAE | None = None,
    augmentation: torch.nn.Module | None = None,
) -> Path:
    """Write checkpoints/<name>/ atomically, point latest.json at it, prune the one before
    unless it was marked `keep` (every checkpoint_every epochs).

    With weight averaging, the folder's model is the average (the one worth loading) and
    the raw training weights travel in training_state.safetensors as "raw.*" tensors; the
    augmentation's biases (`augmentation.py`), which are not part of the model, as
    "augmentation.*" tensors.
    """
    folder = run_dir / CHECKPOINTS_DIR
    name = checkpoint_name(state)
    tensors, param_groups = _flatten_optimizer(optimizer)
    tensors.update({f"rng.{k}": v.detach().cpu().contiguous() for k, v in rng.items()})
    if ema is not None:
        tensors.update(_with_prefix("raw.", model.state_dict()))
    if augmentation is not None:
        tensors.update(_with_prefix("augmentation.", augmentation.state_dict()))
    metadata = {"state": json.dumps(asdict(state)), "param_groups": json.dumps(param_groups)}
    with atomic_directory(folder / name) as tmp:
        (ema if ema is not None else model).save_pretrained(tmp)
        save_file(tensors, str(tmp / STATE_FILE), metadata=metadata)
    previous = _read_latest(folder)
    atomic_write_json(folder / LATEST, {"checkpoint": name, "keep": keep})
    if previous and previous["checkpoint"] != name and not previous.get("keep"):
        shutil.rmtree(folder / previous["checkpoint"], ignore_errors=True)
    return folder / name


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, if any."""
    return _find_latest(run_dir / CHECKPOINTS_DIR)


def has_checkpoint(run_dir: Path) -> bool:
    return latest_checkpoint(run_dir) is not None


@dataclass
class Checkpoint:
    """A checkpoint read back. `raw_weights` is set when `model` is a weight average: the
    training weights to resume from; `augmentation` when the run augments its data."""

    model: VAE
    optimizer_state: dict
    state: TrainState
    rng: dict[str, torch.Tensor]
    folder: Path
    raw_weights: dict[str, torch.Tensor] | None
    augmentation: dict[str, torch.Tensor] | None = None


def load_checkpoint(run_dir: Path, map_location: torch.device | str = "cpu") -> Checkpoint:
    """The newest checkpoint of a run."""
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise FileNotFoundError(f"no checkpoint to resume in {run_dir / CHECKPOINTS_DIR}")
    model = VAE.from_pretrained(folder, map_location=map_location)
    try:
        with safe_open(str(folder / STATE_FILE), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
        state = TrainState(**json.loads(metadata["state"]))
        param_groups = json.loads(metadata["param_groups"])
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as e:
        raise InvalidModelError(f"{folder / STATE_FILE} is damaged: {e}") from e
    raw = _prefixed(tensors, "raw.")
    augmentation = _prefixed(tensors, "augmentation.")
    return Checkpoint(
        model=model,
        optimizer_state=_unflatten_optimizer(tensors, param_groups),
        state=state,
        rng=_prefixed(tensors, "rng."),
        folder=folder,
        raw_weights=raw or None,
        augmentation=augmentation or None,
    )


def _with_prefix(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors to save under `prefix`, on the CPU and contiguous, as safetensors wants them."""
    return {prefix + k: v.detach().cpu().contiguous() for k, v in tensors.items()}


def _prefixed(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors saved under `prefix`, with it removed from their names."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list]:
    """Optimizer state_dict -> ({"optim.<param>.<name>": tensor}, JSON-safe param_groups)."""
    state_dict = optimizer.state_dict()
    tensors = {}
    for param_id, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{param_id}.{key}"] = tensor.detach().cpu().contiguous()
    return tensors, state_dict["param_groups"]


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], param_groups: list) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            state.setdefault(int(param_id), {})[name] = value
    return {"state": state, "param_groups": param_groups}


def _read_latest(folder: Path) -> dict | None:
    try:
        latest = json.loads((folder / LATEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return latest if isinstance(latest, dict) and "checkpoint" in latest else None


def _find_latest(folder: Path) -> Path | None:
    """latest.json's checkpoint, or (if that is unreadable) the newest complete folder."""
    latest = _read_latest(folder)
    if latest and (folder / latest["checkpoint"] / STATE_FILE).is_file():
        return folder / latest["checkpoint"]
    candidates = sorted(
        p for p in folder.glob("epoch-*") if p.is_dir() and (p / STATE_FILE).is_file()
    )
    return candidates[-1] if candidates else None
