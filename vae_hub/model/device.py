"""Which device a model runs on: one rule for train.py and every command's --device."""

from __future__ import annotations

import torch

from ..errors import ConfigError

# The help of every --device option (train.py's and the commands'), which this module reads.
DEVICE_HELP = "auto (CUDA if there, else MPS, else CPU) | cpu | cuda | cuda:N | mps"


def resolve_device(name: str) -> torch.device:
    """auto -> cuda if available, else mps, else cpu; an explicit device must exist here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"--device {name!r} is not a device (auto|cpu|cuda|cuda:N|mps)") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: no CUDA device here; use --device auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available here; use --device auto or cpu")
    return device
