"""What each tab of the demo does, as plain functions of (model, inputs) -> pictures.

They wrap the pure functions of `vae_hub.generation` with what a web page needs: checked and
clamped parameters, pictures upscaled with crisp pixels, the latent map, and one readable
`ValueError` for anything a visitor can get wrong. `page.py` turns those errors into messages
in the page (and errors through the API).
"""

from __future__ import annotations

from typing import Any

from .. import generation
from ..model import VAE
from ..pretrained import display_name
from .figures import latent_map_picture, manifold_picture, save_gif, to_picture
from .inputs import example_digit, sketch_to_image
from .params import MAX_GRID, MAX_SEED, MAX_STEPS, MAX_TEMPERATURE, float_in, int_in


def sample_tab(model: VAE, grid_size: Any, seed: Any, temperature: Any):
    """-> (grid picture, "seed used" text)."""
    n = int_in("grid size", grid_size, 1, MAX_GRID)
    s = int_in("seed", seed, 0, MAX_SEED)
    t = float_in("temperature", temperature, 0.0, MAX_TEMPERATURE)
    images = generation.sample(model, n * n, seed=s, temperature=t)
    return to_picture(images, nrow=n), f"Seed used: **{s}** (temperature {t:g})"


def digit_tab(
    model: VAE,
    digit: Any,
    grid_size: Any,
    seed: Any,
    temperature: Any = generation.DIGIT_TEMPERATURE,
):
    """-> grid picture of one digit from the stored class Gaussian."""
    d = int_in("digit", digit, 0, 9)
    n = int_in("grid size", grid_size, 1, MAX_GRID)
    s = int_in("seed", seed, 0, MAX_SEED)
    t = float_in("temperature", temperature, 0.0, MAX_TEMPERATURE)
    return to_picture(generation.generate_digit(model, d, n * n, seed=s, temperature=t), nrow=n)


def interpolate_tab(
    model: VAE,
    a_digit: Any,
    a_index: Any,
    a_sketch: Any,
    b_digit: Any,
    b_index: Any,
    b_sketch: Any,
    steps: Any,
    method: Any,
):
    """-> (strip picture, GIF path). Each end is the drawing/upload when there is one,
    else the chosen test example."""
    if method not in generation.METHODS:
        raise ValueError(f"method must be one of {', '.join(generation.METHODS)}")
    n = int_in("steps", steps, 2, MAX_STEPS)
    ends = []
    for digit, index, sketch in ((a_digit, a_index, a_sketch), (b_digit, b_index, b_sketch)):
        drawn = sketch_to_image(sketch)
        ends.append(drawn if drawn is not None else example_digit(digit, index))
    frames = generation.interpolate(model, ends[0], ends[1], steps=n, method=method)
    return to_picture(frames, nrow=n, scale=4), save_gif(frames)


def reconstruct_tab(model: VAE, image: Any):
    """-> (the 28x28 input the model saw, its reconstruction, the latent map with a star)."""
    result = generation.reconstruct(model, image)
    return (
        to_picture(result.input[None], nrow=1),
        to_picture(result.reconstruction[None], nrow=1),
        latent_map_picture(model, highlight=result.latent_mean),
    )


def latent_map_tab(model: VAE):
    """-> (latent map picture, decoded manifold picture or None)."""
    return latent_map_picture(model), manifold_picture(model)


def model_summary(model: VAE, source: str) -> str:
    config = model.config
    parts = [
        f"**Model:** `{display_name(source)}` — arch `{config['arch']}`, "
        f"latent size {config['latent_dim']}",
        "class Gaussians stored" if model.has_class_gaussians else "no class Gaussians",
    ]
    return ", ".join(parts) + "."
