"""The Gradio page: six tabs wired to `Tabs`, alive on arrival and as the controls move.

Every tab shows a result the moment the page opens: those pictures are computed once, at
start-up, and served as static files. Moving a control updates its tab without a click
(`trigger_mode="always_last"`: while one update runs, only the newest value waits, so
dragging a slider never builds a backlog). Every public event has a stable `api_name`, so
`gradio_client.Client(url).predict(..., api_name="/sample")` keeps working. A visitor's
mistake (a broken upload, a blank drawing, a value out of range) is a `gr.Error`: a message
in the page and an error through the API, never a crashed server. Every event, private or
not, goes through the same guard: the page's private events are callable by anyone too.

Where it can, the page decodes in the visitor's browser (`browser.py`, `static/browser.js`):
the live events of Sample, Digit, Interpolate's position and Explore first ask the browser
side, and go to the server only when it cannot draw the result (`_browser_first`).

What one visitor may cost is bounded (`launch_kwargs`): request bodies (`bodies.py`), the
visitor's share of the queue (`shares.py`), the sessions Gradio keeps, and the pictures on
disk (`store.py`).
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import socket
import time
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from ..capabilities.generation import digit_temperature
from ..capabilities.portable_sampling import sampling_json
from ..errors import InvalidModelError, PortError
from ..model.vae import VAE
from .bodies import MAX_BODY, BodyLimit
from .browser import HEAD, BrowserSide, page_data, png_bytes
from .inputs import Click, checked_picture_input, example_digit, sketch_to_image
from .intro import TITLE, card_html, details, header
from .params import (
    EXPLORE_DIRECTIONS,
    EXPLORE_RANGE,
    MAX_GRID,
    MAX_SEED,
    MAX_STEPS,
    MAX_TEMPERATURE,
    pair_in,
    random_seed,
)
from .shares import ResultStreams, VisitorShares
from .store import PictureStore
from .tabs import Tabs

LOADTEST_ENV = "VAE_HUB_LOADTEST"  # "1": also serve the load test's baselines (/noop...)
NARROW = "(max-width: 767px)"  # where Gradio's rows wrap into one column
# Pictures are sent small (digits at 2x) and drawn large here: crisp pixels, as wide as
# their column, never taller than most of the screen. A picture's label and buttons sit in
# a line above it, never over it. On a narrow screen a tab's results come before its
# controls, and the header is small, so a phone shows a picture on arrival.
CSS = f"""
.pixelated img, .pixelated canvas, .natural img {{ image-rendering: pixelated; }}
.pixelated .image-frame {{ width: 100%; }}
.pixelated img {{ width: 100% !important; height: auto !important; max-height: 75vh;
                 object-fit: contain; }}
.natural img {{ width: auto !important; height: auto !important; max-width: 100%; }}
.latent-map img {{ max-width: 100%; height: auto; }}
.picture [data-testid="block-label"] {{ position: static !important; margin: 0 0 6px 0; }}
.picture .image-container {{ display: flex; flex-direction: column; }}
.picture .image-container > .icon-button-wrapper {{ position: static !important; order: 2;
  justify-content: flex-end; margin-top: 4px; }}
