"""Measure the tri-modal digit classifier: unimodal accuracy on each official test split, and the
fusion family on a fixed, seeded corruption protocol (data.py PROTOCOL); and the audio branch on
speakers it never heard (leave one FSDD speaker out).

    python -m mmdemo.evaluate classify [--model digits-gated | --all] [--limit N] [--json]
    python -m mmdemo.evaluate classify --loso [--epochs 12] [--views 6]   # -> checkpoints/audio-digits/loso.json
    python -m mmdemo.evaluate classify --classifier FOLDER --manifest test.jsonl  # your own data (byod.py)
    accelerate launch --multi_gpu --num_processes 2 -m mmdemo.evaluate classify --classifier FOLDER --manifest ...

Test triples: MNIST test image i (i < N, default 2,000) with label y, a phrasing of y (seed 2,
never seen in training) and an FSDD official-test clip of y (seed 3). Corrupted copies: seed 1234.
"""
from __future__ import annotations

import json
import time

import numpy as np
import torch

from ... import paths
from ...errors import MMDemoError
from ...nn.audio import clip_vectors, pad_vectors
from . import data as digits
from .model import VARIANTS, encode_all

N_TRIPLES = 2000


def _acc(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).double().mean())   # float64: 9,930 / 10,000 is 0.993, not 0.99299997


def add_arguments(ap) -> None:
    ap.add_argument("--all", dest="all_variants", action="store_true",
                    help="every fusion variant, plus the comparison table")
    ap.add_argument("--loso", action="store_true",
                    help="leave one FSDD speaker out: train the audio branch on four speakers, test on the fifth")
    ap.add_argument("--robustness", action="store_true",
                    help="accuracy vs corruption level per modality and variant, weight shift under the protocol "
                         "(-> robustness.json next to the checkpoint)")
    ap.add_argument("--epochs", type=int, default=12, help="--loso: epochs of each fold")
    ap.add_argument("--views", type=int, default=6, help="--loso: augmented views of every clip")
    ap.add_argument("--manifest", default=None,
                    help="measure on a JSON Lines manifest (your own labelled data; split between processes "
                         "under accelerate launch)")
    ap.add_argument("--classifier", default=None,
                    help="a classifier checkpoint folder (python -m mmdemo.train classify --manifest ... --out FOLDER)")


def evaluate(model, limit: int | None = None, all_variants: bool = False, loso: bool = False, epochs: int = 12,
             views: int = 6, robustness: bool = False, manifest=None, classifier=None) -> dict:
    if classifier:
        import mmdemo
        from .model import register_folder
        model = mmdemo.load("classify", register_folder(classifier)[0])
    if manifest:
        from .byod import evaluate_manifest
        return evaluate_manifest(model, manifest, limit)
    if loso:
        return leave_one_speaker_out(epochs, views)
    if robustness:
        from .robustness import robustness as run
        return run(model, limit)
    return evaluate_digits(model, limit, all_variants)


@torch.no_grad()
def evaluate_digits(model, limit: int | None = None, all_variants: bool = False) -> dict:
    from ...datasets import spoken_digits as speech
    from ...datasets.mnist import load_mnist
    if model.classes != [str(d) for d in range(10)] or list(model.modalities) != ["image", "text", "audio"]:
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

    n = min(N_TRIPLES if limit is None else limit, n_img)
    y = y_img[:n]
    clean, corrupt, text_given = triples(net, img[:n], f_img[:n], waves, f_aud, y_aud, y)
    yt = torch.as_tensor(y)
    mods = net.modalities
    unimodal_corrupt = {m: _acc(net.heads[m](corrupt[m]), yt) for m in mods}   # empty text: the text model's guess
    corrupt_present = torch.ones(n, len(mods), dtype=torch.bool)
    corrupt_present[:, mods.index("text")] = text_given
    results = {}
    for kind in (VARIANTS if all_variants else [model.variant]):
        name = f"digits-{kind}" if model.name.startswith("digits-") else f"{model.name.rsplit('-', 1)[0]}-{kind}"
        results[name] = variant_scores(net, kind, clean, corrupt, corrupt_present, yt, unimodal_corrupt)
    loso = paths.checkpoints("audio-digits", "loso.json")   # speaker-disjoint audio (--loso)
    dataset = dataset_view(net, model, clean, corrupt, corrupt_present, y)
    return {"task": "classify", "model": model.name, **dataset,
            "unimodal": {"clean": unimodal_clean, "corrupted": unimodal_corrupt},
            "audio_leave_one_speaker_out": json.loads(loso.read_text()) if loso.is_file() else None,
            "n": {"image": n_img, "text": len(texts), "audio": len(waves), "triples": n},
            "targets": {"image-only >= 0.993": unimodal_clean["image"] >= 0.993},
            "variants": results, "protocol": digits.PROTOCOL}


