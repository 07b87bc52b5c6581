"""Latency of the offline Whisper tiny.en (mmdemo/backends/whisper_ct2.py) on a 5 s clip: a
synthetic sentence (espeak-ng) padded with silence to exactly 5.0 s, transcribed end to end
(resample, log-mel, encoder, greedy decoding with cross-attention, word maps).

    python benchmarks/whisper_latency.py [--runs 7] [--threads 0 1] [--out artifacts/whisper_latency.json]
--threads 0 means torch's default (one per core). The model is loaded before timing (its load
time is reported separately); one warm-up run per thread setting. Target: p50 <= 1.5 s.
Also reported: the process's CPU seconds per run (with 1 thread, about the wall time of an idle
core; on a shared machine the wall time also contains the waits for a core).
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from common import cpu_name
from mmdemo.paths import ROOT

SENTENCE = "The train to the city leaves every morning, and the next one is late."


def five_second_clip(folder: str) -> tuple[int, np.ndarray]:
    from mmdemo.inputs import load_audio
    wav = Path(folder) / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), SENTENCE], check=True)
    rate, samples = load_audio(str(wav), target_rate=16_000)
    samples = samples[: 5 * rate]
    return rate, np.pad(samples, (0, 5 * rate - len(samples)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "whisper_latency.json"))
    args = ap.parse_args()
    import torch

    from mmdemo.backends import whisper_ct2
    default_threads = torch.get_num_threads()
    start = time.perf_counter()
    whisper_ct2.get_model()
    report = {"load_seconds": round(time.perf_counter() - start, 2), "clip_seconds": 5.0, "rows": [],
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "load_average_before": os.getloadavg()}}
    with tempfile.TemporaryDirectory() as tmp:
        clip = five_second_clip(tmp)
    for threads in args.threads:
        torch.set_num_threads(threads or default_threads)
        text = whisper_ct2.transcribe(clip)["text"]          # warm-up
        times, cpu = [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            whisper_ct2.transcribe(clip)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        row = {"torch_threads": torch.get_num_threads(), "default": threads == 0, "p50_s": round(float(np.median(times)), 3),
               "p95_s": round(float(np.percentile(times, 95)), 3),
               "cpu_seconds_p50": round(float(np.median(cpu)), 3), "runs": args.runs, "text": text,
               "load_average": os.getloadavg()}
        report["rows"].append(row)
        print(row, flush=True)
    report["machine"]["load_average_after"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
