"""MNIST loading through torchvision, batching, and the missing-data message."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys

import pytest
import torch

from vae_hub import DataNotFoundError
from vae_hub.files.mnist import (
    IDX_FILES,
    batch_indices,
    epoch_permutation,
    load_mnist,
    num_batches,
    resolve_root,
    to_float,
)

from .conftest import DATA_DIR, ROOT, full_mnist_or_skip


def test_loads_the_shipped_subset_as_uint8_tensors():
    train = load_mnist(DATA_DIR, train=True, download=False)
    test = load_mnist(DATA_DIR, train=False, download=False)
    assert train.images.shape == (600, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (300, 28, 28)
    assert train.labels.dtype == torch.int64
    assert set(train.labels.tolist()) == set(range(10))


def test_evaluation_subsets_spread_through_the_split():
    test = load_mnist(DATA_DIR, train=False, download=False)  # 300 digits
    part = test.spread(100)
    assert len(part) == 100
    assert torch.equal(part.images[1], test.images[3]) and torch.equal(
        part.labels[-1], test.labels[297]
    )
    assert test.spread(1000) is test and len(test.subset(100)) == 100


def test_raw_folder_paths_resolve_to_the_torchvision_root():
    assert resolve_root(DATA_DIR / "MNIST" / "raw") == DATA_DIR
    assert resolve_root(DATA_DIR / "MNIST") == DATA_DIR
    assert (
        load_mnist(DATA_DIR / "MNIST" / "raw", train=False, download=False).images.shape[0] == 300
    )


def test_missing_data_message_names_the_files_and_the_flag(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path, train=True, download=False)
    message = str(info.value)
    for name in IDX_FILES:
        assert name in message
    assert "--data-dir" in message
    assert "\n" not in message


def test_unreadable_files_are_reported_as_such(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX_FILES:
        (raw / name).write_bytes(b"\x00\x01")
    with pytest.raises(DataNotFoundError, match="could not be read"):
        load_mnist(tmp_path, train=True, download=False)


def test_train_py_without_data_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "--data-dir",
            str(tmp_path / "none"),
            "--no-download",
            "--output-dir",
            str(tmp_path / "exp"),
            "--progress",
            "--dry-run",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "train-images-idx3-ubyte" in proc.stderr and "--data-dir" in proc.stderr


def test_batches_cover_each_epoch_once_in_a_seeded_order():
    order = epoch_permutation(10, seed=3, epoch=0, device="cpu")
    assert torch.equal(order, epoch_permutation(10, seed=3, epoch=0, device="cpu"))
    assert not torch.equal(order, epoch_permutation(10, seed=3, epoch=1, device="cpu"))
    batches = list(batch_indices(order, 3))
    assert [len(b) for b in batches] == [3, 3, 3] == [3] * num_batches(10, 3)
    assert torch.equal(torch.cat(list(batch_indices(order, 3, start=1))), order[3:9])


def test_to_float_scales_to_unit_interval():
    x = to_float(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert x.shape == (1, 1, 1, 2) and x.tolist() == [[[[0.0, 1.0]]]]


@pytest.mark.slow
def test_full_mnist_loads_through_the_same_loader():
    root = full_mnist_or_skip()
    train = load_mnist(root, train=True, download=False)
    test = load_mnist(root, train=False, download=False)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert torch.bincount(test.labels).tolist()[:2] == [980, 1135]


def _labels_file(labels: list[int]) -> bytes:
    """An IDX label file (magic 2049, count, one byte per label)."""
    return struct.pack(">II", 2049, len(labels)) + bytes(labels)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([3] * 100, "holds 100 labels for the 600 images"),
        ([3] * 599 + [12], "holds label 12"),
    ],
)
def test_a_labels_file_that_does_not_fit_its_images_is_named(tmp_path, labels, message):
    shutil.copytree(DATA_DIR, tmp_path / "data")
    raw = tmp_path / "data" / "MNIST" / "raw"
    (raw / "train-labels-idx1-ubyte").write_bytes(_labels_file(labels))
    with pytest.raises(DataNotFoundError, match=message) as info:
        load_mnist(tmp_path / "data", train=True, download=False)
    assert str(raw / "train-labels-idx1-ubyte") in str(info.value)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--data-dir", str(tmp_path / "data"),
         "--no-download", "--output-dir", str(tmp_path / "exp"), "--prior", "class-mixture",
         "--dry-run", "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "train-labels-idx1-ubyte" in proc.stderr


def test_a_failed_download_creates_nothing_and_gives_the_whole_cause(tmp_path, monkeypatch):
    """A wrong --data-dir with downloading on: torchvision makes DIR/MNIST/raw/ and tries
    each mirror. Here the mirror is a closed local port (no network needed); afterwards no
    folder is left behind, neither the data's nor the run's, and the message carries the
    whole cause, not the first line of it."""
    from vae_hub.cli.train import main
    from vae_hub.files import mnist

    monkeypatch.setattr(mnist.MNIST, "mirrors", ["http://127.0.0.1:9/mnist/"])
    wrong = tmp_path / "typo" / "data"
    runs = tmp_path / "experiments"
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(wrong, train=True, download=True)
    message = str(info.value)
    assert "Tried http://127.0.0.1:9/mnist/" in message and "\n" not in message
    assert not (tmp_path / "typo").exists()
    assert main(["--data-dir", str(wrong), "--output-dir", str(runs), "--no-progress"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_download_keeps_what_was_there(tmp_path, monkeypatch):
    from vae_hub.files import mnist

    monkeypatch.setattr(mnist.MNIST, "mirrors", ["http://127.0.0.1:9/mnist/"])
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "notes.txt").write_text("mine")
    with pytest.raises(DataNotFoundError):
        load_mnist(tmp_path, train=True, download=True)
    assert [p.name for p in raw.iterdir()] == ["notes.txt"]
