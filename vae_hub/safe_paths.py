"""Names read from a folder that came from someone else may only ever mean a plain child of it.

Run folders and model folders travel (zips, shared disks, a colleague's cluster account) and
may be damaged or hostile: a JSON file that names "../../victim", a symlink to a file outside,
a FIFO that blocks its reader forever. So a name taken from such a folder is checked to be one
path component before it becomes a path, and a file or folder is used only when it is a
regular file or a real folder itself, never a symlink, before it is opened, renamed or deleted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

KINDS = {"file": stat.S_ISREG, "folder": stat.S_ISDIR}


def is_plain_name(name: object) -> bool:
    """True for one path component: no separator, not "." or "..", not empty."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in ("/", "\\", "\0"))
    )


def plain_child(
    folder: str | Path, name: str, kind: str = "file", error: type[Exception] = ValueError
) -> Path:
    """`folder / name` when `name` is a plain name and that path is a regular file
    (`kind` "file") or a folder ("folder") of its own, not a symlink, FIFO or device;
    otherwise `error` with a message naming the path (a missing one too)."""
    if not is_plain_name(name):
        raise error(f"{folder}: {name!r} is not the plain name of a {kind} inside that folder")
    path = Path(folder) / name
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise error(f"{path} is missing") from None
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
    if not KINDS[kind](mode):
        raise error(f"{path} is {describe(mode)}, not a {kind}; it is not read or followed")
    return path


def read_plain_file(
    folder: str | Path, name: str, limit: int, error: type[Exception] = ValueError
) -> bytes:
    """The bytes of the regular file `folder / name` (checked as `plain_child` does, and
    opened without following a symlink), refusing one of more than `limit` bytes before it
    is read."""
    path = plain_child(folder, name, "file", error)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # swapped since the check
                raise error(f"{path} is not a regular file; it is not read")
            data = f.read(limit + 1)
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
    if len(data) > limit:
        raise error(f"{path} is larger than {limit:,} bytes, more than such a file ever holds")
    return data


def describe(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    for test, words in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return words
    return "a special file"
