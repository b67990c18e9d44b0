"""q(z|x), the posterior a `VAE`'s encoder answers with, as an object: what the ELBO, the
IWAE bound, the amortisation gap, training and the demo ask of it, in one place.

It is the encoder's diagonal Gaussian N(mu, diag exp(logvar)) for a batch of B images,
optionally pushed through an inverse autoregressive flow that reads the encoder's features
(`vae_hub.flow`). Its parameters are plain tensors, so a caller can refine them for one
image (`with_parameters`) and draw from the refined posterior the same way.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class Draws(NamedTuple):
    """Codes drawn from q(z|x): z (S, B, D) and their log-density log q(z|x) (S, B)."""

    z: torch.Tensor
    log_q: torch.Tensor


class Posterior:
    """q(z|x) for B images: mu and logvar (B, D), and with a flow its context (B, C)."""

    def __init__(
        self,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        context: torch.Tensor | None = None,
        flow: nn.Module | None = None,
    ):
        self.mu = mu
        self.logvar = logvar
        self.context = context
        self.flow = flow

    def __len__(self) -> int:
        return self.mu.shape[0]

    def at(self, eps: torch.Tensor) -> Draws:
        """The codes at standard-normal noise eps (S, B, D), with their log-density.
        Differentiable in the parameters (refinement and training go through here)."""
        z = self.mu + torch.exp(0.5 * self.logvar) * eps  # (S, B, D)
        log_q = -0.5 * (eps.pow(2) + self.logvar + LOG_2PI).sum(-1)  # (S, B)
        if self.flow is None:
            return Draws(z, log_q)
        z, log_det = self.flow(z, self.context)  # (S, B, D), (S, B)
        return Draws(z, log_q - log_det)

    def sample(self, k: int = 1, generator: torch.Generator | None = None) -> Draws:
        """`k` draws per image from `generator` (never the global RNG): z (k, B, D)."""
        eps = torch.randn(
            (k, *self.mu.shape), generator=generator, device=self.mu.device, dtype=self.mu.dtype
        )
        return self.at(eps)

    def centre(self) -> torch.Tensor:
        """The centre of q(z|x), (B, D): the Gaussian's mean, pushed through the flow (the
        draw at eps = 0) when there is one. Reconstructions, the latent map, the per-digit
        Gaussians and the probe use this point."""
        if self.flow is None:
            return self.mu
        return self.flow(self.mu, self.context)[0]

    def parameters(self) -> list[torch.Tensor]:
        """The tensors q(z|x) is made of, for a refinement to optimise."""
        return [t for t in (self.mu, self.logvar, self.context) if t is not None]

    def with_parameters(self, tensors: list[torch.Tensor]) -> Posterior:
        """The same kind of posterior with other parameters (as `parameters()` lists them)."""
        mu, logvar, *context = tensors
        return Posterior(mu, logvar, context[0] if context else None, self.flow)

    def rows(self, start: int, stop: int) -> Posterior:
        """q(z|x) of images start..stop of the batch."""
        return self.with_parameters([t[start:stop] for t in self.parameters()])

    def detach(self) -> Posterior:
        return self.with_parameters([t.detach() for t in self.parameters()])


def concatenate(parts: list[Posterior]) -> Posterior:
    """One posterior for the images of `parts`, in order (of one model: the same flow)."""
    columns = zip(*(part.parameters() for part in parts), strict=True)
    return parts[0].with_parameters([torch.cat(column) for column in columns])
