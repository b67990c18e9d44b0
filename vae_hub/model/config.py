"""The model's options, declared once: `ModelConfig`.

Each field is one option, under one name everywhere: the `VAE` constructor's keyword, the key
in config.json, the field of train.py's options (which extend this class) and the flag
(`--latent-dim`). Its type, default, bounds and help live here, and `__post_init__` is the one
place they are checked, whoever builds the config: `VAE(...)`, `VAE.from_pretrained` reading a
stranger's config.json (`from_dict`), train.py's flags and config
files. The upper bounds are far above any useful MNIST model and far below what would exhaust
memory.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .networks import ARCHITECTURES
from .priors import PRIORS

DEFAULT_HIDDEN_DIM = {"conv": 256, "genzoo": 256, "mlp": 400}


def option(default: Any, help: str, **checks: Any) -> Any:
    """A field with its help text and its checks: `low` / `high` (inclusive bounds), `above`
    / `below` (strict bounds) or `choices`."""
    return field(default=default, metadata={"help": help, **checks})


@dataclass(frozen=True)
class ModelConfig:
    """What a `VAE` is built from: its config.json."""

    latent_dim: int = option(20, "size of the latent code z", low=1, high=512)
    arch: str = option(
        "conv",
        "network architecture: conv (ours), genzoo (the original GenZoo VAE), mlp (784-400-20)",
        choices=ARCHITECTURES,
    )
    channels: int = option(32, "base width of the conv arch", low=1, high=256)
    half_res_blocks: int = option(
        1,
        "residual blocks at 14x14 in each of the conv arch's encoder and decoder; they are its "
        "most expensive layers, so 0 trains more epochs in the same time, for a somewhat "
        "worse model",
        low=0,
        high=8,
    )
    hidden_dim: int | None = option(
        None, "fully connected width (default: the arch's own)", low=1, high=4096
    )
    latent_map_points: int = option(
        2000, "test digits in the latent map stored with the model (and its t-SNE plot)",
        low=0, high=60_000,
    )  # fmt: skip
    binarized: bool = option(False, "train and evaluate on dynamically binarized MNIST")
    flow_steps: int = option(
        0,
        "inverse autoregressive flow steps on top of the Gaussian q(z|x) (Kingma et al. 2016; "
        "conv arch only); 0: a plain Gaussian",
        low=0,
        high=16,
    )
    prior: str = option(
        "standard",
        "the prior p(z): standard (N(0, I)) or class-mixture (one learned Gaussian per digit, "
        "trained with the labels)",
        choices=tuple(PRIORS),
    )

    def __post_init__(self) -> None:
        for name, f in MODEL_FIELDS.items():
            check_type(name, getattr(self, name), self.label(name))
            check_value(f, getattr(self, name), self.label(name))
        if self.flow_steps and self.arch != "conv":
            raise ValueError(
                f"{self.label('flow_steps')} needs the conv arch (its encoder gives the flow "
                f"its context), got {self.label('arch')} {self.arch!r}"
            )

    @classmethod
    def label(cls, name: str) -> str:
        """How an error message names option `name` (train.py's options: by its flag)."""
        return f"config field {name!r}"

    @classmethod
    def from_dict(cls, values: Any) -> ModelConfig:
        """The config `values` describe (a config.json, or the `VAE` constructor's keywords):
        only known names, each of exactly its declared type (`true` is not 1) and within its
        bounds; ValueError naming the option otherwise."""
        if not isinstance(values, dict):
            raise ValueError(f"expected a JSON object, got {type(values).__name__}")
        unknown = sorted(map(str, set(values) - set(MODEL_FIELDS)))
        if unknown:
            raise ValueError(
                f"unknown config field(s) {', '.join(unknown)}; "
                f"expected only {', '.join(MODEL_FIELDS)}"
            )
        return cls(**values)

    def model_options(self) -> dict[str, Any]:
        """The model's options alone (a subclass may hold more)."""
        return {name: getattr(self, name) for name in MODEL_FIELDS}

    def resolved(self) -> dict[str, Any]:
        """The options as config.json states them: hidden_dim resolved to the width built."""
        options = self.model_options()
        options["hidden_dim"] = resolve_hidden_dim(self.arch, self.hidden_dim)
        return options


MODEL_FIELDS = {f.name: f for f in dataclasses.fields(ModelConfig)}


def annotation_types(f: dataclasses.Field) -> tuple[type, ...]:
    """The Python types a field's annotation allows (`int | None` -> (int, NoneType))."""
    names = {"int": int, "str": str, "bool": bool, "float": float, "None": type(None)}
    return tuple(names[part.strip()] for part in str(f.type).split("|"))


def check_type(name: str, value: Any, label: str) -> None:
    """`value` is exactly of the type option `name` declares (bool is not an int)."""
    types = annotation_types(MODEL_FIELDS[name])
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise ValueError(f"{label} must be {allowed}, got {_short(value)}")


def check_value(f: dataclasses.Field, value: Any, label: str) -> None:
    """A field's choices and bounds (from its metadata); ValueError naming it by `label`."""
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ValueError(f"{label} must be one of {', '.join(meta['choices'])}, got {value!r}")
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{label} must be a finite number, got {value}")
    if "low" in meta and "high" in meta and not meta["low"] <= value <= meta["high"]:
        raise ValueError(f"{label} must be in {meta['low']}..{meta['high']}, got {_short(value)}")
    if "low" in meta and "high" not in meta and value < meta["low"]:
        raise ValueError(f"{label} must be >= {meta['low']}, got {value}")
    if "above" in meta and not value > meta["above"]:
        raise ValueError(f"{label} must be > {meta['above']}, got {value}")
    if "below" in meta and not value < meta["below"]:
        raise ValueError(f"{label} must be < {meta['below']}, got {value}")


def resolve_hidden_dim(arch: str, hidden_dim: int | None) -> int:
    """The fully connected width a config means: its own, else the arch's default."""
    return DEFAULT_HIDDEN_DIM[arch] if hidden_dim is None else hidden_dim


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
