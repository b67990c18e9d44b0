"""The priors as Gaussian mixtures, and the portable seeded sampler that draws from one the
same way in Python and in the page's JavaScript (run here by node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from vae_hub import BUNDLED, VAE
from vae_hub.capabilities.portable_sampling import (
    draw_codes,
    mixture_from_json,
    mixture_json,
    sampling_json,
    stride,
    uniforms,
)
from vae_hub.model.priors import GaussianMixture, Prior, StandardNormalPrior

from .test_priors import shaped_prior

SAMPLING_JS = Path(__file__).parents[1] / "vae_hub" / "demo" / "static" / "sampling.js"
SEEDS = (0, 1, 42, 2**31 - 1)
TEMPERATURES = (0.0, 0.7, 1.0, 2.0)


def fitted_standard(latent_dim: int = 3) -> StandardNormalPrior:
    """Per-digit Gaussians with full covariances, fitted to codes made for it."""
    prior = StandardNormalPrior(latent_dim)
    g = torch.Generator().manual_seed(1)
    labels = torch.arange(10).repeat_interleave(200)  # (2000,)
    mixing = torch.randn(10, latent_dim, latent_dim, generator=g) * 0.6  # (10, D, D)
    noise = torch.randn(2000, latent_dim, 1, generator=g)
    codes = torch.randn(10, latent_dim, generator=g)[labels] + (mixing[labels] @ noise)[..., 0]
    prior.fit_digits(lambda: codes, labels)
    return prior


def moments(mixture: GaussianMixture, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean (D,) and covariance (D, D) of draws at `temperature`, in closed form."""
    w, m, tril = (t.double() for t in (mixture.weights, mixture.means, mixture.scale_tril))
    mean = w @ m
    second = temperature**2 * tril @ tril.transpose(1, 2) + m[:, :, None] * m[:, None, :]
    return mean, (w[:, None, None] * second).sum(0) - torch.outer(mean, mean)


def assert_moments(codes: torch.Tensor, mixture: GaussianMixture, temperature: float) -> None:
    mean, cov = moments(mixture, temperature)
    scale = cov.diagonal().max().sqrt()
    codes = codes.double()
    assert torch.allclose(codes.mean(0), mean, atol=0.05 * scale)
    assert torch.allclose(torch.cov(codes.T), cov, atol=0.05 * scale**2)


def portable_draws(mixture: GaussianMixture, temperature: float, seeds: range = range(5)):
    """4000 codes (4000, D) per seed (draw_codes draws 4096 at the most)."""
    return torch.cat([draw_codes(mixture, 4000, seed, temperature) for seed in seeds])


PRIORS = {"standard": fitted_standard, "class-mixture": shaped_prior}


@pytest.mark.parametrize("temperature", [0.5, 1.3])
@pytest.mark.parametrize("kind", PRIORS)
def test_a_priors_mixture_has_the_law_of_its_own_draws(kind, temperature):
    """sample and sample_digit (torch's generator) and the mixture agree in mean and
    covariance at two temperatures, and so do the portable draws from the mixture."""
    prior: Prior = PRIORS[kind]()
    n = 20_000
    with torch.no_grad():
        cases = [(prior.mixture(), prior.sample(n, torch.Generator().manual_seed(3), temperature))]
        for digit in (0, 2):
            drawn = prior.sample_digit(digit, n, torch.Generator().manual_seed(4), temperature)
            cases.append((prior.mixture(digit), drawn))
    for mixture, drawn in cases:
        assert mixture.scale_tril.shape == (len(mixture.weights), 3, 3)
        assert torch.equal(mixture.scale_tril, mixture.scale_tril.tril())
        assert_moments(drawn, mixture, temperature)
        assert_moments(portable_draws(mixture, temperature), mixture, temperature)


def test_at_temperature_zero_every_draw_is_a_components_mean():
    prior = shaped_prior()
    mixture = prior.mixture()
    codes = draw_codes(mixture, 400, 9, 0.0)
    assert all(any(torch.equal(z, m) for m in mixture.means) for z in codes)
    picked = torch.stack([(codes == m).all(1).float().mean() for m in mixture.means])
    assert torch.allclose(picked, mixture.weights, atol=0.06)  # 0.1, 0.2, 0.3, 0.4
    assert torch.equal(draw_codes(prior.mixture(2), 3, 9, 0.0), prior.means[2].expand(3, -1))


def test_a_digit_out_of_range_is_refused():
    for prior, digit in ((shaped_prior(), 4), (fitted_standard(), 10), (fitted_standard(), -1)):
        with pytest.raises(ValueError, match="digit must be an integer"):
            prior.mixture(digit)


