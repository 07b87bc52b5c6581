"""Train the tri-modal classifier family (see model.py for the two stages).

    python -m mmdemo.train classify                                                  # built-in digits
    python -m mmdemo.train classify --manifest data.jsonl --out checkpoints/mydata   # your own data (byod.py)
    python -m mmdemo.train classify --audio-only --out checkpoints/audio-digits      # the audio branch alone
"""
from __future__ import annotations

import json
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import parallel
from ...checkpoint import Trained
from ...datasets.spoken_digits import augment
from ...nn.audio import N_MELS, SAMPLE_RATE, clip_vectors, pad_vectors
from ...nn.fit import fit
from ...nn.text import encode_chars
from . import data
from .model import MODALITIES, VARIANTS, AudioDigitNet, TriModalClassifier, TriModalNet, encode_all


def add_arguments(ap) -> None:
    ap.add_argument("--manifest", type=str, default=None,
                    help="a JSON Lines manifest of your own data (image/text/audio + label per line); needs --out")
    ap.add_argument("--audio-only", action="store_true",
                    help="train the audio branch alone (AudioDigitNet) on FSDD + synthetic voices")
    ap.add_argument("--fusion-only", action="store_true",
                    help="built-in digits: retrain only the fusion heads (stage 2) on the committed checkpoint's "
                         "encoders (a few minutes instead of ~10)")
    ap.add_argument("--gate-weight", type=float, default=0.3,
                    help="built-in digits: weight of the gate's reliability-target loss (0 = the gate learns from "
                         "the classification loss alone, as before)")


def check_arguments(args, ap) -> None:
    if args.manifest and args.out is None:
        ap.error("--manifest needs --out (e.g. checkpoints/mydata)")


def train(epochs: int | None = None, seed: int = 0, manifest=None, audio_only: bool = False,
          fusion_only: bool = False, gate_weight: float = 0.3) -> Trained:
    """Built-in digits (MNIST + text + FSDD speech), the audio branch alone, or your own data."""
    if manifest is not None:
        from .byod import train_manifest
        return train_manifest(manifest, epochs, seed)
    if audio_only:
        return train_audio_only(epochs or 12, seed=seed)
    return train_digits(epochs, seed, fusion_only=fusion_only, gate_weight=gate_weight)


# ---------------------------------------------------------------- stage 1: one encoder + its head

