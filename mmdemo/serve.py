"""Run app.py in a subprocess on a free loopback port and wait until it answers HTTP.

Used by the tests (tests/conftest.py), the benchmarks and the scripts, so there is one way to
start the app from code:

    with serve.running_app() as app:
        Client(app.url).predict(...)
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .paths import ROOT
APP_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class App:
    proc: subprocess.Popen
    port: int
    log: Path                      # the app's stdout + stderr
    started: float                 # time.perf_counter() just before the process was started

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def rss_mb(self) -> float:
        """The server process's resident memory (Linux /proc), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        """CPU time (user + system) the server process has used so far, in seconds (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_up(app: App, timeout: float = 120) -> None:
    """Wait until the app answers an HTTP request on its port (or fail with its output)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if app.proc.poll() is not None:
            raise RuntimeError(f"app.py exited with code {app.proc.returncode}:\n{app.output()[-4000:]}")
        try:
            with urllib.request.urlopen(app.url + "config", timeout=2):
                return
        except OSError:      # refused until the port is open: cheap to ask often (a cold start's
            time.sleep(0.02)  # measured time would otherwise include up to one polling interval)
    raise RuntimeError(f"app.py did not answer within {timeout:.0f} s:\n{app.output()[-4000:]}")


def start_app(args=(), env: dict | None = None, timeout: float = 120, root: Path = ROOT) -> App:
    """Start `python app.py --port <free port> *args` (in `root`, a checkout of the repository) and
    return once it serves HTTP."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="mmdemo-app-", suffix=".log")[1])
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *args], cwd=root,
                                env={**os.environ, **APP_ENV, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)
    app = App(proc, port, log, started)
    try:
        wait_until_up(app, timeout)
    except BaseException:
        stop_app(app)
        raise
    return app


def stop_app(app: App) -> None:
    if app.proc.poll() is None:
        app.proc.terminate()
        try:
            app.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.proc.kill()
            app.proc.wait()
    app.log.unlink(missing_ok=True)


@contextlib.contextmanager
def running_app(args=(), env: dict | None = None, timeout: float = 120):
    app = start_app(args, env, timeout)
    try:
        yield app
    finally:
        stop_app(app)


def scratch_folder(prefix: str) -> Path:
    """A new temp folder (a benchmark's request inputs, an app's cache), removed when this process exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def endpoint_args(params: list[dict], inputs: dict) -> list:
    """Positional arguments for a gradio_client call, from the endpoint's own parameter list
    (`client.view_api(return_format="dict")["named_endpoints"][name]["parameters"]`): image, text
    and audio parameters are filled from `inputs` by component type (files via handle_file), the
    rest (model dropdowns ...) keep their defaults. One mechanism for every endpoint."""
    from gradio_client import handle_file

    def file(path):
        return handle_file(str(path)) if path else None
    by_component = {"Image": lambda: file(inputs.get("image")), "Textbox": lambda: inputs.get("text"),
                    "Audio": lambda: file(inputs.get("audio"))}
    return [by_component[p["component"]]() if p["component"] in by_component else p["parameter_default"]
            for p in params]
