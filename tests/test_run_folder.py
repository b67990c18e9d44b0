"""Writes that lose nothing: atomic folders and files, a full disk, a run killed before
its first checkpoint, and folders that are not runs."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import torch
from safetensors.torch import save_file

from vae_hub import VAE
from vae_hub.atomic import atomic_directory
from vae_hub.errors import ConfigError
from vae_hub.training.checkpoints import LATEST, load_checkpoint
from vae_hub.training.loop import run

from .conftest import tiny_config, train_cmd, wait_for


def test_atomic_directory_keeps_the_old_folder_when_writing_fails(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    from vae_hub.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.json", "{}")
        with atomic_directory(tmp_path / "folder") as folder:
            (folder / "x").write_text("x")
            save_file({"t": torch.zeros(1)}, str(folder / "t.safetensors"))
        VAE(latent_dim=2, channels=2, hidden_dim=4).save_pretrained(tmp_path / "model")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
    # safetensors writes 0600 through its own temporary file; what we save is readable
    assert (tmp_path / "folder" / "t.safetensors").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model" / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_a_full_disk_is_one_line_naming_the_file_and_the_way_on(tmp_path):
    cmd = train_cmd(tmp_path, "--epochs", "2")
    first = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, preexec_fn=_with_file_size_limit(40_000)
    )
    assert first.returncode == 2, first.stderr
    lines = first.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in first.stderr, first.stderr
    assert lines[0].startswith("error: cannot write") and str(tmp_path) in lines[0]
    assert "File too large" in lines[0] and "No checkpoint was written yet" in lines[0]
    # one good epoch, then the disk fills while the second checkpoint is written
    ok = subprocess.run([*cmd[:-1], "1"], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    full = subprocess.run(
        train_cmd(tmp_path, "--resume", "--epochs", "2"),
        capture_output=True, text=True, timeout=300, preexec_fn=_with_file_size_limit(40_000),
    )  # fmt: skip
    good = tmp_path / "long" / "checkpoints" / "epoch-0001"
    assert full.returncode == 2 and f"The last good checkpoint is {good}" in full.stderr
    assert "--resume" in full.stderr and len(full.stderr.strip().splitlines()) == 1
    assert load_checkpoint(tmp_path / "long").folder == good  # nothing was lost


def test_a_run_killed_before_its_first_checkpoint_gets_consistent_advice(tmp_path):
    run_dir = tmp_path / "long"
    proc = subprocess.Popen(
        train_cmd(tmp_path, "--epochs", "3", "--batch-size", "1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(run_dir / "train_config.json")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (run_dir / "checkpoints" / LATEST).exists()  # killed before the first one
    resume = subprocess.run(
        train_cmd(tmp_path, "--resume"), capture_output=True, text=True, timeout=300
    )
    assert resume.returncode == 2 and "holds no checkpoint" in resume.stderr
    assert "without --resume" in resume.stderr and "--overwrite" not in resume.stderr
    again = subprocess.run(
        train_cmd(tmp_path, "--max-steps", "2"), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "starting anew" in again.stdout


def test_a_folder_of_other_files_is_never_replaced_without_overwrite(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds files but no checkpoint.*--overwrite"):
        run(tiny_config(tmp_path, max_steps=1, t_sne_points=0))
    with pytest.raises(ConfigError, match="without --resume.*with --overwrite"):
        run(tiny_config(tmp_path, resume=True))
    assert (tmp_path / "mnist" / "notes.txt").read_text() == "mine"


def _with_file_size_limit(limit: int):
    """A child process whose files cannot grow past `limit` bytes: writes beyond it fail
    with EFBIG, as they would with ENOSPC on a full disk (and unlike a read-only folder,
    this also holds when the tests run as root)."""
    import resource

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
