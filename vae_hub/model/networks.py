"""Encoder and decoder networks, one pair per `arch`.

Each encoder maps images (B, 1, 28, 28) in [0, 1] to the mean and log-variance of a diagonal
Gaussian q(z|x), each (B, latent_dim); each decoder maps latents (B, latent_dim) to Bernoulli
logits (B, 1, 28, 28). They are plain nn.Modules: the Hub mixin lives on `vae_hub.VAE` alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
NUM_PIXELS = 28 * 28


# --- "conv": our default --------------------------------------------------------------------


class NetworkBiases(NamedTuple):
    """Per-image biases that condition the conv networks on something the image was given
    during training (a shift: `vae_hub.training.augmentation`): added to the encoder's
    hidden layer (B, hidden_dim), the decoder's hidden layer (B, hidden_dim) and the
    decoder's first 7x7 map (B, channels * 49), each before its activation. Without them
    the networks compute the plain model."""

    encoder_hidden: torch.Tensor
    decoder_hidden: torch.Tensor
    decoder_map: torch.Tensor


class ResBlock(nn.Module):
    """Pre-activation residual block (He et al. 2016) at constant width and resolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """Strided convolutions 28 -> 14 -> 7 with residual blocks (`half_res_blocks` at 14x14,
    by default one, and two at 7x7), then a linear head.

    Depth sits mostly at 7x7, where a convolution costs 16 times less than at 14x14 and 64
    times less than at full resolution; measured on a CPU, this trained faster per second
    than wider or full-resolution variants. A block at 14x14 costs as much as four at 7x7,
    which is why `half_res_blocks=0` is offered for a tight time budget. No dropout and no
    BatchNorm, so train and eval modes compute the same function and the ELBO that training
    optimises is the one evaluation reports.
    """

    def __init__(self, latent_dim: int, channels: int, hidden_dim: int, half_res_blocks: int = 1):
        super().__init__()
        c = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1),  # (B, 1, 28, 28) -> (B, c, 14, 14)
            nn.SiLU(),
            *(ResBlock(c) for _ in range(half_res_blocks)),
            nn.Conv2d(c, c, 4, stride=2, padding=1),  # -> (B, c, 7, 7)
            ResBlock(c),
            ResBlock(c),
            nn.Flatten(),  # -> (B, c * 49)
            nn.Linear(c * 49, hidden_dim),
            nn.SiLU(),
        )
        self.head = nn.Linear(hidden_dim, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar, _ = self.encode_with_context(x)
        return mu, logvar

    def encode_with_context(
        self, x: torch.Tensor, hidden_bias: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mu, logvar, h): h (B, hidden_dim) is the features the heads read, which an
        inverse autoregressive flow (`vae_hub.flow`) takes as its context. `hidden_bias`
        (B, hidden_dim) is added before the last activation (`NetworkBiases`)."""
        if hidden_bias is None:
            h = self.features(x)  # (B, 1, 28, 28) -> (B, hidden_dim)
        else:
            h = self.features[-1](self.features[:-1](x) + hidden_bias)
        mu, logvar = self.head(h).chunk(2, dim=1)  # (B, latent_dim) each
        return mu, logvar, h


class ConvDecoder(nn.Module):
    """Mirror of `ConvEncoder`: linear to (c, 7, 7), residual blocks, upsampling 7 -> 14 -> 28,
    and a small full-resolution convolution that sharpens stroke edges."""

    def __init__(self, latent_dim: int, channels: int, hidden_dim: int, half_res_blocks: int = 1):
        super().__init__()
        c = channels
        self.channels = c
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.SiLU(),
            nn.Linear(hidden_dim, c * 49),
        )
        self.body = nn.Sequential(
            nn.SiLU(),
            ResBlock(c),  # (B, c, 7, 7)
            ResBlock(c),
            nn.ConvTranspose2d(c, c, 4, stride=2, padding=1),  # -> (B, c, 14, 14)
            nn.SiLU(),
            *(ResBlock(c) for _ in range(half_res_blocks)),
            nn.ConvTranspose2d(c, max(1, c // 2), 4, stride=2, padding=1),  # -> (B, c/2, 28, 28)
            nn.SiLU(),
            nn.Conv2d(max(1, c // 2), 1, 3, padding=1),  # -> (B, 1, 28, 28) logits
        )

    def forward(self, z: torch.Tensor, biases: NetworkBiases | None = None) -> torch.Tensor:
        if biases is None:
            h = self.fc(z)  # (B, latent) -> (B, c * 49)
        else:
            linear, activation, out = self.fc
            h = out(activation(linear(z) + biases.decoder_hidden)) + biases.decoder_map
        return self.body(h.view(-1, self.channels, 7, 7))  # (B, c, 7, 7) -> (B, 1, 28, 28)


# --- "genzoo": the original GenZoo VAE, re-stated ---------------------------------------------


class GenZooEncoder(nn.Module):
    """The GenZoo encoder: convs 1->16->32->16 with LeakyReLU, max-pool and BatchNorm, then
    FC 784->512->256 with dropout 0.2 and BatchNorm1d, then separate mean/logvar heads.

    Kept layer for layer so results of the original repository can be reproduced.
    """

    def __init__(self, latent_dim: int, dropout: float = 0.2):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),  # (B, 1, 28, 28) -> (B, 16, 28, 28)
            nn.LeakyReLU(),
            nn.MaxPool2d(2, 2),  # -> (B, 16, 14, 14)
            nn.BatchNorm2d(16),
            nn.Conv2d(16, 32, 3, padding=1),  # -> (B, 32, 14, 14)
            nn.LeakyReLU(),
            nn.MaxPool2d(2, 2),  # -> (B, 32, 7, 7)
            nn.BatchNorm2d(32),
            nn.Conv2d(32, 16, 3, padding=1),  # -> (B, 16, 7, 7) = 784 features
        )
        self.fc1 = nn.Linear(NUM_PIXELS, 512)
        self.fc2 = nn.Linear(512, 256)
        self.drop = nn.Dropout(dropout)
        self.bn1 = nn.BatchNorm1d(256)
        self.mean = nn.Linear(256, latent_dim)
        self.logvar = nn.Linear(256, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x).flatten(1)  # (B, 784)
        h = self.drop(h)
        h = self.drop(nn.functional.leaky_relu(self.fc1(h)))  # (B, 512)
        h = self.drop(nn.functional.leaky_relu(self.fc2(h)))  # (B, 256)
        h = self.bn1(h)
        return self.mean(h), self.logvar(h)


class GenZooDecoder(nn.Module):
    """The GenZoo decoder: linear FC 20->256->512->784 (no activations, as in the original),
    reshaped to (16, 7, 7), then ConvTranspose 16->32 (k3, p1), 32->16 (k8), 16->1 (k15)
    with BatchNorm between them. The original ends in a sigmoid; we return its logits.
    """

    def __init__(self, latent_dim: int):
        super().__init__()
        self.fc3 = nn.Linear(latent_dim, 256)
        self.fc4 = nn.Linear(256, 512)
        self.fc5 = nn.Linear(512, NUM_PIXELS)
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(16, 32, 3, padding=1),  # (B, 16, 7, 7) -> (B, 32, 7, 7)
            nn.BatchNorm2d(32),
            nn.ConvTranspose2d(32, 16, 8),  # -> (B, 16, 14, 14)
            nn.BatchNorm2d(16),
            nn.ConvTranspose2d(16, 1, 15),  # -> (B, 1, 28, 28)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc5(self.fc4(self.fc3(z))).view(-1, 16, 7, 7)  # (B, latent) -> (B, 16, 7, 7)
        return self.deconv(h)


# --- "mlp": the classic 784-400-20 VAE of the PyTorch examples ---------------------------------


class MLPEncoder(nn.Module):
    """784 -> hidden (ReLU) -> mean and log-variance heads (pytorch/examples `vae/main.py`)."""

    def __init__(self, latent_dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(NUM_PIXELS, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, latent_dim)
        self.fc22 = nn.Linear(hidden_dim, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.relu(self.fc1(x.flatten(1)))  # (B, 784) -> (B, hidden)
        return self.fc21(h), self.fc22(h)


class MLPDecoder(nn.Module):
    """latent -> hidden (ReLU) -> 784 logits."""

    def __init__(self, latent_dim: int, hidden_dim: int):
        super().__init__()
        self.fc3 = nn.Linear(latent_dim, hidden_dim)
        self.fc4 = nn.Linear(hidden_dim, NUM_PIXELS)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc4(torch.relu(self.fc3(z))).view(-1, *IMAGE_SHAPE)  # (B, 1, 28, 28)


def _conv(config: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    sizes = (config["latent_dim"], config["channels"], config["hidden_dim"])
    return (
        ConvEncoder(*sizes, config["half_res_blocks"]),
        ConvDecoder(*sizes, config["half_res_blocks"]),
    )


def _describe_conv(config: dict[str, Any]) -> str:
    blocks = config["half_res_blocks"]
    at_14 = {0: "none", 1: "one"}.get(blocks, str(blocks))
    return (
        f"`conv` (vae-hub): strided convs 28->14->7 with residual blocks ({at_14} at "
        f"14x14, two at 7x7; {config['channels']} channels, SiLU), FC {config['hidden_dim']}, "
        "and its mirror-image decoder"
    )


class Architecture(NamedTuple):
    """How to build one `arch`'s (encoder, decoder) from the model's resolved options, and
    the sentence the model card says about it."""

    build: Callable[[dict[str, Any]], tuple[nn.Module, nn.Module]]
    describe: Callable[[dict[str, Any]], str]


REGISTRY: dict[str, Architecture] = {
    "conv": Architecture(_conv, _describe_conv),
    "genzoo": Architecture(
        lambda c: (GenZooEncoder(c["latent_dim"]), GenZooDecoder(c["latent_dim"])),
        lambda c: (
            "`genzoo`: the original GenZoo conv VAE (convs 1-16-32-16 with max-pool and "
            "BatchNorm, FC 784-512-256 with dropout 0.2; linear FC and transposed-conv decoder)"
        ),
    ),
    "mlp": Architecture(
        lambda c: (
            MLPEncoder(c["latent_dim"], c["hidden_dim"]),
            MLPDecoder(c["latent_dim"], c["hidden_dim"]),
        ),
        lambda c: (
            f"`mlp`: the PyTorch-examples MLP VAE, 784-{c['hidden_dim']}-{c['latent_dim']} "
            "with ReLU"
        ),
    ),
}
ARCHITECTURES = tuple(REGISTRY)


def build(config: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """(encoder, decoder) for a model's resolved options (its config.json)."""
    return REGISTRY[config["arch"]].build(config)


def describe(config: dict[str, Any]) -> str:
    """One sentence for the model card: what the model's arch is, with its sizes."""
    return REGISTRY[config["arch"]].describe(config)