@media {NARROW} {{
  .results {{ order: -1; }}
  #interpolate-strip .image-frame {{ overflow-x: auto; justify-content: flex-start; }}
  #interpolate-strip img {{ width: auto !important; height: 64px !important;
                           max-width: none !important; max-height: none; }}
  .page-header h1 {{ font-size: 1.4rem; margin-bottom: 0.3rem; }}
  .page-header p {{ font-size: 0.9rem; line-height: 1.35; }}
}}
"""
QUEUE_SIZE = 64  # requests waiting beyond this are refused with "queue full", not dropped
CONCURRENCY = 2  # events running at once (the machine has few cores; more only thrashes)
MAX_UPLOAD = 5 * 2**20  # bytes of one uploaded picture (Gradio's max_file_size)
# Gradio keeps a copy of the page config per session (with the last values it was sent),
# for a page with gr.State or re-rendered components; this page needs none between events.
SESSIONS = 128
CACHE_LIFETIME = (600, 3600)  # every 10 min, Gradio deletes cached files older than 1 hour
DIGITS = [str(d) for d in range(10)]
LIVE = {"trigger_mode": "always_last", "show_progress": "minimal"}
QUIET = {"trigger_mode": "always_last", "show_progress": "hidden", "api_visibility": "private"}
OFFER = {**LIVE, "api_visibility": "private"}
# An event's first step, in the page: when the browser side draws the result itself
# (`static/browser.js`), it stops the event before its server request; otherwise (not
# loaded yet, or cannot be) the event goes on to the server. Throwing is how a Gradio event
# stops: the steps chained with `.success` do not run.
IN_BROWSER_FIRST = """(...values) => {
  if (window.vaeHub?.handles("%s", values)) throw new Error("drawn in the browser");
  return values;
}"""


def _browser_first(triggers, name: str, inputs: list, fn, outputs, **kwargs):
    """Bind `fn` (inputs -> outputs, on the server) to `triggers`, after the page's browser
    side had its chance to draw the result without a request (IN_BROWSER_FIRST)."""
    check = gr.on(
        triggers, None, inputs, None, js=IN_BROWSER_FIRST % name,
        trigger_mode="always_last", show_progress="hidden", queue=False,
    )  # fmt: skip
    return check.success(fn, inputs, outputs, **kwargs)


SKETCH_HEIGHT = 320  # px: a 280 px canvas and the sketchpad's tools, no more
# Gradio 6.31 has no option for a Sketchpad's first tool, and its pads start on the Image
# tool (a drag does nothing; the pad says "select the draw tool to start", in an `.empty`
# box). This script, run once in the browser on load, selects the Brush of every pad of the
# page that says so (when its tab is first shown, and again after a Clear).
BRUSH_READY_JS = """
() => {
  const ready = () => {
    for (const pad of document.querySelectorAll('.brush-ready')) {
      const brush = pad.querySelector('button[aria-label="Brush"]');
      if (brush && pad.querySelector('.empty.wrap') && pad.offsetParent !== null) brush.click();
    }
  };
  new MutationObserver(ready).observe(document.body, {childList: true, subtree: true});
  ready();
}
"""


def _guard(fn):
    """Turn a visitor's mistakes into gr.Error: a message, no traceback in the log. A
    request with the wrong number of values (the page never sends one) is such a mistake;
    any other exception is a bug of ours, and Gradio logs it."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)  # Gradio reads the signature (gr.SelectData, gr.Request) through it
    def guarded(*args):
        try:
            signature.bind(*args)
        except TypeError:
            message = "this request has the wrong number of values"
            raise gr.Error(message, print_exception=False) from None
        try:
            return fn(*args)
        except (ValueError, InvalidModelError) as e:
            raise gr.Error(str(e), print_exception=False) from e

    guarded.guarded = True
    return guarded


def _picture(label: str, value: Any = None, *, elem_classes: str = "pixelated", **kwargs):
    """An output picture: a file of the picture store (PNG unless said otherwise), its
    label and buttons above it (`CSS`)."""
    options = {"format": "png", "buttons": ["download", "fullscreen"], **kwargs}
    return gr.Image(
        value=value,
        label=label,
        type="filepath",
        interactive=False,
        elem_classes=["picture", elem_classes],
        **options,
    )


def _map(label: str, value: Any, **kwargs) -> gr.Image:
    """The latent map: drawn at the size it is shown (never upscaled, so a click's pixel
    is the picture's pixel, as Gradio's select event computes it)."""
    return _picture(label, value, elem_classes="latent-map", **kwargs)


