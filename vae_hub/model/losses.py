"""The VAE objective as pure functions (Kingma & Welling 2013, Auto-Encoding Variational Bayes)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per example, summed over latents: (B, D) -> (B,).

    The closed form of Kingma & Welling (2013), appendix B; it is 0 exactly at mu=0, logvar=0.
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example for a Bernoulli decoder on grey levels: (B, 1, 28, 28) -> (B,).

    BCE-with-logits summed over pixels. On grey-level targets this is a cross-entropy whose
    floor is the targets' own entropy (about 45.5 nats per MNIST test image), not zero.
    """
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return bce.flatten(1).sum(dim=1)


def elbo_loss(
    logits: torch.Tensor, x: torch.Tensor, kl: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Negative ELBO as (reconstruction, kl), each summed per image and averaged over the batch.

    `kl` (B,) is each image's KL term: `kl_divergence` for a Gaussian posterior, or its
    one-sample estimate log q(z|x) - log p(z) with a flow (`VAE.forward` gives either).
    Returned separately so both can be logged and the KL term can be weighted (beta warm-up);
    the negative ELBO in nats per image is `reconstruction + kl`.
    """
    batch = x.shape[0]
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / batch
    return reconstruction, kl.sum() / batch
