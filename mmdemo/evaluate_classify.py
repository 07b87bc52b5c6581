"""Measure the tri-modal digit classifier: unimodal accuracy on each official test split, and the
fusion family on a fixed, seeded corruption protocol (mmdemo/data/digits.py PROTOCOL).

    python -m mmdemo.evaluate classify [--model digits-gated | --all] [--limit N] [--json]

Test triples: MNIST test image i (i < N, default 2,000) with label y, a phrasing of y (seed 2,
never seen in training) and an FSDD official-test clip of y (seed 3). Corrupted copies: seed 1234.
"""
from __future__ import annotations

import json

import numpy as np
import torch

from . import checkpoint
from .data import digits
from .models.classify import VARIANTS, encode_all

N_TRIPLES = 2000


def _acc(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).double().mean())   # float64: 9,930 / 10,000 is 0.993, not 0.99299997


@torch.no_grad()
def evaluate_classify(model, limit: int | None = None, all_variants: bool = False) -> dict:
    from .data import speech
    from .data.mnist import load_mnist
    if model.classes != [str(d) for d in range(10)] or list(model.modalities) != ["image", "text", "audio"]:
        from .errors import MMDemoError
        raise MMDemoError(f"{model.name} is not a digits model; its validation accuracy is in its model card.")
    net = model.net.eval()
    images, y_img = load_mnist("test")
    n_img = len(images) if limit is None else min(limit, len(images))
    img = images[:n_img, None].astype(np.float32) / 255.0
    texts, y_txt = digits.digit_texts(2000 if limit is None else min(limit, 2000), seed=1)
    waves, y_aud = speech.digit_clips("test")

    f_img, l_img = encode_all(net, "image", img)
    f_txt, l_txt = encode_all(net, "text", texts)
    f_aud, l_aud = encode_all(net, "audio", waves, batch=64)
    unimodal_clean = {"image": _acc(l_img, torch.as_tensor(y_img[:n_img])),
                      "text": _acc(l_txt, torch.as_tensor(y_txt)), "audio": _acc(l_aud, torch.as_tensor(y_aud))}

    # the tri-modal test triples, clean and corrupted (fixed seeds)
    n = min(N_TRIPLES if limit is None else limit, n_img)
    y = y_img[:n]
    rng_t, rng_a, rng = (np.random.default_rng(s) for s in (2, 3, 1234))
    t_clean = [digits.phrase(int(c), rng_t) for c in y]
    by_class = [np.flatnonzero(y_aud == c) for c in range(10)]
    a_rows = np.array([rng_a.choice(by_class[c]) for c in y])
    bad_img, bad_txt, bad_aud = [], [], []
    for i in range(n):
        bad_img.append(digits.corrupt_image(img[i, 0].copy(), rng)[None])
        bad_aud.append(digits.corrupt_audio(waves[a_rows[i]], rng))
        bad_txt.append(digits.corrupt_text(t_clean[i], rng))
    clean = {"image": f_img[:n], "text": encode_all(net, "text", t_clean)[0], "audio": f_aud[a_rows]}
    corrupt = {"image": encode_all(net, "image", np.stack(bad_img))[0],
               "text": encode_all(net, "text", [t or " " for t in bad_txt])[0],
               "audio": encode_all(net, "audio", bad_aud, batch=64)[0]}
    text_given = torch.tensor([bool(t) for t in bad_txt])
    yt = torch.as_tensor(y)
    mods = net.modalities
    unimodal_corrupt = {m: _acc(net.heads[m](corrupt[m]), yt) for m in mods}   # empty text: the text model's guess

    def fused(kind, feats, present):
        return _acc(net.variants[kind]([feats[m] for m in mods], present)[0], yt)

    everything = torch.ones(n, len(mods), dtype=torch.bool)
    corrupt_present = everything.clone()
    corrupt_present[:, mods.index("text")] = text_given
    results = {}
    for kind in (VARIANTS if all_variants else [model.variant]):
        r = {"clean": fused(kind, clean, everything), "corrupted": fused(kind, corrupt, corrupt_present)}
        for k, m in enumerate(mods):
            without = everything.clone(); without[:, k] = False
            r[f"clean_without_{m}"] = fused(kind, clean, without)
            without_c = corrupt_present.clone(); without_c[:, k] = False
            keep = without_c.any(1)   # a sample whose only remaining input was an empty text has nothing left
            r[f"corrupted_without_{m}"] = _acc(net.variants[kind]([corrupt[x][keep] for x in mods], without_c[keep])[0], yt[keep])
        best = max(unimodal_corrupt.values())
        r["corrupted_margin_over_best_unimodal"] = r["corrupted"] - best
        r["targets"] = {
            "corrupted >= best unimodal + 0.10": r["corrupted"] >= best + 0.10,
            **{f"corrupted without {m} >= best remaining unimodal":
               r[f"corrupted_without_{m}"] >= max(v for x, v in unimodal_corrupt.items() if x != m) for m in mods}}
        results[f"digits-{kind}" if model.name.startswith("digits-") else f"{model.name.rsplit('-', 1)[0]}-{kind}"] = r
    loso = checkpoint.CHECKPOINTS / "audio-digits" / "loso.json"   # speaker-disjoint audio (models/audio.py loso)
    return {"task": "classify", "model": model.name,
            "unimodal": {"clean": unimodal_clean, "corrupted": unimodal_corrupt},
            "audio_leave_one_speaker_out": json.loads(loso.read_text()) if loso.is_file() else None,
            "n": {"image": n_img, "text": len(texts), "audio": len(waves), "triples": n},
            "targets": {"image-only >= 0.993": unimodal_clean["image"] >= 0.993},
            "variants": results, "protocol": digits.PROTOCOL}


def comparison_table(metrics: dict) -> str:
    """Markdown table of the fusion variants (clean, corrupted, each modality missing under corruption)."""
    u = metrics["unimodal"]["corrupted"]
    mods = list(u)
    head = ("| model | clean | corrupted | " + " | ".join(f"corrupted, no {m}" for m in mods)
            + " | clean, no " + " | clean, no ".join(mods) + " |")
    lines = [head, "|" + "---|" * (3 + 2 * len(mods))]
    for name, r in metrics["variants"].items():
        lines.append(f"| {name} | {r['clean']:.4f} | **{r['corrupted']:.4f}** | "
                     + " | ".join(f"{r[f'corrupted_without_{m}']:.4f}" for m in mods) + " | "
                     + " | ".join(f"{r[f'clean_without_{m}']:.4f}" for m in mods) + " |")
    c = metrics["unimodal"]["clean"]
    lines.append("| unimodal " + " / ".join(mods) + " | " + " / ".join(f"{c[m]:.3f}" for m in mods) + " | "
                 + " / ".join(f"{u[m]:.3f}" for m in mods) + " | " + " | ".join("" for _ in mods) + " | "
                 + " | ".join("" for _ in mods) + " |")
    return "\n".join(lines)
