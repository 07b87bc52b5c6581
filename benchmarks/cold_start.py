"""Cold start of the app (target: process start -> first answer <= 5 s), optionally this checkout
against another one (e.g. main), interleaved in one run: process start -> first VQA answer through
gradio_client, wall time and the server's CPU time; then the server's CPU time and RSS once its
background warm-up has finished (idle 20 s later). At the machine's default threading unless --threads.

    python benchmarks/cold_start.py [--other /path/to/other/checkout] [--runs 3] [--out artifacts/cold_start.json]

Each checkout's app runs with PYTHONPATH set to that checkout, so its own mmdemo is imported."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from gradio_client import Client, handle_file

from mmdemo import paths, serve

IMAGE, QUESTION = paths.examples("vqa", "0.png"), "what color is the shape?"
TARGET_S = 5.0                      # process start -> first answer


def cold_start(root: Path, threads: int) -> dict:
    env = {"PYTHONPATH": str(root), **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    app = serve.start_app(env=env, timeout=300, root=root)
    try:
        answer = Client(app.url, verbose=False).predict(handle_file(str(IMAGE)), QUESTION, "easyvqa-gated",
                                                        api_name="/vqa")[0]
        wall, cpu = time.perf_counter() - app.started, app.cpu_s()
        time.sleep(20)                      # the warm-up thread finishes building the other tasks' models
        return {"first_answer_s": round(wall, 2), "cpu_at_answer_s": round(cpu, 2), "answer": answer,
                "cpu_after_warm_up_s": round(app.cpu_s(), 2), "rss_after_warm_up_mb": round(app.rss_mb(), 1)}
    finally:
        serve.stop_app(app)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", type=Path, default=None, help="a checkout to compare with (e.g. main)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: the machine's default)")
    ap.add_argument("--out", type=Path, default=paths.artifacts("cold_start.json"))
    args = ap.parse_args()
    checkouts = {**({"other": args.other.resolve()} if args.other else {}), "this": paths.ROOT}
    load_before = os.getloadavg()
    runs = {name: [] for name in checkouts}
    for _ in range(args.runs):                        # interleaved: both see the same machine load
        for name, root in checkouts.items():
            runs[name].append(cold_start(root, args.threads))
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    result = {"cpu": next((x.split(":", 1)[1].strip() for x in cpu.splitlines() if x.startswith("Model name")), ""),
              "machine": platform.machine(), "threads": args.threads, "load_before": load_before,
              "load_after": os.getloadavg(), "checkouts": {k: str(v) for k, v in checkouts.items()}, "runs": runs,
              "median_first_answer_s": {k: statistics.median(r["first_answer_s"] for r in v) for k, v in runs.items()},
              "median_cpu_at_answer_s": {k: statistics.median(r["cpu_at_answer_s"] for r in v) for k, v in runs.items()}}
    result["target_first_answer_s"] = TARGET_S
    result["target_met"] = result["median_first_answer_s"]["this"] <= TARGET_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("cpu", "load_before", "load_after", "median_first_answer_s",
                                             "median_cpu_at_answer_s", "target_met")}, indent=1))


if __name__ == "__main__":
    main()
