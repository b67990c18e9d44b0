"""`vae-hub speed`: seconds per training step of variants of the bundled model's recipe,
measured side by side in one process.

Each VARIANT is a quoted string of train.py flags applied on top of the recipe the bundled
model was trained with (its training.json); the first is the reference the others are
compared with. Step times on a shared machine drift by tens of percent from one minute to
the next, so the variants take turns in short blocks of steps, in forward and then reverse
order, after a warm-up (the compiled variants compile there), and the table gives each one's
median block and its ratio to the reference. The steps are train.py's own (`train_step`), on
real MNIST batches.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import statistics
import time

import torch
from tqdm.auto import tqdm

from ..errors import ConfigError
from ..files.atomic import atomic_write_json
from ..files.bundled import bundled_model_path
from ..files.mnist import DEFAULT_DATA_DIR, MnistSplit, as_batch, load_mnist, num_batches
from ..model.device import resolve_device
from ..training.options import FIELDS, NOT_RECIPE, TrainConfig
from ..training.start import start_model
from ..training.steps import train_step
from .bench import machine
from .common import add_device_argument, bounded, markdown_table
from .train import add_arguments as add_train_arguments

DEFAULT_VARIANTS = (
    "--augment-shift 0 --no-compile",
    "--augment-shift 2 --no-compile",
    "--augment-shift 0 --compile",
    "--augment-shift 2 --compile",
)


def bundled_recipe() -> dict:
    """The options that made the bundled model, minus where things were and how that
    machine ran (the `NOT_RECIPE` options)."""
    path = bundled_model_path() / "training.json"
    try:
        saved = json.loads(path.read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: no training options to take the recipe from ({e})") from None
    return {k: v for k, v in saved.items() if k in FIELDS and k not in NOT_RECIPE}


def variant_config(recipe: dict, flags: str, data_dir: str) -> TrainConfig:
    """The recipe with the train.py `flags` of one VARIANT applied; a flag train.py does not
    know, or a value it would refuse, is an error naming the variant."""
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False, allow_abbrev=False)
    add_train_arguments(parser)
    try:
        given, unknown = parser.parse_known_args(shlex.split(flags))
        if unknown:
            raise ConfigError(f"not a train.py option: {' '.join(unknown)}")
        if hasattr(given, "config"):
            raise ConfigError("--config is not read here; give the options as flags")
        given = {k: v for k, v in vars(given).items() if k in FIELDS}
        return TrainConfig(**{**recipe, **given, "data_dir": data_dir})
    except (ValueError, argparse.ArgumentError, ConfigError) as e:
        raise ConfigError(f"variant {flags!r}: {e}") from None


class Trainer:
    """One variant's model, optimiser and batch stream, ready to step."""

    def __init__(self, config: TrainConfig, train: MnistSplit):
        self.config = config
        self.train = train
        self.model, self.augmentation, self.optimizer = start_model(config, train, 0)
        self.ema = copy.deepcopy(self.model) if config.ema_decay else None
        self.step_fn = torch.compile(self.model) if config.compile else self.model
        self.per_epoch = num_batches(len(train), config.batch_size)
        self.generator = torch.Generator(train.images.device).manual_seed(config.seed)
        self.step = 0

    def run(self, steps: int) -> float:
        """Seconds per step over the next `steps` steps (the device waited for at the end)."""
        device = self.train.images.device
        started = time.perf_counter()
        for _ in range(steps):
            idx = torch.randint(
                len(self.train), (self.config.batch_size,), generator=self.generator,
                device=device,
            )  # fmt: skip
            x = as_batch(self.train.images[idx], self.config.binarized, self.generator)
            train_step(
                self.model, self.step_fn, self.optimizer, x, self.train.labels[idx],
                self.config, self.step, self.per_epoch, self.generator, ema=self.ema,
                augmentation=self.augmentation,
            )  # fmt: skip
            self.step += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - started) / steps


