"""Training the evaluation classifier (`vae_hub.classifier`) whose weights ship in
vae_hub/assets/. `python -m vae_hub.classifier_training --data-dir DIR` rebuilds them and
refuses to write weights below 99% test accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from importlib import resources

import torch
from safetensors.torch import save_file
from torch import nn

from .classifier import WEIGHTS, MnistClassifier, accuracy
from .data import MnistSplit, load_mnist, to_float
from .files import atomic_path


def train_classifier(
    train: MnistSplit, epochs: int = 10, batch_size: int = 128, seed: int = 0
) -> MnistClassifier:
    """Adam with a cosine-decayed learning rate; small random shifts keep it honest on
    slightly off-centre samples."""
    torch.manual_seed(seed)
    model = MnistClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    per_epoch = len(train) // batch_size
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for step, i in enumerate(range(0, per_epoch * batch_size, batch_size)):
            progress = (epoch * per_epoch + step) / (epochs * per_epoch)
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * progress))
            idx = order[i : i + batch_size]
            x = _shift(to_float(train.images[idx]), generator)
            loss = nn.functional.cross_entropy(model(x), train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.eval()


def _shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Roll the whole batch by up to `pixels` in each direction (one shift per batch)."""
    dy, dx = torch.randint(-pixels, pixels + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vae_hub.classifier_training",
        description="Retrain the evaluation classifier and save its weights (safetensors).",
    )
    parser.add_argument("--data-dir", default="./MNIST_dataset", help="folder with MNIST/raw/")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    parser.add_argument(
        "--out",
        default=str(resources.files("vae_hub").joinpath(*WEIGHTS)),
        help="where to write the weights (default: the shipped file)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    model = train_classifier(load_mnist(args.data_dir, train=True), epochs=args.epochs)
    acc = accuracy(model, load_mnist(args.data_dir, train=False))
    print(f"test accuracy {acc:.4f} after {time.monotonic() - started:.0f} s")
    if acc < 0.99:
        print("error: below 99% test accuracy; weights not written", file=sys.stderr)
        return 1
    with atomic_path(args.out) as tmp:
        save_file(model.state_dict(), str(tmp), metadata={"test_accuracy": f"{acc:.4f}"})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
