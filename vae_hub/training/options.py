"""Training options: one frozen dataclass whose fields map 1:1 to `--kebab-case` flags and
to the keys of config files.

Precedence is defaults < `--config FILE` < flags given on the command line; `--resume` starts
from the run's saved options. A config file is JSON or TOML with the field names as keys, or
the original GenZoo `config.ini` (`genzoo.py`); unknown keys and wrong types are errors, never
ignored. The options that shape the model are the fields of `vae_hub.model_config.ModelConfig`,
which this class extends: each is declared, and checked, once, there.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from ..errors import ConfigError
from ..evaluation.report import describe_profiles
from ..files.mnist import DEFAULT_DATA_DIR
from ..files.model_files import parse_strict_json
from ..files.regular_files import read_plain_file
from ..model.config import MODEL_FIELDS, ModelConfig, check_value, option
from ..model.device import DEVICE_HELP
from .augmentation import MAX_SHIFT
from .genzoo import read_genzoo_ini

SAVED_OPTIONS = "train_config.json"
# An options file holds a few dozen short lines; nothing larger is read.
MAX_OPTIONS_BYTES = 64 * 1024


@dataclass(frozen=True)
class TrainConfig(ModelConfig):
    """Everything `train.py` can be told: the model's options (`ModelConfig`, declared
    there once) and how to train it. Field docs double as `--help` text."""

    epochs: int = option(10, "number of passes over the training set", low=1)
    batch_size: int = option(128, "images per optimisation step", low=1)
    lr: float = option(1e-3, "Adam learning rate", above=0)
    lr_schedule: str = option(
        "constant", "learning-rate schedule over the run", choices=("constant", "cosine")
    )
    weight_decay: float = option(0.0, "AdamW's decoupled weight decay (0: plain Adam)", low=0)
    augment_shift: int = option(
        0,
        "distribution augmentation (Jun et al. 2020): move a share of the training images by up "
        "to this many pixels and tell the networks the shift, so the model learns shifted "
        "digits beside, not instead of, the unshifted ones (conv arch; the saved model is "
        "the plain one); 0: off",
        low=0,
        below=MAX_SHIFT + 1,
    )
    augment_share: float = option(
        0.5, "share of the training images that --augment-shift moves", above=0, below=1
    )
    ema_decay: float = option(
        0.0,
        "keep an exponential moving average of the weights with this decay (e.g. 0.999) and "
        "evaluate and save it; 0: off",
        low=0,
        below=1,
    )
    init_from: str | None = option(
        None,
        "start from the weights of this model (save_pretrained folder or Hub repo id) with a "
        "fresh optimiser and schedule, i.e. fine-tune it; the model options must match",
    )
    kl_warmup_epochs: float = option(
        0.0, "epochs over which the KL weight rises linearly from 0 to 1 (0: no warm-up)", low=0
    )
    exp_name: str = option("mnist", "run name: outputs go to OUTPUT_DIR/EXP_NAME/")
    output_dir: str = option("experiments", "folder that holds the runs")
    data_dir: str = option(DEFAULT_DATA_DIR, "folder holding MNIST/raw/ (torchvision layout)")
    download: bool = option(True, "download MNIST into --data-dir when it is missing")
    seed: int = option(
        0, "seed for initialisation, shuffling and sampling (0 to 2**32-1)", low=0, below=2**32
    )
    device: str = option("auto", DEVICE_HELP)
    threads: int | None = option(None, "CPU threads for torch (default: torch's choice)", low=1)
    compile: bool = option(False, "torch.compile the model (faster steps after a warm-up)")
    max_steps: int | None = option(None, "stop after this many optimisation steps in all", low=1)
    max_minutes: float | None = option(
        None, "stop after this many minutes of training (evaluation and saving not counted)",
        above=0,
    )  # fmt: skip
    dry_run: bool = option(
        False, "smoke run in seconds: 5 steps, small evaluation subsets, no t-SNE wait"
    )
    resume: bool = option(False, "continue the run in OUTPUT_DIR/EXP_NAME from its last checkpoint")
    overwrite: bool = option(False, "delete an existing run of the same name and start over")
    checkpoint_every: int = option(5, "keep a checkpoint folder every N epochs (and final/)", low=1)
    image_every: int = option(1, "save a reconstruction grid of test digits every N epochs", low=1)
    eval: str = option(
        "quick",
        f"evaluation written to final/metrics.json: {describe_profiles()}, or none",
        choices=("quick", "full", "smoke", "none"),
    )
    progress: bool = option(True, "show tqdm progress bars")
    decoder_onnx: bool = option(
        True,
        "write decoder.onnx beside the final model (the decoder for ONNX Runtime, which "
        "the demo runs in a browser); a few seconds at the end of a run",
    )
    push: str | None = option(None, "after training, publish final/ to this Hub repo (user/name)")
    private: bool = option(False, "make the pushed repo private")
    hub_token: str | None = field(
        default=None,
        repr=False,
        metadata={
            "help": "Hub token for --push (default: HF_TOKEN or the saved login)",
            "secret": True,
        },
    )

    def __post_init__(self) -> None:
        try:
            super().__post_init__()  # the model's options, checked where they are declared
            for f in dataclasses.fields(self):
                if f.name not in MODEL_FIELDS:
                    check_value(f, getattr(self, f.name), f.name)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        if self.augment_shift and self.arch != "conv":
            raise ConfigError(f"augment_shift needs the conv arch, got arch {self.arch!r}")
        if not self.exp_name or "/" in self.exp_name or self.exp_name in (".", ".."):
            raise ConfigError(f"exp_name must be a plain folder name, got {self.exp_name!r}")
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite contradict each other; pick one")
        if self.resume and self.init_from:
            raise ConfigError("--resume continues a run; --init-from starts a new one. Pick one")
        if self.push is not None:
            try:
                validate_repo_id(self.push)
            except HFValidationError as e:
                raise ConfigError(
                    f"--push {self.push!r} is not a Hub repo id (user/name): {e}"
                ) from None

    @classmethod
    def label(cls, name: str) -> str:
        return "--" + name.replace("_", "-")

    def model_config(self, latent_map_points: int | None = None) -> dict[str, Any]:
        """The VAE's constructor arguments (its config.json) these options ask for; the map
        may hold fewer points than asked for (a test split smaller than the option)."""
        options = self.model_options()
        if latent_map_points is not None:
            options["latent_map_points"] = latent_map_points
        return options

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.exp_name

    def to_dict(self) -> dict[str, Any]:
        """The options, minus secrets (the Hub token is never written anywhere)."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not f.metadata.get("secret")
        }


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# Options that describe one invocation rather than the run: a resumed run may change them.
PER_INVOCATION = frozenset(
    {"resume", "overwrite", "progress", "dry_run", "device", "threads", "compile", "max_steps",
     "max_minutes", "push", "private", "hub_token", "decoder_onnx"}
)  # fmt: skip
# Options that say what a checkpoint's position means, so a resumed run may not change them:
# which batches of which epoch's shuffling were done (batch_size; seed, which sets the
# shuffling), where the schedules stand (lr_schedule; kl_warmup_epochs; epochs, which sets
# the length of the cosine schedule, and is checked only with it: a constant-rate run may be
# extended), and what share of the data is shifted (augment_share). The model options (the
# network, --binarize) and --augment-shift are checked against the checkpoint's tensors, and
# the training data against its fingerprint; every other option may change on --resume.
RESUME_FIXED = ("batch_size", "seed", "lr_schedule", "kl_warmup_epochs", "augment_share", "epochs")
# Options that say where things are or how this machine runs, not what is trained: the
# recipe command on a model card leaves them out.
NOT_RECIPE = frozenset(
    {"output_dir", "data_dir", "download", "exp_name", "progress", "eval", "threads", "device",
     "compile", "dry_run", "push", "private", "hub_token", "resume", "overwrite", "decoder_onnx"}
)  # fmt: skip


