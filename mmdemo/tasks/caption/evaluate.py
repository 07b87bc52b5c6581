"""Caption metrics: corpus BLEU-4, exact match and grounding on the caption test splits.

    python -m mmdemo.evaluate caption [--limit N] [--json]
"""
from __future__ import annotations

import math
import time
from collections import Counter

import numpy as np
import torch

SPLITS = {"test": 2000, "heldout": 1000, "easyvqa": 600, "mnist": 1000}   # examples per split
SEED = 1                                                                   # test scenes' seed (train: 0)


def bleu4(hypotheses: list[list[str]], references: list[list[str]]) -> float:
    """Corpus BLEU-4 (Papineni et al. 2002), one reference per caption, no smoothing: the geometric
    mean of the clipped 1..4-gram precisions summed over the corpus, times the brevity penalty
    exp(1 - ref_len / hyp_len) when the hypotheses are shorter in total."""
    matches, totals = [0] * 4, [0] * 4
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references):
        hyp_len, ref_len = hyp_len + len(hyp), ref_len + len(ref)
        for n in range(1, 5):
            h = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
            r = Counter(tuple(ref[i:i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(c, r[g]) for g, c in h.items())
            totals[n - 1] += max(len(hyp) - n + 1, 0)
    if min(matches) == 0 or hyp_len == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    brevity = min(0.0, 1 - ref_len / hyp_len)
    return math.exp(log_precision + brevity)


def caption_all(net, images: np.ndarray, batch: int = 256):
    """Greedy captions of many images: word lists and, per caption, its region maps (L, 144)."""
    from ...datasets.scenes import decode
    from .model import to_tensor
    words, maps = [], []
    for s in range(0, len(images), batch):
        tokens, m, _, _ = net.greedy(to_tensor(images[s:s + batch]))
        for t, mm in zip(tokens.tolist(), m):
            w = decode(t)
            words.append(w)
            maps.append(mm[:len(w)].numpy())
    return words, maps


def grounding(words: list[list[str]], maps, data: dict) -> tuple[float, int]:
    """Fraction of generated object words (colours and nouns) whose attention peak lies in the box of
    the object they describe: the k-th generated object phrase ("a size colour noun") is matched to
    the k-th object of the scene (both go left to right); words of phrases beyond the scene's objects
    count as misses. The peak is the argmax cell; "inside" = scenes.box_cells (cell centre in box)."""
    from ...datasets.scenes import COLORS, NOUNS, SINGLE_MNIST_COLOR, box_cells
    object_words = set(COLORS) | set(NOUNS) | {SINGLE_MNIST_COLOR}
    hits = total = 0
    for i, (w, m) in enumerate(zip(words, maps)):
        cells = box_cells(data["boxes"][i]).reshape(4, -1)
        n_objects = int((data["boxes"][i][:, 0] >= 0).sum())
        k = -1
        for t, word in enumerate(w):
            k += word == "a"
            if word in object_words:
                total += 1
                hits += bool(0 <= k < n_objects and cells[k, int(m[t].argmax())])
    return hits / max(total, 1), total


@torch.no_grad()
def evaluate(model, limit: int | None = None) -> dict:
    """BLEU-4, exact match and grounding on unseen scenes, held-out colour-noun pairs, easy-VQA test
    singles and MNIST test singles (first `limit` of each if given)."""
    from ...datasets.scenes import build, decode
    out = {"task": "caption", "model": model.name}
    t0 = time.perf_counter()
    for split, n in SPLITS.items():
        data = build(split, n, seed=SEED)
        k = n if limit is None else min(limit, n)
        data = {key: v[:k] for key, v in data.items()}
        words, maps = caption_all(model.net, data["images"])
        refs = [decode(t) for t in data["tokens"]]
        score, n_words = grounding(words, maps, data)
        out[split] = {"n": k, "bleu4": round(bleu4(words, refs), 4),
                      "exact_match": round(float(np.mean([w == r for w, r in zip(words, refs)])), 4),
                      "grounding": round(score, 4), "grounding_words": n_words}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
