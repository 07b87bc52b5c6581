"""Robustness of the fusion family (MultiBench-style) and the dataset view of reliance.

    python -m mmdemo.evaluate classify --robustness     # -> checkpoints/classify/robustness.json

On N test triples (MNIST test image i + an unseen phrasing of its label (seed 2) + an FSDD test clip of
it (seed 3), as in evaluate.py): accuracy of every variant as one modality is corrupted more and more,
the others clean; relative robustness = the mean accuracy over the levels (area under the curve, levels
equally spaced); effective robustness = relative robustness minus what a straight line fitted over the
four variants (relative vs clean accuracy) predicts from the variant's clean accuracy. And the
weight-shift check: under the corruption protocol (data.py PROTOCOL) applied to one modality at a time,
how much each variant's fusion weight and Shapley share of that modality fall (target: >= 0.2).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ... import explain as ex
from ... import paths
from ...errors import MMDemoError
from . import data as digits
from .explain import batch_reliance, save_reference
from .model import VARIANTS, encode_all

N_ROBUST = 500
LEVELS = {"image": ("image_noise", [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
          "audio": ("audio_snr_db", [None, 20.0, 10.0, 5.0, 0.0, -5.0, -10.0]),
          "text": ("text_typos", [0.0, 0.25, 0.5, 0.75, 1.0])}
TARGET_DROP = 0.2


def robustness_file(model) -> Path:
    """robustness.json next to the model's checkpoint (the built-in folder for a model without one)."""
    return Path(getattr(model, "folder", None) or paths.checkpoints("classify")) / "robustness.json"


def test_triples(n: int):
    """Clean test triples: images (n, 1, 28, 28), texts, the distinct FSDD test clips and which one each triple uses."""
    from ...datasets import spoken_digits as speech
    from ...datasets.mnist import load_mnist
    images, y = load_mnist("test")
    img, y = images[:n, None].astype(np.float32) / 255.0, y[:n]
    rng_t, rng_a = np.random.default_rng(2), np.random.default_rng(3)
    texts = [digits.phrase(int(c), rng_t) for c in y]
    waves, y_aud = speech.digit_clips("test")
    by_class = [np.flatnonzero(y_aud == c) for c in range(10)]
    return img, texts, waves, np.array([rng_a.choice(by_class[c]) for c in y]), y


def corrupted_features(net, m: str, level, img, texts, waves, rows, seed: int) -> torch.Tensor:
    """Features of modality m with every item corrupted at `level` (seeded per level)."""
    key = LEVELS[m][0]
    c = ex.Corruption(**{key: level})
    rng = np.random.default_rng(seed)
    if m == "image":
        return encode_all(net, m, np.stack([ex.corrupt_image(x, c, rng) for x in img]))[0]
    if m == "text":
        return encode_all(net, m, [ex.corrupt_text(t, c, rng) or " " for t in texts])[0]
    return encode_all(net, m, [ex.corrupt_audio(w, c, rng) for w in waves], batch=64)[0][rows]


def accuracy(net, kind, feats: dict, present, y) -> float:
    with torch.no_grad():
        logits = net.variants[kind]([feats[m] for m in net.modalities], present)[0]
    return float((logits.argmax(1).numpy() == y).mean())


def curves(net, clean: dict, bad: dict, bad_present, img, texts, waves, rows, y) -> dict:
    """Accuracy of every variant as modality m is corrupted at each level while the other two carry the
    protocol's corruption (with two clean modalities every variant is right at every level: no curve)."""
    out = {k: {} for k in VARIANTS}
    for i, (m, (key, levels)) in enumerate((m, LEVELS[m]) for m in net.modalities):
        present = bad_present.clone()
        present[:, i] = True
        for j, level in enumerate(levels):
            f = clean[m] if j == 0 else corrupted_features(net, m, level, img, texts, waves, rows, 100 + j)
            for kind in VARIANTS:
                out[kind].setdefault(m, {"setting": key, "levels": levels, "accuracy": []})["accuracy"].append(
                    accuracy(net, kind, {**bad, m: f}, present, y))
    return out


def summarise(curves_: dict) -> dict:
    """Relative robustness (mean accuracy over levels) and effective robustness (minus the linear fit
    of relative vs clean accuracy across the variants), per variant and modality."""
    out = {k: {} for k in curves_}
    for m in LEVELS:
        clean = np.array([curves_[k][m]["accuracy"][0] for k in curves_])
        rel = np.array([np.mean(curves_[k][m]["accuracy"]) for k in curves_])
        slope, icept = np.polyfit(clean, rel, 1) if np.ptp(clean) > 1e-9 else (0.0, rel.mean())
        for k, c, r in zip(curves_, clean, rel):
            out[k][m] = {"clean": float(c), "relative": float(r), "effective": float(r - (slope * c + icept))}
    return out


