"""Process-wide settings for serving models, set once in one place."""
from __future__ import annotations


def device():
    """The one place the device is chosen: MMDEMO_DEVICE if set (cpu, cuda, cuda:1, mps), else the GPU where
    there is one, else the CPU. Under `accelerate launch` each process uses its own GPU (mmdemo/parallel.py)."""
    import os
    import torch
    name = os.environ.get("MMDEMO_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_native_conv_kernels():
    """oneDNN (mkldnn) builds and keeps a kernel and its buffers for every input shape it sees; recordings
    and texts come in every length, so a long-running server kept growing (benchmarks/memory.py: 1,500
    classify requests of random length, RSS +63.7 MB). PyTorch's native CPU convolutions keep nothing
    (+1.8 MB) and were as fast here (benchmarks/latency.py: VQA and classify the same, caption +1-2 ms).
    app.py calls this at start; call it in your own long-running server too."""
    import torch
    torch.backends.mkldnn.enabled = False


SERVING_THREADS = {"machine": None}    # torch's own thread count, kept by serve_one_thread_per_request()


def serve_one_thread_per_request():
    """The app answers up to CONCURRENCY requests at once, each on one of Gradio's worker threads. With
    torch's default, every such thread starts its own OpenMP team of one thread per core; once more
    threads are managed than there are cores, libgomp stops spin-waiting between parallel regions, so
    every small operator pays a thread wake-up: a request's model ran up to 7x slower on a worker thread
    than on the main thread (`python benchmarks/threads.py`). One torch thread per request avoids that, and the
    cores are shared by concurrent requests instead. MMDEMO_REQUEST_THREADS overrides the 1. Models whose
    operators are big enough to use every core (Whisper) ask for them with `all_cores()`."""
    import os
    import torch
    SERVING_THREADS["machine"] = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("MMDEMO_REQUEST_THREADS", "1")))


class all_cores:
    """`with all_cores():` runs torch on the machine's default thread count in this thread (no-op unless the
    app set one thread per request); restores this thread's count after."""

    def __enter__(self):
        import torch
        self.before = torch.get_num_threads()
        if SERVING_THREADS["machine"]:
            torch.set_num_threads(SERVING_THREADS["machine"])

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.before)


def built_once(build):
    """Decorator for a zero-argument builder of something heavy (a model): built on the first call,
    once per process even when several requests ask at the same time; later calls return it."""
    import functools
    import threading
    lock, built = threading.Lock(), []

    @functools.wraps(build)
    def get():
        with lock:
            if not built:
                built.append(build())
            return built[0]
    return get


class BoundedCache:
    """A thread-safe least-recently-used cache of at most `size` entries (0: keeps nothing). For values
    that depend only on their key (e.g. a frozen encoder's output for an exact text)."""

    def __init__(self, size: int):
        import collections
        import threading
        self.size, self.entries, self.lock = size, collections.OrderedDict(), threading.Lock()

    def get(self, key):
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        return None

    def put(self, key, value) -> None:
        with self.lock:
            self.entries[key] = value
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self.entries)

