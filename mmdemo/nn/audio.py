"""Audio encoder: log-mel -> pretrained speech-embedding CNN (frozen) -> a trained projection ->
attention pooling over time.

    mel = log_mel(wave_16k)                       # (N_MELS, frames), 10 ms per frame
    x, lengths = batch_mels([mel, ...])           # zero-padded batch
    pooled, frame_weights = AudioEncoder()(x, lengths)   # frame_weights: the pooling softmax, on mel frames

The CNN is Google's speech_embedding (nn/speech_embedding.py), pretrained on a large corpus of real
speech: it turns each 0.76 s window of a 32-band mel spectrogram (60-3800 Hz: inside FSDD's 4 kHz band,
so microphone, synthetic and FSDD audio look alike) into a 96-d vector, one every 80 ms. It is frozen;
what this project trains is the projection, the attention pooling and the head, on FSDD + synthetic
voices seen through augment(). Four real training speakers are too few to learn speaker-independent
features from scratch (that design heard a new speaker at 0.895; this one: docs/speech.md).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import MMDemoError
from . import speech_embedding as se
from .pooling import AttentionPool

SAMPLE_RATE = se.SAMPLE_RATE

N_MELS = se.N_MELS
PAD_SECONDS = 0.4         # silence added on both sides, so every part of the word is at the centre of a window
PEAK = 0.5                # each clip is scaled to this peak: the level of the recording does not matter


def log_mel(wave) -> torch.Tensor:
    """Mono 16 kHz samples (numpy or tensor) -> (N_MELS, frames) log-mel of the clip scaled to PEAK
    with PAD_SECONDS of silence on both sides (the speech embedding's own front end), float32."""
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave).float()
    if wave.ndim != 1 or wave.numel() == 0:
        raise MMDemoError(f"log_mel needs a non-empty mono clip, got shape {tuple(wave.shape)}.")
    if not torch.isfinite(wave).all():
        raise MMDemoError("The audio contains NaN or infinite samples.")
    pad = int(PAD_SECONDS * SAMPLE_RATE)
    wave = nn.functional.pad(wave * (PEAK / max(float(wave.abs().max()), 1e-6)), (pad, pad))
    return se.speech_mel(wave).T.contiguous()


def batch_mels(mels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (N_MELS, T_i) -> (B, N_MELS, T_max) padded with zeros, lengths (B,).
    Padding never reaches the pooled vector: windows that overlap it are masked."""
    lengths = torch.tensor([m.shape[1] for m in mels])
    return nn.utils.rnn.pad_sequence([m.T for m in mels], batch_first=True).transpose(1, 2), lengths


def mel_batch(waves) -> tuple[torch.Tensor, torch.Tensor]:
    """16 kHz clips -> the encoder's input: batch_mels of their log_mels."""
    return batch_mels([log_mel(w) for w in waves])


class AudioEncoder(nn.Module):
    """(B, N_MELS, T) log-mels + lengths -> pooled (B, dim), frame weights (B, T).

    The frozen speech embedding gives one 96-d vector per 80 ms (each from a 0.76 s window); a trained
    projection and AttentionPool weigh them. The frame weights are that pooling softmax, each vector's
    weight spread over the 8 mel frames (80 ms) at the centre of its window: they sum to 1 over the clip
    and are 0 on padding."""

    def __init__(self, dim: int = 128):
        super().__init__()
        self.embedding = se.load_speech_embedding()   # pretrained, frozen
        self.proj = nn.Sequential(nn.LayerNorm(se.DIM), nn.Linear(se.DIM, dim), nn.ReLU(), nn.Dropout(0.2))
        self.pool = AttentionPool(dim)
        self.dim = dim

    @staticmethod
    def _lengths(x: torch.Tensor, lengths) -> torch.Tensor:
        b, _, t = x.shape
        if lengths is None:
            return torch.full((b,), t)
        if lengths.ndim == 2:            # a (B, T) mask of valid frames
            lengths = lengths.sum(1)
        return lengths.clamp(1, t)

    @torch.no_grad()
    def vectors(self, x: torch.Tensor, lengths=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The frozen part: (B, N_MELS, T) -> speech-embedding vectors (B, N, 96), valid (B, N)."""
        lengths = self._lengths(x, lengths)
        if x.shape[2] < se.WINDOW:
            x = nn.functional.pad(x, (0, se.WINDOW - x.shape[2]))
        v = self.embedding(x.transpose(1, 2))
        valid = torch.arange(v.shape[1]) < se.n_vectors(lengths)[:, None]
        valid[:, 0] = True               # a clip shorter than one window still has its first vector
        return v, valid

    def pool_vectors(self, v: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The trained part: vectors (B, N, 96) -> pooled (B, dim), weights (B, N)."""
        return self.pool(self.proj(v), valid)

    def forward(self, x: torch.Tensor, lengths=None):
        lengths = self._lengths(x, lengths)
        pooled, w = self.pool_vectors(*self.vectors(x, lengths))
        return pooled, self.frame_weights(w, lengths, x.shape[2])

    @staticmethod
    def frame_weights(w: torch.Tensor, lengths: torch.Tensor, t: int) -> torch.Tensor:
        """Vector weights (B, N) -> mel-frame weights (B, T): vector i's weight spread over the STEP frames
        at the centre of its window (frames 8i + 34 .. 8i + 41)."""
        b, n = w.shape
        out = torch.zeros(b, max(t, se.STEP * n + se.WINDOW))
        centre = (se.WINDOW - se.STEP) // 2
        out[:, centre:centre + se.STEP * n] = (w / se.STEP).repeat_interleave(se.STEP, dim=1)
        out = out[:, :t] * (torch.arange(t) < lengths[:, None])
        return out / out.sum(1, keepdim=True).clamp_min(1e-12)


def clip_vectors(encoder: AudioEncoder, waves) -> list[torch.Tensor]:
    """The frozen speech-embedding vectors of each clip: a list of (N_i, 96) float16 tensors (a cache)."""
    out = []
    for w in waves:
        v, valid = encoder.vectors(*mel_batch([w]))
        out.append(v[0, valid[0]].half())
    return out


def pad_vectors(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached (N_i, 96) vectors -> (B, N_max, 96) padded with zeros, valid (B, N_max)."""
    v = nn.utils.rnn.pad_sequence([s.float() for s in seqs], batch_first=True)
    return v, torch.arange(v.shape[1]) < torch.tensor([len(s) for s in seqs])[:, None]
