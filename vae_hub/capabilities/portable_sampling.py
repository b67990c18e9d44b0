"""Seeded draws of codes that a web page can repeat exactly: the same seed gives the same
codes here and in `vae_hub/demo/static/sampling.js`, to float32 rounding.

torch's generator cannot be reproduced outside torch, so the demo draws with this one: a
page that decodes in the browser and the server's own pictures (downloads, the fallback
when the browser cannot decode) then show the same digits for a seed. The library's
`sample` and `generate_digit` keep torch's generator, so a seed there keeps its meaning.

The definition, which sampling.js follows line by line:

- `mix(x)`, on unsigned 32-bit integers (Wellons' "lowbias32" hash, a bijection):
  x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15; x *= 0x846CA68B; x ^= x >> 16
  (products modulo 2**32; in JavaScript `Math.imul` then `>>> 0`).
- The seed s is an integer in [0, 2**32). Its stream of 32-bit words is
  bits(c) = mix(mix((c + key) mod 2**32) ^ s) for counter c = 0, 1, 2, ..., with
  key = mix(s ^ 0x9E3779B9); its uniforms are u(c) = (bits(c) + 0.5) / 2**32, in (0, 1),
  never 0 or 1.
- Code i (of n, for a latent size D) owns the counters from i * W, W = 1 + 2 * ceil(D / 2),
  and uses them in this order: one uniform u picks the component, the first k whose
  cumulative weight exceeds u * (sum of weights), summed in float64 from k = 0 (the last
  one if none does); then for each pair of coordinates (2j, 2j+1), two uniforms u1, u2
  give, by Box-Muller in float64, eps[2j] = r cos(2 pi u2) and eps[2j+1] = r sin(2 pi u2)
  with r = sqrt(-2 ln u1); an odd D drops the last sine. Every code uses W counters
  whatever the mixture, so code i is the same whichever n it is drawn among.
- z[d] = means[k][d] + T * (sum over j <= d of scale_tril[k][d][j] * eps[j]), in float64
  from the mixture's float32 values, then rounded to float32.

Both sides compute in IEEE float64 from the same float32 inputs, so they agree up to the
last bits of log, cos and sin and the float32 rounding of z (a difference within 1e-6 for
codes within +-8; the tests check it against the JavaScript run by node).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..model.priors import NUM_CLASSES, GaussianMixture
from ..model.vae import VAE
from .generation import check_count, check_temperature, require_digits

MAX_SEED = MASK32 = 2**32 - 1
GOLDEN = 0x9E3779B9
SAMPLE_TEMPERATURE = 1.0  # the prior as it was learned: the Sample tab's default


def _mix(x: np.ndarray) -> np.ndarray:
    """Wellons' lowbias32 on uint32 words, elementwise (products wrap modulo 2**32)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
    return seed


def uniforms(seed: int, start: int, count: int) -> np.ndarray:
    """The seed's uniforms u(start), ..., u(start + count - 1) -> float64 (count,) in (0, 1)."""
    seed = _check_seed(seed)
    if start < 0 or count < 0 or start + count > 2**32:
        raise ValueError("the counters must stay within [0, 2**32)")
    s = np.uint32(seed)
    key = _mix(np.array([seed ^ GOLDEN], dtype=np.uint32))[0]
    counters = np.arange(start, start + count, dtype=np.uint64)
    words = _mix(_mix(((counters + np.uint64(key)) & np.uint64(MASK32)).astype(np.uint32)) ^ s)
    return (words.astype(np.float64) + 0.5) / 2.0**32


def stride(latent_dim: int) -> int:
    """Counters per code: one for the component, two per pair of coordinates."""
    return 1 + 2 * math.ceil(latent_dim / 2)


