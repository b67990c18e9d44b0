"""What each tab of the demo does, as plain functions of (model, inputs) -> images.

They wrap the pure functions of `vae_hub.generation` with what a web page needs: checked and
clamped parameters, images upscaled with crisp pixels, pictures of the latent map, and one
readable `ValueError` for anything a visitor can get wrong. `vae_hub.ui` turns those errors
into messages in the page (and errors through the API).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from . import generation
from .data import EXAMPLES_PER_DIGIT, load_examples, to_float
from .latent import encode_means, pca_2d, project_to_map
from .model import VAE
from .plots import image_grid
from .preprocess import check_size

UPSCALE = 8  # 28 px -> 224 px, nearest neighbour: crisp pixels
MAX_GRID = 16
MAX_STEPS = 32
MAX_TEMPERATURE = 2.0
MAX_SEED = 2**31 - 1


# --- parameters -----------------------------------------------------------------------------


def _float_in(name: str, value: Any, low: float, high: float) -> float:
    """A numeric parameter, clamped to [low, high]; non-numbers and NaN are rejected."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return min(max(number, low), high)


def _int_in(name: str, value: Any, low: int, high: int) -> int:
    return round(_float_in(name, value, low, high))


def random_seed() -> int:
    """A fresh seed from the OS (never touches torch's or numpy's global RNG)."""
    return secrets.randbelow(MAX_SEED + 1)


# --- pictures -------------------------------------------------------------------------------


def to_picture(images: torch.Tensor, nrow: int, scale: int = UPSCALE) -> Image.Image:
    """(N, 1, 28, 28) in [0, 1] -> a grey PIL grid, upscaled by `scale` (nearest)."""
    grid = image_grid(images, nrow)[0]  # (H, W)
    array = (grid.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    picture = Image.fromarray(array, mode="L")
    return picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)


GIF_DIR = Path(tempfile.gettempdir()) / f"vae-hub-gifs-{os.getpid()}"
GIF_LIFETIME_S = 600


def save_gif(frames: torch.Tensor, scale: int = 4, duration_ms: int = 80) -> str:
    """Frames (N, 1, 28, 28) -> an animated GIF that plays forwards then back, in a fresh
    temporary file (the demo serves only files it wrote itself). Returns its path. GIFs
    older than GIF_LIFETIME_S are removed first, so a long-running server does not fill
    the disk (Gradio has served its own copy by then)."""
    GIF_DIR.mkdir(exist_ok=True)
    cutoff = time.time() - GIF_LIFETIME_S
    for old in GIF_DIR.glob("*.gif"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    pictures = [to_picture(f[None], nrow=1, scale=scale) for f in frames]
    loop = pictures + pictures[-2:0:-1]
    with tempfile.NamedTemporaryFile(dir=GIF_DIR, suffix=".gif", delete=False) as handle:
        loop[0].save(
            handle,
            format="GIF",
            save_all=True,
            append_images=loop[1:],
            duration=duration_ms,
            loop=0,
        )
    return handle.name


def _figure_to_picture(fig) -> Image.Image:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=100)
    plt.close(fig)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def latent_map_points(model: VAE) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(xy (P, 2), labels (P,), method) of the map: the stored t-SNE, else PCA of the stored
    latent means, else PCA of the shipped example digits."""
    if model.has_latent_map:
        return model.latent_map_xy.cpu(), model.latent_map_labels.cpu(), "t-SNE (stored)"
    examples = load_examples()
    xy = pca_2d(encode_means(model, examples.images).cpu())
    return xy, examples.labels, "PCA of example digits"


def latent_map_picture(model: VAE, highlight: torch.Tensor | None = None) -> Image.Image:
    """Scatter of test-set latent means coloured by digit; `highlight` (D,) adds a star
    where that latent mean lands."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    xy, labels, method = latent_map_points(model)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    cmap = plt.get_cmap("tab10")
    for digit in range(10):
        mask = labels == digit
        ax.scatter(xy[mask, 0], xy[mask, 1], s=5, color=cmap(digit), label=str(digit))
    ax.legend(markerscale=3, loc="center left", bbox_to_anchor=(1.0, 0.5), title="digit")
    if highlight is not None:
        if model.has_latent_map:
            point = project_to_map(model, highlight[None])[0]
        else:  # PCA basis of the examples is not stored: place by nearest example
            examples = load_examples()
            mu = encode_means(model, examples.images).cpu()
            point = xy[torch.cdist(highlight[None], mu).argmin()]
        ax.scatter(
            [point[0]],
            [point[1]],
            s=300,
            marker="*",
            color="black",
            edgecolor="white",
            linewidth=1.5,
            zorder=5,
        )
        ax.annotate(
            "your digit",
            (float(point[0]), float(point[1])),
            xytext=(10, 10),
            textcoords="offset points",
            fontsize=11,
            weight="bold",
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8},
        )
    ax.set_xlabel(f"latent means of test digits, {method}")
    ax.set_xticks([])
    ax.set_yticks([])
    return _figure_to_picture(fig)


