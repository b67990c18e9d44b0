"""Resumable training checkpoints, written atomically and read without pickle.

A checkpoint is a save_pretrained folder (config.json, model.safetensors, README.md; no
decoder.onnx, whose export would cost seconds at every checkpoint) plus
`training_state.safetensors`: the optimizer's tensors and the RNG states as tensors, and the
loop position and history as JSON in the safetensors metadata. `checksums.json`, written
last, holds the SHA-256 of every other file, so a damaged file is found on --resume instead
of training on from wrong numbers. `checkpoints/latest.json` names the newest one and is
replaced atomically after that folder is complete, so a run killed at any moment still
resumes from the last whole checkpoint.

Run folders are shared and copied, so what they hold is checked before it is used: a name
from latest.json or a folder listing must be a checkpoint name, and every file or folder
opened, replaced or deleted must be a plain one inside the run folder (`regular_files`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import DivergenceError, InvalidModelError
from ..files.atomic import atomic_directory, atomic_write_json, remove
from ..files.model_files import CONFIG_NAME, WEIGHTS_NAME, parse_strict_json
from ..files.regular_files import plain_child, read_plain_file
from ..model.vae import VAE

CHECKPOINTS_DIR = "checkpoints"
LATEST = "latest.json"
STATE_FILE = "training_state.safetensors"
CHECKSUMS = "checksums.json"
# The names a checkpoint folder may have: epoch-NNNN, and epoch-NNNN-batch-NNNNN for one
# taken in the middle of an epoch (final/ is a model folder, not a checkpoint to resume).
CHECKPOINT_NAME = re.compile(r"epoch-(\d{4,})(?:-batch-(\d{5,}))?")
# latest.json and checksums.json hold a few lines; nothing larger is read.
MAX_JSON_BYTES = 64 * 1024
# The files a checkpoint cannot do without, each of which its checksums must cover.
NEEDED = (CONFIG_NAME, WEIGHTS_NAME, STATE_FILE)


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
    position: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoints/<name>/ atomically, point latest.json at it, prune the one before
    unless it was marked `keep` (every checkpoint_every epochs).

    With weight averaging, the folder's model is the average (the one worth loading) and
    the raw training weights travel in training_state.safetensors as "raw.*" tensors; the
    augmentation's biases (`augmentation.py`), which are not part of the model, as
    "augmentation.*" tensors. `position` (what the saved position means: the options a
    resume may not change, the training data's fingerprint) is stored for `--resume` to
    compare. A NaN or infinite value is never written: DivergenceError instead, so the
    checkpoint before stays the newest.
    """
    folder = run_dir / CHECKPOINTS_DIR
    name = checkpoint_name(state)
    served = ema if ema is not None else model
    tensors, param_groups = _flatten_optimizer(optimizer)
    tensors.update({f"rng.{k}": v.detach().cpu().contiguous() for k, v in rng.items()})
    if ema is not None:
        tensors.update(_with_prefix("raw.", model.state_dict()))
    if augmentation is not None:
        tensors.update(_with_prefix("augmentation.", augmentation.state_dict()))
    bad = nonfinite({**tensors, **served.state_dict()})
    if bad:
        raise DivergenceError(
            f"training diverged: NaN or infinite values in {', '.join(bad[:3])} at step "
            f"{state.step}; checkpoint {name} was not written"
        )
    metadata = {"state": json.dumps(asdict(state)), "param_groups": json.dumps(param_groups)}
    if position is not None:
        metadata["position"] = json.dumps(position)
    with atomic_directory(folder / name) as tmp:
        served.save_pretrained(tmp, decoder_onnx=False)  # resumed, not served: no export
        save_file(tensors, str(tmp / STATE_FILE), metadata=metadata)
        _write_checksums(tmp)  # last: it vouches for the files above
    previous = _read_latest(folder)
    atomic_write_json(folder / LATEST, {"checkpoint": name, "keep": keep})
    if previous and previous["checkpoint"] != name and not previous["keep"]:
        remove(folder / previous["checkpoint"])  # a checked name; a symlink loses only itself
    return folder / name


def nonfinite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors holding a NaN or an infinity."""
    return [
        name
        for name, tensor in tensors.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint folder of a run, if any: the one latest.json names,
    else (latest.json missing, or naming a folder that is gone) the newest one there.
    InvalidModelError, naming the file, for a latest.json or checkpoint folder that is not
    what a run writes (a symlink, a name outside checkpoints/, unreadable JSON)."""
    folder = _checkpoints_folder(run_dir)
    if folder is None:
        return None
    complete = _complete_checkpoints(folder)
    latest = _read_latest(folder)
    if latest is not None and folder / latest["checkpoint"] in complete:
        return folder / latest["checkpoint"]
    return complete[-1] if complete else None


def has_checkpoint(run_dir: Path) -> bool:
    return latest_checkpoint(run_dir) is not None


@dataclass
class Checkpoint:
    """A checkpoint read back. `raw_weights` is set when `model` is a weight average: the
    training weights to resume from; `augmentation` when the run augments its data;
    `position` when the checkpoint records what its position means (older ones do not);
    `verified` is False for a checkpoint without checksums (written by an earlier version)."""

    model: VAE
    optimizer_state: dict
    state: TrainState
    rng: dict[str, torch.Tensor]
    folder: Path
    raw_weights: dict[str, torch.Tensor] | None
    augmentation: dict[str, torch.Tensor] | None = None
    position: dict[str, Any] | None = None
    verified: bool = True


