"""`vae-hub train-judge`: retrain the judge, the small classifier that scores samples
(digit-generation accuracy, Frechet distance), and save its weights. Weights below 99% test
accuracy are not written."""

from __future__ import annotations

import argparse
import time

from ..errors import ConfigError
from ..evaluation.judge import WEIGHTS_PATH, accuracy
from ..files.mnist import DEFAULT_DATA_DIR, load_mnist
from ..training.judge import save_judge, train_judge
from .common import bounded

MIN_ACCURACY = 0.99


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="folder with MNIST/raw/")
    p.add_argument("--epochs", type=bounded(int, low=1), default=10, help="training epochs")
    p.add_argument("--out", default=str(WEIGHTS_PATH), help="where to write the weights")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def execute(args: argparse.Namespace) -> int:
    started = time.monotonic()
    train = load_mnist(args.data_dir, train=True)
    judge = train_judge(train, epochs=args.epochs, progress=not args.no_progress)
    acc = accuracy(judge, load_mnist(args.data_dir, train=False))
    print(f"test accuracy {acc:.4f} after {time.monotonic() - started:.0f} s")
    if acc < MIN_ACCURACY:
        raise ConfigError(f"test accuracy {acc:.2%} is below {MIN_ACCURACY:.0%}; not written")
    print(f"wrote {save_judge(judge, args.out, acc)}")
    return 0
