"""How fast the Explore tab answers, in a real browser: decoded in the page or by the server.

    python benchmarks/browser_decoding.py [--model FOLDER] [--seconds 5]

Serves the demo in this process (the bundled model by default), opens it in headless Chromium
(Debian's package; the dev extras' playwright drives it) twice, once with ONNX Runtime Web and
once with it blocked (the page then uses the server, as offline), and prints a table:

- one slider move to its new picture (p50 of isolated moves: the latency a visitor feels);
- updates per second while the slider is dragged non-stop (a `fill` every 10 ms);
- updates per second while the pointer sweeps across the map (the browser path only: the
  server path decodes on a click, not on hover);
- the page's own work per update: from the new code to the new picture in place (decoding
  with ONNX Runtime Web on one thread, drawing, and the star on the map).

Nothing is asserted: timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from playwright.sync_api import sync_playwright

from vae_hub import BUNDLED, VAE
from vae_hub.cli.loadtest import free_port
from vae_hub.demo.page import build_demo, launch_kwargs, queued

CHROMIUM = os.environ.get("VAE_HUB_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Counts each new picture of the Explore digit, with its time, in the page.
WATCH = """() => {
  const image = document.querySelector('#explore-digit img');
  window.updates = [];
  new MutationObserver(() => window.updates.push(performance.now()))
    .observe(image, { attributes: true, attributeFilter: ['src'] });
}"""


def serve(model: str):
    demo = queued(build_demo(VAE.from_pretrained(model), model))
    demo.launch(
        server_name="127.0.0.1",
        server_port=free_port(),
        prevent_thread_lock=True,
        quiet=True,
        **launch_kwargs(demo),
    )
    side = demo.vae_hub_browser
    side.runtime.wait(300)
    deadline = time.monotonic() + 120
    while not side.status()["decoder"] and time.monotonic() < deadline:
        time.sleep(0.5)
    return demo


def open_explore(browser, url: str, in_browser: bool):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    if not in_browser:
        page.route("**/vae-hub/onnxruntime-web-*/**", lambda route: route.abort())
    page.goto(url)
    page.get_by_role("tab").first.wait_for()
    if in_browser:
        page.wait_for_function(
            "document.documentElement.dataset.vaeHubDecoder === 'browser'", timeout=120_000
        )
    page.get_by_role("tab", name="Explore", exact=True).click()
    page.locator("#explore-digit img").wait_for()
    page.evaluate(WATCH)
    return page


def slider(page, n: int = 1):
    label = f"Direction {n} (std. deviations)"
    block = page.locator(".block", has=page.get_by_text(label, exact=True)).first
    return block.locator("input[type=range]")


def isolated_moves(page, moves: int = 15) -> float:
    """p50 ms from a slider move to the new picture."""
    times = []
    for i in range(moves):
        count = page.evaluate("window.updates.length")
        start = page.evaluate("performance.now()")
        slider(page).fill(f"{(-1) ** i * (0.5 + 0.1 * i):.1f}")
        page.wait_for_function(f"window.updates.length > {count}", timeout=30_000)
        times.append(page.evaluate("window.updates[window.updates.length - 1]") - start)
        page.wait_for_timeout(150)  # let a server answer's second picture (if any) land
    return statistics.median(times)


def drag_rate(page, seconds: float) -> float:
    """Updates per second while the page itself moves the second slider every 10 ms for
    `seconds` (input events dispatched in the page, as a dragging hand would, without a
    round trip to the test driver per step)."""
    page.evaluate("window.updates = []")
    slider(page, 2).evaluate(
        """async (input, seconds) => {
            const end = performance.now() + 1000 * seconds;
            for (let i = 0; performance.now() < end; i++) {
                input.value = (3 * ((i % 60) / 30 - 1)).toFixed(1);
                input.dispatchEvent(new Event("input", { bubbles: true }));
                await new Promise((resolve) => setTimeout(resolve, 10));
            }
        }""",
        seconds,
    )
    page.wait_for_timeout(500)
    return page.evaluate("window.updates.length") / seconds


def sweep_rate(page, seconds: float) -> float:
    """Updates per second while the pointer crosses the map back and forth."""
    box = page.locator("#explore-map img").bounding_box()
    page.evaluate("window.updates = []")
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        f = (i % 100) / 100
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.7 * f), box["y"] + box["height"] / 2)
        i += 1
    return page.evaluate("window.updates.length") / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(BUNDLED), help="model folder (default: bundled)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each sweep")
    args = parser.parse_args()
    demo = serve(args.model)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        for in_browser in (True, False):
            page = open_explore(browser, demo.local_url, in_browser)
            latency = isolated_moves(page)
            drag = drag_rate(page, args.seconds)
            sweep = sweep_rate(page, args.seconds) if in_browser else None
            decode = None
            if in_browser:
                decode = page.evaluate(
                    "(() => { const t = window.vaeHub.stats.updateMs.slice().sort((a, b) => a - b);"
                    " return t[Math.floor(t.length / 2)]; })()"
                )
            rows.append(("browser (ONNX Runtime Web)" if in_browser else "server", latency,
                         drag, sweep, decode))  # fmt: skip
            page.close()
        browser.close()
    demo.close()
    print("| path | slider move -> picture, p50 | updates/s, slider dragged | "
          "updates/s, pointer over the map | page's work per update, p50 |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for name, latency, drag, sweep, decode in rows:
        sweep_text = f"{sweep:.0f}" if sweep is not None else "(on click only)"
        decode_text = f"{decode:.1f} ms" if decode is not None else "-"
        print(f"| {name} | {latency:.0f} ms | {drag:.0f} | {sweep_text} | {decode_text} |")


if __name__ == "__main__":
    main()
