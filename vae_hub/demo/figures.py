"""The demo's pictures as files of the picture store: grids sent at a modest size (the page
upscales them crisply with CSS), larger copies for downloading, GIFs, and the latent map
with a star where a digit lands."""

from __future__ import annotations

import torch
from PIL import Image

from ..capabilities import generation
from ..capabilities.latent_space import LatentMap
from ..model.vae import VAE
from ..pictures.plots import grid_picture, latent_map_picture, mark
from .store import PictureStore

SHOW_SCALE = 2  # grids as sent to the page: 28 px digits at 56 px; CSS makes them bigger
DOWNLOAD_SCALE = 4  # grids offered for download
DIGIT_SCALE = 8  # a single digit, shown large (still a tiny PNG)
GIF_SCALE = 6  # shown at its own size (168 px), never stretched
GIF_FRAME_MS = 80
MAP_SIDE = 520  # shown at its own size: no upscaling of the dots


def grid_file(
    store: PictureStore,
    images: torch.Tensor,
    nrow: int,
    scale: int = SHOW_SCALE,
    keep: bool = False,
    name: str | None = None,
) -> str:
    """(N, 1, 28, 28) in [0, 1] -> the path of a PNG grid, `nrow` digits per row (a file
    named `name`, for a download)."""
    return store.png(grid_picture(images, nrow, scale), keep=keep, name=name)


def gif_file(
    store: PictureStore, frames: torch.Tensor, keep: bool = False, name: str | None = None
) -> str:
    """Frames (N, 1, 28, 28) -> the path of a GIF that plays forwards, then back (a file
    named `name`)."""
    pictures = [grid_picture(f[None], nrow=1, scale=GIF_SCALE) for f in frames]
    return store.gif(pictures + pictures[-2:0:-1], GIF_FRAME_MS, keep=keep, name=name)


class MapView:
    """The latent map drawn once, and copies of it with a star where a latent lands."""

    def __init__(self, points: LatentMap):
        self.points = points
        self.picture, self.frame = latent_map_picture(points.xy, points.labels, side=MAP_SIDE)
        self.picture = self.picture.quantize(colors=64)  # small, fast PNGs

    def with_star(
        self, z: torch.Tensor, label: str, cloud: torch.Tensor | None = None
    ) -> Image.Image:
        """The map with a star where latent `z` (D,) lands, and rings where the codes of
        `cloud` (K, D) land (draws from q(z|x) around it)."""
        x, y = self.points.place(z[None])[0].tolist()
        rings = [] if cloud is None else self.points.place(cloud).tolist()  # (K, 2)
        pixels = [self.frame.to_pixel(cx, cy) for cx, cy in rings]
        return mark(self.picture, self.frame.to_pixel(x, y), label, pixels)

    def latent_under(self, px: float, py: float) -> torch.Tensor:
        """The latent under pixel (px, py) of the map picture."""
        return self.points.latent_at(torch.tensor(self.frame.to_data(px, py)))


def manifold_picture(model: VAE, n: int = 15) -> Image.Image | None:
    """For a 2-D latent space: decode an n x n grid of Gaussian quantiles (Kingma &
    Welling's figure 4). None for other latent sizes."""
    if model.latent_dim != 2:
        return None
    ticks = torch.special.ndtri(torch.linspace(0.05, 0.95, n))  # Gaussian quantiles
    ys, xs = torch.meshgrid(ticks.flip(0), ticks, indexing="ij")
    z = torch.stack([xs.flatten(), ys.flatten()], dim=1)  # (n * n, 2)
    return grid_picture(generation.decode_images(model, z), nrow=n, scale=SHOW_SCALE)
