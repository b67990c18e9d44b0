"""The demo: every tab's function, then the real server through gradio_client."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vae_hub import VAE
from vae_hub.demo import tabs
from vae_hub.demo.figures import UPSCALE
from vae_hub.demo.inputs import sketch_to_image, upload_to_image
from vae_hub.demo.params import MAX_GRID, random_seed

CELL = 30  # a 28 px digit plus torchvision's 2 px grid padding


def grid_px(n: int, scale: int = UPSCALE) -> int:
    return (n * CELL + 2) * scale


SINGLE = 28 * UPSCALE  # torchvision leaves a lone image unpadded


def test_sample_tab_returns_an_upscaled_grid_and_the_seed(trained_model):
    picture, text = tabs.sample_tab(trained_model, 3, 42, 0.8)
    assert picture.mode == "L" and picture.size == (grid_px(3), grid_px(3))
    assert "42" in text
    again, _ = tabs.sample_tab(trained_model, 3, 42, 0.8)
    assert np.array_equal(np.asarray(picture), np.asarray(again))
    other, _ = tabs.sample_tab(trained_model, 3, 43, 0.8)
    assert not np.array_equal(np.asarray(picture), np.asarray(other))


def test_nearest_neighbour_upscaling_keeps_pixels_crisp(trained_model):
    picture, _ = tabs.sample_tab(trained_model, 1, 0, 1.0)
    assert picture.size == (SINGLE, SINGLE)
    block = np.asarray(picture)[UPSCALE * 2 : UPSCALE * 3, UPSCALE * 2 : UPSCALE * 3]
    assert (block == block[0, 0]).all()  # one source pixel -> one flat 8x8 block


def test_parameters_are_clamped_or_rejected(trained_model):
    picture, text = tabs.sample_tab(trained_model, 500, -5, 99)
    assert picture.size == (grid_px(MAX_GRID), grid_px(MAX_GRID))
    assert "**0**" in text and "temperature 2" in text
    for bad in ("many", None, float("nan")):
        with pytest.raises(ValueError, match="grid size must be"):
            tabs.sample_tab(trained_model, bad, 0, 1.0)


def test_digit_tab(trained_model):
    picture = tabs.digit_tab(trained_model, "7", 2, 0, 1.0)
    assert picture.size == (grid_px(2), grid_px(2))


def test_interpolate_tab_with_examples_and_with_a_drawing(trained_model):
    strip, gif = tabs.interpolate_tab(trained_model, "2", 0, None, "7", 3, None, 6, "slerp")
    assert strip.size == (grid_px(6, 4), grid_px(1, 4))
    animation = Image.open(gif)
    assert animation.format == "GIF" and animation.n_frames == 2 * 6 - 2
    drawing = np.full((280, 280), 255, dtype=np.uint8)
    drawing[60:220, 130:150] = 0  # a "1" drawn in black on the white Sketchpad
    sketch = {"background": None, "layers": [], "composite": drawing}
    strip2, _ = tabs.interpolate_tab(trained_model, "2", 0, sketch, "7", 3, None, 6, "linear")
    assert strip2.size == strip.size
    with pytest.raises(ValueError, match="method"):
        tabs.interpolate_tab(trained_model, "2", 0, None, "7", 0, None, 6, "cubic")


def test_reconstruct_tab_accepts_all_kinds_of_pictures(trained_model):
    rgba = np.zeros((120, 90, 4), dtype=np.uint8)
    rgba[20:100, 40:50] = (10, 10, 10, 255)
    seen, rebuilt, landed = tabs.reconstruct_tab(trained_model, Image.fromarray(rgba, "RGBA"))
    assert seen.size == rebuilt.size == (SINGLE, SINGLE)
    assert landed.mode == "RGB" and landed.width > 300
    with pytest.raises(ValueError, match="blank"):
        tabs.reconstruct_tab(trained_model, Image.new("L", (64, 64), 0))


def test_uploads_are_checked_before_they_are_decoded():
    with pytest.raises(ValueError, match="no image"):
        upload_to_image(None)
    huge = Image.new("L", (5000, 5000))
    with pytest.raises(ValueError, match="at most"):
        upload_to_image(huge)


def test_sketch_to_image():
    assert sketch_to_image(None) is None
    assert sketch_to_image({"composite": np.full((10, 10), 255, np.uint8)}) is None
    drawn = np.full((10, 10), 255, np.uint8)
    drawn[3, 3] = 0
    assert sketch_to_image({"composite": drawn}) is drawn


def test_latent_map_tab_uses_the_stored_map(trained_model):
    picture, manifold = tabs.latent_map_tab(trained_model)
    assert picture.mode == "RGB" and manifold is None


def test_latent_map_without_stored_map_and_manifold_for_2d_latents():
    model = VAE(latent_dim=2, channels=4, hidden_dim=8, latent_map_points=0).eval()
    picture, manifold = tabs.latent_map_tab(model)
    assert picture.mode == "RGB"
    assert manifold.size == ((15 * CELL + 2) * 2,) * 2


def test_random_seed_does_not_touch_torch_rng():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    seeds = {random_seed() for _ in range(5)}
    assert torch.equal(torch.rand(2), expected) and len(seeds) > 1


# --- the live server --------------------------------------------------------------------------


def _read(path) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"  # PNG, never lossy WebP
    return np.asarray(Image.open(io.BytesIO(data)))


def test_every_endpoint_has_a_stable_name(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {
        "/sample",
        "/random_sample",
        "/interpolate",
        "/digit",
        "/reconstruct",
        "/reconstruct_drawing",
        "/latent_map",
        "/noop",
    } <= names


def test_sample_endpoint_same_seed_same_bytes(client):
    first, text = client.predict(4, 7, 1.0, api_name="/sample")
    second, _ = client.predict(4, 7, 1.0, api_name="/sample")
    a, b = _read(first), _read(second)
    assert a.shape == (grid_px(4), grid_px(4)) and a.dtype == np.uint8
    assert np.array_equal(a, b) and "7" in text
    seed, picture, _ = client.predict(2, 1.0, api_name="/random_sample")
    assert seed >= 0 and _read(picture).shape == (grid_px(2), grid_px(2))


def test_digit_interpolate_latent_map_endpoints(client):
    assert _read(client.predict("3", 2, 0, 1.0, api_name="/digit")).shape == (grid_px(2),) * 2
    strip, gif = client.predict("1", 0, None, "8", 2, None, 5, "linear", api_name="/interpolate")
    assert _read(strip).shape == (grid_px(1, 4), grid_px(5, 4))
    assert Path(gif).read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    picture, _ = client.predict(api_name="/latent_map")
    assert _read(picture).ndim == 3


def test_reconstruct_endpoint_with_an_upload(client, tmp_path, test_split):
    from gradio_client import handle_file

    digit = 255 - test_split.images[0].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(digit).resize((112, 112)).save(path)
    seen, rebuilt, landed = client.predict(handle_file(str(path)), api_name="/reconstruct")
    seen = _read(seen)
    assert seen.shape == (SINGLE, SINGLE) and seen.max() == 255
    assert _read(rebuilt).shape == seen.shape and _read(landed).ndim == 3


def test_noop(client):
    assert client.predict(api_name="/noop") == "ok"


# --- bad input through the API ----------------------------------------------------------------


def _garbage_files(tmp_path, test_split) -> dict[str, tuple[Path, str]]:
    """name -> (file, part of the message the visitor must see)."""
    files = {}

    def put(name, data, expect):
        path = tmp_path / name
        path.write_bytes(data) if isinstance(data, bytes) else data.save(path)
        files[name] = (path, expect)

    put("empty.png", b"", "not an image")
    put("text.png", b"this is not a picture at all" * 10, "not an image")
    put("truncated.png", _png(Image.fromarray(test_split.images[0].numpy()))[:60], "not an image")
    put("one_pixel.png", Image.new("L", (1, 1), 255), "1x1")
    put("all_black.png", Image.new("L", (64, 64), 0), "blank")
    put("huge.png", Image.new("L", (5000, 5000), 0), "at most")
    return files


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_garbage_uploads_get_a_readable_error_and_the_server_survives(client, tmp_path, test_split):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    for path, expect in _garbage_files(tmp_path, test_split).values():
        with pytest.raises(AppError, match=expect):
            client.predict(handle_file(str(path)), api_name="/reconstruct")
    assert client.predict(api_name="/noop") == "ok"  # still serving


def test_unusual_but_valid_uploads_work(client, tmp_path, test_split):
    from gradio_client import handle_file

    digit = test_split.images[1].numpy()
    rgba = np.zeros((*digit.shape, 4), dtype=np.uint8)
    rgba[..., 3] = digit  # white strokes as alpha on a transparent canvas
    sixteen = Image.fromarray(digit.astype(np.uint16) * 257)
    for name, image in (("rgba.png", Image.fromarray(rgba, "RGBA")), ("16bit.png", sixteen)):
        image.save(tmp_path / name)
        seen, _, _ = client.predict(handle_file(str(tmp_path / name)), api_name="/reconstruct")
        assert _read(seen).max() == 255


def test_out_of_range_parameters_are_clamped_or_rejected(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="greater than maximum value 16"):
        client.predict(99, 0, 1.0, api_name="/sample")  # Gradio checks the slider's bounds
    with pytest.raises(AppError, match="less than minimum value 0"):
        client.predict(2, -3, 1.0, api_name="/sample")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("eleven", 2, 0, 1.0, api_name="/digit")
    with pytest.raises(AppError, match="'zigzag'.*not in the list of choices"):
        client.predict("1", 0, None, "8", 2, None, 5, "zigzag", api_name="/interpolate")
    with pytest.raises(AppError, match="drawing is empty"):
        client.predict(None, api_name="/reconstruct_drawing")


def test_a_request_leaves_the_global_rng_alone(client):
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    client.predict(2, 5, 1.0, api_name="/sample")  # served in this process
    assert torch.equal(torch.rand(3), expected)


def test_a_burst_of_concurrent_requests_is_served_without_errors(server, capsys):
    """The load benchmark's machinery on a small burst: all answered, none dropped (its
    latency numbers are printed by `vae-hub loadtest`, never asserted)."""
    from vae_hub.cli.loadtest import hammer

    result = hammer(server, "/sample", clients=6, requests=3)
    assert result["requests"] == 18 and result["errors"] == 0
    assert hammer(server, "/noop", clients=6, requests=3)["errors"] == 0


def test_app_py_with_a_broken_model_is_one_line_and_exit_2(tmp_path):
    import subprocess
    import sys

    from .conftest import ROOT

    (tmp_path / "config.json").write_text('{"arch": "transformer"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "--model", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("error: cannot load the model:") and "Traceback" not in proc.stderr
    )


def test_the_page_names_a_local_model_by_its_folder_only(tmp_path):
    from vae_hub.pretrained import bundled_model_path, display_name

    assert display_name("user/mnist-vae") == "user/mnist-vae"
    assert display_name(str(tmp_path)) == tmp_path.name
    assert display_name(str(bundled_model_path())) == "vae_hub/pretrained (bundled)"