def load_checkpoint(run_dir: Path, map_location: torch.device | str = "cpu") -> Checkpoint:
    """The newest checkpoint of a run, its files checked against its checksums first. A
    damaged one is an InvalidModelError that names it and the newest intact one before it."""
    folder = latest_checkpoint(run_dir)
    if folder is None:
        raise FileNotFoundError(f"no checkpoint to resume in {run_dir / CHECKPOINTS_DIR}")
    try:
        verified = verify_checksums(folder)
        return _read_checkpoint(folder, map_location, verified)
    except InvalidModelError as e:
        raise InvalidModelError(f"{e}. {_way_back(folder)}") from e


def verify_checksums(folder: Path) -> bool:
    """Check every file of a checkpoint folder against its checksums.json: True when they
    match, False when there is no checksums.json (a checkpoint of an earlier version),
    InvalidModelError naming the first file that differs."""
    if not os.path.lexists(folder / CHECKSUMS):
        return False
    text = read_plain_file(folder, CHECKSUMS, MAX_JSON_BYTES, InvalidModelError)
    sums = _parse_json(folder / CHECKSUMS, text).get("sha256")
    if not isinstance(sums, dict) or not set(NEEDED) <= set(sums):
        raise InvalidModelError(f"{folder / CHECKSUMS} is damaged: it lacks files' checksums")
    for name, digest in sorted(sums.items()):
        path = plain_child(folder, name, "file", InvalidModelError)
        if _sha256(path) != digest:
            raise InvalidModelError(
                f"checkpoint {folder} is damaged: {name} does not match its SHA-256 in {CHECKSUMS}"
            )
    return True


def _read_checkpoint(folder: Path, map_location: torch.device | str, verified: bool) -> Checkpoint:
    for name in NEEDED:
        plain_child(folder, name, "file", InvalidModelError)
    model = VAE.from_pretrained(folder, map_location=map_location)
    path = folder / STATE_FILE
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}  # noqa: SIM118
        state = TrainState(**json.loads(metadata["state"]))
        optimizer_state = _unflatten_optimizer(tensors, json.loads(metadata["param_groups"]))
        position = json.loads(metadata["position"]) if "position" in metadata else None
    except (SafetensorError, OSError, KeyError, TypeError, ValueError) as e:
        raise InvalidModelError(f"{path} is damaged: {e}") from e
    bad = nonfinite(tensors)
    if bad:
        raise InvalidModelError(f"{path} is damaged: NaN or infinite values in {bad[0]}")
    raw = _prefixed(tensors, "raw.")
    augmentation = _prefixed(tensors, "augmentation.")
    return Checkpoint(
        model=model,
        optimizer_state=optimizer_state,
        state=state,
        rng=_prefixed(tensors, "rng."),
        folder=folder,
        raw_weights=raw or None,
        augmentation=augmentation or None,
        position=position if isinstance(position, dict) else None,
        verified=verified,
    )


def _way_back(damaged: Path) -> str:
    """What to do about a checkpoint that cannot be used: the newest other one that is
    intact, and how to resume from it."""
    try:
        others = [p for p in _complete_checkpoints(damaged.parent) if p != damaged]
    except InvalidModelError:
        others = []
    for other in reversed(others):
        try:
            checked = verify_checksums(other)
        except InvalidModelError:
            continue
        condition = "is intact" if checked else "has no checksums (an earlier version's)"
        return (
            f"The checkpoint {other} {condition}: move {damaged} out of {damaged.parent} (or "
            "delete it) and run the same command with --resume to continue from there"
        )
    return "No other checkpoint of this run is intact; start the run over with --overwrite"


def _checkpoints_folder(run_dir: Path) -> Path | None:
    """run_dir/checkpoints when it exists, checked to be a folder of its own."""
    if not os.path.lexists(run_dir / CHECKPOINTS_DIR):
        return None
    return plain_child(run_dir, CHECKPOINTS_DIR, "folder", InvalidModelError)


def _complete_checkpoints(folder: Path) -> list[Path]:
    """The checkpoint folders in `folder` that hold their training state, oldest first.
    An entry with a checkpoint's name that is not a folder of its own is refused."""
    found = []
    for entry in folder.iterdir():
        match = CHECKPOINT_NAME.fullmatch(entry.name)
        if match is None:
            continue
        plain_child(folder, entry.name, "folder", InvalidModelError)
        if os.path.lexists(entry / STATE_FILE):
            found.append(((int(match[1]), int(match[2] or 0)), entry))
    return [path for _, path in sorted(found)]


def _read_latest(folder: Path) -> dict | None:
    """latest.json ({"checkpoint": name, "keep": bool}), None when there is none. One that
    is not a regular file, not JSON, or names anything but a checkpoint of this folder is
    an InvalidModelError: its name is later opened and deleted."""
    path = folder / LATEST
    if not os.path.lexists(path):
        return None
    latest = _parse_json(path, read_plain_file(folder, LATEST, MAX_JSON_BYTES, InvalidModelError))
    name, keep = latest.get("checkpoint"), latest.get("keep", False)
    if not (isinstance(name, str) and CHECKPOINT_NAME.fullmatch(name)) or type(keep) is not bool:
        raise InvalidModelError(
            f"{path} names {name!r}, not a checkpoint of this run (epoch-NNNN or "
            "epoch-NNNN-batch-NNNNN); delete it to resume from the newest checkpoint folder"
        )
    return {"checkpoint": name, "keep": keep}


def _parse_json(path: Path, data: bytes) -> dict:
    """A JSON object from a run folder's file, strictly parsed; InvalidModelError naming
    `path` otherwise."""
    try:
        value = parse_strict_json(data.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise InvalidModelError(f"{path}: cannot read it as JSON ({reason})") from None
    if not isinstance(value, dict):
        raise InvalidModelError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def _write_checksums(folder: Path) -> None:
    sums = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}
    (folder / CHECKSUMS).write_text(json.dumps({"sha256": sums}, indent=2) + "\n", "utf-8")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
