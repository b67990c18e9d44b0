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


def open_tab(page, name: str, attempts: int = 20) -> None:
    """Click a tab; on a narrow screen, Gradio moves some into its "More tabs" menu (and
    which ones may change while it lays the tabs out again, after a resize: try again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(attempts):
        tab = page.get_by_role("tab", name=name, exact=True)
        if tab.count() and tab.first.is_visible():
            tab.first.click()
            return
        more = page.get_by_role("button", name="More tabs")
        if more.count() and more.first.is_visible():
            more.first.click()
            item = page.locator(".overflow-dropdown button", has_text=name).first
            try:
                item.click(timeout=2_000)
                return
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
        page.wait_for_timeout(250)
    raise AssertionError(f"no tab {name!r} to click")


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
    "Reconstruct": ["What the model saw", "Reconstruction", "Codes it finds plausible, decoded",
                    "Where it lands on the latent map"],
    "Latent map": ["Test digits in latent space"],
    "Explore": ["The digit there", "Latent map: point to look, click to stay"],
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
    page.wait_for_function("() => document.querySelector('#sample-seed input').value !== '0'")


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
    where = output_image(page, "Latent map: point to look, click to stay")
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
    seen = output_image(page, "What the model saw")
    old = src(seen)
    words = page.locator("#reconstruct-words").inner_text()
    pad = page.locator(".block", has=page.get_by_text("Draw a digit", exact=True)).last
    stroke(page, pad, vertical=True)  # the brush is in hand: no click on the Brush tool
    drawn = wait_for_new(page, seen, old)  # no button: reconstructed as it is drawn
    assert natural_size(seen) == (28 * 8, 28 * 8)
    output_image(page, "Where it lands on the latent map")
    page.wait_for_function(
        "old => document.querySelector('#reconstruct-words').innerText !== old", arg=words
    )
    assert "nats to redraw it" in page.locator("#reconstruct-words").inner_text()
    snap(page, "reconstruct")
    # Clear empties the pad and leaves the result; the next stroke is drawn alone
    page.get_by_role("button", name="Clear", exact=True).click()
    page.wait_for_timeout(1500)
    assert src(seen) == drawn
    stroke(page, pad, vertical=False)
    wait_for_new(page, seen, drawn)
    rows = bright_rows(page, seen)
    assert rows < 12, rows  # a bar alone, not a cross with the first stroke


def stroke(page, pad, vertical: bool) -> None:
    """Drag the mouse across the middle of a Sketchpad's canvas."""
    box = pad.locator("canvas").last.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    half = min(box["width"], box["height"]) * 0.3
    page.mouse.move(cx, cy - half) if vertical else page.mouse.move(cx - half, cy)
    page.mouse.down()
    for i in range(1, 21):
        t = -half + 2 * half * i / 20
        page.mouse.move(cx + 3 * (i % 2), cy + t) if vertical else page.mouse.move(cx + t, cy)
    page.mouse.up()


def bright_rows(page, image) -> int:
    """How many of the 28 rows of a shown digit (drawn at 8x) hold a bright pixel."""
    import io
    import urllib.request

    with urllib.request.urlopen(src(image)) as response:
        picture = Image.open(io.BytesIO(response.read())).convert("L").resize((28, 28))
    return sum(1 for y in range(28) if max(picture.getpixel((x, y)) for x in range(28)) > 128)


def test_explore_a_map_click_leaves_no_digit_chosen(page):
    """After a click the view shows the point under it, not a digit's centre: the radio
    says so by showing no choice."""
    open_tab(page, "Explore")
    block = page.locator(".block", has=page.get_by_text("Start from the centre of", exact=True))
    radios = block.first.get_by_role("radio")
    radios.get_by_text("3", exact=True)
    page.get_by_role("radio", name="3", exact=True).last.check()
    where = output_image(page, "Latent map: point to look, click to stay")
    old = src(where)
    box = where.bounding_box()
    where.click(position={"x": box["width"] * 0.6, "y": box["height"] * 0.6})
    wait_for_new(page, where, old)
    page.wait_for_function(
        "el => ![...el.querySelectorAll('input[type=radio]')].some(r => r.checked)",
        arg=block.first.element_handle(),
    )


LAYOUT = """() => {
  const boxes = [];
  for (const img of document.querySelectorAll('.block .image-frame img')) {
    const block = img.closest('.block');
    const r = img.getBoundingClientRect();
    if (!img.offsetParent || r.width === 0 || r.height === 0) continue;
    const covers = [...block.querySelectorAll('[data-testid="block-label"], .icon-button-wrapper')]
      .map(e => e.getBoundingClientRect())
      .filter(b => b.width > 0 && b.height > 0)
      .filter(b => Math.min(b.right, r.right) - Math.max(b.left, r.left) > 1
                && Math.min(b.bottom, r.bottom) - Math.max(b.top, r.top) > 1);
    const label = block.querySelector('[data-testid="block-label"]');
    boxes.push({label: label ? label.innerText.trim() : '?', top: r.top + window.scrollY,
                height: r.height, covered: covers.length});
  }
  return boxes;
}"""


@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_no_label_or_button_covers_a_picture_and_each_tab_shows_one_above_the_fold(
    page, width, height
):
    """On a desktop and a phone: every output picture's label and buttons lie outside the
    picture, and each tab's first picture starts on the first screen, without scrolling."""
    page.set_viewport_size({"width": width, "height": height})
    try:
        page.reload()
        page.get_by_text("vae-hub: a variational autoencoder on MNIST").wait_for()
        for tab, labels in ARRIVAL.items():
            open_tab(page, tab)
            output_image(page, labels[0])
            page.evaluate("() => window.scrollTo(0, 0)")
            pictures = page.evaluate(LAYOUT)
            assert pictures, tab
            covered = [p for p in pictures if p["covered"]]
            assert not covered, (tab, width, covered)
            first = min(pictures, key=lambda p: p["top"])
            assert first["top"] < height, (tab, width, first)
            assert min(p["height"] for p in pictures) > 40, (tab, width, pictures)
    finally:
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.reload()
        page.get_by_text("vae-hub: a variational autoencoder on MNIST").wait_for()


def test_a_phone_sized_screen_shows_every_tab_without_sideways_scrolling(page):
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for tab, labels in ARRIVAL.items():
            open_tab(page, tab)
            image = output_image(page, labels[0])
            box = image.bounding_box()
            # a wide picture (the Interpolate strip) may scroll sideways in its own frame
            frame = image.evaluate_handle("i => i.closest('.image-frame') || i").as_element()
            seen = frame.bounding_box()
            assert box["x"] >= seen["x"] >= 0 and seen["x"] + seen["width"] <= 390 + 1, (tab, box)
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 390, (tab, wide)
        open_tab(page, "Explore")
        snap(page, "explore_390px")
    finally:
        page.set_viewport_size({"width": 1280, "height": 1000})
