"""What the benchmark scripts share: timing a call, and naming the CPU they ran on."""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path


def timed(fn, repeats: int, warmup: int = 3) -> dict:
    """Call fn warmup times unmeasured, then repeats times: p50 and p95 in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 3), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 3)}


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo) and its core count."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []:
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
