"""Explanations: latency of all views of one request (batch 1, after warm-up; the plain prediction measured in
the same run for the ratio), and the faithfulness rate of the image maps (deletion area below random).

    python benchmarks/explain.py [--repeats 20] [--items 100]      # -> artifacts/explain.json

Faithfulness items: classify = MNIST test images 0..N-1, alone (with text and audio also given the fused
probability hardly moves when image cells are deleted: the rate is reported for that case too, on N/2
triples); VQA = easy-VQA test questions 0..N-1; VQA scenes = one generated question about each of unseen test
scenes 0..N-1 that the question generator finds one for (91 of 100; every hop's region map and word weights).
One seed for the random orders.
"""
import argparse
import json
import platform
import subprocess

import numpy as np

import mmdemo
from mmdemo import paths
from mmdemo.explain import METHODS
from common import timed

mmdemo.use_native_conv_kernels()   # the convolutions the server runs

CASES = {   # name: (task, model (None = the task's default), one request)
    "classify": ("classify", None, dict(image=str(paths.examples("classify", "drawn_7.png")), text="seven",
                                        audio=str(paths.examples("classify", "seven_jackson.wav")))),
    "vqa": ("vqa", None, dict(image=str(paths.examples("vqa", "0.png")), text="what color is the shape?")),
    "vqa scenes": ("vqa", "scenes-multihop", dict(image=str(paths.examples("vqa", "scene-two-hop.png")),
                                                  text="what colour is the digit left of the triangle?"))}
TARGET_MS = {"classify": 150, "vqa": 300, "vqa scenes": 300}   # issue 14's VQA target, applied to scenes too


def p50(fn, repeats: int) -> tuple[float, float]:
    t = timed(fn, repeats, warmup=0)
    return round(t["p50_ms"], 2), round(t["p95_ms"], 2)


def latency(case: str, repeats: int) -> dict:
    task, name, request = CASES[case]
    model = mmdemo.load(task, name)
    for _ in range(3):
        model.explain(**request)
    predict = p50(lambda: model.predict(**request), repeats)
    explain = p50(lambda: model.explain(**request, methods=METHODS), repeats)
    return {"model": model.name, "predict_p50_ms": predict[0], "explain_p50_ms": explain[0],
            "explain_p95_ms": explain[1], "ratio_explain_to_predict": round(explain[0] / predict[0], 2),
            "target_ms": TARGET_MS[case]}


def rate(results) -> dict:
    dels = [r["deletion"]["auc_map"] < r["deletion"]["auc_random"] for r in results]
    ties = [abs(r["deletion"]["auc_map"] - r["deletion"]["auc_random"]) < 1e-6 for r in results]
    ins = [r["insertion"]["auc_map"] > r["insertion"]["auc_random"] for r in results]
    return {"n": len(results), "deletion_below_random": float(np.mean(dels)), "ties": float(np.mean(ties)),
            "insertion_above_random": float(np.mean(ins)),
            "mean_auc_deletion_map": float(np.mean([r["deletion"]["auc_map"] for r in results])),
            "mean_auc_deletion_random": float(np.mean([r["deletion"]["auc_random"] for r in results]))}


def faithfulness(items: int) -> dict:
    from mmdemo.datasets.easyvqa import load_split
    from mmdemo.datasets.mnist import load_mnist
    from mmdemo.datasets.scenes import build
    from mmdemo.tasks.classify.data import phrase
    from mmdemo.tasks.vqa.scene_questions import questions_for
    classify, vqa = mmdemo.load("classify"), mmdemo.load("vqa")
    images, y = load_mnist("test")
    alone = [classify.explain(image=images[i], methods=("faithfulness",)).faithfulness for i in range(items)]
    rng = np.random.default_rng(2)
    with_text = [classify.explain(image=images[i], text=phrase(int(y[i]), rng), methods=("faithfulness",))
                 .faithfulness for i in range(items // 2)]
    test = load_split("test")
    maps = [vqa.explain(image=test.images[test.image_index[i]], text=test.questions[i], methods=("faithfulness",))
            .faithfulness for i in range(items)]
    scenes = mmdemo.load("vqa", "scenes-multihop")
    data = build("test", 2000, 1)
    asked = questions_for({k: v[:items] for k, v in data.items()}, 1, seed=11)
    hops = [scenes.explain(image=data["images"][row], text=q.text, methods=("faithfulness",)).faithfulness
            for row, q in asked]
    families = sorted({q.family for _, q in asked})
    by_family = {f: {name: rate([h[name] for h, (_, q) in zip(hops, asked) if q.family == f])["deletion_below_random"]
                     for name in scenes.explained_maps if name.startswith("image")} for f in families}
    return {**{f"vqa scenes {name}": rate([h[name] for h in hops]) for name in scenes.explained_maps},
            "vqa scenes image maps, deletion below random by question family": by_family,
            "vqa scenes questions per family": {f: sum(q.family == f for _, q in asked) for f in families},
            "classify image map (image alone)": rate([f["image"] for f in alone]),
            "classify LayerCAM map (image alone)": rate([f["image (LayerCAM)"] for f in alone]),
            "classify image map (image + text)": rate([f["image"] for f in with_text]),
            "classify LayerCAM map (image + text)": rate([f["image (LayerCAM)"] for f in with_text]),
            "vqa image map": rate([m["image"] for m in maps]), "vqa word weights": rate([m["words"] for m in maps]),
            "target": "deletion area below random for >= 90% of items (image maps)"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--items", type=int, default=100)
    args = ap.parse_args()
    cpu = subprocess.run("lscpu | grep 'Model name'", shell=True, capture_output=True, text=True).stdout.split(":")[-1]
    out = {"cpu": cpu.strip() or platform.processor(), "load_average": list(map(float, open("/proc/loadavg").read().split()[:3])),
           "latency": {t: latency(t, args.repeats) for t in CASES}, "faithfulness": faithfulness(args.items),
           "command": f"python benchmarks/explain.py --repeats {args.repeats} --items {args.items}"}
    out["load_average_after"] = list(map(float, open("/proc/loadavg").read().split()[:3]))
    paths.artifacts().mkdir(parents=True, exist_ok=True)
    paths.artifacts("explain.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
