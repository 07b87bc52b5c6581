"""Bring your own data: train the same fusion family on a JSON Lines manifest.

    python -m mmdemo.train classify --manifest data.jsonl --out checkpoints/mydata
    python -m mmdemo.evaluate classify --classifier checkpoints/mydata --manifest test.jsonl

One JSON object a line, {"image": "cat1.png", "text": "a cat", "audio": "cat1.wav", "label": "cat"};
image, text and audio are optional per line (paths relative to the manifest), label is required.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ... import parallel
from ...checkpoint import Trained
from ...errors import MMDemoError
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


class ManifestData:
    """The manifest's items decoded per modality, and their frozen features once the encoders are trained."""

    def __init__(self, classes: list[str], image_size: int):
        self.index = {c: k for k, c in enumerate(classes)}
        self.prep = {"image_prep": "rgb", "image_size": image_size}

    def load(self, m: str, subset: list[dict]):
        """The items of `subset` that have modality m, decoded, and their labels."""
        rows = [i for i in subset if m in i]
        y = np.array([self.index[i["label"]] for i in rows], dtype=np.int64)
        if m == "image":
            size = self.prep["image_size"]
            data = np.stack([prepare_image(i["image"], self.prep) for i in tqdm(rows, desc="images", leave=False)]) \
                if rows else np.zeros((0, 3, size, size), np.float32)
        elif m == "text":
            data = [load_text(i["text"], "text") for i in rows]
        else:
            data = [load_audio(i["audio"], target_rate=SAMPLE_RATE)[1] for i in tqdm(rows, desc="audio", leave=False)]
        return data, y

    def features(self, net: TriModalNet, subset: list[dict]):
        """Per item: features of every modality (zeros where absent), presence, label."""
        feats, has = [], []
        for m, dim in zip(net.modalities, net.feat_dims):
            rows = [k for k, i in enumerate(subset) if m in i]
            f = torch.zeros(len(subset), dim)
            if rows:
                f[rows] = encode_all(net, m, self.load(m, [subset[k] for k in rows])[0], batch=64)[0]
            feats.append(f)
            has.append(torch.tensor([m in i for i in subset]))
        return feats, torch.stack(has, 1), torch.tensor([self.index[i["label"]] for i in subset])


@torch.no_grad()
def validation_metrics(net: TriModalNet, feats, present, y) -> dict:
    return {"validation_accuracy": {kind: float((net.variants[kind](feats, present)[0].argmax(1) == y).float().mean())
                                    for kind in VARIANTS},
            "validation_unimodal": {m: float((net.heads[m](feats[k][present[:, k]]).argmax(1) == y[present[:, k]])
                                             .float().mean())
                                    for k, m in enumerate(net.modalities) if present[:, k].any()}}


def train_manifest(manifest, epochs: int | None = None, seed: int = 0, val_fraction: float = 0.2,
                   image_size: int = 32) -> Trained:
    t_start = time.perf_counter()
    items, classes = read_manifest(manifest)
    present = [m for m in MODALITIES if any(m in i for i in items)]
    train, val = split_items(items, val_fraction, seed)
    print(f"{manifest}: {len(items)} items, {len(classes)} classes, modalities {', '.join(present)}; "
          f"{len(train)} train / {len(val)} validation")
    data = ManifestData(classes, image_size)
    epochs = epochs or int(np.clip(3000 // max(len(train), 1), 5, 30))
    arch = {"modalities": present, "n_classes": len(classes), "image_channels": 3, "image_widths": [16, 32, 64],
            "text_dim": 96, "audio_dim": 128, "fusion_dim": 128}
    torch.manual_seed(seed)
    net = TriModalNet(**arch)
    for m in present:
        x, y = data.load(m, train)
        if len(y) and m == "audio":
            fit_audio(net, x, y, epochs, seed)
        elif len(y):
            fit_unimodal(net, m, x, y, epochs, seed, batch=64, augment_images=False)
    train_feats, train_present, train_y = data.features(net, train)

    def sample(rng, batch):
        rows = torch.as_tensor(rng.integers(len(train_y), size=batch))
        return [f[rows] for f in train_feats], train_present[rows], train_y[rows]

    fit_fusion(net, sample, steps=max(300, 20 * epochs), batch=min(256, max(16, len(train))), seed=seed)
    train_seconds = time.perf_counter() - t_start
    metrics = {"n_train": len(train), "n_val": len(val)}
    if val:
        metrics.update(validation_metrics(net, *data.features(net, val)))
    config = {"task": "classify", "architecture": arch, "classes": classes, **data.prep,
              "training": {"manifest": str(manifest), "seed": seed, "epochs": epochs, "val_fraction": val_fraction,
                           "seconds": round(train_seconds, 1)}, "metrics": metrics}
    print(f"trained in {train_seconds:.0f} s; serve the folder with: python app.py --classifier FOLDER")
    return Trained(net, config, manifest_card(config))


@torch.no_grad()
def evaluate_manifest(model, manifest, limit: int | None = None) -> dict:
    """Accuracy of every fusion variant and unimodal head of a manifest-trained classifier on the items of a
    manifest (its labels must be the classifier's classes). Under accelerate launch each process measures
    its share of the items; the per-item predictions are gathered, so N processes give 1 process's figures."""
    items, _ = read_manifest(manifest)
    items = items[:limit] if limit else items
    unknown = sorted({i["label"] for i in items} - set(model.classes))
    if unknown:
        raise MMDemoError(f"{manifest}: labels {unknown} are not classes of {model.name} ({model.classes}).")
    net, data = model.net.eval(), ManifestData(model.classes, model.config.get("image_size", 32))
    indices, mine = parallel.split(items)
    results = []
    if mine:
        feats, present, y = data.features(net, mine)
        preds = {kind: net.variants[kind](feats, present)[0].argmax(1) for kind in VARIANTS}
        preds.update({m: net.heads[m](feats[k]).argmax(1) for k, m in enumerate(net.modalities)})
        results = [(i, {"label": int(y[r]), "present": present[r].tolist(), **{k: int(p[r]) for k, p in preds.items()}})
                   for r, i in enumerate(indices)]
    rows = parallel.gather(results)
    accuracy = {kind: float(np.mean([r[kind] == r["label"] for r in rows])) for kind in VARIANTS}
    unimodal = {m: float(np.mean([r[m] == r["label"] for r in rows if r["present"][k]]))
                for k, m in enumerate(net.modalities) if any(r["present"][k] for r in rows)}
    return {"task": "classify", "model": model.name, "manifest": str(manifest), "n": len(rows),
            "processes": parallel.processes()[1], "accuracy": accuracy, "unimodal_accuracy": unimodal}


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
