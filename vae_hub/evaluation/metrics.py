"""Metrics on the MNIST test split. Each is a function of (model, data, seed) that returns
numbers; `report.evaluate_model` gathers them into the dict saved as metrics.json."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from ..capabilities.generation import generate_digit, sample
from ..capabilities.latent_space import embed_split
from ..files.mnist import MnistSplit, as_batch, to_float
from ..model.losses import bernoulli_nll
from ..model.posterior import Posterior, concatenate
from ..model.priors import NUM_CLASSES
from ..model.vae import VAE, evaluating, inference
from .judge import Judge, predict

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2015), section 5.2
GAP_EVAL_SAMPLES = 100  # draws per image at which the amortisation gap's two ELBOs are compared
BINARIZE_SEED = 1234  # the fixed binarization of the test split for binarized models


@dataclass(frozen=True)
class ElboTerms:
    """Negative ELBO in nats per image and its two parts."""

    reconstruction: float
    kl: float

    @property
    def total(self) -> float:
        return self.reconstruction + self.kl


def evaluation_images(model: VAE, split: MnistSplit) -> torch.Tensor:
    """The split as the model is scored on it: grey levels, or one fixed binarization."""
    generator = torch.Generator(device=split.images.device).manual_seed(BINARIZE_SEED)
    return as_batch(split.images, model.binarized, generator)


def _batches(x: torch.Tensor, batch_size: int):
    for i in range(0, x.shape[0], batch_size):
        yield x[i : i + batch_size]


def _bar(desc: str, total: int, progress: bool, unit: str = "img") -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, disable=not progress, leave=False)


def negative_elbo(
    model: VAE, split: MnistSplit, seed: int = 0, batch_size: int = 1000, progress: bool = False
) -> ElboTerms:
    """Single-sample negative ELBO of `split`: one z per image, drawn with a fixed seed.

    Uses a sampled z, not the mean: decoding the mean would understate the reconstruction
    term and stop being a bound on -log p(x). Sums stay on the device until the end.
    """
    generator = torch.Generator(device=model.device).manual_seed(seed)
    recon_sum = torch.zeros((), dtype=torch.float64, device=model.device)
    kl_sum = torch.zeros_like(recon_sum)
    with _bar("negative ELBO", len(split), progress) as bar, inference(model):
        for x in _batches(evaluation_images(model, split), batch_size):
            x = x.to(model.device)
            q = model.encode(x)
            draws = q.sample(1, generator)  # z (1, B, D)
            recon_sum += bernoulli_nll(model.decode(draws.z[0]), x).sum()
            kl_sum += model.prior.kl(q, draws).sum()
            bar.update(len(x))
    n = max(len(split), 1)
    return ElboTerms(recon_sum.item() / n, kl_sum.item() / n)


def iwae_terms(
    model: VAE,
    split: MnistSplit,
    k: int = 1000,
    seed: int = 0,
    chunk: int = 256,
    progress: bool = False,
    refine_steps: int = 0,
    refine_lr: float = 3e-3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image of `split`, with k draws z_i ~ q(z|x): the importance-weighted bound on
    -log p(x) (Burda et al. 2015), -log (1/k) sum_i p(x, z_i) / q(z_i|x), which tightens as
    k grows; and the average of the k single-sample negative ELBOs, an estimate of the
    image's negative ELBO. Both (N,), nats.

    `refine_steps` > 0 draws from q(z|x) refined for each image first (`refine_posterior`,
    Adam at `refine_lr`): any proposal gives a bound on the same -log p(x), and a better one
    a tighter bound, so the difference between the two says how much of the bound is the
    encoder's and how much the generative model's.

    Decodes `chunk` latents at a time: small batches stay in the CPU's caches and run faster
    than thousands at once; the noise does not depend on it."""
    generator = torch.Generator(device=model.device).manual_seed(seed)
    images_per_pass = max(1, chunk // k)
    bounds, elbos = [], []
    images = evaluation_images(model, split)
    proposal = None
    if refine_steps:
        proposal = _refined_split(model, images, refine_steps, refine_lr, seed, progress)
    with _bar(f"IWAE k={k}", len(images), progress) as bar, inference(model):
        for start in range(0, len(images), images_per_pass):
            x = images[start : start + images_per_pass].to(model.device)  # (B, 1, 28, 28)
            q = model.encode(x) if proposal is None else proposal.rows(start, start + len(x))
            z, log_qz = q.sample(k, generator)  # (k, B, D), (k, B)
            flat = z.reshape(-1, z.shape[-1])  # (k * B, D), sample-major
            target = x.repeat(k, 1, 1, 1)  # (k * B, 1, 28, 28)
            log_px_z = -torch.cat(
                [
                    bernoulli_nll(model.decode(flat[i : i + chunk]), target[i : i + chunk])
                    for i in range(0, flat.shape[0], chunk)
                ]
            ).view(k, -1)  # (k, B)
            log_w = log_px_z + model.prior.log_prob(z) - log_qz  # (k, B)
            bounds.append(-(torch.logsumexp(log_w, dim=0) - math.log(k)))  # (B,)
            elbos.append(-log_w.mean(0))  # (B,)
            bar.update(len(x))
    if not bounds:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(bounds).double().cpu(), torch.cat(elbos).double().cpu()


def _refined_split(
    model: VAE,
    images: torch.Tensor,
    steps: int,
    lr: float,
    seed: int,
    progress: bool,
    batch_size: int = 250,
) -> Posterior:
    """`refine_posterior` for every image (N, 1, 28, 28), in batches."""
    generator = torch.Generator(device=model.device).manual_seed(seed)
    parts = []
    with (
        _bar(f"refining q(z|x), {steps} steps", len(images), progress) as bar,
        evaluating(model),
    ):
        for x in _batches(images, batch_size):
            x = x.to(model.device)
            with torch.no_grad():
                start = model.encode(x)
            parts.append(refine_posterior(model, start, x, steps, generator, lr))
            bar.update(len(x))
    return concatenate(parts)


def iwae_nll(
    model: VAE,
    split: MnistSplit,
    k: int = 1000,
    seed: int = 0,
    chunk: int = 256,
    progress: bool = False,
) -> float:
    """The IWAE bound on -log p(x) (`iwae_terms`), averaged over `split`: nats per image."""
    bounds, _ = iwae_terms(model, split, k, seed, chunk, progress)
    return float(bounds.mean()) if len(bounds) else 0.0


def _negative_elbos(model: VAE, q: Posterior, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """Single-sample negative ELBOs (S, B) of images x (B, 1, 28, 28) under q(z|x), at
    noise eps (S, B, D)."""
    draws = q.at(eps)
    z, kl = draws.z, model.prior.kl(q, draws)  # (S, B, D), (S, B)
    logits = model.decode(z.flatten(0, 1))  # (S * B, 1, 28, 28), sample-major
    return bernoulli_nll(logits, x.repeat(eps.shape[0], 1, 1, 1)).view(kl.shape) + kl


def refine_posterior(
    model: VAE,
    start: Posterior,
    x: torch.Tensor,
    steps: int,
    generator: torch.Generator,
    lr: float = 3e-3,
    samples: int = 4,
) -> Posterior:
    """q(z|x) for images x (B, 1, 28, 28), moved from `start` (the encoder's answer) by
    `steps` Adam steps on each image's negative ELBO (`samples` draws of noise per step),
    the networks fixed: towards the best q(z|x) of its family for each image, which one
    encoder answering for every image only approximates."""
    leaves = [t.detach().clone().requires_grad_() for t in start.parameters()]
    q = start.with_parameters(leaves)
    optimizer = torch.optim.Adam(leaves, lr=lr)
    shape = (samples, *start.mu.shape)
    for _ in range(steps):
        eps = torch.randn(shape, generator=generator, device=x.device)
        loss = _negative_elbos(model, q, x, eps).mean(0).sum()
        # gradients for the per-image parameters only: the networks stay untouched
        grads = torch.autograd.grad(loss, leaves)
        for t, g in zip(leaves, grads, strict=True):
            t.grad = g
        optimizer.step()
    return q.detach()


def amortisation_gap(
    model: VAE,
    split: MnistSplit,
    steps: int = 100,
    seed: int = 0,
    lr: float = 3e-3,
    samples: int = 4,
    eval_samples: int = GAP_EVAL_SAMPLES,
    batch_size: int = 250,
    progress: bool = False,
) -> tuple[float, float]:
    """(amortised, refined): the negative ELBO of `split` with the encoder's q(z|x), and
    with q(z|x) refined for each image by `steps` Adam steps on its own parameters (the
    Gaussian's mean and log-variance and the flow's context), the networks fixed. Nats per
    image, both measured at the same `eval_samples` draws of noise per image.

    The difference is the amortisation gap (Cremer et al. 2018, Inference Suboptimality in
    Variational Autoencoders): what the ELBO loses because one encoder answers for every
    image instead of the best q(z|x) of its family for each. A gap much larger on test
    images than on training images says the encoder has over-fitted, which more decoder
    capacity cannot fix. The refined ELBO is still a bound on -log p(x)."""
    generator = torch.Generator(device=model.device).manual_seed(seed)
    totals = torch.zeros(2, dtype=torch.float64, device=model.device)
    with (
        _bar(f"amortisation gap ({steps} steps)", len(split), progress) as bar,
        evaluating(model),
    ):
        for x in _batches(evaluation_images(model, split), batch_size):
            x = x.to(model.device)  # (B, 1, 28, 28)
            with torch.no_grad():
                start = model.encode(x)
            params = refine_posterior(model, start, x, steps, generator, lr, samples)
            eps = torch.randn((eval_samples, *start.mu.shape), generator=generator,
                              device=x.device)  # fmt: skip
            with torch.no_grad():
                totals[0] += _negative_elbos(model, start, x, eps).mean(0).sum()
                totals[1] += _negative_elbos(model, params, x, eps).mean(0).sum()
            bar.update(len(x))
    amortised, refined = (totals / max(len(split), 1)).tolist()
    return amortised, refined


def active_units(model: VAE, split: MnistSplit, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Latent dimensions whose posterior mean varies across the data: Cov_x(E_q[z_u]) >
    threshold (Burda et al. 2015). With a flow posterior, `embed` (the flowed mean of the
    base Gaussian) stands in for E_q[z], which has no closed form there."""
    with inference(model):
        batches = _batches(evaluation_images(model, split), 1000)
        mu = torch.cat([model.encode(x.to(model.device)).centre() for x in batches])
    return int((mu.var(dim=0) > threshold).sum().item())


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (N, F), (M, F):
    |m_a - m_b|^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) (Heusel et al. 2017)."""
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    # The eigenvalues of C_a C_b are those of a PSD matrix: real and >= 0 up to round-off.
    sqrt_trace = torch.linalg.eigvals(cov_a @ cov_b).sqrt().real.sum()
    value = (mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * sqrt_trace
    return float(value.clamp_min(0))


def prior_sample_fd(
    model: VAE,
    test: MnistSplit,
    judge: Judge,
    n: int = 10_000,
    seed: int = 0,
    progress: bool = False,
) -> float:
    """Frechet distance between the judge's features of `n` prior samples and of the test
    split's grey-level images (lower is better)."""
    with _bar("Frechet distance", n, progress, unit="sample") as bar:
        parts = []
        for i in range(0, n, 2000):
            parts.append(sample(model, min(2000, n - i), seed + i))
            bar.update(len(parts[-1]))
    _, fake = predict(judge, torch.cat(parts))
    _, real = predict(judge, to_float(test.images).cpu())
    return frechet_distance(fake, real)


def digit_accuracy(
    model: VAE,
    judge: Judge,
    per_digit: int = 1000,
    seed: int = 0,
    temperature: float | None = None,
    progress: bool = False,
) -> float:
    """Share of `generate_digit(model, d, ...)` samples the judge labels d, over 0-9, at
    generate_digit's default temperature unless `temperature` is given."""
    hits = 0
    shown = "default" if temperature is None else f"{temperature:g}"
    with _bar(f"digit accuracy (T={shown})", NUM_CLASSES, progress, unit="digit") as bar:
        for digit in range(NUM_CLASSES):
            images = torch.cat(
                [
                    generate_digit(model, digit, min(2000, per_digit - i), seed + i, temperature)
                    for i in range(0, per_digit, 2000)
                ]
            )
            labels, _ = predict(judge, images)
            hits += int((labels == digit).sum())
            bar.update(1)
    return hits / (NUM_CLASSES * per_digit)


def probe_accuracy(model: VAE, train: MnistSplit, test: MnistSplit) -> float:
    """Test accuracy of a logistic-regression probe fitted on `train`'s latent means: how
    linearly the latent space separates the digits. (scikit-learn is imported here: it is
    slow to import and only the probe needs it.)"""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(embed_split(model, train.images).cpu().numpy(), train.labels.cpu().numpy())
    test_mu = embed_split(model, test.images).cpu().numpy()
    return float(probe.score(test_mu, test.labels.cpu().numpy()))