def protocol_corrupt(m: str, img, texts, waves, rows, net):
    """The evaluation protocol's corruption (data.py PROTOCOL, seed 1234) of modality m alone."""
    rng = np.random.default_rng(1234)
    if m == "image":
        return encode_all(net, m, np.stack([digits.corrupt_image(x[0].copy(), rng)[None] for x in img]))[0], None
    if m == "text":
        bad = [digits.corrupt_text(t, rng) for t in texts]
        return encode_all(net, m, [t or " " for t in bad])[0], torch.tensor([bool(t) for t in bad])
    return encode_all(net, m, [digits.corrupt_audio(waves[r], rng) for r in rows], batch=64)[0], None


def one_corrupted(mods, clean: dict, bad: dict, given: dict):
    """For each modality m: (i, m, features with m corrupted and the others clean, which modalities are given)."""
    everything = torch.ones(len(clean[mods[0]]), len(mods), dtype=torch.bool)
    for i, m in enumerate(mods):
        present = everything.clone()
        present[:, i] = given[m]
        yield i, m, [bad[m] if x == m else clean[x] for x in mods], present


def weight_shift(net, clean: dict, bad: dict, given: dict) -> dict:
    """Per variant and modality: mean fusion weight and Shapley share of m on clean vs m-corrupted triples."""
    mods = net.modalities
    everything = torch.ones(len(clean[mods[0]]), len(mods), dtype=torch.bool)
    base = {k: batch_reliance(net, k, [clean[m] for m in mods], everything) for k in VARIANTS}
    out = {k: {} for k in VARIANTS}
    for i, m, feats, present in one_corrupted(mods, clean, bad, given):
        for k in VARIANTS:
            _, w, phi = batch_reliance(net, k, feats, present)
            _, w0, phi0 = base[k]
            s, s0 = ex.shares_of(phi)[:, i], ex.shares_of(phi0)[:, i]
            out[k][m] = {"weight_clean": float(w0[:, i].mean()), "weight_corrupted": float(w[:, i].mean()),
                         "weight_drop": float(w0[:, i].mean() - w[:, i].mean()),
                         "shapley_share_clean": float(s0.mean()), "shapley_share_corrupted": float(s.mean()),
                         "shapley_share_drop": float(s0.mean() - s.mean())}
            out[k][m]["target_weight_drop >= 0.2"] = out[k][m]["weight_drop"] >= TARGET_DROP
    return out


TARGET_TEMPERATURES = (0.002, 0.005, 0.01, 0.02, 0.05)


@torch.no_grad()
def target_shift(net, clean: dict, bad: dict, given: dict, y, temperatures=TARGET_TEMPERATURES) -> dict:
    """How far the gate's training target (train.reliability_target, computed here with the test labels, for
    this check only) falls under the same protocol, at each temperature: the most the gated weights could fall
    if they matched their target exactly. Uses the gated variant's own auxiliary unimodal heads."""
    from .train import GATE_TRAINED, reliability_target
    mods, y = net.modalities, torch.as_tensor(y)
    out = {}
    for kind in GATE_TRAINED:
        variant = net.variants[kind]
        everything = torch.ones(len(y), len(mods), dtype=torch.bool)
        uni0 = variant([clean[m] for m in mods], everything)[2]
        drops = {str(t): {} for t in temperatures}
        for i, m, feats, present in one_corrupted(mods, clean, bad, given):
            uni = variant(feats, present)[2]
            for t in temperatures:
                before, after = reliability_target(uni0, y, everything, t), reliability_target(uni, y, present, t)
                drops[str(t)][m] = float(before[:, i].mean() - after[:, i].mean())
        out[kind] = drops
    return out


def dataset_view(net, kind: str, feats: dict, present, y, classes) -> dict:
    """A variant on the protocol-corrupted triples: scikit-learn metrics and mean Shapley share per class."""
    label, _, phi = batch_reliance(net, kind, [feats[m] for m in net.modalities], present)
    return {"metrics": ex.classification_metrics(y, label, classes),
            "reliance_by_class": ex.reliance_by_group(ex.shares_of(phi), net.modalities, [classes[c] for c in y], label == y)}


def robustness(model, limit: int | None = None) -> dict:
    """Everything above on N_ROBUST (or `limit`) triples; writes robustness.json next to the checkpoint."""
    if model.classes != [str(d) for d in range(10)] or list(model.modalities) != list(digits.MODALITIES):
        raise MMDemoError(f"{model.name} is not a digits model: the robustness protocol is defined on the digits "
                          "test data (MNIST, FSDD, phrasings).")
    t0 = time.perf_counter()
    net = model.net.eval()
    img, texts, waves, rows, y = test_triples(min(limit or N_ROBUST, N_ROBUST))
    clean = {"image": encode_all(net, "image", img)[0], "text": encode_all(net, "text", texts)[0],
             "audio": encode_all(net, "audio", waves, batch=64)[0][rows]}
    bad, given = {}, {}
    for m in net.modalities:
        bad[m], g = protocol_corrupt(m, img, texts, waves, rows, net)
        given[m] = torch.ones(len(y), dtype=torch.bool) if g is None else g
    bad_present = torch.stack([given[m] for m in net.modalities], 1)
    curves_ = curves(net, clean, bad, bad_present, img, texts, waves, rows, y)
    result = {"task": "classify", "n": len(y), "levels": {m: {"setting": k, "values": v} for m, (k, v) in LEVELS.items()},
              "curves": curves_, "robustness": summarise(curves_), "weight_shift": weight_shift(net, clean, bad, given),
              "target_shift": target_shift(net, clean, bad, given, y),
              "protocol": digits.PROTOCOL, "command": "python -m mmdemo.evaluate classify --robustness",
              "curves_setting": "modality m at each level, the other two under the protocol's corruption",
              "dataset_view": {k: dataset_view(net, k, bad, bad_present, y, model.classes) for k in VARIANTS}}
    result["minutes"] = round((time.perf_counter() - t0) / 60, 2)
    robustness_file(model).write_text(json.dumps(result, indent=1) + "\n")
    save_reference(model)            # EMAP's reference batch, next to the checkpoint
    update_card(robustness_file(model).parent, result["weight_shift"], result["target_shift"])
    return result


