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
    page.get_by_role("tab", name=name, exact=True).click()


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


def test_sample_tab(page):
    open_tab(page, "Sample")
    page.get_by_role("button", name="Sample", exact=True).click()
    image = output_image(page, "New digits from the prior")
    assert natural_size(image) == ((8 * 30 + 2) * 8,) * 2
    assert image.get_attribute("src").split("?")[0].endswith(".png")
    page.get_by_text("Seed used:").wait_for()
    page.get_by_role("button", name="Random seed").click()
    page.wait_for_function(
        "() => !document.body.innerText.includes('Seed used: 0 ')"
        " && document.body.innerText.includes('Seed used:')"
    )
    snap(page, "sample")


def test_interpolate_tab(page):
    open_tab(page, "Interpolate")
    page.get_by_role("button", name="Interpolate", exact=True).click()
    strip = output_image(page, "Frames (both ends included)")
    assert natural_size(strip)[0] == (10 * 30 + 2) * 4
    gif = output_image(page, "Animation (GIF)")
    assert ".gif" in gif.get_attribute("src")
    snap(page, "interpolate")


def test_digit_tab(page):
    open_tab(page, "Digit")
    page.get_by_role("radio", name="5", exact=True).check()
    page.get_by_role("button", name="Generate", exact=True).click()
    image = output_image(page, "From that digit's Gaussian, stored in the model")
    assert natural_size(image) == ((6 * 30 + 2) * 8,) * 2
    snap(page, "digit")


def test_reconstruct_a_drawing(page):
    open_tab(page, "Reconstruct")
    open_tab(page, "Draw")
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
    page.get_by_role("button", name="Reconstruct drawing").click()
    seen = output_image(page, "What the model saw (28x28)")
    assert natural_size(seen) == (28 * 8, 28 * 8)
    output_image(page, "Reconstruction")
    output_image(page, "Where it lands on the latent map")
    snap(page, "reconstruct")


def test_latent_map_tab(page):
    open_tab(page, "Latent map")
    page.get_by_role("button", name="Draw the latent map").click()
    image = output_image(page, "Test digits in latent space")
    assert natural_size(image)[0] > 300
    snap(page, "latent_map")


def test_a_visitor_error_is_shown_in_the_page(page):
    open_tab(page, "Reconstruct")
    open_tab(page, "Draw")
    pad = page.locator(".block", has=page.get_by_text("Draw a digit", exact=True)).last
    clear = pad.get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
    page.get_by_role("button", name="Reconstruct drawing").click()
    page.get_by_text("the drawing is empty").first.wait_for()
