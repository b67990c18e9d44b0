"""What a run trains and carries from step to step: one object, so the loop, the epoch and a
checkpoint speak of the same things."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..model.vae import VAE
from . import checkpoints
from .augmentation import ShiftAugmentation
from .averaging import sync_buffers


@dataclass
class Trainee:
    """What a run trains and carries from step to step, and saves in each checkpoint."""

    model: VAE
    optimizer: torch.optim.Optimizer
    state: checkpoints.TrainState
    generator: torch.Generator  # batches, shifts and posterior noise
    augmentation: ShiftAugmentation | None = None
    ema: VAE | None = None  # the weight average, when the run keeps one

    def served(self) -> VAE:
        """The model to evaluate and publish: the weight average (with the training
        weights' buffers) when there is one."""
        if self.ema is None:
            return self.model
        sync_buffers(self.ema, self.model)
        return self.ema

    def save(self, run_dir: Path, keep: bool, position: dict[str, Any]) -> Path:
        """A checkpoint of everything needed to continue exactly from here."""
        rng = {"generator": self.generator.get_state(), "torch": torch.get_rng_state()}
        return checkpoints.save_checkpoint(
            run_dir, self.model, self.optimizer, self.state, rng, keep, self.ema,
            self.augmentation, position,
        )  # fmt: skip
