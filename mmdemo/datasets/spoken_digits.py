"""Spoken digits for training: FSDD's real speakers + synthetic voices (espeak-ng, flite, festival),
and augmentation that makes a clean clip sound like a live microphone recording.

    waves, labels = digit_clips("train")                  # FSDD train + synthetic voices (not augmented)
    wave = augment(wave, np.random.default_rng(0))        # a microphone's view of the same clip

FSDD is 8 kHz, so it has nothing above 4 kHz; the audio features (nn/speech_embedding.py) stop at 3.8 kHz,
which makes 16 kHz microphone audio, synthetic speech and FSDD look alike without extra filtering.
Synthetic clips are made once by the speech synthesisers installed on the machine and cached in
.cache/speech/ (a few minutes the first time; if none is installed, training uses FSDD alone).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from .. import paths
from ..inputs import resample
from .fsdd import SAMPLE_RATE, fsdd_clips

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SYNTH_VERSION = 1                   # bump when the voice list changes: the cache file name carries it


def trim(wave: np.ndarray, top_db: float = 35.0, frame: int = 320) -> np.ndarray:
    """Drop leading/trailing 20 ms frames quieter than the loudest frame - top_db (energy-based).
    Returns the clip unchanged if it is all quiet or too short to judge."""
    n = len(wave) // frame
    if n < 3:
        return wave
    energy = (wave[: n * frame].reshape(n, frame).astype(np.float64) ** 2).mean(1)
    db = 10 * np.log10(energy + 1e-12)
    loud = np.flatnonzero(db > db.max() - top_db)
    start, stop = loud[0] * frame, (loud[-1] + 1) * frame
    return wave[start:stop] if stop - start >= frame else wave


def voice_list(seed: int = 0) -> list[tuple[str, str, list[str]]]:
    """(engine, voice name, extra command-line args) of every synthetic voice; same list every run.

    espeak-ng: English accents and, for the accents of FSDD's Belgian/German speakers, the French,
    German and Dutch voices reading the English words; each with a random variant (male, female,
    klatt), speed and pitch. flite and festival: their voices at several speeds and pitches."""
    rng = np.random.default_rng(seed)
    out = []
    accents = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
               "en-029", "en-us-nyc", "de", "fr", "nl"]
    variants = [f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 6)] + \
               ["klatt", "klatt2", "klatt3", "klatt4"] + ["Andy", "john", "max", "paul", "edward", "Mike", "norbert"]
    for i in range(240):
        voice = f"{accents[i % len(accents)]}+{variants[rng.integers(len(variants))]}"
        speed, pitch = int(rng.integers(110, 210)), int(rng.integers(15, 80))
        out.append(("espeak-ng", voice, ["-s", str(speed), "-p", str(pitch)]))
    for voice in ["kal", "kal16", "awb", "rms", "slt"]:
        for stretch in (0.8, 1.0, 1.25, 1.5):
            for f0 in (85, 110, 150):
                out.append(("flite", voice, ["--setf", f"duration_stretch={stretch}",
                                             "--setf", f"int_f0_target_mean={f0}"]))
    for voice in ["kal_diphone", "cmu_us_slt_arctic_hts"]:
        for stretch in (0.8, 1.0, 1.2, 1.4):
            out.append(("festival", voice, [f"{stretch}"]))
    return out


def _synthesise(engine: str, voice: str, args: list[str], word: str) -> np.ndarray:
    import soundfile as sf
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        if engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", voice, *args, "-w", str(path), word]
        elif engine == "flite":
            cmd = ["flite", "-voice", voice, *args, "-t", word, "-o", str(path)]
        else:   # festival's text2wave: voice and duration stretch through -eval
            cmd = ["text2wave", "-eval", f"(voice_{voice})", "-eval",
                   f"(Parameter.set 'Duration_Stretch {args[0]})", "-o", str(path)]
        subprocess.run(cmd, input=word if engine == "festival" else None, text=True, check=True,
                       capture_output=True, timeout=60)
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    wave = trim(resample(data.mean(1), rate, SAMPLE_RATE))
    return wave / max(float(np.abs(wave).max()), 1e-6) * 0.7


def synthetic_clips(every: int = 1, verbose: bool = True) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Every installed voice (every `every`-th one) saying every digit word, trimmed, 16 kHz:
    (waves, labels, voice names).
    Made once and cached in .cache/speech/synth_v{SYNTH_VERSION}.npz; engines that are not
    installed are skipped (delete the cache to redo it after installing them)."""
    path = paths.cache("speech", f"synth_v{SYNTH_VERSION}.npz")
    if path.is_file():
        z = np.load(path)
        waves, labels, voices = np.split(z["samples"], z["offsets"][1:-1]), z["labels"], list(z["voices"])
        names = list(dict.fromkeys(voices))                     # voices in synthesis order
        keep = set(names[::every])
        rows = [i for i, v in enumerate(voices) if v in keep]
        return [waves[i] for i in rows], labels[rows], [voices[i] for i in rows]
    import time
    t0 = time.perf_counter()
    engines = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}
    waves, labels, voices = [], [], []
    voice_set = [v for v in voice_list() if shutil.which(engines[v[0]])]
    for n, (engine, voice, args) in enumerate(voice_set):
        for digit, word in enumerate(DIGIT_WORDS):
            try:
                wave = _synthesise(engine, voice, args, word)
            except (subprocess.SubprocessError, OSError, RuntimeError) as e:
                if verbose:
                    print(f"  skipped {engine} {voice} {word}: {e}")
                continue
            waves.append(wave), labels.append(digit), voices.append(f"{engine}:{voice}:{' '.join(args)}")
        if verbose and n % 50 == 0:
            print(f"synthesising: voice {n + 1}/{len(voice_set)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    if waves:   # written once; later calls (and `every`) read it back
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(w) for w in waves])
        partial = path.with_name(f"{path.stem}.{os.getpid()}.npz")   # then renamed: readers never see half a file
        np.savez(partial, samples=np.concatenate(waves).astype(np.float32), offsets=offsets,
                 labels=np.array(labels, dtype=np.int64), voices=np.array(voices))
        os.replace(partial, path)
    if verbose:
        print(f"synthesised {len(waves)} clips from {len(voice_set)} voices in {time.perf_counter() - t0:.0f} s -> {path}")
    return synthetic_clips(every, verbose) if waves else ([], np.zeros(0, np.int64), [])