def random_affine(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Small random rotation (±12°), scale (0.85-1.15) and shift (±2 px) of a batch of images."""
    b = len(x)
    u = torch.rand(b, 4, generator=gen) * 2 - 1
    ang, scale = u[:, 0] * 0.21, 1 + u[:, 1] * 0.15
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * 0.14], 1), torch.stack([sin, cos, u[:, 3] * 0.14], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def random_damage(x: torch.Tensor, gen: torch.Generator, p: float = 0.3) -> torch.Tensor:
    """A fraction p of the batch gets pixel noise (sigma up to 0.5) and a black box of 6-16 px, so the
    image encoder degrades gracefully on noisy or partly hidden digits instead of collapsing."""
    x = x.clone()
    hit = torch.nonzero(torch.rand(len(x), generator=gen) < p).flatten().tolist()
    for i in hit:
        sigma = float(torch.rand(1, generator=gen)) * 0.5
        x[i] = (x[i] + sigma * torch.randn(x[i].shape, generator=gen)).clamp(0, 1)
        s = int(torch.randint(6, 17, (1,), generator=gen))
        top, left = (int(v) for v in torch.randint(0, x.shape[-1] - s + 1, (2,), generator=gen))
        x[i, :, top:top + s, left:left + s] = 0
    return x


def fit_unimodal(net: TriModalNet, modality: str, inputs, labels: np.ndarray, epochs: int, seed: int = 0,
                 batch: int = 128, lr: float = 3e-3, augment_images: bool = True) -> None:
    """Train net.encoders[modality] + net.heads[modality] alone (cross-entropy, label smoothing 0.05).
    inputs: uint8/float images (N, C, H, W) or a list of texts."""
    torch.manual_seed(seed)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    enc_head = nn.ModuleList([net.encoders[modality], net.heads[modality]])
    y_all = torch.as_tensor(labels, dtype=torch.long)

    def batches(epoch):
        order = rng.permutation(len(labels))
        for s in range(0, len(order), batch):
            yield order[s:s + batch]

    def loss(rows):
        if modality == "image":
            x = torch.as_tensor(np.asarray(inputs[rows]), dtype=torch.float32)
            x = x / 255.0 if x.max() > 1.5 else x
            x = random_damage(random_affine(x, gen), gen) if augment_images else x
        else:
            x = encode_chars([inputs[i] for i in rows])
        where = parallel.train_device()
        logits, y = enc_head[1](enc_head[0](x.to(where))[0]), y_all[rows].to(where)
        return (F.cross_entropy(logits, y, label_smoothing=0.05),
                {"train acc": float((logits.argmax(1) == y).float().mean())})

    fit(enc_head, batches, loss, steps_per_epoch=int(np.ceil(len(labels) / batch)), epochs=epochs, lr=lr, warmup=0.2,
        name=modality)


def augmented_vectors(encoder, waves, views: int, seed: int = 0, verbose: bool = True) -> list[list]:
    """`views` augment() views of every clip, through the frozen CNN once (the trained layers then
    see a different view each epoch without running the CNN again)."""
    rng = np.random.default_rng(seed)
    out, t0 = [], time.perf_counter()
    for v in range(views):
        out.append(clip_vectors(encoder, [augment(w, rng) for w in waves]))
        if verbose:
            print(f"  speech-embedding vectors: view {v + 1}/{views} of {len(waves)} clips "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


def train_audio_net(waves, labels, epochs: int = 12, views: int = 6, seed: int = 0, batch: int = 64,
                    lr: float = 2e-3, dim: int = 128, n_classes: int = 10, verbose: bool = True,
                    cached=None) -> AudioDigitNet:
    """Train AudioDigitNet's projection, pooling and head (the speech CNN stays frozen) on `views`
    augment() views of every clip (epoch e reads view e % views). cached: the output of augmented_vectors
    for these waves (leave-one-speaker-out shares one cache over its folds)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    net = AudioDigitNet(dim, n_classes)
    cache = cached if cached is not None else augmented_vectors(net.encoder, waves, views, seed, verbose)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    view = [None]

    def batches(epoch):   # index rows (fit splits them between processes); loss reads this epoch's view
        view[0] = cache[epoch % len(cache)]
        order = rng.permutation(len(labels))
        for s in range(0, len(order), batch):
            yield order[s:s + batch]

    def loss(rows):
        y = labels[rows].to(parallel.train_device())
        logits = net.classify_vectors(*parallel.to_device(pad_vectors([view[0][i] for i in rows]), y.device))
        return loss_fn(logits, y), {"train acc": float((logits.argmax(1) == y).float().mean())}

    fit(net, batches, loss, steps_per_epoch=int(np.ceil(len(labels) / batch)), epochs=epochs, lr=lr,
        weight_decay=1e-2, name="audio", log=print if verbose else (lambda *a: None))
    return net


def fit_audio(net: TriModalNet, waves, labels, epochs: int | None, seed: int = 0) -> None:
    """train_audio_net on these clips; its encoder and head are copied into the tri-modal net."""
    kwargs = {"epochs": epochs} if epochs else {}
    n_classes = net.heads["audio"].out_features
    trained = train_audio_net(waves, labels, seed=seed, n_classes=n_classes, **kwargs)
    net.encoders["audio"].load_state_dict(trained.encoder.state_dict())
    linear = [m for m in trained.head.modules() if isinstance(m, nn.Linear)][-1]
    net.heads["audio"].weight.data[:] = linear.weight.data[:n_classes]
    net.heads["audio"].bias.data[:] = linear.bias.data[:n_classes]
    net.eval()


# ---------------------------------------------------------------- stage 2: the fusion heads on cached features

def reliability_target(uni: torch.Tensor, y: torch.Tensor, present: torch.Tensor, temperature: float) -> torch.Tensor:
    """What the gate is asked to give each modality: the softmax over the modalities present of each branch's
    own log-probability of the true class (its auxiliary head's, detached) / temperature. A branch whose input
    was damaged (noise, occlusion, typos) gives the true class less probability, so it gets less weight; on clean
    inputs every branch is sure and the target is near uniform. The training label is the only extra information
    (the gate never sees it: at test time it has only the features); cf. the true-class-probability confidence
    of Multimodal Dynamics (Han et al., CVPR 2022)."""
    logp = uni.detach().log_softmax(-1).gather(2, y[:, None, None].expand(-1, uni.shape[1], 1))[..., 0]
    return (logp / temperature).masked_fill(~present, float("-inf")).softmax(-1)


def fit_fusion(net: TriModalNet, sample, steps: int = 1500, batch: int = 256, lr: float = 2e-3, seed: int = 0,
               drop: float = 0.3, aux_weight: float = 0.5, gate_weight: float = 0.0, temperature: float = 0.1,
               variants=VARIANTS) -> None:
    """Train the fusion variants on frozen features. sample(rng, batch) -> (feats list of (B, D_m),
    present (B, M) bool, labels (B,)); modality dropout removes each modality with probability
    `drop` (at least one is kept). The variants in GATE_TRAINED (gated) also get
    gate_weight x the cross-entropy of their weights against reliability_target (late's alpha is one
    constant per modality, early has no weights of its own)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for kind in variants:
        variant = net.variants[kind]

        def batches(epoch):
            for _ in range(steps):
                feats, present, y = sample(rng, batch)
                keep = torch.from_numpy(rng.random(present.shape) >= drop) & present
                none = ~keep.any(1)
                keep[none] = present[none]                 # never drop every modality a sample has
                yield feats, keep, y

        def loss(b, variant=variant, kind=kind):
            feats, keep, y = b
            logits, weights, uni = variant(feats, keep)
            aux = F.cross_entropy(uni.flatten(0, 1), y.repeat_interleave(uni.shape[1]), reduction="none")
            aux = (aux.view(keep.shape) * keep).sum() / keep.sum()
            total = F.cross_entropy(logits, y) + aux_weight * aux
            if kind in GATE_TRAINED and gate_weight:
                target = reliability_target(uni, y, keep, temperature)
                gate = -(target * weights.clamp_min(1e-8).log() * keep).sum(1).mean()
                total = total + gate_weight * gate
            return total, {}

        fit(variant, batches, loss, steps_per_epoch=steps, epochs=1, lr=lr, name=f"fusion {kind}")


GATE_TRAINED = ("gated",)      # the variant whose per-sample weights the reliability target trains


def label_matched_sampler(pools: dict, n_classes: int):
    """Built-in data has no real (image, text, audio) triples: each sample draws, per modality, a
    random item of the same class from a random version (clean or corrupted, equally likely).
    pools[m] = list of versions, each (features (N, D), labels (N,), valid (N,) bool); an invalid
    item (an empty corrupted text) makes that modality absent in the sample."""
    tables = {}
    for m, versions in pools.items():
        feats = torch.cat([v[0] for v in versions])
        labels = np.concatenate([v[1] for v in versions])
        valid = torch.from_numpy(np.concatenate([v[2] for v in versions]))
        version = np.concatenate([np.full(len(v[1]), k) for k, v in enumerate(versions)])
        groups = [[np.flatnonzero((version == k) & (labels == c)) for c in range(n_classes)] for k in range(len(versions))]
        lengths = np.array([[len(g) for g in row] for row in groups])
        offsets = np.concatenate([[0], np.cumsum(lengths.ravel())[:-1]]).reshape(lengths.shape)
        flat = np.concatenate([g for row in groups for g in row])
        tables[m] = (feats, valid, flat, lengths, offsets)

    def sample(rng, batch):
        y = rng.integers(n_classes, size=batch)
        feats, present = [], []
        for feats_m, valid, flat, lengths, offsets in tables.values():
            w = rng.integers(len(lengths), size=batch)
            rows = torch.as_tensor(flat[offsets[w, y] + (rng.random(batch) * lengths[w, y]).astype(np.int64)])
            feats.append(feats_m[rows])
            present.append(valid[rows])
        return feats, torch.stack(present, 1), torch.as_tensor(y)
    return sample


# ---------------------------------------------------------------- the built-in digits

def digit_texts_with_typos(seed: int) -> tuple[list[str], np.ndarray]:
    """40,000 generated phrasings + heavier-typo copies of the first 10,000 (never empty here)."""
    texts, y_txt = data.digit_texts(40000, seed=seed)
    rng = np.random.default_rng(seed + 1)
    hard = [data.corrupt_text(t, rng) for t in texts[:10000]]
    hard_keep = [i for i, t in enumerate(hard) if t]
    return texts + [hard[i] for i in hard_keep], np.concatenate([y_txt, y_txt[hard_keep]])


def fusion_pools(net: TriModalNet, images, y_img, waves, y_aud, n_fusion: int, seed: int) -> dict:
    """Stage 2's data: frozen features of clean and corrupted versions of each modality (other seeds than
    the evaluation's 1234), in the form label_matched_sampler reads."""
    rng = np.random.default_rng(seed + 100)
    rows = rng.choice(len(images), n_fusion, replace=False)
    clean_img = images[rows].astype(np.float32)[:, None] / 255.0
    bad_img = np.stack([data.corrupt_image(x[0].copy(), rng) for x in clean_img])[:, None]
    t_clean, t_y = data.digit_texts(n_fusion, seed=seed + 101)
    t_bad = [data.corrupt_text(t, rng) for t in t_clean]
    a_rows = rng.choice(len(waves), min(n_fusion // 5, len(waves)), replace=False)
    a_clean = [augment(waves[i], rng) for i in a_rows]
    a_bad = [data.corrupt_audio(augment(waves[i], rng), rng) for i in a_rows]
    ones = lambda n: np.ones(n, bool)
    return {
        "image": [(encode_all(net, "image", clean_img)[0], y_img[rows], ones(n_fusion)),
                  (encode_all(net, "image", bad_img)[0], y_img[rows], ones(n_fusion))],
        "text": [(encode_all(net, "text", t_clean)[0], t_y, ones(n_fusion)),
                 (encode_all(net, "text", [t or " " for t in t_bad])[0], t_y, np.array([bool(t) for t in t_bad]))],
        "audio": [(encode_all(net, "audio", a_clean, batch=64)[0], y_aud[a_rows], ones(len(a_rows))),
                  (encode_all(net, "audio", a_bad, batch=64)[0], y_aud[a_rows], ones(len(a_rows)))],
    }


def train_digits(epochs: int | None = None, seed: int = 0, image_epochs: int = 8, text_epochs: int = 3,
                 audio_epochs: int | None = None, fusion_steps: int = 1600, n_fusion: int = 10000,
                 gate_weight: float = 0.3, temperature: float = 0.01, fusion_only: bool = False) -> Trained:
    """The built-in digits: stage 1 (each encoder alone), stage 2 (the fusion heads on cached features, the
    gated weights also trained towards reliability_target). fusion_only: stage 1 is read from the
    committed checkpoint instead of retrained (the same weights when stage 1 is deterministic; the fusion
    heads start from the same seeded initialisation as in a run from scratch)."""
    from ...datasets.mnist import load_mnist
    from ...datasets.spoken_digits import digit_clips
    from .evaluate import evaluate
    image_epochs = epochs or image_epochs
    t_start = time.perf_counter()
    timings, t0 = {}, time.perf_counter()

    def lap(stage):
        nonlocal t0
        timings[stage], t0 = time.perf_counter() - t0, time.perf_counter()

    arch = {"modalities": list(MODALITIES), "n_classes": 10, "image_channels": 1, "image_widths": [16, 32, 64],
            "text_dim": 96, "audio_dim": 128, "fusion_dim": 128}
    torch.manual_seed(seed)
    net = TriModalNet(**arch)
    images, y_img = load_mnist("train")
    waves, y_aud = digit_clips("train", seed=seed)
    if fusion_only:
        load_stage_one(net)
        lap("stage 1 read from the checkpoint")
    else:
        fit_unimodal(net, "image", images[:, None], y_img, image_epochs, seed)
        lap("image encoder")
        texts, y_txt = digit_texts_with_typos(seed)
        fit_unimodal(net, "text", texts, y_txt, text_epochs, seed, batch=256)
        lap("text encoder")
        fit_audio(net, waves, y_aud, audio_epochs, seed)
        lap("audio encoder")
    pools = fusion_pools(net, images, y_img, waves, y_aud, n_fusion, seed)
    lap("feature cache")
    fit_fusion(net, label_matched_sampler(pools, 10), steps=fusion_steps, seed=seed, gate_weight=gate_weight,
               temperature=temperature)
    lap("fusion heads")
    train_seconds = time.perf_counter() - t_start
    config = {"task": "classify", "architecture": arch, "classes": [str(d) for d in range(10)], "image_prep": "mnist",
              "training": {"seed": seed, "image_epochs": image_epochs, "text_epochs": text_epochs,
                           "audio_epochs": audio_epochs or "train_audio_net default", "fusion_steps": fusion_steps,
                           "gate_weight": gate_weight, "gate_temperature": temperature,
                           "stage_1": "read from the committed checkpoint (--fusion-only)" if fusion_only else "trained",
                           "fusion_samples_per_modality": n_fusion, "audio_clips": len(waves),
                           "seconds": round(train_seconds, 1),
                           "seconds_per_stage": {k: round(v, 1) for k, v in timings.items()},
                           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}}
    config["metrics"] = evaluate(TriModalClassifier(net.eval(), config, "gated", "digits-gated"), all_variants=True)
    print(f"{train_seconds:.0f} s of training ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    return Trained(net, config, digits_card(config))


def load_stage_one(net: TriModalNet, folder=None) -> None:
    """Copy the encoders and unimodal heads of a digits checkpoint (default: the committed one) into net, shapes
    checked; its fusion heads stay as they are (the checkpoint's may have another architecture)."""
    from safetensors.torch import load_file

    from ... import checkpoint, paths
    state = load_file(str((folder or paths.checkpoints("classify")) / "model.safetensors"))
    for part in ("encoders", "heads"):
        checkpoint.load_checked(getattr(net, part), {k[len(part) + 1:]: v for k, v in state.items()
                                                     if k.startswith(part + ".")}, f"Stage 1 ({part})")
    net.eval()


def weight_shift_table(shift: dict | None, target: dict | None = None) -> str:
    """robustness.json's weight shift (and the gate's target shift) as markdown for the model card."""
    if not shift:
        return "Weight shift under the corruption protocol: run `python -m mmdemo.evaluate classify --robustness`.\n"
    rows = [f"| {k} | " + " / ".join(f"{v[m]['weight_drop']:.3f}" for m in v) + " | "
            + " / ".join(f"{v[m]['shapley_share_drop']:.3f}" for m in v) + " |" for k, v in shift.items()]
    return ("Weight shift under the corruption protocol, one modality corrupted at a time, 500 test triples "
            "(`python -m mmdemo.evaluate classify --robustness`; target: the gated weight falls by >= 0.2):\n\n"
            "| variant | weight drop image / text / audio | Shapley-share drop image / text / audio |\n|---|---|---|\n"
            + "\n".join(rows) + "\n" + target_shift_lines(target))


def target_shift_lines(target: dict | None) -> str:
    """How far the gate's own reliability target falls under the protocol, per temperature (robustness.target_shift)."""
    if not target:
        return ""
    lines = [f"- T = {t}: " + " / ".join(f"{d:.3f}" for d in drops.values()) for t, drops in target["gated"].items()]
    return ("\nThe gated weights' training target (reliability_target, computed with the test labels for this check "
            "only) falls by, image / text / audio, at each temperature of the target:\n\n" + "\n".join(lines) + "\n")


def digits_card(config: dict, weight_shift: dict | None = None, target_shift: dict | None = None) -> str:
    from .evaluate import report
    m, t = config["metrics"], config["training"]
    return f"""# digits — built-in tri-modal digit classifier of mmdemo (digits-gated, -early, -late, -xattn)

Classifies a digit 0-9 from any subset of: an image (drawn or uploaded), a text ("seven", "7",
"the number 7", "sieben", with typos) and a spoken word. One checkpoint holds the three encoders and
the four fusion variants (each a registered model).

- **Image**: CNN (widths {config['architecture']['image_widths']}) -> 7x7 grid -> attention pooling (the spatial map).
- **Text**: character CNN -> attention pooling over characters (the token weights, summed per word).
- **Audio**: log-mel (torchaudio MelSpectrogram, 32 bands) -> Google's pretrained speech_embedding CNN
  (Lin et al. 2020, Apache-2.0; frozen; checkpoints/speech-embedding) -> projection + attention pooling
  over time (the frame weights) -> head; nn/audio.py. The projection, pooling and head are trained here.
- **Fusion** (on the frozen encoders' pooled vectors of clean and protocol-corrupted inputs, each
  modality clean or corrupted at random; each variant with auxiliary unimodal heads trained jointly and
  modality dropout 0.3): early = concatenation + MLP; late = learned alpha over the unimodal logits;
  gated = gating network (default); xattn = a small Transformer over modality tokens.
- **What the gate is trained to do** (gated only): besides the classification losses, {t['gate_weight']} x the
  cross-entropy between its weights and a reliability target — the softmax over the modalities given of each
  auxiliary head's log-probability of the true class / {t['gate_temperature']} (detached; cf. the true-class
  probability of Multimodal Dynamics, Han et al. CVPR 2022). A corrupted input that leaves its branch less sure
  of the right class is asked to get less weight. The label is used only in this training loss; at test time the
  gate reads the modality vectors alone. No weight is set by hand. This costs a little accuracy when every
  modality is corrupted at once (the gate commits to the branch that looks most reliable): see the table.

## Data
MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), official train split; FSDD (Zohar Jackson and
contributors, CC BY-SA 4.0) train split of all five speakers + synthetic speech (espeak-ng, flite,
festival), augmented; generated text phrasings (mmdemo/tasks/classify/data.py). Evaluated on the MNIST test
split, FSDD official test split and phrasings of another seed.

## Measured (python -m mmdemo.evaluate classify --all)
Unimodal encoders, clean: image {m['unimodal']['clean']['image']:.4f} (MNIST test, 10,000),
text {m['unimodal']['clean']['text']:.4f}, audio {m['unimodal']['clean']['audio']:.4f} (FSDD test, 250).

{report(m)}

{weight_shift_table(weight_shift, target_shift)}
Corruption protocol: {json.dumps(data.PROTOCOL)}

Training: {t['seconds']:.0f} s on {t['machine']} (CPU): {t['seconds_per_stage']}.

## Reproduce
```
python -m mmdemo.train classify                   # from scratch (~10 min on one quiet core)
python -m mmdemo.train classify --fusion-only     # only the fusion heads, on this checkpoint's encoders
python -m mmdemo.evaluate classify --all [--json]
python -m mmdemo.evaluate classify --robustness   # robustness.json + the weight-shift table above
```
"""


def train_audio_only(epochs: int, views: int = 6, seed: int = 0) -> Trained:
    """The audio branch alone on all five speakers' FSDD train split + synthetic voices (checkpoints/audio-digits);
    measured on the official FSDD test split. Its leave-one-speaker-out score: evaluate.py --loso."""
    from ... import paths
    from ...datasets.spoken_digits import digit_clips
    from .evaluate import audio_accuracy
    t0 = time.perf_counter()
    waves, labels = digit_clips("train", seed=seed)
    test_waves, test_labels = digit_clips("test")
    net = train_audio_net(waves, labels, epochs=epochs, views=views, seed=seed)
    minutes = (time.perf_counter() - t0) / 60
    rng = np.random.default_rng(1)
    metrics = {"fsdd_test_accuracy": audio_accuracy(net, test_waves, test_labels),
               "fsdd_test_augmented_accuracy": audio_accuracy(net, [augment(w, rng) for w in test_waves], test_labels),
               "train_minutes": minutes, "train_clips": len(waves), "epochs": epochs, "views": views, "seed": seed}
    loso_file = paths.checkpoints("audio-digits", "loso.json")
    loso_line = ""
    if loso_file.is_file():
        r = json.loads(loso_file.read_text())
        loso_line = (f"\nSpeaker-disjoint (leave one FSDD speaker out, `{r.get('command', 'loso')}`): mean "
                     f"{r['mean']:.3f}, worst {r['worst']['accuracy']:.3f} ({r['worst']['speaker']}).\n")
    config = {"task": "audio-digits", "arch": {"dim": net.encoder.dim}, "n_mels": N_MELS, "sample_rate": SAMPLE_RATE,
              "metrics": metrics}
    card = ("# audio-digits: spoken digit classifier (log-mel -> pretrained speech-embedding CNN -> attention pooling)\n\n"
            "- Encoder: torchaudio MelSpectrogram (32 bands, 60-3800 Hz) -> Google's speech_embedding CNN (Lin et al. "
            "2020, Apache-2.0; frozen, see checkpoints/speech-embedding) -> projection + attention pooling over time "
            "-> 10-way head; the last three are trained here.\n"
            "- Data: FSDD (Zohar Jackson and contributors, CC BY-SA 4.0) train split (all 5 speakers) + synthetic "
            "speech (espeak-ng, flite, festival), each seen through augment() (speed, tilt, silence, level, noise, "
            "resampling).\n"
            f"- Metrics: {json.dumps(metrics)}\n{loso_line}")
    return Trained(net, config, card)