def triples(net, img, f_img, waves, f_aud, y_aud, y) -> tuple[dict, dict, torch.Tensor]:
    """The tri-modal test triples (fixed seeds): MNIST test image i + an unseen phrasing of its label (seed 2)
    + an FSDD test clip of its label (seed 3); and corrupted copies (seed 1234). -> clean and corrupted
    features per modality, and which corrupted texts are not empty."""
    rng_t, rng_a, rng = (np.random.default_rng(s) for s in (2, 3, 1234))
    t_clean = [digits.phrase(int(c), rng_t) for c in y]
    by_class = [np.flatnonzero(y_aud == c) for c in range(10)]
    a_rows = np.array([rng_a.choice(by_class[c]) for c in y])
    bad_img, bad_txt, bad_aud = [], [], []
    for i in range(len(y)):
        bad_img.append(digits.corrupt_image(img[i, 0].copy(), rng)[None])
        bad_aud.append(digits.corrupt_audio(waves[a_rows[i]], rng))
        bad_txt.append(digits.corrupt_text(t_clean[i], rng))
    clean = {"image": f_img, "text": encode_all(net, "text", t_clean)[0], "audio": f_aud[a_rows]}
    corrupt = {"image": encode_all(net, "image", np.stack(bad_img))[0],
               "text": encode_all(net, "text", [t or " " for t in bad_txt])[0],
               "audio": encode_all(net, "audio", bad_aud, batch=64)[0]}
    return clean, corrupt, torch.tensor([bool(t) for t in bad_txt])


def dataset_view(net, model, clean: dict, corrupt: dict, corrupt_present, y) -> dict:
    """The selected variant on the clean and the corrupted triples: scikit-learn's accuracy, precision, recall,
    F1 (macro, per class), confusion matrix; mean Shapley share of each modality per class, correct vs wrong."""
    from ...explain import classification_metrics, reliance_by_group, shares_of
    from .explain import batch_reliance
    mods, metrics, reliance = net.modalities, {}, {}
    for name, feats, present in (("clean", clean, torch.ones_like(corrupt_present)), ("corrupted", corrupt, corrupt_present)):
        label, _, phi = batch_reliance(net, model.variant, [feats[m] for m in mods], present)
        metrics[name] = classification_metrics(y, label, model.classes)
        reliance[name] = reliance_by_group(shares_of(phi), mods, [model.classes[c] for c in y], label == y)
    return {"metrics": metrics, "reliance_by_class": reliance}


def variant_scores(net, kind: str, clean: dict, corrupt: dict, corrupt_present, yt, unimodal_corrupt: dict) -> dict:
    """One fusion variant on the triples: clean, corrupted, and each with one modality removed."""
    mods = net.modalities

    def fused(feats, present):
        return _acc(net.variants[kind]([feats[m] for m in mods], present)[0], yt)

    everything = torch.ones_like(corrupt_present)
    r = {"clean": fused(clean, everything), "corrupted": fused(corrupt, corrupt_present)}
    for k, m in enumerate(mods):
        without = everything.clone(); without[:, k] = False
        r[f"clean_without_{m}"] = fused(clean, without)
        without_c = corrupt_present.clone(); without_c[:, k] = False
        keep = without_c.any(1)   # a sample whose only remaining input was an empty text has nothing left
        r[f"corrupted_without_{m}"] = _acc(net.variants[kind]([corrupt[x][keep] for x in mods], without_c[keep])[0],
                                           yt[keep])
    best = max(unimodal_corrupt.values())
    r["corrupted_margin_over_best_unimodal"] = r["corrupted"] - best
    r["targets"] = {
        "corrupted >= best unimodal + 0.10": r["corrupted"] >= best + 0.10,
        **{f"corrupted without {m} >= best remaining unimodal":
           r[f"corrupted_without_{m}"] >= max(v for x, v in unimodal_corrupt.items() if x != m) for m in mods}}
    return r


