"""MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), read straight from the gzip IDX files.

    images, labels = load_mnist("train")   # 60,000 x 28 x 28 uint8, 60,000 int64 (official split)

The folder (holding MNIST/raw/*-ubyte.gz, as torchvision lays it out) is found by paths.dataset("mnist"):
$MMDEMO_MNIST, then ../shared/data/mnist beside the project, then the user cache (downloaded there
when absent and the network is reachable).
"""
from __future__ import annotations

import gzip
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import paths
from ..errors import MMDemoError

FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _read_idx(path: Path, header: str) -> tuple[tuple[int, ...], np.ndarray]:
    with gzip.open(path, "rb") as f:
        data = f.read()
    size = struct.calcsize(header)
    return struct.unpack(header, data[:size]), np.frombuffer(data, dtype=np.uint8, offset=size)


@lru_cache(maxsize=2)
def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, labels N int64) of the official `split` ("train" or "test")."""
    if split not in FILES:
        raise ValueError(f"MNIST has splits 'train' and 'test', not {split!r}")
    raw = paths.dataset("mnist") / "MNIST" / "raw"
    image_file, label_file = (raw / name for name in FILES[split])
    if not image_file.is_file() or not label_file.is_file():
        raise MMDemoError(f"MNIST not found in {raw}; set MMDEMO_MNIST to a folder holding MNIST/raw/*.gz.")
    (magic, n, rows, cols), pixels = _read_idx(image_file, ">IIII")
    (lmagic, ln), labels = _read_idx(label_file, ">II")
    if magic != 2051 or lmagic != 2049 or n != ln:
        raise MMDemoError(f"{raw} does not hold valid MNIST IDX files.")
    return pixels.reshape(n, rows, cols), labels.astype(np.int64)
