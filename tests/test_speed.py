"""`vae-hub speed`: the step-time comparison's machinery (its numbers go in the README)."""

from __future__ import annotations

import json

import pytest
import torch

from vae_hub.cli import main
from vae_hub.cli.speed import Trainer, bundled_recipe, measure, variant_config
from vae_hub.files.bundled import bundled_model_path
from vae_hub.files.mnist import load_mnist
from vae_hub.model.vae import VAE
from vae_hub.training.options import TrainConfig

from .conftest import DATA_DIR


def test_the_recipe_is_the_bundled_models():
    """The variants start from the options the bundled model was trained with: the same
    networks, and nothing about where that machine kept its files."""
    recipe = bundled_recipe()
    config = json.loads((bundled_model_path() / "config.json").read_text())
    model_options = TrainConfig(**recipe).model_config()
    assert {k: config[k] for k in ("arch", "latent_dim", "flow_steps", "prior")} == {
        k: model_options[k] for k in ("arch", "latent_dim", "flow_steps", "prior")
    }
    assert not {"data_dir", "output_dir", "exp_name", "compile"} & set(recipe)


def test_variants_set_the_options_they_name_and_train_the_real_step():
    train = load_mnist(DATA_DIR, train=True, download=False)
    plain, shifted = (
        Trainer(variant_config(bundled_recipe(), flags, str(DATA_DIR)), train)
        for flags in ("--augment-shift 0 --batch-size 8", "--augment-shift 2 --batch-size 8")
    )
    assert plain.augmentation is None and shifted.augmentation is not None
    assert plain.config.batch_size == shifted.config.batch_size == 8
    before = [p.detach().clone() for p in shifted.model.parameters()]
    times = measure([plain, shifted], blocks=3, block_steps=2, warmup_steps=1)
    assert [len(row) for row in times] == [3, 3] and all(t > 0 for row in times for t in row)
    assert plain.step == shifted.step == 1 + 3 * 2
    moved = [not torch.equal(a, b) for a, b in zip(before, shifted.model.parameters(), strict=True)]
    assert all(moved)  # every weight trained, the mixture's included
    assert isinstance(shifted.model, VAE) and shifted.ema is not None  # the recipe's EMA


def test_speed_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "speed.json"
    code = main(
        ["speed", "--blocks", "2", "--block-steps", "1", "--warmup-steps", "0", "--threads",
         "1", "--data-dir", str(DATA_DIR), "--augment-shift 0 --batch-size 8",
         "--augment-shift 1 --batch-size 8", "--out", str(out)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "| --augment-shift 0 --batch-size 8 |" in printed and "| 1.000 |" in printed
    assert "| --augment-shift 1 --batch-size 8 |" in printed and "Machine:" in printed
    epochs = bundled_recipe()["epochs"]
    assert printed.count(f"| {epochs} epochs: ") == 2
    rows = json.loads(out.read_text())["rows"]
    assert [r["variant"] for r in rows] == [
        "--augment-shift 0 --batch-size 8",
        "--augment-shift 1 --batch-size 8",
    ]
    assert all(len(r["seconds_per_step"]) == 2 for r in rows)


@pytest.mark.parametrize(
    "variant, message",
    [
        ("--no-such 1", "variant '--no-such 1': not a train.py option: --no-such 1"),
        ("--augment-shift 9", "variant '--augment-shift 9': augment_shift must be < 5, got 9"),
        ("--arch mlp", "variant '--arch mlp': --flow-steps needs the conv arch"),
        ("--arch cnn", "variant '--arch cnn': argument --arch: invalid choice: 'cnn'"),
        ("--config x.toml", "variant '--config x.toml': --config is not read here"),
        ("--lr 'unclosed", 'variant "--lr \'unclosed": No closing quotation'),
    ],
)
def test_a_bad_variant_is_a_one_line_error_naming_it(variant, message, capsys):
    assert main(["speed", "--data-dir", str(DATA_DIR), "--", variant]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
