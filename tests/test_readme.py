"""The README and the pages under docs/ are true to the code: the quick start, the snippet,
every command they show (in code blocks and inline) and every link between them."""

from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vae_hub.cli import build_parser
from vae_hub.cli.speed import bundled_recipe, variant_config
from vae_hub.cli.train import parse_args

from .conftest import ROOT

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


def test_quick_start_is_exactly_two_lines_demo_and_tests():
    """The demo needs only the package's own dependencies; the tests add the dev tools."""
    assert blocks("bash")[0].splitlines() == [
        "pip install -e . && python app.py",
        'pip install -e ".[dev]" && pytest',
    ]


def run_offline(code: str, folder: Path) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter whose working folder is `folder`, with the Hub
    unreachable by construction: offline mode, and an endpoint nothing listens on."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_every_python_block_of_the_readme_runs_from_any_folder(tmp_path, server):
    """Each block as pasted, from a folder that is not the repository's, offline. The
    gradio_client block talks to a demo served by the tests instead of one on port 7860."""
    python = blocks("python")
    assert len(python) == 2 and "from gradio_client import Client" in python[1]
    proc = run_offline(python[0], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([1, 28, 28]) torch.Size([1, 28, 28]) torch.Size([20])" in proc.stdout
    client_block = python[1].replace("http://127.0.0.1:7860/", server)
    proc = run_offline(client_block + "\nprint(grid_png, seed_text, digit_png)", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Seed used: **42**" in proc.stdout and proc.stdout.count(".png") >= 2


@pytest.mark.parametrize("line", commands("python train.py"))
def test_documented_train_commands_parse(line, monkeypatch):
    argv = shlex.split(line)[2:]
    monkeypatch.chdir(ROOT)  # the shipped configs/ are named from the repository's root
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


def test_the_bundled_cards_snippet_runs_from_any_folder(tmp_path):
    """The bundled model's card loads it by the name that works anywhere, vae_hub.BUNDLED."""
    card = (ROOT / "vae_hub" / "pretrained" / "README.md").read_text(encoding="utf-8")
    snippet = blocks("python", card)[0]
    assert "VAE.from_pretrained(BUNDLED)" in snippet
    proc = run_offline(snippet, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "torch.Size([16, 1, 28, 28]) torch.Size([8, 1, 28, 28])" in proc.stdout
