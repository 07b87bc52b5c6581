"""Atomic writes for the pictures and sounds Gradio saves to its cache.

Gradio 6.31 names a cached output after the hash of its bytes and writes it in place
(`Path.write_bytes`: truncate, then write). When two requests draw the same picture at the same
time (same image, same question), one truncates the file while the other's client is downloading
it, and that download ends with 0 bytes (found by benchmarks/load.py: 40 errors in 3,200
requests). Writing to a temporary name and renaming it into place makes every reader see either
the old complete file or the new complete one. Same file names and folders as Gradio's own.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from gradio import processing_utils


def write_atomically(path: Path, data: bytes) -> None:
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def save_pil_to_cache(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    write_atomically(path, data)
    return str(path)


def save_bytes_to_cache(data: bytes, file_name: str, cache_dir: str) -> str:
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    if not Path(file_name).suffix:
        file_name = file_name + processing_utils.detect_audio_format(data)
    path = (folder / Path(file_name).name).resolve()
    write_atomically(path, data)
    return str(path)


def install() -> None:
    """Replace Gradio's two in-place cache writers (every component calls them through the module)."""
    processing_utils.save_pil_to_cache = save_pil_to_cache
    processing_utils.save_bytes_to_cache = save_bytes_to_cache
