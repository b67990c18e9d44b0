"""Training options: one frozen dataclass, mapped 1:1 to `--kebab-case` flags and config files.

Precedence is defaults < `--config FILE` < flags given on the command line. A config file is
JSON or TOML with the field names as keys, or the original GenZoo `config.ini`; unknown keys
and wrong types are errors, never ignored.
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from .architectures import ARCHITECTURES
from .data import DEFAULT_DATA_DIR
from .errors import ConfigError


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class TrainConfig:
    """Everything `train.py` can be told. Field docs double as `--help` text."""

    epochs: int = _opt(10, "number of passes over the training set")
    batch_size: int = _opt(128, "images per optimisation step")
    lr: float = _opt(1e-3, "Adam learning rate")
    lr_schedule: str = _opt(
        "constant", "learning-rate schedule over the run", choices=("constant", "cosine")
    )
    latent_dim: int = _opt(20, "size of the latent code z")
    arch: str = _opt("conv", "network architecture", choices=ARCHITECTURES)
    channels: int = _opt(32, "base width of the conv arch")
    hidden_dim: int | None = _opt(None, "fully connected width (default: the arch's own)")
    flow_steps: int = _opt(
        0,
        "inverse autoregressive flow steps on top of the Gaussian q(z|x) (Kingma et al. 2016; "
        "conv arch only); 0: a plain Gaussian",
    )
    weight_decay: float = _opt(0.0, "AdamW's decoupled weight decay (0: plain Adam)")
    ema_decay: float = _opt(
        0.0,
        "keep an exponential moving average of the weights with this decay (e.g. 0.999) and "
        "evaluate and save it; 0: off",
    )
    init_from: str | None = _opt(
        None,
        "start from the weights of this model (save_pretrained folder or Hub repo id) with a "
        "fresh optimiser and schedule, i.e. fine-tune it; the model options must match",
    )
    kl_warmup_epochs: float = _opt(
        0.0, "epochs over which the KL weight rises linearly from 0 to 1 (0: no warm-up)"
    )
    binarize: bool = _opt(False, "train and evaluate on dynamically binarized MNIST")
    exp_name: str = _opt("mnist", "run name: outputs go to OUTPUT_DIR/EXP_NAME/")
    output_dir: str = _opt("experiments", "folder that holds the runs")
    data_dir: str = _opt(DEFAULT_DATA_DIR, "folder holding MNIST/raw/ (torchvision layout)")
    download: bool = _opt(True, "download MNIST into --data-dir when it is missing")
    seed: int = _opt(0, "seed for initialisation, shuffling and sampling")
    device: str = _opt("auto", "auto | cpu | cuda | cuda:N | mps")
    threads: int | None = _opt(None, "CPU threads for torch (default: torch's choice)")
    compile: bool = _opt(False, "torch.compile the model (faster steps after a warm-up)")
    max_steps: int | None = _opt(None, "stop after this many optimisation steps in all")
    max_minutes: float | None = _opt(
        None, "stop after this many minutes of training (evaluation and saving not counted)"
    )
    dry_run: bool = _opt(
        False, "smoke run in seconds: 5 steps, small evaluation subsets, no t-SNE wait"
    )
    resume: bool = _opt(False, "continue the run in OUTPUT_DIR/EXP_NAME from its last checkpoint")
    overwrite: bool = _opt(False, "delete an existing run of the same name and start over")
    checkpoint_every: int = _opt(5, "keep a checkpoint folder every N epochs (and final/)")
    image_every: int = _opt(1, "save a reconstruction grid of test digits every N epochs")
    t_sne_points: int = _opt(2000, "test digits in the t-SNE plot and the stored latent map")
    eval: str = _opt(
        "quick",
        "evaluation written to final/metrics.json: quick (IWAE k=100 on 1,000 test images), "
        "full (k=1000 on all 10,000), smoke (seconds), none",
        choices=("quick", "full", "smoke", "none"),
    )
    progress: bool = _opt(True, "show tqdm progress bars")
    push: str | None = _opt(None, "after training, publish final/ to this Hub repo (user/name)")
    private: bool = _opt(False, "make the pushed repo private")
    hub_token: str | None = field(
        default=None,
        repr=False,
        metadata={
            "help": "Hub token for --push (default: HF_TOKEN or the saved login)",
            "secret": True,
        },
    )

    def __post_init__(self) -> None:
        for name, low in (
            ("epochs", 1),
            ("batch_size", 1),
            ("latent_dim", 1),
            ("channels", 1),
            ("checkpoint_every", 1),
            ("image_every", 1),
            ("t_sne_points", 0),
            ("flow_steps", 0),
        ):
            if getattr(self, name) < low:
                raise ConfigError(f"{name} must be >= {low}, got {getattr(self, name)}")
        for name in ("lr",):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("hidden_dim", "threads", "max_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.flow_steps and self.arch != "conv":
            raise ConfigError(f"flow_steps needs --arch conv, got --arch {self.arch}")
        if self.kl_warmup_epochs < 0:
            raise ConfigError(f"kl_warmup_epochs must be >= 0, got {self.kl_warmup_epochs}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise ConfigError(
                    f"{f.name} must be one of {', '.join(choices)}, got {getattr(self, f.name)!r}"
                )
        if not self.exp_name or "/" in self.exp_name or self.exp_name in (".", ".."):
            raise ConfigError(f"exp_name must be a plain folder name, got {self.exp_name!r}")
        if self.resume and self.overwrite:
            raise ConfigError("--resume and --overwrite contradict each other; pick one")
        if self.push is not None:
            try:
                validate_repo_id(self.push)
            except HFValidationError as e:
                raise ConfigError(
                    f"--push {self.push!r} is not a Hub repo id (user/name): {e}"
                ) from None
        if self.resume and self.init_from:
            raise ConfigError("--resume continues a run; --init-from starts a new one. Pick one")

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
# Options that describe one invocation rather than the run; a resumed run may change them.
PER_INVOCATION = {
    "resume",
    "overwrite",
    "progress",
    "dry_run",
    "device",
    "threads",
    "compile",
    "max_steps",
    "max_minutes",
    "push",
    "private",
    "hub_token",
}


def _base_type(name: str) -> tuple[type, bool]:
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
    kind, optional = _base_type(name)
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


# --- config files -------------------------------------------------------------------------

# GenZoo config.ini: (section, key) -> our field. `gpu` and `dataset` are handled apart.
GENZOO_KEYS = {
    ("MODEL_PARAMETERS", "lr"): "lr",
    ("MODEL_PARAMETERS", "epochs"): "epochs",
    ("MODEL_PARAMETERS", "batch_size"): "batch_size",
    ("MODEL_VARIABLES", "exp_name"): "exp_name",
    ("MODEL_VARIABLES", "z_dim"): "latent_dim",
    ("MODEL_VARIABLES", "t_sne_points"): "t_sne_points",
    ("SAVE_PARAMETERS", "model_save_frequency"): "checkpoint_every",
    ("SAVE_PARAMETERS", "image_print_frequency"): "image_every",
}
GENZOO_EXTRA = {("MODEL_VARIABLES", "gpu"), ("MODEL_VARIABLES", "dataset")}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Options from a JSON / TOML file (our field names) or a GenZoo config.ini."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".ini":
            return read_genzoo_ini(path)
        if suffix == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".toml":
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            raise ConfigError(f"{path}: expected a .json, .toml or GenZoo .ini config file")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot parse it ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return {
        key.replace("-", "_"): coerce(key.replace("-", "_"), value, str(path), parse_strings=False)
        for key, value in raw.items()
    }


def read_genzoo_ini(path: Path) -> dict[str, Any]:
    """Translate the original GenZoo config.ini (MODEL_PARAMETERS / MODEL_VARIABLES /
    SAVE_PARAMETERS) into our options. It also selects arch="genzoo", the model that config
    trained, so a migrated run reproduces the original; `--arch conv` switches to ours."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keep key case so typos are reported as written
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a valid config.ini ({e})") from e
    options: dict[str, Any] = {"arch": "genzoo"}
    for section in parser.sections():
        for key, value in parser.items(section):
            where = f"{path} [{section}] {key}"
            if (section, key) in GENZOO_KEYS:
                name = GENZOO_KEYS[(section, key)]
                options[name] = coerce(name, value, where)
            elif (section, key) == ("MODEL_VARIABLES", "dataset"):
                if value.strip().lower() != "mnist":
                    raise ConfigError(f"{where}: only 'mnist' is supported, got {value!r}")
            elif (section, key) == ("MODEL_VARIABLES", "gpu"):
                options["device"] = gpu_to_device(value, where)
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


