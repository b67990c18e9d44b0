"""A visitor's parameters: numbers checked and clamped to what a control allows."""

from __future__ import annotations

import math
import secrets
from typing import Any

MAX_GRID = 16
MAX_STEPS = 32
MAX_TEMPERATURE = 2.0
MAX_SEED = 2**31 - 1
EXPLORE_DIRECTIONS = 4  # sliders along the main directions of the stored latents
EXPLORE_RANGE = 3.0  # in standard deviations along each


def float_in(name: str, value: Any, low: float, high: float) -> float:
    """A numeric parameter, clamped to [low, high]; non-numbers and NaN are rejected."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return min(max(number, low), high)


def int_in(name: str, value: Any, low: int, high: int) -> int:
    return round(float_in(name, value, low, high))


def random_seed() -> int:
    """A fresh seed from the OS (never touches torch's or numpy's global RNG)."""
    return secrets.randbelow(MAX_SEED + 1)


def pair_in(name: str, value: Any, low: float = -1e6, high: float = 1e6) -> tuple[float, float]:
    """Two numbers (a position), each clamped to [low, high]."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{name} must be two numbers (x, y)")
    return float_in(f"{name} x", value[0], low, high), float_in(f"{name} y", value[1], low, high)
