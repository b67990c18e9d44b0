"""`vae-hub evaluate MODEL`: score a model on the MNIST test split.

Prints a table (or JSON with --json) of the negative ELBO, the IWAE bound, active units,
prior-sample Frechet distance, digit-generation accuracy, the linear-probe accuracy and (full
profile) the amortisation gap.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import replace

from ..evaluation.report import (
    PROFILES,
    EvalProfile,
    describe_profiles,
    describe_work,
    estimate_seconds,
    evaluate_model,
    format_table,
)
from ..files.atomic import atomic_write_json
from ..files.bundled import DEFAULT_MODEL_HELP, default_model
from ..files.mnist import DEFAULT_DATA_DIR, load_mnist
from ..model.device import resolve_device
from ..model.vae import VAE
from .common import add_device_argument, bounded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None, help=DEFAULT_MODEL_HELP)
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder with MNIST/raw/")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help=f"how much work: {describe_profiles()}; full prints what it will compute and "
        "how long it should take here before it starts",
    )
    parser.add_argument(
        "--iwae-k",
        type=bounded(int, low=1),
        default=None,
        help="override the IWAE samples k (default: the profile's)",
    )
    parser.add_argument(
        "--iwae-images",
        type=bounded(int, low=1),
        default=None,
        help="override how many test images IWAE uses (default: the profile's)",
    )
    parser.add_argument(
        "--refine-steps",
        type=bounded(int, low=0),
        default=0,
        help="draw the IWAE samples from q(z|x) refined for each image by this many Adam "
        "steps (the networks fixed): a tighter bound on the same -log p(x), which says how "
        "much of the bound is the encoder's; 0: the encoder's q(z|x)",
    )
    add_device_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="seed for all sampling")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--out", default=None, help="also write the metrics to this JSON file")


def execute(args: argparse.Namespace) -> int:
    base = PROFILES[args.profile]  # what is not overridden; unchanged, it keeps its name
    profile = replace(
        base,
        iwae_k=args.iwae_k or base.iwae_k,
        iwae_images=args.iwae_images or base.iwae_images,
        iwae_refine_steps=args.refine_steps or base.iwae_refine_steps,
    )
    model = VAE.from_pretrained(
        args.model or default_model(), map_location=resolve_device(args.device)
    )
    train = load_mnist(args.data_dir, train=True)
    test = load_mnist(args.data_dir, train=False)
    if profile.iwae_images is None:  # the whole split: minutes to hours on a CPU
        announce(model, train, test, profile, args.seed)
    metrics = evaluate_model(model, train, test, profile=profile, seed=args.seed, progress=True)
    metrics["command"] = shlex.join(["vae-hub", "evaluate", *args.argv])
    print(json.dumps(metrics, indent=2) if args.json else format_table(metrics))
    if args.out:
        atomic_write_json(args.out, metrics)
    return 0


def announce(model: VAE, train, test, profile: EvalProfile, seed: int) -> None:
    """Say what a long evaluation computes and how long it should take on this machine,
    from a timed warm-up, before committing to it (Ctrl-C stops it at any point)."""
    print(f"This evaluation computes {describe_work(profile, train, test)}.", flush=True)
    seconds, spent = estimate_seconds(model, train, test, profile, seed)
    print(
        f"Estimated time here: about {_duration(seconds)} (from a {spent:.0f} s warm-up); "
        "Ctrl-C stops it. For a first look, the quick profile (the default) is far shorter.",
        flush=True,
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
