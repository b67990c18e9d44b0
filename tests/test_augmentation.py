"""Shift augmentation (--augment-shift): the shifts, the biases that tell the networks, and a
run that uses them resuming exactly and saving the plain model."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from vae_hub import VAE
from vae_hub.errors import ConfigError
from vae_hub.training.augmentation import ShiftAugmentation, shift_images, shift_of, shift_table
from vae_hub.training.checkpoints import load_checkpoint
from vae_hub.training.loop import run

from .conftest import tiny_config


def test_the_shift_table_starts_with_no_shift_and_holds_every_shift_once():
    table = shift_table(2)
    assert table.shape == (25, 2) and table[0].tolist() == [0, 0]
    assert len({tuple(row) for row in table.tolist()}) == 25
    assert table.abs().max().item() == 2


def test_each_image_moves_by_its_own_offset_and_ink_is_not_wrapped():
    x = torch.rand(4, 1, 28, 28)
    offsets = torch.tensor([[0, 0], [1, -2], [-2, 2], [2, 0]])
    moved = shift_images(x, offsets, max_shift=2)
    for image, (dy, dx), out in zip(x, offsets.tolist(), moved, strict=True):
        padded = F.pad(image, (2, 2, 2, 2))  # zeros come in; nothing wraps around
        assert torch.equal(out, padded[:, 2 - dy : 30 - dy, 2 - dx : 30 - dx])
    assert torch.equal(moved[0], x[0])
    assert moved[1, 0, 1, 0].item() == x[1, 0, 0, 2].item()  # down 1, left 2
    assert moved[1, 0, 0].abs().sum() == 0  # the row that moved in is empty


def test_the_no_shift_biases_are_the_plain_networks():
    torch.manual_seed(0)
    model = VAE(latent_dim=4, channels=4, hidden_dim=32, flow_steps=2, prior="class-mixture")
    augmentation = ShiftAugmentation(model, max_shift=1, share=0.5)
    with torch.no_grad():
        for table in (augmentation.encoder_hidden, augmentation.decoder_hidden,
                      augmentation.decoder_map):  # fmt: skip
            table.weight[1:].normal_()
    x = torch.rand(16, 1, 28, 28)
    labels = torch.arange(16) % 10
    shifted, biases = augmentation(x, torch.Generator().manual_seed(0))
    kept = (shifted == x).flatten(1).all(1) & (biases.decoder_map == 0).all(1)
    assert 0 < kept.sum() < 16  # about half the batch is moved, the rest is not
    plain = model(x, torch.Generator().manual_seed(1), labels)
    unshifted = augmentation.biases(torch.zeros(16, dtype=torch.long))  # all "not shifted"
    told = model(x, torch.Generator().manual_seed(1), labels, unshifted)
    for a, b in zip(plain, told, strict=True):
        assert torch.equal(a, b)
    moved = model(x, torch.Generator().manual_seed(1), labels, biases)
    assert not torch.equal(moved[0][~kept], plain[0][~kept])  # the biases do reach the networks


def test_shift_augmentation_needs_the_conv_arch_and_a_share_below_one(tmp_path):
    with pytest.raises(ConfigError, match="augment_shift needs the conv arch"):
        tiny_config(tmp_path, arch="mlp", hidden_dim=None, augment_shift=2)
    with pytest.raises(ConfigError, match="augment_share must be < 1"):
        tiny_config(tmp_path, augment_shift=2, augment_share=1.0)
    with pytest.raises(ConfigError, match="augment_shift must be < 5"):
        tiny_config(tmp_path, augment_shift=5)


def test_a_run_with_shifts_resumes_exactly_and_saves_the_plain_model(tmp_path):
    options = dict(latent_map_points=0, augment_shift=2, flow_steps=2, prior="class-mixture",
                   eval="none")  # fmt: skip
    straight = run(tiny_config(tmp_path, exp_name="straight", **options))
    first = run(tiny_config(tmp_path, exp_name="split", max_steps=5, **options))
    saved = load_checkpoint(first.run_dir).augmentation
    assert saved is not None and shift_of(saved) == 2
    assert saved["decoder_map.weight"][0].abs().sum() == 0  # "not shifted" stays the plain model
    assert saved["decoder_map.weight"][1:].abs().sum() > 0  # the shifts' biases were trained
    with pytest.raises(ConfigError, match="trained with --augment-shift 2, not 1"):
        other = {**options, "augment_shift": 1}
        run(tiny_config(tmp_path, exp_name="split", resume=True, **other))
    resumed = run(tiny_config(tmp_path, exp_name="split", resume=True, **options))
    w1 = load_file(str(straight.final_dir / "model.safetensors"))
    w2 = load_file(str(resumed.final_dir / "model.safetensors"))
    assert w1.keys() == w2.keys()
    for key in w1:
        assert torch.equal(w1[key], w2[key]), key
    config = json.loads((resumed.final_dir / "config.json").read_text())
    assert "augment_shift" not in config  # the saved model is the plain architecture
    assert VAE.from_pretrained(resumed.final_dir).config["flow_steps"] == 2
    card = (resumed.final_dir / "README.md").read_text()
    assert "| Augmentation | 50% of each batch shifted by up to 2 pixels" in card