def digit_clips(split: str, seed: int = 0, speakers=None, synthetic: bool = True,
                synthetic_every: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    """The audio training mixture ("train": FSDD train split of `speakers` (default all five) +
    every `synthetic_every`-th synthetic voice) or the clean FSDD official test split ("test").
    Not augmented: call augment() on each clip per epoch. `seed` shuffles the order."""
    if split == "test":
        waves, labels, _ = fsdd_clips(speakers, "test")
        return waves, labels
    if split != "train":
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    waves, labels, _ = fsdd_clips(speakers, "train")
    if synthetic:
        s_waves, s_labels, _ = synthetic_clips(synthetic_every)
        waves, labels = waves + list(s_waves), np.concatenate([labels, s_labels])
    order = np.random.default_rng(seed).permutation(len(waves))
    return [waves[i] for i in order], labels[order]


# ---------------------------------------------------------------------------------- augmentation
def augment(wave: np.ndarray, rng: np.random.Generator, max_seconds: float = 3.0, max_silence: float = 0.35) -> np.ndarray:
    """One random 'microphone' view of a clean 16 kHz clip: speed/pitch/vocal-tract change, a mic's
    tilt, leading/trailing silence, level change, noise, a trip through another sample rate.
    Returns float32 at 16 kHz, finite, in -1..1, at most max_seconds long."""
    wave = np.asarray(wave, dtype=np.float32)
    if rng.random() < 0.8:   # speed + pitch + formants together (resample, play at 16 kHz): ±20 %
        wave = resample(wave, SAMPLE_RATE, SAMPLE_RATE + 400 * int(rng.integers(-8, 9)))
    if rng.random() < 0.5:   # first-order tilt: a bright or dull microphone
        a = rng.uniform(-0.5, 0.9)
        wave = np.concatenate([wave[:1], wave[1:] - a * wave[:-1]])
    if rng.random() < 0.8:   # a live recording starts before and ends after the word
        lead, tail = (int(rng.uniform(0, max_silence) * SAMPLE_RATE) for _ in range(2))
        wave = np.concatenate([np.zeros(lead, np.float32), wave, np.zeros(tail, np.float32)])
    wave = wave * np.float32(10 ** (rng.uniform(-25, 5) / 20) / max(float(np.abs(wave).max()), 1e-6))
    if rng.random() < 0.7:   # white or low-frequency (brown-ish) noise at 0-40 dB SNR
        noise = rng.standard_normal(len(wave)).astype(np.float32)
        if rng.random() < 0.4:
            noise = np.cumsum(noise).astype(np.float32)
            noise -= np.convolve(noise, np.ones(64, np.float32) / 64, mode="same")
        voiced = wave[wave != 0]   # the word itself, not the added silence
        signal_power = float(np.mean(voiced.astype(np.float64) ** 2)) if voiced.size else 1e-10
        snr = rng.uniform(0, 40)
        noise *= np.float32(np.sqrt(signal_power / 10 ** (snr / 10) / (float(np.mean(noise.astype(np.float64) ** 2)) + 1e-12)))
        wave = wave + noise
    if rng.random() < 0.25:  # through another sample rate and back
        rate = int(rng.choice([8000, 11025, 12000, 22050]))
        wave = resample(resample(wave, SAMPLE_RATE, rate), rate, SAMPLE_RATE)
    wave = np.clip(wave[: int(max_seconds * SAMPLE_RATE)], -1.0, 1.0)
    return np.nan_to_num(wave).astype(np.float32)
