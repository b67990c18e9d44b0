"""`VAE`: the model users load, train, share and demo.

Its options are `ModelConfig` (config.json); the encoder answers with q(z|x) as a
`Posterior`, the prior p(z) is a `Prior` object, and the weights, what the prior fitted after
training and the latent map travel together in model.safetensors. How it is saved, loaded and
described on the Hub is `hub_mixin.VAEHubMixin` (huggingface_hub's documented hooks) and the
class keywords below. This module imports torch, huggingface_hub and the core modules beside
it, nothing above them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from . import networks
from .config import ModelConfig
from .flow import IAF
from .hub_mixin import CARD_TEMPLATE, VAEHubMixin
from .networks import IMAGE_SHAPE, NetworkBiases
from .posterior import Posterior
from .priors import build_prior

FLOW_HIDDEN_DIM = 320  # MADE width of each flow step (Kingma et al. 2016 used 320 too)


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
        **options: the fields of `vae_hub.model_config.ModelConfig`, where each option is
            declared, documented and checked once (latent_dim, arch, channels,
            half_res_blocks, hidden_dim, latent_map_points, binarized, flow_steps, prior).

    The public surface: `encode(x)` -> q(z|x) (a `Posterior`), `decode(z)` -> Bernoulli
    logits, `model(x)` -> the two terms of the negative ELBO, `prior` (a `Prior`: its
    density, draws and digits), `config`, `latent_dim`. Besides the networks the state holds
    what the prior keeps (`prior.*`) and a latent map (`latent_map_mu`, `latent_map_xy`,
    `latent_map_labels`), all saved in model.safetensors.
    """

    def __init__(self, **options: Any):
        super().__init__()
        config = ModelConfig.from_dict(options)
        self._options = config.resolved()  # what config.json says: hidden_dim resolved
        self.latent_dim = config.latent_dim
        self.binarized = config.binarized
        self.encoder, self.decoder = networks.build(self._options)
        self.flow = (
            IAF(config.latent_dim, self._options["hidden_dim"], config.flow_steps, FLOW_HIDDEN_DIM)
            if config.flow_steps
            else None
        )
        self.prior = build_prior(config.prior, config.latent_dim)
        points, dim = config.latent_map_points, config.latent_dim
        self.register_buffer("latent_map_mu", torch.zeros(points, dim))
        self.register_buffer("latent_map_xy", torch.zeros(points, 2))
        self.register_buffer("latent_map_labels", torch.full((points,), -1, dtype=torch.int64))

    @property
    def config(self) -> dict[str, Any]:
        """The options, as written to config.json (hidden_dim resolved)."""
        return dict(self._options)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # --- the model --------------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> Posterior:
        """q(z|x) for images x (N, 1, 28, 28) with values in [0, 1] (checked: a host sync;
        the training step uses `forward`, which checks shapes only)."""
        return self._posterior(self._checked_images(x))

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
        deterministic and decodes the centre of q(z|x) (the KL term is then taken at that
        point). With `labels` (N,) and a prior that uses them (the class mixture), it is the
        ELBO of log p(x, y), the training objective; without, of log p(x). `biases`
        condition the conv networks on how each image was augmented (`NetworkBiases`)."""
        q = self._posterior(self._as_images(x), biases)
        eps = torch.zeros_like(q.mu)[None]  # (1, B, D): the centre, in eval mode
        draws = q.sample(1, generator) if self.training else q.at(eps)
        kl = self.prior.kl(q, draws, labels)  # (1, B)
        z = draws.z[0]  # (B, D)
        decoded = self.decoder(z) if biases is None else self.decoder(z, biases)
        return decoded, kl[0]

    def _posterior(self, x: torch.Tensor, biases: NetworkBiases | None = None) -> Posterior:
        """q(z|x): the encoder's Gaussian and, with a flow, the features it reads. Only the
        conv encoder takes biases; ShiftAugmentation and the training options refuse the
        others before a batch is drawn."""
        if biases is None and self.flow is None:
            return Posterior(*self.encoder(x))
        hidden_bias = None if biases is None else biases.encoder_hidden
        mu, logvar, h = self.encoder.encode_with_context(x, hidden_bias)
        return Posterior(mu, logvar, h if self.flow is not None else None, self.flow)

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

    # --- the latent map stored beside the networks ------------------------------------------

    @property
    def has_latent_map(self) -> bool:
        return self.latent_map_labels.numel() > 0 and bool((self.latent_map_labels >= 0).all())

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
