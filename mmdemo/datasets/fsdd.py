"""Free Spoken Digit Dataset (Zohar Jackson and contributors, CC BY-SA 4.0): real human speech.

    waves, labels, speakers = fsdd_clips(split="train")   # float32 at 16 kHz, digits, speaker names

2,500 WAVs at 8 kHz, five male speakers, `{digit}_{speaker}_{index}.wav`; its own split is index 0-4
test, 5-49 train. The folder (holding recordings/) is found by paths.dataset("fsdd"): $MMDEMO_FSDD, then
../shared/data/fsdd beside the project, then the user cache (downloaded there when absent and reachable).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import paths
from ..errors import MMDemoError
from ..inputs import resample

SAMPLE_RATE = 16_000
SPEAKERS = ["jackson", "nicolas", "theo", "yweweler", "lucas"]
TEST_INDICES = range(0, 5)          # FSDD's own split: index 0-4 test, 5-49 train


@lru_cache(maxsize=1)
def _fsdd_all() -> tuple[tuple[np.ndarray, ...], np.ndarray, tuple[str, ...], np.ndarray]:
    import soundfile as sf
    folder = paths.dataset("fsdd") / "recordings"
    files = sorted(folder.glob("*_*_*.wav")) if folder.is_dir() else []
    if not files:
        raise MMDemoError(f"FSDD not found: no {{digit}}_{{speaker}}_{{index}}.wav in {folder}. "
                          "Set MMDEMO_FSDD to the folder holding recordings/.")
    waves, labels, speakers, indices = [], [], [], []
    for f in files:
        digit, speaker, index = f.stem.split("_")
        data, rate = sf.read(str(f), dtype="float32", always_2d=True)
        waves.append(resample(data.mean(1), rate, SAMPLE_RATE))
        labels.append(int(digit)), speakers.append(speaker), indices.append(int(index))
    return tuple(waves), np.array(labels, dtype=np.int64), tuple(speakers), np.array(indices)


def fsdd_clips(speakers=None, split: str | None = None) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """FSDD clips at 16 kHz: (waves, labels, speaker of each clip), filtered by speaker names and
    split ("train" = index 5-49, "test" = index 0-4, None = all), in file-name order."""
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be None, 'train' or 'test', not {split!r}")
    waves, labels, who, index = _fsdd_all()
    keep = np.ones(len(waves), dtype=bool)
    if speakers is not None:
        unknown = set(speakers) - set(who)
        if unknown:
            raise MMDemoError(f"FSDD has no speaker {', '.join(sorted(unknown))}; it has {', '.join(sorted(set(who)))}.")
        keep &= np.isin(np.array(who), list(speakers))
    if split is not None:
        keep &= np.isin(index, TEST_INDICES) == (split == "test")
    rows = np.flatnonzero(keep)
    return [waves[i] for i in rows], labels[rows], [who[i] for i in rows]
