"""`vae-hub train` (also `python train.py`): train a VAE on MNIST, evaluate it, and
optionally publish it.

Writes OUTPUT_DIR/EXP_NAME/ with checkpoints/ (save_pretrained folders, final/),
training_images/, t_sne/ and TensorBoard logs in runs/. Options given on the command line win
over --config FILE, which wins over the defaults; --resume starts from the run's saved options.
"""

from __future__ import annotations

import argparse
import signal
from typing import Any

from ..hub.client import check_credentials, check_repo_id
from ..hub.export import push_model
from ..training.loop import run
from ..training.options import FIELDS, TrainConfig, base_type, coerce, resolve_options
from .common import EXIT_INTERRUPTED, EXIT_TERMINATED, ArgumentParser, guarded, help_shows_default


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field. Flags not given stay absent (SUPPRESS), so a config
    file or a resumed run's saved options can fill them."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="JSON/TOML options file, or an original GenZoo config.ini; flags override it",
    )
    for name, f in FIELDS.items():
        kind, _ = base_type(name)
        flag = "--" + name.replace("_", "-")
        help_text = f.metadata["help"]
        if help_shows_default(help_text, f.default):  # the flags' own defaults are SUPPRESS
            help_text += f" (default: {f.default})"
        if kind is bool:
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        parser.add_argument(
            flag,
            type=_flag_type(name),
            choices=f.metadata.get("choices"),
            metavar=None if f.metadata.get("choices") else name.upper(),
            default=argparse.SUPPRESS,
            help=help_text,
        )


def _flag_type(name: str):
    def convert(text: str) -> Any:
        try:
            return coerce(name, text, "command line")
        except Exception as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("command line: ")) from None

    convert.__name__ = name
    return convert


def execute(args: argparse.Namespace) -> int:
    return train(options_from(args))


def options_from(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig the parsed flags ask for (with --config and --resume applied)."""
    given = {k: v for k, v in vars(args).items() if k in FIELDS}
    return resolve_options(given, getattr(args, "config", None))


def train(config: TrainConfig) -> int:
    """Train as `config` says and report where everything went; with --push, check the
    credentials first (seconds, not after training) and publish final/ at the end."""
    if config.push:
        check_repo_id(config.push)
        user = check_credentials(config.hub_token)
        print(f"Hub login OK ({user}); final/ will be pushed to {config.push}.")
    result = run(config)
    if result.interrupted:
        return EXIT_TERMINATED if result.signal == signal.SIGTERM else EXIT_INTERRUPTED
    if config.push and result.final_dir is not None:
        url = push_model(
            result.final_dir, config.push, token=config.hub_token, private=config.private
        )
        print(f"Pushed {result.final_dir} to {url}")
    logs = result.run_dir / "runs"
    print(f"Run folder: {result.run_dir}  (TensorBoard: tensorboard --logdir {logs})")
    return 0


def build_parser(prog: str = "train.py") -> ArgumentParser:
    parser = ArgumentParser(prog=prog, description=__doc__)
    add_arguments(parser)
    return parser


def parse_args(argv: list[str] | None = None, prog: str = "train.py") -> TrainConfig:
    """The options of a train.py command line; ConfigError for a bad one."""
    return options_from(build_parser(prog).parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """`python train.py`: the same options as `vae-hub train`."""
    return guarded(lambda: train(parse_args(argv)))