def update_card(folder: Path, shift: dict, target: dict | None = None) -> None:
    """Rewrite a digits checkpoint's model card with the weight-shift table just measured."""
    from ... import checkpoint
    from .train import digits_card
    config = checkpoint.read_config(folder)
    if "training" in config and "metrics" in config:
        (folder / "README.md").write_text(digits_card(config, shift, target))


# ---------------------------------------------------------------- what the panel shows from the file

def load_robustness(model_name: str) -> tuple[dict | None, str]:
    """(robustness.json next to this model's checkpoint or None, the model's fusion variant)."""
    from ...registry import load
    model = load("classify", model_name)
    f = robustness_file(model)
    return (json.loads(f.read_text()) if f.is_file() else None), model.variant


def weight_shift_warning(model_name: str) -> str:
    """A line for the fusion-weight view when this variant's weights failed the weight-shift check."""
    r, kind = load_robustness(model_name)
    if not r or kind not in r.get("weight_shift", {}):
        return ""
    bad = {m: v["weight_drop"] for m, v in r["weight_shift"][kind].items() if v["weight_drop"] < TARGET_DROP}
    if not bad:
        return ""
    line = (f"**Check failed for this variant:** under the corruption protocol its weight on a corrupted modality falls "
            f"by less than {TARGET_DROP} on average ({', '.join(f'{m} {d:+.3f}' for m, d in bad.items())}; "
            f"{r['n']} test triples, evaluate --robustness)")
    target = r.get("target_shift", {}).get(kind)
    if not target:
        return line + " — its weights do not track corruption there."
    most = {m: max(t[m] for t in target.values()) for m in bad}
    return (line + ". Its weights are trained towards a reliability target, and that target itself falls by at most "
            + ", ".join(f"{m} {d:.3f}" for m, d in most.items()) + f" at any temperature from {min(target, key=float)} to "
            f"{max(target, key=float)}: a corrupted input that its branch still reads right keeps its weight.")


def severity(setting: str, value) -> float:
    """A corruption setting's value -> its position 0..1 along the robustness curve's levels (interpolated)."""
    levels = next((v for k, v in LEVELS.values() if k == setting), None)
    if levels is None or value is None:
        return 0.0
    vals = np.array([40.0 if x is None else x for x in levels])     # audio: no noise = 40 dB (the slider's end)
    pos = np.arange(len(vals)) / (len(vals) - 1)
    if vals[0] > vals[-1]:
        vals, pos = vals[::-1], pos[::-1]
    return float(np.interp(value, vals, pos))


def robustness_plot(e):
    """Accuracy vs corruption severity for this variant (one curve per modality), plus this input's
    confidence (one input has no accuracy) at the severity of each control with a curve, or at 0 when clean.
    Other controls (occlusion, blur, babble, masks, dropped or conflicting words) have no curve of their own."""
    import pandas as pd
    r, kind = load_robustness(e.model)
    rows = []
    for m, c in (r or {}).get("curves", {}).get(kind, {}).items():
        n = len(c["levels"])
        rows += [{"level": j / (n - 1), "accuracy": a, "curve": f"{m}: {c['setting']}"} for j, a in enumerate(c["accuracy"])]
    settings = e.settings.get("corruption", {})
    used = {k: v for k, v in settings.items() if any(k == s for s, _ in LEVELS.values())}
    for setting, value in (used or {"clean": None}).items():
        babble = setting == "audio_snr_db" and settings.get("audio_noise") == "babble"
        rows.append({"level": severity(setting, value), "accuracy": e.confidence,
                     "curve": f"× this input's confidence ({setting}" + (", babble; the curve is white noise)" if babble else ")")})
    return pd.DataFrame(rows or [{"level": 0.0, "accuracy": 0.0, "curve": "run evaluate --robustness"}])


def dataset_plots(model_name: str):
    """The confusion matrix, the mean Shapley share per class (correct vs wrong) and a summary of this
    variant on the protocol-corrupted triples, from robustness.json."""
    from ...ui.explain import dataset_frames
    r, kind = load_robustness(model_name)
    view = (r or {}).get("dataset_view", {}).get(kind)
    return dataset_frames(view, "reliance_by_class", ("image", "text", "audio"), "protocol-corrupted test triples",
                          "Run evaluate --robustness.")
