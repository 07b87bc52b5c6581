"""Bounded soak test on loopback: N clients send requests for a fixed time, a share of them from the
bad-input corpus (tests/badinputs.py), every request as a new session (a new person or API user);
the server's RSS, open file descriptors, threads and the p50 of valid requests are sampled over time.

    python benchmarks/soak.py [--clients 8] [--minutes 10] [--bad 0.1] [--json out.json]

It starts app.py itself (mmdemo.serve) on a free loopback port; every request has a timeout and the
whole run a fixed duration. Errors are counted on valid requests only; a bad request must come back
(refused with a message or answered) within the request timeout.
Targets (issue 13): 0 errors on valid requests; RSS growth after the first minute <= 50 MB; p50 in the
last minute <= 1.2 x the first; open file descriptors flat.
"""
import argparse
import json
import random
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gradio_client import Client  # noqa: E402

from mmdemo import serve  # noqa: E402

ENDPOINTS = ["/vqa", "/caption", "/classify"]
TARGETS = {"valid_errors": 0, "rss_growth_mb": 50.0, "p50_last_over_first": 1.2, "fd_growth": 5}


def server_stats(app: serve.App) -> dict:
    """RSS (MB), open file descriptors and threads of the server process (Linux /proc)."""
    status = Path(f"/proc/{app.proc.pid}/status").read_text().splitlines()
    field = dict(line.split(":", 1) for line in status if ":" in line)
    field = {k: (v.split() or [""])[0] for k, v in field.items()}
    return {"rss_mb": round(int(field["VmRSS"]) / 1024, 1), "threads": int(field["Threads"]),
            "fds": len(list(Path(f"/proc/{app.proc.pid}/fd").iterdir()))}


def bad_requests(folder: Path, endpoints: list[str]) -> list[tuple[str, dict]]:
    """(endpoint, inputs) for every corpus case that applies to an endpoint's task."""
    from badinputs import CASES, TASKS, good_inputs
    out = []
    for task in TASKS:
        if task.endpoint in endpoints:
            for case in CASES:
                if case.applies_to(task) and (case.expected_error(task) or case.notice):
                    out.append((task.endpoint, {**good_inputs(folder), **case.make(folder)}))
    return out


def good_request(i: int, folder: Path, endpoint: str) -> dict:
    from load import request_inputs
    return request_inputs(i, folder, endpoint)


class Soak:
    """The clients' shared record: latencies of valid requests (with their finish time), errors."""

    def __init__(self, url, endpoints, api, folder, bad_share, request_timeout):
        self.url, self.endpoints, self.api, self.folder = url, endpoints, api, folder
        self.bad = bad_requests(folder, endpoints)
        self.bad_share, self.request_timeout = bad_share, request_timeout
        self.done, self.errors, self.bad_outcomes = [], [], {"refused": 0, "answered": 0, "timeout": 0}
        self.lock = threading.Lock()

    def one_request(self, client: Client, rng: random.Random, i: int, t0: float):
        client.reset_session()                      # every request is a new session (a new visitor)
        bad = rng.random() < self.bad_share
        endpoint, inputs = (rng.choice(self.bad) if bad else
                            (self.endpoints[i % len(self.endpoints)], None))
        inputs = inputs or good_request(i, self.folder, endpoint)
        args = serve.endpoint_args(self.api[endpoint]["parameters"], inputs)
        start = time.perf_counter()
        try:
            out = client.submit(*args, api_name=endpoint).result(timeout=self.request_timeout)
            outcome = "answered" if (out[0] if isinstance(out, (tuple, list)) else out) else "empty answer"
        except Exception as e:   # counted, never hidden
            outcome = "timeout" if "Timeout" in type(e).__name__ else f"{type(e).__name__}: {e}"[:200]
        with self.lock:
            if bad:
                key = outcome if outcome in ("answered", "timeout") else "refused"
                self.bad_outcomes[key] += 1
            elif outcome == "answered":
                self.done.append((time.perf_counter() - t0, time.perf_counter() - start))
            else:
                self.errors.append(f"{endpoint}: {outcome}")

    def client_loop(self, c: int, t0: float, deadline: float):
        client, rng, i = Client(self.url, verbose=False), random.Random(c), c * 100_000
        while time.perf_counter() < deadline:
            self.one_request(client, rng, i, t0)
            i += 1


def window_p50(done, start_s, end_s):
    lat = [lat for t, lat in done if start_s <= t < end_s]
    return round(1000 * statistics.median(lat), 1) if lat else None


def run_soak(app: serve.App, clients: int, seconds: float, bad_share: float, sample_every: float = 10,
             request_timeout: float = 60) -> dict:
    folder = serve.scratch_folder("mmdemo-soak-")
    api = Client(app.url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    endpoints = [e for e in ENDPOINTS if e in api]
    soak = Soak(app.url, endpoints, api, folder, bad_share, request_timeout)
    for e in endpoints:                              # warm-up: every endpoint once, not timed
        Client(app.url, verbose=False).predict(*serve.endpoint_args(api[e]["parameters"],
                                                                    good_request(0, folder, e)), api_name=e)
    t0 = time.perf_counter()
    deadline = t0 + seconds
    threads = [threading.Thread(target=soak.client_loop, args=(c, t0, deadline), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    samples = []
    while time.perf_counter() < deadline:
        samples.append({"t_s": round(time.perf_counter() - t0, 1), **server_stats(app)})
        time.sleep(min(sample_every, max(0.0, deadline - time.perf_counter())))
    for t in threads:
        t.join(request_timeout + 10)
    samples.append({"t_s": round(time.perf_counter() - t0, 1), **server_stats(app)})
    return summarise(soak, samples, clients, seconds, bad_share)


def summarise(soak: Soak, samples: list[dict], clients: int, seconds: float, bad_share: float) -> dict:
    minute = min(60.0, seconds / 4)
    after_warmup = next(s for s in samples if s["t_s"] >= minute)
    last = samples[-1]
    p50_first, p50_last = window_p50(soak.done, 0, minute), window_p50(soak.done, seconds - minute, seconds + 999)
    result = {
        "clients": clients, "seconds": seconds, "bad_share": bad_share, "window_s": minute,
        "valid_requests": len(soak.done), "valid_errors": len(soak.errors), "error_examples": soak.errors[:5],
        "bad_requests": soak.bad_outcomes, "p50_first_ms": p50_first, "p50_last_ms": p50_last,
        "p50_last_over_first": round(p50_last / p50_first, 2) if p50_first and p50_last else None,
        "rss_after_warmup_mb": after_warmup["rss_mb"], "rss_end_mb": last["rss_mb"],
        "rss_growth_mb": round(last["rss_mb"] - after_warmup["rss_mb"], 1),
        "fds_after_warmup": after_warmup["fds"], "fds_end": last["fds"], "fd_growth": last["fds"] - after_warmup["fds"],
        "threads_end": last["threads"], "samples": samples,
        "load_average_end": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }
    result["targets_met"] = {k: result[k] is not None and (result[k] <= v) for k, v in TARGETS.items()}
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--bad", type=float, default=0.1, help="share of requests from the bad-input corpus")
    ap.add_argument("--sample-every", type=float, default=10, help="seconds between server samples")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with serve.running_app() as app:
        result = run_soak(app, args.clients, args.minutes * 60, args.bad, args.sample_every)
    text = json.dumps(result, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    if args.json:
        args.json.write_text(text + "\n")
    sys.exit(0 if all(result["targets_met"].values()) else 1)


if __name__ == "__main__":
    main()
