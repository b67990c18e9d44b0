"""Command-line entry points: `train.py` / `vae-hub train`, and `vae-hub generate`.

User errors (bad options, missing data, unloadable models) print one message and exit with
status 2; Ctrl-C during training saves a checkpoint and exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError, DataNotFoundError, HubError, InvalidModelError, WriteError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_MODEL_HELP = "a save_pretrained folder or a Hub repo id (default: the bundled model)"


def _fail(message: str) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr)  # one line, always
    return EXIT_USAGE


def guarded(fn: Callable[[], int]) -> int:
    """Run `fn`, turning the errors a user can fix into one line on stderr and exit code 2."""
    try:
        return fn()
    except (
        ConfigError,
        DataNotFoundError,
        InvalidModelError,
        HubError,
        WriteError,
        FileNotFoundError,
    ) as e:
        return _fail(str(e))
    except ValueError as e:  # bad values for the library's pure functions
        return _fail(str(e))


def train_main(argv: list[str] | None = None, prog: str = "train.py") -> int:
    """Parse training options, train, and report where everything went."""
    from .config import parse_args

    def go() -> int:
        config = parse_args(argv, prog=prog)
        if config.push:  # fail in seconds, not after a long run
            from .hub import check_credentials, check_repo_id

            check_repo_id(config.push)
            user = check_credentials(config.hub_token)
            print(f"Hub login OK ({user}); final/ will be pushed to {config.push}.")
        from .training import run

        result = run(config)
        if result.interrupted:
            return EXIT_INTERRUPTED
        if config.push and result.final_dir is not None:
            from .publish import push_model

            url = push_model(
                result.final_dir, config.push, token=config.hub_token, private=config.private
            )
            print(f"Pushed {result.final_dir} to {url}")
        logs = result.run_dir / "runs"
        print(f"Run folder: {result.run_dir}  (TensorBoard: tensorboard --logdir {logs})")
        return 0

    return guarded(go)


def default_model() -> str:
    from .pretrained import bundled_model_path

    return str(bundled_model_path())


# --- vae-hub generate ---------------------------------------------------------------------


def add_generate_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="write sample grids: random digits, a digit transit and one digit",
        description=(
            "Write PNG grids from a trained model: SAVE_PATH/generated_image.png (random digits "
            "from the prior), SAVE_PATH/digit_transit.png (one digit morphing into another, "
            "both ends included) and, with --digit, SAVE_PATH/digit_D.png."
        ),
    )
    p.add_argument("--model", default=None, help=DEFAULT_MODEL_HELP)
    p.add_argument("--grid-size", type=int, default=8, help="random grid is N x N (default: 8)")
    p.add_argument(
        "--transit",
        type=int,
        nargs=2,
        metavar=("FROM", "TO"),
        default=[2, 7],
        help="digits the transit grid goes between (default: 2 7)",
    )
    p.add_argument(
        "--transit-size", type=int, default=10, help="transit grid is N x N frames (default: 10)"
    )
    p.add_argument(
        "--method",
        choices=("linear", "slerp"),
        default="linear",
        help="transit path (default: linear)",
    )
    p.add_argument("--digit", type=int, default=None, help="also write a grid of this digit (0-9)")
    p.add_argument("--grid-size2", type=int, default=8, help="digit grid is N x N (default: 8)")
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="scale of the latent noise (default: 1.0 for the random grid, 0.5 for --digit)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--save-path",
        default="./experiments/generated_images",
        help="folder for the PNG files (default: ./experiments/generated_images)",
    )
    p.set_defaults(run=generate_command)


def generate_command(args: argparse.Namespace) -> int:
    from . import plots
    from .generation import DIGIT_TEMPERATURE, digit_transit, generate_digit, sample
    from .model import VAE

    for name in ("grid_size", "transit_size", "grid_size2"):
        value = getattr(args, name)
        if not 1 <= value <= 64:
            raise ValueError(f"--{name.replace('_', '-')} must be in 1..64, got {value}")
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
    if model.has_class_gaussians:
        start, end = args.transit
        frames = digit_transit(model, start, end, max(2, args.transit_size**2), args.method)
        written.append(plots.save_grid(frames, out / "digit_transit.png", args.transit_size))
    else:
        print("note: this model has no class Gaussians; skipping the digit transit grid")
    if args.digit is not None:
        t = DIGIT_TEMPERATURE if args.temperature is None else args.temperature
        digits = generate_digit(model, args.digit, args.grid_size2**2, args.seed, t)
        written.append(plots.save_grid(digits, out / f"digit_{args.digit}.png", args.grid_size2))
    for path in written:
        print(f"wrote {path}")
    return 0


# --- vae-hub push / vae-hub space ---------------------------------------------------------


def _add_hub_options(p) -> None:
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument(
        "--hub-token", default=None, help="Hub token (default: HF_TOKEN or the saved login)"
    )


def add_push_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "push",
        help="publish a model folder (or an exported Space) to the Hub",
        description="Upload an existing folder to the Hub, e.g. after a push that failed.",
    )
    p.add_argument("folder", help="a model folder (config.json, model.safetensors, ...)")
    p.add_argument("repo_id", help="the Hub repo, user/name")
    p.add_argument(
        "--repo-type", choices=("model", "space"), default="model", help="(default: model)"
    )
    _add_hub_options(p)
    p.set_defaults(run=push_command)


def push_command(args: argparse.Namespace) -> int:
    from .publish import push_model, push_space

    push = push_space if args.repo_type == "space" else push_model
    url = push(args.folder, args.repo_id, token=args.hub_token, private=args.private or None)
    print(f"Pushed {args.folder} to {url}")
    return 0


def add_space_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "space",
        help="write a ready-to-run Gradio Space folder for a model (and optionally push it)",
        description=(
            "Write OUT_DIR with app.py, the vae_hub package, requirements.txt and a README.md "
            "with the Space front matter. The folder also runs locally: cd OUT_DIR && "
            "python app.py."
        ),
    )
    p.add_argument("out_dir", help="folder to write (replaced if it exists)")
    p.add_argument(
        "--model", required=True, help="Hub repo id the Space serves, or a local model folder"
    )
    p.add_argument("--push", metavar="USER/SPACE", default=None, help="also upload it as a Space")
    _add_hub_options(p)
    p.set_defaults(run=space_command)


def space_command(args: argparse.Namespace) -> int:
    from .publish import export_space, push_space

    if args.push:
        from .hub import check_credentials, check_repo_id

        check_repo_id(args.push)
        check_credentials(args.hub_token)
    folder = export_space(args.out_dir, args.model)
    print(f"Wrote the Space to {folder} (run it: cd {folder} && python app.py)")
    if args.push:
        url = push_space(folder, args.push, token=args.hub_token, private=args.private or None)
        print(f"Pushed the Space to {url}")
    return 0


def add_card_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "card",
        help="re-render a model folder's README.md (e.g. after re-evaluating it)",
        description=(
            "Rewrite FOLDER/README.md from the MODEL_CARD.md template with the folder's "
            "metrics.json, training.json and pictures, e.g. after "
            "`python -m vae_hub.evaluate FOLDER --out FOLDER/metrics.json`."
        ),
    )
    p.add_argument("folder", help="a model folder")
    p.add_argument(
        "--model-id",
        default=None,
        help="what the card's snippet loads: a repo id or a path (default: FOLDER)",
    )
    p.set_defaults(run=card_command)


def card_command(args: argparse.Namespace) -> int:
    from .files import atomic_write_text
    from .publish import model_card_for

    folder = Path(args.folder)
    atomic_write_text(folder / "README.md", model_card_for(folder, args.model_id or str(folder)))
    print(f"wrote {folder / 'README.md'}")
    return 0


# --- the `vae-hub` command ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .config import ArgumentParser

    parser = ArgumentParser(
        prog="vae-hub", description="Train, generate with and share MNIST VAEs."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = subparsers.add_parser(
        "train", help="train a model (same options as train.py)", add_help=False
    )
    train.set_defaults(run=None)
    add_generate_parser(subparsers)
    add_push_parser(subparsers)
    add_space_parser(subparsers)
    add_card_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        return train_main(argv[1:], prog="vae-hub train")
    return guarded(lambda: _run(build_parser().parse_args(argv)))


def _run(args: argparse.Namespace) -> int:
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
