"""The class-mixture prior: its density, its KL term, drawing digits from it, and the models
that use it (saved, loaded, trained, resumed, fine-tuned)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import distributions as D

from vae_hub import VAE, generate_digit, sample
from vae_hub.capabilities.generation import decode_images, digit_centre, digit_temperature
from vae_hub.errors import ConfigError, InvalidModelError
from vae_hub.model.posterior import Posterior
from vae_hub.model.priors import ClassMixturePrior, StandardNormalPrior, standard_normal_log_prob
from vae_hub.training.loop import run

from .conftest import tiny_config

MIXTURE_DIGIT_TEMPERATURE = ClassMixturePrior.digit_temperature


def shaped_prior(latent_dim: int = 3, classes: int = 4) -> ClassMixturePrior:
    prior = ClassMixturePrior(latent_dim, classes)
    with torch.no_grad():
        prior.means.copy_(
            torch.randn(classes, latent_dim, generator=torch.Generator().manual_seed(0)) * 2
        )
        prior.log_scales.copy_(torch.linspace(-0.5, 0.4, classes * latent_dim).view(classes, -1))
    prior.set_class_frequencies(torch.tensor([1, 2, 3, 4]))
    return prior


def reference(prior: ClassMixturePrior) -> D.MixtureSameFamily:
    components = D.Independent(D.Normal(prior.means, prior.log_scales.exp()), 1)
    return D.MixtureSameFamily(D.Categorical(logits=prior.log_weights), components)


def test_the_mixture_log_density_matches_a_direct_computation():
    prior = shaped_prior()
    z = torch.randn(5, 7, 3)
    with torch.no_grad():
        assert torch.allclose(prior.log_prob(z), reference(prior).log_prob(z), atol=1e-5)
        weights = prior.log_weights.exp()
    assert torch.allclose(weights, torch.tensor([0.1, 0.2, 0.3, 0.4]))


def test_the_joint_density_and_its_closed_form_kl():
    prior = shaped_prior()
    labels = torch.tensor([0, 3, 1])
    mu, logvar = torch.randn(3, 3), torch.randn(3, 3) * 0.3
    with torch.no_grad():
        z = torch.randn(2, 3, 3)
        own = D.Independent(D.Normal(prior.means[labels], prior.log_scales[labels].exp()), 1)
        expected = own.log_prob(z) + prior.log_weights[labels]
        assert torch.allclose(prior.log_prob(z, labels), expected, atol=1e-5)
        q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
        closed = D.kl_divergence(q, own) - prior.log_weights[labels]
        assert torch.allclose(
            prior.closed_form_kl(Posterior(mu, logvar), labels), closed, atol=1e-5
        )


def test_a_fresh_mixture_is_the_standard_prior():
    prior = ClassMixturePrior(4, 10)
    z = torch.randn(6, 4)
    with torch.no_grad():
        assert torch.allclose(prior.log_prob(z), standard_normal_log_prob(z), atol=1e-5)


def mixture_model(**kw) -> VAE:
    model = VAE(latent_dim=3, channels=4, hidden_dim=16, latent_map_points=0,
                prior="class-mixture", **kw).eval()  # fmt: skip
    with torch.no_grad():
        model.prior.means.copy_(torch.arange(30.0).view(10, 3) / 10)
        model.prior.log_scales.fill_(-1.0)
    return model


def test_generate_digit_draws_from_the_digits_own_prior():
    model = mixture_model()
    assert model.prior.can_draw_digits and not hasattr(model.prior, "class_means")
    assert digit_temperature(model) == MIXTURE_DIGIT_TEMPERATURE
    eps = torch.randn(5, 3, generator=torch.Generator().manual_seed(7)) * 0.8
    expected = decode_images(model, model.prior.means[4] + eps * math.exp(-1.0))
    assert torch.allclose(generate_digit(model, 4, 5, seed=7, temperature=0.8), expected)
    centre = decode_images(model, model.prior.means[4][None])
    assert torch.allclose(generate_digit(model, 4, 1, seed=0, temperature=0.0), centre)
    assert torch.equal(digit_centre(model, 4), model.prior.means[4])


def test_sample_draws_a_digit_by_its_frequency_then_its_latent():
    model = mixture_model()
    counts = torch.zeros(10)
    counts[2], counts[9] = 1, 3
    model.prior.set_class_frequencies(counts.clamp_min(1e-9))
    centres = decode_images(model, model.prior.means)
    drawn = sample(model, 40, seed=1, temperature=0.0)  # no noise: each is a digit's centre
    matches = [int((centres - d).abs().flatten(1).sum(1).argmin()) for d in drawn]
    assert set(matches) <= {2, 9} and matches.count(9) > matches.count(2)


def test_evaluation_scores_the_mixture_without_labels():
    model = mixture_model(flow_steps=2)
    x = torch.rand(4, 1, 28, 28)
    q = model.encode(x)
    draws = q.sample(3, torch.Generator().manual_seed(0))
    z, log_q, kl = draws.z, draws.log_q, model.prior.kl(q, draws)
    with torch.no_grad():
        assert torch.allclose(kl, log_q - reference(model.prior).log_prob(z), atol=1e-4)


def test_a_mixture_model_round_trips_and_an_old_config_is_the_standard_prior(tmp_path):
    model = mixture_model()
    model.save_pretrained(tmp_path / "m")
    loaded = VAE.from_pretrained(tmp_path / "m")
    assert loaded.config["prior"] == "class-mixture"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    VAE(latent_dim=3, channels=4, hidden_dim=16, latent_map_points=0).save_pretrained(
        tmp_path / "o"
    )
    config = json.loads((tmp_path / "o" / "config.json").read_text())
    del config["prior"]  # what every model saved before the option had
    (tmp_path / "o" / "config.json").write_text(json.dumps(config))
    old = VAE.from_pretrained(tmp_path / "o")
    assert old.config["prior"] == "standard" and isinstance(old.prior, StandardNormalPrior)


def test_a_prior_whose_weights_are_not_frequencies_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    mixture_model().save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["prior.log_weights"] = torch.zeros(10)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(InvalidModelError, match="log_weights"):
        VAE.from_pretrained(tmp_path)


def test_a_mixture_trains_resumes_and_its_option_is_checked(tmp_path):
    config = tiny_config(tmp_path, prior="class-mixture", flow_steps=1, max_steps=4,
                         latent_map_points=20)  # fmt: skip
    result = run(config)
    model = VAE.from_pretrained(result.final_dir)
    assert model.config["prior"] == "class-mixture" and model.prior.can_draw_digits
    weights = model.prior.log_weights.exp()
    assert weights.sum().item() == pytest.approx(1.0) and (weights > 0.05).all()
    assert generate_digit(model, 3, 4, seed=0).shape == (4, 1, 28, 28)
    metrics = json.loads((result.final_dir / "metrics.json").read_text())
    assert metrics["digit_temperature"] == MIXTURE_DIGIT_TEMPERATURE
    assert metrics["digit_accuracy"] is not None
    with pytest.raises(ConfigError, match="prior: saved 'class-mixture' vs now 'standard'"):
        run(tiny_config(tmp_path, resume=True, flow_steps=1, prior="standard"))
    with pytest.raises(ConfigError, match="prior: saved 'class-mixture' vs now 'standard'"):
        run(tiny_config(tmp_path, exp_name="tuned", init_from=str(result.final_dir),
                        flow_steps=1))  # fmt: skip
    tuned = run(tiny_config(tmp_path, exp_name="tuned2", init_from=str(result.final_dir),
                            flow_steps=1, prior="class-mixture", max_steps=2))  # fmt: skip
    assert isinstance(VAE.from_pretrained(tuned.final_dir).prior, ClassMixturePrior)
