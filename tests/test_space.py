"""Exporting the demo as a Hugging Face Space: the files it pushes through the real
huggingface_hub client to the local Hub stand-in, and the exported folder serving on its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from vae_hub.cli import main
from vae_hub.cli.loadtest import free_port
from vae_hub.hub.export import SPACE_MARKER

TOKEN = "hf_test_token_never_printed_0123456789"


def front_matter(text: str) -> dict:
    return yaml.safe_load(text.split("---")[1])


def test_space_export_push_and_files(hub, trained_model_dir, tmp_path, capsys):
    published = main(["push", str(trained_model_dir), "tester/tiny-vae", "--hub-token", TOKEN])
    assert published == 0, capsys.readouterr().err
    out_dir = tmp_path / "space"
    code = main(
        [
            "space",
            str(out_dir),
            "--model",
            "tester/tiny-vae",
            "--push",
            "tester/demo",
            "--hub-token",
            TOKEN,
        ]
    )
    assert code == 0, capsys.readouterr().err
    files = hub.files("tester/demo", repo_type="space")
    for name in (
        "app.py",
        "requirements.txt",
        "README.md",
        "vae_hub/__init__.py",
        "vae_hub/demo/page.py",
        "vae_hub/templates/MODEL_CARD.md",
    ):
        assert name in files, name
    meta = front_matter(files["README.md"].decode())
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["models"] == ["tester/tiny-vae"] and meta["license"] == "mit"
    assert meta["sdk_version"] and meta["short_description"]
    requirements = files["requirements.txt"].decode().splitlines()
    assert any(r.startswith("gradio==") for r in requirements)
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    pins = [r for r in requirements if r and not r.startswith(("#", "--"))]
    assert all(re.fullmatch(r"[\w-]+==[\w.]+", pin) for pin in pins), pins  # no +cu130
    assert {pin.split("==")[0] for pin in pins} >= {"torch", "torchvision", "gradio"}
    # the page decodes in the browser: its scripts ship, and the server can export a
    # Hub model's decoder.onnx
    assert {pin.split("==")[0] for pin in pins} >= {"onnx", "onnxscript"}
    assert {"vae_hub/demo/static/browser.js", "vae_hub/demo/static/sampling.js"} <= set(files)
    assert "DEFAULT_MODEL: str | None = 'tester/tiny-vae'" in files["app.py"].decode()
    assert not any(name.startswith("vae_hub/pretrained/") for name in files)


def test_an_exported_space_runs_locally(trained_model_dir, tmp_path):
    out_dir = tmp_path / "space"
    assert main(["space", str(out_dir), "--model", str(trained_model_dir)]) == 0
    assert (out_dir / "model" / "model.safetensors").is_file()
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "PYTHONPATH": ""}
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=out_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the exported Space never answered"
                time.sleep(0.5)
        info = json.loads(
            urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5).read()
        )
        assert "vae-hub" in json.dumps(info)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_space_export_refuses_a_broken_local_model(tmp_path, capsys):
    (tmp_path / "broken").mkdir()
    code = main(["space", str(tmp_path / "out"), "--model", str(tmp_path / "broken")])
    assert code == 2 and "config.json is missing" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_exported_app_uses_the_vae_hub_copied_beside_it(tmp_path):
    out = main(["space", str(tmp_path / "s"), "--model", "tester/any"])
    assert out == 0
    assert Path(tmp_path / "s" / "vae_hub" / "model" / "vae.py").is_file()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_space_never_replaces_a_folder_that_holds_the_model(trained_model_dir, tmp_path, capsys):
    """H4: OUT = a run folder whose checkpoints/final is the model, the model folder itself,
    or a folder inside it: one error line, and not a file changes (even when OUT carries the
    mark of a Space written before)."""
    run = tmp_path / "run"
    model = run / "checkpoints" / "final"
    shutil.copytree(trained_model_dir, model)
    (run / "checkpoints" / "epoch-0001").mkdir()
    (run / "checkpoints" / "epoch-0001" / "model.safetensors").write_bytes(b"an older one")
    (run / "my notes.txt").write_text("mine")
    (run / SPACE_MARKER).write_text("")
    before = _files(run)
    for out in (run, model, model / "space"):
        code = main(["space", str(out), "--model", str(model)])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
        assert "would replace the model" in err
        assert _files(run) == before
    assert not (model / "space").exists()


def test_space_replaces_only_an_empty_folder_or_a_space_it_wrote(tmp_path, capsys):
    """H4: a folder of the user's own is never replaced; an empty one, or a Space that
    `vae-hub space` wrote (it holds SPACE_MARKER), is."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    assert main(["space", str(mine), "--model", "tester/any"]) == 2
    err = capsys.readouterr().err
    assert f"{mine} holds files and is not a Space written by vae-hub space" in err
    assert _files(mine) == {"thesis.tex": b"years of work"}
    (tmp_path / "a file").write_text("x")
    assert main(["space", str(tmp_path / "a file"), "--model", "tester/any"]) == 2
    assert "is not a folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["space", str(empty), "--model", "tester/any"]) == 0
    assert (empty / SPACE_MARKER).is_file() and (empty / "app.py").is_file()
    (empty / "vae_hub" / "stale.py").write_text("")
    assert main(["space", str(empty), "--model", "tester/other"]) == 0  # its own: replaced
    assert "tester/other" in (empty / "app.py").read_text()
    assert not (empty / "vae_hub" / "stale.py").exists()


def test_pushing_a_space_sends_regular_files_only(hub, tmp_path, capsys):
    """H2: a link in a Space folder is refused by name, not uploaded as its target; the
    Space's local mark stays local."""
    space = tmp_path / "space"
    assert main(["space", str(space), "--model", "tester/any"]) == 0
    secret = tmp_path / "id_ed25519"
    secret.write_text("PRIVATE KEY")
    (space / "notes.md").symlink_to(secret)
    code = main(["push", str(space), "tester/s", "--repo-type", "space", "--hub-token", TOKEN])
    err = capsys.readouterr().err
    assert code == 2 and "notes.md is a symbolic link" in err and err.count("\n") == 1
    assert not [r for r in hub.requests if "whoami" not in r[1]]  # nothing created or sent
    (space / "notes.md").unlink()
    code = main(["push", str(space), "tester/s", "--repo-type", "space", "--hub-token", TOKEN])
    assert code == 0, capsys.readouterr().err
    files = hub.files("tester/s", repo_type="space")
    assert "app.py" in files and SPACE_MARKER not in files
