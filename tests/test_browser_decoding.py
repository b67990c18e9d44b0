"""The page decodes in the visitor's browser (ONNX Runtime Web), and falls back to the server.

Real Chromium against the real demo server: with the runtime loaded, moving over the Explore
map and its sliders changes the picture with no request to the server (counted); with the
runtime blocked, the same moves go through the server and still change the picture; and the
browser draws what the server draws for the same controls. The runtime's files are fetched
from the npm registry by the server, as on a first start (skipped where it cannot be reached).
"""

from __future__ import annotations

import base64
import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from .test_browser import ARGS, CHROMIUM, TIMEOUT_MS, move_slider, open_tab

READY_WAIT_S = 180


@pytest.fixture(scope="module")
def browser_side(server):
    """The server's browser side, once its runtime and decoder are ready."""
    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline:
        status = httpx.get(f"{server.rstrip('/')}/vae-hub/status.json").json()
        if status["runtime"] and status["decoder"]:
            return status
        if status["problems"] and not status["runtime"]:
            pytest.skip(f"no browser runtime here: {status['problems']}")
        time.sleep(1)
    pytest.fail(f"the browser side was not ready after {READY_WAIT_S} s: {status}")


@pytest.fixture(scope="module")
def chromium():
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def explore_page(chromium, server, block_runtime: bool):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    if block_runtime:
        page.route("**/vae-hub/onnxruntime-web-*/**", lambda route: route.abort())
    page.goto(server)
    page.get_by_role("tab").first.wait_for()
    if not block_runtime:
        page.wait_for_function("document.documentElement.dataset.vaeHubDecoder === 'browser'")
    open_tab(page, "Explore")
    page.locator("#explore-digit img").wait_for()
    return context, page


def requests_to(page, server: str) -> list[str]:
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.url.startswith(server) else None)
    return sent


def digit_src(page) -> str:
    return page.locator("#explore-digit img").get_attribute("src")


def sweep_the_map(page, steps: int = 25) -> None:
    box = page.locator("#explore-map img").bounding_box()
    for i in range(steps):
        x = box["x"] + box["width"] * (0.15 + 0.6 * i / steps)
        page.mouse.move(x, box["y"] + box["height"] * (0.3 + 0.4 * i / steps))
        page.wait_for_timeout(20)


def picture(src: str) -> np.ndarray:
    """The grey levels of a data: URL's or a file's PNG."""
    data = base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:") else src
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


def test_moving_over_the_map_and_the_sliders_decodes_in_the_browser(browser_side, chromium, server):
    context, page = explore_page(chromium, server, block_runtime=False)
    sent = requests_to(page, server)
    before = digit_src(page)
    sweep_the_map(page)
    page.wait_for_function(f"document.querySelector('#explore-digit img').src !== {before!r}")
    hovered = digit_src(page)
    page.mouse.move(2, 2)  # off the map: the point the controls hold is shown again
    move_slider(page, "Direction 1 (std. deviations)", 2)
    page.wait_for_function(f"document.querySelector('#explore-digit img').src !== {hovered!r}")
    move_slider(page, "Direction 2 (std. deviations)", -1)
    page.wait_for_timeout(300)
    assert sent == []
    assert page.evaluate("window.vaeHub.stats.decodes") >= 3
    context.close()


def test_without_the_runtime_the_sliders_go_through_the_server(browser_side, chromium, server):
    context, page = explore_page(chromium, server, block_runtime=True)
    sent = requests_to(page, server)
    before = digit_src(page)
    move_slider(page, "Direction 1 (std. deviations)", 2)
    page.wait_for_function(f"document.querySelector('#explore-digit img').src !== {before!r}")
    assert any("/gradio_api/queue/join" in url for url in sent)
    assert not digit_src(page).startswith("data:")
    assert page.evaluate("document.documentElement.dataset.vaeHubDecoder") is None
    context.close()


def test_the_browser_draws_what_the_server_draws(browser_side, chromium, server, client):
    """Same controls, both paths: the same picture, to one grey level in 255 (the decoders
    agree to about 1e-6; a pixel at a rounding boundary may land on either side)."""
    context, page = explore_page(chromium, server, block_runtime=False)
    move_slider(page, "Direction 1 (std. deviations)", 1.5)
    page.wait_for_function("document.querySelector('#explore-digit img').src.startsWith('data:')")
    in_browser = picture(digit_src(page))
    on_server = picture(client.predict("3", None, None, 1.5, 0, 0, 0, api_name="/explore"))
    assert in_browser.shape == on_server.shape
    assert np.abs(in_browser - on_server).max() <= 1
    context.close()


