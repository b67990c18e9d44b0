"""The README is true to the code: its quick start, its snippet and its commands."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import pytest

from vae_hub.cli import build_parser
from vae_hub.cli.train import parse_args
from vae_hub.pretrained import bundled_model_path

from .conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def commands(prefix: str) -> list[str]:
    lines = [line.split("#")[0].strip() for block in blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def test_quick_start_is_exactly_two_lines_install_run_and_test():
    assert blocks("bash")[0].splitlines() == [
        'pip install -e ".[dev]" && python app.py',
        'pip install -e ".[dev]" && pytest',
    ]


def test_the_usage_snippet_runs_with_the_bundled_model(tmp_path):
    bundled_model_path()  # the snippet loads it
    proc = subprocess.run(
        [sys.executable, "-c", blocks("python")[0]],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([1, 28, 28]) torch.Size([1, 28, 28]) torch.Size([20])" in proc.stdout


@pytest.mark.parametrize("line", commands("python train.py"))
def test_documented_train_commands_parse(line):
    argv = shlex.split(line)[2:]
    if "--help" in argv:
        with pytest.raises(SystemExit) as info:
            parse_args(argv)
        assert info.value.code == 0
    else:
        parse_args(argv)


@pytest.mark.parametrize("line", commands("vae-hub "))
def test_documented_vae_hub_commands_parse(line):
    argv = shlex.split(line)[1:]
    if argv[0] == "train":
        parse_args(argv[1:])
    else:
        build_parser(argv[0]).parse_args(argv)


def test_flags_in_the_training_table_exist():
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--help"],
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    section = README.split("## Train")[1].split("A run writes")[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    for flag in re.findall(r"`(--[a-z-]+)", table):
        assert flag in help_text, flag
