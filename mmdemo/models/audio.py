"""Audio encoder for spoken digits: log-mel spectrogram -> CNN -> attention pooling over time.

    mel = log_mel(wave_16k)                       # (N_MELS, frames), 10 ms per frame
    x, lengths = batch_mels([mel, ...])           # zero-padded batch
    pooled, frame_weights = AudioEncoder()(x, lengths)   # frame_weights: the pooling softmax per mel frame
    net = train_digit_net(waves, labels)          # AudioDigitNet = encoder + 10-way head

    python -m mmdemo.models.audio loso [--epochs N] [--threads 1]     # leave-one-speaker-out on FSDD
    python -m mmdemo.models.audio train [--epochs N] [--out checkpoints/audio-digits]

Features stop at 4 kHz because FSDD is 8 kHz audio: a 16 kHz microphone clip, a synthetic
voice and an FSDD clip then carry the same band. Each utterance is normalised on its own
(per-band mean removed, divided by its std: CMVN), so level and microphone tilt matter little.
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
from .fusion import AttentionPool

N_MELS = 40
HOP = 160                 # 10 ms at 16 kHz
N_FFT = 512
CHECKPOINT = Path(__file__).resolve().parent.parent.parent / "checkpoints" / "audio-digits"
TOP_DB = 80.0             # quieter than the loudest bin - 80 dB counts as silence
_MEL = None


def _mel_transform():
    global _MEL
    if _MEL is None:
        import torchaudio
        _MEL = torchaudio.transforms.MelSpectrogram(sample_rate=SAMPLE_RATE, n_fft=N_FFT, win_length=400,
                                                    hop_length=HOP, f_min=20.0, f_max=4000.0, n_mels=N_MELS)
    return _MEL


def log_mel(wave) -> torch.Tensor:
    """Mono 16 kHz samples (numpy or tensor) -> normalised log-mel (N_MELS, frames), float32.
    Clips shorter than one FFT window are zero-padded to it (one sample still gives frames)."""
    wave = torch.as_tensor(np.asarray(wave, dtype=np.float32) if not torch.is_tensor(wave) else wave).float()
    if wave.ndim != 1 or wave.numel() == 0:
        raise MMDemoError(f"log_mel needs a non-empty mono clip, got shape {tuple(wave.shape)}.")
    if not torch.isfinite(wave).all():
        raise MMDemoError("The audio contains NaN or infinite samples.")
    if wave.numel() < N_FFT:
        wave = nn.functional.pad(wave, (0, N_FFT - wave.numel()))
    with torch.no_grad():
        mel = _mel_transform()(wave)
        db = 10 * torch.log10(mel.clamp_min(1e-10))
        db = db.clamp_min(db.max() - TOP_DB)
        db = db - db.mean(1, keepdim=True)                 # per band: removes the microphone's colour
        return db / (db.std() + 1e-5) if db.numel() > 1 else db


def batch_mels(mels: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """List of (N_MELS, T_i) -> (B, N_MELS, T_max) padded with zeros (= the mean after CMVN), lengths (B,)."""
    lengths = torch.tensor([m.shape[1] for m in mels])
    x = torch.zeros(len(mels), N_MELS, int(lengths.max()))
    for i, m in enumerate(mels):
        x[i, :, : m.shape[1]] = m
    return x, lengths


def conv2d(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class AudioEncoder(nn.Module):
    """(B, N_MELS, T) log-mels + lengths -> pooled (B, dim), frame weights (B, T).

    2-D convs see time x frequency patches (time halved once, frequency 40 -> 5), 1-D convs
    over time widen the view to ~0.25 s, then AttentionPool picks the frames that carry the word.
    The frame weights are that softmax (computed on 20 ms frames; each one is shared equally by
    the valid 10 ms mel frames it covers, so they sum to 1 over the clip and are 0 on padding)."""

    def __init__(self, dim: int = 128, widths=(32, 64, 96)):
        super().__init__()
        w0, w1, w2 = widths
        self.cnn = nn.Sequential(*conv2d(1, w0), nn.MaxPool2d(2),                 # 40 -> 20 bands, T -> T/2
                                 *conv2d(w0, w1), nn.MaxPool2d((2, 1)),           # 20 -> 10
                                 *conv2d(w1, w2), nn.MaxPool2d((2, 1)),           # 10 -> 5
                                 *conv2d(w2, w2))
        self.proj = nn.Sequential(nn.Conv1d(w2 * (N_MELS // 8), dim, 1, bias=False), nn.BatchNorm1d(dim), nn.ReLU())
        self.temporal = nn.ModuleList(nn.Sequential(nn.Conv1d(dim, dim, 5, padding=2 * d, dilation=d, bias=False),
                                                    nn.BatchNorm1d(dim), nn.ReLU()) for d in (1, 2))
        self.pool = AttentionPool(dim)
        self.dim = dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        b, _, t = x.shape
        if lengths is None:
            lengths = torch.full((b,), t)
        elif lengths.ndim == 2:          # a (B, T) mask of valid frames
            lengths = lengths.sum(1)
        lengths = lengths.clamp(1, t)
        if t % 2:                        # pooling halves time: make it even
            x = nn.functional.pad(x, (0, 1))
        h = self.cnn(x.unsqueeze(1))                     # (B, C, 5, T/2)
        h = self.proj(h.flatten(1, 2))                   # (B, dim, T/2)
        for layer in self.temporal:
            h = h + layer(h)
        t2 = h.shape[2]
        valid2 = torch.arange(t2) < ((lengths + 1) // 2)[:, None]
        pooled, w2 = self.pool(h.transpose(1, 2), valid2)
        valid = torch.arange(t) < lengths[:, None]               # (B, T) mel frames
        share = valid.float().view(b, -1) if t % 2 == 0 else nn.functional.pad(valid.float(), (0, 1))
        per_pair = share.view(b, t2, 2).sum(2).clamp_min(1)      # valid mel frames under each pooled frame
        weights = (w2 / per_pair).repeat_interleave(2, dim=1)[:, :t] * valid
        return pooled, weights


class AudioDigitNet(nn.Module):
    """AudioEncoder + a 10-way digit head; forward(x, lengths) -> logits (B, 10), frame weights (B, T)."""

    def __init__(self, dim: int = 128, n_classes: int = 10, widths=(32, 64, 96)):
        super().__init__()
        self.encoder = AudioEncoder(dim, widths)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, n_classes))

    def forward(self, x, lengths=None):
        pooled, weights = self.encoder(x, lengths)
        return self.head(pooled), weights


# ------------------------------------------------------------------------------------- training
def spec_augment(x: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """SpecAugment: two frequency bands (≤ 6 mels) and two time spans (≤ 10 % of the clip) set to 0."""
    x = x.clone()
    for i in range(len(x)):
        for _ in range(2):
            f = int(torch.randint(0, 7, (1,), generator=gen))
            f0 = int(torch.randint(0, N_MELS - f + 1, (1,), generator=gen))
            x[i, f0:f0 + f] = 0
            span = int(torch.randint(0, max(1, int(lengths[i]) // 10) + 1, (1,), generator=gen))
            s0 = int(torch.randint(0, max(1, int(lengths[i]) - span) + 1, (1,), generator=gen))
            x[i, :, s0:s0 + span] = 0
    return x


def length_batches(lengths: np.ndarray, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of similar-length clips (less padding): sort within chunks of 20 batches."""
    order = rng.permutation(len(lengths))
    batches = []
    for s in range(0, len(order), batch * 20):
        chunk = order[s:s + batch * 20]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i:i + batch] for i in range(0, len(chunk), batch)]
    return [batches[i] for i in rng.permutation(len(batches))]


