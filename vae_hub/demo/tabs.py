"""What each tab of the demo does: methods of `Tabs`, from the controls' values to picture
files (paths in the picture store, which Gradio serves as they are).

They wrap the pure functions of `vae_hub.capabilities` with what a web page needs: checked
and clamped parameters, pictures at a modest size, the latent map, and one readable
`ValueError` for anything a visitor can get wrong (`page.py` shows it in the page).

The demo's seeds are its own: Sample and Digit draw their codes with the portable sampler
(`capabilities.portable_sampling`), which the page's JavaScript repeats exactly, so a seed
shows the same digits whether the browser or the server decodes them. The library's
`sample(model, n, seed)` and `generate_digit` keep torch's generator, so the same seed
there gives other digits than here.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from ..capabilities import generation, portable_sampling, reconstruction
from ..capabilities.latent_space import latent_map, principal_directions
from ..files.mnist import load_examples
from ..model.vae import VAE
from .figures import DIGIT_SCALE, DOWNLOAD_SCALE, MapView, gif_file, grid_file, manifold_picture
from .inputs import example_digit, sketch_to_image
from .params import (
    EXPLORE_DIRECTIONS,
    EXPLORE_RANGE,
    MAX_GRID,
    MAX_SEED,
    MAX_STEPS,
    MAX_TEMPERATURE,
    float_in,
    int_in,
)
from .store import PictureStore

STRIP_SCALE = 4  # interpolation frames: one row, so a little larger
CLOUD_SAMPLES = 32  # draws from q(z|x) shown on the map around a reconstruction's star
CLOUD_SHOWN = 8  # of which decoded in a strip
CLOUD_SEED = 0  # the same drawing gives the same cloud and the same numbers
POINTS_HELD = 256  # Explore points kept, so one update's two pictures compute it once


class Tabs:
    """The tabs of the page for one model. What does not depend on the visitor (the latent
    map, its main directions) is computed once, here."""

    def __init__(self, model: VAE, store: PictureStore):
        self.model = model
        self.store = store
        points = latent_map(model, fallback=load_examples())
        self.map = MapView(points)
        self.map_method = points.method
        self.directions, self.spreads = principal_directions(points.mu, EXPLORE_DIRECTIONS)
        self.map_file = store.png(self.map.picture, keep=True, name="latent-map.png")
        manifold = manifold_picture(model)
        self.manifold_file = (
            store.png(manifold, keep=True, name="latent-manifold.png")
            if manifold is not None
            else None
        )
        self._point = functools.lru_cache(maxsize=POINTS_HELD)(self._explore_point)

    # --- Sample and Digit -------------------------------------------------------------------

    def sample(self, grid_size: Any, seed: Any, temperature: Any):
        """-> (grid, "seed used" text)."""
        return self.sample_pictures(grid_size, seed, temperature, download=False)[:2]

    def sample_download(self, grid_size: Any, seed: Any, temperature: Any) -> str:
        """-> the grid at DOWNLOAD_SCALE, named for what it shows."""
        images, n, s, t = self._samples(grid_size, seed, temperature)
        name = f"sample-{n}x{n}-seed{s}-T{t:g}.png"
        return grid_file(self.store, images, n, DOWNLOAD_SCALE, name=name)

    def sample_pictures(
        self, grid_size: Any, seed: Any, temperature: Any, download: bool = True
    ) -> tuple[str, str, str | None]:
        """-> (grid, "seed used" text, the grid at DOWNLOAD_SCALE or None), from one draw."""
        images, n, s, t = self._samples(grid_size, seed, temperature)
        name = f"sample-{n}x{n}-seed{s}-T{t:g}.png"
        large = grid_file(self.store, images, n, DOWNLOAD_SCALE, name=name) if download else None
        shown = grid_file(self.store, images, n, name=name)
        return shown, f"Seed used: **{s}** (temperature {t:g})", large

    def _samples(self, grid_size: Any, seed: Any, temperature: Any):
        n = int_in("grid size", grid_size, 1, MAX_GRID)
        s = int_in("seed", seed, 0, MAX_SEED)
        t = float_in("temperature", temperature, 0.0, MAX_TEMPERATURE)
        codes = portable_sampling.sample_codes(self.model, n * n, s, t)  # (n*n, D)
        return generation.decode_images(self.model, codes), n, s, t

    def digit(self, digit: Any, grid_size: Any, seed: Any, temperature: Any) -> str:
        """-> a grid of one digit, drawn from that digit's region of latent space."""
        return self.digit_pictures(digit, grid_size, seed, temperature, download=False)[0]

    def digit_download(self, digit: Any, grid_size: Any, seed: Any, temperature: Any) -> str:
        """-> the grid at DOWNLOAD_SCALE, named for what it shows."""
        images, n, d, s, t = self._digits(digit, grid_size, seed, temperature)
        name = f"digit{d}-{n}x{n}-seed{s}-T{t:g}.png"
        return grid_file(self.store, images, n, DOWNLOAD_SCALE, name=name)

    def digit_pictures(
        self, digit: Any, grid_size: Any, seed: Any, temperature: Any, download: bool = True
    ) -> tuple[str, str | None]:
        """-> (grid, the grid at DOWNLOAD_SCALE or None), from one draw."""
        images, n, d, s, t = self._digits(digit, grid_size, seed, temperature)
        name = f"digit{d}-{n}x{n}-seed{s}-T{t:g}.png"
        large = grid_file(self.store, images, n, DOWNLOAD_SCALE, name=name) if download else None
        return grid_file(self.store, images, n, name=name), large

    def _digits(self, digit: Any, grid_size: Any, seed: Any, temperature: Any):
        d = int_in("digit", digit, 0, 9)
        n = int_in("grid size", grid_size, 1, MAX_GRID)
        s = int_in("seed", seed, 0, MAX_SEED)
        t = float_in("temperature", temperature, 0.0, MAX_TEMPERATURE)
        codes = portable_sampling.digit_codes(self.model, d, n * n, s, t)  # (n*n, D)
        return generation.decode_images(self.model, codes), n, d, s, t

    # --- Interpolate ------------------------------------------------------------------------

    def interpolate(
        self,
        a_digit: Any,
        a_index: Any,
        a_sketch: Any,
        b_digit: Any,
        b_index: Any,
        b_sketch: Any,
        steps: Any,
        method: Any,
    ) -> tuple[str, str]:
        """-> (strip of frames, GIF). Each end is the drawing/upload when there is one,
        else the chosen test example."""
        if method not in generation.METHODS:
            raise ValueError(f"method must be one of {', '.join(generation.METHODS)}")
        n = int_in("steps", steps, 2, MAX_STEPS)
        (a, b), names = self._ends(a_digit, a_index, a_sketch, b_digit, b_index, b_sketch)
        frames = reconstruction.interpolate(self.model, a, b, steps=n, method=method)
        name = f"interpolate-{names[0]}-to-{names[1]}-{n}frames-{method}"
        return (
            grid_file(self.store, frames, n, STRIP_SCALE, name=f"{name}.png"),
            gif_file(self.store, frames, name=f"{name}.gif"),
        )

    def interpolate_at(
        self,
        a_digit: Any,
        a_index: Any,
        a_sketch: Any,
        b_digit: Any,
        b_index: Any,
        b_sketch: Any,
        position: Any,
        method: Any,
    ) -> str:
        """-> the one frame at `position` (0: A, 1: B) of the path between the two ends."""
        if method not in generation.METHODS:
            raise ValueError(f"method must be one of {', '.join(generation.METHODS)}")
        t = float_in("position", position, 0.0, 1.0)
        (a, b), _ = self._ends(a_digit, a_index, a_sketch, b_digit, b_index, b_sketch)
        frame = reconstruction.interpolate_at(self.model, a, b, t, method)
        return grid_file(self.store, frame, 1, DIGIT_SCALE, name="interpolate-frame.png")

    @staticmethod
    def _ends(a_digit, a_index, a_sketch, b_digit, b_index, b_sketch):
        """The two ends' pictures (the drawing when there is one, else the chosen test
        example) and their names for a file ("drawing" or the digit)."""
        ends, names = [], []
        for digit, index, sketch in ((a_digit, a_index, a_sketch), (b_digit, b_index, b_sketch)):
            drawn = sketch_to_image(sketch)
            ends.append(drawn if drawn is not None else example_digit(digit, index))
            names.append("drawing" if drawn is not None else str(int_in("digit", digit, 0, 9)))
        return ends, names

    # --- Reconstruct ------------------------------------------------------------------------

    def reconstruct(self, picture: Any, name: str = "your digit") -> tuple[str, str, str, str, str]:
        """-> (the 28x28 input the model saw, its reconstruction, the map with a star among
        draws from q(z|x), a strip of some draws' decodings, the ELBO's two terms in words)."""
        if picture is None:
            raise ValueError("no picture: upload or draw a digit")
        result = reconstruction.reconstruct(self.model, picture)
        cloud = reconstruction.posterior_cloud(self.model, result.input, CLOUD_SAMPLES, CLOUD_SEED)
        shown = cloud.decodings[:CLOUD_SHOWN]  # (CLOUD_SHOWN, 1, 28, 28)
        landed = self.map.with_star(result.latent_mean, name, cloud.codes)
        return (
            grid_file(self.store, result.input[None], 1, DIGIT_SCALE, name="input-28x28.png"),
            grid_file(
                self.store, result.reconstruction[None], 1, DIGIT_SCALE, name="reconstruction.png"
            ),  # fmt: skip
            self.store.png(landed, name="latent-map-reconstruction.png"),
            grid_file(self.store, shown, len(shown), STRIP_SCALE, name="posterior-draws.png"),
            elbo_words(cloud),
        )

    def reconstruct_drawing(self, sketch: Any) -> tuple[str, str, str, str, str]:
        drawn = sketch_to_image(sketch)
        if drawn is None:
            raise ValueError("the drawing is empty: draw a digit first")
        return self.reconstruct(drawn)

    # --- Latent map and Explore -------------------------------------------------------------

    def latent_map(self) -> tuple[str, str | None]:
        """-> (the latent map, the decoded manifold of a 2-D latent space or None)."""
        return self.map_file, self.manifold_file

    def explore(self, digit: Any, map_x: Any, map_y: Any, *offsets: Any) -> str:
        """-> the digit at a point of latent space (`explore_point`)."""
        z = self.explore_point(digit, map_x, map_y, *offsets)
        return grid_file(self.store, generation.decode_images(self.model, z[None]), 1,
                         DIGIT_SCALE, name="explore-digit.png")  # fmt: skip

    def explore_map(self, digit: Any, map_x: Any, map_y: Any, *offsets: Any) -> str:
        """-> the latent map with a star where `explore_point` lands."""
        z = self.explore_point(digit, map_x, map_y, *offsets)
        clicked = map_x is not None and map_y is not None
        label = "you are here" if clicked else f"centre of {digit}"
        moved = any(float(o or 0) != 0 for o in offsets)
        picture = self.map.with_star(z, "here" if moved else label)
        return self.store.png(picture, name="explore-map.png")

    def explore_point(self, digit: Any, map_x: Any, map_y: Any, *offsets: Any) -> torch.Tensor:
        """The latent (D,) the Explore controls point at: the one under map position
        (map_x, map_y) when there is one (a click), else the centre of `digit`; each offset
        moves it along one of the main directions of the stored latents, in standard
        deviations. One update asks twice (its digit, then its map): the second time is
        remembered, not computed (never modify the tensor returned)."""
        try:
            return self._point(digit, map_x, map_y, *offsets)
        except TypeError as e:  # a value that cannot be a key (a list): checked uncached
            if "unhashable" not in str(e):
                raise
            return self._explore_point(digit, map_x, map_y, *offsets)

    def _explore_point(self, digit: Any, map_x: Any, map_y: Any, *offsets: Any) -> torch.Tensor:
        if len(offsets) != len(self.directions):
            raise ValueError(f"expected {len(self.directions)} direction offsets")
        if map_x is None or map_y is None:
            z = generation.digit_centre(self.model, int_in("digit", digit, 0, 9))
        else:
            x = float_in("map x", map_x, -1e6, 1e6)
            y = float_in("map y", map_y, -1e6, 1e6)
            z = self.map.points.latent_at(torch.tensor([x, y]))
        steps = torch.tensor(
            [float_in(f"direction {i + 1}", o, -EXPLORE_RANGE, EXPLORE_RANGE)
             for i, o in enumerate(offsets)]
        )  # fmt: skip
        return z + (steps * self.spreads) @ self.directions  # (D,)

    def map_position(self, px: Any, py: Any) -> tuple[float, float]:
        """The map coordinates under pixel (px, py) of the map picture."""
        return self.map.frame.to_data(float_in("x", px, -1e6, 1e6), float_in("y", py, -1e6, 1e6))


def elbo_words(cloud: reconstruction.PosteriorCloud) -> str:
    """The two terms of a picture's negative ELBO, in plain words (Markdown)."""
    return (
        f"About **{cloud.reconstruction_nats:.0f} nats to redraw it** (reconstruction) and "
        f"**{cloud.kl_nats:.0f} nats to place it in the latent space** (KL): "
        f"{cloud.negative_elbo:.0f} nats in all, the model's negative ELBO, averaged over "
        f"{len(cloud.codes)} codes drawn from q(z|x). The rings on the map are those codes, "
        "and the strip shows what some of them decode to: a tight cloud of alike digits is "
        "a drawing the model is sure of."
    )
