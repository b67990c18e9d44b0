"""Training the judge (`vae_hub.evaluation.judge`) whose weights ship in vae_hub/assets/;
`vae-hub train-judge` runs it."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from tqdm.auto import tqdm

from ..evaluation.judge import Judge
from ..files.atomic import atomic_path
from ..files.mnist import MnistSplit, to_float
from .schedules import cosine

LEARNING_RATE = 1e-3


def train_judge(
    train: MnistSplit,
    epochs: int = 10,
    batch_size: int = 128,
    seed: int = 0,
    progress: bool = False,
) -> Judge:
    """Adam with a cosine-decayed learning rate; small random shifts keep it honest on
    slightly off-centre samples."""
    torch.manual_seed(seed)
    model = Judge()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(seed)
    per_epoch = len(train) // batch_size
    total_steps = epochs * per_epoch
    bar = tqdm(total=total_steps, desc="training the judge", unit="step", disable=not progress)
    for epoch in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for step, i in enumerate(range(0, per_epoch * batch_size, batch_size)):
            for group in optimizer.param_groups:
                group["lr"] = LEARNING_RATE * cosine(epoch * per_epoch + step, total_steps)
            idx = order[i : i + batch_size]
            x = _shift(to_float(train.images[idx]), generator)
            loss = nn.functional.cross_entropy(model(x), train.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
    bar.close()
    return model.eval()


def _shift(x: torch.Tensor, generator: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Roll the whole batch by up to `pixels` in each direction (one shift per batch)."""
    dy, dx = torch.randint(-pixels, pixels + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def save_judge(model: Judge, path: str | Path, test_accuracy: float) -> Path:
    """Write the judge's weights atomically, its test accuracy in the file's metadata."""
    with atomic_path(path) as tmp:
        save_file(model.state_dict(), str(tmp), metadata={"test_accuracy": f"{test_accuracy:.4f}"})
    return Path(path)
