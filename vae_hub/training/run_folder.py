"""The run folder: checked against --resume / --overwrite before a run starts, and a failed
write inside it explained (what failed, the last good checkpoint, how to go on)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safetensors import SafetensorError

from ..atomic import remove_stale_temporaries
from ..errors import ConfigError, DataNotFoundError, WriteError
from . import checkpoints
from .options import SAVED_OPTIONS, TrainConfig


@contextmanager
def explained_write_failures(config: TrainConfig) -> Iterator[None]:
    """Turn a failed write inside the run folder into one WriteError saying what failed, the
    last good checkpoint and how to go on. Other errors pass through unchanged."""
    run_dir = config.run_dir
    try:
        yield
    except SafetensorError as e:  # safetensors reports its own I/O errors in its message
        cause = re.sub(r"^.*I/O error: ", "", str(e))
        where = run_dir / checkpoints.CHECKPOINTS_DIR
        raise WriteError(f"cannot write a checkpoint in {where}: {cause}. {_way_on(config)}") from e
    except OSError as e:
        inside = e.filename is not None and Path(e.filename).resolve().is_relative_to(
            run_dir.resolve()
        )
        if isinstance(e, DataNotFoundError) or not inside:
            raise
        raise WriteError(f"cannot write {e.filename}: {e.strerror}. {_way_on(config)}") from e


def _way_on(config: TrainConfig) -> str:
    latest = checkpoints.latest_checkpoint(config.run_dir)
    if latest is None:
        return (
            "No checkpoint was written yet; once the disk has room and the folder is "
            "writable, run the same command again."
        )
    return (
        f"The last good checkpoint is {latest}; once the disk has room and the folder is "
        "writable, continue with the same command and --resume."
    )


# What train.py itself puts in a run folder before its first checkpoint.
RUN_LEFTOVERS = {
    SAVED_OPTIONS,
    "runs",
    "training_images",
    "t_sne",
    checkpoints.CHECKPOINTS_DIR,
}


def prepare_run_dir(config: TrainConfig) -> None:
    """Check the run folder against --resume / --overwrite, and say what to do when they do
    not fit what the folder holds. A folder with no checkpoint and nothing but what a run
    writes before its first checkpoint (it was stopped early) is simply started anew."""
    run_dir = config.run_dir
    exists = checkpoints.has_checkpoint(run_dir)
    leftovers = _only_early_leftovers(run_dir)
    if config.resume and not exists:
        advice = "run the same command without --resume to start it" + (
            "" if leftovers else " (with --overwrite: the folder holds other files)"
        )
        raise ConfigError(
            f"--resume: nothing to resume in {run_dir}: it holds no checkpoint (a run stopped "
            f"before its first one saves none); {advice}"
        )
    if not config.resume and run_dir.exists() and any(run_dir.iterdir()):
        if exists and not config.overwrite:
            raise ConfigError(
                f"{run_dir} already holds a run; pass --resume to continue it, "
                "--overwrite to start over, or another --exp-name"
            )
        if not exists and not leftovers and not config.overwrite:
            raise ConfigError(
                f"{run_dir} holds files but no checkpoint of a run; pass --overwrite to "
                "replace them, or another --exp-name"
            )
        if not exists and leftovers:
            print(f"{run_dir} holds a run stopped before its first checkpoint; starting anew.")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(run_dir / checkpoints.CHECKPOINTS_DIR)


def _only_early_leftovers(run_dir: Path) -> bool:
    """True when `run_dir` holds only what train.py writes before its first checkpoint:
    options, logs, pictures, and in checkpoints/ at most hidden temporaries."""
    if not run_dir.is_dir():
        return True
    if any(entry.name not in RUN_LEFTOVERS for entry in run_dir.iterdir()):
        return False
    folder = run_dir / checkpoints.CHECKPOINTS_DIR
    return not folder.is_dir() or all(p.name.startswith(".") for p in folder.iterdir())
