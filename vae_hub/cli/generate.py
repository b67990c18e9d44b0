"""`vae-hub generate`: the GenZoo generate.py grids from a trained model.

Writes SAVE_PATH/generated_image.png (random digits from the prior), SAVE_PATH/digit_transit.png
(one digit morphing into another, both ends included) and, with --digit, SAVE_PATH/digit_D.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..capabilities.generation import digit_transit, generate_digit, sample
from ..files.bundled import DEFAULT_MODEL_HELP, default_model
from ..model.vae import VAE
from ..pictures import plots
from .common import bounded

MAX_GRID = 64
GRID = bounded(int, low=1, high=MAX_GRID)  # images per side of a grid


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help=DEFAULT_MODEL_HELP)
    p.add_argument("--grid-size", type=GRID, default=8, help="the random grid is N x N")
    p.add_argument(
        "--transit",
        type=int,
        nargs=2,
        metavar=("FROM", "TO"),
        default=[2, 7],
        help="digits the transit grid goes between",
    )
    p.add_argument("--transit-size", type=GRID, default=10, help="transit grid is N x N frames")
    p.add_argument("--method", choices=("linear", "slerp"), default="linear", help="transit path")
    p.add_argument("--digit", type=int, default=None, help="also write a grid of this digit (0-9)")
    p.add_argument("--grid-size2", type=GRID, default=8, help="the digit grid is N x N")
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="scale of the latent noise (default: 1.0 for the random grid, the model's own "
        "default for --digit)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument(
        "--save-path", default="./experiments/generated_images", help="folder for the PNG files"
    )


def execute(args: argparse.Namespace) -> int:
    model = VAE.from_pretrained(args.model or default_model())
    out = Path(args.save_path)
    temperature = 1.0 if args.temperature is None else args.temperature
    written = [
        plots.save_grid(
            sample(model, args.grid_size**2, args.seed, temperature),
            out / "generated_image.png",
            args.grid_size,
        )
    ]
    if model.prior.can_draw_digits:
        start, end = args.transit
        frames = digit_transit(model, start, end, max(2, args.transit_size**2), args.method)
        written.append(plots.save_grid(frames, out / "digit_transit.png", args.transit_size))
    else:
        print("note: this model has no class Gaussians; skipping the digit transit grid")
    if args.digit is not None:
        digits = generate_digit(model, args.digit, args.grid_size2**2, args.seed, args.temperature)
        written.append(plots.save_grid(digits, out / f"digit_{args.digit}.png", args.grid_size2))
    for path in written:
        print(f"wrote {path}")
    return 0