def report(metrics: dict) -> str:
    """Markdown table of the fusion variants (clean, corrupted, each modality missing under corruption)."""
    if "variants" not in metrics:
        return ""
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


# ---------------------------------------------------------------- the audio branch on speakers it never heard

@torch.no_grad()
def audio_probs(net, waves) -> np.ndarray:
    """An AudioDigitNet's class probabilities (N, C) of clean clips."""
    net.eval()
    if not len(waves):
        return np.zeros((0, net.head[-1].out_features), np.float32)
    return torch.cat([net.classify_vectors(*pad_vectors(clip_vectors(net.encoder, waves[s:s + 64]))).softmax(-1)
                      for s in range(0, len(waves), 64)]).numpy()


def audio_accuracy(net, waves, labels) -> float:
    return float((audio_probs(net, waves).argmax(1) == np.asarray(labels)).mean())


def held_out_scores(net, speaker: str) -> dict:
    """Every FSDD clip of one speaker: accuracy on the clean clips, on a seeded augment() view
    (noise, silence, level, ...), and the confusion matrix (rows = truth)."""
    from ...datasets.fsdd import fsdd_clips
    from ...datasets.spoken_digits import augment
    waves, labels, _ = fsdd_clips([speaker])
    pred = audio_probs(net, waves).argmax(1)
    rng = np.random.default_rng(1)
    return {"accuracy": float((pred == labels).mean()),
            "augmented": audio_accuracy(net, [augment(w, rng) for w in waves], labels),
            "confusion": np.bincount(labels * 10 + pred, minlength=100).reshape(10, 10).tolist()}


def leave_one_speaker_out(epochs: int, views: int, seed: int = 0, speakers=None, synthetic_every: int = 1) -> dict:
    """Train the audio branch on four FSDD speakers (all 50 takes each) + synthetic voices, test on every
    clip of the fifth; rotate. The frozen CNN's vectors of every clip's augmented views are computed once
    and shared by the five folds (each fold reads only its own rows). Writes checkpoints/audio-digits/loso.json."""
    from ...datasets.fsdd import SPEAKERS, fsdd_clips
    from ...datasets.spoken_digits import synthetic_clips
    from ...nn.audio import AudioEncoder
    from .train import augmented_vectors, train_audio_net
    t0 = time.perf_counter()
    waves, labels, who = fsdd_clips()
    if synthetic_every:
        s_waves, s_labels, _ = synthetic_clips(synthetic_every)
        waves, labels = waves + list(s_waves), np.concatenate([labels, s_labels])
        who = list(who) + ["synthetic"] * len(s_waves)
    who = np.array(who)
    cache = augmented_vectors(AudioEncoder(), waves, views, seed)
    scores = {}
    for held_out in speakers or SPEAKERS:
        rows = np.flatnonzero(who != held_out)
        print(f"== held out {held_out}: train {len(rows)} clips", flush=True)
        net = train_audio_net(None, labels[rows], epochs=epochs, seed=seed, verbose=False,
                              cached=[[view[i] for i in rows] for view in cache])
        scores[held_out] = held_out_scores(net, held_out)
    summary = {}
    for key in ("accuracy", "augmented"):
        per = {s: r[key] for s, r in scores.items()}
        worst = min(per, key=per.get)
        summary[key] = {"mean": float(np.mean(list(per.values()))),
                        "worst": {"speaker": worst, "accuracy": per[worst]}, "per_speaker": per}
    result = {"task": "audio-digits-loso", "epochs": epochs, "views": views, "seed": seed,
              "synthetic_every": synthetic_every, "mean": summary["accuracy"]["mean"],
              "worst": summary["accuracy"]["worst"], **summary,
              "confusion": {s: r["confusion"] for s, r in scores.items()}, "minutes": (time.perf_counter() - t0) / 60,
              "command": f"python -m mmdemo.evaluate classify --loso --epochs {epochs} --views {views}"}
    out = paths.checkpoints("audio-digits", "loso.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result
