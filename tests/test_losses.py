"""The ELBO terms: closed forms, reductions and their edge cases."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vae_hub.model.losses import bernoulli_nll, elbo_loss, kl_divergence

floats = st.floats(min_value=-5, max_value=5, allow_nan=False)


def test_kl_is_zero_at_the_prior():
    assert torch.equal(kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(floats, floats), min_size=1, max_size=8))
def test_kl_is_never_negative(pairs):
    mu = torch.tensor([[m for m, _ in pairs]], dtype=torch.float64)
    logvar = torch.tensor([[v for _, v in pairs]], dtype=torch.float64)
    assert kl_divergence(mu, logvar).item() >= -1e-12


def test_kl_matches_a_monte_carlo_estimate():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.3]])
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(2), torch.ones(2))
    z = q.sample((200_000,))
    estimate = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean()
    assert abs(kl_divergence(mu, logvar).item() - estimate.item()) < 0.01


def test_bernoulli_nll_sums_pixels_and_matches_log_two_at_zero_logits():
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(
        bernoulli_nll(torch.zeros_like(x), x), torch.full((2,), 784 * math.log(2))
    )


def test_elbo_loss_averages_over_the_batch():
    torch.manual_seed(0)
    x = torch.rand(5, 1, 28, 28)
    logits = torch.randn(5, 1, 28, 28)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    reconstruction, kl = elbo_loss(logits, x, kl_divergence(mu, logvar))
    assert torch.allclose(reconstruction, bernoulli_nll(logits, x).mean())
    assert torch.allclose(kl, kl_divergence(mu, logvar).mean())


def test_reconstruction_floor_is_the_target_entropy():
    x = torch.rand(4, 1, 28, 28).clamp(0.01, 0.99)
    best = bernoulli_nll(torch.logit(x), x)  # logits that reproduce x exactly
    entropy = -(x * x.log() + (1 - x) * (1 - x).log()).flatten(1).sum(1)
    assert torch.allclose(best, entropy, atol=1e-3)
    assert (bernoulli_nll(torch.zeros_like(x), x) > best).all()
