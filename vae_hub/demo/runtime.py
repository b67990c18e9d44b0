"""ONNX Runtime Web for the page: fetched once from the npm registry, checked, cached, served.

The page decodes in the visitor's browser with `onnxruntime-web` (WASM backend, one thread).
Its files are not shipped with the package (the WASM binary alone is larger than the rest of
vae-hub together); the server fetches the pinned release's tarball from the npm registry the
first time it starts, checks it against the registry's published SHA-512, keeps only the
three files the WASM backend loads, and serves them itself, so the page never depends on a
CDN and a hosted Space works as a local run does. Until they are here, or where they cannot
be fetched (offline), the page uses the server for every picture: nothing else changes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tarfile
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..files.atomic import atomic_path
from .served import Served

VERSION = "1.31.1"
REGISTRY = "https://registry.npmjs.org"
# The registry's `dist.integrity` of onnxruntime-web@VERSION (`npm view onnxruntime-web@VERSION
# dist.integrity`): the tarball is used only when its SHA-512 is this one.
INTEGRITY = (
    "sha512-5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/"
    "1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
)
MAX_TARBALL = 64 * 2**20  # bytes; the release's tarball is about half of it
CACHE_ENV = "VAE_HUB_CACHE"  # where fetched files are kept (default: ~/.cache/vae-hub)
OFF_ENV = "VAE_HUB_BROWSER_RUNTIME"  # "off": never fetch it (every picture from the server)


@dataclass(frozen=True)
class RuntimeFile:
    """One file of the runtime: its name in the package's `dist/`, its media type, and the
    SHA-256 of its bytes in the pinned release (checked again whenever the cache is read)."""

    name: str
    media_type: str
    sha256: str


FILES = (
    RuntimeFile(
        "ort.wasm.min.mjs",
        "text/javascript",
        "c21d9c326d453a4a61398270c804d5979e118540597cb0c07f7b3d64e6098234",
    ),
    RuntimeFile(
        "ort-wasm-simd-threaded.mjs",
        "text/javascript",
        "30ed0b5cd1182ede931fea448afb567d4dc705ec957af09f108a2be5f770dac3",
    ),
    RuntimeFile(
        "ort-wasm-simd-threaded.wasm",
        "application/wasm",
        "4b884c203b0fa48d057be3332c65513ff85aa3c5bddd6946acc0fab7ecda001d",
    ),
)


def cache_root() -> Path:
    """$VAE_HUB_CACHE, else $XDG_CACHE_HOME/vae-hub, else ~/.cache/vae-hub."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vae-hub"


def tarball_url(registry: str = REGISTRY) -> str:
    return f"{registry.rstrip('/')}/onnxruntime-web/-/onnxruntime-web-{VERSION}.tgz"


def integrity_of(data: bytes) -> str:
    """The npm `integrity` string (Subresource Integrity, SHA-512) of `data`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def unpack(tarball: bytes) -> dict[str, bytes]:
    """The runtime's files from the release tarball, by name; each read from its exact
    member `package/dist/NAME` (no name from the archive ever becomes a path) and checked
    against its pinned SHA-256."""
    if integrity_of(tarball) != INTEGRITY:
        raise ValueError(f"the onnxruntime-web {VERSION} tarball does not match its integrity")
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for file in FILES:
            member = archive.getmember(f"package/dist/{file.name}")
            if not member.isreg():
                raise ValueError(f"package/dist/{file.name} is not a regular file")
            data = archive.extractfile(member).read()
            if hashlib.sha256(data).hexdigest() != file.sha256:
                raise ValueError(f"package/dist/{file.name} does not match its SHA-256")
            found[file.name] = data
    return found


class BrowserRuntime:
    """The runtime's files in a cache folder, fetched in the background on first use.

    `files()` answers what can be served now, by name: nothing until the files are here and
    checked. `start()` reads or fetches them once, without delaying the server; a failure
    leaves the page on the server path and is kept as `problem` (one line, for the log and
    the tests)."""

    def __init__(self, folder: Path | None = None, registry: str = REGISTRY):
        self.folder = folder or cache_root() / f"onnxruntime-web-{VERSION}"
        self.registry = registry
        self.problem: str | None = None
        self._files: dict[str, Served] = {}
        self._lock = threading.Lock()
        self._started = False
        self._thread: threading.Thread | None = None

    def files(self) -> dict[str, Served]:
        return self._files

    @property
    def version(self) -> str:
        return VERSION

    def start(self) -> None:
        """Make the files ready in a background thread (read from the cache, or fetched),
        once; the server starts meanwhile."""
        with self._lock:
            if self._started:
                return
            self._started = True
        if os.environ.get(OFF_ENV, "").lower() == "off":
            self.problem = f"${OFF_ENV} is off"
            return
        self._thread = threading.Thread(target=self._prepare, name="onnxruntime-web", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for `start()`'s work; True when the files can be served."""
        self.start()
        if self._thread is not None:
            self._thread.join(timeout)
        return bool(self._files)

    def _prepare(self) -> None:
        if not self._load_cached():
            self._fetch()

    def _load_cached(self) -> bool:
        found = {}
        for file in FILES:
            path = self.folder / file.name
            try:
                data = path.read_bytes()
            except OSError:
                return False
            if hashlib.sha256(data).hexdigest() != file.sha256:
                return False
            found[file.name] = data
        self._serve(found)
        return True

    def _fetch(self, timeout: float | None = 60.0) -> None:
        try:
            tarball = download(tarball_url(self.registry), MAX_TARBALL, timeout)
            found = unpack(tarball)
            for name, data in found.items():
                with atomic_path(self.folder / name) as tmp:
                    tmp.write_bytes(data)
        except (OSError, ValueError, httpx.HTTPError, tarfile.TarError, KeyError) as e:
            self.problem = f"onnxruntime-web {VERSION} could not be fetched: {e}"
            return
        self._serve(found)

    def _serve(self, found: dict[str, bytes]) -> None:
        immutable = "public, max-age=31536000, immutable"  # their path names the version
        self._files = {
            file.name: Served.of(found[file.name], file.media_type, immutable) for file in FILES
        }


def download(url: str, max_bytes: int, timeout: float | None) -> bytes:
    """The body at `url`, refused past `max_bytes` before it is all read."""
    chunks, size = [], 0
    with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise ValueError(f"{url} is larger than {max_bytes} bytes")
            chunks.append(chunk)
    return b"".join(chunks)
