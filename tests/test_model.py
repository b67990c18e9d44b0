"""The VAE module: API, shapes, eval determinism, save/load round trip and every load error."""

from __future__ import annotations

import json
import pickle
import re

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from vae_hub import VAE, InvalidModelError, ModelNotFoundError, generate_digit, sample
from vae_hub.model.losses import kl_divergence
from vae_hub.model.networks import GenZooDecoder, GenZooEncoder, ResBlock

ARCHS = ["conv", "genzoo", "mlp"]


def small(arch: str, **kw) -> VAE:
    return VAE(arch=arch, latent_dim=6, channels=4, hidden_dim=16, latent_map_points=10, **kw)


@pytest.mark.parametrize("arch", ARCHS)
def test_encode_decode_forward_shapes(arch):
    model = small(arch).eval()
    x = torch.rand(5, 1, 28, 28)
    q = model.encode(x)
    mu, logvar = q.mu, q.logvar
    assert mu.shape == logvar.shape == (5, 6)
    assert model.decode(mu).shape == (5, 1, 28, 28)
    logits, kl = model(x)
    assert logits.shape == (5, 1, 28, 28) and kl.shape == (5,)
    assert torch.equal(q.centre(), mu)  # without a flow the centre is the mean
    assert model.latent_dim == 6


@pytest.mark.parametrize("arch", ARCHS)
def test_eval_mode_is_deterministic_and_decodes_the_mean(arch):
    model = small(arch)
    model.train()
    model(torch.rand(8, 1, 28, 28))  # move BatchNorm statistics away from their init
    model.eval()
    x = torch.rand(3, 1, 28, 28)
    first, kl = model(x)
    second, _ = model(x)
    assert torch.equal(first, second)
    q = model.encode(x)
    assert torch.allclose(first, model.decode(q.mu), atol=1e-6)
    assert torch.allclose(kl, kl_divergence(q.mu, q.logvar))


@pytest.mark.parametrize("flow_steps", [0, 2])
def test_training_mode_samples_z_from_the_given_generator(flow_steps):
    model = small("conv", flow_steps=flow_steps).train()
    x = torch.rand(2, 1, 28, 28)
    a = model(x, torch.Generator().manual_seed(1))[0]
    b = model(x, torch.Generator().manual_seed(1))[0]
    c = model(x, torch.Generator().manual_seed(2))[0]
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_flow_model_eval_decodes_the_flowed_centre():
    model = small("conv", flow_steps=2).eval()
    x = torch.rand(3, 1, 28, 28)
    q = model.encode(x)
    centre, mu = q.centre(), q.mu
    assert centre.shape == mu.shape and not torch.allclose(centre, mu)  # the flow moves it
    logits, kl = model(x)
    assert torch.allclose(logits, model.decode(centre), atol=1e-6)
    # KL term at eps = 0: log q(z|x) - log p(z) at that point, a finite number per image
    assert kl.shape == (3,) and torch.isfinite(kl).all()


def test_the_posteriors_log_q_is_the_flow_density():
    """log q(z|x) of the posterior's draws equals the Gaussian density of eps minus the log
    |det dz/deps| computed by autograd (the change of variables the ELBO relies on)."""
    torch.manual_seed(0)
    model = small("conv", flow_steps=3).double().eval()
    for step in model.flow.steps:  # leave the near-identity start so the test can fail
        torch.nn.init.normal_(step.out.weight, std=0.3)
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64)
    q = model.encode(x)
    eps = torch.randn(1, 1, 6, dtype=torch.float64)
    sample = q.at(eps)
    jacobian = torch.autograd.functional.jacobian(
        lambda e: q.at(e.view(1, 1, 6)).z.view(6), eps.view(6)
    )
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum() - torch.logdet(jacobian)
    assert torch.allclose(sample.log_q.view(()), expected)
    log_p = torch.distributions.Normal(0.0, 1.0).log_prob(sample.z).sum()
    kl = model.prior.kl(q, sample)
    assert torch.allclose(kl.view(()), sample.log_q.view(()) - log_p)


def test_flow_needs_the_conv_arch_and_a_count():
    with pytest.raises(ValueError, match="flow_steps.*needs the conv arch"):
        small("mlp", flow_steps=1)
    with pytest.raises(ValueError, match="flow_steps.*in 0..16"):
        small("conv", flow_steps=-1)
    with pytest.raises(ValueError, match="flow_steps.*must be int"):
        small("conv", flow_steps=True)


