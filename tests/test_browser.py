"""The demo in a real browser: headless Chromium (Debian's package) driven by playwright.

Visits every tab, clicks each action, draws a stroke on the Sketchpad and saves screenshots
under test-artifacts/screenshots/. With VAE_HUB_DOCS_SCREENSHOTS=1 they also go to docs/
(that is how the README's pictures are made). Skipped when Chromium is missing, unless
VAE_HUB_REQUIRE_BROWSER=1 (set by .ci/run, which installs it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from .conftest import ROOT

CHROMIUM = os.environ.get("VAE_HUB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def page(server, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        if os.environ.get("VAE_HUB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium is required but missing at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server)
        page.get_by_text("vae-hub: a variational autoencoder on MNIST").wait_for()
        yield page
        context.close()
        browser.close()


def snap(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("VAE_HUB_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)
    return path


def open_tab(page, name: str) -> None:
    """Click a tab; on a narrow screen, Gradio moves some into its "More tabs" menu."""
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.get_by_role("button", name="More tabs").first.click()
    page.locator(".overflow-dropdown button", has_text=name).first.click()


def output_image(page, label: str):
    """The <img> inside the output component labelled `label`, once it has loaded."""
    block = page.locator(".block", has=page.get_by_text(label, exact=True)).last
    image = block.locator("img").first
    image.wait_for(state="visible")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    return image


def natural_size(image) -> tuple[int, int]:
    return tuple(image.evaluate("img => [img.naturalWidth, img.naturalHeight]"))


def src(image) -> str:
    return image.get_attribute("src")


def wait_for_new(page, image, old: str) -> str:
    """The picture's new address, once the page has replaced `old` (no click needed)."""
    page.wait_for_function(
        "([img, old]) => img.src !== old && img.complete && img.naturalWidth > 0",
        arg=[image.element_handle(), old],
    )
    return src(image)


def move_slider(page, label: str, value: float) -> None:
    """Drag a Gradio slider by setting its range input, as the pointer would."""
    block = page.locator(".block", has=page.get_by_text(label, exact=True)).first
    block.locator("input[type=range]").fill(str(value))


ARRIVAL = {
    "Sample": ["New digits from the prior"],
    "Digit": ["From that digit's region of latent space"],
    "Interpolate": ["Frames (both ends included)", "Animation (GIF)"],
    "Reconstruct": ["What the model saw (28x28)", "Reconstruction",
                    "Where it lands on the latent map"],
    "Latent map": ["Test digits in latent space"],
    "Explore": ["The digit there", "Latent map: click to move"],
}  # fmt: skip


def test_every_tab_shows_pictures_on_arrival_without_a_click(page):
    for tab, labels in ARRIVAL.items():
        open_tab(page, tab)
        for label in labels:
            assert natural_size(output_image(page, label))[0] > 50, (tab, label)
        snap(page, tab.lower().replace(" ", "_"))


def test_sample_tab_is_live(page):
    open_tab(page, "Sample")
    image = output_image(page, "New digits from the prior")
    assert natural_size(image) == ((8 * 30 + 2) * 2,) * 2  # sent small, shown large by CSS
    assert image.bounding_box()["width"] > natural_size(image)[0]
    assert ".png" in src(image)
    old = src(image)
    move_slider(page, "Grid size", 5)
    new = wait_for_new(page, image, old)
    assert natural_size(image) == ((5 * 30 + 2) * 2,) * 2
    move_slider(page, "Temperature (scale of the latent noise)", 0.5)
    wait_for_new(page, image, new)
    download_on_demand(page, "sample-5x5-seed0-T0.5.png", (5 * 30 + 2) * 4)
    page.get_by_role("button", name="Random seed").click()
    page.wait_for_function("() => !document.body.innerText.includes('Seed used: 0 ')")


def download_on_demand(page, name: str, side: int) -> None:
    """The large PNG is drawn when asked for, then offered under a name that says what
    it shows."""
    page.get_by_role("button", name="Make a PNG (4x) of these digits").first.click()
    offered = page.get_by_role("button", name=f"Download {name}")
    offered.wait_for()
    with page.expect_download() as download:
        offered.click()
    assert download.value.suggested_filename == name
    with Image.open(download.value.path()) as picture:
        assert picture.size == (side, side)


def test_digit_tab_follows_the_radio(page):
    open_tab(page, "Digit")
    image = output_image(page, "From that digit's region of latent space")
    old = src(image)
    page.get_by_role("radio", name="5", exact=True).first.check()
    wait_for_new(page, image, old)


def test_interpolate_follows_the_frames_slider(page):
    open_tab(page, "Interpolate")
    strip = output_image(page, "Frames (both ends included)")
    old = src(strip)
    move_slider(page, "Frames", 6)
    wait_for_new(page, strip, old)
    assert natural_size(strip)[0] == (6 * 30 + 2) * 4
    assert ".gif" in src(output_image(page, "Animation (GIF)"))


def test_explore_a_click_on_the_map_and_the_sliders_move_the_digit(page):
    open_tab(page, "Explore")
    digit = output_image(page, "The digit there")
    where = output_image(page, "Latent map: click to move")
    old_digit, old_map = src(digit), src(where)
    box = where.bounding_box()
    where.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.35})
    clicked = wait_for_new(page, digit, old_digit)
    wait_for_new(page, where, old_map)  # the star moved to the click
    move_slider(page, "Direction 1 (std. deviations)", 2)
    wait_for_new(page, digit, clicked)
    snap(page, "explore")


def test_reconstruct_a_drawing(page):
    open_tab(page, "Reconstruct")
    open_tab(page, "Draw")
    seen = output_image(page, "What the model saw (28x28)")
    old = src(seen)
    pad = page.locator(".block", has=page.get_by_text("Draw a digit", exact=True)).last
    pad.get_by_role("button", name="Brush", exact=True).click()
    canvas = pad.locator("canvas").last
    box = canvas.bounding_box()
    x, top, bottom = (
        box["x"] + box["width"] / 2,
        box["y"] + box["height"] * 0.2,
        box["y"] + box["height"] * 0.8,
    )
    page.mouse.move(x, top)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + 3 * (i % 2), top + (bottom - top) * i / 20)
    page.mouse.up()
    wait_for_new(page, seen, old)  # no button: the drawing is reconstructed as it is drawn
    assert natural_size(seen) == (28 * 8, 28 * 8)
    output_image(page, "Where it lands on the latent map")
    snap(page, "reconstruct")


def test_a_phone_sized_screen_shows_every_tab_without_sideways_scrolling(page):
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for tab, labels in ARRIVAL.items():
            open_tab(page, tab)
            image = output_image(page, labels[0])
            box = image.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1, (tab, box)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 390, (tab, wide)
        open_tab(page, "Explore")
        snap(page, "explore_390px")
    finally:
        page.set_viewport_size({"width": 1280, "height": 1000})
