"""What every `vae-hub` command shares: one argument parser class and one error guard.

User errors (bad options, missing data, unloadable models, Hub failures, a full disk) print
one line, `error: ...`, and exit with status 2. Ctrl-C is one line and exit status 130 in
every command; during training it first saves a checkpoint, and SIGTERM (docker stop,
systemd, SLURM, timeout) does the same and exits with 143. Flags are never abbreviated:
`--epoch 3` is an error, not a silent `--epochs 3`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from huggingface_hub.utils import logging as hf_logging

from ..errors import (
    ConfigError,
    DataNotFoundError,
    DivergenceError,
    HubError,
    InvalidModelError,
    WriteError,
)
from ..model.device import DEVICE_HELP

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process Ctrl-C stopped
EXIT_TERMINATED = 143  # 128 + SIGTERM
USER_ERRORS = (
    ConfigError,
    DataNotFoundError,
    InvalidModelError,
    HubError,
    WriteError,
    DivergenceError,
    FileNotFoundError,
    ValueError,  # bad values for the library's pure functions
)


def help_shows_default(help_text: str | None, default: Any) -> bool:
    """Whether --help should append an option's default: not when the help words it already
    (e.g. "default: the bundled model", where the value itself would read "None"), nor when
    the default is None: an option such as `--out FILE` or `--digit D` that does nothing
    unless given says so in its help, and "(default: None)" would add only noise."""
    return bool(help_text) and "(default:" not in help_text and default is not None


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, the form every command prints its measurements in (pasteable
    into the README as is)."""
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """--device for the commands that run a model, as train.py has it: `resolve_device`
    reads it, so every command picks a GPU the same way."""
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def bounded(
    kind: type, low: float | None = None, above: float | None = None, high: float | None = None
) -> Callable:
    """An argparse type: a number of `kind` that is at least `low` (or strictly above
    `above`) and at most `high`.
    A bad value becomes one line naming the option (`ArgumentParser.error`), never a
    traceback from deep inside the command."""

    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if low is not None and value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be above {above}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    convert.__name__ = kind.__name__  # argparse names the type in its own messages
    return convert


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each option's default to its help, as `help_shows_default` decides."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if not help_shows_default(action.help, action.default):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line raises ConfigError (one line, exit status 2 from
    `guarded`) instead of printing the whole usage and exiting from inside a library.
    Defaults are shown in every --help, and no flag is taken from a prefix of its name
    (argparse's default would read a typo such as `--epoch` as `--epochs`)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", DefaultsHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message} (see {self.prog} --help)")


def guarded(fn: Callable[[], int]) -> int:
    """Run `fn`, turning the errors a user can fix into one line on stderr and exit code 2,
    and Ctrl-C into one line and exit code 130 (the shell's code for SIGINT). huggingface_hub's
    own log lines (each retry of an unreachable Hub) are left out: the error that follows
    says what happened, in one line."""
    hf_logging.set_verbosity_error()
    try:
        return fn()
    except USER_ERRORS as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted (Ctrl-C)", file=sys.stderr)
        return EXIT_INTERRUPTED
