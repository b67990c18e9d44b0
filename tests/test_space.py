"""Exporting the demo as a Hugging Face Space: the files it pushes through the real
huggingface_hub client to the local Hub stand-in, and the exported folder serving on its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from vae_hub.cli import main
from vae_hub.cli.loadtest import free_port

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
    requirements = files["requirements.txt"].decode().split()
    assert any(r.startswith("gradio==") for r in requirements)
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
    assert Path(tmp_path / "s" / "vae_hub" / "model.py").is_file()
