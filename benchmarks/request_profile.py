"""Where one endpoint's requests spend the server's CPU: py-spy samples the app while one gradio_client
client sends --requests requests (after warm-up), grouped by stage (model, drawing, Gradio's pre- and
postprocessing, file serving, queue, HTTP). Samples of waiting threads are dropped.

    python benchmarks/request_profile.py --task vqa [--requests 40] [--root /path/to/other/checkout] [--text-cache 0]
        -> artifacts/profile-<task>.raw (py-spy's raw stacks) and the table on stdout

Needs py-spy (in the venv: pip install py-spy). The stages are matched on frame names, first match wins.
"""
import argparse
import collections
import os
import subprocess
import sys
import time
from pathlib import Path

from gradio_client import Client

from bench import CASES, inputs_of
from common import cpu_name
from mmdemo import paths, serve

STAGES = [   # (stage, substrings of a frame); a sample goes to the first stage with a frame in its stack
    ("model: predict()", ["run_model (mmdemo/ui/components", "predict (mmdemo/tasks", ".predict_batch ("]),
    ("drawing the explanations", ["(mmdemo/ui/draw", "word_strip", "draw_map", "result_pictures", "spectrogram_overlay"]),
    ("input decoding in the panel", ["load_image (mmdemo/inputs", "load_audio", "drawn_image"]),
    ("encoding output pictures + cache files", ["save_pil_to_cache", "encode_pil_to_bytes", "save_bytes_to_cache"]),
    ("Gradio postprocess (other outputs)", ["postprocess_data (gradio", "postprocess_update_dict"]),
    ("Gradio preprocess (inputs)", ["preprocess_data (gradio"]),
    ("serving output files (GET /file=)", ["file (gradio/routes", "FileResponse"]),
    ("uploads (POST /upload)", ["upload_file (gradio/routes", "MultiPartParser"]),
    ("queue, SSE, JSON", ["queueing.py", "route_utils", "orjson", "json"]),
    ("HTTP server (uvicorn, starlette, guard)", ["uvicorn", "starlette", "h11", "mmdemo/server.py"]),
]
WAITING = ["select (selectors", "Condition.wait", "block_thread", "trim (", "_worker (concurrent", "Queue.get",
           "Event.wait", "sleep"]


def stages(raw: Path) -> tuple[int, collections.Counter]:
    """py-spy raw output -> (busy samples, samples per stage)."""
    total, by = 0, collections.Counter()
    for line in raw.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        if any(w in stack.split(";")[-1] for w in WAITING):
            continue
        total += int(n)
        by[next((name for name, keys in STAGES if any(k in stack for k in keys)), "other")] += int(n)
    return total, by


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="vqa", choices=sorted(CASES))
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--root", type=Path, default=paths.ROOT, help="the checkout whose app is profiled")
    ap.add_argument("--text-cache", default="0", help="MMDEMO_TEXT_CACHE for the app (0: every question new)")
    args = ap.parse_args()
    out = paths.artifacts(f"profile-{args.task}.raw")
    out.parent.mkdir(parents=True, exist_ok=True)
    app = serve.start_app(env={"PYTHONPATH": str(args.root), "MMDEMO_TEXT_CACHE": args.text_cache},
                          timeout=600, root=args.root)
    try:
        client = Client(app.url, verbose=False)
        endpoint, calls = CASES[args.task]
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        call = serve.endpoint_args(api[endpoint]["parameters"], inputs_of(calls))
        for _ in range(5):
            client.predict(*call, api_name=endpoint)
        time.sleep(10)                               # the warm-up of the other tasks' models is over
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-r", "100", "--format", "raw",
                                "-o", str(out), "--pid", str(app.proc.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        t = time.perf_counter()
        for _ in range(args.requests):
            client.predict(*call, api_name=endpoint)
        wall_ms = (time.perf_counter() - t) / args.requests * 1000
        spy.send_signal(2)
        spy.wait(60)
    finally:
        serve.stop_app(app)
    total, by = stages(out)
    print(f"{args.task} ({endpoint}), app from {args.root}, text cache {args.text_cache}; {cpu_name()}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {wall_ms:.0f} ms per request (wall); "
          f"{total / args.requests:.1f} busy samples per request at 100 Hz\n\n| stage | share of busy samples |\n|---|---|")
    for name, n in by.most_common():
        print(f"| {name} | {n / total:.1%} |")


if __name__ == "__main__":
    main()