def test_default_config_and_no_dropout_in_default_arch():
    model = VAE()
    assert model.config == {
        "latent_dim": 20,
        "arch": "conv",
        "channels": 32,
        "half_res_blocks": 1,
        "hidden_dim": model.config["hidden_dim"],
        "latent_map_points": 2000,
        "binarized": False,
        "flow_steps": 0,
        "prior": "standard",
    }
    assert not any(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_genzoo_arch_is_the_original_layout():
    enc, dec = GenZooEncoder(20), GenZooDecoder(20)
    convs = [m for m in enc.conv if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 16), (16, 32), (32, 16)]
    assert (enc.fc1.in_features, enc.fc1.out_features, enc.fc2.out_features) == (784, 512, 256)
    assert enc.drop.p == 0.2 and isinstance(enc.bn1, torch.nn.BatchNorm1d)
    assert (dec.fc3.in_features, dec.fc3.out_features, dec.fc4.out_features) == (20, 256, 512)
    deconvs = [m for m in dec.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels, d.kernel_size[0]) for d in deconvs] == [
        (16, 32, 3),
        (32, 16, 8),
        (16, 1, 15),
    ]


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(2, 28, 28), r"\(N, 1, 28, 28\)"),
        (torch.rand(2, 3, 28, 28), r"\(N, 1, 28, 28\)"),
        (torch.rand(2, 1, 32, 32), r"\(N, 1, 28, 28\)"),
        (torch.randint(0, 255, (2, 1, 28, 28), dtype=torch.uint8), "float"),
        (torch.rand(2, 1, 28, 28) * 255, r"\[0, 1\]"),
        ([[0.0]], "tensor"),
    ],
)
def test_encode_rejects_wrong_images(bad, message):
    with pytest.raises(ValueError, match=message):
        small("conv").encode(bad)


def test_decode_rejects_wrong_latents():
    model = small("conv")
    with pytest.raises(ValueError, match=r"\(N, 6\)"):
        model.decode(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="float"):
        model.decode(torch.zeros(2, 6, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arch": "resnet"}, "arch"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"latent_dim": 2.5}, "latent_dim"),
        ({"latent_dim": True}, "latent_dim"),
        ({"binarized": "yes"}, "binarized"),
        ({"half_res_blocks": -1}, "'half_res_blocks' must be in 0\\.\\.8"),
        ({"half_res_blocks": 9}, "'half_res_blocks' must be in 0\\.\\.8"),
    ],
)
def test_constructor_validates_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(**kwargs)


@pytest.mark.parametrize("arch, flow_steps", [(a, 0) for a in ARCHS] + [("conv", 2)])
def test_save_then_from_pretrained_gives_equal_outputs(tmp_path, arch, flow_steps):
    model = small(arch, flow_steps=flow_steps)
    model.train()
    model(torch.rand(8, 1, 28, 28))
    model.prior.class_means.normal_()
    model.prior.class_counts.fill_(3)
    model.eval()
    model.save_pretrained(tmp_path / "m", decoder_onnx=False)  # tests/test_onnx.py: with it
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    loaded = VAE.from_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.config == model.config
    x = torch.rand(4, 1, 28, 28)
    for a, b in zip(model(x), loaded(x), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(loaded.prior.class_means, model.prior.class_means)
    assert loaded.prior.can_draw_digits


def test_a_config_from_before_flows_loads_as_a_gaussian_posterior(tmp_path):
    small("conv").save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["flow_steps"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = VAE.from_pretrained(tmp_path)
    assert loaded.flow is None and loaded.config["flow_steps"] == 0


def _blocks_at_14x14(model: VAE) -> tuple[int, int]:
    """(encoder, decoder) residual blocks that see a 14x14 map, found by running them."""
    seen = {"encoder": 0, "decoder": 0}

    def count(net):
        def hook(module, inputs, output):
            if inputs[0].shape[-1] == 14:
                seen[net] += 1

        return hook

    for net in seen:
        for module in getattr(model, net).modules():
            if isinstance(module, ResBlock):
                module.register_forward_hook(count(net))
    model(torch.rand(2, 1, 28, 28))
    return seen["encoder"], seen["decoder"]


@pytest.mark.parametrize("blocks", [0, 2])
def test_half_res_blocks_sets_the_depth_at_14x14_and_round_trips(tmp_path, blocks):
    model = small("conv", half_res_blocks=blocks, flow_steps=1)
    assert _blocks_at_14x14(model) == (blocks, blocks)
    default = small("conv", flow_steps=1)
    assert _blocks_at_14x14(default) == (1, 1)
    per_block = sum(p.numel() for p in ResBlock(4).parameters())
    size = sum(p.numel() for p in model.parameters())
    assert size == sum(p.numel() for p in default.parameters()) + 2 * (blocks - 1) * per_block
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["half_res_blocks"] == blocks
    assert f"({'none' if blocks == 0 else blocks} at 14x14" in (tmp_path / "README.md").read_text()
    loaded = VAE.from_pretrained(tmp_path).eval()
    x = torch.rand(3, 1, 28, 28)
    for a, b in zip(model.eval()(x), loaded(x), strict=True):
        assert torch.equal(a, b)


def test_a_config_from_before_half_res_blocks_loads_with_one_block(tmp_path):
    model = small("conv")
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["half_res_blocks"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = VAE.from_pretrained(tmp_path)
    assert loaded.config == model.config and loaded.config["half_res_blocks"] == 1
    assert _blocks_at_14x14(loaded) == (1, 1)


def test_model_card_of_a_bare_save_is_real(tmp_path):
    small("conv").save_pretrained(tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "More Information Needed" not in text
    front = yaml.safe_load(text.split("---")[1])
    assert front["library_name"] == "vae-hub"
    assert front["license"] == "mit"
    assert front["datasets"] == ["mnist"]
    assert front["pipeline_tag"] == "unconditional-image-generation"
    assert "vae" in front["tags"]
    assert "VAE.from_pretrained" in text


@pytest.fixture
def saved(tmp_path):
    folder = tmp_path / "model"
    small("conv").save_pretrained(folder)
    return folder


def _edit_config(folder, **changes):
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"latent_dims": 3}, "unknown config field"),
        ({"latent_dim": "6"}, "'latent_dim' must be int"),
        ({"arch": "transformer"}, "'arch' must be one of"),
        ({"model_type": "bert"}, "not a vae-hub VAE config"),
    ],
)
def test_bad_config_json_is_one_clear_error(saved, changes, message):
    _edit_config(saved, **changes)
    with pytest.raises(InvalidModelError, match=message):
        VAE.from_pretrained(saved)


