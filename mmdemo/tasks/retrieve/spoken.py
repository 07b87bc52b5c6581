"""Spoken scene captions: each caption read by a synthetic espeak-ng voice, and the frozen speech
embedding's vectors of that reading (Google's speech embedding, one 96-d vector per 80 ms).

    waves, voices = spoken_captions(captions, "train", seed=0)     # 16 kHz clips, cached
    vectors = spoken_vectors(encoder, captions, "test", seed=1)    # list of (N_i, 96) float16, cached

Voices: the espeak-ng voices of datasets/spoken_digits.voice_list (accents x variants, each with its
own speed and pitch), split in two: even positions read the training captions, odd positions the test
captions, so the test figures are for voices the speech tower never heard. A caption gets one voice,
drawn with the seed. Made once with espeak-ng (~40 ms a caption) and cached in .cache/retrieve/.
"""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np

from ... import paths
from ...errors import MMDemoError


def voices(split: str) -> list[tuple[str, str, list[str]]]:
    """The espeak-ng voices that read `split`'s captions (train: even positions, else odd)."""
    from ...datasets.spoken_digits import voice_list
    espeak = [v for v in voice_list() if v[0] == "espeak-ng"]
    return espeak[0::2] if split == "train" else espeak[1::2]


def _cache_path(kind: str, captions: list[str], split: str, seed: int):
    key = hashlib.sha256("\n".join(captions).encode()).hexdigest()[:12]
    return paths.cache("retrieve", f"spoken-{kind}-{split}-{seed}-{key}.npz")


def _save(path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def spoken_captions(captions: list[str], split: str, seed: int = 0,
                    keep: bool = True) -> tuple[list[np.ndarray], list[str]]:
    """Each caption read by one of `split`'s voices -> (16 kHz clips, voice names); cached as int16
    when `keep` (galleries; training keeps only the vectors: 5,000 clips are ~0.5 GB)."""
    from ...datasets.spoken_digits import _synthesise
    path = _cache_path("waves", captions, split, seed)
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return [w.astype(np.float32) / 32767 for w in np.split(z["samples"], z["offsets"][1:-1])], list(z["voices"])
    if not shutil.which("espeak-ng"):
        raise MMDemoError("Spoken captions need espeak-ng (apt install espeak-ng).")
    pool = voices(split)
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(pool), size=len(captions))
    waves = [_synthesise(*pool[p], caption) for p, caption in zip(picks, captions)]
    names = [f"espeak-ng:{pool[p][1]}:{' '.join(pool[p][2])}" for p in picks]
    if keep:
        _save(path, samples=(np.concatenate(waves) * 32767).astype(np.int16),
              offsets=np.cumsum([0] + [len(w) for w in waves]), voices=np.array(names))
    return waves, names


def spoken_vectors(encoder, captions: list[str], split: str, seed: int = 0) -> list[np.ndarray]:
    """The frozen speech-embedding vectors of each spoken caption: list of (N_i, 96) float16; cached.
    `encoder` is an nn.audio.AudioEncoder (only its frozen speech embedding is used)."""
    from ...nn.audio import clip_vectors
    path = _cache_path("vectors", captions, split, seed)
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return np.split(z["vectors"], z["offsets"][1:-1])
    waves, _ = spoken_captions(captions, split, seed, keep=False)
    print(f"retrieve: speech vectors of {len(waves)} spoken {split} captions", flush=True)
    vectors = [v.numpy() for v in clip_vectors(encoder, waves)]
    _save(path, vectors=np.concatenate(vectors), offsets=np.cumsum([0] + [len(v) for v in vectors]))
    return vectors
