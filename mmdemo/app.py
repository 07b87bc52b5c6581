"""mmdemo web app: `python app.py [--host 0.0.0.0] [--port 7860] [--share] [--backend TASK=HUB_ID_OR_FOLDER] [--classifier FOLDER]`
(or the console script `mmdemo-app` after `pip install -e .`).

Serves the Gradio Blocks UI over the built-in offline models (and any other registered ones). The
arguments are read before anything heavy is imported, so --help answers at once.
"""
from __future__ import annotations

import argparse
import ctypes
import importlib.abc
import importlib.machinery
import os
import sys
import threading
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

CONCURRENCY = 2          # model calls running at once in the whole app (2 CPU cores); the rest wait in Gradio's queue
QUEUE_SIZE = 256         # waiting requests beyond this are refused ("queue full") instead of piling up


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="app.py", description="mmdemo: multimodal models that explain themselves")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                    help="address to listen on (0.0.0.0 for every interface)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    ap.add_argument("--share", action="store_true",
                    help="also ask for a public gradio.live link (off by default; needs internet)")
    ap.add_argument("--backend", action="append", default=[], metavar="TASK=HUB_ID_OR_FOLDER",
                    help="add a pretrained Hugging Face model (hub id or local folder) to a task's models "
                         "(tasks: caption, vqa, zeroshot, audio, transcribe); repeatable")
    ap.add_argument("--classifier", default=None,
                    help="serve this classifier checkpoint folder (from `python -m mmdemo.train classify --manifest ...`)")
    return ap


def register_flag_models(args, ap) -> None:
    """--backend TASK=ID and --classifier FOLDER add models to the registry before the UI lists them."""
    from .backends.hf import register_backend_specs
    from .errors import MMDemoError
    from .tasks.classify.model import register_folder
    try:
        register_backend_specs(args.backend)
        if args.classifier:
            register_folder(args.classifier, default=True)
    except MMDemoError as e:
        ap.error(str(e))


def warm_up(idle=lambda: True):
    """Build each task's first usable model in the background while the server starts (cold start),
    in the order of the app's tabs, so the first tab's model is ready first; backends that are not
    downloaded are skipped (the model selector marks them), and so are models registered with
    warm=False (the big offline ones: built on their first request). Before each further model it
    waits until `idle()` (no model call running), so it never competes with a request for the CPU;
    a request for a model not built yet builds it itself (registry.load locks per model)."""
    from . import registry, tasks
    order = [t for t in tasks.names() if t in registry.list_tasks()]
    for i, task in enumerate(order + [t for t in registry.list_tasks() if t not in order]):
        while i and not idle():
            time.sleep(0.05)
        first = next((n for n in registry.list_models(task) if registry.availability(task, n)[0]), None)
        try:
            if first and registry.warm(task, first):
                registry.load(task, first)
        except Exception as e:   # a model that cannot load reports it on its first request
            print(f"warm-up: {task}/{first} did not load: {e}")
        if i == 0:
            import matplotlib  # noqa: F401  Gradio imports it on the first event it runs (its backend switch)


def limit_malloc_arenas(arenas: int = 2, trim_every_s: float = 10.0):
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core) and keeps freed
    memory in every one; with Gradio's worker threads the server's RSS crept up under load
    (benchmarks/load.py). Cap the arenas, and every few seconds hand freed memory back to the
    system (malloc_trim). Blocks of 4 MiB and more are mmap'd and go back to the system when freed: a fixed
    M_MMAP_THRESHOLD stops glibc from raising it (up to 32 MiB) after the first big free and keeping such
    blocks in the heap. It was 256 KiB, but then every activation of Whisper or EfficientNet was a fresh
    mmap whose pages the kernel zeroed on first touch, 1.3-1.4x slower (`python benchmarks/threads.py
    --mmap-threshold 262144` vs 4194304). Linux/glibc only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)        # -8 = M_ARENA_MAX
        libc.mallopt(-3, 4 * 2**20)     # -3 = M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return

    def trim():
        while True:
            time.sleep(trim_every_s)
            libc.malloc_trim(0)
    threading.Thread(target=trim, daemon=True, name="malloc-trim").start()


class _NoGradioStubFiles(importlib.abc.MetaPathFinder):
    """Loads gradio.component_meta, then replaces its create_or_modify_pyi with a no-op (see below)."""

    def find_spec(self, name, path, target=None):
        if name != "gradio.component_meta":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.create_or_modify_pyi = lambda *args, **kwargs: None
        spec.loader.exec_module = exec_module
        return spec


def skip_gradio_stub_files() -> None:
    """Gradio's component metaclass writes a type-stub (.pyi) file for every component class it
    creates, parsing the class's source file with `ast` each time, while `import gradio` runs: 2.3 ->
    1.3 s of import here, for files only a type checker reads (and that it writes into site-packages,
    or next to any module that subclasses a component). The app never needs them: call this before
    gradio is imported and the writer is a no-op (gradio 6.x; if gradio renames it, nothing happens
    and tests/test_app.py says so). Measured: `python benchmarks/cold_start.py`."""
    if "gradio" not in sys.modules:
        sys.meta_path.insert(0, _NoGradioStubFiles())


def build(argv=None, then=None):
    """Parse the arguments, register the models they name, call then() if given, build the UI: (demo, args)."""
    ap = parser()
    args = ap.parse_args(argv)
    register_flag_models(args, ap)
    if then is not None:
        then()
    from .ui import build_demo
    return build_demo(), args


def main(argv=None):
    # The server draws off-screen. Named here, Gradio's per-event backend switch (matplotlib.get_backend())
    # need not import pyplot to resolve matplotlib's automatic backend: 0.3 s off the first answer.
    os.environ.setdefault("MPLBACKEND", "agg")
    skip_gradio_stub_files()
    from . import server
    from .inputs import MAX_FILE_BYTES
    from .runtime import serve_one_thread_per_request, use_native_conv_kernels
    limit_malloc_arenas()
    use_native_conv_kernels()
    serve_one_thread_per_request()

    def start_warm_up():     # the models are built while Gradio is imported, the UI built and the server started
        threading.Thread(target=warm_up, args=(lambda: not server.MODEL_CALLS.running,), daemon=True,
                         name="warm-up").start()
    demo, args = build(argv, then=start_warm_up)
    from .ui import CACHE_SECONDS
    server.share_one_queue(demo, CONCURRENCY)     # one group: at most CONCURRENCY model calls in the app
    server.stop_cleanly_on_sigterm()              # SIGTERM runs the shutdown (files deleted) like Ctrl-C
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE, api_open=False)   # no direct /run/
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, ssr_mode=False,
                max_file_size=MAX_FILE_BYTES, footer_links=["api"], show_error=True,
                **server.launch_kwargs(demo, CACHE_SECONDS))   # body limits, per-client share, sweeper
    server.last_sweep(demo)      # launch() returned (Ctrl-C, SIGTERM): no request's file outlives the app


if __name__ == "__main__":
    main()
