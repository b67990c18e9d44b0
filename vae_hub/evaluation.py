"""Metrics on a data split. Each is a pure function of (model, data, seed)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .data import MnistSplit, binarize, to_float
from .losses import bernoulli_nll, kl_divergence
from .model import VAE


@dataclass(frozen=True)
class ElboTerms:
    """Negative ELBO in nats per image and its two parts."""

    reconstruction: float
    kl: float

    @property
    def total(self) -> float:
        return self.reconstruction + self.kl


def prepare_images(
    images: torch.Tensor, binarized: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28), binarized with `generator` if asked."""
    x = to_float(images)
    return binarize(x, generator) if binarized else x


@torch.inference_mode()
def negative_elbo(
    model: VAE, split: MnistSplit, seed: int = 0, batch_size: int = 1000
) -> ElboTerms:
    """Single-sample negative ELBO of `split` (one z per image, drawn with a fixed seed).

    Uses a sampled z, not the mean: decoding the mean would understate the reconstruction
    term and stop being a bound on -log p(x). Binarized models see the split binarized with
    the same seed.
    """
    was_training = model.training
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    recon_sum, kl_sum = 0.0, 0.0
    try:
        for i in range(0, len(split), batch_size):
            x = prepare_images(
                split.images[i : i + batch_size].to(device), model.binarized, generator
            )
            mu, logvar = model.encode(x)
            z = model.reparameterize(mu, logvar, generator)
            recon_sum += bernoulli_nll(model.decode(z), x).sum().item()
            kl_sum += kl_divergence(mu, logvar).sum().item()
    finally:
        model.train(was_training)
    n = max(len(split), 1)
    return ElboTerms(recon_sum / n, kl_sum / n)
