"""The demo's pictures, as files that are written once and never rewritten, in a folder of
bounded size.

Gradio saves a PIL image it is handed into its cache under a name derived from the picture's
bytes, rewriting that file on every request (`processing_utils.save_pil_to_cache`). Two
requests with identical outputs (the same seed, the default digit) then share one file, and
one rewrites it while the other's response streams it: the client gets fewer bytes than the
declared Content-Length (h11 "Too little data for declared Content-Length"). Handing Gradio a
path inside a static folder instead makes it serve the file as it is. Here every picture is
named by its content and created atomically (a temporary name, then a rename), and a file
that exists is only touched, never written again, so a response always streams a complete,
unchanging file.

Visitors with distinct arguments add a new file per request, so the folder has a size and a
file cap: beyond either, the least recently used pictures are deleted first, but never one
used in the last FLOOR_S seconds (a page that just received its address may still be
fetching it) and never a kept one (the pictures every visitor sees on arrival). Deleting a
file while a response streams it is safe: on Linux the open file keeps its data until it is
closed.

The folder has a random name inside Gradio's temporary folder (GRADIO_TEMP_DIR), where
Gradio keeps its own cached files under names of the same kind: a picture's address, which
Gradio builds from its path, says no more about the server than Gradio's own files do.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MAX_BYTES = 256 * 2**20  # all pictures but the kept ones, on disk
MAX_FILES = 20_000
FLOOR_S = 300  # a picture used this recently is never deleted, whatever the caps
LIFETIME_S = 3600  # a picture unused this long is deleted, whatever the caps
KEEP = "keep"


@dataclass(frozen=True)
class StoreLimits:
    """When the store deletes its least recently used pictures: beyond `max_bytes` or
    `max_files`, but only pictures unused for `floor_s` seconds; and any picture unused
    for `lifetime_s`."""

    max_bytes: int = MAX_BYTES
    max_files: int = MAX_FILES
    floor_s: float = FLOOR_S
    lifetime_s: float = LIFETIME_S


def default_folder() -> Path:
    """A new folder with a random name in Gradio's temporary folder."""
    base = os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio"
    return Path(base) / secrets.token_hex(20)


class PictureStore:
    """Content-addressed PNG / GIF files in one folder. `keep` files (the pictures every
    visitor sees on arrival) are never deleted; the others are, least recently used first,
    as `limits` say."""

    def __init__(self, folder: str | Path | None = None, limits: StoreLimits | None = None):
        self.folder = Path(folder or default_folder())
        self.limits = limits or StoreLimits()
        (self.folder / KEEP).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._keep_all = False
        # path -> (size, last use), least recently used first: the pictures that may go
        self._files: OrderedDict[Path, tuple[int, float]] = OrderedDict()
        self._bytes = 0
        for path in sorted(self._unkept_files(), key=lambda p: p.stat().st_mtime):
            self._add(path, path.stat().st_size, path.stat().st_mtime)

    @property
    def files(self) -> int:
        """How many pictures may be deleted (all but the kept ones)."""
        return len(self._files)

    @property
    def bytes(self) -> int:
        return self._bytes

    @contextmanager
    def keeping(self) -> Iterator[None]:
        """Every picture written inside is kept for the server's life (the first pictures,
        computed once at start-up, are referenced by every page ever served)."""
        self._keep_all = True
        try:
            yield
        finally:
            self._keep_all = False

    def png(self, picture: Image.Image, keep: bool = False, name: str | None = None) -> str:
        """The path of `picture` as a PNG file (written once); with `name`, the file has
        that name (a download: the browser saves it under the name it is served by)."""
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", compress_level=1)
        return self.put(buffer.getvalue(), ".png", keep, name)

    def gif(
        self,
        frames: list[Image.Image],
        duration_ms: int,
        keep: bool = False,
        name: str | None = None,
    ) -> str:
        """An animated GIF that loops forever (written once), named like `png`."""
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration_ms, loop=0)  # fmt: skip
        return self.put(buffer.getvalue(), ".gif", keep, name)

    def put(self, data: bytes, suffix: str, keep: bool = False, name: str | None = None) -> str:
        """The path of a file holding `data`: `<hash><suffix>`, or `<hash>/<name>`."""
        digest = hashlib.sha256(data).hexdigest()[:32]
        kept = keep or self._keep_all
        folder = self.folder / KEEP if kept else self.folder
        path = folder / digest / name if name else folder / (digest + suffix)
        with self._lock:
            if path.exists():
                os.utime(path)  # in use again
            else:
                path.parent.mkdir(exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=suffix)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            if not kept:
                self._add(path, len(data), time.time())
                self._evict()
        return str(path)

    def _add(self, path: Path, size: int, used: float) -> None:
        old = self._files.pop(path, None)
        self._bytes += size - (old[0] if old else 0)
        self._files[path] = (size, used)

    def _evict(self) -> None:
        """Delete the least recently used pictures while the store is over a cap (and
        they are older than the floor) or they outlived their lifetime."""
        now = time.time()
        limits = self.limits
        while self._files:
            path, (size, used) = next(iter(self._files.items()))
            over = self._bytes > limits.max_bytes or len(self._files) > limits.max_files
            if not (over and used < now - limits.floor_s or used < now - limits.lifetime_s):
                return
            del self._files[path]
            self._bytes -= size
            path.unlink(missing_ok=True)
            if path.parent != self.folder:  # a named file's own folder
                with suppress(OSError):
                    path.parent.rmdir()

    def _unkept_files(self) -> Iterator[Path]:
        """The pictures already in the folder (a store opened on a folder in use)."""
        for path in self.folder.iterdir():
            if path.is_file() and not path.name.startswith("."):
                yield path
            elif path.is_dir() and path.name != KEEP:
                yield from (p for p in path.iterdir() if p.is_file())
