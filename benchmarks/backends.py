"""Latency of each pretrained backend's real architecture on this CPU, next to the built-in VQA model.

The Hub is not needed: each backend is built at its real size with random weights (the same
compute per request; mmdemo/models/hf_random.py), saved to a temporary folder and loaded through
the backend code the app uses. One request = everything `predict` does (preprocessing, the model,
decoding, the attention maps). Random weights never say "end of sentence", so captions, answers
and transcripts run to the length limit: those latencies are upper bounds (the number of generated
tokens is reported).

    python benchmarks/backends.py [--repeats 5] [--threads 1] [--kinds clip,vilt]   -> artifacts/backends.{md,json} (--out docs/backends: the README figures)
"""
import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

import mmdemo
from mmdemo.backends import hf, hf_random
from mmdemo import paths
from mmdemo.paths import ROOT

IMAGE = str(ROOT / "examples" / "vqa" / "0.png")
SPEECH = (16000, (0.3 * np.sin(2 * np.pi * 440 * np.arange(5 * 16000) / 16000)).astype(np.float32))   # 5 s
CASES = {"caption": dict(image=IMAGE), "vqa": dict(image=IMAGE, text="what color is the shape?"),
         "zeroshot": dict(image=IMAGE, text="a cat, a dog, a triangle, a circle, a car"),
         "audio": dict(audio=SPEECH), "transcribe": dict(audio=SPEECH)}


def timed(model, inputs, repeats: int, warmup: int) -> dict:
    for _ in range(warmup):
        pred = model.predict(**inputs)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        pred = model.predict(**inputs)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[math.ceil(0.95 * len(times)) - 1], 1),
            "repeats": repeats, "pred": pred}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(hf.KINDS))
    ap.add_argument("--out", type=Path, default=paths.artifacts("backends"), help="default artifacts/backends; docs/backends updates the README figures")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    builtin_model = mmdemo.load("vqa")

    def builtin_p50() -> float:
        """The built-in VQA model, measured again next to each backend: the load on this shared
        machine drifts, so each ratio compares two measurements taken under the same load."""
        r = timed(builtin_model, CASES["vqa"], repeats=50, warmup=5)
        return r["p50_ms"]

    rows = []
    for kind in args.kinds.split(","):
        base = builtin_p50()
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            folder = hf_random.build(kind, Path(tmp) / kind, full=True)
            model = hf.KINDS[kind](str(folder), kind)
            load_s = time.perf_counter() - t
            task = model.task
            r = timed(model, CASES[task], repeats=args.repeats, warmup=1)
            pred = r.pop("pred")
            generated = pred.extras.get("generated_tokens")     # captions, answers, transcripts
            (_, name), (_, source) = next((k, v) for k, v in hf.DEFAULT_BACKENDS.items() if v[0] == kind)
            base = (base + builtin_p50()) / 2    # built-in VQA just before and just after
            rows.append({"task": task, "backend": name, "architecture": source, **r,
                         "builtin_vqa_p50_ms": round(base, 1), "ratio": round(r["p50_ms"] / base, 1),
                         "params_m": round(sum(p.numel() for p in model.model.parameters()) / 1e6, 1),
                         "generated_tokens": generated, "build_and_load_s": round(load_s, 1)})
            print(rows[-1], flush=True)
            del model
    load_after = os.getloadavg()
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"{args.threads} torch thread(s); load average (1/5/15 min) before {load_before[0]:.2f}/"
               f"{load_before[1]:.2f}/{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}")
    lines = ["# Pretrained backends: latency on this CPU", "",
             "`python benchmarks/backends.py` (random weights at each real architecture's size: same compute; "
             "batch 1; one request = the whole `predict`, explanations included).", "",
             f"Machine: {machine}. The machine is shared with other jobs, so absolute times drift; each ratio "
             "divides by the built-in VQA model's p50 measured just before and just after that backend "
             "(mean of the two), under the same load.", "",
             "| task | backend | architecture | params (M) | p50 ms | p95 ms | built-in VQA p50 ms | × built-in VQA "
             "| generated tokens |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['task']} | {r['backend']} | {r['architecture']} | {r['params_m']} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['builtin_vqa_p50_ms']} | {r['ratio']} | {r['generated_tokens'] or ''} |")
    lines += ["", "Generated tokens: random weights never end a sentence, so generation runs to the limit "
              f"({hf.MAX_NEW_TOKENS} new tokens for captions and transcripts, 10 for BLIP answers); real "
              "captions and short answers are shorter, so those rows are upper bounds. Audio: a 5 s clip "
              "(AST pads to 10.24 s, Whisper to 30 s)."]
    args.out.parent.mkdir(exist_ok=True)
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "results": rows}, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
