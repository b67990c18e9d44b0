"""The `vae-hub` command: one module per subcommand, one error guard (`common.guarded`).

Each subcommand module has a docstring (its --help description), `add_arguments(parser)` and
`execute(args) -> int`. Only the module of the command being run is imported, so
`vae-hub generate` does not pay for the demo's or the trainer's imports.
"""

from __future__ import annotations

import importlib
import sys

from .common import ArgumentParser, guarded

# name -> (module of this package, one line for `vae-hub --help`). The commands a user needs
# come first; the maintainers' tools after them. They stay top-level commands rather than a
# group (`vae-hub dev bench`): their names are already in scripts and notes, and a flat list
# in this order reads as plainly.
SUBCOMMANDS = {
    "train": ("train", "train a model (same as python train.py)"),
    "evaluate": ("evaluate", "score a model on the MNIST test split"),
    "generate": ("generate", "write sample grids: random digits, a digit transit, one digit"),
    "card": ("card", "re-render a model folder's model card (e.g. after re-evaluating it)"),
    "push": ("push", "publish a model folder (or an exported Space) to the Hub"),
    "space": ("space", "write a ready-to-run Gradio Space for a model (and push it)"),
    "temperature": (
        "temperature",
        "(maintainers) digit accuracy over temperatures, to choose generate_digit's default",
    ),
    "bench": ("bench", "(maintainers) train recipes on the same time budget, side by side"),
    "speed": ("speed", "(maintainers) seconds per training step of variants of the recipe"),
    "loadtest": ("loadtest", "(maintainers) concurrent and hostile clients against the demo"),
    "train-judge": ("train_judge", "(maintainers) retrain the classifier that judges samples"),
}


def build_parser(command: str | None = None) -> ArgumentParser:
    """The `vae-hub` parser, with the full options of `command` (the others are listed)."""
    parser = ArgumentParser(
        prog="vae-hub", description="Train, evaluate, generate with and share MNIST VAEs."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_line) in SUBCOMMANDS.items():
        if name != command:
            subparsers.add_parser(name, help=help_line)
            continue
        module = importlib.import_module(f"{__name__}.{module_name}")
        sub = subparsers.add_parser(name, help=help_line, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(execute=module.execute)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)

    def run() -> int:
        args = build_parser(command).parse_args(argv)
        args.argv = argv[argv.index(command) + 1 :]  # its own arguments, for what it records
        return args.execute(args)

    return guarded(run)
