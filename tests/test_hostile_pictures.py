"""Decompression bombs on every picture endpoint: small files that declare huge pictures.

Each is sent through gradio_client to the demo served in this process, so the server's
memory is this process's memory: its peak resident size (VmHWM in /proc) is reset before the
requests and read after. That bounds memory, it does not time anything.
"""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from vae_hub.pictures.inputs import MAX_PIXELS, open_picture

PEAK_GROWTH_MB = 100  # a few tens of MB per request at most; the bombs used to cost gigabytes


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG of width x height white pixels, compressed row by row (its bytes are
    a few hundred KB at most; building it never holds the picture in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    parts = [packer.compress(row) for _ in range(height)]
    idat = b"".join(parts) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def tiff_bomb(path: Path, side: int = 12000) -> Path:
    """The 12000x12000 1-bit group4 TIFF of the original report (about 10 KB), made in a child
    process so building it does not raise this process's memory peak."""
    code = (
        "import sys; from PIL import Image; "
        f"Image.new('1', ({side}, {side}), 1).save(sys.argv[1], compression='group4')"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "tiff 12000x12000": tiff_bomb(folder / "g4.tiff"),
        "png 12000x12000": png_bomb(folder / "big.png", 12000, 12000),
        "png 30000x30000": png_bomb(folder / "huge.png", 30000, 30000),
    }


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def current_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) / 1024


def test_the_bombs_are_small_files_declaring_huge_pictures(bombs):
    for path in bombs.values():
        assert path.stat().st_size < 1_000_000
        with pytest.raises(ValueError, match="at most 16,777,216|too large"):
            open_picture(path)


def _sketch(path):
    from gradio_client import handle_file

    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def _calls(path):
    """Every endpoint that takes a picture, with the bomb in each picture slot."""
    from gradio_client import handle_file

    sketch = _sketch(path)
    return [
        ("/reconstruct", (handle_file(str(path)),)),
        ("/reconstruct_drawing", (sketch,)),
        ("/interpolate", ("1", 0, sketch, "8", 2, None, 5, "linear")),
        ("/interpolate", ("1", 0, None, "8", 2, sketch, 5, "linear")),
    ]


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_bombs_on_every_picture_endpoint_cost_no_memory_and_leak_no_paths(client, bombs):
    from gradio_client.exceptions import AppError

    client.predict(2, 0, 1.0, api_name="/sample")  # warm up: first-call allocations
    for name, path in bombs.items():
        for endpoint, args in _calls(path):
            reset_peak_rss()
            before = current_rss_mb()
            with pytest.raises(AppError) as caught:
                client.predict(*args, api_name=endpoint)
            growth = peak_rss_mb() - before
            message = str(caught.value)
            assert re.search(r"at most 16,777,216|too large", message), (name, endpoint, message)
            assert "/tmp" not in message and "gradio" not in message.lower(), message
            assert "DecompressionBomb" not in message and "Traceback" not in message
            assert growth < PEAK_GROWTH_MB, f"{name} on {endpoint}: +{growth:.0f} MB peak"
    assert client.predict(api_name="/noop") == "ok"  # still serving


def test_a_picture_just_under_the_limit_is_shrunk_before_it_becomes_floats():
    from PIL import Image

    from vae_hub.pictures.inputs import WORKING_SIDE, shrink, to_grey

    side = int(MAX_PIXELS**0.5)
    picture = Image.new("1", (side, side), 1)
    assert max(shrink(picture).size) == WORKING_SIDE
    assert to_grey(picture).shape == (WORKING_SIDE, WORKING_SIDE)
