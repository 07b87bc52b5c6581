"""Audio encoder for spoken digits: log-mel spectrogram -> CNN -> attention pooling over time.

    mel = log_mel(wave_16k)                       # (N_MELS, frames), 10 ms per frame
    x, lengths = batch_mels([mel, ...])           # zero-padded batch
    pooled, frame_weights = AudioEncoder()(x, lengths)   # frame_weights: the pooling softmax per mel frame
    net = train_digit_net(waves, labels)          # AudioDigitNet = encoder + 10-way head

    python -m mmdemo.models.audio loso [--epochs N] [--threads 1] [--save DIR [--evaluate-only]]
                                            # leave-one-speaker-out on FSDD -> checkpoints/audio-digits/loso.json
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
ARCH = {"dim": 128, "widths": [32, 64, 96]}   # the built-in audio net
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


TTA_RATES = (14400, 15200, 16800, 17600)   # test-time: also hear the clip 10 % and 5 % slower/faster


@torch.no_grad()
def predict_probs(net: AudioDigitNet, waves, batch: int = 64, speed_tta: bool = False) -> np.ndarray:
    """Class probabilities (N, C). speed_tta: average with the clip resampled to TTA_RATES and
    played at 16 kHz (the training's speed/pitch perturbation, at test time; 5x the work)."""
    from ..data.speech import resample
    net.eval()
    views = [waves] + ([[resample(w, SAMPLE_RATE, r) for w in waves] for r in TTA_RATES] if speed_tta else [])
    total = 0
    for view in views:
        mels, out = [log_mel(w) for w in view], []
        for s in range(0, len(mels), batch):
            x, lens = batch_mels(mels[s:s + batch])
            out.append(net(x, lens)[0].softmax(-1).numpy())
        total = total + np.concatenate(out)
    return total / len(views)


def accuracy(net: AudioDigitNet, waves, labels, speed_tta: bool = False) -> float:
    return float((predict_probs(net, waves, speed_tta=speed_tta).argmax(1) == np.asarray(labels)).mean())


# ------------------------------------------------------------------------------ measurement CLIs
def held_out_scores(net: AudioDigitNet, speaker: str) -> dict:
    """Every FSDD clip of one speaker: accuracy plain, with speed TTA, on a seeded augment() view
    (noise, silence, level, ...), and the confusion matrix (rows = truth)."""
    from ..data.speech import augment, fsdd_clips
    waves, labels, _ = fsdd_clips([speaker])
    pred = predict_probs(net, waves).argmax(1)
    rng = np.random.default_rng(1)
    return {"accuracy": float((pred == labels).mean()),
            "speed_tta": accuracy(net, waves, labels, speed_tta=True),
            "augmented": accuracy(net, [augment(w, rng) for w in waves], labels),
            "confusion": np.bincount(labels * 10 + pred, minlength=100).reshape(10, 10).tolist()}


def loso(epochs: int, seed: int = 0, speakers=None, synthetic_every: int = 2, save_dir: Path | None = None,
         evaluate_only: bool = False) -> dict:
    """Leave one FSDD speaker out: train on the other four (all 50 takes each) + synthetic voices,
    test on every clip of the held-out speaker. save_dir keeps each net; evaluate_only re-measures
    the nets saved there instead of training."""
    from .. import checkpoint
    from ..data.speech import SPEAKERS, fsdd_clips, synthetic_clips
    scores = {}
    t0 = time.perf_counter()
    for held_out in speakers or SPEAKERS:
        if evaluate_only:
            net = load_digit_net(Path(save_dir) / held_out)
        else:
            waves, labels, _ = fsdd_clips([s for s in SPEAKERS if s != held_out])
            if synthetic_every:
                s_waves, s_labels, _ = synthetic_clips(synthetic_every)
                waves, labels = waves + list(s_waves), np.concatenate([labels, s_labels])
            print(f"== held out {held_out}: train {len(waves)} clips", flush=True)
            net = train_digit_net(waves, labels, epochs=epochs, seed=seed)
            if save_dir:
                checkpoint.save(Path(save_dir) / held_out, net, {"task": "audio-digits", "arch": ARCH,
                                                                "held_out": held_out}, f"LOSO net, {held_out} held out\n")
        scores[held_out] = held_out_scores(net, held_out)
        print(f"   {held_out}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores[held_out].items() if k != "confusion"), flush=True)
    summary = {}
    for key in ("accuracy", "speed_tta", "augmented"):
        per = {s: r[key] for s, r in scores.items()}
        worst = min(per, key=per.get)
        summary[key] = {"mean": float(np.mean(list(per.values()))), "worst": {"speaker": worst, "accuracy": per[worst]},
                        "per_speaker": per}
    return {"task": "audio-digits-loso", "epochs": epochs, "seed": seed, "synthetic_every": synthetic_every,
            "mean": summary["accuracy"]["mean"], "worst": summary["accuracy"]["worst"], **summary,
            "confusion": {s: r["confusion"] for s, r in scores.items()}, "minutes": (time.perf_counter() - t0) / 60}


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
               "fsdd_test_speed_tta_accuracy": accuracy(net, test_waves, test_labels, speed_tta=True),
               "fsdd_test_augmented_accuracy": accuracy(net, [augment(w, rng) for w in test_waves], test_labels),
               "train_minutes": minutes, "train_clips": len(waves), "epochs": epochs, "seed": seed}
    config = {"task": "audio-digits", "arch": ARCH, "n_mels": N_MELS,
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
    parser.add_argument("--evaluate-only", action="store_true", help="loso: re-measure the nets saved in --save")
    parser.add_argument("--out", type=Path, help="JSON result (loso) or checkpoint folder (train)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.command == "loso":
        result = loso(args.epochs, args.seed, args.speakers.split(",") if args.speakers else None,
                      args.synthetic_every, args.save, args.evaluate_only)
        out = args.out or CHECKPOINT / "loso.json"
    else:
        result = train_and_save(args.out or CHECKPOINT, args.epochs, args.seed)
        out = Path("artifacts/audio_train.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result["command"] = "python -m mmdemo.models.audio " + " ".join(argv or __import__("sys").argv[1:])
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
