"""Atomic writes: a file or folder appears whole under its final name, or not at all.

Everything is first written beside its destination (same filesystem) and then renamed, so a
run killed at any moment never leaves half a checkpoint, image or JSON file behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside `path`; on success it replaces `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        usual_file_mode(tmp)
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it becomes `path`.

    An existing `path` is moved aside first and deleted only after the new folder is in place.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # as a plain mkdir would, not mkdtemp's 0700
    try:
        yield tmp
        for file in tmp.rglob("*"):
            if file.is_file():
                usual_file_mode(file)
                _fsync_file(file)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            remove(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def usual_file_mode(path: str | Path) -> None:
    """Give a written file the mode open() would (0666 minus the umask). mkstemp, and
    safetensors >= 0.8 (it writes through a temporary file of its own), leave 0600, which
    hides models and checkpoints from the other users of a shared machine or server."""
    os.chmod(path, 0o666 & ~_umask())


def _umask() -> int:
    """The process umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temporaries(folder: str | Path) -> None:
    """Delete the hidden temporaries (".name.XXXX.tmp", ".name.old-PID") that a killed
    writer leaves beside its destination. Only call it when no other writer is running."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name.startswith(".") and (entry.name.endswith(".tmp") or ".old-" in entry.name):
            remove(entry)


def remove(path: str | Path) -> None:
    """Delete a file or a folder tree; a symlink is removed itself, never what it points to."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync_file(path: str | Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())