def _sketchpad(label: str, **kwargs) -> gr.Sketchpad:
    """A drawing pad, brush in hand on arrival (`BRUSH_READY_JS`), drawing only: a pad
    with an upload source would take a drag for a move of its picture."""
    sketchpad = gr.Sketchpad(
        label=label,
        elem_classes="brush-ready",
        canvas_size=(280, 280),
        height=SKETCH_HEIGHT,
        image_mode="L",
        type="pil",
        sources=(),
        layers=False,
        transforms=(),
        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
        **kwargs,
    )
    return checked_picture_input(sketchpad)


def _seed(**kwargs) -> gr.Number:
    return gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", **kwargs)


def _temperature(value: float, label: str, **kwargs) -> gr.Slider:
    return gr.Slider(0, MAX_TEMPERATURE, value=value, step=0.05, label=label, **kwargs)


def build_demo(
    model: VAE, source: str, store: PictureStore | None = None, loadtest: bool | None = None
) -> gr.Blocks:
    """The whole page for one loaded model. `loadtest` (default: $VAE_HUB_LOADTEST) adds the
    /noop endpoint the load test compares against; a public page does not need it."""
    store = store or PictureStore()
    gr.set_static_paths([store.folder])  # served as they are: written once, never changed
    tabs = Tabs(model, store)
    first = _first_pictures(tabs)
    data = page_data(tabs, sampling_json(model))
    browser = BrowserSide(model, source, data, png_bytes(tabs.map.picture))
    with gr.Blocks(title=TITLE, delete_cache=CACHE_LIFETIME) as demo:
        gr.Markdown(header(model, source), elem_classes="page-header")
        with gr.Accordion("About this model", open=False):
            gr.Markdown(details(model, source))
            card = card_html(source)  # rendered without raw HTML: shown as it is
            if card:
                gr.HTML(card, js_on_load=None, padding=True)
        _sample_tab(tabs, first)
        _digit_tab(tabs, first)
        _interpolate_tab(tabs, first)
        _reconstruct_tab(tabs, first)
        _latent_map_tab(tabs)
        _explore_tab(tabs, first)
        demo.load(None, js=BRUSH_READY_JS)
        if os.environ.get(LOADTEST_ENV) == "1" if loadtest is None else loadtest:
            _baselines(first["sample"])
    demo.vae_hub_browser = browser
    return demo


def _first_pictures(tabs: Tabs) -> dict[str, Any]:
    """What every visitor sees on arrival, computed once (the controls' default values):
    each picture drawn once, its download from the same draw."""
    with tabs.store.keeping():
        sample, seed_text, sample_download = tabs.sample_pictures(8, 0, 1.0)
        digit, digit_download = tabs.digit_pictures("3", 6, 0, digit_temperature(tabs.model))
        strip, gif = tabs.interpolate("2", 0, None, "7", 0, None, 10, "linear")
        reconstructed = tabs.reconstruct(example_digit(3, 1), "this test digit")
        explore = ("3", None, None, *[0.0] * EXPLORE_DIRECTIONS)
        return {
            "sample": sample,
            "seed_text": seed_text,
            "sample_download": sample_download,
            "digit": digit,
            "digit_download": digit_download,
            "strip": strip,
            "gif": gif,
            "frame": tabs.interpolate_at("2", 0, None, "7", 0, None, 0.5, "linear"),
            "reconstructed": reconstructed,
            "explore": tabs.explore(*explore),
            "explore_map": tabs.explore_map(*explore),
        }


def _download_button(path: str, **kwargs) -> gr.DownloadButton:
    """The button that downloads `path`, labelled with the file's name (what it shows)."""
    return gr.DownloadButton(f"Download {Path(path).name}", value=path, size="sm", **kwargs)


def _offer(make_file):
    """A click's handler: the file `make_file` draws from the controls, offered for
    download. Large pictures are drawn only when a visitor asks for one, never on every
    update."""

    def offer(*controls):
        return _download_button(make_file(*controls))

    offer.__name__ = f"offer_{make_file.__name__}"
    return offer


