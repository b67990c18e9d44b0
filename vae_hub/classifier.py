"""A small MNIST classifier used only to judge samples: its shipped weights score
digit-generation accuracy and its penultimate features give the Frechet distance.

Rebuild the shipped weights with
`python -m vae_hub.classifier --data-dir ../shared/data` (about two CPU minutes).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .data import MnistSplit, load_mnist, to_float
from .files import atomic_path

WEIGHTS = ("assets", "mnist_classifier.safetensors")
FEATURES = 128


class MnistClassifier(nn.Module):
    """conv 32 -> conv 64 (each 3x3 + max-pool) -> FC 128 -> 10 logits; about 0.4M weights."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),  # (B, 1, 28, 28) -> (B, 32, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1),  # -> (B, 64, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2),  # -> (B, 64, 7, 7)
            nn.Flatten(),
            nn.Linear(64 * 49, FEATURES),
            nn.ReLU(),  # penultimate features (B, 128)
        )
        self.head = nn.Linear(FEATURES, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations (B, 128) of images (B, 1, 28, 28) in [0, 1]."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def load_classifier(path: str | Path | None = None) -> MnistClassifier:
    """The shipped classifier (or one at `path`), in eval mode."""
    path = path or resources.files("vae_hub").joinpath(*WEIGHTS)
    model = MnistClassifier()
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


@torch.inference_mode()
def predict(model: MnistClassifier, images: torch.Tensor, batch_size: int = 2000):
    """(labels (N,), features (N, 128)) for float images (N, 1, 28, 28)."""
    labels, feats = [], []
    for i in range(0, images.shape[0], batch_size):
        f = model.features(images[i : i + batch_size])
        feats.append(f)
        labels.append(model.head(f).argmax(1))
    return torch.cat(labels), torch.cat(feats)


def train_classifier(
    train: MnistSplit, epochs: int = 6, batch_size: int = 128, seed: int = 0
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


def accuracy(model: MnistClassifier, split: MnistSplit) -> float:
    labels, _ = predict(model, to_float(split.images))
    return (labels == split.labels).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vae_hub.classifier",
        description="Retrain the evaluation classifier and save its weights (safetensors).",
    )
    parser.add_argument("--data-dir", default="./MNIST_dataset", help="folder with MNIST/raw/")
    parser.add_argument("--epochs", type=int, default=6, help="training epochs (default: 6)")
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
