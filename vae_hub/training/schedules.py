"""How a value changes over a run: the learning rate's cosine decay and the KL warm-up."""

from __future__ import annotations

import math


def cosine(step: int, total_steps: int) -> float:
    """Factor 1 -> 0 along half a cosine over `total_steps` (Loshchilov & Hutter 2017,
    without restarts); 0 after the end."""
    return 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


def kl_weight(step: int, steps_per_epoch: int, warmup_epochs: float) -> float:
    """Linear KL warm-up (beta annealing, Bowman et al. 2016): 0 -> 1 over `warmup_epochs`."""
    if warmup_epochs <= 0:
        return 1.0
    return min(1.0, step / (warmup_epochs * steps_per_epoch))
