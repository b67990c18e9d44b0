"""What one evaluation measures and how it is reported: the profiles (how much work),
`evaluate_model` (every metric, as saved in metrics.json) and the labels the table and the
model card use."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ..capabilities.generation import digit_temperature
from ..files.mnist import MnistSplit
from ..model.vae import VAE
from .judge import load_judge
from .metrics import (
    GAP_EVAL_SAMPLES,
    ElboTerms,
    active_units,
    amortisation_gap,
    digit_accuracy,
    iwae_terms,
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
    "digit_accuracy": ("Digit-generation accuracy (default temperature)", "accuracy", "{:.2%}"),
    "digit_accuracy_t1": ("  the same at temperature 1.0", "accuracy-temperature-1", "{:.2%}"),
    "probe_accuracy": ("Linear probe accuracy on latent means", "probe-accuracy", "{:.2%}"),
    "amortisation_gap": (
        "Amortisation gap, test images (nats gained by refining q(z|x) per image)",
        "amortisation-gap",
        "{:.2f}",
    ),
    "amortisation_gap_train": ("  the same on training images", "amortisation-gap-train", "{:.2f}"),
}


@dataclass(frozen=True)
class EvalProfile:
    """How much work an evaluation does: "quick" is what train.py runs by default, small
    enough to wait for after a short run (the README times it), "full" what the published
    numbers use, "smoke" a seconds-long check for tests and --dry-run."""

    iwae_k: int
    iwae_images: int | None  # None: the whole split; else a subset spread through it
    fd_samples: int
    digit_samples: int  # per digit
    probe_images: int | None  # training images the probe is fitted on (None: all)
    gap_images: int = 0  # test and training images the amortisation gap is measured on (0: not)
    gap_steps: int = 0  # refinement steps per image for it
    iwae_refine_steps: int = 0  # >0: the IWAE proposal is q(z|x) refined per image first


PROFILES = {
    "quick": EvalProfile(iwae_k=100, iwae_images=300, fd_samples=5_000, digit_samples=100,
                         probe_images=10_000),
    "full": EvalProfile(iwae_k=1000, iwae_images=None, fd_samples=10_000, digit_samples=1000,
                        probe_images=None, gap_images=500, gap_steps=100),
    "smoke": EvalProfile(iwae_k=10, iwae_images=100, fd_samples=500, digit_samples=20,
                         probe_images=1000, gap_images=20, gap_steps=5),
}  # fmt: skip


def describe_profiles() -> str:
    """The profiles in one line, for --help: what each measures the IWAE bound on."""
    parts = []
    for name, p in PROFILES.items():
        if p.iwae_images is None:
            text = f"{name} (IWAE k={p.iwae_k} on the whole test split"
        else:
            text = f"{name} (IWAE k={p.iwae_k} from the ELBO-IWAE gap on {p.iwae_images:,} images"
        if p.gap_images and name != "smoke":
            text += ", and the amortisation gap"
        parts.append(text + (", in seconds)" if name == "smoke" else ")"))
    return ", ".join(parts)


def describe_work(settings: EvalProfile, train: MnistSplit, test: MnistSplit) -> str:
    """What an evaluation with `settings` computes, in words, before it starts."""
    iwae_images = (
        len(test) if settings.iwae_images is None else min(settings.iwae_images, len(test))
    )
    probe = len(train) if settings.probe_images is None else min(settings.probe_images, len(train))
    parts = [
        f"the ELBO on all {len(test):,} test digits",
        f"the IWAE bound with k={settings.iwae_k} on {iwae_images:,} of them",
        f"the Frechet distance of {settings.fd_samples:,} prior samples",
        f"digit accuracy from {settings.digit_samples:,} samples per digit at two temperatures",
        f"a linear probe fitted on {probe:,} training digits",
    ]
    if settings.gap_images:
        parts.append(
            f"the amortisation gap on {settings.gap_images:,} test and {settings.gap_images:,} "
            f"training digits ({settings.gap_steps} Adam steps each)"
        )
    return "; ".join(parts)


WARMUP_GAP_STEPS = 3  # refinement steps timed to price the amortisation gap's 100
WARMUP_GAP_BATCH = 250  # amortisation_gap's own batch: per-image costs depend on it


def estimate_seconds(
    model: VAE, train: MnistSplit, test: MnistSplit, settings: EvalProfile, seed: int = 0
) -> tuple[float, float]:
    """(estimated seconds, seconds the estimate took): each expensive part of an
    evaluation timed on a few images on this machine and scaled to the profile's counts.

    The IWAE bound (k decodes per image, one image at a time) and the amortisation gap
    (Adam steps on each image's posterior, then 100 decodes twice) cost per image and
    dominate a full profile, so each is timed as it runs there; the rest (ELBO, samples,
    the probe's embeddings) is charged per image passed through a network, at the rate
    of one timed ELBO batch."""
    started = time.monotonic()

    def timed(fn, *args, **kwargs) -> float:
        begun = time.monotonic()
        fn(*args, **kwargs)
        return time.monotonic() - begun

    warm = test.spread(8)
    iwae = timed(iwae_terms, model, warm, k=settings.iwae_k, seed=seed) / len(warm)
    iwae_images = len(test) if settings.iwae_images is None else settings.iwae_images
    total = iwae * min(iwae_images, len(test))
    if settings.gap_images:
        batch = test.spread(WARMUP_GAP_BATCH)
        steps = timed(amortisation_gap, model, batch, WARMUP_GAP_STEPS, seed, eval_samples=1)
        per_step = steps / (WARMUP_GAP_STEPS * len(batch))  # per image and step
        decodes = 2 * GAP_EVAL_SAMPLES * iwae / settings.iwae_k  # its final ELBOs
        total += 2 * settings.gap_images * (settings.gap_steps * per_step + decodes)
    passes = timed(negative_elbo, model, test.spread(1000), seed=seed) / min(1000, len(test))
    probe = len(train) if settings.probe_images is None else settings.probe_images
    images = 3 * len(test) + settings.fd_samples + 20 * settings.digit_samples + probe
    total += passes * images
    return total, time.monotonic() - started


def evaluate_model(
    model: VAE,
    train: MnistSplit,
    test: MnistSplit,
    profile: str | EvalProfile = "quick",
    seed: int = 0,
    progress: bool = False,
    elbo: ElboTerms | None = None,
) -> dict:
    """Every metric on the test split, as saved in metrics.json (nats per image), with the
    seconds each took. `elbo`: the test ELBO when the caller has just measured it (the
    training loop does, at the end of every epoch, with the same seed)."""
    settings = PROFILES[profile] if isinstance(profile, str) else profile
    name = (
        profile
        if isinstance(profile, str)
        else next((k for k, v in PROFILES.items() if v == profile), "custom")
    )
    run = Evaluation(model, train, test, settings, seed, progress)
    if elbo is None:
        elbo = run.timed("negative_elbo", negative_elbo, model, test, seed=seed, progress=progress)
    metrics = {
        "negative_elbo": elbo.total,
        "reconstruction": elbo.reconstruction,
        "kl": elbo.kl,
        **run.bound(elbo),
        "active_units": run.timed("active_units", active_units, model, test),
        "latent_dim": model.latent_dim,
        **run.samples(),
        **run.probe(),
        "split": "test",
        "split_size": len(test),
        "binarized": model.binarized,
        "profile": name,
        "seed": seed,
        **run.gaps(),
    }
    metrics["seconds_per_metric"] = run.seconds
    metrics["seconds"] = round(sum(run.seconds.values()), 1)
    return metrics


class Evaluation:
    """One evaluation of a model: each group of metrics, and the seconds each metric took."""

    def __init__(self, model, train, test, settings: EvalProfile, seed: int, progress: bool):
        self.model, self.train, self.test = model, train, test
        self.settings, self.seed, self.progress = settings, seed, progress
        self.seconds: dict[str, float] = {}

    def timed(self, key: str, fn, *args, **kwargs):
        started = time.monotonic()
        value = fn(*args, **kwargs)
        self.seconds[key] = round(time.monotonic() - started, 1)
        return value

    def bound(self, elbo: ElboTerms) -> dict:
        """The IWAE bound. On the whole split, its plain average. On a subset (the quick
        profile), the whole split's ELBO minus the ELBO-IWAE gap measured on the subset:
        the gap varies far less between images than the bound itself, so a few hundred
        images give a small standard error (`iwae_se`), where the subset's own average
        would not. With a refined proposal (`iwae_refine_steps`) the subset's ELBOs are not
        the split's, so a subset reports its own average."""
        settings, test = self.settings, self.test
        whole = settings.iwae_images is None or settings.iwae_images >= len(test)
        split = test if whole else test.spread(settings.iwae_images)
        refine = settings.iwae_refine_steps
        bounds, elbos = self.timed("iwae_nll", iwae_terms, self.model, split,
                                   k=settings.iwae_k, seed=self.seed, progress=self.progress,
                                   refine_steps=refine)  # fmt: skip
        if whole or refine:
            iwae, spread = float(bounds.mean()), bounds
            estimate = "whole split" if whole else "subset average"
        else:
            gaps = elbos - bounds  # >= 0: the bound is tighter than the ELBO
            iwae, spread = elbo.total - float(gaps.mean()), gaps
            estimate = "split ELBO minus subset gap"
        standard_error = float(spread.std() / len(spread) ** 0.5) if len(spread) > 1 else None
        return {
            "iwae_nll": iwae,
            "iwae_se": standard_error,
            "iwae_k": settings.iwae_k,
            "iwae_images": len(split),
            "iwae_estimate": estimate,
            **({"iwae_refine_steps": refine} if refine else {}),
        }

    def samples(self) -> dict:
        """What the shipped classifier (the judge) says of the model's samples: the Frechet
        distance of prior samples, and the digit accuracy at the default temperature and 1."""
        model, settings, seed, progress = self.model, self.settings, self.seed, self.progress
        judge = load_judge()

        def digits_at(temperature: float) -> float | None:
            if not model.prior.can_draw_digits:
                return None
            return digit_accuracy(model, judge, settings.digit_samples, seed, temperature,
                                  progress)  # fmt: skip

        return {
            "fd": self.timed(
                "fd", prior_sample_fd, model, self.test, judge, settings.fd_samples, seed, progress
            ),  # fmt: skip
            "fd_samples": settings.fd_samples,
            "digit_accuracy": self.timed("digit_accuracy", digits_at, digit_temperature(model)),
            "digit_temperature": digit_temperature(model),
            "digit_accuracy_t1": self.timed("digit_accuracy_t1", digits_at, 1.0),
            "digit_samples_per_class": settings.digit_samples,
        }

    def probe(self) -> dict:
        """How linearly the codes separate the digits."""
        images = self.settings.probe_images
        train = self.train if images is None else self.train.spread(images)
        accuracy = self.timed("probe_accuracy", probe_accuracy, self.model, train, self.test)
        return {"probe_accuracy": accuracy, "probe_train_images": len(train)}

    def gaps(self) -> dict:
        """The amortisation gap on test and on training images, when the profile asks."""
        settings = self.settings
        if not settings.gap_images:
            return {}

        def gap_on(split: MnistSplit) -> float:
            subset = split.spread(settings.gap_images)
            amortised, refined = amortisation_gap(self.model, subset, settings.gap_steps,
                                                  self.seed, progress=self.progress)  # fmt: skip
            return amortised - refined

        return {
            "amortisation_gap": self.timed("amortisation_gap", gap_on, self.test),
            "amortisation_gap_train": self.timed("amortisation_gap_train", gap_on, self.train),
            "amortisation_gap_images": settings.gap_images,
            "amortisation_gap_steps": settings.gap_steps,
        }


def metric_label(key: str, metrics: dict) -> str:
    """A metric's label, with the temperature the digit accuracy was measured at and the
    IWAE bound's proposal when it was refined."""
    label = METRICS[key][0].strip()
    if key == "iwae_nll" and metrics.get("iwae_refine_steps"):
        label += f", proposal q(z|x) refined per image ({metrics['iwae_refine_steps']} steps)"
    if key == "digit_accuracy" and metrics.get("digit_temperature") is not None:
        label = label.replace(
            "default temperature", f"temperature {metrics['digit_temperature']:g}"
        )
    return label


def metric_value(key: str, metrics: dict) -> str:
    """A metric's value as shown, the IWAE bound with its standard error."""
    value = METRICS[key][2].format(metrics[key])
    if key == "iwae_nll" and metrics.get("iwae_se") is not None:
        value += f" ± {metrics['iwae_se']:.2f}"
    return value


def format_table(metrics: dict) -> str:
    """metrics.json as an aligned two-column table for the terminal."""
    rows = [("metric", "value")]
    for key in METRICS:
        if metrics.get(key) is not None:
            rows.append((metric_label(key, metrics), metric_value(key, metrics)))
    iwae = f"{metrics['iwae_k']} / {metrics['iwae_images']}"
    if metrics.get("iwae_estimate"):
        iwae += f" ({metrics['iwae_estimate']})"
    rows.append(("IWAE k / test images", iwae))
    rows.append(("evaluation seconds", f"{metrics['seconds']}"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b}" for a, b in rows]
    lines.insert(1, "-" * (width + 12))
    return "\n".join(lines)