def _sample_tab(tabs: Tabs, first: dict) -> None:
    with gr.Tab("Sample"):
        gr.Markdown(
            "New digits, made up by the model: random codes from its prior, decoded. "
            "Temperature scales the randomness: low gives tidy, typical digits, high wilder ones."
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                grid = gr.Slider(1, MAX_GRID, value=8, step=1, label="Grid size",
                                 elem_id="sample-grid")  # fmt: skip
                seed = _seed(elem_id="sample-seed")
                temperature = _temperature(
                    1.0, "Temperature (scale of the latent noise)", elem_id="sample-temperature"
                )
                random_btn = gr.Button("Random seed", variant="primary", elem_id="sample-random")
                # the API's second value; on the page, the Seed box says it (the browser
                # redraws without a server answer to fill this in)
                seed_used = gr.Markdown(first["seed_text"], visible=False)
                make = gr.Button("Make a PNG (4x) of these digits", size="sm",
                                 elem_id="sample-make")  # fmt: skip
                download = _download_button(first["sample_download"], elem_id="sample-download")
            with gr.Column(scale=2, min_width=280, elem_classes="results"):
                samples = _picture("New digits from the prior", first["sample"],
                                   elem_id="sample-picture")  # fmt: skip
        controls = [grid, seed, temperature]
        _browser_first(
            [grid.input, seed.input, temperature.input],
            "sample",
            controls,
            _guard(tabs.sample),
            [samples, seed_used],
            api_name="sample",
            **LIVE,
        )

        def random_sample(grid_size, temp):
            new_seed = random_seed()
            return (new_seed, *tabs.sample(grid_size, new_seed, temp))

        random_btn.click(
            _guard(random_sample),
            [grid, temperature],
            [seed, samples, seed_used],
            api_name="random_sample",
            **LIVE,
        )
        make.click(_guard(_offer(tabs.sample_download)), controls, download, **OFFER)


def _digit_tab(tabs: Tabs, first: dict) -> None:
    with gr.Tab("Digit"):
        gr.Markdown(
            "Ask for a digit: codes drawn from the region of latent space where the model "
            "keeps that digit, decoded. Lower temperature: more typical digits."
        )
        with gr.Row():
            with gr.Column(scale=1, min_width=280):
                which = gr.Radio(DIGITS, value="3", label="Digit", elem_id="digit-choice")
                grid = gr.Slider(1, MAX_GRID, value=6, step=1, label="Grid size",
                                 elem_id="digit-grid")  # fmt: skip
                seed = _seed(elem_id="digit-seed")
                temperature = _temperature(
                    digit_temperature(tabs.model),
                    "Temperature (lower: more typical digits)",
                    elem_id="digit-temperature",
                )
                make = gr.Button("Make a PNG (4x) of these digits", size="sm",
                                 elem_id="digit-make")  # fmt: skip
                download = _download_button(first["digit_download"], elem_id="digit-download")
            with gr.Column(scale=2, min_width=280, elem_classes="results"):
                digits = _picture("From that digit's region of latent space", first["digit"],
                                  elem_id="digit-picture")  # fmt: skip
        controls = [which, grid, seed, temperature]
        _browser_first(
            [which.input, grid.input, seed.input, temperature.input],
            "digit",
            controls,
            _guard(tabs.digit),
            digits,
            api_name="digit",
            **LIVE,
        )
        make.click(_guard(_offer(tabs.digit_download)), controls, download, **OFFER)


def _interpolate_tab(tabs: Tabs, first: dict) -> None:
    """The result first (the frames, the animation at its own size), the controls compact
    below it, and the drawing pads folded away until asked for."""
    with gr.Tab("Interpolate"):
        gr.Markdown(
            "Morph one digit into another through the latent space. Each end is a test "
            "digit chosen by class and index, unless you draw your own."
        )
        with gr.Row():
            with gr.Column(scale=4, min_width=280):
                strip = _picture("Frames (both ends included)", first["strip"],
                                 elem_id="interpolate-strip")  # fmt: skip
            with gr.Column(scale=1, min_width=200):
                gif = _picture("Animation (GIF)", first["gif"], format="gif",
                               elem_classes="natural", elem_id="interpolate-gif")  # fmt: skip
            with gr.Column(scale=1, min_width=200):
                frame = _picture("The frame at that position", first["frame"],
                                 elem_id="interpolate-frame")  # fmt: skip
                position = gr.Slider(0, 1, value=0.5, step=0.01, label="Position: A (0) to B (1)",
                                     elem_id="interpolate-position")  # fmt: skip
        with gr.Row():
            picks = {}
            for name, default in (("A", "2"), ("B", "7")):
                end = name.lower()
                picks[name] = (
                    gr.Dropdown(DIGITS, value=default, label=f"{name}: digit", min_width=120,
                                elem_id=f"interpolate-{end}-digit"),
                    gr.Slider(0, 9, value=0, step=1, label=f"{name}: test example",
                              min_width=160, elem_id=f"interpolate-{end}-index"),
                )  # fmt: skip
            steps = gr.Slider(2, MAX_STEPS, value=10, step=1, label="Frames", min_width=160,
                              elem_id="interpolate-frames")  # fmt: skip
            method = gr.Radio(["linear", "slerp"], value="linear", label="Path (slerp: spherical)",
                              min_width=160, elem_id="interpolate-path")  # fmt: skip
        with gr.Accordion("Draw your own ends", open=False):
            with gr.Row():
                sketches = {
                    name: _sketchpad(f"{name}: draw a digit", min_width=280,
                                     elem_id=f"interpolate-{name.lower()}-sketch")
                    for name in ("A", "B")
                }  # fmt: skip
            # cleared pads send their change event: the test digits come back
            gr.ClearButton(list(sketches.values()), value="Clear the drawings", size="sm",
                           elem_id="interpolate-clear")  # fmt: skip
        ends = [*picks["A"], sketches["A"], *picks["B"], sketches["B"]]
        triggers = [c.input for c in ends if not isinstance(c, gr.Sketchpad)]
        triggers += [c.change for c in ends if isinstance(c, gr.Sketchpad)]
        gr.on(
            [*triggers, steps.input, method.input],
            _guard(tabs.interpolate),
            [*ends, steps, method],
            [strip, gif],
            api_name="interpolate",
            **LIVE,
        )
        _browser_first(
            [*triggers, position.input, method.input],
            "interpolate_at",
            [*ends, position, method],
            _guard(tabs.interpolate_at),
            frame,
            api_name="interpolate_at",
            **LIVE,
        )


def _reconstruct_tab(tabs: Tabs, first: dict) -> None:
    with gr.Tab("Reconstruct"):
        gr.Markdown(
            "Draw or upload a digit: the model sums it up in a code and draws it back. It is "
            "not sure of one code: the rings on the map are codes it finds plausible, the "
            "strip what they decode to. Shown first: a test digit it never saw in training."
        )
        seen_0, rebuilt_0, landed_0, draws_0, words_0 = first["reconstructed"]
        with gr.Row():
            with gr.Column(min_width=280):
                with gr.Tab("Draw"):
                    drawing = _sketchpad("Draw a digit", elem_id="reconstruct-drawing")
                    # a cleared pad sends its change event, which leaves the result as it is
                    gr.ClearButton(drawing, value="Clear", size="sm", elem_id="reconstruct-clear")
                with gr.Tab("Upload"):
                    upload = checked_picture_input(
                        gr.Image(
                            label="A picture of a digit",
                            type="pil",
                            image_mode=None,
                            sources=["upload", "clipboard"],
                            format="png",
                            elem_id="reconstruct-upload",
                        )
                    )
            with gr.Column(min_width=280, elem_classes="results"):
                with gr.Row():
                    seen = _picture("What the model saw", seen_0, min_width=120,
                                    elem_id="reconstruct-seen")  # fmt: skip
                    rebuilt = _picture("Reconstruction", rebuilt_0, min_width=120,
                                       elem_id="reconstruct-rebuilt")  # fmt: skip
                draws = _picture("Codes it finds plausible, decoded", draws_0,
                                 elem_id="reconstruct-draws")  # fmt: skip
                words = gr.Markdown(words_0, elem_id="reconstruct-words")
                landed = _map("Where it lands on the latent map", landed_0,
                              elem_id="reconstruct-map")  # fmt: skip
        outputs = [seen, rebuilt, landed, draws, words]
        upload.upload(_guard(tabs.reconstruct), upload, outputs, api_name="reconstruct", **LIVE)

        def as_drawn(sketch):
            """Each stroke updates the result; a cleared canvas leaves it as it is."""
            return (
                gr.skip() if sketch_to_image(sketch) is None else tabs.reconstruct_drawing(sketch)
            )

        drawing.change(_guard(as_drawn), drawing, outputs, **{**LIVE, "api_visibility": "private"})
        ask = gr.Button("Reconstruct drawing", visible=False)  # the API endpoint's trigger
        ask.click(
            _guard(tabs.reconstruct_drawing), drawing, outputs, api_name="reconstruct_drawing"
        )


def _latent_map_tab(tabs: Tabs) -> None:
    with gr.Tab("Latent map"):
        gr.Markdown(
            f"Each dot is a test digit's latent code, laid out in 2-D ({tabs.map_method}) and "
            "coloured by its true label: digits the model finds alike sit together."
        )
        with gr.Row():
            picture = _map("Test digits in latent space", tabs.map_file,
                           elem_id="latent-map-picture")  # fmt: skip
            manifold = _picture(
                "Decoded grid of the 2-D latent space",
                tabs.manifold_file,
                visible=tabs.manifold_file is not None,
                elem_id="latent-map-manifold",
            )
        refresh = gr.Button("Latent map", visible=False)  # the API endpoint's trigger
        refresh.click(_guard(tabs.latent_map), None, [picture, manifold], api_name="latent_map")


def _explore_tab(tabs: Tabs, first: dict) -> None:
    with gr.Tab("Explore"):
        gr.Markdown(
            "Walk through the latent space. **Point anywhere on the map** to see the digit "
            "there, **click** to stay, or start from a digit's centre and move along the "
            "directions in which the digits vary most."
        )
        with gr.Row():
            with gr.Column(scale=3, min_width=280):
                where = _map("Latent map: point to look, click to stay", first["explore_map"],
                             elem_id="explore-map")  # fmt: skip
            with gr.Column(scale=2, min_width=200):
                digit_out = _picture("The digit there", first["explore"],
                                     elem_id="explore-digit")  # fmt: skip
                start = gr.Radio(DIGITS, value="3", label="Start from the centre of",
                                 elem_id="explore-start")  # fmt: skip
                offsets = [
                    gr.Slider(-EXPLORE_RANGE, EXPLORE_RANGE, value=0.0, step=0.1,
                              label=f"Direction {i + 1} (std. deviations)",
                              elem_id=f"explore-direction-{i + 1}")
                    for i in range(EXPLORE_DIRECTIONS)
                ]  # fmt: skip
        map_x = gr.Number(value=None, visible=False, elem_id="explore-x")
        map_y = gr.Number(value=None, visible=False, elem_id="explore-y")
        inputs = [start, map_x, map_y, *offsets]
        zeros = [0.0] * EXPLORE_DIRECTIONS

        def from_digit(_digit):
            return (None, None, *zeros)

        def from_click(event: Click):
            """The point under the click; no digit's centre is chosen any more, so the
            radio shows none (the view no longer shows one)."""
            position = tabs.map_position(*pair_in("click position", event.index))
            return (None, *position, *zeros)

        # The digit first (one small picture: the endpoint API users call), then the star.
        moved = _browser_first(
            [o.input for o in offsets],
            "explore",
            inputs,
            _guard(tabs.explore),
            digit_out,
            api_name="explore",
            **LIVE,
        )
        chosen = start.input(_guard(from_digit), start, [map_x, map_y, *offsets], **QUIET)
        clicked = where.select(_guard(from_click), None, [start, map_x, map_y, *offsets], **QUIET)
        for event in (chosen, clicked):
            event = event.then(_guard(tabs.explore), inputs, digit_out, **QUIET)
            event.then(_guard(tabs.explore_map), inputs, where, **QUIET)
        moved.then(_guard(tabs.explore_map), inputs, where, **QUIET)


def noop() -> str:
    """Does nothing: the load test's baseline for the server's own overhead."""
    return "ok"


def _baselines(picture_file: str) -> None:
    """The load test's baselines: /noop returns nothing; /noop_picture returns an existing
    picture through an image output, as every picture endpoint does, so the difference to
    /sample or /explore is what our code costs, and the rest is Gradio and the download."""
    gr.api(_guard(noop), api_name="noop")
    shown = _picture("baseline", visible=False)

    def noop_picture() -> str:
        return picture_file

    gr.Button(visible=False).click(_guard(noop_picture), None, shown, api_name="noop_picture")


def queued(demo: gr.Blocks) -> gr.Blocks:
    """Bounded queue: a burst is served in order up to QUEUE_SIZE waiting requests, each
    visitor within its share (`shares.py`). Every call goes through it: the direct HTTP
    routes that would skip it (`/run/NAME`, open by default except on a Space) are closed."""
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE, api_open=False)
    VisitorShares.of(demo)
    return demo