def draw_codes(mixture: GaussianMixture, n: int, seed: int, temperature: float) -> torch.Tensor:
    """`n` codes (n, D) float32 drawn from `mixture` at `temperature` with the portable
    stream of `seed` (the module's docstring defines it)."""
    check_count("n", n)
    temperature = check_temperature(temperature)
    dim = mixture.latent_dim
    pairs = math.ceil(dim / 2)
    u = uniforms(seed, 0, n * stride(dim)).reshape(n, stride(dim))  # (n, W)
    cumulative = np.cumsum(mixture.weights.numpy().astype(np.float64))  # (C,), summed in order
    chosen = (u[:, 0, None] * cumulative[-1] >= cumulative).sum(1)  # first k with cum > u*total
    k = np.minimum(chosen, len(cumulative) - 1)  # (n,)
    u1, u2 = u[:, 1::2], u[:, 2::2]  # (n, pairs) each
    r, theta = np.sqrt(-2.0 * np.log(u1)), 2.0 * math.pi * u2
    eps = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=2).reshape(n, 2 * pairs)
    means = mixture.means.numpy().astype(np.float64)[k]  # (n, D)
    tril = mixture.scale_tril.numpy().astype(np.float64)[k]  # (n, D, D)
    z = means + temperature * np.einsum("nij,nj->ni", tril, eps[:, :dim])  # (n, D) float64
    return torch.from_numpy(z.astype(np.float32))


def sample_codes(model: VAE, n: int, seed: int, temperature: float) -> torch.Tensor:
    """`n` codes (n, D) from the model's prior, by the portable stream of `seed`."""
    return draw_codes(model.prior.mixture(), n, seed, temperature)


def digit_codes(model: VAE, digit: int, n: int, seed: int, temperature: float) -> torch.Tensor:
    """`n` codes (n, D) of one digit, by the portable stream of `seed`."""
    require_digits(model)
    return draw_codes(model.prior.mixture(digit), n, seed, temperature)


def _short(value: np.float32) -> float | int:
    """The shortest decimal that reads back as this float32; a whole number as an integer
    (the zeros above a diagonal cost one character each), except -0.0."""
    number = float(str(value))
    whole = number.is_integer() and math.copysign(1.0, number) > 0
    return int(number) if whole else number


def _float32_numbers(tensor: torch.Tensor) -> Any:
    """Nested lists of the shortest numbers that read back as the same float32 values."""
    values = tensor.detach().float().cpu().numpy()
    flat = [_short(v) for v in values.ravel()]
    for size in reversed(values.shape[1:]):
        flat = [flat[i : i + size] for i in range(0, len(flat), size)]
    return flat


def mixture_json(mixture: GaussianMixture) -> dict[str, Any]:
    """A mixture as the page reads it: {weights (C,), means (C, D), scale_tril (C, D, D)} as
    nested lists of numbers; JavaScript's Math.fround of each gives back the float32 value."""
    return {
        "weights": _float32_numbers(mixture.weights),
        "means": _float32_numbers(mixture.means),
        "scale_tril": _float32_numbers(mixture.scale_tril),
    }


def mixture_from_json(data: dict[str, Any]) -> GaussianMixture:
    """`mixture_json`'s inverse (float32 values equal bit for bit)."""
    return GaussianMixture(
        *(torch.tensor(data[key], dtype=torch.float32) for key in GaussianMixture.__annotations__)
    )


def sampling_json(model: VAE) -> dict[str, Any]:
    """What a page needs to draw Sample's and Digit's codes itself, as JSON-able data:
    `latent_dim`, the prior's `mixture`, each digit's in `digits` (null when the model
    cannot draw digits), and the default temperatures (`sample`, `digit`)."""
    prior = model.prior
    digits = None
    if prior.can_draw_digits:
        digits = [mixture_json(prior.mixture(d)) for d in range(NUM_CLASSES)]
    return {
        "latent_dim": model.latent_dim,
        "mixture": mixture_json(prior.mixture()),
        "digits": digits,
        "temperature": {"sample": SAMPLE_TEMPERATURE, "digit": prior.digit_temperature},
    }
