"""The prior p(z): the standard normal, or a learned class-conditional mixture.

With `prior="class-mixture"` each digit y has its own diagonal Gaussian p(z|y) = N(mu_y,
diag sigma_y^2), learned jointly with the networks on the labelled training set, and the
prior of the model is their mixture with the digits' training frequencies pi_y:

    p(z) = sum_y pi_y N(z; mu_y, sigma_y^2)

Training maximises the ELBO of log p(x, y) = log p(x) + log p(y|x): its KL term is
log q(z|x) - log pi_y - log p(z|y), which also pulls each digit's codes towards its own
component, so that drawing from p(z|y) gives that digit. Evaluation needs no labels: it scores
log p(x) with the mixture's density (a logsumexp over the digits), whose KL term is
estimated by sampling, as with a flow posterior.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension: (..., D) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def describe(prior: str) -> str:
    """The prior for the model card."""
    if prior == "class-mixture":
        return (
            "a mixture of one learned diagonal Gaussian per digit, p(z) = sum_y pi_y "
            "N(mu_y, sigma_y^2), trained jointly with the networks"
        )
    return "standard normal N(0, I)"


class ClassMixturePrior(nn.Module):
    """p(z|y) = N(mu_y, diag sigma_y^2) for each of `classes` digits, mixed with the training
    set's class frequencies (`log_weights`, a buffer set once from the labels)."""

    def __init__(self, latent_dim: int, classes: int):
        super().__init__()
        # Every component starts as N(0, I), so training starts from the standard prior.
        self.means = nn.Parameter(torch.zeros(classes, latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(classes, latent_dim))
        self.register_buffer("log_weights", torch.full((classes,), -math.log(classes)))

    def set_class_frequencies(self, counts: torch.Tensor) -> None:
        """pi_y from the training labels' counts (C,)."""
        counts = counts.double().to(self.log_weights.device)
        self.log_weights.copy_((counts / counts.sum()).log().to(self.log_weights.dtype))

    def class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z|y) for every digit y: (..., D) -> (..., C)."""
        u = (z.unsqueeze(-2) - self.means) * torch.exp(-self.log_scales)  # (..., C, D)
        return -0.5 * (u.pow(2) + LOG_2PI).sum(-1) - self.log_scales.sum(-1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = log sum_y pi_y p(z|y): (..., D) -> (...)."""
        return torch.logsumexp(self.class_log_prob(z) + self.log_weights, dim=-1)

    def joint_log_prob(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log pi_y + log p(z|y) for each image's own digit: z (S, B, D), labels (B,) ->
        (S, B)."""
        per_class = self.class_log_prob(z)  # (S, B, C)
        index = labels.view(1, -1, 1).expand(per_class.shape[0], -1, 1)
        return per_class.gather(-1, index).squeeze(-1) + self.log_weights[labels]

    def joint_kl(
        self, mu: torch.Tensor, logvar: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """KL(N(mu, e^logvar) || p(z|y)) - log pi_y in closed form, per image: (B, D) -> (B,).
        The training KL term of a Gaussian posterior (lower variance than sampling it)."""
        m, log_s = self.means[labels], self.log_scales[labels]  # (B, D) each
        inv_var = torch.exp(-2 * log_s)
        kl = 0.5 * (torch.exp(logvar) * inv_var + (mu - m).pow(2) * inv_var - 1 - logvar)
        return (kl + log_s).sum(-1) - self.log_weights[labels]

    def sample(self, labels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z ~ p(z|y) for digits `labels` (n,) from standard-normal noise eps (n, D) (scaled
        by the caller for a temperature)."""
        return self.means[labels] + eps * self.log_scales[labels].exp()