def recipe_command(options: dict[str, Any]) -> str:
    """The train.py command that repeats a run's recipe: the options that differ from their
    defaults, leaving out where things are and how this machine ran (NOT_RECIPE)."""
    flags = []
    for name, value in options.items():
        if name not in FIELDS or name in NOT_RECIPE or value is None:
            continue
        if value == FIELDS[name].default:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            flags += [flag, str(value)]
    return shlex.join(["python", "train.py", *flags])


# --- values from text and from files ----------------------------------------------------------


def base_type(name: str) -> tuple[type, bool]:
    """(scalar type, optional?) of a TrainConfig field, from its annotation."""
    hint = typing.get_type_hints(TrainConfig)[name]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def coerce(name: str, value: Any, source: str, parse_strings: bool = True) -> Any:
    """Check/convert one value for field `name`. Strings are parsed when they come from text
    formats (.ini, argv); typed formats (JSON, TOML) must carry the right type already."""
    if name not in FIELDS:
        raise ConfigError(f"{source}: unknown option {name!r}; known: {', '.join(FIELDS)}")
    kind, optional = base_type(name)
    textual = parse_strings and isinstance(value, str)
    if isinstance(value, str) and not value.strip():
        # An unset shell variable (`--push "$REPO"`) must not quietly mean "no push".
        raise ConfigError(f"{source}: {name} cannot be empty")
    if value is None or (optional and textual and kind is not str and value.lower() == "none"):
        if optional:
            return None
        raise ConfigError(f"{source}: {name} cannot be empty")
    if textual and kind is not str:
        try:
            value = _parse_string(kind, value)
        except ValueError:
            raise ConfigError(f"{source}: {name} expects {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):  # inf passes float() and TOML
        raise ConfigError(f"{source}: {name} must be a finite number, got {value}")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(
            f"{source}: {name} expects {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _parse_string(kind: type, text: str) -> Any:
    text = text.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    return kind(text)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a JSON / TOML file (our field names) or a GenZoo config.ini, of at most
    MAX_OPTIONS_BYTES."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_OPTIONS_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read the config file {path}: {e.strerror}") from e
    if len(data) > MAX_OPTIONS_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_OPTIONS_BYTES:,} bytes; an options file holds a few "
            "dozen lines"
        )
    return parse_options(path, data)


