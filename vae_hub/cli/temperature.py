"""`vae-hub temperature MODEL`: digit-generation accuracy over temperatures, to choose
`generate_digit`'s default from measurements.

For each temperature, `generate_digit` draws PER_DIGIT samples of every digit and the shipped
classifier says how many are the digit asked for. Prints a table and the highest temperature
whose accuracy reaches --at-least: the most varied digits that are still almost never the
wrong digit. It needs no MNIST files.
"""

from __future__ import annotations

import argparse

from ..capabilities.generation import digit_temperature
from ..evaluation.judge import load_judge
from ..evaluation.metrics import digit_accuracy
from ..files.bundled import DEFAULT_MODEL_HELP, default_model
from ..model.device import resolve_device
from ..model.vae import VAE
from .common import add_device_argument, bounded, markdown_table

TEMPERATURES = (0.6, 0.7, 0.8, 0.9, 1.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None, help=DEFAULT_MODEL_HELP)
    parser.add_argument(
        "--temperatures",
        type=bounded(float, low=0.0, high=10.0),
        nargs="+",
        default=list(TEMPERATURES),
        metavar="T",
        help="temperatures to measure",
    )
    parser.add_argument(
        "--per-digit",
        type=bounded(int, low=1),
        default=1000,
        help="samples of each digit per temperature",
    )
    parser.add_argument(
        "--at-least",
        type=bounded(float, low=0.0, high=100.0),
        default=99.5,
        metavar="PERCENT",
        help="the accuracy the chosen temperature must reach",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed for the samples; `vae-hub evaluate` uses 0, so the default temperature "
        "is not chosen on the very samples that report its accuracy",
    )
    add_device_argument(parser)


def highest_reaching(accuracies: dict[float, float], at_least: float) -> float | None:
    """The highest temperature whose accuracy (a fraction) is at least `at_least` (a
    fraction), or None when none is."""
    good = [t for t, accuracy in accuracies.items() if accuracy >= at_least]
    return max(good, default=None)


def format_sweep(accuracies: dict[float, float]) -> str:
    """A Markdown table: one column per temperature, in the order measured."""
    return markdown_table(
        ["temperature", *(f"{t:g}" for t in accuracies)],
        [["digit-generation accuracy", *(f"{a:.2%}" for a in accuracies.values())]],
    )


def execute(args: argparse.Namespace) -> int:
    model = VAE.from_pretrained(
        args.model or default_model(), map_location=resolve_device(args.device)
    )
    judge = load_judge()
    temperatures = list(dict.fromkeys(args.temperatures))  # once each, in the order given
    accuracies = {
        t: digit_accuracy(
            model, judge, per_digit=args.per_digit, seed=args.seed, temperature=t, progress=True
        )
        for t in temperatures
    }
    print(format_sweep(accuracies))
    best = highest_reaching(accuracies, args.at_least / 100)
    current = f"generate_digit's default for this model: {digit_temperature(model):g}"
    if best is None:
        print(f"no temperature measured reaches {args.at_least:g}% ({current})")
    else:
        print(f"highest temperature reaching {args.at_least:g}%: {best:g} ({current})")
    return 0