# --- the command line ---------------------------------------------------------------------


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line raises ConfigError (one line, exit status 2 from the
    command's error guard) instead of printing the whole usage and exiting from a library."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser(prog: str = "train.py") -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=prog,
        description=(
            "Train a VAE on MNIST. Writes OUTPUT_DIR/EXP_NAME/ with checkpoints/ (save_pretrained "
            "folders, final/), training_images/, t_sne/ and TensorBoard logs in runs/."
        ),
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="JSON/TOML options file, or an original GenZoo config.ini; flags override it",
    )
    for name, f in FIELDS.items():
        kind, optional = _base_type(name)
        flag = "--" + name.replace("_", "-")
        default = "none" if f.default is None else f.default
        help_text = f"{f.metadata['help']} (default: {default})"
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
            continue
        parser.add_argument(
            flag,
            type=_argparse_type(name),
            choices=f.metadata.get("choices"),
            metavar=None if f.metadata.get("choices") else name.upper(),
            help=help_text,
        )
    return parser


def _argparse_type(name: str):
    def convert(text: str) -> Any:
        try:
            return coerce(name, text, "command line")
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix("command line: ")) from None

    convert.__name__ = name
    return convert


def parse_args(argv: list[str] | None = None, prog: str = "train.py") -> TrainConfig:
    """Defaults, then --config FILE, then explicit flags. Raises ConfigError on bad values."""
    namespace = vars(build_parser(prog).parse_args(argv))
    config_file = namespace.pop("config", None)
    options = read_config_file(config_file) if config_file else {}
    options.update(namespace)
    if options.get("resume"):
        options = {**saved_run_options(options), **options}
    return TrainConfig(**options)


def saved_run_options(options: dict[str, Any]) -> dict[str, Any]:
    """A resumed run starts from the options it was started with (its train_config.json),
    so `--resume --exp-name X` needs no other flags; flags given now still win."""
    output_dir = options.get("output_dir", FIELDS["output_dir"].default)
    exp_name = options.get("exp_name", FIELDS["exp_name"].default)
    saved = Path(output_dir) / exp_name / "train_config.json"
    if not saved.is_file():
        return {}
    return {k: v for k, v in read_config_file(saved).items() if k not in PER_INVOCATION}
