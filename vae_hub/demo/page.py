"""The Gradio page: five tabs, each wired to a function of `vae_hub.demo.tabs`.

Every event has a stable `api_name`, so `gradio_client.Client(url).predict(...,
api_name="/sample")` keeps working across versions of the page. A visitor's mistake (a
broken upload, a blank drawing, a value out of range) becomes a `gr.Error`: a message in the
page and an error through the API, never a crashed server.
"""

from __future__ import annotations

import functools

import gradio as gr

from ..errors import InvalidModelError
from ..generation import DIGIT_TEMPERATURE
from ..model import VAE
from . import tabs
from .inputs import checked_picture_input, sketch_to_image, upload_to_image
from .params import MAX_GRID, MAX_SEED, MAX_STEPS, MAX_TEMPERATURE, random_seed

TITLE = "vae-hub: a variational autoencoder on MNIST"
CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; image-rendering: crisp-edges; }
"""
QUEUE_SIZE = 64  # requests waiting beyond this are refused with "queue full", not dropped
CONCURRENCY = 2  # events running at once (the machine has few cores; more only thrashes)
MAX_UPLOAD = "5mb"
CACHE_LIFETIME = (600, 3600)  # every 10 min, Gradio deletes cached files older than 1 hour
DIGITS = [str(d) for d in range(10)]


def _guard(fn, model: VAE):
    """Bind `model` and turn user-facing errors into gr.Error. (Not functools.wraps: Gradio
    reads the signature, which must not show the bound `model`.)"""

    def wrapper(*args):
        try:
            return fn(model, *args)
        except (ValueError, InvalidModelError) as e:
            raise gr.Error(str(e)) from e

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _output(label: str, **kwargs) -> gr.Image:
    return gr.Image(
        label=label,
        type="pil",
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        elem_classes="pixelated",
        **kwargs,
    )


def _sketchpad(label: str, **kwargs) -> gr.Sketchpad:
    sketchpad = gr.Sketchpad(
        label=label,
        canvas_size=(280, 280),
        image_mode="L",
        type="pil",
        layers=False,
        transforms=(),
        brush=gr.Brush(default_size=18, colors=["#000000"], color_mode="fixed"),
        **kwargs,
    )
    return checked_picture_input(sketchpad)


def build_demo(model: VAE, source: str) -> gr.Blocks:
    """The whole page for one loaded model."""
    h = functools.partial(_guard, model=model)
    with gr.Blocks(title=TITLE, delete_cache=CACHE_LIFETIME) as demo:
        gr.Markdown(
            f"# {TITLE}\n{tabs.model_summary(model, source)} Every picture can be "
            "downloaded (PNG); the same seed always gives the same digits."
        )
        with gr.Tab("Sample"):
            with gr.Row():
                with gr.Column(scale=1):
                    grid = gr.Slider(1, MAX_GRID, value=8, step=1, label="Grid size")
                    seed = gr.Number(
                        value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed"
                    )
                    temperature = gr.Slider(
                        0,
                        MAX_TEMPERATURE,
                        value=1.0,
                        step=0.05,
                        label="Temperature (scale of the latent noise)",
                    )
                    with gr.Row():
                        sample_btn = gr.Button("Sample", variant="primary")
                        random_btn = gr.Button("Random seed")
                    seed_used = gr.Markdown()
                with gr.Column(scale=2):
                    samples = _output("New digits from the prior")
            sample_btn.click(
                h(tabs.sample_tab),
                [grid, seed, temperature],
                [samples, seed_used],
                api_name="sample",
            )

            def random_sample(model_, grid_size, temp):
                new_seed = random_seed()
                return (new_seed, *tabs.sample_tab(model_, grid_size, new_seed, temp))

            random_btn.click(
                h(random_sample),
                [grid, temperature],
                [seed, samples, seed_used],
                api_name="random_sample",
            )

        with gr.Tab("Interpolate"):
            gr.Markdown(
                "Morph one digit into another through the latent space. Each end is a test "
                "digit chosen by class and index, unless you draw or upload one."
            )
            with gr.Row():
                ends = []
                for name, default in (("A", "2"), ("B", "7")):
                    with gr.Column():
                        digit = gr.Dropdown(DIGITS, value=default, label=f"{name}: digit")
                        index = gr.Slider(0, 9, value=0, step=1, label=f"{name}: test example")
                        sketch = _sketchpad(f"{name}: or draw / upload", sources=("upload",))
                        ends += [digit, index, sketch]
            with gr.Row():
                steps = gr.Slider(2, MAX_STEPS, value=10, step=1, label="Frames")
                method = gr.Radio(
                    ["linear", "slerp"], value="linear", label="Path (slerp: spherical)"
                )
                interp_btn = gr.Button("Interpolate", variant="primary")
            strip = _output("Frames (both ends included)")
            gif = gr.Image(
                label="Animation (GIF)",
                type="filepath",
                interactive=False,
                buttons=["download"],
                elem_classes="pixelated",
            )
            interp_btn.click(
                h(tabs.interpolate_tab),
                [*ends, steps, method],
                [strip, gif],
                api_name="interpolate",
            )

        with gr.Tab("Digit"):
            with gr.Row():
                with gr.Column(scale=1):
                    which = gr.Radio(DIGITS, value="3", label="Digit")
                    digit_grid = gr.Slider(1, MAX_GRID, value=6, step=1, label="Grid size")
                    digit_seed = gr.Number(
                        value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed"
                    )
                    digit_temp = gr.Slider(
                        0,
                        MAX_TEMPERATURE,
                        value=DIGIT_TEMPERATURE,
                        step=0.05,
                        label="Temperature (lower: more typical digits; 1: the full spread)",
                    )
                    digit_btn = gr.Button("Generate", variant="primary")
                with gr.Column(scale=2):
                    digit_out = _output("From that digit's Gaussian, stored in the model")
            digit_btn.click(
                h(tabs.digit_tab),
                [which, digit_grid, digit_seed, digit_temp],
                digit_out,
                api_name="digit",
            )

        with gr.Tab("Reconstruct"):
            with gr.Row():
                with gr.Column():
                    with gr.Tab("Upload"):
                        upload = checked_picture_input(
                            gr.Image(
                                label="A picture of a digit",
                                type="pil",
                                image_mode=None,
                                sources=["upload", "clipboard"],
                                format="png",
                            )
                        )
                        upload_btn = gr.Button("Reconstruct upload", variant="primary")
                    with gr.Tab("Draw"):
                        drawing = _sketchpad("Draw a digit")
                        draw_btn = gr.Button("Reconstruct drawing", variant="primary")
                with gr.Column():
                    with gr.Row():
                        seen = _output("What the model saw (28x28)")
                        rebuilt = _output("Reconstruction")
                    landed = _output("Where it lands on the latent map")

            def from_drawing(model_, sketch):
                image = sketch_to_image(sketch)
                if image is None:
                    raise ValueError("the drawing is empty: draw a digit first")
                return tabs.reconstruct_tab(model_, image)

            upload_btn.click(
                h(lambda model_, image: tabs.reconstruct_tab(model_, upload_to_image(image))),
                upload,
                [seen, rebuilt, landed],
                api_name="reconstruct",
            )
            draw_btn.click(
                h(from_drawing), drawing, [seen, rebuilt, landed], api_name="reconstruct_drawing"
            )

        with gr.Tab("Latent map"):
            map_btn = gr.Button("Draw the latent map", variant="primary")
            with gr.Row():
                map_out = _output("Test digits in latent space")
                manifold = _output(
                    "Decoded grid of the 2-D latent space", visible=model.latent_dim == 2
                )
            map_btn.click(h(tabs.latent_map_tab), None, [map_out, manifold], api_name="latent_map")

        gr.api(noop, api_name="noop")
    return demo


def noop() -> str:
    """Does nothing: the load benchmark's baseline for the server's own overhead."""
    return "ok"


def queued(demo: gr.Blocks) -> gr.Blocks:
    """Bounded queue: a burst is served in order up to QUEUE_SIZE waiting requests."""
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)


def launch_kwargs() -> dict:
    return {"css": CSS, "max_file_size": MAX_UPLOAD, "show_error": True}
