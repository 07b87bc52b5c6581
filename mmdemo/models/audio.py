"""Audio encoder for spoken digits: log-mel -> pretrained speech-embedding CNN (frozen) -> a trained
projection -> attention pooling over time.

    mel = log_mel(wave_16k)                       # (N_MELS, frames), 10 ms per frame
    x, lengths = batch_mels([mel, ...])           # zero-padded batch
    pooled, frame_weights = AudioEncoder()(x, lengths)   # frame_weights: the pooling softmax, on mel frames
    net = train_digit_net(waves, labels)          # AudioDigitNet = encoder + 10-way head

    python -m mmdemo.models.audio loso [--epochs N] [--views V] [--threads 1]
                                            # leave-one-speaker-out on FSDD -> checkpoints/audio-digits/loso.json
    python -m mmdemo.models.audio train [--out checkpoints/audio-digits]

The CNN is Google's speech_embedding (models/speech_embedding.py), pretrained on a large corpus of real
speech: it turns each 0.76 s window of a 32-band mel spectrogram (60-3800 Hz: inside FSDD's 4 kHz band,
so microphone, synthetic and FSDD audio look alike) into a 96-d vector, one every 80 ms. It is frozen;
what this project trains is the projection, the attention pooling and the head, on FSDD + synthetic
voices seen through augment(). Four real training speakers are too few to learn speaker-independent
features from scratch (that design heard a new speaker at 0.895; this one: docs/speech.md).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.speech import SAMPLE_RATE
from ..errors import MMDemoError
from . import speech_embedding as se
from .fusion import AttentionPool

N_MELS = se.N_MELS
PAD_SECONDS = 0.4         # silence added on both sides, so every part of the word is at the centre of a window
PEAK = 0.5                # each clip is scaled to this peak: the level of the recording does not matter
CHECKPOINT = Path(__file__).resolve().parent.parent.parent / "checkpoints" / "audio-digits"
ARCH = {"dim": 128}       # the built-in audio net


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


class AudioDigitNet(nn.Module):
    """AudioEncoder + a 10-way digit head; forward(x, lengths) -> logits (B, 10), frame weights (B, T)."""

    def __init__(self, dim: int = 128, n_classes: int = 10):
        super().__init__()
        self.encoder = AudioEncoder(dim)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, n_classes))

    def forward(self, x, lengths=None):
        pooled, weights = self.encoder(x, lengths)
        return self.head(pooled), weights

    def classify_vectors(self, v, valid):
        return self.head(self.encoder.pool_vectors(v, valid)[0])


# ------------------------------------------------------------------------------------- training
def clip_vectors(encoder: AudioEncoder, waves) -> list[torch.Tensor]:
    """The frozen speech-embedding vectors of each clip: a list of (N_i, 96) float16 tensors (a cache)."""
    out = []
    for w in waves:
        v, valid = encoder.vectors(*mel_batch([w]))
        out.append(v[0, valid[0]].half())
    return out


def augmented_vectors(encoder: AudioEncoder, waves, views: int, seed: int = 0, verbose: bool = True) -> list[list]:
    """`views` augment() views of every clip, through the frozen CNN once (the trained layers then
    see a different view each epoch without running the CNN again)."""
    from ..data.speech import augment
    rng = np.random.default_rng(seed)
    out, t0 = [], time.perf_counter()
    for v in range(views):
        out.append(clip_vectors(encoder, [augment(w, rng) for w in waves]))
        if verbose:
            print(f"  speech-embedding vectors: view {v + 1}/{views} of {len(waves)} clips "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def _pad_vectors(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached (N_i, 96) vectors -> (B, N_max, 96) padded with zeros, valid (B, N_max)."""
    v = nn.utils.rnn.pad_sequence([s.float() for s in seqs], batch_first=True)
    return v, torch.arange(v.shape[1]) < torch.tensor([len(s) for s in seqs])[:, None]


