"""Metrics: the IWAE bound, active units, Frechet distance, classifier-based scores."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from vae_hub.capabilities.generation import digit_temperature
from vae_hub.evaluation.judge import accuracy, load_judge
from vae_hub.evaluation.metrics import (
    active_units,
    amortisation_gap,
    digit_accuracy,
    frechet_distance,
    iwae_nll,
    iwae_terms,
    negative_elbo,
    probe_accuracy,
)
from vae_hub.evaluation.report import METRICS
from vae_hub.files.mnist import load_mnist

from .conftest import DATA_DIR


def test_frechet_distance_of_gaussian_features():
    torch.manual_seed(0)
    a = torch.randn(4000, 3)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shifted = a + torch.tensor([3.0, 0, 0])
    assert frechet_distance(a, shifted) == pytest.approx(9.0, rel=1e-3)
    scaled = 2 * a  # cov 4I vs I: trace(I + 4I - 2 * 2I) = 3
    assert frechet_distance(a, scaled) == pytest.approx(3.0, rel=0.05)
    assert frechet_distance(a, scaled) == pytest.approx(frechet_distance(scaled, a), rel=1e-6)


def test_iwae_tightens_with_k_and_bounds_the_elbo(trained_model, test_split):
    subset = test_split.subset(100)
    elbo = negative_elbo(trained_model, subset, seed=0).total
    k1 = iwae_nll(trained_model, subset, k=1, seed=0)
    k50 = iwae_nll(trained_model, subset, k=50, seed=0)
    assert k1 == pytest.approx(elbo, rel=0.02)  # one sample: the ELBO itself
    assert k50 < k1


def test_refining_q_per_image_lowers_the_negative_elbo(trained_model, test_split):
    """The amortisation gap: Adam steps on each image's own q(z|x) parameters (the networks
    fixed) lower its negative ELBO; with no steps the two numbers are the same draws."""
    subset = test_split.spread(40)
    before = {k: v.clone() for k, v in trained_model.state_dict().items()}
    unrefined, same = amortisation_gap(trained_model, subset, steps=0, eval_samples=20)
    assert same == pytest.approx(unrefined, abs=1e-9)
    amortised, refined = amortisation_gap(trained_model, subset, steps=30, lr=3e-2,
                                          eval_samples=20)  # fmt: skip
    assert amortised == pytest.approx(unrefined, rel=0.05)
    assert refined < amortised - 0.1
    after = trained_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the networks untouched
    assert all(p.grad is None for p in trained_model.parameters())


def test_a_refined_proposal_tightens_the_iwae_bound(trained_model, test_split):
    """Any q(z|x) gives a bound on the same -log p(x): drawing from q refined per image
    tightens both the ELBO and the IWAE bound, and leaves the networks as they were."""
    subset = test_split.spread(40)
    before = {k: v.clone() for k, v in trained_model.state_dict().items()}
    bounds, elbos = iwae_terms(trained_model, subset, k=20, seed=0)
    assert bounds.mean() == pytest.approx(iwae_nll(trained_model, subset, k=20, seed=0))
    tight, tight_elbos = iwae_terms(trained_model, subset, k=20, seed=0, refine_steps=30,
                                    refine_lr=3e-2)  # fmt: skip
    assert tight.shape == bounds.shape == (40,)
    assert tight_elbos.mean() < elbos.mean() - 0.1  # the proposal's own ELBO tightens
    # this barely trained model's k=20 bound is already nearly tight: no looser, at least
    assert tight.mean() < bounds.mean() + 0.01
    assert (tight <= tight_elbos + 1e-6).all()  # still an IWAE bound under its ELBO
    after = trained_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_active_units_count(trained_model, test_split):
    # The two-epoch test model uses its latents only a little, hence the small threshold.
    assert 0 < active_units(trained_model, test_split, threshold=1e-6) <= 4
    assert 0 <= active_units(trained_model, test_split) <= 4
    assert active_units(trained_model, test_split, threshold=1e9) == 0


def test_evaluation_profiles_report_what_they_computed(trained_model, test_split):
    from vae_hub.evaluation.report import PROFILES, EvalProfile, evaluate_model, format_table

    train = load_mnist(DATA_DIR, train=True, download=False)
    subset = evaluate_model(trained_model, train, test_split, profile="smoke")
    assert subset["profile"] == "smoke" and subset["iwae_images"] == 100
    assert subset["iwae_estimate"] == "split ELBO minus subset gap" and subset["iwae_se"] > 0
    assert subset["probe_train_images"] == min(PROFILES["smoke"].probe_images, len(train))
    assert subset["fd_samples"] == 500 and subset["digit_samples_per_class"] == 20
    assert set(subset["seconds_per_metric"]) >= {"negative_elbo", "iwae_nll", "fd"}
    assert subset["amortisation_gap_images"] == 20 and subset["amortisation_gap_steps"] == 5
    assert {"amortisation_gap", "amortisation_gap_train"} <= set(subset["seconds_per_metric"])
    assert math.isfinite(subset["amortisation_gap"] + subset["amortisation_gap_train"])
    assert "± " in format_table(subset)
    whole = EvalProfile(iwae_k=10, iwae_images=None, fd_samples=500, digit_samples=20,
                        probe_images=1000)  # fmt: skip
    plain = evaluate_model(trained_model, train, test_split, profile=whole)
    assert plain["iwae_estimate"] == "whole split" and plain["iwae_images"] == len(test_split)
    assert "amortisation_gap" not in plain and "amortisation_gap" not in plain["seconds_per_metric"]
    assert plain["iwae_nll"] == pytest.approx(iwae_nll(trained_model, test_split, k=10))
    # the gap estimate and the plain average agree within a few standard errors
    assert abs(subset["iwae_nll"] - plain["iwae_nll"]) < 4 * subset["iwae_se"] + 0.5
    refined = evaluate_model(trained_model, train, test_split,
                             profile=replace(PROFILES["smoke"], iwae_refine_steps=5))  # fmt: skip
    assert refined["iwae_refine_steps"] == 5 and "iwae_refine_steps" not in subset
    assert refined["iwae_estimate"] == "subset average" and refined["iwae_images"] == 100
    assert "refined per image (5 steps)" in format_table(refined)
    known = evaluate_model(trained_model, train, test_split, profile="smoke",
                           elbo=negative_elbo(trained_model, test_split))  # fmt: skip
    assert "negative_elbo" not in known["seconds_per_metric"]
    assert known["negative_elbo"] == subset["negative_elbo"]


def test_judge_scores(trained_model, test_split):
    classifier = load_judge()
    assert accuracy(classifier, test_split) > 0.97  # 99.30% on the full test split
    score = digit_accuracy(trained_model, classifier, per_digit=5, seed=0)
    assert 0 <= score <= 1
    train = load_mnist(DATA_DIR, train=True, download=False)
    assert 0.1 < probe_accuracy(trained_model, train, test_split) <= 1


def test_training_writes_metrics_and_the_card_shows_them(trained_model_dir):
    metrics = json.loads((trained_model_dir / "metrics.json").read_text())
    for key in METRICS:
        assert key in metrics
    assert metrics["profile"] == "smoke" and metrics["iwae_k"] == 10
    card = (trained_model_dir / "README.md").read_text()
    assert (
        "IWAE bound on -log p(x) (k=10: the split's ELBO minus the ELBO-IWAE gap on 100 "
        "images spread through it)" in card
    )
    assert f"{metrics['iwae_nll']:.2f} ± {metrics['iwae_se']:.2f}" in card
    assert f"{metrics['negative_elbo']:.2f}" in card


def test_evaluate_command_prints_json(trained_model_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "vae_hub.cli", "evaluate", str(trained_model_dir), "--data-dir",
         str(DATA_DIR), "--profile", "smoke", "--json", "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout)
    assert metrics["split_size"] == 300 and metrics["iwae_images"] == 100
    assert metrics["iwae_nll"] <= metrics["negative_elbo"] + 5


def test_evaluate_command_table_and_errors(trained_model_dir, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vae_hub.cli", "evaluate", str(trained_model_dir), "--data-dir",
         str(DATA_DIR), "--profile", "smoke", "--out", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0 and "Negative ELBO" in proc.stdout
    assert json.loads((tmp_path / "m.json").read_text())["profile"] == "smoke"
    missing = subprocess.run(
        [sys.executable, "-m", "vae_hub.cli", "evaluate", str(tmp_path / "none"), "--data-dir",
         str(DATA_DIR)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert missing.returncode == 2 and "no model folder" in missing.stderr


def test_bench_runs_end_to_end_on_a_tiny_budget(tmp_path):
    """The benchmark's machinery (its numbers come from the full run in the README)."""
    proc = subprocess.run(
        [sys.executable, "-m", "vae_hub.cli", "bench", "--minutes", "0.03", "--archs", "mlp",
         "conv+iaf+mixture", "--data-dir", str(DATA_DIR), "--output-dir", str(tmp_path),
         "--iwae-k", "5", "--iwae-images", "20", "--fd-samples", "200", "--digit-samples", "5",
         "--quiet", "--out", str(tmp_path / "bench.json")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "| mlp |" in proc.stdout and "| conv+iaf+mixture |" in proc.stdout
    assert "Machine:" in proc.stdout
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]
    names = [(r["name"], r["arch"]) for r in rows]
    assert names == [("mlp", "mlp"), ("conv+iaf+mixture", "conv")]
    assert rows[1]["flow_steps"] == 4 and rows[1]["prior"] == "class-mixture"
    assert all(r["images_per_second"] > 0 and r["parameters"] > 0 for r in rows)


def test_judge_training_refuses_weak_weights(tmp_path, capsys):
    from vae_hub.cli import main

    out = tmp_path / "weights.safetensors"
    argv = ["train-judge", "--data-dir", str(DATA_DIR), "--epochs", "1", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 2
    assert "below 99%" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_shipped_classifier_is_above_99_percent_on_the_full_test_split():
    from .conftest import full_mnist_or_skip

    test = load_mnist(full_mnist_or_skip(), train=False, download=False)
    assert accuracy(load_judge(), test) >= 0.99


def test_the_bundled_model_is_shipped_with_its_evaluation():
    from vae_hub import VAE
    from vae_hub.files.bundled import bundled_model_path

    folder = bundled_model_path()
    metrics = json.loads((folder / "metrics.json").read_text())
    model = VAE.from_pretrained(folder)
    assert model.config["prior"] == "class-mixture" and model.prior.can_draw_digits
    assert model.has_latent_map
    assert metrics["iwae_k"] >= 1000 and metrics["digit_samples_per_class"] >= 1000
    assert metrics["iwae_images"] == metrics["split_size"] == 10_000
    assert metrics["negative_elbo"] > metrics["iwae_nll"] > 0
    assert metrics["digit_accuracy"] >= 0.995 and metrics["digit_accuracy_t1"] >= 0.98
    assert metrics["digit_temperature"] == digit_temperature(model)
    assert (folder / "samples.png").is_file() and (folder / "README.md").is_file()


@pytest.mark.slow
def test_the_bundled_models_metrics_hold_on_the_full_test_split():
    """Re-measure the cheap numbers of the bundled model's metrics.json (same seeds)."""
    from vae_hub import VAE
    from vae_hub.files.bundled import bundled_model_path

    from .conftest import full_mnist_or_skip

    folder = bundled_model_path()
    metrics = json.loads((folder / "metrics.json").read_text())
    model = VAE.from_pretrained(folder)
    test = load_mnist(full_mnist_or_skip(), train=False, download=False)
    assert negative_elbo(model, test, seed=0).total == pytest.approx(
        metrics["negative_elbo"], abs=0.01
    )
    assert digit_accuracy(model, load_judge(), per_digit=200) >= 0.98
