"""Bring your own data: train the same fusion family on a JSON Lines manifest.

    python -m mmdemo.train classify --manifest data.jsonl --out checkpoints/mydata

One JSON object a line, {"image": "cat1.png", "text": "a cat", "audio": "cat1.wav", "label": "cat"};
image, text and audio are optional per line (paths relative to the manifest), label is required.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...checkpoint import Trained
from ...inputs import load_audio, load_text
from ...nn.audio import SAMPLE_RATE
from .data import read_manifest
from .model import MODALITIES, VARIANTS, TriModalNet, encode_all, prepare_image
from .train import fit_audio, fit_fusion, fit_unimodal


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


def train_manifest(manifest, epochs: int | None = None, seed: int = 0, val_fraction: float = 0.2,
                   image_size: int = 32) -> Trained:
    t_start = time.perf_counter()
    items, classes = read_manifest(manifest)
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
            data = [load_audio(i["audio"], target_rate=SAMPLE_RATE)[1] for i in tqdm(rows, desc="audio", leave=False)]
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
    print(f"trained in {train_seconds:.0f} s; serve the folder with: python app.py --classifier FOLDER")
    return Trained(net, config, manifest_card(config))


def manifest_card(config: dict) -> str:
    m, t = config["metrics"], config["training"]
    val = "\n".join(f"| {k} | {v:.4f} |" for k, v in m.get("validation_accuracy", {}).items()) or "| (no validation items) | |"
    uni = ", ".join(f"{k} {v:.4f}" for k, v in m.get("validation_unimodal", {}).items())
    return f"""# {Path(t['manifest']).stem} — tri-modal classifier trained by mmdemo on {t['manifest']}

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
python app.py --classifier THIS_FOLDER
```
"""
