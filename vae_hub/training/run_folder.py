"""The run folder: locked for the whole run, checked against --resume / --overwrite before a
run starts, and a failed write or a diverged run inside it explained (what failed, the last
good checkpoint, how to go on)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safetensors import SafetensorError

from ..errors import ConfigError, DataNotFoundError, DivergenceError, InvalidModelError, WriteError
from ..files.atomic import remove_stale_temporaries
from ..files.regular_files import plain_child
from . import checkpoints
from .options import SAVED_OPTIONS, TrainConfig


@contextmanager
def explained_failures(config: TrainConfig) -> Iterator[None]:
    """Turn a failed write inside the run folder into one WriteError, and add to a
    DivergenceError, what failed, the last good checkpoint and how to go on. Other errors
    pass through unchanged."""
    run_dir = config.run_dir
    try:
        yield
    except DivergenceError as e:
        raise DivergenceError(
            f"{e}; nothing from that step on was saved. {_way_on(config, e)}"
        ) from e
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


def _way_on(config: TrainConfig, diverged: DivergenceError | None = None) -> str:
    """How to go on after a failure: from the last good checkpoint, if there is one; a
    diverged run with a lower learning rate, a failed write once the disk has room."""
    fix = "with a lower --lr" if diverged else "once the disk has room and the folder is writable"
    try:
        latest = checkpoints.latest_checkpoint(config.run_dir)
    except InvalidModelError:
        latest = None
    if latest is None:
        return f"No checkpoint was written yet; run the same command again {fix}."
    if diverged:
        return f"The last good checkpoint is {latest}; continue from it with --resume {fix}."
    return (
        f"The last good checkpoint is {latest}; {fix}, continue with the same command and --resume."
    )


@contextmanager
def run_lock(config: TrainConfig) -> Iterator[Path]:
    """Hold the run folder for the whole run, so that a second run of the same name cannot
    delete it or write into it: an exclusive flock on OUTPUT_DIR/.EXP_NAME.lock, which holds
    the owner's PID. The lock file lies beside the run folder, so --overwrite (which deletes
    the folder) keeps it, and the OS drops the lock when the process ends however it ends,
    so a killed run leaves none behind. The file itself stays (deleting it would race)."""
    path = Path(config.output_dir) / f".{config.exp_name}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as e:
        raise WriteError(f"cannot open the lock file {path}: {e.strerror}") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path} is not a regular file; delete it to lock the run folder")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise ConfigError(
                f"{config.run_dir} is in use by a running train.py (PID "
                f"{owner if owner.isdigit() else 'unknown'}, holding {path}); wait for it to "
                "end or stop it, or pick another --exp-name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)


# What train.py itself puts in a run folder before its first checkpoint, and of what kind.
RUN_LEFTOVERS = {
    SAVED_OPTIONS: "file",
    "runs": "folder",
    "training_images": "folder",
    "t_sne": "folder",
    checkpoints.CHECKPOINTS_DIR: "folder",
}


def prepare_run_dir(config: TrainConfig) -> None:
    """Check the run folder against --resume / --overwrite, and say what to do when they do
    not fit what the folder holds. A folder with no checkpoint and nothing but what a run
    writes before its first checkpoint (it was stopped early) is simply started anew. A
    folder that is resumed must be a folder of its own, and so must what a run writes in it
    (no symlinks out of it); one that is replaced is deleted without following any."""
    run_dir = config.run_dir
    if os.path.lexists(run_dir):
        plain_child(run_dir.parent, run_dir.name, "folder", ConfigError)
    if config.resume:
        for name, kind in RUN_LEFTOVERS.items():
            if os.path.lexists(run_dir / name):
                plain_child(run_dir, name, kind, ConfigError)
        if not checkpoints.has_checkpoint(run_dir):
            advice = "run the same command without --resume to start it" + (
                ""
                if _only_early_leftovers(run_dir)
                else " (with --overwrite: the folder holds other files)"
            )
            raise ConfigError(
                f"--resume: nothing to resume in {run_dir}: it holds no checkpoint (a run "
                f"stopped before its first one saves none); {advice}"
            )
    elif run_dir.exists() and any(run_dir.iterdir()):
        if not config.overwrite:
            if checkpoints.has_checkpoint(run_dir):
                raise ConfigError(
                    f"{run_dir} already holds a run; pass --resume to continue it, "
                    "--overwrite to start over, or another --exp-name"
                )
            if not _only_early_leftovers(run_dir):
                raise ConfigError(
                    f"{run_dir} holds files but no checkpoint of a run; pass --overwrite to "
                    "replace them, or another --exp-name"
                )
            print(f"{run_dir} holds a run stopped before its first checkpoint; starting anew.")
        shutil.rmtree(run_dir)  # never follows a symlink inside
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
