"""Migrating from GenZoo: the original repository's config.ini, read as our options.

GenZoo trained its VAE from a config.ini with three sections (MODEL_PARAMETERS,
MODEL_VARIABLES, SAVE_PARAMETERS). `python train.py --config config.ini` reads one: each key
maps to an option (values stay text, checked like flags), and the file also selects
arch="genzoo", the model it trained, so a migrated run reproduces the original.
"""

from __future__ import annotations

import configparser
from pathlib import Path

from ..errors import ConfigError

# GenZoo config.ini: (section, key) -> our field. `gpu` and `dataset` are handled apart.
GENZOO_KEYS = {
    ("MODEL_PARAMETERS", "lr"): "lr",
    ("MODEL_PARAMETERS", "epochs"): "epochs",
    ("MODEL_PARAMETERS", "batch_size"): "batch_size",
    ("MODEL_VARIABLES", "exp_name"): "exp_name",
    ("MODEL_VARIABLES", "z_dim"): "latent_dim",
    ("MODEL_VARIABLES", "t_sne_points"): "latent_map_points",
    ("SAVE_PARAMETERS", "model_save_frequency"): "checkpoint_every",
    ("SAVE_PARAMETERS", "image_print_frequency"): "image_every",
}
GENZOO_EXTRA = {("MODEL_VARIABLES", "gpu"), ("MODEL_VARIABLES", "dataset")}


def read_genzoo_ini(path: Path, text: str) -> dict[str, tuple[str, str]]:
    """Our options from a GenZoo config.ini, `text` being the file `path` holds: option name
    -> (text value, where it was written, e.g. "config.ini [MODEL_VARIABLES] z_dim").
    `--arch conv` on the command line switches to our architecture."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep key case so typos are reported as written
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as e:
        raise ConfigError(f"{path}: not a valid config.ini ({e})") from e
    options = {"arch": ("genzoo", f"{path}")}
    for section in parser.sections():
        for key, value in parser.items(section):
            where = f"{path} [{section}] {key}"
            if (section, key) in GENZOO_KEYS:
                options[GENZOO_KEYS[(section, key)]] = (value, where)
            elif (section, key) == ("MODEL_VARIABLES", "dataset"):
                if value.strip().lower() != "mnist":
                    raise ConfigError(f"{where}: only 'mnist' is supported, got {value!r}")
            elif (section, key) == ("MODEL_VARIABLES", "gpu"):
                options["device"] = (gpu_to_device(value, where), where)
            else:
                known = sorted(f"[{s}] {k}" for s, k in (*GENZOO_KEYS, *GENZOO_EXTRA))
                raise ConfigError(
                    f"{where}: unknown key; a GenZoo config.ini has {', '.join(known)}"
                )
    return options


def gpu_to_device(value: str, where: str) -> str:
    """GenZoo's `gpu = N`: GPU N when CUDA is there. 0 maps to "auto" so the stock config
    still runs on a CPU-only machine; a negative number means CPU."""
    try:
        index = int(value)
    except ValueError:
        raise ConfigError(f"{where}: expected a GPU index (integer), got {value!r}") from None
    if index < 0:
        return "cpu"
    return "auto" if index == 0 else f"cuda:{index}"
