"""MNIST in, tensors out.

A split is read once through `torchvision.datasets.MNIST` and kept as one uint8 tensor on the
training device; batches are gathered by index. That avoids per-sample PIL transforms and
DataLoader workers, which cost more than the model itself at MNIST scale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file

from ..errors import DataNotFoundError

DEFAULT_DATA_DIR = "./MNIST_dataset"
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class MnistSplit:
    """One split: images (N, 28, 28) uint8 and labels (N,) int64, on one device."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> MnistSplit:
        return MnistSplit(self.images.to(device), self.labels.to(device))

    def subset(self, n: int) -> MnistSplit:
        """The first `n` examples (all of them when n >= len)."""
        return MnistSplit(self.images[:n], self.labels[:n])

    def spread(self, n: int) -> MnistSplit:
        """`n` examples evenly spaced through the split (all of them when n >= len).

        Evaluation subsets use this, not the first n: MNIST's test split is ordered, its
        first 5,000 digits (from NIST's training writers) cleaner and easier than the rest.
        """
        if n >= len(self):
            return self
        index = torch.arange(n, device=self.images.device) * len(self) // n  # (n,)
        return MnistSplit(self.images[index], self.labels[index])


def resolve_root(data_dir: str | Path) -> Path:
    """The torchvision root for `data_dir`: it holds MNIST/raw/. `.../MNIST/raw` works too."""
    path = Path(data_dir).expanduser()
    if path.name == "raw" and path.parent.name == "MNIST":
        return path.parent.parent
    if path.name == "MNIST" and (path / "raw").is_dir():
        return path.parent
    return path


def load_mnist(data_dir: str | Path = DEFAULT_DATA_DIR, train: bool = True, download: bool = True):
    """Read one MNIST split from `data_dir` (torchvision layout), downloading it if allowed.

    Raises DataNotFoundError with instructions when the files are absent and cannot be fetched.
    """
    root = resolve_root(data_dir)
    raw = root / "MNIST" / "raw"
    before = _existing(root)
    try:
        dataset = MNIST(root=str(root), train=train, download=download)
    except (RuntimeError, OSError, ValueError, AssertionError, IndexError) as e:
        _remove_new(root, before)  # a failed download leaves no empty folders behind
        # torchvision reports a malformed IDX header with a bare assert, and a failed
        # download over several lines (each mirror tried, and why it failed): all of it
        reason = " ".join(str(e).split()) or type(e).__name__
        if all((raw / name).is_file() for name in IDX_FILES):
            raise DataNotFoundError(
                f"the MNIST files in {raw} could not be read ({reason}); replace them with "
                f"the four original IDX files ({', '.join(IDX_FILES)})"
            ) from e
        raise DataNotFoundError(missing_data_message(root, download, reason)) from e
    split = MnistSplit(dataset.data.contiguous(), dataset.targets.long())
    check_labels(split, raw, "train" if train else "t10k")
    return split


def _existing(root: Path) -> set[Path]:
    """What of root/MNIST/raw/ exists now: the folders on the way to it (root's missing
    parents too, which torchvision would create) and the files in raw/."""
    raw = root / "MNIST" / "raw"
    paths = [raw, *raw.absolute().parents[: len(raw.absolute().parts) - 1]]
    files = list(raw.iterdir()) if raw.is_dir() else []
    return {p.absolute() for p in [*paths, *files] if p.exists()}


