"""Weight averaging (--ema-decay): an exponential moving average of the weights, which is
what a run evaluates and saves when it is on."""

from __future__ import annotations

import torch

from ..model.vae import VAE


@torch.no_grad()
def update_ema(ema: VAE, model: VAE, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model, with d warmed up as min(decay, (1 + t) / (10 + t))
    so early averages are not dominated by the random initialisation."""
    d = min(decay, (1 + step) / (10 + step))
    for average, weight in zip(ema.parameters(), model.parameters(), strict=True):
        average.lerp_(weight, 1 - d)


def sync_buffers(ema: VAE, model: VAE) -> None:
    """Buffers (BatchNorm statistics) are not averaged: the average uses the model's."""
    with torch.no_grad():
        for average, buffer in zip(ema.buffers(), model.buffers(), strict=True):
            average.copy_(buffer)
