"""The prior p(z): objects that know their own density, draws, digits and description.

Every prior offers the same things, so code that uses one never asks which it holds: the
log-density of codes (with a digit's label, of the pair (z, y)), the KL term of training
given q(z|x), draws of codes (all digits or one, at a temperature), the distribution of those
draws as a Gaussian mixture (for code that draws with its own noise, such as a web page), a
digit's centre, what it stores, and a sentence for the model card. A new prior is one class
here and one entry in PRIORS.

- `StandardNormalPrior`: N(0, I). It cannot tell digits apart, so after training it stores
  one full-covariance Gaussian per digit, fitted to the training codes (`fit_digits`), and
  draws a digit from that.
- `ClassMixturePrior` (`prior="class-mixture"`): one learned diagonal Gaussian per digit y,
  p(z|y) = N(mu_y, diag sigma_y^2), trained with the networks on the labelled training set,
  mixed with the digits' training frequencies pi_y:

      p(z) = sum_y pi_y N(z; mu_y, sigma_y^2)

  Training maximises the ELBO of log p(x, y) = log p(x) + log p(y|x): its KL term is
  log q(z|x) - log pi_y - log p(z|y), which also pulls each digit's codes towards its own
  component. Evaluation needs no labels: it scores log p(x) with the mixture's density.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from .losses import kl_divergence
from .posterior import Draws, Posterior

LOG_2PI = math.log(2 * math.pi)
NUM_CLASSES = 10  # digits


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension: (..., D) -> (...)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


@dataclass(frozen=True)
class GaussianMixture:
    """What a prior's draws at temperature T follow, spelled out for a sampler of its own:
    a component k ~ `weights`, then z = means[k] + T * scale_tril[k] @ eps, eps ~ N(0, I).
    Float32 tensors on the CPU, detached: `weights` (C,) summing to 1, `means` (C, D),
    `scale_tril` (C, D, D) lower-triangular with a positive diagonal."""

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor

    @classmethod
    def of(
        cls, weights: torch.Tensor, means: torch.Tensor, scale_tril: torch.Tensor
    ) -> GaussianMixture:
        """From a prior's tensors, on any device, with or without grad."""
        return cls(*(t.detach().float().cpu().contiguous() for t in (weights, means, scale_tril)))

    @property
    def latent_dim(self) -> int:
        return self.means.shape[-1]