def train_digit_net(waves, labels, epochs: int = 8, seed: int = 0, threads: int | None = None, batch: int = 32,
                    lr: float = 3e-3, dim: int = 128, widths=(32, 64, 96), n_classes: int = 10,
                    verbose: bool = True, evaluate_on=None) -> AudioDigitNet:
    """Train AudioDigitNet on clean 16 kHz clips (labels 0..n_classes-1), with a fresh augment() view
    of every clip each epoch and SpecAugment. evaluate_on=(waves, labels) prints accuracy after each epoch."""
    from ..data.speech import augment
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    net = AudioDigitNet(dim, n_classes, widths)
    steps = epochs * int(np.ceil(len(waves) / batch))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        mels = [log_mel(augment(w, rng)) for w in waves]
        lengths = np.array([m.shape[1] for m in mels])
        total, correct, seen = 0.0, 0, 0
        for rows in length_batches(lengths, batch, rng):
            x, lens = batch_mels([mels[i] for i in rows])
            x = spec_augment(x, lens, gen)
            logits, _ = net(x, lens)
            loss = loss_fn(logits, labels[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(rows)
            correct += int((logits.argmax(1) == labels[rows]).sum())
            seen += len(rows)
        if verbose:
            msg = f"epoch {epoch + 1}/{epochs}: loss {total / seen:.3f}, train acc {correct / seen:.3f}"
            if evaluate_on is not None:
                msg += f", eval acc {accuracy(net, *evaluate_on):.3f}"
            print(msg + f" ({time.perf_counter() - t0:.0f} s)", flush=True)
    return net.eval()


@torch.no_grad()
def predict_probs(net: AudioDigitNet, waves, batch: int = 64) -> np.ndarray:
    net.eval()
    mels = [log_mel(w) for w in waves]
    out = []
    for s in range(0, len(mels), batch):
        x, lens = batch_mels(mels[s:s + batch])
        out.append(net(x, lens)[0].softmax(-1).numpy())
    return np.concatenate(out)


def accuracy(net: AudioDigitNet, waves, labels) -> float:
    return float((predict_probs(net, waves).argmax(1) == np.asarray(labels)).mean())


# ------------------------------------------------------------------------------ measurement CLIs
def loso(epochs: int, seed: int = 0, speakers=None, synthetic_every: int = 2, save_dir: Path | None = None) -> dict:
    """Leave one FSDD speaker out: train on the other four (all 50 takes each) + synthetic voices,
    test on every clip of the held-out speaker. Also a noisy view of the held-out clips (augment())."""
    from ..data.speech import SPEAKERS, augment, digit_clips, fsdd_clips, synthetic_clips
    per_speaker, noisy, confusion = {}, {}, {}
    t0 = time.perf_counter()
    for held_out in speakers or SPEAKERS:
        train_speakers = [s for s in SPEAKERS if s != held_out]
        waves, labels, _ = fsdd_clips(train_speakers)
        if synthetic_every:
            s_waves, s_labels, _ = synthetic_clips(synthetic_every)
            waves, labels = waves + list(s_waves), np.concatenate([labels, s_labels])
        test_waves, test_labels, _ = fsdd_clips([held_out])
        print(f"== held out {held_out}: train {len(waves)} clips, test {len(test_waves)}", flush=True)
        net = train_digit_net(waves, labels, epochs=epochs, seed=seed)
        probs = predict_probs(net, test_waves)
        per_speaker[held_out] = float((probs.argmax(1) == test_labels).mean())
        confusion[held_out] = np.bincount(test_labels * 10 + probs.argmax(1), minlength=100).reshape(10, 10).tolist()
        if save_dir:
            from .. import checkpoint
            checkpoint.save(Path(save_dir) / held_out, net, {"task": "audio-digits", "arch": {"dim": 128, "widths": [32, 64, 96]},
                                                            "held_out": held_out}, f"LOSO net, {held_out} held out\n")
        rng = np.random.default_rng(1)
        noisy[held_out] = accuracy(net, [augment(w, rng) for w in test_waves], test_labels)
        print(f"   {held_out}: clean {per_speaker[held_out]:.3f}, augmented {noisy[held_out]:.3f}", flush=True)
    worst = min(per_speaker, key=per_speaker.get)
    return {"task": "audio-digits-loso", "epochs": epochs, "seed": seed, "synthetic_every": synthetic_every,
            "per_speaker": per_speaker, "mean": float(np.mean(list(per_speaker.values()))),
            "worst": {"speaker": worst, "accuracy": per_speaker[worst]},
            "augmented_per_speaker": noisy, "augmented_mean": float(np.mean(list(noisy.values()))),
            "confusion": confusion, "minutes": (time.perf_counter() - t0) / 60}


def train_and_save(out: Path, epochs: int, seed: int = 0) -> dict:
    """Train on all five speakers' FSDD train split + synthetic; report the official FSDD test split."""
    from .. import checkpoint
    from ..data.speech import augment, digit_clips
    t0 = time.perf_counter()
    waves, labels = digit_clips("train", seed=seed)
    test_waves, test_labels = digit_clips("test")
    net = train_digit_net(waves, labels, epochs=epochs, seed=seed, evaluate_on=(test_waves, test_labels))
    minutes = (time.perf_counter() - t0) / 60
    rng = np.random.default_rng(1)
    metrics = {"fsdd_test_accuracy": accuracy(net, test_waves, test_labels),
               "fsdd_test_augmented_accuracy": accuracy(net, [augment(w, rng) for w in test_waves], test_labels),
               "train_minutes": minutes, "train_clips": len(waves), "epochs": epochs, "seed": seed}
    config = {"task": "audio-digits", "arch": {"dim": 128, "widths": [32, 64, 96]}, "n_mels": N_MELS,
              "sample_rate": SAMPLE_RATE, "metrics": metrics}
    card = ("# audio-digits: spoken digit classifier (log-mel -> CNN -> attention pooling)\n\n"
            f"Trained on FSDD (Zohar Jackson et al., CC BY-SA 4.0) train split (all 5 speakers) + synthetic "
            f"speech (espeak-ng, flite, festival), with augmentation. Metrics: {json.dumps(metrics)}\n")
    checkpoint.save(out, net, config, card)
    return metrics


def load_digit_net(folder) -> AudioDigitNet:
    from .. import checkpoint
    config = checkpoint.read_config(folder)
    return checkpoint.load_weights(folder, AudioDigitNet(config["arch"]["dim"], widths=tuple(config["arch"]["widths"])))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mmdemo.models.audio", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["loso", "train"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--speakers", help="comma-separated held-out speakers (loso; default all five)")
    parser.add_argument("--synthetic-every", type=int, default=2, help="use every N-th synthetic voice (0: none)")
    parser.add_argument("--save", type=Path, help="loso: save each held-out net here")
    parser.add_argument("--out", type=Path, help="JSON result (loso) or checkpoint folder (train)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.command == "loso":
        result = loso(args.epochs, args.seed, args.speakers.split(",") if args.speakers else None,
                      args.synthetic_every, args.save)
        out = args.out or Path("artifacts/audio_loso.json")
    else:
        result = train_and_save(args.out or CHECKPOINT, args.epochs, args.seed)
        out = Path("artifacts/audio_train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result["command"] = "python -m mmdemo.models.audio " + " ".join(argv or __import__("sys").argv[1:])
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
