"""Measure a VQA model: easyvqa-gated on easy-VQA's official test split and on held-out paraphrases;
scenes-multihop on questions over unseen composed scenes (scene_evaluate.py); --both: the two.

    python -m mmdemo.evaluate vqa [--model NAME] [--limit N] [--json] [--save-dataset-view]
    python -m mmdemo.evaluate vqa --both

--save-dataset-view writes the model's dataset view (metrics, reliance per question type; for scenes-multihop
per question family) to dataset_view.json next to the checkpoint, where the VQA panel reads it.
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
BUILT_IN = ["easyvqa-gated", "scenes-multihop"]


def add_arguments(ap) -> None:
    ap.add_argument("--both", action="store_true", help="both built-in models: " + ", ".join(BUILT_IN))
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
    keep = {k: result[k] for k in ("model", "split", "n", "accuracy", *DATASET_VIEW_KEYS) if k in result}
    if "paraphrases" in result:
        keep["paraphrases_n"] = result["paraphrases"]["n"]
    keep["command"] = f"python -m mmdemo.evaluate vqa --model {model.name} --save-dataset-view"
    dataset_view_file(model).write_text(json.dumps(keep, indent=1) + "\n")


def evaluate(model, limit: int | None = None, both: bool = False, save_dataset_view: bool = False) -> dict:
    """easyvqa-gated: the official easy-VQA test split (first `limit` questions if given) + the held-out
    paraphrases; scenes-multihop: scene_evaluate.evaluate; both: {model name: its metrics}."""
    if both:
        import mmdemo
        return {name: evaluate(mmdemo.load("vqa", name), limit, save_dataset_view=save_dataset_view) for name in BUILT_IN}
    from .scene_model import SceneVQAModel
    if isinstance(model, SceneVQAModel):
        from .scene_evaluate import evaluate as evaluate_scenes
        result = evaluate_scenes(model, limit)
    else:
        result = evaluate_split(model, limit)
    if save_dataset_view:
        write_dataset_view(model, result)
    return result


def report(metrics: dict) -> str:
    from .scene_evaluate import report as scene_report
    parts = metrics.values() if "task" not in metrics else [metrics]
    return "\n".join(scene_report(m) if "accuracy_per_family" in m else
                     f"easy-VQA ({m['model']}): official test {m['accuracy']:.4f} (n={m['n']:,}), held-out "
                     f"paraphrases {m['paraphrases']['accuracy']:.4f} (n={m['paraphrases']['n']}), new kinds' held-out "
                     f"paraphrases {m['paraphrases_new']['accuracy']:.4f} (n={m['paraphrases_new']['n']})" for m in parts)


def paraphrase_metrics(pred, gold, templates, n_per_template: int = 10) -> dict:
    from ...datasets.easyvqa import paraphrase_kinds, question_type
    kinds = paraphrase_kinds(templates, n_per_template)
    return {"templates": len(templates), "n": len(gold),
            "accuracy": float(np.mean([p == g for p, g in zip(pred, gold)])),
            "accuracy_per_type": accuracy_by(pred, gold, [question_type(a) for a in gold]),
            "accuracy_per_kind": accuracy_by(pred, gold, kinds)}


def evaluate_split(model, limit: int | None = None) -> dict:
    """"paraphrases": the 56 original held-out templates (the figure checkpoints/vqa was published with);
    "paraphrases_new": the held-out conjunction / negated-conjunction / property templates after them;
    "paraphrases_all": both. The first 560 questions are the same in either case (templates drawn in order)."""
    from ...datasets.easyvqa import (
        ORIGINAL_TEST_TEMPLATES,
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
    cut = 10 * ORIGINAL_TEST_TEMPLATES
    original, new = TEST_PARAPHRASES[:ORIGINAL_TEST_TEMPLATES], TEST_PARAPHRASES[ORIGINAL_TEST_TEMPLATES:]
    return {
        "task": "vqa", "model": model.name, "split": "easy-vqa test" + ("" if limit is None else f" (first {n})"),
        "n": n, "accuracy": float(np.mean([p == g for p, g in zip(pred, gold)])),
        "accuracy_per_type": accuracy_by(pred, gold, types),
        "n_per_type": {t: types.count(t) for t in sorted(set(types))},
        "grounding": {"attention_mass_on_object": float((attention * on_object).sum((1, 2)).mean()),
                      "peak_on_object": float(on_object.reshape(n, -1)[np.arange(n), peak].mean())},
        "paraphrases": paraphrase_metrics(ppred[:cut], pa[:cut], original),
        "paraphrases_new": paraphrase_metrics(ppred[cut:], pa[cut:], new),
        "paraphrases_all": paraphrase_metrics(ppred, pa, TEST_PARAPHRASES),
        "seconds": round(seconds, 2),
        **dataset_view(model, pred, gold, types, phi),
        "paraphrases_reliance_by_question_type": dataset_view(
            model, ppred[:cut], pa[:cut], [question_type(a) for a in pa[:cut]], pphi[:cut])["reliance_by_question_type"],
    }
