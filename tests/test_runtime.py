"""ONNX Runtime Web for the page: fetched from the npm registry once, checked, cached.

The real registry and the real tarball where they can be reached (skipped otherwise); a dead
port for a registry that cannot; files on disk flipped by a byte for a damaged cache.
"""

from __future__ import annotations

import functools
import gzip
import io
import shutil
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vae_hub.demo.runtime import FILES, OFF_ENV, BrowserRuntime, download, unpack

DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture(scope="module")
def fetched(tmp_path_factory):
    """A folder holding the three files, as the first start of a server leaves them."""
    runtime = BrowserRuntime(tmp_path_factory.mktemp("cache") / "ort")
    if not runtime.wait(180):
        pytest.skip(f"the npm registry cannot be reached: {runtime.problem}")
    return runtime.folder


def test_the_first_start_keeps_only_the_three_files_it_serves(fetched):
    assert sorted(p.name for p in fetched.iterdir()) == sorted(f.name for f in FILES)


def test_a_later_start_serves_the_cache_without_the_network(fetched, tmp_path):
    shutil.copytree(fetched, tmp_path / "ort")
    runtime = BrowserRuntime(tmp_path / "ort", registry=DEAD)
    assert runtime.wait(60)
    wasm = runtime.files()["ort-wasm-simd-threaded.wasm"]
    assert wasm.media == "application/wasm"
    assert gzip.decompress(wasm.zipped) == wasm.body
    assert runtime.files()["ort.wasm.min.mjs"].media == "text/javascript"


def test_a_damaged_cache_is_never_served(fetched, tmp_path):
    shutil.copytree(fetched, tmp_path / "ort")
    wasm = tmp_path / "ort" / "ort-wasm-simd-threaded.wasm"
    data = bytearray(wasm.read_bytes())
    data[len(data) // 2] ^= 0x01
    wasm.write_bytes(bytes(data))
    runtime = BrowserRuntime(tmp_path / "ort", registry=DEAD)
    assert not runtime.wait(60)  # the cache is refused, and the registry cannot be reached
    assert runtime.files() == {}
    assert "could not be fetched" in runtime.problem


def test_a_tarball_that_is_not_the_pinned_release_is_refused():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for file in FILES:
            info = tarfile.TarInfo(f"package/dist/{file.name}")
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))
    with pytest.raises(ValueError, match="does not match its integrity"):
        unpack(buffer.getvalue())


def test_offline_the_page_stays_on_the_server_path(tmp_path):
    runtime = BrowserRuntime(tmp_path / "ort", registry=DEAD)
    assert not runtime.wait(60)
    assert runtime.files() == {}
    assert "could not be fetched" in runtime.problem
    assert not (tmp_path / "ort").exists()  # nothing half-written


def test_it_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv(OFF_ENV, "off")
    runtime = BrowserRuntime(tmp_path / "ort")
    assert not runtime.wait(5)
    assert OFF_ENV in runtime.problem


def test_a_download_is_refused_past_its_size_before_it_is_all_read(tmp_path):
    (tmp_path / "big.tgz").write_bytes(b"x" * 100_000)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}/big.tgz"
        with pytest.raises(ValueError, match="larger than 1024 bytes"):
            download(url, 1024, timeout=30)
        assert len(download(url, 100_000, timeout=30)) == 100_000
        httpd.shutdown()
