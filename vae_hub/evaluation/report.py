"""What one evaluation measures and how it is reported: the profiles (how much work),
`evaluate_model` (every metric, as saved in metrics.json) and the labels the table and the
model card use."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..data import MnistSplit
from ..generation import DIGIT_TEMPERATURE
from ..model import VAE
from .judge import load_judge
from .metrics import (
    active_units,
    digit_accuracy,
    iwae_nll,
    negative_elbo,
    prior_sample_fd,
    probe_accuracy,
)

# metrics.json key -> (label in the card, model-index metric type, format)
METRICS = {
    "negative_elbo": ("Negative ELBO (single sample)", "negative-elbo", "{:.2f}"),
    "reconstruction": ("  reconstruction term", "reconstruction-nll", "{:.2f}"),
    "kl": ("  KL term", "kl-divergence", "{:.2f}"),
    "iwae_nll": ("IWAE bound on -log p(x)", "nll", "{:.2f}"),
    "active_units": ("Active latent units", "active-units", "{:d}"),
    "fd": ("Frechet distance of prior samples (classifier features)", "frechet-distance", "{:.2f}"),
    "digit_accuracy": (
        f"Digit-generation accuracy (temperature {DIGIT_TEMPERATURE})",
        "accuracy",
        "{:.2%}",
    ),
    "digit_accuracy_t1": ("  the same at temperature 1.0", "accuracy-temperature-1", "{:.2%}"),
    "probe_accuracy": ("Linear probe accuracy on latent means", "probe-accuracy", "{:.2%}"),
}


@dataclass(frozen=True)
class EvalProfile:
    """How much work an evaluation does: "quick" is what train.py runs by default, "full"
    what the published numbers use, "smoke" a seconds-long check for tests and --dry-run."""

    iwae_k: int
    iwae_images: int | None  # None: the whole split
    fd_samples: int
    digit_samples: int  # per digit


PROFILES = {
    "quick": EvalProfile(iwae_k=100, iwae_images=1000, fd_samples=10_000, digit_samples=100),
    "full": EvalProfile(iwae_k=1000, iwae_images=None, fd_samples=10_000, digit_samples=1000),
    "smoke": EvalProfile(iwae_k=10, iwae_images=100, fd_samples=500, digit_samples=20),
}


def evaluate_model(
    model: VAE,
    train: MnistSplit,
    test: MnistSplit,
    profile: str | EvalProfile = "quick",
    seed: int = 0,
    progress: bool = False,
) -> dict:
    """Every metric on the test split, as saved in metrics.json (nats per image)."""
    settings = PROFILES[profile] if isinstance(profile, str) else profile
    name = (
        profile
        if isinstance(profile, str)
        else next((k for k, v in PROFILES.items() if v == profile), "custom")
    )
    started = time.monotonic()
    elbo = negative_elbo(model, test, seed=seed)
    iwae_split = test if settings.iwae_images is None else test.spread(settings.iwae_images)
    judge = load_judge()

    def digits_at(temperature: float) -> float | None:
        if not model.has_class_gaussians:
            return None
        return digit_accuracy(model, judge, settings.digit_samples, seed, temperature)

    metrics = {
        "negative_elbo": elbo.total,
        "reconstruction": elbo.reconstruction,
        "kl": elbo.kl,
        "iwae_nll": iwae_nll(model, iwae_split, k=settings.iwae_k, seed=seed, progress=progress),
        "iwae_k": settings.iwae_k,
        "iwae_images": len(iwae_split),
        "active_units": active_units(model, test),
        "latent_dim": model.latent_dim,
        "fd": prior_sample_fd(model, test, judge, settings.fd_samples, seed),
        "fd_samples": settings.fd_samples,
        "digit_accuracy": digits_at(DIGIT_TEMPERATURE),
        "digit_temperature": DIGIT_TEMPERATURE,
        "digit_accuracy_t1": digits_at(1.0),
        "digit_samples_per_class": settings.digit_samples,
        "probe_accuracy": probe_accuracy(model, train, test),
        "split": "test",
        "split_size": len(test),
        "binarized": model.binarized,
        "profile": name,
        "seed": seed,
    }
    metrics["seconds"] = round(time.monotonic() - started, 1)
    return metrics


def format_table(metrics: dict) -> str:
    """metrics.json as an aligned two-column table for the terminal."""
    rows = [("metric", "value")]
    for key, (label, _, fmt) in METRICS.items():
        if metrics.get(key) is not None:
            rows.append((label.strip(), fmt.format(metrics[key])))
    rows.append(("IWAE k / test images", f"{metrics['iwae_k']} / {metrics['iwae_images']}"))
    rows.append(("evaluation seconds", f"{metrics['seconds']}"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b}" for a, b in rows]
    lines.insert(1, "-" * (width + 12))
    return "\n".join(lines)
