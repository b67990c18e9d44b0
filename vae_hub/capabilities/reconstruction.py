"""What the model makes of a picture: its code, its reconstruction, and a morph between two
pictures. Any picture a user has (any size, grey or colour, dark on light or light on dark)
is prepared the MNIST way first (`vae_hub.pictures.inputs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..model.vae import VAE, inference
from ..pictures.inputs import to_model_input
from .generation import decode_images, interpolate_latents


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
