"""Training of the tri-modal classifier family (see classify.py for the two stages).

    python -m mmdemo.train classify                                        # built-in digits
    python -m mmdemo.train classify --manifest data.jsonl --out checkpoints/mydata   # your own data
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import checkpoint
from .data import digits
from .models.classify import MODALITIES, VARIANTS, TriModalClassifier, TriModalNet, encode_all, encode_chars, prepare_image


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


def fit_unimodal(net: TriModalNet, modality: str, data, labels: np.ndarray, epochs: int, seed: int = 0,
                 batch: int = 128, lr: float = 3e-3, augment_images: bool = True) -> None:
    """Train net.encoders[modality] + net.heads[modality] alone (cross-entropy, AdamW, one-cycle).
    data: uint8/float images (N, C, H, W) or a list of texts."""
    torch.manual_seed(seed)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    enc, head = net.encoders[modality], net.heads[modality]
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps_per_epoch = int(np.ceil(len(labels) / batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.2)
    y_all = torch.as_tensor(labels, dtype=torch.long)
    for epoch in range(epochs):
        enc.train(); head.train()
        order, correct, total = rng.permutation(len(labels)), 0, 0.0
        bar = tqdm(range(0, len(order), batch), desc=f"{modality} epoch {epoch + 1}/{epochs}", leave=False, mininterval=2)
        for s in bar:
            rows = order[s:s + batch]
            if modality == "image":
                x = torch.as_tensor(np.asarray(data[rows]), dtype=torch.float32)
                x = x / 255.0 if x.max() > 1.5 else x
                x = random_damage(random_affine(x, gen), gen) if augment_images else x
            else:
                x = encode_chars([data[i] for i in rows])
            logits = head(enc(x)[0])
            loss = F.cross_entropy(logits, y_all[rows], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            correct += int((logits.argmax(1) == y_all[rows]).sum())
            total += loss.item() * len(rows)
        print(f"{modality} epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}, "
              f"train acc {correct / len(order):.4f}", flush=True)
    enc.eval(); head.eval()


def fit_audio(net: TriModalNet, waves, labels, epochs: int | None, seed: int = 0) -> None:
    """The audio trainer of models/audio.py (augmented views through the frozen CNN); its encoder and head are copied in."""
    from .models import audio
    kwargs = {"epochs": epochs} if epochs else {}
    n_classes = net.heads["audio"].out_features
    trained = audio.train_digit_net(waves, labels, seed=seed, n_classes=n_classes, **kwargs)
    net.encoders["audio"].load_state_dict(trained.encoder.state_dict())
    linear = [m for m in trained.head.modules() if isinstance(m, nn.Linear)][-1]
    net.heads["audio"].weight.data[:] = linear.weight.data[:n_classes]
    net.heads["audio"].bias.data[:] = linear.bias.data[:n_classes]
    net.eval()


# ---------------------------------------------------------------- stage 2: the fusion heads on cached features

def fit_fusion(net: TriModalNet, sample, steps: int = 1500, batch: int = 256, lr: float = 2e-3, seed: int = 0,
               drop: float = 0.3, aux_weight: float = 0.5) -> None:
    """Train the four variants on frozen features. sample(rng, batch) -> (feats list of (B, D_m),
    present (B, M) bool, labels (B,)); modality dropout removes each modality with probability
    `drop` (at least one is kept)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    for kind in VARIANTS:
        variant = net.variants[kind].train()
        opt = torch.optim.AdamW(variant.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
        bar = tqdm(range(steps), desc=f"fusion {kind}", leave=False, mininterval=2)
        for _ in bar:
            feats, present, y = sample(rng, batch)
            keep = torch.from_numpy(rng.random(present.shape) >= drop) & present
            none = ~keep.any(1)
            keep[none] = present[none]                 # never drop every modality a sample has
            logits, _, uni = variant(feats, keep)
            aux = F.cross_entropy(uni.flatten(0, 1), y.repeat_interleave(uni.shape[1]), reduction="none")
            aux = (aux.view(keep.shape) * keep).sum() / keep.sum()
            loss = F.cross_entropy(logits, y) + aux_weight * aux
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        variant.eval()
        print(f"fusion {kind}: last loss {loss.item():.4f}", flush=True)


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

def train_digits(out: Path, epochs: int | None = None, seed: int = 0, image_epochs: int = 8, text_epochs: int = 3,
                 audio_epochs: int | None = None, fusion_steps: int = 800, n_fusion: int = 10000) -> dict:
    from .data import speech
    from .data.mnist import load_mnist
    from .evaluate_classify import evaluate_classify
    image_epochs = epochs or image_epochs
    t_start = time.perf_counter()
    timings = {}
    arch = {"modalities": list(MODALITIES), "n_classes": 10, "image_channels": 1, "image_widths": [16, 32, 64],
            "text_dim": 96, "audio_dim": 128, "fusion_dim": 128}
    torch.manual_seed(seed)
    net = TriModalNet(**arch)

    t0 = time.perf_counter()
    images, y_img = load_mnist("train")
    fit_unimodal(net, "image", images[:, None], y_img, image_epochs, seed)
    timings["image encoder"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    texts, y_txt = digits.digit_texts(40000, seed=seed)
    rng = np.random.default_rng(seed + 1)
    hard = [digits.corrupt_text(t, rng) for t in texts[:10000]]          # heavier typos too (never empty here)
    hard_keep = [i for i, t in enumerate(hard) if t]
    texts = texts + [hard[i] for i in hard_keep]
    y_txt = np.concatenate([y_txt, y_txt[hard_keep]])
    fit_unimodal(net, "text", texts, y_txt, text_epochs, seed, batch=256)
    timings["text encoder"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    waves, y_aud = speech.digit_clips("train", seed=seed)
    fit_audio(net, waves, y_aud, audio_epochs, seed)
    timings["audio encoder"] = time.perf_counter() - t0

    # stage 2: cache frozen features of clean and corrupted versions (other seeds than the evaluation's 1234)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed + 100)
    rows = rng.choice(len(images), n_fusion, replace=False)
    clean_img = images[rows].astype(np.float32)[:, None] / 255.0
    bad_img = np.stack([digits.corrupt_image(x[0].copy(), rng) for x in clean_img])[:, None]
    t_clean, t_y = digits.digit_texts(n_fusion, seed=seed + 101)
    t_bad = [digits.corrupt_text(t, rng) for t in t_clean]
    a_rows = rng.choice(len(waves), min(n_fusion // 5, len(waves)), replace=False)
    a_clean = [speech.augment(waves[i], rng) for i in a_rows]
    a_bad = [digits.corrupt_audio(speech.augment(waves[i], rng), rng) for i in a_rows]
    ones = lambda n: np.ones(n, bool)
    pools = {
        "image": [(encode_all(net, "image", clean_img)[0], y_img[rows], ones(n_fusion)),
                  (encode_all(net, "image", bad_img)[0], y_img[rows], ones(n_fusion))],
        "text": [(encode_all(net, "text", t_clean)[0], t_y, ones(n_fusion)),
                 (encode_all(net, "text", [t or " " for t in t_bad])[0], t_y, np.array([bool(t) for t in t_bad]))],
        "audio": [(encode_all(net, "audio", a_clean, batch=64)[0], y_aud[a_rows], ones(len(a_rows))),
                  (encode_all(net, "audio", a_bad, batch=64)[0], y_aud[a_rows], ones(len(a_rows)))],
    }
    timings["feature cache"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fit_fusion(net, label_matched_sampler(pools, 10), steps=fusion_steps, seed=seed)
    timings["fusion heads"] = time.perf_counter() - t0
    train_seconds = time.perf_counter() - t_start

    config = {"task": "classify", "architecture": arch, "classes": [str(d) for d in range(10)], "image_prep": "mnist",
              "training": {"seed": seed, "image_epochs": image_epochs, "text_epochs": text_epochs,
                           "audio_epochs": audio_epochs or "train_digit_net default", "fusion_steps": fusion_steps,
                           "fusion_samples_per_modality": n_fusion, "audio_clips": len(waves),
                           "seconds": round(train_seconds, 1),
                           "seconds_per_stage": {k: round(v, 1) for k, v in timings.items()},
                           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}}
    model = TriModalClassifier(net.eval(), config, "gated", "digits-gated")
    metrics = evaluate_classify(model, all_variants=True)
    config["metrics"] = metrics
    checkpoint.save(out, net, config, digits_card(config))
    print(f"wrote {out}: {train_seconds:.0f} s of training ({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})")
    return metrics


def digits_card(config: dict) -> str:
    from .evaluate_classify import comparison_table
    m, t = config["metrics"], config["training"]
    return f"""# digits — built-in tri-modal digit classifier of mmdemo (digits-gated, -early, -late, -xattn)

Classifies a digit 0-9 from any subset of: an image (drawn or uploaded), a text ("seven", "7",
"the number 7", "sieben", with typos) and a spoken word. One checkpoint holds the three encoders and
the four fusion variants (each a registered model).

- **Image**: CNN (widths {config['architecture']['image_widths']}) -> 7x7 grid -> attention pooling (the spatial map).
- **Text**: character CNN -> attention pooling over characters (the token weights, summed per word).
- **Audio**: log-mel (torchaudio MelSpectrogram, 32 bands) -> Google's pretrained speech_embedding CNN
  (Lin et al. 2020, Apache-2.0; frozen; checkpoints/speech-embedding) -> projection + attention pooling
  over time (the frame weights) -> head; models/audio.py. The projection, pooling and head are trained here.
- **Fusion** (on the frozen encoders' pooled vectors, each with auxiliary unimodal heads trained
  jointly and modality dropout 0.3): early = concatenation + MLP; late = learned alpha over the
  unimodal logits; gated = gating network (default); xattn = a small Transformer over modality tokens.

## Data
MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), official train split; FSDD (Zohar Jackson and
contributors, CC BY-SA 4.0) train split of all five speakers + synthetic speech (espeak-ng, flite,
festival), augmented; generated text phrasings (mmdemo/data/digits.py). Evaluated on the MNIST test
split, FSDD official test split and phrasings of another seed.

## Measured (python -m mmdemo.evaluate classify --all)
Unimodal encoders, clean: image {m['unimodal']['clean']['image']:.4f} (MNIST test, 10,000),
text {m['unimodal']['clean']['text']:.4f}, audio {m['unimodal']['clean']['audio']:.4f} (FSDD test, 250).

{comparison_table(m)}

Corruption protocol: {json.dumps(digits.PROTOCOL)}

Training: {t['seconds']:.0f} s on {t['machine']} (CPU): {t['seconds_per_stage']}.

## Reproduce
```
python -m mmdemo.train classify
python -m mmdemo.evaluate classify --all [--json]
```
"""


# ---------------------------------------------------------------- bring your own data

def split_items(items: list[dict], val_fraction: float, seed: int) -> tuple[list[dict], list[dict]]:
    """Stratified split: val_fraction of each class (at least one item when a class has 2+)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in sorted({i["label"] for i in items}):
        group = [i for i in items if i["label"] == c]
        rng.shuffle(group)
        k = int(round(len(group) * val_fraction)) if len(group) > 1 else 0
        k = max(k, 1) if len(group) > 1 and val_fraction > 0 else k
        val += group[:k]
        train += group[k:]
    return train, val


def train_manifest(manifest: Path, out: Path, epochs: int | None = None, seed: int = 0, val_fraction: float = 0.2,
                   image_size: int = 32) -> dict:
    from .data import speech
    from .data.inputs import load_text
    t_start = time.perf_counter()
    items, classes = digits.read_manifest(manifest)
    present = [m for m in MODALITIES if any(m in i for i in items)]
    train, val = split_items(items, val_fraction, seed)
    print(f"{manifest}: {len(items)} items, {len(classes)} classes, modalities {', '.join(present)}; "
          f"{len(train)} train / {len(val)} validation")
    cls_index = {c: k for k, c in enumerate(classes)}
    prep = {"image_prep": "rgb", "image_size": image_size}
    epochs = epochs or int(np.clip(3000 // max(len(train), 1), 5, 30))
    arch = {"modalities": present, "n_classes": len(classes), "image_channels": 3, "image_widths": [16, 32, 64],
            "text_dim": 96, "audio_dim": 128, "fusion_dim": 128}
    torch.manual_seed(seed)
    net = TriModalNet(**arch)

    def load(m, subset):
        rows = [i for i in subset if m in i]
        y = np.array([cls_index[i["label"]] for i in rows], dtype=np.int64)
        if m == "image":
            data = np.stack([prepare_image(i["image"], prep) for i in tqdm(rows, desc="images", leave=False)]) \
                if rows else np.zeros((0, 3, image_size, image_size), np.float32)
        elif m == "text":
            data = [load_text(i["text"], "text") for i in rows]
        else:
            data = [speech.load(i["audio"])[1] for i in tqdm(rows, desc="audio", leave=False)]
        return data, y

    for m in present:
        data, y = load(m, train)
        if len(y) == 0:
            continue
        if m == "audio":
            fit_audio(net, data, y, epochs, seed)
        else:
            fit_unimodal(net, m, data, y, epochs, seed, batch=64, augment_images=False)

    def item_features(subset):
        """Per item: features of every modality (zeros where absent), presence, label."""
        feats, has = [], []
        for m, dim in zip(net.modalities, net.feat_dims):
            rows = [k for k, i in enumerate(subset) if m in i]
            f = torch.zeros(len(subset), dim)
            if rows:
                data, _ = load(m, [subset[k] for k in rows])
                f[rows] = encode_all(net, m, data, batch=64)[0]
            feats.append(f)
            has.append(torch.tensor([m in i for i in subset]))
        return feats, torch.stack(has, 1), torch.tensor([cls_index[i["label"]] for i in subset])

    train_feats, train_present, train_y = item_features(train)

    def sample(rng, batch):
        rows = torch.as_tensor(rng.integers(len(train_y), size=batch))
        return [f[rows] for f in train_feats], train_present[rows], train_y[rows]

    fit_fusion(net, sample, steps=max(300, 20 * epochs), batch=min(256, max(16, len(train))), seed=seed)
    train_seconds = time.perf_counter() - t_start

    metrics = {"n_train": len(train), "n_val": len(val)}
    if val:
        vf, vp, vy = item_features(val)
        with torch.no_grad():
            metrics["validation_accuracy"] = {
                kind: float((net.variants[kind](vf, vp)[0].argmax(1) == vy).float().mean()) for kind in VARIANTS}
            metrics["validation_unimodal"] = {
                m: float((net.heads[m](vf[k][vp[:, k]]).argmax(1) == vy[vp[:, k]]).float().mean())
                for k, m in enumerate(net.modalities) if vp[:, k].any()}
    config = {"task": "classify", "architecture": arch, "classes": classes, **prep,
              "training": {"manifest": str(manifest), "seed": seed, "epochs": epochs, "val_fraction": val_fraction,
                           "seconds": round(train_seconds, 1)}, "metrics": metrics}
    checkpoint.save(out, net, config, manifest_card(config, out))
    print(json.dumps(metrics, indent=2))
    print(f"wrote {out} in {train_seconds:.0f} s; serve it with: python app.py --classifier {out}")
    return metrics


def manifest_card(config: dict, out: Path) -> str:
    m, t = config["metrics"], config["training"]
    val = "\n".join(f"| {k} | {v:.4f} |" for k, v in m.get("validation_accuracy", {}).items()) or "| (no validation items) | |"
    uni = ", ".join(f"{k} {v:.4f}" for k, v in m.get("validation_unimodal", {}).items())
    return f"""# {Path(out).name} — tri-modal classifier trained by mmdemo on {t['manifest']}

Classes: {', '.join(config['classes'])}. Modalities: {', '.join(config['architecture']['modalities'])}.
Same fusion family as the built-in digits model (early / late / gated / cross-modal attention).

## Validation ({m['n_val']} items held out of {m['n_train'] + m['n_val']}, stratified, seed {t['seed']})
| fusion variant | accuracy |
|---|---|
{val}

Unimodal heads: {uni or '-'}.

Training: {t['epochs']} epochs per encoder, {t['seconds']:.0f} s.

## Use
```
python app.py --classifier {out}
```
"""