def launch_kwargs(demo: gr.Blocks) -> dict:
    """The options of `demo.launch()` for a queued page: the request-body cap and the
    count of open result streams its queue shares read, installed in the app Gradio
    builds (`app_kwargs` go to FastAPI), with the browser side's routes and the script that
    loads it (whose runtime and decoder start being prepared here, in the background); the
    sessions kept; internal errors shown only as "Error" (a visitor's mistakes are
    gr.Error, whose message is always shown)."""
    middleware = [
        Middleware(BodyLimit, max_body=MAX_BODY, max_upload=MAX_UPLOAD),
        Middleware(ResultStreams, shares=VisitorShares.of(demo)),
    ]
    browser = getattr(demo, "vae_hub_browser", None)
    routes = []
    if browser is not None:
        browser.start()
        routes = browser.routes()
    return {
        "css": CSS,
        "head": HEAD if browser is not None else None,
        "max_file_size": MAX_UPLOAD,
        "show_error": False,
        "state_session_capacity": SESSIONS,
        "app_kwargs": {"middleware": middleware, "routes": routes},
    }


def serve(demo: gr.Blocks, host: str, port: int) -> None:
    """Queue `demo` and serve it on host:port until Ctrl-C (a KeyboardInterrupt, after the
    server is closed). A port that cannot be listened on is a PortError naming it (Gradio's
    own error is a traceback)."""
    page = queued(demo)
    try:
        page.launch(
            server_name=host, server_port=port, prevent_thread_lock=True, **launch_kwargs(page)
        )
    except OSError as e:
        raise PortError(port_problem(host, port)) from e
    try:  # Gradio serves from its own threads; this one waits for Ctrl-C, which it re-raises
        while True:
            time.sleep(3600)
    finally:
        page.close()


def port_problem(host: str, port: int) -> str:
    """Why `host:port` cannot be listened on, in one line."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            return f"port {port} is in use on {host}: choose another with --port"
        return f"cannot listen on {host}:{port}: {e.strerror or e}"
    return f"cannot listen on {host}:{port}"
