"""Google's pretrained speech embedding: torchaudio MelSpectrogram (32 bands, 60-3800 Hz) -> a frozen CNN
-> one 96-d vector per 80 ms step, each seeing a 0.76 s window (76 mel frames).

    mel = speech_mel(wave_16k)            # (T, 32) in the model's own scale
    emb = load_speech_embedding()(mel[None])   # (1, (T - 76) // 8 + 1, 96)

The CNN is the `speech_embedding` model of Lin et al. 2020, "Training keyword spotters with limited
and synthesized speech data" (arXiv:2002.01322), released by Google on TF Hub under Apache-2.0,
pretrained on a large corpus of real speech. We use the ONNX re-implementation that ships in the
openWakeWord 0.4.0 wheel (Apache-2.0 code); scripts/port_speech_embedding.py copies its weights into
checkpoints/speech-embedding/ (safetensors) and checks this module against ONNX Runtime.

The CNN has no padding in time, so running it over a whole clip at once gives exactly the vectors of
76-frame windows taken every 8 frames (the way openWakeWord runs it), for a fraction of the work.
"""
from __future__ import annotations

import torch
from torch import nn

SAMPLE_RATE = 16_000
N_MELS = 32
WINDOW = 76              # mel frames (10 ms each) seen by one embedding vector
STEP = 8                 # mel frames between embedding vectors (80 ms)
DIM = 96
_MEL = None


def _mel_transform():
    global _MEL
    if _MEL is None:
        import torchaudio
        _MEL = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160, f_min=60.0, f_max=3800.0,
            n_mels=N_MELS, center=False, norm="slaney", mel_scale="slaney")
    return _MEL


def speech_mel(wave) -> torch.Tensor:
    """Mono 16 kHz float samples in -1..1 -> (T, 32) log-mel exactly as the embedding was trained on:
    power mel of 16-bit-scaled samples, 10*log10, floored 80 dB under the clip's loudest bin, /10 + 2.
    T = (samples - 512) // 160 + 1 (the caller pads short clips)."""
    wave = torch.as_tensor(wave, dtype=torch.float32) * 32767.0
    with torch.no_grad():
        db = 10 * torch.log10(_mel_transform()(wave).clamp_min(1e-10))
        return (db.clamp_min(db.max() - 80.0) / 10 + 2).T.contiguous()


class _Floor(nn.Module):
    """max(x, -0.4): the openWakeWord graph's clipping after every LeakyReLU."""

    def forward(self, x):
        return x.clamp_min(-0.4)


def _act() -> list[nn.Module]:
    return [nn.LeakyReLU(0.2), _Floor()]


def _pair(c_in: int, c_out: int) -> list[nn.Module]:
    """A (1x3 over frequency, 3x1 over time) factorised conv; time is never padded."""
    return [nn.Conv2d(c_in, c_out, (1, 3), padding=(0, 1)), *_act(), nn.Conv2d(c_out, c_out, (3, 1)), *_act()]


class SpeechEmbedding(nn.Module):
    """(B, T, 32) mel -> (B, (T - 76) // 8 + 1, 96). Frozen: always in eval mode, no gradients."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.ZeroPad2d((1, 1, 0, 0)), nn.Conv2d(1, 24, 3, bias=False), nn.ReLU(), nn.BatchNorm2d(24, eps=1e-3), *_act(),
            nn.Conv2d(24, 24, (1, 3), padding=(0, 1)), *_act(), nn.Conv2d(24, 24, (3, 1)), *_act(), nn.MaxPool2d(2),
            *_pair(24, 48), *_pair(48, 48), nn.MaxPool2d((1, 2)),
            *_pair(48, 72), *_pair(72, 72), nn.MaxPool2d(2),
            *_pair(72, 96), *_pair(96, 96), nn.MaxPool2d((1, 2)),
            *_pair(96, 96), *_pair(96, 96), nn.MaxPool2d(2),
            nn.Conv2d(96, 96, (3, 1), bias=False))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)      # BatchNorm keeps its pretrained statistics

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if mel.shape[1] < WINDOW:
            raise ValueError(f"SpeechEmbedding needs at least {WINDOW} mel frames, got {mel.shape[1]}")
        return self.net(mel[:, None]).squeeze(3).transpose(1, 2)


def load_speech_embedding(folder=None) -> SpeechEmbedding:
    """The pretrained CNN from checkpoints/speech-embedding (safetensors, shapes checked)."""
    from .. import checkpoint, paths
    return checkpoint.load_weights(folder or paths.checkpoints("speech-embedding"), SpeechEmbedding())


def n_vectors(frames) -> torch.Tensor | int:
    """How many embedding vectors a clip of `frames` mel frames gives (0 if shorter than one window)."""
    if torch.is_tensor(frames):
        return ((frames - WINDOW) // STEP + 1).clamp_min(0)
    return max(0, (int(frames) - WINDOW) // STEP + 1)


def frames_for(samples: int) -> int:
    return max(0, (samples - 512) // 160 + 1)

