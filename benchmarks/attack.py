"""Bounded attack on a live app on loopback (issue 13): tiny inputs with a huge cost, a flood of
concurrent queued and direct requests next to a second client, aborted and held-open uploads, SIGTERM
mid-traffic. Every figure is measured on the server process (Linux /proc: peak RSS via clear_refs).

    python benchmarks/attack.py [--json out.json] [--parts costly,flood,uploads,sigterm] [--flood 300]

Loopback only; bounded: at most --flood requests per flood, 200 aborted uploads, every request with
a timeout. The server runs with a memory cap (RLIMIT_DATA = its size after start + --cap-gb) so a
runaway request fails instead of taking the machine down (before issue 13 one request reached 23.7 GB).
"""
import argparse
import http.client
import json
import os
import resource
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mmdemo import serve  # noqa: E402
from common import cpu_name

BUDGET = {"extra_mb": 500, "seconds": 2.0, "refuse_seconds": 0.5}   # per request (issue 13)


# ---------------------------------------------------------------- the corpus: tiny files, huge cost
def noise_wav(path: Path, rate: int, seconds: float = 1.0, channels: int = 1, fmt: str = "WAV") -> Path:
    import soundfile as sf
    rng = np.random.default_rng(0)
    n = int(rate * seconds)
    data = (rng.standard_normal((n, channels)) * 0.1) if fmt == "WAV" else np.zeros((n, channels), np.int16)
    sf.write(str(path), data, rate, format=fmt, subtype="PCM_16")
    return path


def flat_png(path: Path, width: int, height: int, dtype=np.uint16, channels: int = 1) -> Path:
    """A flat picture, a few tens of KB compressed, width x height decoded."""
    from PIL import Image
    shape = (height, width) if channels == 1 else (height, width, channels)
    mode = {1: None, 4: "RGBA"}[channels]
    Image.fromarray(np.zeros(shape, dtype), mode=mode).save(path, compress_level=9)
    return path


def costly_corpus(folder: Path) -> list[tuple[str, str, dict]]:
    """(name, endpoint, inputs): each a small file that used to cost seconds and gigabytes."""
    good_image, digit = ROOT / "examples" / "vqa" / "0.png", ROOT / "examples" / "classify" / "drawn_7.png"
    audio = lambda name, **kw: ("/classify", {"image": str(digit), "text": "seven",   # noqa: E731
                                              "audio": str(noise_wav(folder / name, **kw))})
    image = lambda name, **kw: ("/vqa", {"image": str(flat_png(folder / name, **kw)),   # noqa: E731
                                         "text": "what color is the shape?"})
    return [
        ("good request (baseline)", "/vqa", {"image": str(good_image), "text": "what color is the shape?"}),
        ("1 s noise at 8,001 Hz", *audio("r8001.wav", rate=8001)),
        ("1 s noise at 4,001 Hz", *audio("r4001.wav", rate=4001)),
        ("1 s noise at 44,101 Hz", *audio("r44101.wav", rate=44101)),
        ("30 s 8-channel 192 kHz FLAC (silence)", *audio("c8.flac", rate=192000, seconds=30, channels=8, fmt="FLAC")),
        ("1 s 12-channel 48 kHz WAV", *audio("c12.wav", rate=48000, channels=12)),
        ("1 s at 384 kHz", *audio("r384k.wav", rate=384000)),
        ("40-MP 16-bit greyscale PNG", *image("g16.png", width=8000, height=5000)),
        ("40-MP RGBA PNG", *image("rgba.png", width=8000, height=5000, dtype=np.uint8, channels=4)),
        ("40-MP 8-bit greyscale PNG", *image("g8.png", width=8000, height=5000, dtype=np.uint8)),
    ]


# ---------------------------------------------------------------- server-side measurement
def proc_status(pid: int) -> dict:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")} | {"Threads": int(fields["Threads"])}