def manifold_picture(model: VAE, n: int = 15) -> Image.Image | None:
    """For a 2-D latent space: decode an n x n grid of Gaussian quantiles (Kingma &
    Welling's figure 4). None for other latent sizes."""
    if model.latent_dim != 2:
        return None
    from scipy.stats import norm

    ticks = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, n)), dtype=torch.float32)
    ys, xs = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z = torch.stack([xs.flatten(), ys.flatten()], dim=1)  # (n * n, 2)
    return to_picture(generation.decode_images(model, z), nrow=n, scale=2)


# --- inputs from the page -------------------------------------------------------------------


def example_digit(digit: Any, index: Any) -> torch.Tensor:
    """Test example `index` of `digit` from the shipped examples -> (1, 28, 28)."""
    d = _int_in("digit", digit, 0, 9)
    i = _int_in("example index", index, 0, EXAMPLES_PER_DIGIT - 1)
    return to_float(load_examples().images[d * EXAMPLES_PER_DIGIT + i][None])[0]


def upload_to_image(upload: Any) -> Any:
    """A visitor's upload (a lazily opened PIL image), checked for size before it is decoded."""
    if upload is None:
        raise ValueError("no image was uploaded")
    if isinstance(upload, Image.Image):
        check_size(*upload.size)
    return upload


def sketch_to_image(sketch: Any) -> Image.Image | np.ndarray | None:
    """The drawing of a Sketchpad value ({"composite": image, ...}), or None if empty."""
    if sketch is None:
        return None
    composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
    if composite is None:
        return None
    if isinstance(composite, Image.Image):
        check_size(*composite.size)
        low, high = composite.convert("L").getextrema()
        return None if low == high else composite
    array = np.asarray(composite)
    if array.size == 0 or array.min() == array.max():
        return None
    return array


# --- the tabs -------------------------------------------------------------------------------


def sample_tab(model: VAE, grid_size: Any, seed: Any, temperature: Any):
    """-> (grid picture, "seed used" text)."""
    n = _int_in("grid size", grid_size, 1, MAX_GRID)
    s = _int_in("seed", seed, 0, MAX_SEED)
    t = _float_in("temperature", temperature, 0.0, MAX_TEMPERATURE)
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
    d = _int_in("digit", digit, 0, 9)
    n = _int_in("grid size", grid_size, 1, MAX_GRID)
    s = _int_in("seed", seed, 0, MAX_SEED)
    t = _float_in("temperature", temperature, 0.0, MAX_TEMPERATURE)
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
    n = _int_in("steps", steps, 2, MAX_STEPS)
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


def display_name(source: str) -> str:
    """How the page names the model: a repo id as is, a local folder without the path to
    it (which says nothing to a visitor and leaks the server's layout)."""
    from pathlib import Path

    from .pretrained import bundled_folder

    path = Path(source)
    if not path.is_dir():
        return source
    if path.resolve() == bundled_folder().resolve():
        return "vae_hub/pretrained (bundled)"
    return path.name


def model_summary(model: VAE, source: str) -> str:
    config = model.config
    parts = [
        f"**Model:** `{display_name(source)}` — arch `{config['arch']}`, "
        f"latent size {config['latent_dim']}",
        "class Gaussians stored" if model.has_class_gaussians else "no class Gaussians",
    ]
    return ", ".join(parts) + "."