def tab_page(chromium, server, tab: str, picture_id: str):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(server)
    page.wait_for_function("document.documentElement.dataset.vaeHubDecoder === 'browser'")
    open_tab(page, tab)
    page.locator(f"#{picture_id} img").wait_for()
    return context, page


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True).first
    box.fill(str(value))
    box.dispatch_event("input")


def test_sample_and_digit_redraw_in_the_browser_as_the_server_would(
    browser_side, chromium, server, client
):
    """Seed, temperature and grid changes: no request, and the server's picture for the
    same controls (the page's seeds draw the same codes on both sides), to one grey level."""
    context, page = tab_page(chromium, server, "Sample", "sample-picture")
    sent = requests_to(page, server)
    move_slider(page, "Temperature (scale of the latent noise)", 0.7)
    set_number(page, "Seed", 42)
    move_slider(page, "Grid size", 5)
    page.wait_for_function("document.querySelector('#sample-picture img').naturalWidth === 304")
    page.wait_for_timeout(500)
    assert sent == []
    in_browser = picture(page.locator("#sample-picture img").get_attribute("src"))
    grid_png, _ = client.predict(5, 42, 0.7, api_name="/sample")
    assert np.abs(in_browser - picture(grid_png)).max() <= 1
    open_tab(page, "Digit")
    page.wait_for_function("document.querySelector('#digit-picture img')?.naturalWidth > 0")
    sent.clear()  # the tab's first picture, loaded as it opens
    before = page.locator("#digit-picture img").get_attribute("src")
    page.get_by_role("radio", name="5", exact=True).first.check()
    page.wait_for_function(f"document.querySelector('#digit-picture img').src !== {before!r}")
    assert sent == []
    context.close()


def test_interpolate_scrubs_in_the_browser_as_the_server_would(
    browser_side, chromium, server, client
):
    """The position slider redraws the frame with no request (a new path also redraws the
    strip and GIF, on the server); the server's frame for the same ends, position and path
    is the same picture, to one grey level."""
    context, page = tab_page(chromium, server, "Interpolate", "interpolate-frame")
    page.wait_for_function("document.querySelector('#interpolate-frame img')?.naturalWidth > 0")
    strip = page.locator("#interpolate-strip img").get_attribute("src")
    page.get_by_role("radio", name="slerp", exact=True).first.check()  # the strip: a request
    page.wait_for_function(f"document.querySelector('#interpolate-strip img').src !== {strip!r}")
    sent = requests_to(page, server)
    decodes = page.evaluate("window.vaeHub.stats.decodes")
    for position in (0.2, 0.35, 0.8):
        move_slider(page, "Position: A (0) to B (1)", position)
    # (the tiny model's frames may look alike: count the decodes, not the pictures' changes)
    page.wait_for_function(f"window.vaeHub.stats.decodes >= {decodes + 1}")
    page.wait_for_timeout(500)
    assert sent == []
    in_browser = picture(page.locator("#interpolate-frame img").get_attribute("src"))
    on_server = client.predict("2", 0, None, "7", 0, None, 0.8, "slerp", api_name="/interpolate_at")
    assert np.abs(in_browser - picture(on_server)).max() <= 1
    context.close()


def test_a_model_saved_without_decoder_onnx_gets_one_exported_for_the_page(tmp_path):
    """A folder saved before decoder.onnx existed still decodes in the browser: the server
    exports the decoder from the weights it loaded (it never runs one from a folder)."""
    import onnxruntime
    import torch

    from vae_hub import VAE
    from vae_hub.capabilities.generation import decode_images
    from vae_hub.demo.browser import BrowserSide

    from .conftest import TESTS

    folder = TESTS / "data" / "saved-by-0.1.0"
    assert not (folder / "decoder.onnx").exists()
    model = VAE.from_pretrained(folder)
    side = BrowserSide(model, str(folder), {}, b"")
    side._prepare_decoder()  # what start() runs in the background
    assert side.status()["decoder"], side.status()
    session = onnxruntime.InferenceSession(side._served["decoder.onnx"].body)
    z = torch.randn(5, model.latent_dim)
    (pixels,) = session.run(None, {"z": z.numpy()})
    assert np.abs(pixels - decode_images(model, z).numpy()).max() <= 1e-4
