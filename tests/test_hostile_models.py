"""Every path that reads a model refuses every hostile folder of the corpus with its expected
error: `VAE.from_pretrained` (folder and Hub repo), `train.py --init-from` and `--resume`,
`app.py --model` and the `vae-hub` commands (one line on stderr, exit status 2). Beside a
loadable model, a hostile card, record or picture is refused by every command that reads or
copies it, and what those records say reaches the card as text.

Nothing else may be raised, and no case may hang: each runs under an alarm, a guard against
the unbounded work such folders used to cause (not a timing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import re
import signal
from collections.abc import Callable, Iterator

import pytest
import torch
from markdown_it import MarkdownIt
from safetensors.torch import save_file

from vae_hub import VAE
from vae_hub.cli import main
from vae_hub.cli.train import main as train_main

from .conftest import DATA_DIR, ROOT
from .hostile_models import (
    CASES,
    SECRET,
    SIDE_CASES,
    Case,
    build_corpus,
    copy_folder,
    hub_files,
    records_with_markup,
    small_model,
)

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
        served = dataclasses.replace(case, message=case.served or case.message)
        return _raises_expected(served, lambda: VAE.from_pretrained(repo, cache_dir=tmp_path))

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


@pytest.fixture(scope="module")
def app():
    spec = importlib.util.spec_from_file_location("vae_hub_app", ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_app_py_refuses_each_folder(corpus, app, capsys):
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
SMALL = {"latent_dim": 6, "channels": 4, "hidden_dim": 16, "latent_map_points": 10}


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
    copy_folder(folder, checkpoint)
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


# --- hostile files beside a loadable model -------------------------------------------------

TOKEN = "hf_test_token_never_printed_0123456789"
APP_REFUSAL = "error: cannot load the model:"


@pytest.fixture(scope="module")
def side_corpus(tmp_path_factory, trained_model_dir):
    """The hostile files beside a finished model (one the demo can serve), with its card,
    records and pictures."""
    return build_corpus(tmp_path_factory.mktemp("side"), SIDE_CASES, base=trained_model_dir)


def _side_command(command: str, folder, out, app) -> Callable[[], int]:
    repo = f"tester/{folder.parent.name}-{folder.name.replace('_', '-')}"
    return {
        "card": lambda: main(["card", str(folder)]),
        "push": lambda: main(["push", str(folder), repo, "--hub-token", TOKEN]),
        "space": lambda: main(["space", str(out), "--model", str(folder)]),
        "app": lambda: app.main(["--model", str(folder)]),
    }[command]


def test_each_command_refuses_a_hostile_file_beside_the_model(
    side_corpus, app, hub, tmp_path, capsys
):
    """H2, H3: `vae-hub card`, `push`, `space` and `python app.py` each refuse a link, FIFO,
    oversized or malformed file they would read or copy, with one line naming it; the others
    work (a command that does not read the file is not stopped by it)."""
    problems = []
    capsys.readouterr()
    for case in SIDE_CASES:
        for command in ("card", "push", "space", "app"):
            if command == "app" and command not in case.refused_by:
                continue  # it would serve the page
            folder = tmp_path / command / case.name
            copy_folder(side_corpus[case.name], folder)
            out = tmp_path / "spaces" / f"{command}-{case.name}"
            run = _side_command(command, folder, out, app)
            if command in case.refused_by:
                prefix = APP_REFUSAL if command == "app" else "error: "
                expected = Case(case.name, case.make, case.message)
                problem = _one_line_exit_2(expected, run, capsys, prefix=prefix)
                problem = problem or (
                    f"{case.name}: {command} wrote {out}" if out.exists() else None
                )
            else:
                with no_hang(case.name):
                    code = run()
                err = capsys.readouterr().err
                problem = f"{case.name}: {command} exit {code}: {err}" if code else None
            if problem:
                problems.append(f"{command}: {problem}")
    assert not problems, "\n".join(problems)
    copied = [p.read_bytes() for p in (tmp_path / "spaces").rglob("*") if p.is_file()]
    uploaded = [
        content
        for case in SIDE_CASES
        if "push" not in case.refused_by
        for content in hub.files(f"tester/push-{case.name.replace('_', '-')}").values()
    ]
    assert not any(SECRET.encode() in content for content in copied + uploaded)
    assert not any(b"PATH=" in content for content in copied + uploaded)  # no environment


def _html_in(tokens) -> list[str]:
    found = []
    for token in tokens:
        if token.type in ("html_block", "html_inline"):
            found.append(token.content)
        found += _html_in(token.children or [])
    return found


def test_record_text_reaches_the_card_as_text(tmp_path, capsys):
    """H3: HTML, code fences and table separators in training.json and metrics.json show in
    the card as the text they are: the card parsed with raw HTML on (as the Hub renders it)
    holds no HTML at all, and every table row keeps its two cells."""
    folder = tmp_path / "m"
    small_model().save_pretrained(folder)
    records_with_markup(folder)
    assert main(["card", str(folder)]) == 0, capsys.readouterr().err
    card = (folder / "README.md").read_text(encoding="utf-8")
    markdown = MarkdownIt("commonmark", {"html": True}).enable("table")
    assert _html_in(markdown.parse(card)) == []
    rendered = markdown.render(card)
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, flags=re.S)
    assert rows and all(row.count("<td") + row.count("<th") == 2 for row in rows), rows
    for text in ("&lt;form action=", "re-enter your HF token", "&lt;script&gt;", "injected cell"):
        assert text in rendered, text
    assert "refining q(z|x) per image" in rendered  # a label's own | stays in its cell


def test_links_the_user_or_the_hf_cache_made_still_load(corpus, hub, tmp_path):
    """The folder named may itself be a link (the user's own choice of path), and the HF
    cache's snapshot files are links into its blobs: both load, where a link inside a
    model folder is refused."""
    valid = next(iter(corpus.values())).parent / "valid"
    (tmp_path / "chosen").symlink_to(valid, target_is_directory=True)
    assert VAE.from_pretrained(tmp_path / "chosen").latent_dim == 6
    hub.add_repo("stranger/valid", hub_files(valid))
    model = VAE.from_pretrained("stranger/valid", cache_dir=tmp_path / "cache")
    assert model.latent_dim == 6
    snapshot_files = list((tmp_path / "cache").glob("models--stranger--valid/snapshots/*/*"))
    assert snapshot_files and all(p.is_symlink() for p in snapshot_files)
