"""vae-hub: a variational autoencoder on MNIST, packaged the Hugging Face way.

from vae_hub import BUNDLED, VAE, sample
model = VAE.from_pretrained(BUNDLED)  # the bundled model; or a folder, or "user/repo"
digits = sample(model, n=16, seed=0)  # (16, 1, 28, 28) in [0, 1]
"""

from .capabilities.generation import (
    digit_temperature,
    digit_transit,
    generate_digit,
    interpolate_latents,
    sample,
)
from .capabilities.reconstruction import Reconstruction, interpolate, reconstruct
from .errors import ConfigError, DataNotFoundError, HubError, InvalidModelError, ModelNotFoundError
from .files.bundled import BUNDLED
from .model.vae import VAE

__version__ = "0.1.0"

__all__ = [
    "BUNDLED",
    "VAE",
    "ConfigError",
    "DataNotFoundError",
    "HubError",
    "InvalidModelError",
    "ModelNotFoundError",
    "Reconstruction",
    "digit_temperature",
    "digit_transit",
    "generate_digit",
    "interpolate",
    "interpolate_latents",
    "reconstruct",
    "sample",
]