def train_digit_net(waves, labels, epochs: int = 12, views: int = 6, seed: int = 0, threads: int | None = None,
                    batch: int = 64, lr: float = 2e-3, dim: int = 128, n_classes: int = 10, verbose: bool = True,
                    evaluate_on=None, cached=None) -> AudioDigitNet:
    """Train AudioDigitNet's projection, pooling and head on `views` augment() views of every clip
    (epoch e reads view e % views). cached: the output of augmented_vectors for these waves (LOSO
    shares one cache over its folds). evaluate_on=(waves, labels) prints accuracy after each epoch."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    net = AudioDigitNet(dim, n_classes)
    cache = cached if cached is not None else augmented_vectors(net.encoder, waves, views, seed, verbose)
    steps = epochs * int(np.ceil(len(labels) / batch))
    opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        view = cache[epoch % len(cache)]
        order = rng.permutation(len(labels))
        total, correct = 0.0, 0
        for s in range(0, len(order), batch):
            rows = order[s:s + batch]
            logits = net.classify_vectors(*_pad_vectors([view[i] for i in rows]))
            loss = loss_fn(logits, labels[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(1) == labels[rows]).sum())
        if verbose:
            msg = f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.3f}, train acc {correct / len(order):.3f}"
            if evaluate_on is not None:
                msg += f", eval acc {accuracy(net, *evaluate_on):.3f}"
            print(msg + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    return net.eval()


@torch.no_grad()
def predict_probs(net: AudioDigitNet, waves) -> np.ndarray:
    """Class probabilities (N, C) of clean clips."""
    net.eval()
    if not len(waves):
        return np.zeros((0, net.head[-1].out_features), np.float32)
    return torch.cat([net.classify_vectors(*_pad_vectors(clip_vectors(net.encoder, waves[s:s + 64]))).softmax(-1)
                      for s in range(0, len(waves), 64)]).numpy()


def accuracy(net: AudioDigitNet, waves, labels) -> float:
    return float((predict_probs(net, waves).argmax(1) == np.asarray(labels)).mean())


# ------------------------------------------------------------------------------ measurement CLIs
def held_out_scores(net: AudioDigitNet, speaker: str) -> dict:
    """Every FSDD clip of one speaker: accuracy on the clean clips, on a seeded augment() view
    (noise, silence, level, ...), and the confusion matrix (rows = truth)."""
    from ..data.speech import augment, fsdd_clips
    waves, labels, _ = fsdd_clips([speaker])
    pred = predict_probs(net, waves).argmax(1)
    rng = np.random.default_rng(1)
    return {"accuracy": float((pred == labels).mean()),
            "augmented": accuracy(net, [augment(w, rng) for w in waves], labels),
            "confusion": np.bincount(labels * 10 + pred, minlength=100).reshape(10, 10).tolist()}


def loso(epochs: int, views: int, seed: int = 0, speakers=None, synthetic_every: int = 1) -> dict:
    """Leave one FSDD speaker out: train on the other four (all 50 takes each) + synthetic voices,
    test on every clip of the held-out speaker. The frozen CNN's vectors of every clip's augmented
    views are computed once and shared by the five folds (each fold reads only its own rows)."""
    from ..data.speech import SPEAKERS, fsdd_clips, synthetic_clips
    t0 = time.perf_counter()
    waves, labels, who = fsdd_clips()
    if synthetic_every:
        s_waves, s_labels, _ = synthetic_clips(synthetic_every)
        waves, labels, who = waves + list(s_waves), np.concatenate([labels, s_labels]), list(who) + ["synthetic"] * len(s_waves)
    who = np.array(who)
    cache = augmented_vectors(AudioEncoder(), waves, views, seed)
    scores = {}
    for held_out in speakers or SPEAKERS:
        rows = np.flatnonzero(who != held_out)
        print(f"== held out {held_out}: train {len(rows)} clips", flush=True)
        net = train_digit_net(None, labels[rows], epochs=epochs, seed=seed, verbose=False,
                              cached=[[view[i] for i in rows] for view in cache])
        scores[held_out] = held_out_scores(net, held_out)
        print(f"   {held_out}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores[held_out].items() if k != "confusion"), flush=True)
    summary = {}
    for key in ("accuracy", "augmented"):
        per = {s: r[key] for s, r in scores.items()}
        worst = min(per, key=per.get)
        summary[key] = {"mean": float(np.mean(list(per.values()))), "worst": {"speaker": worst, "accuracy": per[worst]},
                        "per_speaker": per}
    return {"task": "audio-digits-loso", "epochs": epochs, "views": views, "seed": seed,
            "synthetic_every": synthetic_every, "mean": summary["accuracy"]["mean"], "worst": summary["accuracy"]["worst"],
            **summary, "confusion": {s: r["confusion"] for s, r in scores.items()},
            "minutes": (time.perf_counter() - t0) / 60}


def train_and_save(out: Path, epochs: int, views: int, seed: int = 0) -> dict:
    """Train on all five speakers' FSDD train split + synthetic; report the official FSDD test split."""
    from .. import checkpoint
    from ..data.speech import augment, digit_clips
    t0 = time.perf_counter()
    waves, labels = digit_clips("train", seed=seed)
    test_waves, test_labels = digit_clips("test")
    net = train_digit_net(waves, labels, epochs=epochs, views=views, seed=seed, evaluate_on=(test_waves, test_labels))
    minutes = (time.perf_counter() - t0) / 60
    rng = np.random.default_rng(1)
    metrics = {"fsdd_test_accuracy": accuracy(net, test_waves, test_labels),
               "fsdd_test_augmented_accuracy": accuracy(net, [augment(w, rng) for w in test_waves], test_labels),
               "train_minutes": minutes, "train_clips": len(waves), "epochs": epochs, "views": views, "seed": seed}
    loso_file = out / "loso.json"
    loso_line = ""
    if loso_file.is_file():
        r = json.loads(loso_file.read_text())
        loso_line = (f"\nSpeaker-disjoint (leave one FSDD speaker out, `{r.get('command', 'loso')}`): mean "
                     f"{r['mean']:.3f}, worst {r['worst']['accuracy']:.3f} ({r['worst']['speaker']}).\n")
    config = {"task": "audio-digits", "arch": ARCH, "n_mels": N_MELS, "sample_rate": SAMPLE_RATE, "metrics": metrics}
    card = ("# audio-digits: spoken digit classifier (log-mel -> pretrained speech-embedding CNN -> attention pooling)\n\n"
            "- Encoder: torchaudio MelSpectrogram (32 bands, 60-3800 Hz) -> Google's speech_embedding CNN (Lin et al. "
            "2020, Apache-2.0; frozen, see checkpoints/speech-embedding) -> projection + attention pooling over time "
            "-> 10-way head; the last three are trained here.\n"
            "- Data: FSDD (Zohar Jackson and contributors, CC BY-SA 4.0) train split (all 5 speakers) + synthetic "
            "speech (espeak-ng, flite, festival), each seen through augment() (speed, tilt, silence, level, noise, "
            "resampling).\n"
            f"- Metrics: {json.dumps(metrics)}\n{loso_line}")
    checkpoint.save(out, net, config, card)
    return metrics


def load_digit_net(folder) -> AudioDigitNet:
    from .. import checkpoint
    config = checkpoint.read_config(folder)
    return checkpoint.load_weights(folder, AudioDigitNet(config["arch"]["dim"]))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mmdemo.models.audio", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["loso", "train"])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--views", type=int, default=6, help="augmented views of every clip (epoch e reads view e %% V)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speakers", help="comma-separated held-out speakers (loso; default all five)")
    parser.add_argument("--synthetic-every", type=int, default=1, help="loso: use every N-th synthetic voice (0: none)")
    parser.add_argument("--out", type=Path, help="JSON result (loso) or checkpoint folder (train)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.command == "loso":
        result = loso(args.epochs, args.views, args.seed, args.speakers.split(",") if args.speakers else None,
                      args.synthetic_every)
        out = args.out or CHECKPOINT / "loso.json"
    else:
        result = train_and_save(args.out or CHECKPOINT, args.epochs, args.views, args.seed)
        out = Path("artifacts/audio_train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result["command"] = "python -m mmdemo.models.audio " + " ".join(argv or __import__("sys").argv[1:])
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "confusion"}, indent=2))


if __name__ == "__main__":
    main()
