"""Every path that reads a model refuses every hostile folder of the corpus with its expected
error: `VAE.from_pretrained` (folder and Hub repo), `train.py --init-from` and `--resume`,
`app.py --model` and the `vae-hub` commands (one line on stderr, exit status 2).

Nothing else may be raised, and no case may hang: each runs under an alarm, a guard against
the unbounded work such folders used to cause (not a timing).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shutil
import signal
from collections.abc import Callable, Iterator

import pytest
import torch
from safetensors.torch import save_file

from vae_hub import VAE
from vae_hub.cli import main
from vae_hub.cli.train import main as train_main

from .conftest import DATA_DIR, ROOT
from .hostile_models import CASES, Case, build_corpus, hub_files

HANG_GUARD_S = 30


@contextlib.contextmanager
def no_hang(name: str) -> Iterator[None]:
    def fail(*_):
        raise TimeoutError(f"{name}: still running after {HANG_GUARD_S} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(HANG_GUARD_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("hostile"))


def _raises_expected(case: Case, call: Callable[[], object]) -> str | None:
    """None when `call` raises the case's error with its message; else what went wrong."""
    try:
        with no_hang(case.name):
            call()
    except case.error as e:
        return None if re.search(case.message, str(e)) else f"{case.name}: message {e}"
    except Exception as e:  # anything else is a failure of the test, reported by name
        return f"{case.name}: {type(e).__name__}: {e}"
    return f"{case.name}: loaded without an error"


def _one_line_exit_2(case: Case, run: Callable[[], int], capsys, prefix="error: ") -> str | None:
    try:
        with no_hang(case.name):
            code = run()
    except Exception as e:
        return f"{case.name}: raised {type(e).__name__}: {e}"
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    if code != 2 or len(lines) != 1 or not lines[0].startswith(prefix):
        return f"{case.name}: exit {code}, stderr {err!r}"
    if not re.search(case.message, lines[0]) or "Traceback" in err:
        return f"{case.name}: stderr {err!r}"
    return None


def _check_all(check: Callable[[Case], str | None]) -> None:
    problems = [p for p in (check(case) for case in CASES) if p]
    assert not problems, "\n".join(problems)


def test_from_pretrained_refuses_each_folder(corpus):
    _check_all(lambda case: _raises_expected(case, lambda: VAE.from_pretrained(corpus[case.name])))


def test_from_pretrained_refuses_each_repo(corpus, hub, tmp_path):
    for case in CASES:
        hub.add_repo(f"stranger/{case.name.replace('_', '-')}", hub_files(corpus[case.name]))

    def load(case: Case) -> str | None:
        repo = f"stranger/{case.name.replace('_', '-')}"
        return _raises_expected(case, lambda: VAE.from_pretrained(repo, cache_dir=tmp_path))

    _check_all(load)


@pytest.mark.parametrize(
    "command",
    [
        lambda folder, out: main(["generate", "--model", folder, "--save-path", out]),
        lambda folder, out: main(["card", folder]),
        lambda folder, out: main(["space", out, "--model", folder]),
        lambda folder, out: main(["evaluate", folder, "--data-dir", str(DATA_DIR)]),
    ],
    ids=["generate", "card", "space", "evaluate"],
)
def test_each_command_refuses_each_folder(corpus, tmp_path, capsys, command):
    def check(case: Case) -> str | None:
        out = str(tmp_path / case.name)
        return _one_line_exit_2(case, lambda: command(str(corpus[case.name]), out), capsys)

    _check_all(check)
    assert not any(tmp_path.iterdir())  # nothing was written for a model that does not load


def test_app_py_refuses_each_folder(corpus, capsys):
    spec = importlib.util.spec_from_file_location("vae_hub_app", ROOT / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    capsys.readouterr()
    _check_all(
        lambda case: _one_line_exit_2(
            case,
            lambda: app.main(["--model", str(corpus[case.name])]),
            capsys,
            prefix="error: cannot load the model:",
        )
    )


TRAIN = ["--data-dir", str(DATA_DIR), "--no-download", "--no-progress", "--eval", "none"]
SMALL = {"latent_dim": 6, "channels": 4, "hidden_dim": 16, "t_sne_points": 10}


def test_train_init_from_refuses_each_folder(corpus, tmp_path, capsys):
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items()]

    def check(case: Case) -> str | None:
        argv = [*TRAIN, *flags, "--output-dir", str(tmp_path), "--exp-name", case.name]
        return _one_line_exit_2(
            case, lambda: train_main([*argv, "--init-from", str(corpus[case.name])]), capsys
        )

    _check_all(check)


def _as_checkpoint(folder, run_dir) -> None:
    """A run whose newest checkpoint is `folder` (its training state is a valid stub)."""
    checkpoint = run_dir / "checkpoints" / "epoch-0001"
    shutil.copytree(folder, checkpoint, symlinks=True)
    save_file(
        {"rng.torch": torch.zeros(1)},
        str(checkpoint / "training_state.safetensors"),
        metadata={"state": json.dumps({"epoch": 1}), "param_groups": "[]"},
    )
    (run_dir / "checkpoints" / "latest.json").write_text('{"checkpoint": "epoch-0001"}')
    (run_dir / "train_config.json").write_text(json.dumps(SMALL))


def test_train_resume_refuses_each_checkpoint(corpus, tmp_path, capsys):
    def check(case: Case) -> str | None:
        _as_checkpoint(corpus[case.name], tmp_path / case.name)
        argv = [*TRAIN, "--output-dir", str(tmp_path), "--exp-name", case.name, "--resume"]
        return _one_line_exit_2(case, lambda: train_main(argv), capsys)

    _check_all(check)
