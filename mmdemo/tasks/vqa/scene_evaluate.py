"""Measure the scene VQA model: unseen test scenes (test pieces) per family, held-out templates,
held-out colour-noun pairs, grounding of the last hop, the gate on image vs prior questions, latency.

    python -m mmdemo.evaluate vqa --model scenes-multihop [--limit N] [--json] [--save-dataset-view]
"""
from __future__ import annotations

import time

import numpy as np
import torch

N_TEST, N_HELDOUT = 2000, 1000       # scenes.build("test"/"heldout", n, seed=1): cached, also the captioner's


def answer_all(model, data: dict, questions, batch_images: int = 64) -> dict:
    """Answers, last-hop maps, gate weights and the exact Shapley values of the two evidence branches
    (tasks/vqa/explain.py) for [(scene row, Question)], batched by scene."""
    from .explain import batch_shapley
    from .scene_train import question_table
    d = question_table(data, questions, len(model.net.hops))
    pred, peaks, image_w, phi = [], [], [], []
    rows = d["rows"]
    for s in range(0, len(rows), batch_images * 4):
        sel = np.arange(s, min(s + batch_images * 4, len(rows)))
        scenes, local = np.unique(rows[sel], return_inverse=True)
        q = d["qid"][sel]
        out = model.run(data["images"][scenes], None, local, encoded=(d["states"][q], d["mask"][q], None))
        pred.append(out["probs"].argmax(-1))
        peaks.append(out["region_maps"][:, -1].argmax(-1))
        image_w.append(out["fusion_weights"][:, 0])
        phi.append(batch_shapley(model.net, out["evidence"], pred[-1], len(model.answers)))
    return {"pred": torch.cat(pred).numpy(), "y": d["y"].numpy(), "peak": torch.cat(peaks).numpy(),
            "image_weight": torch.cat(image_w).numpy(), "shapley": np.concatenate(phi), "questions": d["questions"],
            "rows": rows}


def accuracy_by(correct: np.ndarray, groups: list[str]) -> dict[str, float]:
    groups = np.asarray(groups)
    return {g: round(float(correct[groups == g].mean()), 4) for g in dict.fromkeys(groups.tolist())}


def grounding(data: dict, r: dict) -> tuple[float, int]:
    """Questions about one object: is the last hop's attention peak inside that object's box?"""
    from ...datasets.scenes import box_cells
    about = np.array([q.about for q in r["questions"]])
    sel = np.flatnonzero(about >= 0)
    cells = box_cells(data["boxes"][r["rows"][sel], about[sel]]).reshape(len(sel), -1)
    hits = cells[np.arange(len(sel)), r["peak"][sel]]
    return float(hits.mean()) if len(sel) else float("nan"), len(sel)


def heldout_object(data: dict, i: int) -> int:
    from ...datasets.scenes import HELDOUT
    from .scene_questions import scene_objects
    return next(k for k, o in enumerate(scene_objects(data, i)) if (o["color"], o["noun"]) in HELDOUT)


def latency_ms(model, data: dict, n: int = 30) -> float:
    """Median wall time of predict() (one image, one new question, MiniLM included) on this CPU."""
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        model.predict(image=data["images"][i], text=f"what colour is the digit left of shape number {i}?")
        times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times)), 1)


def evaluate(model, limit: int | None = None) -> dict:
    from ...datasets.scenes import build
    from .evaluate import dataset_view
    from .scene_questions import questions_for
    test, heldout = build("test", N_TEST, 1), build("heldout", N_HELDOUT, 1)
    n_test = min(limit or N_TEST, N_TEST)
    test = {k: v[:n_test] for k, v in test.items()}
    t0 = time.perf_counter()
    r = answer_all(model, test, questions_for(test, 4, seed=11))
    seconds = time.perf_counter() - t0
    correct = r["pred"] == r["y"]
    families = [q.family for q in r["questions"]]
    rt = answer_all(model, test, questions_for({k: v[:n_test // 2] for k, v in test.items()}, 3, seed=12,
                                               heldout_templates=True))
    held = questions_for(heldout, 6, seed=13, heldout_pairs=True)
    held = [(i, q) for i, q in held if any(heldout_object(heldout, i) in h for h in q.hops)]
    rh = answer_all(model, heldout, held[:3 * N_HELDOUT])
    image_needed = np.array([f != "prior" for f in families])
    ground, n_ground = grounding(test, r)
    answer = np.asarray(model.answers)
    view = dataset_view(model, answer[r["pred"]].tolist(), answer[r["y"]].tolist(), families, r["shapley"])
    return {
        "task": "vqa", "model": model.name, "split": f"{n_test} unseen test scenes (test pieces)",
        "n": len(correct), "accuracy": round(float(correct.mean()), 4),
        "accuracy_per_family": accuracy_by(correct, families),
        "n_per_family": {f: families.count(f) for f in dict.fromkeys(families)},
        "heldout_templates": {"n": len(rt["y"]), "accuracy": round(float((rt["pred"] == rt["y"]).mean()), 4),
                              "accuracy_per_family": accuracy_by(rt["pred"] == rt["y"],
                                                                 [q.family for q in rt["questions"]])},
        "heldout_pairs": {"n": len(rh["y"]), "accuracy": round(float((rh["pred"] == rh["y"]).mean()), 4),
                          "accuracy_per_family": accuracy_by(rh["pred"] == rh["y"], [q.family for q in rh["questions"]])},
        "grounding": {"last_hop_peak_in_box": round(ground, 4), "n": n_ground},
        "gate": {"image_weight_needs_image": round(float(r["image_weight"][image_needed].mean()), 4),
                 "image_weight_prior": round(float(r["image_weight"][~image_needed].mean()), 4)},
        "seconds": round(seconds, 2), "latency_ms_per_question": latency_ms(model, test), **view,
    }


def report(m: dict) -> str:
    lines = [f"scene VQA ({m['model']}): {m['accuracy']:.4f} on {m['n']:,} questions about unseen test scenes"]
    lines += [f"  {f:12s} {a:.4f}  (n={m['n_per_family'][f]})" for f, a in m["accuracy_per_family"].items()]
    lines += [(f"held-out templates {m['heldout_templates']['accuracy']:.4f} (n={m['heldout_templates']['n']}), "
              f"held-out colour-noun pairs {m['heldout_pairs']['accuracy']:.4f} (n={m['heldout_pairs']['n']})"),
              f"grounding (last hop's peak in the object's box) {m['grounding']['last_hop_peak_in_box']:.4f}",
              (f"gate image weight: questions that need the image {m['gate']['image_weight_needs_image']:.3f}, "
              f"prior questions {m['gate']['image_weight_prior']:.3f}"),
              f"latency {m['latency_ms_per_question']} ms per question"]
    return "\n".join(lines)
