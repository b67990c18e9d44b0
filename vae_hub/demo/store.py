"""The demo's pictures, as files that are written once and never rewritten.

Gradio saves a PIL image it is handed into its cache under a name derived from the picture's
bytes, rewriting that file on every request (`processing_utils.save_pil_to_cache`). Two
requests with identical outputs (the same seed, the default digit) then share one file, and
one rewrites it while the other's response streams it: the client gets fewer bytes than the
declared Content-Length (h11 "Too little data for declared Content-Length"). Handing Gradio a
path inside a static folder instead makes it serve the file as it is. Here every picture is
named by its content and created atomically (a temporary name, then a rename), and a file
that exists is only touched, never written again, so a response always streams a complete,
unchanging file.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

LIFETIME_S = 3600  # pictures unused this long are deleted (a page shows them for less)
SWEEP_EVERY_S = 300


class PictureStore:
    """Content-addressed PNG / GIF files in one folder. `keep` files (the pictures every
    visitor sees on arrival) are never swept."""

    def __init__(self, folder: str | Path | None = None):
        default = Path(tempfile.gettempdir()) / f"vae-hub-pictures-{os.getpid()}"
        self.folder = Path(folder or default)
        (self.folder / "keep").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._swept = time.monotonic()
        self._keep_all = False

    @contextmanager
    def keeping(self) -> Iterator[None]:
        """Every picture written inside is kept for the server's life (the first pictures,
        computed once at start-up, are referenced by every page ever served)."""
        self._keep_all = True
        try:
            yield
        finally:
            self._keep_all = False

    def png(self, picture: Image.Image, keep: bool = False) -> str:
        """The path of `picture` as a PNG file (written once)."""
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG", compress_level=1)
        return self.put(buffer.getvalue(), ".png", keep)

    def gif(self, frames: list[Image.Image], duration_ms: int, keep: bool = False) -> str:
        """An animated GIF that loops forever (written once)."""
        buffer = io.BytesIO()
        frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration_ms, loop=0)  # fmt: skip
        return self.put(buffer.getvalue(), ".gif", keep)

    def put(self, data: bytes, suffix: str, keep: bool = False) -> str:
        name = hashlib.sha256(data).hexdigest()[:32] + suffix
        path = self.folder / ("keep" if keep or self._keep_all else "") / name
        with self._lock:
            if path.exists():
                os.utime(path)  # in use again: not swept for another LIFETIME_S
            else:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=suffix)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            self._sweep()
        return str(path)

    def _sweep(self) -> None:
        """Delete pictures unused for LIFETIME_S (at most every SWEEP_EVERY_S)."""
        now = time.monotonic()
        if now - self._swept < SWEEP_EVERY_S:
            return
        self._swept = now
        cutoff = time.time() - LIFETIME_S
        for old in self.folder.glob("*.*"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                pass
