"""Memory of the classifier under inputs of every length (what a microphone and a text box send):
RSS of one process after N predictions with random-length audio (0.2-3 s) and text (1-200 characters).

    python benchmarks/memory.py [--requests 1500] [--mkldnn]

By default it runs with the server's settings (mmdemo.use_native_conv_kernels: PyTorch's native CPU
convolutions); --mkldnn keeps oneDNN, which keeps a kernel and buffers per input shape.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import torch

import mmdemo


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--mkldnn", action="store_true", help="keep oneDNN convolutions (PyTorch's default)")
    args = ap.parse_args()
    if not args.mkldnn:
        mmdemo.use_native_conv_kernels()   # what the server runs
    torch.set_num_threads(1)
    model = mmdemo.load("classify")
    rng = np.random.default_rng(0)
    marks = {}
    for i in range(1, args.requests + 1):
        n = int(rng.integers(3200, 48000))
        t = np.arange(n) / 16000
        wave = (0.3 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)
        text = "seven " * int(rng.integers(1, 34))
        model.predict(text=text[: int(rng.integers(1, 200))], audio=(16000, wave))
        if i in (50, args.requests // 4, args.requests // 2, args.requests):
            marks[i] = round(rss_mb(), 1)
            print(f"after {i} requests: RSS {marks[i]} MB", flush=True)
    first = min(marks)
    print(json.dumps({"mkldnn": args.mkldnn, "rss_mb": marks,
                      "growth_after_first_50_mb": round(marks[args.requests] - marks[first], 1)}))


if __name__ == "__main__":
    main()
