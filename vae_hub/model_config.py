"""The model's options, as config.json holds them: one schema, checked in one place.

`VAE.__init__`, `VAE.from_pretrained` and train.py's options all go through
`validate_config`, so a bound or a rule between two options is written once. The upper bounds
are far above any useful MNIST model and far below what would exhaust memory: a config.json
from a stranger is checked against them before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .architectures import ARCHITECTURES

NUM_CLASSES = 10  # digits: the class Gaussians, the latent map's labels
PRIORS = ("standard", "class-mixture")
DEFAULT_HIDDEN_DIM = {"conv": 256, "genzoo": 256, "mlp": 400}


@dataclass(frozen=True)
class ConfigField:
    """One config.json field: allowed Python types and, for numbers, inclusive bounds."""

    types: tuple[type, ...]
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] | None = None


# bool is kept apart from int on purpose: `"channels": true` is an error, not 1.
CONFIG_SCHEMA: dict[str, ConfigField] = {
    "latent_dim": ConfigField((int,), 1, 512),
    "arch": ConfigField((str,), choices=ARCHITECTURES),
    "channels": ConfigField((int,), 1, 256),
    "half_res_blocks": ConfigField((int,), 0, 8),
    "hidden_dim": ConfigField((int, type(None)), 1, 4096),
    "latent_map_points": ConfigField((int,), 0, 60_000),
    "binarized": ConfigField((bool,)),
    "flow_steps": ConfigField((int,), 0, 16),
    "prior": ConfigField((str,), choices=PRIORS),
}


def validate_config(config: dict[str, Any], names: dict[str, str] | None = None) -> dict[str, Any]:
    """Check a (partial) config dict against CONFIG_SCHEMA and the rules between fields;
    raise ValueError naming the bad field (as `names` calls it: train.py passes its flags).
    Returns the dict unchanged."""

    def name(key: str) -> str:
        return (names or {}).get(key, f"config field {key!r}")

    unknown = sorted(set(config) - set(CONFIG_SCHEMA))
    if unknown:
        raise ValueError(
            f"unknown config field(s) {', '.join(unknown)}; "
            f"expected only {', '.join(CONFIG_SCHEMA)}"
        )
    for key, value in config.items():
        field = CONFIG_SCHEMA[key]
        if not isinstance(value, field.types) or (
            isinstance(value, bool) and bool not in field.types
        ):
            types = " or ".join("null" if t is type(None) else t.__name__ for t in field.types)
            raise ValueError(f"{name(key)} must be {types}, got {_short(value)}")
        if field.choices and value not in field.choices:
            raise ValueError(
                f"{name(key)} must be one of {', '.join(field.choices)}, got {value!r}"
            )
        if value is not None and field.low is not None and not field.low <= value <= field.high:
            raise ValueError(
                f"{name(key)} must be in {field.low}..{field.high}, got {_short(value)}"
            )
    if config.get("flow_steps", 0) and config.get("arch", "conv") != "conv":
        raise ValueError(
            f"{name('flow_steps')} needs the conv arch (its encoder gives the flow its context), "
            f"got {name('arch')} {config['arch']!r}"
        )
    return config


def resolve_hidden_dim(arch: str, hidden_dim: int | None) -> int:
    """The fully connected width a config means: its own, else the arch's default."""
    return DEFAULT_HIDDEN_DIM[arch] if hidden_dim is None else hidden_dim


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
