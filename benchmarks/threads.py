"""Why the app runs one torch thread per request (mmdemo.runtime.serve_one_thread_per_request): one
request's model calls (bench.py's cases) timed on the main thread at torch's default threading, then on a
worker thread (as Gradio runs them) at the default threading, then on a worker thread with one torch thread.

    python benchmarks/threads.py [--repeats 10] [--tasks vqa,photo] [--mmap-threshold BYTES]   -> the table on stdout

--mmap-threshold sets glibc's M_MMAP_THRESHOLD first, as the app does (mmdemo/app.py: limit_malloc_arenas).

On a worker thread torch starts a second OpenMP team; with more OpenMP threads than cores libgomp stops
spin-waiting between parallel regions, and each small operator then waits for a thread to wake up.
"""
import argparse
import ctypes
import os
import threading

import torch

import mmdemo
from bench import model_calls, usable_tasks
from common import cpu_name, timed


def on_worker_thread(fn, threads: int | None = None):
    """fn() run on a new thread (torch's thread count set there first when `threads` is given)."""
    out = []

    def work():
        if threads:
            torch.set_num_threads(threads)
        out.append(fn())
    t = threading.Thread(target=work)
    t.start()
    t.join()
    return out[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--tasks", default=None, help="comma-separated subset (default: every usable task)")
    ap.add_argument("--mmap-threshold", type=int, default=None, help="glibc M_MMAP_THRESHOLD in bytes (default: glibc's)")
    args = ap.parse_args()
    if args.mmap_threshold:
        ctypes.CDLL("libc.so.6").mallopt(-3, args.mmap_threshold)    # -3 = M_MMAP_THRESHOLD
    mmdemo.use_native_conv_kernels()          # the convolutions the server runs
    default = torch.get_num_threads()
    print(f"{cpu_name()}; torch's default: {default} threads; mmap threshold {args.mmap_threshold or 'glibc default'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}\n\n| task | main thread, {default} torch threads "
          f"| worker thread, {default} torch threads | worker thread, 1 torch thread |\n|---|---|---|---|")
    for task in [t for t in usable_tasks() if not args.tasks or t in args.tasks.split(",")]:
        call = model_calls(task)
        cells = [timed(call, args.repeats),
                 on_worker_thread(lambda: timed(call, args.repeats), threads=default),
                 on_worker_thread(lambda: timed(call, args.repeats), threads=1)]
        print(f"| {task} | " + " | ".join(f"{c['p50_ms']:.1f} ms" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