def test_config_json_that_is_not_json(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(InvalidModelError, match="config.json: cannot read it as JSON"):
        VAE.from_pretrained(saved)


def test_weights_that_do_not_match_the_config(saved):
    _edit_config(saved, latent_dim=7)
    with pytest.raises(InvalidModelError, match="does not match its config.json.*shapes"):
        VAE.from_pretrained(saved)


def test_missing_and_unexpected_tensors(saved):
    state = load_file(saved / "model.safetensors")
    dropped = dict(state)
    dropped.pop("decoder.fc.0.weight")
    save_file(dropped, saved / "model.safetensors")
    with pytest.raises(InvalidModelError, match="missing tensors: decoder.fc.0.weight"):
        VAE.from_pretrained(saved)
    save_file({**state, "extra.weight": torch.zeros(1)}, saved / "model.safetensors")
    with pytest.raises(InvalidModelError, match="unexpected tensors: extra.weight"):
        VAE.from_pretrained(saved)


def test_truncated_weights(saved):
    data = (saved / "model.safetensors").read_bytes()
    (saved / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelError, match="truncated or corrupt"):
        VAE.from_pretrained(saved)


def test_a_pickle_in_place_of_the_weights_is_never_unpickled(saved, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("ran",))

    (saved / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(InvalidModelError, match="safetensors"):
        VAE.from_pretrained(saved)
    assert not marker.exists()


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors"])
def test_missing_file(saved, missing):
    (saved / missing).unlink()
    with pytest.raises(ModelNotFoundError, match=missing):
        VAE.from_pretrained(saved)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model folder"):
        VAE.from_pretrained(tmp_path / "nowhere")


def test_strict_false_is_refused(saved):
    with pytest.raises(ValueError, match="strict"):
        VAE.from_pretrained(saved, strict=False)


def test_the_card_states_a_fine_tuning_recipe_without_machine_options(tmp_path):
    from vae_hub.hub.card import render_card
    from vae_hub.training.options import recipe_command

    config = {"epochs": 20, "lr": 0.002, "ema_decay": 0.999, "init_from": "user/start",
              "threads": 1, "data_dir": "/somewhere", "device": "cpu"}  # fmt: skip
    training = {"config": config, "epochs": 20, "steps": 9360, "train_seconds": 60.0,
                "device": "cpu", "torch": "2", "history": [],
                "command": recipe_command(config)}  # fmt: skip
    text = str(render_card(small("conv"), training=training))
    command = re.search(r"```bash\n(python train.py.*)\n```", text).group(1)
    assert command == (
        "python train.py --epochs 20 --lr 0.002 --ema-decay 0.999 --init-from user/start"
    )
    assert "the weights of `user/start`" in text and "moving average (decay 0.999)" in text


def test_a_model_saved_by_version_0_1_0_loads_and_gives_the_same_outputs():
    """tests/data/saved-by-0.1.0/ was written by vae-hub 0.1.0, before the standard prior
    owned its per-digit Gaussians: its file names them `class_means`, ... at the top level.
    They load under their current names, and the model computes what it computed then."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .conftest import DATA_DIR

    folder = DATA_DIR / "saved-by-0.1.0"
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:
        assert "class_means" in f.keys() and "prior.class_means" not in f.keys()  # noqa: SIM118
    expected = load_file(DATA_DIR / "saved-by-0.1.0.expected.safetensors")
    model = VAE.from_pretrained(folder)
    logits, kl = model(expected["input"])
    assert torch.equal(logits, expected["logits"]) and torch.equal(kl, expected["kl"])
    assert torch.equal(model.encode(expected["input"]).centre(), expected["centre"])
    assert torch.equal(generate_digit(model, 3, 4, seed=0), expected["digits"])
    assert torch.equal(sample(model, 4, seed=0), expected["samples"])


def test_a_file_with_both_an_old_and_a_current_name_is_refused(tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from .conftest import DATA_DIR

    shutil.copytree(DATA_DIR / "saved-by-0.1.0", tmp_path / "m")
    state = load_file(tmp_path / "m" / "model.safetensors")
    state["prior.class_means"] = state["class_means"].clone()
    save_file(state, tmp_path / "m" / "model.safetensors")
    with pytest.raises(InvalidModelError, match="holds both class_means"):
        VAE.from_pretrained(tmp_path / "m")
