"""The README and the pages under docs/ are true to the code: the quick start, the snippet,
every command they show (in code blocks and inline) and every link between them."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vae_hub.cli import build_parser
from vae_hub.cli.speed import bundled_recipe, variant_config
from vae_hub.cli.train import parse_args
from vae_hub.pretrained import bundled_model_path

from .conftest import ROOT
from .test_options import GENZOO_INI

README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def prose(text: str) -> str:
    """The page without its fenced code blocks."""
    return re.sub(r"```.*?```", "", text, flags=re.S)


def shown_commands(text: str) -> list[str]:
    """Each command line of the page's bash blocks, comments dropped, and each command quoted
    inline with options (it may wrap across lines; a bare `vae-hub card` names a command)."""
    lines = [
        line.split("#")[0].strip() for block in blocks("bash", text) for line in block.splitlines()
    ]
    inline = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose(text))]
    return lines + [span for span in inline if " --" in span]


def is_placeholder(word: str) -> bool:
    """`...`, or a word in capitals standing for what the reader fills in (X, FOLDER)."""
    return word == "..." or bool(re.fullmatch(r"[A-Z][A-Z_]*", word))


def commands(prefix: str) -> list[str]:
    """The complete commands starting with `prefix` on every page, each once."""
    found = {
        line
        for page in PAGES
        for line in shown_commands(page.read_text(encoding="utf-8"))
        if line.startswith(prefix) and not any(map(is_placeholder, shlex.split(line)))
    }
    return sorted(found)


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
def test_documented_train_commands_parse(line, tmp_path, monkeypatch):
    argv = shlex.split(line)[2:]
    if "--config" in argv:  # the GenZoo config.ini that a migrating user brings
        path = tmp_path / argv[argv.index("--config") + 1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(GENZOO_INI)
        monkeypatch.chdir(tmp_path)
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
        return
    args = build_parser(argv[0]).parse_args(argv)
    if argv[0] == "speed":  # each variant is a string of train.py flags: they must exist too
        recipe = bundled_recipe()
        for flags in args.variants:
            variant_config(recipe, flags, "unused")


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of the page's headings, read once per page however many links name it."""
    text = prose(page.read_text(encoding="utf-8"))
    return frozenset(slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_between_pages_resolve(page):
    """Relative links name a file that exists and, after #, a heading it has."""
    text = prose(page.read_text(encoding="utf-8"))
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: link to missing {target}"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: no heading for {target}"


def test_the_commands_found_include_the_pages_inline_ones():
    """The collector sees commands quoted in prose, including those under docs/."""
    assert any(
        "--half-res-blocks 0 --prior class-mixture" in c for c in commands("python train.py")
    )
    assert "vae-hub evaluate --refine-steps 100" in commands("vae-hub ")


def test_flags_in_the_training_table_exist():
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--help"],
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    section = README.split("## Train")[1].split("A run writes")[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    for flag in re.findall(r"`(--[a-z-]+)", table):
        assert flag in help_text, flag
