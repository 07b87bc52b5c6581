"""Measure a VQA model on easy-VQA's official test split and on held-out paraphrases.

    python -m mmdemo.evaluate vqa [--model NAME] [--limit N] [--json] [--save-dataset-view]

--save-dataset-view writes the dataset view (metrics, reliance per question type) to dataset_view.json
next to the checkpoint, where the VQA panel reads it.
"""
from __future__ import annotations

import time

import numpy as np


def accuracy_by(pred: list[str], gold: list[str], groups: list[str]) -> dict[str, float]:
    out = {}
    for g in sorted(set(groups)):
        sel = [p == t for p, t, k in zip(pred, gold, groups) if k == g]
        out[g] = float(np.mean(sel))
    return out


def answer_all(model, images, image_rows, questions, batch: int = 1024):
    """The model's answers to many questions, its image attention for each and the exact Shapley values of
    image and question evidence (tasks/vqa/explain.py), batched (each batch runs every image it needs once)."""
    from .explain import batch_shapley
    preds, attention, phi = [], [], []
    for s in range(0, len(questions), batch):
        rows, index = np.unique(image_rows[s:s + batch], return_inverse=True)
        out = model.run(images[rows], questions[s:s + batch], index)
        label = out["probs"].argmax(-1)
        preds += [model.answers[i] for i in label.tolist()]
        attention.append(out["image_attention"].numpy())
        phi.append(batch_shapley(model.net, out["evidence"], label, len(model.answers)))
    return preds, np.concatenate(attention), np.concatenate(phi)


def dataset_view(model, pred, gold, types, phi) -> dict:
    """scikit-learn's accuracy, precision, recall, F1 (macro, per answer) and confusion matrix; the mean
    Shapley share of image vs question evidence per question type, for correct and wrong answers."""
    from ...explain import classification_metrics, reliance_by_group, shares_of
    from .explain import PLAYERS
    index = {a: i for i, a in enumerate(model.answers)}
    correct = [p == g for p, g in zip(pred, gold)]
    return {"metrics": classification_metrics([index[g] for g in gold], [index[p] for p in pred], model.answers),
            "reliance_by_question_type": reliance_by_group(shares_of(phi), PLAYERS, types, correct)}


DATASET_VIEW_KEYS = ("metrics", "reliance_by_question_type", "paraphrases_reliance_by_question_type")


def add_arguments(ap) -> None:
    ap.add_argument("--save-dataset-view", action="store_true",
                    help="write the dataset view (metrics, reliance per question type) to dataset_view.json "
                         "next to the checkpoint (the panel plots it)")


def dataset_view_file(model):
    from pathlib import Path
    folder = getattr(model, "folder", None)
    return Path(folder) / "dataset_view.json" if folder else None


def write_dataset_view(model, result: dict) -> None:
    """The dataset-view keys of evaluate()'s result, next to the checkpoint (what the panel shows)."""
    import json
    keep = {k: result[k] for k in ("model", "split", "n", "accuracy", *DATASET_VIEW_KEYS)}
    keep["paraphrases_n"] = result["paraphrases"]["n"]
    keep["command"] = "python -m mmdemo.evaluate vqa --save-dataset-view"
    dataset_view_file(model).write_text(json.dumps(keep, indent=1) + "\n")


def evaluate(model, limit: int | None = None, save_dataset_view: bool = False) -> dict:
    """Official easy-VQA test split (first `limit` questions if given) + the held-out paraphrases."""
    result = evaluate_split(model, limit)
    if save_dataset_view:
        write_dataset_view(model, result)
    return result


def evaluate_split(model, limit: int | None = None) -> dict:
    from ...datasets.easyvqa import (
        TEST_PARAPHRASES,
        load_split,
        make_paraphrases,
        object_cells,
        question_type,
    )
    test = load_split("test")
    n = len(test.questions) if limit is None else min(limit, len(test.questions))
    t0 = time.perf_counter()
    pred, attention, phi = answer_all(model, test.images, test.image_index[:n], test.questions[:n])
    seconds = time.perf_counter() - t0
    on_object = object_cells(test.images)[test.image_index[:n]]
    peak = attention.reshape(n, -1).argmax(1)
    gold, types = test.answers[:n], test.types[:n]
    pq, pa, prow = make_paraphrases(TEST_PARAPHRASES, test.attributes, n_per_template=10, seed=0)
    ppred, _, pphi = answer_all(model, test.images, prow, pq)
    return {
        "task": "vqa", "model": model.name, "split": "easy-vqa test" + ("" if limit is None else f" (first {n})"),
        "n": n, "accuracy": float(np.mean([p == g for p, g in zip(pred, gold)])),
        "accuracy_per_type": accuracy_by(pred, gold, types),
        "n_per_type": {t: types.count(t) for t in sorted(set(types))},
        "grounding": {"attention_mass_on_object": float((attention * on_object).sum((1, 2)).mean()),
                      "peak_on_object": float(on_object.reshape(n, -1)[np.arange(n), peak].mean())},
        "paraphrases": {"templates": len(TEST_PARAPHRASES), "n": len(pq),
                        "accuracy": float(np.mean([p == g for p, g in zip(ppred, pa)])),
                        "accuracy_per_type": accuracy_by(ppred, pa, [question_type(a) for a in pa])},
        "seconds": round(seconds, 2),
        **dataset_view(model, pred, gold, types, phi),
        "paraphrases_reliance_by_question_type": dataset_view(
            model, ppred, pa, [question_type(a) for a in pa], pphi)["reliance_by_question_type"],
    }