class Prior(nn.Module):
    """What every prior p(z) of a `VAE` offers. Codes are (..., D); draws take standard-normal
    noise from a caller's generator on the CPU, so a seed means the same codes on every
    device, and `temperature` scales that noise."""

    name: ClassVar[str]  # the config's `prior` value
    # generate_digit's default temperature: how far from a digit's centre its draws may go
    # and still be that digit (`vae-hub temperature` measures it for a model).
    digit_temperature: ClassVar[float]

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z): (..., D) -> (...); with `labels` (B,) for codes (S, B, D), the joint
        log p(z, y) of each image's own digit."""
        raise NotImplementedError

    def kl(self, q: Posterior, draws: Draws, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The KL term of the ELBO for `draws` (S, B) of q(z|x): in closed form where this
        prior has one for q, else the one-sample estimate log q(z|x) - log p(z[, y])."""
        closed = self.closed_form_kl(q, labels) if q.flow is None else None
        if closed is not None:
            return closed.expand_as(draws.log_q)  # (S, B)
        return draws.log_q - self.log_prob(draws.z, labels)

    def closed_form_kl(self, q: Posterior, labels: torch.Tensor | None) -> torch.Tensor | None:
        """KL(q || p) per image (B,) for a Gaussian q, when there is a formula (None: not)."""
        return None

    def sample(self, n: int, generator: torch.Generator, temperature: float) -> torch.Tensor:
        """`n` codes (n, D) drawn from p(z), on the prior's device."""
        raise NotImplementedError

    @property
    def can_draw_digits(self) -> bool:
        """Whether this prior can draw one chosen digit (`sample_digit`, `digit_centre`)."""
        return True

    def sample_digit(
        self, digit: int, n: int, generator: torch.Generator, temperature: float
    ) -> torch.Tensor:
        """`n` codes (n, D) of one digit."""
        raise NotImplementedError

    def digit_centre(self, digit: int) -> torch.Tensor:
        """The code (D,) at the centre of one digit's region."""
        raise NotImplementedError

    def mixture(self, digit: int | None = None) -> GaussianMixture:
        """The distribution `sample` draws from (`digit`: the one `sample_digit` draws that
        digit from), as a Gaussian mixture whose draws at temperature T have exactly the
        law of theirs: same components, same weights, noise scaled by T."""
        raise NotImplementedError

    def set_class_frequencies(self, counts: torch.Tensor) -> None:
        """Before training: how often each digit occurs in the training set (C,)."""

    def fit_digits(self, codes: Callable[[], torch.Tensor], labels: torch.Tensor) -> None:
        """After training: what the prior learns from the training codes (N, D), which
        `codes()` computes only if this prior needs them, and their digits (N,)."""

    def describe(self) -> str:
        """The prior, in a sentence for the model card."""
        raise NotImplementedError

    def stored(self) -> str | None:
        """What this prior keeps in model.safetensors, for the model card (None: nothing)."""
        return None

    def phrases(self, flow: bool) -> dict[str, str]:
        """What the model card and the demo say about this prior, by where it is said:
        `brief` (after the networks, in the demo's heading), `digit_source` (where a chosen
        digit is drawn from), `digit_rows` (the digits picture's rows), `kl_term` (the
        objective's KL term, in a Markdown table: | escaped; `flow`: q(z|x) has a flow) and
        `limitation` (a sentence for the card's limitations, or empty)."""
        raise NotImplementedError

    def state_problems(self, state: dict[str, torch.Tensor], prefix: str) -> list[str]:
        """What is wrong with this prior's tensors in a state dict read from a file (their
        names, shapes, dtypes and finiteness are checked already)."""
        return []

    def _noise(self, n: int, generator: torch.Generator, temperature: float) -> torch.Tensor:
        eps = torch.randn(n, self.latent_dim, generator=generator)  # (n, D), on the CPU
        return (eps * temperature).to(self._device())

    def _device(self) -> torch.device:
        tensor = next(iter(self.buffers()), None)
        return tensor.device if tensor is not None else torch.device("cpu")


class StandardNormalPrior(Prior):
    """p(z) = N(0, I), and one Gaussian per digit fitted after training to draw digits from
    (`class_means` (10, D), Cholesky factors `class_scale_tril` (10, D, D), `class_counts`)."""

    name = "standard"
    # Gaussians fitted to each digit's codes overlap: at their full spread more draws
    # decode to a neighbouring digit, so they are drawn nearer their centre.
    digit_temperature = 0.5

    def __init__(self, latent_dim: int):
        super().__init__(latent_dim)
        eye = torch.eye(latent_dim).expand(NUM_CLASSES, latent_dim, latent_dim)
        self.register_buffer("class_means", torch.zeros(NUM_CLASSES, latent_dim))
        self.register_buffer("class_scale_tril", eye.clone())
        self.register_buffer("class_counts", torch.zeros(NUM_CLASSES, dtype=torch.int64))

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return standard_normal_log_prob(z)  # the labels say nothing about z here

    def closed_form_kl(self, q: Posterior, labels: torch.Tensor | None) -> torch.Tensor:
        return kl_divergence(q.mu, q.logvar)

    def sample(self, n: int, generator: torch.Generator, temperature: float) -> torch.Tensor:
        return self._noise(n, generator, temperature)

    @property
    def can_draw_digits(self) -> bool:
        return bool((self.class_counts > 0).all())

    def sample_digit(
        self, digit: int, n: int, generator: torch.Generator, temperature: float
    ) -> torch.Tensor:
        eps = self._noise(n, generator, temperature)  # (n, D)
        return self.class_means[digit] + eps @ self.class_scale_tril[digit].T

    def digit_centre(self, digit: int) -> torch.Tensor:
        return self.class_means[digit]

    def mixture(self, digit: int | None = None) -> GaussianMixture:
        if digit is None:  # T * eps: one component at 0 with the identity as its factor
            dim = self.latent_dim
            return GaussianMixture.of(torch.ones(1), torch.zeros(1, dim), torch.eye(dim)[None])
        digit = _component("digit", digit, NUM_CLASSES)
        return GaussianMixture.of(
            torch.ones(1),
            self.class_means[digit][None],  # (1, D)
            self.class_scale_tril[digit][None],  # (1, D, D)
        )

    def fit_digits(
        self, codes: Callable[[], torch.Tensor], labels: torch.Tensor, jitter: float = 1e-4
    ) -> None:
        """One full-covariance Gaussian per digit over the codes (N, D); a digit with fewer
        than two examples keeps the unit covariance, and `jitter` keeps each one positive
        definite."""
        codes = codes().double()
        dim = codes.shape[1]
        eye = torch.eye(dim, dtype=torch.float64, device=codes.device)
        self.class_means.zero_()
        self.class_scale_tril.copy_(eye.expand(NUM_CLASSES, dim, dim))
        self.class_counts.copy_(torch.bincount(labels, minlength=NUM_CLASSES)[:NUM_CLASSES])
        for digit in range(NUM_CLASSES):
            z = codes[labels == digit]  # (n_d, D)
            if len(z) == 0:
                continue
            self.class_means[digit] = z.mean(0).float()
            if len(z) >= 2:
                cov = torch.cov(z.T).reshape(dim, dim) + jitter * eye  # (D, D)
                self.class_scale_tril[digit] = torch.linalg.cholesky(cov).float()

    def describe(self) -> str:
        return "standard normal N(0, I)"

    def stored(self) -> str | None:
        return "per-digit latent Gaussians" if self.can_draw_digits else None

    def phrases(self, flow: bool) -> dict[str, str]:
        return {
            "brief": "",
            "digit_source": "from per-digit Gaussians stored in its weights",
            "digit_rows": "that digit's stored Gaussian",
            "kl_term": "one-sample KL estimate log q(z\\|x) - log p(z)" if flow else "analytic KL",
            "limitation": " Class-conditional samples come from a Gaussian fitted after "
            "training, not from a conditional model.",
        }

    def state_problems(self, state: dict[str, torch.Tensor], prefix: str) -> list[str]:
        problems = []
        tril = state.get(prefix + "class_scale_tril")
        if tril is not None and (
            bool(torch.triu(tril, diagonal=1).ne(0).any())
            or bool((torch.diagonal(tril, dim1=-2, dim2=-1) <= 0).any())
        ):
            problems.append(
                f"{prefix}class_scale_tril is not a Cholesky factor (lower-triangular, diagonal>0)"
            )
        counts = state.get(prefix + "class_counts")
        if counts is not None and bool((counts < 0).any()):
            problems.append(f"{prefix}class_counts holds negative counts")
        return problems


class ClassMixturePrior(Prior):
    """p(z|y) = N(mu_y, diag sigma_y^2) for each digit, mixed with the training set's digit
    frequencies (`log_weights`, a buffer set once from the labels)."""

    name = "class-mixture"
    # Trained to keep the digits apart, so T=1 is the distribution it learned; its tails
    # still hold some ambiguous digits, so the default is the highest temperature, in steps
    # of 0.1, at which the bundled model's digits were the asked-for digit at least 99.5%
    # of the time (`vae-hub temperature`; docs/experiments.md gives the sweep).
    digit_temperature = 0.8

    def __init__(self, latent_dim: int, classes: int = NUM_CLASSES):
        super().__init__(latent_dim)
        # Every component starts as N(0, I), so training starts from the standard prior.
        self.means = nn.Parameter(torch.zeros(classes, latent_dim))
        self.log_scales = nn.Parameter(torch.zeros(classes, latent_dim))
        self.register_buffer("log_weights", torch.full((classes,), -math.log(classes)))

    def set_class_frequencies(self, counts: torch.Tensor) -> None:
        counts = counts.double().to(self.log_weights.device)
        self.log_weights.copy_((counts / counts.sum()).log().to(self.log_weights.dtype))

    def class_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z|y) for every digit y: (..., D) -> (..., C)."""
        u = (z.unsqueeze(-2) - self.means) * torch.exp(-self.log_scales)  # (..., C, D)
        return -0.5 * (u.pow(2) + LOG_2PI).sum(-1) - self.log_scales.sum(-1)

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        per_class = self.class_log_prob(z)  # (..., C)
        if labels is None:  # log sum_y pi_y p(z|y)
            return torch.logsumexp(per_class + self.log_weights, dim=-1)
        index = labels.view(1, -1, 1).expand(per_class.shape[0], -1, 1)  # (S, B, 1)
        return per_class.gather(-1, index).squeeze(-1) + self.log_weights[labels]  # (S, B)

    def closed_form_kl(self, q: Posterior, labels: torch.Tensor | None) -> torch.Tensor | None:
        """KL(q || p(z|y)) - log pi_y for each image's own digit y: the training term of a
        Gaussian posterior, with less variance than sampling it. Without labels the
        mixture has no closed form."""
        if labels is None:
            return None
        m, log_s = self.means[labels], self.log_scales[labels]  # (B, D) each
        inv_var = torch.exp(-2 * log_s)
        kl = 0.5 * (q.logvar.exp() * inv_var + (q.mu - m).pow(2) * inv_var - 1 - q.logvar)
        return (kl + log_s).sum(-1) - self.log_weights[labels]  # (B,)

    def sample(self, n: int, generator: torch.Generator, temperature: float) -> torch.Tensor:
        eps = self._noise(n, generator, temperature)  # (n, D): drawn first, as ever
        weights = self.log_weights.detach().float().exp().cpu()
        labels = torch.multinomial(weights, n, replacement=True, generator=generator)  # (n,)
        return self._at(labels.to(eps.device), eps)

    def sample_digit(
        self, digit: int, n: int, generator: torch.Generator, temperature: float
    ) -> torch.Tensor:
        eps = self._noise(n, generator, temperature)
        return self._at(torch.full((n,), digit, device=eps.device), eps)

    def digit_centre(self, digit: int) -> torch.Tensor:
        return self.means[digit]

    def mixture(self, digit: int | None = None) -> GaussianMixture:
        weights = self.log_weights.exp()  # (C,)
        means, scales = self.means, torch.diag_embed(self.log_scales.exp())  # (C, D), (C, D, D)
        if digit is None:
            return GaussianMixture.of(weights / weights.sum(), means, scales)
        digit = _component("digit", digit, len(weights))
        return GaussianMixture.of(torch.ones(1), means[digit][None], scales[digit][None])

    def _at(self, labels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z ~ p(z|y) for digits (n,) from scaled standard-normal noise (n, D)."""
        return self.means[labels] + eps * self.log_scales[labels].exp()

    def describe(self) -> str:
        return (
            "a mixture of one learned diagonal Gaussian per digit, p(z) = sum_y pi_y "
            "N(mu_y, sigma_y^2), trained jointly with the networks"
        )

    def stored(self) -> str | None:
        return "the prior's per-digit components"

    def phrases(self, flow: bool) -> dict[str, str]:
        return {
            "brief": ", a learned prior per digit",
            "digit_source": "from that digit's own learned prior p(z|y)",
            "digit_rows": "that digit's learned prior p(z|y)",
            "kl_term": "KL term against the image's own digit, log q(z\\|x) - log pi_y - "
            "log p(z\\|y) (the ELBO of log p(x, y); "
            + ("one-sample estimate)" if flow else "closed form)"),
            "limitation": "",
        }

    def state_problems(self, state: dict[str, torch.Tensor], prefix: str) -> list[str]:
        log_weights = state.get(prefix + "log_weights")
        if log_weights is not None and abs(float(torch.logsumexp(log_weights, 0))) > 1e-3:
            return [f"{prefix}log_weights are not the logarithms of class frequencies"]
        return []


def _component(name: str, value: int, count: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
        raise ValueError(f"{name} must be an integer in [0, {count - 1}], got {value!r}")
    return value


PRIORS: dict[str, type[Prior]] = {p.name: p for p in (StandardNormalPrior, ClassMixturePrior)}


def build_prior(name: str, latent_dim: int) -> Prior:
    return PRIORS[name](latent_dim)
