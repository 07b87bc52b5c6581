"""The architecture's contracts: a task folder declares itself (dispatchers, app tab, registry find it
without a table elsewhere), register refuses a duplicate name, one paths module finds the data (and
fetches it with a progress bar where it is absent and reachable), app.py --help builds no UI."""
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import mmdemo
from mmdemo import MMDemoError, paths, registry

ROOT = Path(__file__).resolve().parent.parent

TOY_INIT = '''"""A toy task: echoes its text backwards."""
from . import model  # noqa: F401
TITLE, ORDER = "Toy echo tab", 99
'''
TOY_MODEL = '''import torch
from mmdemo import Prediction, register

class Reverse(torch.nn.Module):
    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([scale]))

    def predict(self, image=None, text=None, audio=None):
        return Prediction("toy", "reverse", text[::-1], {text[::-1]: 1.0}, {}, {})

@register("toy", "reverse")
def reverse():
    return Reverse()
'''
TOY_TRAIN = '''from mmdemo.checkpoint import Trained
from .model import Reverse

def train(epochs=None, seed=0):
    return Trained(Reverse(float(epochs or 3)), {"task": "toy", "metrics": {"epochs": epochs or 3}}, "# toy card\\n")
'''
TOY_EVALUATE = '''def evaluate(model, limit=None):
    return {"task": "toy", "reversed": model.predict(text="abc").output}
'''
TOY_PANEL = '''import gradio as gr
from mmdemo.ui.components import predict

def build(inputs):
    out = gr.Textbox(label="Reversed")
    gr.Button("Reverse").click(lambda t: predict("toy", None, text=t).output, [inputs["text"]], out, api_name="toy")
'''


@pytest.fixture(scope="module")
def toy_tasks(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tasks")
    folder = root / "toy"
    folder.mkdir()
    for name, text in [("__init__", TOY_INIT), ("model", TOY_MODEL), ("train", TOY_TRAIN),
                       ("evaluate", TOY_EVALUATE), ("panel", TOY_PANEL)]:
        (folder / f"{name}.py").write_text(text)
    return root


def run(args, env, cwd=ROOT, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=timeout)


def test_a_task_folder_brings_its_trainer_evaluator_and_tab(toy_tasks, tmp_path):
    env = {"MMDEMO_TASK_PATH": str(toy_tasks), "MMDEMO_CHECKPOINTS": str(tmp_path)}
    trained = run(["-m", "mmdemo.train", "toy", "--epochs", "5"], env)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "toy" / "config.json").read_text())["metrics"] == {"epochs": 5}
    assert (tmp_path / "toy" / "model.safetensors").is_file() and (tmp_path / "toy" / "README.md").is_file()
    evaluated = run(["-m", "mmdemo.evaluate", "toy", "--json"], env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout.strip().splitlines()[-1]) == {"task": "toy", "reversed": "cba"}
    tabs = run(["-c", "from mmdemo.ui import build_demo\n"
                      "demo = build_demo()\n"
                      "print([b.label for b in demo.blocks.values() if type(b).__name__ == 'Tab'])"], env)
    assert tabs.returncode == 0, tabs.stderr
    assert "Toy echo tab" in tabs.stdout and "Visual question answering" in tabs.stdout
    helped = run(["-m", "mmdemo.train", "--help"], env)
    assert "toy" in helped.stdout                    # the dispatcher lists it among its tasks


def test_builtin_task_folders_are_found():
    from mmdemo import tasks
    assert {"vqa", "caption", "classify"} <= set(tasks.with_part("train")) & set(tasks.with_part("evaluate"))
    assert tasks.names()[:3] == ["vqa", "caption", "classify"]        # tab order from each folder's ORDER


def test_register_refuses_a_duplicate_name(monkeypatch):
    monkeypatch.setattr(registry, "_FACTORIES", {k: dict(v) for k, v in registry._FACTORIES.items()})
    with pytest.raises(MMDemoError, match="already registered"):
        mmdemo.register("vqa", "easyvqa-gated")(lambda: None)


def test_app_help_answers_without_building_the_ui():
    r = run(["app.py", "--help"], {}, timeout=60)
    assert r.returncode == 0 and "--classifier" in r.stdout and "--backend" in r.stdout
    r = run(["-c", "import sys, mmdemo.app\n"
                   "try:\n    mmdemo.app.build(['--help'])\nexcept SystemExit:\n    pass\n"
                   "print('gradio imported:', 'gradio' in sys.modules)"], {}, timeout=60)
    assert "gradio imported: False" in r.stdout, r.stderr


def test_paths_follow_their_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("MMDEMO_CHECKPOINTS", str(tmp_path / "ck"))
    monkeypatch.setenv("MMDEMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MMDEMO_ARTIFACTS", str(tmp_path / "art"))
    assert paths.checkpoints("vqa") == tmp_path / "ck" / "vqa"
    assert paths.cache("speech") == tmp_path / "cache" / "speech"
    assert paths.artifacts() == tmp_path / "art"


def test_missing_data_offline_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("MMDEMO_MNIST", str(tmp_path / "nowhere"))
    monkeypatch.setenv("MMDEMO_USER_DATA", str(tmp_path / "user"))
    monkeypatch.setattr(paths, "ROOT", tmp_path / "repo")            # no ../shared/data beside it
    monkeypatch.setattr(paths, "reachable", lambda url, timeout=2.0: False)
    with pytest.raises(MMDemoError, match="MMDEMO_MNIST"):
        paths.dataset("mnist")


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_absent_data_is_fetched_from_its_source(monkeypatch, tmp_path):
    """The download path, against a loopback server standing in for the public source."""
    served = tmp_path / "served"
    served.mkdir()
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    for name in names:
        (served / name).write_bytes(name.encode())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Files(*a, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        spec = paths.Dataset("MMDEMO_MNIST", "MNIST/raw/t10k-labels-idx1-ubyte.gz", tuple(url + n for n in names))
        monkeypatch.setitem(paths.DATASETS, "mnist", spec)
        monkeypatch.delenv("MMDEMO_MNIST", raising=False)
        monkeypatch.setenv("MMDEMO_USER_DATA", str(tmp_path / "user"))
        monkeypatch.setattr(paths, "ROOT", tmp_path / "repo")
        folder = paths.dataset("mnist")
    finally:
        server.shutdown()
    assert folder == tmp_path / "user" / "mnist"
    assert (folder / "MNIST" / "raw" / names[0]).read_bytes() == names[0].encode()
    assert paths.dataset("mnist") == folder                            # found there next time