def _remove_new(root: Path, before: set[Path]) -> None:
    """Remove what a failed torchvision download created under `root` (its folders, a
    partly downloaded archive), leaving everything that was there before."""
    raw = (root / "MNIST" / "raw").absolute()
    for path in sorted(_existing(root) - before, key=lambda p: len(p.parts), reverse=True):
        if path.is_file() and path.parent == raw:
            path.unlink(missing_ok=True)
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def check_labels(split: MnistSplit, raw: Path, prefix: str) -> None:
    """One label, a digit 0-9, per image: a labels file that is short, long or holds other
    values fails here, naming it, and not as an IndexError or a CUDA assert mid-training."""
    labels_file = raw / f"{prefix}-labels-idx1-ubyte"
    images, labels = split.images.shape[0], split.labels.shape[0]
    if labels != images:
        raise DataNotFoundError(
            f"{labels_file} holds {labels:,} labels for the {images:,} images of "
            f"{raw / f'{prefix}-images-idx3-ubyte'}; replace both with the original IDX files"
        )
    if labels and not 0 <= int(split.labels.min()) <= int(split.labels.max()) <= 9:
        raise DataNotFoundError(
            f"{labels_file} holds label {int(split.labels.max())}; MNIST labels are the digits "
            "0-9: replace it with the original IDX file"
        )


def fingerprint(split: MnistSplit) -> dict[str, int | str]:
    """What a split holds, in short: its size and the SHA-256 of its images and labels. A
    checkpoint records its training set's, so a run is never resumed on other data."""
    digest = hashlib.sha256()
    for tensor in (split.images, split.labels):
        digest.update(tensor.cpu().contiguous().numpy())
    return {"images": len(split), "sha256": digest.hexdigest()}


class MNIST(torchvision.datasets.MNIST):
    """torchvision's MNIST, minus its legacy path that unpickles processed/*.pt files left by
    old torchvision versions: we read the IDX files only, never a pickle. (The class keeps
    the name MNIST because torchvision derives the folder name MNIST/raw from it.)"""

    def _check_legacy_exist(self) -> bool:
        return False


def missing_data_message(root: Path, download: bool, reason: str) -> str:
    tried = "could not be downloaded" if download else "downloading is off (--no-download)"
    return (
        f"MNIST was not found under {root / 'MNIST' / 'raw'} and {tried} ({reason}). "
        f"Put the four original IDX files ({', '.join(IDX_FILES)}; uncompressed, "
        "or as the original .gz files) in that folder, or pass --data-dir with a folder "
        "that holds MNIST/raw/ with them (a path ending in MNIST/raw works too)."
    )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 28, 28) -> float (B, 1, 28, 28) in [0, 1]."""
    return images.unsqueeze(1).float().div_(255.0)


def binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarization: each pixel becomes 1 with probability equal to its grey level."""
    return torch.bernoulli(x, generator=generator)


def as_batch(
    images: torch.Tensor, binarized: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """What the model trains and is scored on: uint8 (B, 28, 28) -> float (B, 1, 28, 28),
    binarized with `generator` when the model is a binarized one."""
    x = to_float(images)
    return binarize(x, generator) if binarized else x


def epoch_permutation(n: int, seed: int, epoch: int, device: torch.device | str) -> torch.Tensor:
    """The shuffling of epoch `epoch`, a pure function of (seed, epoch) so resuming mid-epoch
    can rebuild it and skip the batches already done."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=generator).to(device)


def batch_indices(
    order: torch.Tensor, batch_size: int, start: int = 0, drop_last: bool = True
) -> Iterator[torch.Tensor]:
    """Yield index batches of `order`, beginning at batch number `start`."""
    n = order.shape[0]
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for begin in range(start * batch_size, stop, batch_size):
        yield order[begin : begin + batch_size]


def num_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    if drop_last and n >= batch_size:
        return n // batch_size
    return -(-n // batch_size)


EXAMPLES = ("assets", "mnist_examples.safetensors")
EXAMPLES_PER_DIGIT = 10


def load_examples() -> MnistSplit:
    """Ten real MNIST test digits of each class (shipped with the package; MNIST is
    CC BY-SA 3.0), so the demo can offer inputs without the dataset. Sorted by digit:
    example i of digit d is row d * 10 + i."""
    tensors = load_file(str(resources.files("vae_hub").joinpath(*EXAMPLES)))
    return MnistSplit(tensors["images"], tensors["labels"])
