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

A name read from such a folder (a checkpoint that `latest.json` names, say) is checked to be
one path component before it becomes a path (`plain_child`): "../../victim" never is.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from ..errors import UnsafeFileError

NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
NON_BLOCKING = getattr(os, "O_NONBLOCK", 0)
KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe (FIFO)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def describe(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode):
        return "a regular file"
    return KINDS.get(stat.S_IFMT(mode), "a file of an unknown kind")


def refusal(path: str | Path, mode: int) -> UnsafeFileError:
    """The error naming `path` and what it is instead of a regular file (`mode`: its st_mode)."""
    if stat.S_ISLNK(mode):
        return UnsafeFileError(
            f"{path} is a symbolic link; a folder's files are read only as regular files "
            "inside it (a link could point at any file on this machine)"
        )
    return UnsafeFileError(f"{path} is {describe(mode)}, not a regular file; only those are read")


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


def is_plain_name(name: object) -> bool:
    """True for one path component: no separator, not "." or "..", not empty."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(c in name for c in ("/", "\\", "\0"))
    )


CHILD_KINDS = {"file": stat.S_ISREG, "folder": stat.S_ISDIR}


def plain_child(
    folder: str | Path, name: str, kind: str = "file", error: type[Exception] = UnsafeFileError
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
    if not CHILD_KINDS[kind](mode):
        raise error(f"{path} is {describe(mode)}, not a {kind}; it is not read or followed")
    return path


def read_plain_file(
    folder: str | Path, name: str, limit: int, error: type[Exception] = UnsafeFileError
) -> bytes:
    """The bytes of the regular file `folder / name` (a plain child, opened as
    `open_regular` opens a file), refusing one of more than `limit` bytes before it is read;
    every problem is `error` naming the path."""
    path = plain_child(folder, name, "file", error)
    try:
        return read_regular_bytes(
            path, limit, limit=f"more than such a file ever holds ({limit:,})"
        )
    except UnsafeFileError as e:
        raise error(str(e)) from None
    except OSError as e:
        raise error(f"cannot read {path}: {e.strerror}") from None
