"""What a run needs around its loop: when to stop, and what it returns."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .checkpoints import TrainState

# The signals that ask a run to stop and save: Ctrl-C, and SIGTERM, which `docker stop`,
# systemd, SLURM preemption and `timeout` send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """The first Ctrl-C or SIGTERM asks the loop to stop after the current step (and save);
    a second one interrupts at once. `signal` says which one came first."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        try:
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        except ValueError:  # not the main thread: leave the signals alone
            self._previous = {}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        tqdm.write(f"{name}: stopping after this step and saving a checkpoint (another aborts).")

    def __exit__(self, *exc: Any) -> None:
        for signum, previous in self._previous.items():
            if previous is not None:  # None: a handler set outside Python, not restorable
                signal.signal(signum, previous)


@dataclass
class TrainResult:
    run_dir: Path
    final_dir: Path | None  # None when stopped by Ctrl-C or SIGTERM before the end
    state: TrainState
    interrupted: bool = False
    signal: int | None = None  # the signal that stopped it
    test: dict[str, float] = field(default_factory=dict)


@dataclass
class Limits:
    """When to stop early; checked after every step."""

    max_steps: int | None
    max_seconds: float | None  # of training; evaluation and saving do not count
    stop: StopFlag

    def reached(self, step: int, trained_seconds: float) -> bool:
        return (
            self.stop.requested
            or (self.max_steps is not None and step >= self.max_steps)
            or (self.max_seconds is not None and trained_seconds >= self.max_seconds)
        )