def test_the_uniforms_are_uniform_and_the_seeds_independent():
    u = uniforms(0, 0, 200_000)
    assert u.min() > 0 and u.max() < 1
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01  # neighbours in one stream
    for other in (1, 2**31 - 1):
        assert abs(np.corrcoef(u, uniforms(other, 0, 200_000))[0, 1]) < 0.01
    assert np.array_equal(uniforms(7, 100, 50), uniforms(7, 0, 150)[100:])  # counter-based


def test_the_normals_are_standard_normal():
    dim = 5  # odd: the last sine of each code is dropped
    identity = GaussianMixture(torch.ones(1), torch.zeros(1, dim), torch.eye(dim)[None])
    eps = portable_draws(identity, 1.0, range(10, 20)).double()
    assert torch.allclose(eps.mean(0), torch.zeros(dim, dtype=torch.float64), atol=0.03)
    assert torch.allclose(torch.cov(eps.T), torch.eye(dim, dtype=torch.float64), atol=0.03)
    assert stats.kstest(eps.flatten().numpy(), "norm").pvalue > 1e-3
    assert stride(dim) == 7 and stride(4) == 5


def test_a_code_does_not_depend_on_how_many_are_drawn():
    mixture = shaped_prior().mixture()
    many = draw_codes(mixture, 256, 42, 0.7)
    assert torch.equal(draw_codes(mixture, 1, 42, 0.7), many[:1])
    assert torch.equal(draw_codes(mixture, 10, 42, 0.7), many[:10])
    assert not torch.equal(draw_codes(mixture, 10, 43, 0.7), many[:10])


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 0, 1.0), "n must be"),
        ((True, 0, 1.0), "n must be"),
        ((4, -1, 1.0), "seed must be"),
        ((4, 2**32, 1.0), "seed must be"),
        ((4, 1.5, 1.0), "seed must be"),
        ((4, 0, -0.1), "temperature must be"),
        ((4, 0, float("nan")), "temperature must be"),
    ],
)
def test_bad_arguments_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        draw_codes(shaped_prior().mixture(), *args)


def test_the_pages_json_reads_back_as_the_same_float32_mixtures():
    model = VAE.from_pretrained(BUNDLED)
    data = json.loads(json.dumps(sampling_json(model)))
    assert data["latent_dim"] == model.latent_dim
    assert data["temperature"] == {"sample": 1.0, "digit": model.prior.digit_temperature}
    pairs = [(data["mixture"], model.prior.mixture())]
    pairs += [(data["digits"][d], model.prior.mixture(d)) for d in range(10)]
    for sent, mixture in pairs:
        back = mixture_from_json(sent)
        assert all(
            torch.equal(getattr(back, f), getattr(mixture, f))
            for f in ("weights", "means", "scale_tril")
        )
    untrained = VAE(latent_dim=3, channels=4, hidden_dim=16, latent_map_points=0)
    assert not untrained.prior.can_draw_digits and sampling_json(untrained)["digits"] is None


def run_node(jobs: list[dict]) -> list[list[float]]:
    """drawCodes of sampling.js for each job, in one node process."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = f"""
import {{ drawCodes }} from {json.dumps(SAMPLING_JS.resolve().as_uri())};
import {{ readFileSync }} from "node:fs";
const jobs = JSON.parse(readFileSync(0, "utf8"));
const codes = jobs.map((j) => Array.from(drawCodes(j.mixture, j.n, j.seed, j.temperature)));
let refused = "";
try {{ drawCodes(jobs[0].mixture, 1, -1, 1.0); }} catch (e) {{ refused = e.name; }}
process.stdout.write(JSON.stringify({{ codes, refused }}));
"""
    proc = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input=json.dumps(jobs), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["refused"] == "RangeError"
    return out["codes"]


def test_the_browser_draws_the_same_codes_as_the_server(trained_model):
    """For the bundled model (class mixture, D=20), the tests' tiny model (standard prior
    with fitted digits, D=4) and a mixture of odd size (D=3), the prior and a digit: the
    JavaScript's codes from the page's JSON equal the Python draw from the prior's tensors."""
    bundled = VAE.from_pretrained(BUNDLED)
    mixtures = [
        bundled.prior.mixture(),
        bundled.prior.mixture(7),
        trained_model.prior.mixture(),
        trained_model.prior.mixture(3),
        shaped_prior().mixture(),
    ]
    assert trained_model.prior.name == "standard" and bundled.prior.name == "class-mixture"
    jobs, expected = [], []
    for mixture in mixtures:
        sent = mixture_json(mixture)
        for seed in SEEDS:
            for temperature in TEMPERATURES:
                for n in (1, 256):
                    jobs.append(dict(mixture=sent, n=n, seed=seed, temperature=temperature))
                    expected.append(draw_codes(mixture, n, seed, temperature))
    for z, js in zip(expected, run_node(jobs), strict=True):
        assert len(js) == z.numel()
        difference = (torch.tensor(js, dtype=torch.float32).view_as(z) - z).abs().max()
        assert difference <= 1e-6, difference