def reset_peak(pid: int) -> None:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def cap_memory(pid: int, extra_gb: float) -> float:
    """RLIMIT_DATA of the server = its data size now + extra_gb; returns the cap in MB."""
    data_kb = int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmData:")))
    cap = int(data_kb * 1024 + extra_gb * 2**30)
    resource.prlimit(pid, resource.RLIMIT_DATA, (cap, cap))
    return cap / 2**20


def one_costly(app, client, api, name, endpoint, inputs) -> dict:
    reset_peak(app.proc.pid)
    before = proc_status(app.proc.pid)["VmRSS"]
    t = time.perf_counter()
    try:
        out = client.predict(*serve.endpoint_args(api[endpoint]["parameters"], inputs), api_name=endpoint)
        outcome = "answered: " + str(out[0] if isinstance(out, (tuple, list)) else out)[:60]
    except Exception as e:   # the app's message (refused) or a failure
        outcome = f"refused: {e}"[:200]
    seconds = time.perf_counter() - t
    extra = proc_status(app.proc.pid)["VmHWM"] - before
    refused = outcome.startswith("refused")
    ok = (seconds <= BUDGET["refuse_seconds"]) if refused else (extra <= BUDGET["extra_mb"] and seconds <= BUDGET["seconds"])
    return {"input": name, "outcome": outcome, "seconds": round(seconds, 2), "extra_mb": round(extra, 1),
            "server_alive": app.proc.poll() is None, "within_budget": ok and extra <= BUDGET["extra_mb"]}


def costly_part(app, folder: Path) -> list[dict]:
    from gradio_client import Client
    client = Client(app.url, verbose=False)
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    corpus, results = costly_corpus(folder), []
    for endpoint in ("/vqa", "/classify"):            # warm-up: each model built and run once, not measured
        warm = next(inputs for _, e, inputs in corpus if e == endpoint)
        if endpoint == "/classify":
            warm = {**warm, "audio": str(noise_wav(folder / "warm.wav", rate=16000))}
        one_costly(app, client, api, "warm-up", endpoint, warm)
    for name, endpoint, inputs in corpus:
        if app.proc.poll() is not None:
            results.append({"input": name, "outcome": "not run: the server had died"})
            continue
        results.append(one_costly(app, client, api, name, endpoint, inputs))
        print(json.dumps(results[-1]), flush=True)
    return results


