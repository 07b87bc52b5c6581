"""Bounded load test on loopback: N concurrent gradio_client clients x M requests each, spread
over every model endpoint the app has; reports errors, latency p50/p95/p99, requests per second
and the server's RSS before and after.

    python benchmarks/load.py [--clients 16] [--requests 200] [--timeout 900] [--json out.json]

It runs the same load twice on one app: first through the hidden /echo endpoint (each request with
the inputs its model endpoint would get, no model: Gradio's own ceiling), then through the model
endpoints; targets: model throughput >= 0.8 x echo's, 0 errors, p95 <= 3 x p50, RSS growth <= 50 MB.

It starts app.py itself (mmdemo.serve) on a free loopback port. Bounded: each request has a
--request-timeout, the whole run a --timeout (requests not sent by then are reported as not run).
Concurrency on the server is Gradio's queue (app.CONCURRENCY), not threads of ours; the client
threads here are the simulated people.
"""
import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from gradio_client import Client

from mmdemo import serve
from mmdemo.paths import ROOT

ENDPOINTS = ["/vqa", "/caption", "/classify"]        # the ones the app has are used, in turn
QUESTIONS = ["what color is the shape?", "what is the shape?", "is there a circle?", "is it red?"]
TARGETS = {"errors": 0, "p95_over_p50": 3.0, "rss_growth_mb": 50.0, "throughput_over_echo": 0.8}


DIGIT_TEXTS = ["seven", "null", "the number 1"]   # for /classify, with its drawn-digit examples


def request_inputs(i: int, folder: Path, endpoint: str = "/vqa") -> dict:
    """The i-th request's inputs: example images and questions in turn (drawn digits and digit words
    for /classify), a short tone for audio."""
    if endpoint == "/classify":
        images, texts = sorted((ROOT / "examples" / "classify").glob("*.png")), DIGIT_TEXTS
    else:
        images, texts = sorted((ROOT / "examples" / "vqa").glob("*.png")), QUESTIONS
    audio = folder / "tone.wav"
    if not audio.exists():
        import soundfile as sf
        sf.write(str(audio), 0.3 * np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000), 8000)
    return {"image": str(images[i % len(images)]), "text": texts[i % len(texts)], "audio": str(audio)}


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))]


def run_load(url: str, clients: int, requests: int, timeout: float, request_timeout: float = 120,
             rss=None, via: str | None = None) -> dict:
    """Run the load against a running app at `url`; `rss()` (MB of the server) if given. via="/echo":
    every request goes to that endpoint instead, with the inputs its model endpoint would get."""
    folder = serve.scratch_folder("mmdemo-load-")
    probe = Client(url, verbose=False)
    api = probe.view_api(return_format="dict", print_info=False)["named_endpoints"]
    endpoints = [e for e in ENDPOINTS if e in api]
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rss_start = rss() if rss else None
    latencies, errors, lock = [], [], threading.Lock()

    def one_client(c: int, n: int, deadline: float, record: bool):
        client = Client(url, verbose=False)
        for i in range(n):
            if time.perf_counter() > deadline:
                return
            e = endpoints[(c + i) % len(endpoints)]
            args = serve.endpoint_args(api[via or e]["parameters"], request_inputs(c * n + i, folder, e))
            t = time.perf_counter()
            try:
                out = client.submit(*args, api_name=via or e).result(timeout=request_timeout)
                if not (out[0] if isinstance(out, (tuple, list)) else out):
                    raise RuntimeError("empty answer")
                if record:
                    with lock:
                        latencies.append(time.perf_counter() - t)
            except Exception as err:   # counted and reported, never hidden
                with lock:
                    errors.append(f"{e}: {type(err).__name__}: {err}"[:300])

    def run_clients(n: int, deadline: float, record: bool):
        threads = [threading.Thread(target=one_client, args=(c, n, deadline, record), daemon=True)
                   for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.0, deadline - time.perf_counter()) + request_timeout)

    # warm-up round (counted for errors, not for latency): every client once per endpoint, so the
    # models, the server's worker threads and its caches exist before the memory baseline
    run_clients(len(endpoints), time.perf_counter() + timeout, record=False)
    rss_before = rss() if rss else None
    warmup_errors = len(errors)
    deadline = time.perf_counter() + timeout
    t0 = time.perf_counter()
    run_clients(requests, deadline, record=True)
    wall = time.perf_counter() - t0
    rss_after = rss() if rss else None
    lat = sorted(latencies)
    done = len(lat) + len(errors) - warmup_errors
    result = {
        "clients": clients, "requests_per_client": requests, "endpoints": [via] if via else endpoints,
        "requests_planned": clients * requests, "requests_done": done, "not_run": clients * requests - done,
        "errors": len(errors), "warmup_errors": warmup_errors, "error_examples": errors[:5], "wall_s": round(wall, 1),
        "requests_per_s": round(done / wall, 1) if wall else None,
        "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
        "p95_ms": round(1000 * percentile(lat, 0.95), 1) if lat else None,
        "p99_ms": round(1000 * percentile(lat, 0.99), 1) if lat else None,
        "rss_start_mb": None if rss_start is None else round(rss_start, 1),   # before any request of this run
        "rss_before_mb": None if rss_before is None else round(rss_before, 1),  # after the warm-up round
        "rss_after_mb": None if rss_after is None else round(rss_after, 1),
    }
    result["load_average_before"] = load_before                 # 1/5/15 min: the machine may be shared
    result["load_average_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    result["p95_over_p50"] = round(result["p95_ms"] / result["p50_ms"], 2) if lat else None
    result["rss_growth_mb"] = None if rss is None else round(rss_after - rss_before, 1)
    result["targets_met"] = {
        "errors": result["errors"] == 0 and result["not_run"] == 0,
        "p95_over_p50": lat != [] and result["p95_over_p50"] <= TARGETS["p95_over_p50"],
        "rss_growth_mb": rss is None or result["rss_growth_mb"] <= TARGETS["rss_growth_mb"]}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=200, help="requests per client")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for the whole run")
    ap.add_argument("--request-timeout", type=float, default=120)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with serve.running_app() as app:
        echo = run_load(app.url, args.clients, args.requests, args.timeout, args.request_timeout, via="/echo")
        result = run_load(app.url, args.clients, args.requests, args.timeout, args.request_timeout, rss=app.rss_mb)
    result["echo"] = {k: echo[k] for k in ("requests_per_s", "p50_ms", "p95_ms", "errors", "load_average_before")}
    result["throughput_over_echo"] = round(result["requests_per_s"] / echo["requests_per_s"], 2)
    result["targets_met"]["throughput_over_echo"] = result["throughput_over_echo"] >= TARGETS["throughput_over_echo"]
    result["command"] = "python benchmarks/load.py " + " ".join(sys.argv[1:])
    from common import cpu_name
    result["cpu"] = cpu_name()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if all(result["targets_met"].values()) else 1)


if __name__ == "__main__":
    main()
