"""What the model makes of a picture: its code, its reconstruction, and a morph between two
pictures. Any picture a user has (any size, grey or colour, dark on light or light on dark)
is prepared the MNIST way first (`vae_hub.pictures.inputs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..files.mnist import binarize
from ..model.losses import bernoulli_nll
from ..model.vae import VAE, inference
from ..pictures.inputs import to_model_input
from .generation import decode_images, interpolate_latents, latents_along


def embed_picture(model: VAE, picture: Any) -> torch.Tensor:
    """The centre of q(z|x) of one picture (any format `pictures.to_model_input` takes) -> (D,)."""
    x = to_model_input(picture)[None]  # (1, 1, 28, 28)
    with inference(model):
        return model.encode(x).centre()[0].float().cpu()


def interpolate(
    model: VAE, a: Any, b: Any, steps: int = 10, method: str = "linear"
) -> torch.Tensor:
    """Frames morphing image `a` into image `b`: decode `steps` latents between their means,
    both ends included -> (steps, 1, 28, 28)."""
    z = interpolate_latents(embed_picture(model, a), embed_picture(model, b), steps, method)
    return decode_images(model, z)


def interpolate_at(model: VAE, a: Any, b: Any, t: float, method: str = "linear") -> torch.Tensor:
    """The one frame at position `t` in [0, 1] of `interpolate`'s path -> (1, 1, 28, 28)."""
    z = latents_along(embed_picture(model, a), embed_picture(model, b), torch.tensor([t]), method)
    return decode_images(model, z)


@dataclass(frozen=True)
class Reconstruction:
    """What `reconstruct` saw and made."""

    input: torch.Tensor  # (1, 28, 28): the image after MNIST-style preparation
    reconstruction: torch.Tensor  # (1, 28, 28): decoded from the latent mean
    latent_mean: torch.Tensor  # (D,)


def reconstruct(model: VAE, image: Any) -> Reconstruction:
    """Encode any digit image (any size; grey, RGB or RGBA; black-on-white or
    white-on-black) and decode its latent mean."""
    x = to_model_input(image)
    mu = embed_picture(model, x)
    return Reconstruction(x, decode_images(model, mu[None])[0], mu)


@dataclass(frozen=True)
class PosteriorCloud:
    """q(z|x) of one picture seen through draws from it: where the codes the encoder finds
    plausible lie, what they decode to, and the two terms of the picture's negative ELBO.
    A tight cloud whose decodings agree is a drawing the model is sure of."""

    codes: torch.Tensor  # (K, D): draws from q(z|x)
    decodings: torch.Tensor  # (K, 1, 28, 28): Bernoulli means of each draw
    reconstruction_nats: float  # -log p(x|z), averaged over the draws
    kl_nats: float  # the KL term (closed form, or its estimate with a flow or a mixture)

    @property
    def negative_elbo(self) -> float:
        return self.reconstruction_nats + self.kl_nats


def posterior_cloud(model: VAE, image: Any, samples: int = 32, seed: int = 0) -> PosteriorCloud:
    """Draw `samples` codes from q(z|x) of `image` (any picture `to_model_input` takes) with
    a generator seeded by `seed`, so the same picture always gives the same cloud and the
    same numbers. The ELBO terms are scored as the model was trained: on grey levels, or for
    a binarized model on one binarization of the picture drawn from the same generator."""
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    x = to_model_input(image)[None].to(model.device)  # (1, 1, 28, 28)
    target = binarize(x, generator) if model.binarized else x
    with inference(model):
        q = model.encode(x)
        draws = q.sample(samples, generator)  # z (K, 1, D), log_q (K, 1)
        z = draws.z[:, 0]  # (K, D)
        logits = model.decode(z)  # (K, 1, 28, 28)
        nll = bernoulli_nll(logits, target.expand_as(logits))  # (K,)
        kl = model.prior.kl(q, draws)  # (K, 1)
    return PosteriorCloud(
        z.float().cpu(),
        torch.sigmoid(logits).float().cpu(),
        float(nll.double().mean()),
        float(kl.double().mean()),
    )
