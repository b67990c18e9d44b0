"""The demo's pictures: upscaled grids, animated GIFs and the latent map as a figure."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.stats import norm

from .. import generation
from ..data import load_examples
from ..latent import embed_split, pca_2d, project_to_map
from ..model import VAE
from ..plots import figure_to_picture, image_grid, latent_map_figure

UPSCALE = 8  # 28 px -> 224 px, nearest neighbour: crisp pixels


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


def latent_map_points(model: VAE) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(xy (P, 2), labels (P,), method) of the map: the stored t-SNE, else PCA of the stored
    latent means, else PCA of the shipped example digits."""
    if model.has_latent_map:
        return model.latent_map_xy.cpu(), model.latent_map_labels.cpu(), "t-SNE (stored)"
    examples = load_examples()
    xy = pca_2d(embed_split(model, examples.images).cpu())
    return xy, examples.labels, "PCA of example digits"


def latent_map_picture(model: VAE, highlight: torch.Tensor | None = None) -> Image.Image:
    """Scatter of test-set latent means coloured by digit; `highlight` (D,) adds a star
    where that latent mean lands."""
    xy, labels, method = latent_map_points(model)
    point = None
    if highlight is not None:
        if model.has_latent_map:
            point = project_to_map(model, highlight[None])[0]
        else:  # PCA basis of the examples is not stored: place by nearest example
            mu = embed_split(model, load_examples().images).cpu()
            point = xy[torch.cdist(highlight[None], mu).argmin()]
    fig = latent_map_figure(
        xy, labels, xlabel=f"latent means of test digits, {method}", highlight=point,
        figsize=(6.4, 5.6),
    )  # fmt: skip
    return figure_to_picture(fig)


def manifold_picture(model: VAE, n: int = 15) -> Image.Image | None:
    """For a 2-D latent space: decode an n x n grid of Gaussian quantiles (Kingma &
    Welling's figure 4). None for other latent sizes."""
    if model.latent_dim != 2:
        return None
    ticks = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, n)), dtype=torch.float32)
    ys, xs = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z = torch.stack([xs.flatten(), ys.flatten()], dim=1)  # (n * n, 2)
    return to_picture(generation.decode_images(model, z), nrow=n, scale=2)
