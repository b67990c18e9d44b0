"""`VAE`: the model users load, train, share and demo.

The constructor arguments are the whole config (config.json, checked by `model_config`); the
weights, the fitted class Gaussians and the latent map travel together in model.safetensors.
How it is saved, loaded and described on the Hub is `hub_mixin.VAEHubMixin` (huggingface_hub's
documented hooks) and the class keywords below. This module imports torch, huggingface_hub
and the core modules beside it, nothing above them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import nn

from . import architectures
from .architectures import IMAGE_SHAPE, NetworkBiases
from .flow import IAF
from .hub_mixin import CARD_TEMPLATE, VAEHubMixin
from .losses import kl_divergence
from .model_config import NUM_CLASSES, resolve_hidden_dim, validate_config
from .priors import LOG_2PI, ClassMixturePrior, standard_normal_log_prob

FLOW_HIDDEN_DIM = 320  # MADE width of each flow step (Kingma et al. 2016 used 320 too)


class LatentSample(NamedTuple):
    """Draws from q(z|x): z (S, B, D), log q(z|x) (S, B) and the KL term (S, B) the ELBO
    uses (closed form for a Gaussian posterior, log q(z|x) - log p(z) with a flow)."""

    z: torch.Tensor
    log_q: torch.Tensor
    kl: torch.Tensor


class PosteriorParameters(NamedTuple):
    """The parameters of q(z|x) for a batch (B images): the Gaussian's mean and log-variance
    (B, D) and, with a flow, its context (B, C), else None."""

    mu: torch.Tensor
    logvar: torch.Tensor
    context: torch.Tensor | None


class VAE(
    nn.Module,
    VAEHubMixin,
    library_name="vae-hub",
    license="mit",
    pipeline_tag="unconditional-image-generation",
    tags=["vae", "variational-autoencoder", "mnist", "image-generation", "vae-hub"],
    model_card_template=CARD_TEMPLATE,
):
    """Variational autoencoder for 28x28 grey-level digits (Kingma & Welling, 2013).

    Parameters:
        latent_dim: Size of the latent code z.
        arch: "conv" (ours: conv encoder/decoder with residual blocks), "genzoo" (the
            original GenZoo conv VAE, layer for layer) or "mlp" (the 784-400-20 VAE of the
            PyTorch examples).
        channels: Width of the "conv" arch's convolutions.
        half_res_blocks: Residual blocks at 14x14 in each of the "conv" arch's encoder and
            decoder. They are its most expensive layers, so 0 trains more epochs in the same
            time, for a somewhat worse model.
        hidden_dim: Width of the fully connected layer(s); None picks the arch's own
            (conv 256, mlp 400; genzoo is fixed at 512/256 and ignores it).
        latent_map_points: How many test-set latent means the stored 2-D latent map holds.
        binarized: True when trained on dynamically binarized MNIST (evaluation then
            binarizes the test images too).
        flow_steps: Inverse autoregressive flow steps on top of the encoder's diagonal
            Gaussian (`vae_hub.flow`; "conv" arch only). 0 keeps q(z|x) Gaussian.
        prior: "standard" (N(0, I)) or "class-mixture" (one learned Gaussian per digit,
            mixed with the digits' frequencies: `vae_hub.priors`).

    Besides the networks, the state holds how to draw one digit: with the class-mixture
    prior, its components (`prior.*`); with the standard prior, one Gaussian per digit fitted
    after training to the latents of the training set (`class_means`, `class_scale_tril`,
    `class_counts`). It also holds a latent map (`latent_map_mu`, `latent_map_xy`,
    `latent_map_labels`). All of it is saved in model.safetensors.
    """

    def __init__(
        self,
        latent_dim: int = 20,
        arch: str = "conv",
        channels: int = 32,
        half_res_blocks: int = 1,
        hidden_dim: int | None = None,
        latent_map_points: int = 2000,
        binarized: bool = False,
        flow_steps: int = 0,
        prior: str = "standard",
    ):
        super().__init__()
        options = validate_config(
            {
                "latent_dim": latent_dim,
                "arch": arch,
                "channels": channels,
                "half_res_blocks": half_res_blocks,
                "hidden_dim": hidden_dim,
                "latent_map_points": latent_map_points,
                "binarized": binarized,
                "flow_steps": flow_steps,
                "prior": prior,
            }
        )
        hidden_dim = options["hidden_dim"] = resolve_hidden_dim(arch, hidden_dim)
        self._options = options  # what config.json says: hidden_dim resolved
        self.latent_dim = latent_dim
        self.arch = arch
        self.binarized = binarized
        self.encoder, self.decoder = architectures.build(
            arch, latent_dim, channels, hidden_dim, half_res_blocks
        )
        self.flow = IAF(latent_dim, hidden_dim, flow_steps, FLOW_HIDDEN_DIM) if flow_steps else None

        self.prior = ClassMixturePrior(latent_dim, NUM_CLASSES) if prior != "standard" else None
        if self.prior is None:  # digits come from Gaussians fitted after training
            eye = torch.eye(latent_dim).expand(NUM_CLASSES, latent_dim, latent_dim)
            self.register_buffer("class_means", torch.zeros(NUM_CLASSES, latent_dim))
            self.register_buffer("class_scale_tril", eye.clone())
            self.register_buffer("class_counts", torch.zeros(NUM_CLASSES, dtype=torch.int64))
        self.register_buffer("latent_map_mu", torch.zeros(latent_map_points, latent_dim))
        self.register_buffer("latent_map_xy", torch.zeros(latent_map_points, 2))
        self.register_buffer(
            "latent_map_labels", torch.full((latent_map_points,), -1, dtype=torch.int64)
        )

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments, as written to config.json (hidden_dim resolved)."""
        return dict(self._options)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- the model --------------------------------------------------------------------------
    # Public entry points (encode, embed, sample_posterior) check their input's values, which
    # costs a host sync; forward() is the training step and checks shapes only.

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of the encoder's diagonal Gaussian, each (N, latent_dim), for
        images (N, 1, 28, 28). It is q(z|x) itself unless the model has a flow (`embed`)."""
        return self._encode(self._checked_images(x))[:2]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The centre of q(z|x), (N, latent_dim), for images (N, 1, 28, 28): the Gaussian's
        mean, pushed through the flow (eps = 0) when there is one. Reconstructions, the
        latent map, the class Gaussians and the probe all use this point."""
        mu, _, h = self._encode(self._checked_images(x))
        return mu if self.flow is None else self.flow(mu, h)[0]

    def sample_posterior(
        self, x: torch.Tensor, samples: int = 1, generator: torch.Generator | None = None
    ) -> LatentSample:
        """`samples` draws z ~ q(z|x) per image (N, 1, 28, 28), with their log-density and
        KL term: what the ELBO (one draw) and the IWAE bound (k draws) are made of."""
        mu, logvar, h = self._encode(self._checked_images(x))  # (B, D), (B, D), (B, C) | None
        shape = (samples, *mu.shape)
        eps = torch.randn(shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self._posterior_at(mu, logvar, h, eps)

    def posterior_parameters(self, x: torch.Tensor) -> PosteriorParameters:
        """What q(z|x) is made of, for images (N, 1, 28, 28): the encoder's Gaussian and the
        flow's context (None without a flow). `posterior_at` turns them into draws; refining
        them per image, as `evaluation.metrics.amortisation_gap` does, is how far the
        encoder's answer is from the best q(z|x) of its family."""
        return PosteriorParameters(*self._encode(self._checked_images(x)))

    def posterior_at(
        self, params: PosteriorParameters, eps: torch.Tensor, labels: torch.Tensor | None = None
    ) -> LatentSample:
        """Draws of q(z|x) with parameters `params` at standard-normal noise eps (S, N, D):
        z, log q(z|x) and the KL term, as `sample_posterior` computes them. Differentiable
        in `params`."""
        return self._posterior_at(*params, eps, labels)

    def reparameterize(
        self, mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I) drawn from `generator` (not the global RNG)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (N, 1, 28, 28) for latents (N, latent_dim)."""
        if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[1] != self.latent_dim:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"expected latents shaped (N, {self.latent_dim}), got {got}")
        if not z.is_floating_point():
            raise ValueError(f"expected float latents, got dtype {z.dtype}")
        param = next(self.parameters())
        return self.decoder(z.to(device=param.device, dtype=param.dtype))

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
        biases: NetworkBiases | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (N, 1, 28, 28), kl (N,)): the two parts of the negative ELBO
        (`losses.elbo_loss`). Training draws one z ~ q(z|x) from `generator`; eval mode is
        deterministic and decodes `embed(x)` (the KL term is then taken at that point).
        With the class-mixture prior, `labels` (N,) make it the ELBO of log p(x, y), the
        training objective (`vae_hub.priors`); without them, of log p(x). `biases`
        condition the conv networks on how each image was augmented (`NetworkBiases`)."""
        mu, logvar, h = self._encode(self._as_images(x), biases)
        if self.training:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        else:
            eps = torch.zeros_like(mu)
        z, _, kl = self._posterior_at(mu, logvar, h, eps[None], labels)  # (1, B, D), _, (1, B)
        decoded = self.decoder(z[0]) if biases is None else self.decoder(z[0], biases)
        return decoded, kl[0]

    def _encode(
        self, x: torch.Tensor, biases: NetworkBiases | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(mu, logvar, h): h is the features the flow reads, None without a flow. Only the
        conv encoder takes biases; ShiftAugmentation and the training options refuse the
        others before a batch is drawn."""
        if biases is None and self.flow is None:
            return (*self.encoder(x), None)
        hidden_bias = None if biases is None else biases.encoder_hidden
        mu, logvar, h = self.encoder.encode_with_context(x, hidden_bias)
        return mu, logvar, (h if self.flow is not None else None)

    def _posterior_at(
        self,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        h: torch.Tensor | None,
        eps: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> LatentSample:
        """z, log q(z|x) and the KL term at standard-normal noise eps (S, B, D). The KL term
        is in closed form where it has one (a Gaussian posterior against the standard prior,
        or against the component of a known digit), else the one-sample estimate
        log q(z|x) - log p(z)."""
        z = mu + torch.exp(0.5 * logvar) * eps  # (S, B, D)
        log_q = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)  # (S, B)
        if self.flow is None and self.prior is None:
            return LatentSample(z, log_q, kl_divergence(mu, logvar).expand(eps.shape[0], -1))
        if self.flow is None and labels is not None:
            kl = self.prior.joint_kl(mu, logvar, labels)  # (B,)
            return LatentSample(z, log_q, kl.expand(eps.shape[0], -1))
        if self.flow is not None:
            z, log_det = self.flow(z, h)  # (S, B, D), (S, B)
            log_q = log_q - log_det
        return LatentSample(z, log_q, log_q - self.log_prior(z, labels))

    def log_prior(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z) for latents (..., D) -> (...); with `labels` (B,) and the class-mixture
        prior, log p(z, y) = log pi_y + log p(z|y) for latents (S, B, D)."""
        if self.prior is None:
            return standard_normal_log_prob(z)
        if labels is None:
            return self.prior.log_prob(z)
        return self.prior.joint_log_prob(z, labels)

    def _as_images(self, x: Any) -> torch.Tensor:
        """Images on the model's device and dtype, after checks that need no host sync."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(
                f"expected a float tensor of images shaped (N, 1, 28, 28), got {type(x).__name__}"
            )
        if x.dim() != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
            raise ValueError(f"expected images shaped (N, 1, 28, 28), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(
                f"expected float images with values in [0, 1], got dtype {x.dtype} "
                "(divide uint8 images by 255)"
            )
        param = next(self.parameters())
        return x.to(device=param.device, dtype=param.dtype)

    def _checked_images(self, x: Any) -> torch.Tensor:
        """`_as_images`, and values in [0, 1] (reading them back costs a host sync)."""
        x = self._as_images(x)
        if x.numel() and (bool(x.min() < 0) or bool(x.max() > 1)):
            raise ValueError(
                f"expected image values in [0, 1], got [{x.min().item():.3g}, {x.max().item():.3g}]"
            )
        return x

    # --- what is stored beside the networks -------------------------------------------------

    @property
    def has_class_gaussians(self) -> bool:
        """Fitted per-digit Gaussians (the standard prior's way to draw one digit)."""
        return self.prior is None and bool((self.class_counts > 0).all())

    @property
    def can_draw_digits(self) -> bool:
        """Whether `generate_digit` works: a class-mixture prior, or fitted Gaussians."""
        return self.prior is not None or self.has_class_gaussians

    @property
    def has_latent_map(self) -> bool:
        return self.latent_map_labels.numel() > 0 and bool((self.latent_map_labels >= 0).all())

    def set_class_gaussians(
        self, means: torch.Tensor, scale_tril: torch.Tensor, counts: torch.Tensor
    ) -> None:
        """Store per-digit Gaussians: means (10, D), Cholesky factors (10, D, D), counts (10,)."""
        self.class_means.copy_(means)
        self.class_scale_tril.copy_(scale_tril)
        self.class_counts.copy_(counts)

    def set_latent_map(self, mu: torch.Tensor, xy: torch.Tensor, labels: torch.Tensor) -> None:
        """Store a 2-D map: latent means (P, D), their 2-D positions (P, 2), digits (P,)."""
        self.latent_map_mu.copy_(mu)
        self.latent_map_xy.copy_(xy)
        self.latent_map_labels.copy_(labels)


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run `model` in eval mode (no dropout, BatchNorm frozen), then put back the mode it was
    in. Autograd stays on, for what differentiates through a fixed model."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextmanager
def inference(model: nn.Module) -> Iterator[nn.Module]:
    """`evaluating` without autograd: the one way every caller evaluates a model."""
    with evaluating(model), torch.inference_mode():
        yield model