def measure(
    trainers: list[Trainer],
    blocks: int,
    block_steps: int,
    warmup_steps: int,
    progress: bool = False,
) -> list[list[float]]:
    """Seconds per step of each trainer in each of `blocks` blocks, taken in turns: forward
    order in even blocks, reverse in odd ones, so no variant always runs first."""
    warmups = trainers if warmup_steps else []
    bar = tqdm(
        total=len(warmups) * warmup_steps + len(trainers) * blocks * block_steps,
        unit="step",
        disable=not progress,
        leave=False,
    )
    with bar:
        for i, trainer in enumerate(warmups):
            bar.set_description(f"warm-up {i + 1}/{len(warmups)}")
            trainer.run(warmup_steps)
            bar.update(warmup_steps)
        times: list[list[float]] = [[] for _ in trainers]
        for block in range(blocks):
            bar.set_description(f"turn {block + 1}/{blocks}")
            order = range(len(trainers)) if block % 2 == 0 else reversed(range(len(trainers)))
            for i in order:
                times[i].append(trainers[i].run(block_steps))
                bar.update(block_steps)
    return times


def format_rows(variants: list[str], trainers: list[Trainer], times: list[list[float]]) -> str:
    """The table: each variant's median seconds per step, their spread, the ratio to the
    first, and what its epochs of steps would take at that median (the per-epoch test
    ELBO and the end-of-run evaluation not included)."""
    reference = statistics.median(times[0])
    header = [
        "variant (train.py flags on top of the bundled recipe)",
        "s/step (median)",
        "min - max",
        "ratio to the first",
        "its epochs of steps",
    ]
    rows = []
    for flags, trainer, row in zip(variants, trainers, times, strict=True):
        median = statistics.median(row)
        epochs = trainer.config.epochs
        minutes = median * trainer.per_epoch * epochs / 60
        rows.append(
            [
                flags or "(the recipe as is)",
                f"{median:.4f}",
                f"{min(row):.4f} - {max(row):.4f}",
                f"{median / reference:.3f}",
                f"{epochs} epochs: {minutes:.0f} min",
            ]
        )
    return markdown_table(header, rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "variants",
        nargs="*",
        metavar="VARIANT",
        default=list(DEFAULT_VARIANTS),
        help="train.py flags in one quoted string, e.g. '--augment-shift 2 --compile'; the "
        "first is the reference. Put -- before the variants when one is a single flag: "
        "vae-hub speed -- '' --compile",
    )
    parser.add_argument("--blocks", type=bounded(int, low=1), default=8, help="turns per variant")
    parser.add_argument(
        "--block-steps", type=bounded(int, low=1), default=20, help="training steps per turn"
    )
    parser.add_argument(
        "--warmup-steps",
        type=bounded(int, low=0),
        default=5,
        help="untimed steps per variant first (compilation happens here)",
    )
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder with MNIST/raw/")
    add_device_argument(parser)
    parser.add_argument(
        "--threads", type=bounded(int, low=1), default=None, help="CPU threads for torch"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")


def execute(args: argparse.Namespace) -> int:
    recipe = bundled_recipe()
    configs = [variant_config(recipe, flags, args.data_dir) for flags in args.variants]
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    train = load_mnist(args.data_dir, train=True).to(device)
    trainers = [Trainer(config, train) for config in configs]
    times = measure(
        trainers, args.blocks, args.block_steps, args.warmup_steps, progress=not args.quiet
    )
    command = shlex.join(["vae-hub", "speed", *args.argv])
    print(f"\nMachine: {machine()}, {device}\nCommand: {command}\n")
    print(format_rows(args.variants, trainers, times))
    print(
        f"\n({args.blocks} turn{'s' * (args.blocks != 1)} of {args.block_steps} steps per "
        f"variant; an epoch is {len(train):,} training images)"
    )
    if args.out:
        pairs = zip(args.variants, times, strict=True)
        rows = [{"variant": flags, "seconds_per_step": row} for flags, row in pairs]
        atomic_write_json(args.out, {"machine": machine(), "command": command, "rows": rows})
    return 0
