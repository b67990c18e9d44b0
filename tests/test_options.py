"""Training options: flags, config files, the GenZoo config.ini migration and their errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from vae_hub.cli.train import build_parser, parse_args
from vae_hub.errors import ConfigError
from vae_hub.training.options import FIELDS, TrainConfig

from .conftest import ROOT

GENZOO_INI = (ROOT / "configs" / "genzoo.ini").read_text(encoding="utf-8")  # the original


def test_every_field_has_exactly_one_kebab_case_flag():
    flags = {
        opt
        for action in build_parser()._actions
        for opt in action.option_strings
        if opt.startswith("--") and not opt.startswith("--no-")
    }
    expected = {"--" + name.replace("_", "-") for name in FIELDS} | {"--config", "--help"}
    assert flags == expected
    for name in (
        "epochs",
        "batch_size",
        "lr",
        "latent_dim",
        "arch",
        "exp_name",
        "data_dir",
        "seed",
        "max_steps",
        "device",
        "resume",
        "dry_run",
    ):
        assert name in FIELDS


def test_defaults_without_flags():
    assert parse_args([]) == TrainConfig()


def test_flags_are_parsed_and_typed():
    config = parse_args(
        [
            "--epochs",
            "3",
            "--lr",
            "0.002",
            "--arch",
            "mlp",
            "--max-steps",
            "7",
            "--resume",
            "--hidden-dim",
            "none",
            "--no-download",
        ]
    )
    assert (config.epochs, config.lr, config.arch, config.max_steps) == (3, 0.002, "mlp", 7)
    assert config.resume is True and config.download is False and config.hidden_dim is None


@pytest.mark.parametrize(
    "argv",
    [
        ["--epochs", "ten"],
        ["--arch", "resnet"],
        ["--lr", "-1"],
        ["--batch-size", "0"],
        ["--epochs", "2.5"],
        ["--bogus", "1"],
        ["--weight-decay", "-0.1"],
        ["--ema-decay", "1"],
        ["--resume", "--init-from", "user/model"],
        ["--flow-steps", "-1"],
        ["--arch", "mlp", "--flow-steps", "2"],
    ],
)
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises((SystemExit, ConfigError)) as info:
        parse_args(argv)
    if isinstance(info.value, SystemExit):
        assert info.value.code == 2


def test_genzoo_config_ini_is_migrated(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text(GENZOO_INI)
    config = parse_args(["--config", str(ini)])
    assert config.lr == 1e-3 and config.epochs == 10 and config.batch_size == 30
    assert config.exp_name == "mnist" and config.latent_dim == 20 and config.latent_map_points == 5
    assert config.checkpoint_every == 2 and config.image_every == 10
    assert config.device == "auto" and config.arch == "genzoo"


def test_flags_override_the_config_file(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text(GENZOO_INI)
    config = parse_args(["--config", str(ini), "--arch", "conv", "--epochs", "2"])
    assert config.arch == "conv" and config.epochs == 2 and config.batch_size == 30


@pytest.mark.parametrize(
    "text, message",
    [
        (
            GENZOO_INI.replace("z_dim =20", "z_dims = 20"),
            r"\[MODEL_VARIABLES\] z_dims: unknown key",
        ),
        (GENZOO_INI.replace("batch_size = 30", "batch_size = many"), "batch_size expects int"),
        (GENZOO_INI.replace("dataset = mnist", "dataset = cifar"), "only 'mnist'"),
        (GENZOO_INI.replace("gpu = 0", "gpu = yes"), "GPU index"),
        (GENZOO_INI + "[EXTRA]\nfoo = 1\n", r"\[EXTRA\] foo: unknown key"),
        (GENZOO_INI.replace("epochs =10", "epochs = 0"), "epochs must be >= 1"),
        ("not an ini", "not a valid config.ini"),
    ],
)
def test_bad_config_ini_is_a_clear_error(tmp_path, text, message):
    ini = tmp_path / "config.ini"
    ini.write_text(text)
    with pytest.raises(ConfigError, match=message):
        parse_args(["--config", str(ini)])


def test_gpu_index_maps_to_a_device(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text(GENZOO_INI.replace("gpu = 0", "gpu = 1"))
    assert parse_args(["--config", str(ini)]).device == "cuda:1"
    ini.write_text(GENZOO_INI.replace("gpu = 0", "gpu = -1"))
    assert parse_args(["--config", str(ini)]).device == "cpu"


def test_json_and_toml_config_files(tmp_path):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(dataclasses.asdict(TrainConfig(epochs=4, arch="mlp"))))
    assert parse_args(["--config", str(saved)]) == TrainConfig(epochs=4, arch="mlp")
    toml = tmp_path / "run.toml"
    toml.write_text("epochs = 3\nbatch-size = 64\nlr = 0.01\nhidden_dim = 100\n")
    config = parse_args(["--config", str(toml)])
    assert (config.epochs, config.batch_size, config.lr, config.hidden_dim) == (3, 64, 0.01, 100)


@pytest.mark.parametrize(
    "content, message",
    [
        ({"epochs": 3, "learning_rate": 0.1}, "unknown option 'learning_rate'"),
        ({"epochs": "3"}, "epochs expects int"),
        ({"resume": 1}, "resume expects bool"),
        ({"epochs": True}, "epochs expects int"),
    ],
)
def test_bad_json_config(tmp_path, content, message):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=message):
        parse_args(["--config", str(path)])


def test_missing_and_unknown_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse_args(["--config", str(tmp_path / "nope.ini")])
    (tmp_path / "x.yaml").write_text("a: 1")
    with pytest.raises(ConfigError, match=".json, .toml or GenZoo .ini"):
        parse_args(["--config", str(tmp_path / "x.yaml")])


def test_help_lists_every_option_with_its_default():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    for name in FIELDS:
        assert "--" + name.replace("_", "-") in proc.stdout
    assert "(default: 10)" in proc.stdout and "(default: conv)" in proc.stdout


def test_bad_config_through_train_py_is_one_line_exit_2(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text(GENZOO_INI.replace("z_dim =20", "zdim = 20"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--config", str(ini)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "zdim: unknown key" in proc.stderr


def test_the_shipped_recipe_file_is_the_bundled_models_recipe():
    """`python train.py --config configs/bundled.toml` trains what the bundled model was
    trained with: every option that is part of a recipe equals its training record's."""
    from vae_hub.files.bundled import bundled_model_path
    from vae_hub.training.options import NOT_RECIPE

    record = json.loads((bundled_model_path() / "training.json").read_text())
    config = parse_args(["--config", str(ROOT / "configs" / "bundled.toml")]).to_dict()
    recipe = {k: v for k, v in config.items() if k in record["config"] and k not in NOT_RECIPE}
    assert recipe == {k: record["config"][k] for k in recipe}
    assert len(recipe) > 15
    assert record["command"] == "python train.py --config configs/bundled.toml"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "inf"], "lr must be a finite number, got inf"),
        (["--lr", "nan"], "lr must be a finite number, got nan"),
        (["--max-minutes", "inf"], "max_minutes must be a finite number"),
        (["--kl-warmup-epochs", "inf"], "kl_warmup_epochs must be a finite number"),
        (["--weight-decay", "1e999"], "weight_decay must be a finite number"),
        (["--seed", "-1"], "seed must be >= 0"),
        (["--seed", "4294967296"], "seed must be < 4294967296"),
    ],
)
def test_floats_are_finite_and_the_seed_fits_32_bits(argv, message):
    with pytest.raises(ConfigError, match=message):
        parse_args(argv)


