"""A richer q(z|x): inverse autoregressive flow on top of the encoder's diagonal Gaussian.

Kingma et al. 2016, "Improving Variational Inference with Inverse Autoregressive Flow". A
diagonal Gaussian cannot express the correlated, skewed posteriors a good decoder induces;
the gap between the ELBO and -log p(x) is the price (the README measures it). Each IAF step
shifts and rescales every latent by an amount that depends on the latents before it (a MADE
network, Germain et al. 2015) and on a context vector from the encoder, so q(z|x) stays
cheap to sample and its density stays exact:

    z_0 = mu + sigma * eps,                      log q(z_0) = log N(eps; 0, I) - sum log sigma
    z_t = g_t * z_{t-1} + (1 - g_t) * m_t,       g_t, m_t = MADE_t(z_{t-1}, h),  g_t = sigmoid(.)
    log q(z_T | x) = log q(z_0) - sum_t sum log g_t

The update is the paper's numerically stable gated form (its section 4); the gates start
near 1, so an untrained flow is almost the identity and training starts from the plain VAE.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)
# sigmoid(2) = 0.88: each step starts close to the identity (Kingma et al. 2016, sec. 4).
GATE_BIAS = 2.0


def describe(steps: int) -> str:
    """The posterior q(z|x) for the model card."""
    if not steps:
        return "diagonal Gaussian"
    return (
        f"diagonal Gaussian followed by {steps} inverse autoregressive flow steps "
        "(Kingma et al. 2016), conditioned on the encoder's features"
    )


def made_masks(latent_dim: int, hidden_dim: int) -> tuple[torch.Tensor, ...]:
    """Connectivity masks of a two-hidden-layer MADE over `latent_dim` ordered inputs.

    Output d (of each of the two outputs) sees only inputs 1..d-1, so the Jacobian of the
    flow step is triangular. Hidden units get degrees 1..D-1 in turn; a unit of degree k sees
    inputs 1..k. Returns masks shaped like the weights: (H, D), (H, H), (2D, H).
    """
    inputs = torch.arange(1, latent_dim + 1)  # degrees 1..D
    hidden = torch.arange(hidden_dim) % max(latent_dim - 1, 1) + 1  # degrees in 1..D-1
    to_hidden = (hidden[:, None] >= inputs[None, :]).float()  # (H, D)
    hidden_to_hidden = (hidden[:, None] >= hidden[None, :]).float()  # (H, H)
    outputs = torch.cat([inputs, inputs])  # (2D,): shift m and gate g, both per latent
    to_output = (outputs[:, None] > hidden[None, :]).float()  # (2D, H)
    return to_hidden, hidden_to_hidden, to_output


class MaskedLinear(nn.Linear):
    """nn.Linear whose weight is multiplied by a fixed 0/1 mask (not saved: it is rebuilt)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class IAFStep(nn.Module):
    """One gated IAF step: a MADE over z with the encoder context added to its first layer."""

    def __init__(self, latent_dim: int, context_dim: int, hidden_dim: int):
        super().__init__()
        to_hidden, hidden_to_hidden, to_output = made_masks(latent_dim, hidden_dim)
        self.inp = MaskedLinear(to_hidden)
        self.context = nn.Linear(context_dim, hidden_dim)
        self.hidden = MaskedLinear(hidden_to_hidden)
        self.out = MaskedLinear(to_output)
        with torch.no_grad():  # start as (almost) the identity map
            self.out.weight.mul_(0.01)
            self.out.bias.zero_()
            self.out.bias[latent_dim:] = GATE_BIAS

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z', log_det) for z (..., D) and context h (..., C) broadcastable to it."""
        a = nn.functional.silu(self.inp(z) + self.context(h))  # (..., H)
        a = nn.functional.silu(self.hidden(a))  # (..., H)
        m, s = self.out(a).chunk(2, dim=-1)  # (..., D) each
        gate = torch.sigmoid(s)
        z = gate * z + (1 - gate) * m
        return z, nn.functional.logsigmoid(s).sum(-1)  # (..., D), (...)


class IAF(nn.Module):
    """`steps` IAF steps, reversing the latent order between them so every latent is
    conditioned on every other somewhere in the stack."""

    def __init__(self, latent_dim: int, context_dim: int, steps: int, hidden_dim: int):
        super().__init__()
        self.steps = nn.ModuleList(
            IAFStep(latent_dim, context_dim, hidden_dim) for _ in range(steps)
        )

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_T, sum of log-determinants) for z_0 (..., D) and context h (..., C)."""
        log_det = torch.zeros(z.shape[:-1], device=z.device, dtype=z.dtype)
        for i, step in enumerate(self.steps):
            if i > 0:
                z = z.flip(-1)
            z, step_log_det = step(z, h)
            log_det = log_det + step_log_det
        if len(self.steps) % 2 == 0 and len(self.steps) > 0:
            z = z.flip(-1)  # an even number of flips: back to the encoder's order
        return z, log_det
