"""The generator's data: a fixed-size log-mel of a spoken digit (the speech decoder's target, made
audible again with Griffin-Lim), and frozen classifier features of the three modalities.

    t = speech_target(wave_16k)        # (64 mel bands, 64 frames) in 0..1: ~1 s, the word centred
    wave = speech_from_target(t)       # 16 kHz samples: InverseMelScale + GriffinLim (torchaudio)
    feats = modality_features(net, "audio", waves)   # frozen pooled features of checkpoints/classify
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torchaudio.transforms as T

from ...datasets.spoken_digits import trim

SAMPLE_RATE = 16_000
N_FFT, HOP, N_MELS = 1024, 256, 64
FRAMES = 64                                  # 64 frames x 16 ms hop = 1.02 s
CLIP_SAMPLES = (FRAMES - 1) * HOP            # centre=True framing: 1 + 16128 / 256 = 64 frames
F_MAX = 8000.0
TOP_DB = 80.0                                # the target keeps the loudest 80 dB of each clip
GRIFFIN_LIM_ITERS = 32


@lru_cache(maxsize=1)
def _transforms():
    mel = T.MelSpectrogram(SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, f_max=F_MAX, power=2.0)
    inverse = T.InverseMelScale(N_FFT // 2 + 1, n_mels=N_MELS, sample_rate=SAMPLE_RATE, f_max=F_MAX)
    griffin = T.GriffinLim(n_fft=N_FFT, hop_length=HOP, n_iter=GRIFFIN_LIM_ITERS, power=2.0)
    return mel, inverse, griffin


def centre_clip(wave: np.ndarray) -> np.ndarray:
    """Trim silence, scale to peak 0.5 and centre the word in CLIP_SAMPLES (longer words: their middle)."""
    wave = trim(np.asarray(wave, dtype=np.float32))
    wave = wave * np.float32(0.5 / max(float(np.abs(wave).max()), 1e-6))
    if len(wave) >= CLIP_SAMPLES:
        start = (len(wave) - CLIP_SAMPLES) // 2
        return wave[start:start + CLIP_SAMPLES]
    out = np.zeros(CLIP_SAMPLES, np.float32)
    start = (CLIP_SAMPLES - len(wave)) // 2
    out[start:start + len(wave)] = wave
    return out


@torch.no_grad()
def speech_target(wave: np.ndarray) -> np.ndarray:
    """A 16 kHz clip -> (N_MELS, FRAMES) log-mel in 0..1 (1 = the clip's loudest bin, 0 = TOP_DB below)."""
    power = _transforms()[0](torch.from_numpy(centre_clip(wave)))
    db = 10 * torch.log10(power.clamp_min(1e-10))
    db = (db - db.max()).clamp_min(-TOP_DB)
    return (db / TOP_DB + 1).numpy().astype(np.float32)


@torch.no_grad()
def speech_from_target(target) -> np.ndarray:
    """(N_MELS, FRAMES) or (B, N_MELS, FRAMES) in 0..1 -> 16 kHz samples (peak 0.5), via torchaudio's
    InverseMelScale (least squares) and Griffin-Lim phase reconstruction."""
    _, inverse, griffin = _transforms()
    t = torch.as_tensor(target).float()
    power = 10 ** ((t.clamp(0, 1) - 1) * TOP_DB / 10)
    wave = griffin(inverse(power).clamp_min(0))
    return (wave * (0.5 / wave.abs().amax(-1, keepdim=True).clamp_min(1e-6))).numpy().astype(np.float32)
