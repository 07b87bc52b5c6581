"""Latency of one prediction per built-in model on this machine (batch 1, after warm-up).

    python benchmarks/latency.py [--repeats 50] [--json out.json]
"""
import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import mmdemo
from mmdemo.paths import ROOT

mmdemo.use_native_conv_kernels()   # measure the convolutions the server runs

CASES = {"vqa": dict(image=str(ROOT / "examples" / "vqa" / "0.png"), text="what color is the shape?")}
CASES["classify"] = dict(image=str(ROOT / "examples" / "classify" / "drawn_7.png"), text="seven",   # all three inputs
                         audio=str(ROOT.parent / "shared" / "data" / "fsdd" / "recordings" / "7_jackson_0.wav"))
CASES["caption"] = dict(image=str(ROOT / "examples" / "caption" / "scene-four-objects.png"))   # 22 words


def measure(task: str, repeats: int) -> dict:
    t0 = time.perf_counter()
    model = mmdemo.load(task)
    load_s = time.perf_counter() - t0
    for _ in range(5):
        model.predict(**CASES[task])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(**CASES[task])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"task": task, "model": model.name, "load_s": round(load_s, 2),
            "p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    rows = [measure(task, args.repeats) for task in CASES]
    print(f"machine: {machine}")
    print("| task | model | p50 ms | p95 ms | load s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['model']} | {r['p50_ms']} | {r['p95_ms']} | {r['load_s']} |")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
