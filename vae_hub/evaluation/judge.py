"""The judge: a small MNIST classifier used only to score samples. Its shipped weights
give digit-generation accuracy and its penultimate features the Frechet distance.

Rebuild the shipped weights with `vae-hub train-judge --data-dir DIR`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from ..files.mnist import MnistSplit, to_float

WEIGHTS_PATH = Path(str(resources.files("vae_hub").joinpath("assets", "judge.safetensors")))
FEATURES = 128


class Judge(nn.Module):
    """The judge, a small MNIST classifier: conv 32 -> conv 64 (each 3x3 + max-pool) -> FC 128
    -> 10 logits; about 0.4M weights."""

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


def load_judge(path: str | Path | None = None) -> Judge:
    """The shipped judge (or the weights at `path`), in eval mode."""
    path = path or WEIGHTS_PATH
    model = Judge()
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


@torch.inference_mode()
def predict(model: Judge, images: torch.Tensor, batch_size: int = 2000):
    """(labels (N,), features (N, 128)) for float images (N, 1, 28, 28)."""
    labels, feats = [], []
    for i in range(0, images.shape[0], batch_size):
        f = model.features(images[i : i + batch_size])
        feats.append(f)
        labels.append(model.head(f).argmax(1))
    return torch.cat(labels), torch.cat(feats)


def accuracy(model: Judge, split: MnistSplit) -> float:
    labels, _ = predict(model, to_float(split.images))
    return (labels == split.labels).float().mean().item()
