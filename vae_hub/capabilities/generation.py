"""Drawing digits from the model: new ones from the prior, a chosen digit, a walk between
two digits or two codes (pictures in: `reconstruction.py`).

Each returns images as float tensors (N, 1, 28, 28) in [0, 1] (Bernoulli means, i.e.
sigmoid of the decoder's logits) and writes no files. Randomness comes from a private
`torch.Generator` seeded by the caller, never the global RNG, so two requests with the same
seed give the same images whatever else runs. Noise is drawn on the CPU so a seed means the
same latents on every device.
"""

from __future__ import annotations

import math

import torch

from ..model.priors import NUM_CLASSES
from ..model.vae import VAE, inference

MAX_IMAGES = 4096
METHODS = ("linear", "slerp")


def digit_temperature(model: VAE) -> float:
    """`generate_digit`'s default temperature for this model: its prior's (how far from a
    digit's centre its draws may go and still be that digit; `vae-hub temperature`
    measures it)."""
    return model.prior.digit_temperature


def check_count(name: str, n: int, low: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not low <= n <= MAX_IMAGES:
        raise ValueError(f"{name} must be an integer in [{low}, {MAX_IMAGES}], got {n!r}")
    return n


def _check_digit(name: str, digit: int) -> int:
    if isinstance(digit, bool) or not isinstance(digit, int) or not 0 <= digit < NUM_CLASSES:
        raise ValueError(f"{name} must be an integer 0-9, got {digit!r}")
    return digit


def require_digits(model: VAE) -> None:
    if not model.prior.can_draw_digits:
        raise ValueError(
            "this model has no class Gaussians (they are fitted at the end of train.py); "
            "use a finished model such as the bundled one"
        )


def check_temperature(temperature: float) -> float:
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 10:
        raise ValueError(f"temperature must be a number in [0, 10], got {temperature!r}")
    return float(temperature)


def _generator(seed: int) -> torch.Generator:
    """The request's own generator, on the CPU: a seed means the same codes everywhere."""
    return torch.Generator().manual_seed(int(seed))


def decode_images(model: VAE, z: torch.Tensor) -> torch.Tensor:
    """Latents (N, D) -> Bernoulli means (N, 1, 28, 28) in [0, 1], on the CPU."""
    with inference(model):
        return torch.sigmoid(model.decode(z.to(model.device))).float().cpu()


def sample(model: VAE, n: int, seed: int, temperature: float = 1.0) -> torch.Tensor:
    """`n` new digits from the prior -> (n, 1, 28, 28), its spread scaled by `temperature`
    (the standard prior: z ~ N(0, T^2 I); the class mixture: a digit y ~ pi, then
    z ~ p(z|y))."""
    check_count("n", n)
    temperature = check_temperature(temperature)
    with torch.no_grad():
        z = model.prior.sample(n, _generator(seed), temperature)  # (n, D)
    return decode_images(model, z)


def generate_digit(
    model: VAE, digit: int, n: int, seed: int, temperature: float | None = None
) -> torch.Tensor:
    """`n` samples of one digit -> (n, 1, 28, 28), from the model alone (no dataset): from
    that digit's part of the prior (`Prior.sample_digit`). `temperature` scales the spread
    (default: `digit_temperature(model)`); lower gives more typical digits, higher more
    variety.
    """
    _check_digit("digit", digit)
    check_count("n", n)
    require_digits(model)
    temperature = digit_temperature(model) if temperature is None else temperature
    temperature = check_temperature(temperature)
    with torch.no_grad():
        z = model.prior.sample_digit(digit, n, _generator(seed), temperature)  # (n, D)
    return decode_images(model, z)


def interpolate_latents(
    z_a: torch.Tensor, z_b: torch.Tensor, steps: int, method: str = "linear"
) -> torch.Tensor:
    """`steps` latents from z_a to z_b inclusive: (D,), (D,) -> (steps, D)."""
    check_count("steps", steps, low=2)
    return latents_along(z_a, z_b, torch.linspace(0, 1, steps, dtype=torch.float64), method)


def latents_along(
    z_a: torch.Tensor, z_b: torch.Tensor, t: torch.Tensor, method: str = "linear"
) -> torch.Tensor:
    """The latents at positions `t` (T,) of the path from z_a (t = 0) to z_b (t = 1):
    (D,), (D,) -> (T, D).

    "slerp" follows the great circle (Shoemake 1985), which keeps the norm typical of
    Gaussian latents; it falls back to linear when the two are (anti)parallel.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    t = t.double().flatten()[:, None]  # (T, 1)
    a, b = z_a.double().flatten(), z_b.double().flatten()
    if method == "slerp":
        cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos.clamp(-1, 1))
        if math.sin(omega.item()) > 1e-6:
            s = torch.sin(omega)
            return ((torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / s).float()
    return ((1 - t) * a + t * b).float()


def digit_transit(
    model: VAE, start: int, end: int, steps: int = 10, method: str = "linear"
) -> torch.Tensor:
    """Frames from digit `start` to digit `end`, decoded between the two digits' centres
    (`digit_centre`: stored in the model, so no dataset is needed), both ends included ->
    (steps, 1, 28, 28)."""
    _check_digit("start", start)
    _check_digit("end", end)
    z_a, z_b = digit_centre(model, start), digit_centre(model, end)
    return decode_images(model, interpolate_latents(z_a, z_b, steps, method))


def digit_centre(model: VAE, digit: int) -> torch.Tensor:
    """The latent (D,) at the centre of one digit's region of the prior."""
    _check_digit("digit", digit)
    require_digits(model)
    return model.prior.digit_centre(digit).detach().float().cpu()
