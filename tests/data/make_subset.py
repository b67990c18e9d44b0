"""Rebuild tests/data/MNIST/raw/: the first 600 training and 300 test digits of real MNIST,
written in the original IDX format so tests read them through the same torchvision loader.

    python tests/data/make_subset.py ../shared/data/MNIST/raw
"""

import struct
import sys
from pathlib import Path

TRAIN, TEST = 600, 300


def subset(src: Path, dst: Path, name: str, count: int) -> None:
    data = (src / name).read_bytes()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:  # images: magic, n, rows, cols, then n*rows*cols bytes
        rows, cols = struct.unpack(">II", data[8:16])
        body = data[16 : 16 + count * rows * cols]
        out = struct.pack(">IIII", magic, count, rows, cols) + body
    else:  # labels: magic, n, then n bytes
        out = struct.pack(">II", magic, count) + data[8 : 8 + count]
    (dst / name).write_bytes(out)


def main(src: str) -> None:
    dst = Path(__file__).parent / "MNIST" / "raw"
    dst.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", TRAIN), ("t10k", TEST)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            subset(Path(src), dst, f"{prefix}-{kind}", count)


if __name__ == "__main__":
    main(sys.argv[1])
