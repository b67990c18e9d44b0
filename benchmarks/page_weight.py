"""The page's weight: what a first visit to the demo downloads.

    python benchmarks/page_weight.py [--root CHECKOUT] [--screenshots FOLDER]

Starts `python app.py` (of this checkout, or of another one given by --root, to compare
with an earlier version) on a free port, opens the page in headless Chromium at 1280x900
with an empty cache, waits until the network is idle (and the browser side, which loads
after the page, is ready), and prints a table of the bytes every response sent: as
transferred (compressed, headers included) and as decoded, by kind.
With --screenshots, also saves each tab at 1280x900 and 390x844 there. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

CHROMIUM = os.environ.get("VAE_HUB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic"]  # fmt: skip
TABS = ["Sample", "Digit", "Interpolate", "Reconstruct", "Latent map", "Explore"]
SIZES = {"1280x900": (1280, 900), "390x844": (390, 844)}
START_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(root: Path, port: int) -> subprocess.Popen:
    """`python app.py` of checkout `root`, once it answers (its own package first on the
    path, so an older checkout is measured as it was)."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(root)}
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
            return process
        except OSError:
            if process.poll() is not None:
                message = f"error: app.py in {root} exited with {process.returncode}"
                raise SystemExit(message) from None
            time.sleep(0.5)
    process.terminate()
    raise SystemExit(f"error: app.py in {root} did not answer in {START_TIMEOUT_S} s")


def kind(url: str, content_type: str) -> str:
    if "/vae-hub/" in url:
        return "browser decoder"  # loaded after the page: runtime, decoder.onnx, codes
    if "/file=" in url or content_type.startswith("image/"):
        return "pictures"
    for suffix, name in ((".js", "scripts"), (".mjs", "scripts"), (".css", "styles"),
                         (".woff2", "fonts"), (".woff", "fonts"), (".ttf", "fonts")):  # fmt: skip
        if url.split("?")[0].endswith(suffix):
            return name
    return "page and config"


def measure(url: str) -> dict[str, list[int]]:
    """kind -> [requests, bytes transferred, bytes decoded] of a first visit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        responses = []
        page.on("requestfinished", lambda request: responses.append(request))
        page.goto(url, wait_until="networkidle")
        try:  # the browser side loads after the page (none in versions before it)
            page.wait_for_function(
                "document.documentElement.dataset.vaeHubDecoder === 'browser'", timeout=30_000
            )
            page.wait_for_load_state("networkidle")
        except Exception:  # playwright's TimeoutError: a page without a browser side
            pass
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for request in responses:
            response = request.response()
            if response is None:
                continue
            sizes = request.sizes()
            try:
                decoded = len(response.body())
            except Exception:  # a redirect or a stream has no body to read back
                decoded = 0
            row = totals[kind(request.url, response.headers.get("content-type", ""))]
            row[0] += 1
            row[1] += sizes["responseBodySize"] + sizes["responseHeadersSize"]
            row[2] += decoded
        context.close()
        browser.close()
    return dict(totals)


def screenshots(url: str, folder: Path, prefix: str) -> None:
    """Every tab at both sizes, as a first-time visitor sees it on arrival (the viewport)."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.goto(url, wait_until="networkidle")
            for tab in TABS:
                button = page.get_by_role("tab", name=tab, exact=True)
                if not (button.count() and button.first.is_visible()):
                    page.get_by_role("button", name="More tabs").first.click()
                    button = page.locator(".overflow-dropdown button", has_text=tab)
                button.first.click()
                page.wait_for_timeout(800)
                page.evaluate("() => window.scrollTo(0, 0)")
                name = tab.lower().replace(" ", "_")
                page.screenshot(path=str(folder / f"{prefix}{name}-{size}.png"))
            context.close()
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--prefix", default="", help="start of each screenshot's name")
    args = parser.parse_args()
    port = free_port()
    process = start_demo(args.root.resolve(), port)
    url = f"http://127.0.0.1:{port}/"
    try:
        totals = measure(url)
        print_table(url, totals)
        if args.screenshots:
            screenshots(url, args.screenshots, args.prefix)
    finally:
        process.terminate()
        process.wait()
    return 0


def print_table(url: str, totals: dict[str, list[int]]) -> None:
    print(f"first visit to {url} (1280x900, empty cache, until the network is idle)")
    print(f"| {'what':<16} | requests | transferred (KB) | decoded (KB) |")
    print(f"|{'-' * 18}|---------:|-----------------:|-------------:|")
    for name, (count, sent, decoded) in sorted(totals.items()):
        print(f"| {name:<16} | {count:>8} | {sent / 1024:>16.1f} | {decoded / 1024:>12.1f} |")
    count, sent, decoded = (sum(row[i] for row in totals.values()) for i in range(3))
    print(f"| {'total':<16} | {count:>8} | {sent / 1024:>16.1f} | {decoded / 1024:>12.1f} |")


if __name__ == "__main__":
    sys.exit(main())
