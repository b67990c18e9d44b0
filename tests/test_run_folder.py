"""Writes that lose nothing: atomic folders and files, a full disk, a run killed before
its first checkpoint, and folders that are not runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest
import torch
from safetensors.torch import save_file

from vae_hub import VAE
from vae_hub.errors import ConfigError
from vae_hub.files.atomic import atomic_directory
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
    from vae_hub.files.atomic import atomic_write_text

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
        run(tiny_config(tmp_path, max_steps=1, latent_map_points=0))
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


# --- run folders from elsewhere: names, symlinks, special files, damage --------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run of train_cmd's model trained for 2 epochs, both checkpoints kept; copy it with
    `copy_run` before changing anything in it."""
    base = tmp_path_factory.mktemp("base")
    run(tiny_config(base, exp_name="long", batch_size=32, latent_map_points=0, eval="none",
                    checkpoint_every=1))  # fmt: skip
    return base / "long"


def copy_run(finished_run, tmp_path):
    """A copy of `finished_run` at tmp_path/experiments/long; returns the experiments folder."""
    shutil.copytree(finished_run, tmp_path / "experiments" / "long", symlinks=True)
    return tmp_path / "experiments"


def resume(experiments, *extra, timeout=300):
    return subprocess.run(
        train_cmd(experiments, "--resume", "--epochs", "3", *extra),
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def assert_one_error_line(proc, *needles):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert str(needle) in lines[0], (needle, lines[0])


def test_a_latest_json_naming_a_folder_outside_the_run_deletes_nothing(finished_run, tmp_path):
    experiments = copy_run(finished_run, tmp_path)
    victim = tmp_path / "victim"  # beside the experiments folder
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    latest = experiments / "long" / "checkpoints" / LATEST
    for name in ("../../../victim", "/" + str(victim).lstrip("/"), "final", ".", "epoch-1"):
        latest.write_text(json.dumps({"checkpoint": name, "keep": False}))
        proc = resume(experiments)
        assert_one_error_line(proc, latest, "not a checkpoint of this run")
        assert (victim / "precious.txt").read_text() == "keep me"
    assert (experiments / "long" / "checkpoints" / "epoch-0002").is_dir()


def _symlink_to_copy(path, outside):
    """Replace `path` by a symlink to a copy of it at `outside` (a file or folder)."""
    if path.is_dir():
        shutil.copytree(path, outside)
        shutil.rmtree(path)
    else:
        shutil.copy(path, outside)
        path.unlink()
    path.symlink_to(outside)


@pytest.mark.parametrize(
    "entry",
    [
        "train_config.json",
        "checkpoints",
        "checkpoints/latest.json",
        "checkpoints/epoch-0002",
        "checkpoints/epoch-0001",
        "checkpoints/epoch-0002/training_state.safetensors",
        "checkpoints/epoch-0002/model.safetensors",
        "checkpoints/epoch-0002/config.json",
        "runs",
    ],
)
def test_a_symlink_in_a_run_folder_is_refused_by_name(finished_run, tmp_path, entry):
    experiments = copy_run(finished_run, tmp_path)
    path = experiments / "long" / entry
    outside = tmp_path / "outside"
    _symlink_to_copy(path, outside)
    before = sorted(p.relative_to(outside) for p in outside.rglob("*")) if outside.is_dir() else []
    proc = resume(experiments)
    assert_one_error_line(proc, path, "symbolic link")
    assert outside.exists() and path.is_symlink()  # neither followed nor deleted
    if outside.is_dir():
        assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before


@pytest.mark.parametrize("entry", ["checkpoints/latest.json", "train_config.json"])
def test_a_fifo_in_a_run_folder_is_refused_not_read(finished_run, tmp_path, entry):
    experiments = copy_run(finished_run, tmp_path)
    path = experiments / "long" / entry
    path.unlink()
    os.mkfifo(path)  # reading it would block until someone writes
    proc = resume(experiments, timeout=120)
    assert_one_error_line(proc, path, "FIFO")


def test_a_symlinked_run_folder_is_neither_resumed_nor_overwritten(finished_run, tmp_path):
    experiments = copy_run(finished_run, tmp_path)
    _symlink_to_copy(experiments / "long", tmp_path / "elsewhere")
    assert_one_error_line(resume(experiments), experiments / "long", "symbolic link")
    overwrite = subprocess.run(
        train_cmd(experiments, "--overwrite", "--max-steps", "1"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert_one_error_line(overwrite, experiments / "long", "symbolic link")
    assert (tmp_path / "elsewhere" / "checkpoints" / "epoch-0002").is_dir()


def _flip_bit(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


def _header_offset(path, text):
    """The offset of `text` in a safetensors file's JSON header (a tensor's name)."""
    return path.read_bytes().index(text.encode())


@pytest.mark.parametrize(
    "file, where",
    [
        ("training_state.safetensors", "data"),  # an Adam moment or a step counter
        ("training_state.safetensors", "header"),  # a tensor's name
        ("model.safetensors", "data"),
        ("model.safetensors", "header"),
    ],
)
def test_a_damaged_checkpoint_is_named_and_the_intact_one_before_it_offered(
    finished_run, tmp_path, file, where
):
    experiments = copy_run(finished_run, tmp_path)
    folder = experiments / "long" / "checkpoints"
    path = folder / "epoch-0002" / file
    size = path.stat().st_size
    name = "optim.3.exp_avg_sq" if file.startswith("training") else "encoder"
    _flip_bit(path, size - 3 if where == "data" else _header_offset(path, name) + 2)
    assert path.stat().st_size == size
    proc = resume(experiments)
    assert_one_error_line(proc, folder / "epoch-0002", file, "damaged")
    assert f"The checkpoint {folder / 'epoch-0001'} is intact" in proc.stderr
    # The way on that the message gives: move the damaged one away, resume from the other.
    shutil.move(folder / "epoch-0002", tmp_path / "damaged")
    again = resume(experiments)
    assert again.returncode == 0, again.stderr
    assert f"Resuming from {folder / 'epoch-0001'}" in again.stdout


def test_a_damaged_checkpoint_without_an_intact_one_says_to_start_over(finished_run, tmp_path):
    experiments = copy_run(finished_run, tmp_path)
    folder = experiments / "long" / "checkpoints"
    shutil.rmtree(folder / "epoch-0001")
    path = folder / "epoch-0002" / "model.safetensors"
    _flip_bit(path, path.stat().st_size - 1)
    assert_one_error_line(resume(experiments), path.name, "No other checkpoint", "--overwrite")


def test_a_checkpoint_of_an_earlier_version_resumes_with_a_warning(finished_run, tmp_path):
    experiments = copy_run(finished_run, tmp_path)
    (experiments / "long" / "checkpoints" / "epoch-0002" / "checksums.json").unlink(missing_ok=True)
    proc = resume(experiments)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "epoch-0002 has no checksums" in warnings[0], proc.stderr


# --- one run per folder at a time -----------------------------------------------------------------


def test_a_second_run_of_the_same_name_is_refused_while_the_first_runs(tmp_path):
    run_dir = tmp_path / "long"
    first = subprocess.Popen(
        train_cmd(tmp_path, "--epochs", "500", "--batch-size", "1"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(run_dir / "train_config.json")
        # paused, it still holds its lock, and leaves the cores to the runs it must refuse
        os.kill(first.pid, signal.SIGSTOP)
        for extra in ((), ("--overwrite",), ("--resume",)):
            second = subprocess.run(
                train_cmd(tmp_path, "--max-steps", "2", *extra),
                capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert_one_error_line(second, run_dir, f"PID {first.pid}")
            assert first.poll() is None  # the first run goes on, its folder untouched
            assert (run_dir / "train_config.json").is_file()
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    # A killed run leaves no lock behind: the next run starts at once.
    after = subprocess.run(
        train_cmd(tmp_path, "--max-steps", "2", "--overwrite"),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert after.returncode == 0, after.stderr