# ---------------------------------------------------------------- raw HTTP on loopback
def raw(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
         source: str | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """One HTTP request to the app from a chosen loopback source address (127.0.0.x is a different client)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException) as e:
        return -1, str(e).encode()
    finally:
        conn.close()


def upload_file(port: int, path: Path) -> str:
    """Upload one file as the browser does (multipart POST /gradio_api/upload); its server path."""
    boundary = "mmdemoattack"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, out = raw(port, "POST", "/gradio_api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 200, (status, out[:200])
    return json.loads(out)[0]


def vqa_payload(server_path: str) -> bytes:
    return json.dumps({"data": [{"path": server_path, "meta": {"_type": "gradio.FileData"}},
                                "what color is the shape?", "easyvqa-gated"]}).encode()


def queued_answer(port: int, payload: bytes, source: str | None = None, timeout: float = 60) -> tuple[int, str]:
    """POST /gradio_api/call/vqa (joins the queue), then read the event stream to its end."""
    status, out = raw(port, "POST", "/gradio_api/call/vqa", payload, {"Content-Type": "application/json"}, source, timeout)
    if status != 200:
        return status, out.decode(errors="replace")[:200]
    event_id = json.loads(out)["event_id"]
    status, stream = raw(port, "GET", f"/gradio_api/call/vqa/{event_id}", source=source, timeout=timeout)
    return status, stream.decode(errors="replace")


def health(port: int) -> dict | None:
    status, out = raw(port, "GET", "/healthz", timeout=5)
    return json.loads(out) if status == 200 and out.startswith(b"{") else None


# ---------------------------------------------------------------- flood: queued + direct, and a second client
def flood_part(app, n: int) -> dict:
    """n/2 abandoned queued requests (POST /call/, never read) and n/2 direct /run/ requests, all at
    once from 127.0.0.1; meanwhile a second client (127.0.0.2) asks one question through the queue."""
    port, pid = app.port, app.proc.pid
    payload = vqa_payload(upload_file(port, ROOT / "examples" / "vqa" / "0.png"))
    idle = proc_status(pid)["VmRSS"]
    reset_peak(pid)
    calls_before = (health(port) or {}).get("model_calls_total")
    statuses = {"queued": {}, "direct": {}}
    lock, threads_peak, stop = threading.Lock(), [0], threading.Event()

    def flood_one(kind):
        path = "/gradio_api/call/vqa" if kind == "queued" else "/gradio_api/run/vqa"
        status, _ = raw(port, "POST", path, payload, {"Content-Type": "application/json"}, timeout=120)
        with lock:
            statuses[kind][status] = statuses[kind].get(status, 0) + 1

    def sample_threads():
        while not stop.is_set():
            threads_peak[0] = max(threads_peak[0], proc_status(pid)["Threads"])
            time.sleep(0.05)
    flooders = [threading.Thread(target=flood_one, args=("queued" if i % 2 else "direct",), daemon=True) for i in range(n)]
    sampler = threading.Thread(target=sample_threads, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    for t in flooders:
        t.start()
    time.sleep(0.5)
    t = time.perf_counter()
    second_status, second_tail = queued_answer(port, payload, source="127.0.0.2", timeout=120)
    second = {"status": second_status, "seconds": round(time.perf_counter() - t, 2),
              "answered": "event: complete" in second_tail and "red" in second_tail}
    for t in flooders:
        t.join(150)
    flood_seconds = time.perf_counter() - t0
    time.sleep(2)                                    # let accepted queued events finish
    stop.set()
    after = health(port) or {}
    peak = proc_status(pid)["VmHWM"]
    return {"requests": n, "statuses": statuses, "flood_seconds": round(flood_seconds, 1), "second_client": second,
            "model_calls_peak": after.get("model_calls_peak"),
            "model_calls_run": None if calls_before is None else after.get("model_calls_total", 0) - calls_before,
            "threads_peak": threads_peak[0], "idle_rss_mb": round(idle, 1), "peak_rss_mb": round(peak, 1),
            "peak_over_idle": round(peak / idle, 2)}


# ---------------------------------------------------------------- aborted and held-open uploads
def partial_upload(port: int, declared: int, sent: int, source: str | None = None) -> socket.socket:
    """Start a multipart upload announcing `declared` bytes, send `sent` of them; the open socket."""
    boundary = "mmdemoabort"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"cut.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0) if source else None)
    s.sendall((f"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {declared}\r\n\r\n").encode()
              + head + b"\0" * (sent - len(head)))
    return s


def files_in(folder: Path, ignore: set) -> list[str]:
    """Files under `folder` but `ignore`; os.walk skips a folder the app's sweeper removes meanwhile."""
    return sorted(p for root, _, names in os.walk(folder) for p in (os.path.join(root, n) for n in names)
                  if p not in ignore)


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def uploads_part(app, folder: Path, examples: set, cache_seconds: float, n: int = 200, held: int = 50) -> dict:
    """n uploads cut off mid-body (1 MiB of 5 MiB sent, then the socket closed): partial files left
    once the server has handled them; then `held` uploads held open without sending more: answered
    or not after 12 s (the server's body idle timeout is 10 s), fds after they are closed; files
    once one sweep interval has passed after the files' age limit."""
    port, pid = app.port, app.proc.pid
    fds_start, before = fds(pid), set(files_in(folder, examples))
    for i in range(n):
        partial_upload(port, 5 * 2**20, 2**20, source=f"127.0.1.{i % 200 + 1}").close()
    left, deadline = [], time.time() + 15
    while time.time() < deadline:                     # until the server has seen every disconnect
        time.sleep(1.0)
        left = [f for f in files_in(folder, examples) if f not in before]
        if not left:
            break
    sockets = [partial_upload(port, 5 * 2**20, 2**20, source=f"127.0.2.{i % 200 + 1}") for i in range(held)]
    time.sleep(1.0)
    fds_held = fds(pid)
    time.sleep(12.0)
    answered = 0
    for s in sockets:
        s.settimeout(0.2)
        try:
            answered += bool(s.recv(100))
        except OSError:
            pass
        s.close()
    time.sleep(2.0)
    fds_closed = fds(pid)
    time.sleep(max(0.0, cache_seconds) + 8)           # one sweep interval after the files' age limit
    return {"aborted_uploads": n, "partial_files_left_15s_after_abort": len(left),
            "held_open": held, "fds_start": fds_start, "fds_while_held": fds_held,
            "held_answered_within_12s": answered, "fds_after_closing_them": fds_closed,
            "files_after_sweep_interval": len(files_in(folder, examples)), "examples_kept": len(examples)}


# ---------------------------------------------------------------- SIGTERM mid-traffic
def sigterm_part(env: dict, folder: Path, cache_seconds: float) -> dict:
    """An app serving 4 clients and cut-off uploads gets SIGTERM; files left right after it exits,
    and after a restart once they are older than the cache lifetime (the start-up sweep)."""
    from gradio_client import Client, handle_file
    app = serve.start_app(env=env)
    examples = set(files_in(folder, set()))
    stop = threading.Event()

    def traffic():
        try:
            c = Client(app.url, verbose=False)
            while not stop.is_set():
                c.predict(handle_file(str(ROOT / "examples" / "vqa" / "0.png")), "is it red?", "easyvqa-gated", api_name="/vqa")
                partial_upload(app.port, 2**20, 2**16).close()
        except Exception:             # the server going away ends the client
            pass
    clients = [threading.Thread(target=traffic, daemon=True) for _ in range(4)]
    for t in clients:
        t.start()
    time.sleep(4)
    app.proc.send_signal(signal.SIGTERM)
    code = app.proc.wait(30)
    stop.set()
    left = files_in(folder, examples)
    time.sleep(cache_seconds + 1)
    app2 = serve.start_app(env=env)
    time.sleep(2)
    after_restart = files_in(folder, examples)
    serve.stop_app(app2)
    serve.stop_app(app)
    return {"exit_code": code, "files_right_after_sigterm": len(left), "files_after_restart_sweep": len(after_restart),
            "files_after_second_stop": len(files_in(folder, examples)), "examples_kept": len(examples)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="costly,flood,uploads,sigterm")
    ap.add_argument("--flood", type=int, default=300, help="requests in the flood")
    ap.add_argument("--cap-gb", type=float, default=4.0, help="memory the server may add (RLIMIT_DATA)")
    ap.add_argument("--cache-seconds", type=float, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    parts, folder = args.parts.split(","), serve.scratch_folder("mmdemo-attack-")
    cache = folder / "gradio"
    env = {"GRADIO_TEMP_DIR": str(cache), "MMDEMO_CACHE_SECONDS": str(int(args.cache_seconds))}
    result = {"cpu": cpu_name(), "load_average_start": " ".join(Path("/proc/loadavg").read_text().split()[:3])}
    with serve.running_app(env=env) as app:
        result["memory_cap_mb"] = round(cap_memory(app.proc.pid, args.cap_gb))
        examples = set(files_in(cache, set()))
        if "costly" in parts:
            result["costly"] = costly_part(app, folder)
        if "flood" in parts and app.proc.poll() is None:
            result["flood"] = flood_part(app, args.flood)
            print(json.dumps(result["flood"]), flush=True)
        if "uploads" in parts and app.proc.poll() is None:
            result["uploads"] = uploads_part(app, cache, examples, args.cache_seconds)
            print(json.dumps(result["uploads"]), flush=True)
    if "sigterm" in parts:
        fresh = folder / "gradio-sigterm"                 # its own folder: only this part's files in it
        result["sigterm"] = sigterm_part({**env, "GRADIO_TEMP_DIR": str(fresh)}, fresh, args.cache_seconds)
        print(json.dumps(result["sigterm"]), flush=True)
    result["load_average_end"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
