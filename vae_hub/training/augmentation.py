"""Distribution augmentation with shifts (`--augment-shift`; Jun et al. 2020, "Distribution
Augmentation for Generative Modeling").

A share of the training images is moved by up to `max_shift` pixels, and the networks are told
by how much: a learned bias per shift on the encoder's and the decoder's hidden layers
(`architectures.NetworkBiases`). The model thus learns the shifted digits as distributions of
their own, through the same weights, instead of mixing them into the one it is scored on:
more for the shared weights to learn from, nothing added to the distribution of unshifted
digits. The no-shift bias is zero, so the networks without biases are the model conditioned
on "not shifted", and the saved model is the plain architecture; the biases live here, in
the training layer, and in the checkpoints only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..model.networks import NetworkBiases
from ..model.vae import VAE

MAX_SHIFT = 4  # MNIST digits sit in the central 20x20 of the 28x28 image


def shift_table(max_shift: int) -> torch.Tensor:
    """(dy, dx) of every shift with both in [-max_shift, max_shift]: row 0 is (0, 0), the
    rest follow in raster order. (S, 2) with S = (2 * max_shift + 1) ** 2."""
    r = torch.arange(-max_shift, max_shift + 1)
    table = torch.cartesian_prod(r, r)  # (S, 2)
    moved = table.abs().sum(1) > 0
    return torch.cat([table[~moved], table[moved]])


def shift_images(x: torch.Tensor, offsets: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Move each image (B, 1, H, W) by its offsets (B, 2) = (dy, dx) pixels, filling with
    zeros. One gather, no per-image loop and no read back to the host."""
    b, _, height, width = x.shape
    padded = nn.functional.pad(x, (max_shift,) * 4)  # (B, 1, H + 2s, W + 2s)
    rows = torch.arange(height, device=x.device) + max_shift - offsets[:, :1]  # (B, H)
    cols = torch.arange(width, device=x.device) + max_shift - offsets[:, 1:]  # (B, W)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


def shift_of(state: dict[str, torch.Tensor] | None) -> int:
    """The max shift whose biases a `ShiftAugmentation.state_dict()` holds (0: none)."""
    if not state:
        return 0
    count = state["encoder_hidden.weight"].shape[0]  # (2 * max_shift + 1) ** 2
    return (math.isqrt(count) - 1) // 2


class ShiftAugmentation(nn.Module):
    """The shifts a batch gets and the biases that tell the networks about them."""

    def __init__(self, model: VAE, max_shift: int, share: float):
        super().__init__()
        arch = model.config["arch"]
        if arch != "conv":
            raise ValueError(f"shift augmentation needs the conv arch, not {arch!r}")
        hidden, channels = model.config["hidden_dim"], model.config["channels"]
        self.max_shift = max_shift
        self.share = share
        self.register_buffer("offsets", shift_table(max_shift), persistent=False)
        count = self.offsets.shape[0]
        # padding_idx=0: "not shifted" keeps a zero bias, so it is the plain networks.
        self.encoder_hidden = nn.Embedding(count, hidden, padding_idx=0)
        self.decoder_hidden = nn.Embedding(count, hidden, padding_idx=0)
        self.decoder_map = nn.Embedding(count, channels * 49, padding_idx=0)
        for table in (self.encoder_hidden, self.decoder_hidden, self.decoder_map):
            nn.init.zeros_(table.weight)  # training starts from the plain model

    def forward(
        self, x: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, NetworkBiases]:
        """Shift a `share` of the batch (B, 1, 28, 28), each by one of the other shifts
        drawn uniformly from `generator`; return the images and their biases."""
        b, count = x.shape[0], self.offsets.shape[0]
        moved = torch.rand(b, generator=generator, device=x.device) < self.share
        drawn = torch.randint(1, count, (b,), generator=generator, device=x.device)
        index = torch.where(moved, drawn, torch.zeros_like(drawn))  # (B,)
        return shift_images(x, self.offsets[index], self.max_shift), self.biases(index)

    def biases(self, index: torch.Tensor) -> NetworkBiases:
        """The networks' biases for shifts `index` (B,), rows of `offsets`; 0: not shifted."""
        return NetworkBiases(
            self.encoder_hidden(index), self.decoder_hidden(index), self.decoder_map(index)
        )