def test_the_largest_seed_is_accepted():
    assert parse_args(["--seed", str(2**32 - 1)]).seed == 2**32 - 1


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("run.json", '{"lr": NaN}', "NaN is not a number JSON allows"),
        ("run.json", '{"lr": Infinity}', "Infinity is not a number JSON allows"),
        ("run.json", '{"lr": 1e999}', "overflows"),
        ("run.json", '{"epochs": 2, "epochs": 3}', "duplicate key"),
        ("run.json", '{"epochs": ' + "[" * 30_000 + "]" * 30_000 + "}", "nested too deeply"),
        ("run.toml", "lr = inf\n", "lr must be a finite number, got inf"),
        ("run.toml", "lr = nan\n", "lr must be a finite number, got nan"),
        ("run.toml", "epochs = " + "[" * 10_000 + "]" * 10_000 + "\n", "nested too deeply"),
        ("run.json", json.dumps({"exp_name": "x" * 70_000}), "larger than 65,536 bytes"),
        ("run.toml", "seed = 4294967296\n", "seed must be < 4294967296"),
    ],
)
def test_config_files_are_read_as_strictly_as_config_json(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        parse_args(["--config", str(path)])


def test_a_bad_config_file_through_train_py_is_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 30_000 + "]" * 30_000)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert str(path) in proc.stderr and "nested too deeply" in proc.stderr