def parse_options(path: Path, data: bytes) -> dict[str, Any]:
    """The options in `data`, the bytes of the file `path`, read by its suffix. JSON is
    read as strictly as a model's config.json (no duplicate keys, NaN or Infinity); TOML has
    no duplicate keys by its spec, and its nan and inf are refused as values."""
    suffix = path.suffix.lower()
    try:
        text = data.decode("utf-8")
        if suffix == ".ini":
            return {
                name: coerce(name, value, where)
                for name, (value, where) in read_genzoo_ini(path, text).items()
            }
        if suffix == ".json":
            raw = parse_strict_json(text)
        elif suffix == ".toml":
            raw = tomllib.loads(text)
        else:
            raise ConfigError(f"{path}: expected a .json, .toml or GenZoo .ini config file")
    except RecursionError:
        raise ConfigError(f"{path}: cannot parse it (nested too deeply)") from None
    except (ValueError, tomllib.TOMLDecodeError) as e:  # JSON's errors, UnicodeDecodeError
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{path}: cannot parse it ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    options = {}
    for key, value in raw.items():
        name = current_name(key.replace("-", "_"))
        options[name] = coerce(name, value, str(path), parse_strings=False)
    return options


# Options files written before the model's options had one name each (train_config.json of
# an older run, a recipe file) keep working: their old names mean these.
RENAMED = {"binarize": "binarized", "t_sne_points": "latent_map_points"}


def current_name(name: str) -> str:
    """An option's name today, for a name an options file of an earlier version used."""
    return RENAMED.get(name, name)


def resolve_options(given: dict[str, Any], config_file: str | None = None) -> TrainConfig:
    """Defaults, then `config_file`, then the options `given` on the command line; with
    --resume the run's saved options come first (flags given now still win)."""
    options = read_config_file(config_file) if config_file else {}
    options.update(given)
    if options.get("resume"):
        options = {**saved_run_options(options), **options}
    return TrainConfig(**options)


def saved_run_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options a run was started with (its train_config.json), minus those that
    describe one invocation, so `--resume --exp-name X` needs no other flags. The file is
    read only when it is a regular file of the run folder (never through a symlink)."""
    output_dir = options.get("output_dir", FIELDS["output_dir"].default)
    exp_name = options.get("exp_name", FIELDS["exp_name"].default)
    run_dir = Path(output_dir) / exp_name
    if not os.path.lexists(run_dir / SAVED_OPTIONS):
        return {}
    data = read_plain_file(run_dir, SAVED_OPTIONS, MAX_OPTIONS_BYTES, ConfigError)
    saved = parse_options(run_dir / SAVED_OPTIONS, data)
    return {k: v for k, v in saved.items() if k not in PER_INVOCATION}
