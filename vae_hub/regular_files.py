"""Reading the files of a folder that came from elsewhere as the regular files they must be.

A model folder or a run folder may be a stranger's (a tarball, a zip or a git clone, all of
which keep symbolic links). A `README.md` linked to /proc/self/environ, or a `training.json`
linked to a private key, would be shown or uploaded as if it were the folder's own file, and
a FIFO would hang whatever reads it. So a file is opened with O_NOFOLLOW (the kernel refuses a
link: no check that a swap could race) and O_NONBLOCK (a FIFO opens at once instead of waiting
for a writer), and fstat of the open file then decides: only a regular file is read. The
folder itself may be a link: that path is the caller's own choice.

Files that huggingface_hub downloaded are links by design (a cache snapshot links into the
repo's blobs); their readers pass `follow_link=True`.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import UnsafeFileError

NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
NON_BLOCKING = getattr(os, "O_NONBLOCK", 0)
KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def refusal(path: str | Path, mode: int) -> UnsafeFileError:
    """The error naming `path` and what it is instead of a regular file (`mode`: its st_mode)."""
    if stat.S_ISLNK(mode):
        return UnsafeFileError(
            f"{path} is a symbolic link; a folder's files are read only as regular files "
            "inside it (a link could point at any file on this machine)"
        )
    kind = KINDS.get(stat.S_IFMT(mode), "of an unknown kind")
    return UnsafeFileError(f"{path} is {kind}, not a regular file; only those are read")


@contextmanager
def open_regular(path: str | Path, *, follow_link: bool = False) -> Iterator[BinaryIO]:
    """`path` opened for reading in binary mode, if it is a regular file and (unless
    `follow_link`) not a symbolic link; else UnsafeFileError naming it. A missing file is
    FileNotFoundError, as open() raises it."""
    if not follow_link and not NO_FOLLOW and os.path.islink(path):  # no O_NOFOLLOW here
        raise refusal(path, stat.S_IFLNK)
    flags = os.O_RDONLY | NON_BLOCKING | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | (0 if follow_link else NO_FOLLOW))
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise refusal(path, stat.S_IFLNK) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise refusal(path, mode)
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        yield file


def file_size(file: BinaryIO) -> int:
    return os.fstat(file.fileno()).st_size


def read_regular_bytes(
    path: str | Path, max_bytes: int, *, limit: str | None = None, follow_link: bool = False
) -> bytes:
    """The bytes of the regular file `path`, refused (UnsafeFileError) above `max_bytes`
    before they are read; `limit` says why that size (default: "at most N are read")."""
    with open_regular(path, follow_link=follow_link) as file:
        size = file_size(file)
        data = file.read(max_bytes + 1) if size <= max_bytes else b""  # +1: it may grow
    if size > max_bytes or len(data) > max_bytes:
        told = f"{size:,} bytes" if size > max_bytes else f"over {max_bytes:,} bytes"
        raise UnsafeFileError(f"{path} is {told}; {limit or f'at most {max_bytes:,} are read'}")
    return data


def copy_regular(path: str | Path, dest: str | Path, max_bytes: int | None = None) -> None:
    """Copy the regular file `path` (a link, FIFO or device: UnsafeFileError) into a new
    file `dest`, refusing it above `max_bytes`: what is written is what was read from the
    file opened and checked, never a path opened again."""
    limit = float("inf") if max_bytes is None else max_bytes
    with open_regular(path) as source:
        if file_size(source) > limit:
            raise UnsafeFileError(
                f"{path} is {file_size(source):,} bytes; at most {max_bytes:,} are copied"
            )
        copied = 0
        with open(dest, "xb") as target:
            while chunk := source.read(1 << 20):
                copied += len(chunk)
                if copied > limit:  # it grew while being copied
                    raise UnsafeFileError(
                        f"{path} is over {max_bytes:,} bytes; at most that is copied"
                    )
                target.write(chunk)


def reopenable_path(file: BinaryIO, path: str | Path) -> str:
    """A path naming the very file `file` has open, for a library that takes only a path
    (safetensors): /proc/self/fd/N where the system has it (Linux), so what the library
    reads is what was checked; elsewhere `path` itself."""
    by_fd = f"/proc/self/fd/{file.fileno()}"
    return by_fd if os.path.exists(by_fd) else str(path)
