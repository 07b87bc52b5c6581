"""Pretrained Hugging Face backends (mmdemo/models/hf.py), without the network: tiny random models
saved to folders (mmdemo/models/hf_random.py) and loaded through the same code as a hub id; a fake
Hugging Face cache for the hub-id path; the offline message and its timing; the app's selector."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

import mmdemo
from mmdemo import registry
from mmdemo.backends import hf, hf_random
from mmdemo.ui.components import inline_jpeg

ROOT = Path(__file__).resolve().parent.parent
IMAGE = str(ROOT / "examples" / "vqa" / "0.png")
QUESTION = "what color is the shape?"


def tone(seconds: float, rate: int = 16000):
    t = np.arange(int(seconds * rate)) / rate
    return rate, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


INPUTS = {"caption": dict(image=IMAGE), "vqa": dict(image=IMAGE, text=QUESTION),
          "zeroshot": dict(image=IMAGE, text="a cat, a red triangle, a dog"),
          "audio": dict(audio=tone(1.0)), "transcribe": dict(audio=tone(1.0))}
TASK_OF = {kind: cls.task for kind, cls in hf.KINDS.items()}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """kind -> folder of a tiny random model with its processor, as save_pretrained writes it."""
    root = tmp_path_factory.mktemp("tiny-hf")
    return {kind: hf_random.build(kind, root / kind) for kind in hf.KINDS}


@pytest.fixture
def fresh_registry(monkeypatch):
    """Backends registered by a test disappear after it."""
    for attr in ("_FACTORIES", "_AVAILABLE"):
        value = getattr(registry, attr)
        monkeypatch.setattr(registry, attr, {k: (dict(v) if isinstance(v, dict) else v) for k, v in value.items()})
    monkeypatch.setattr(registry, "_DEFAULTS", dict(registry._DEFAULTS))
    monkeypatch.setattr(registry, "_LOADED", dict(registry._LOADED))


def load_tiny(tiny, kind):
    name = hf.register_backend(TASK_OF[kind], str(tiny[kind]))   # what `--backend TASK=FOLDER` does
    return mmdemo.load(TASK_OF[kind], name)


def check_distribution(a: np.ndarray):
    assert np.isfinite(a).all() and (a >= 0).all() and (a <= 1).all()
    assert abs(float(a.sum()) - 1) < 1e-4


@pytest.mark.parametrize("kind", list(hf.KINDS))
def test_every_backend_returns_the_prediction_contract(tiny, fresh_registry, kind):
    model = load_tiny(tiny, kind)
    pred = model.predict(**INPUTS[model.task])
    assert isinstance(pred, mmdemo.Prediction)
    assert pred.task == model.task and pred.model == str(tiny[kind]) and isinstance(pred.output, str)
    assert pred.scores and all(0 <= p <= 1 for p in pred.scores.values())
    assert pred.fusion_weights == {} and pred.notes["fusion"].startswith("No fusion weight")
    for key, a in pred.attention.items():
        if key == "words":
            continue
        check_distribution(a)
        assert pred.notes.get(key) or key == "spectrogram", f"no note says how {key!r} was computed"
        if a.ndim == 1:   # 1-D weights are labelled one by one
            assert len(pred.tokens[key]) == len(a)


@pytest.mark.parametrize("kind", ["blip-caption", "blip-vqa", "vilt", "clip"])
def test_image_maps_are_the_patch_grid(tiny, fresh_registry, kind):
    pred = load_tiny(tiny, kind).predict(**INPUTS[TASK_OF[kind]])
    assert pred.attention["image"].shape == (4, 4)        # 32 px images, 8 px patches
    assert pred.attention["image"].std() > 0              # the tiny models' attention is not flat
    if "text" in pred.attention:
        assert pred.tokens["text"] == ["what", "color", "is", "the", "shape", "?"]


def test_vilt_map_does_not_depend_on_its_random_patch_order(tiny, fresh_registry):
    """ViLT shuffles its image patches (torch.multinomial); the map puts each weight back on its cell."""
    model = load_tiny(tiny, "vilt")
    torch.manual_seed(1)
    a = model.predict(**INPUTS["vqa"])
    torch.manual_seed(2)
    b = model.predict(**INPUTS["vqa"])
    assert np.allclose(a.attention["image"], b.attention["image"], atol=1e-5)
    assert np.allclose(a.attention["text"], b.attention["text"], atol=1e-5) and a.output == b.output


def test_clip_map_is_drawn_on_the_square_it_sees(tiny, fresh_registry):
    from PIL import Image
    wide = Image.new("RGB", (90, 30), "white")
    pred = load_tiny(tiny, "clip").predict(image=wide, text="a cat, a dog")
    assert pred.extras.image.size == (30, 30) and pred.attention["image"].shape == (4, 4)


def test_caption_has_one_map_per_word(tiny, fresh_registry):
    pred = load_tiny(tiny, "blip-caption").predict(image=IMAGE)
    maps, words = pred.attention["words"], pred.tokens["words"]
    assert maps.shape == (len(words), 4, 4) and len(words) >= 1
    for m in maps:
        check_distribution(m)
    assert np.allclose(pred.attention["image"], maps.sum(0) / maps.sum(), atol=1e-5)
    assert all(w.strip() for w in words)


def test_rollout_is_the_product_of_residual_mixed_attention():
    torch.manual_seed(0)
    layers = [torch.rand(1, 2, 5, 5).softmax(-1) for _ in range(3)]
    expected = torch.eye(5)
    for a in layers:
        mixed = 0.5 * torch.eye(5) + 0.5 * a[0].mean(0)
        expected = (mixed / mixed.sum(-1, keepdim=True)) @ expected
    got = hf.rollout(layers, rows=range(5))
    assert torch.allclose(got, expected, atol=1e-6) and torch.allclose(got.sum(-1), torch.ones(5))
    assert torch.allclose(hf.rollout(layers, rows=(0, 3)), expected[[0, 3]], atol=1e-6)
    assert torch.allclose(hf.rollout([torch.eye(4)[None, None]] * 2, rows=range(4)), torch.eye(4))


def test_audio_weights_cover_only_the_recording(tiny, fresh_registry):
    ast, whisper = load_tiny(tiny, "ast"), load_tiny(tiny, "whisper")
    short, long = ast.predict(audio=tone(0.5)), ast.predict(audio=tone(1.2))
    assert len(short.attention["audio"]) < len(long.attention["audio"]) <= 12   # 10 ms frames, 16/10 patches
    assert long.attention["spectrogram"].shape == (2, len(long.attention["audio"]))
    assert whisper.predict(audio=tone(0.5)).attention["audio"].shape == (25,)    # 20 ms encoder frames
    assert whisper.predict(audio=tone(1.0)).attention["audio"].shape == (50,)


def test_bad_inputs_give_project_errors(tiny, fresh_registry):
    with pytest.raises(mmdemo.MMDemoError, match="at least two labels"):
        load_tiny(tiny, "clip").predict(image=IMAGE, text="cat")
    with pytest.raises(mmdemo.MMDemoError, match="No audio"):
        load_tiny(tiny, "ast").predict(audio=None)
    with pytest.raises(mmdemo.MMDemoError, match="empty"):
        load_tiny(tiny, "vilt").predict(image=IMAGE, text="  ")
    with pytest.raises(mmdemo.MMDemoError, match="No image"):
        load_tiny(tiny, "blip-caption").predict(image=None)


def test_hub_id_in_the_cache_loads_without_network(tiny, fresh_registry, tmp_path, monkeypatch):
    """A hub id whose files are in the Hugging Face cache: the same path a downloaded model takes."""
    import huggingface_hub.constants as hub_constants
    repo = tmp_path / "models--tiny-org--tiny-clip"
    shutil.copytree(tiny["clip"], repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    assert hf.availability("tiny-org/tiny-clip") == (True, "in the local Hugging Face cache")
    name = hf.register_backend("zeroshot", "tiny-org/tiny-clip")
    pred = mmdemo.load("zeroshot", name).predict(**INPUTS["zeroshot"])
    assert pred.output in ("a cat", "a red triangle", "a dog")


def test_uncached_hub_id_says_so_within_a_second_offline():
    t = time.perf_counter()
    ok, message = registry.availability("zeroshot", "clip")
    with pytest.raises(mmdemo.MMDemoError) as err:
        mmdemo.load("zeroshot", "clip")
    assert time.perf_counter() - t < 2
    assert not ok and str(err.value) == message
    assert "openai/clip-vit-base-patch32" in message and "hf download openai/clip-vit-base-patch32" in message
    assert "--backend" in message   # or a local folder


def test_uncached_hub_id_with_the_hub_allowed_is_checked_once_quickly(monkeypatch):
    """Online mode: one short request (1 s timeout, no retries) instead of transformers' retries."""
    import huggingface_hub.constants as hub_constants
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    t = time.perf_counter()
    ok, message = hf.availability("mmdemo-tests/no-such-model")   # unreachable here, 404 elsewhere
    assert time.perf_counter() - t < 2
    assert not ok and "hf download mmdemo-tests/no-such-model" in message


def test_model_choices_mark_what_is_not_downloaded(tiny, fresh_registry):
    from mmdemo.ui.components import model_choices, model_dropdown
    name = hf.register_backend("zeroshot", str(tiny["clip"]))
    choices = dict((value, label) for label, value in model_choices("zeroshot"))
    assert choices["clip"] == "clip (not downloaded)" and choices[name] == name
    assert model_dropdown("zeroshot", "Zero-shot model").value == "conse"   # starts on the offline default
    assert dict((v, lab) for lab, v in model_choices("vqa"))["easyvqa-gated"] == "easyvqa-gated"


def test_backend_flag_registers_folders(tiny, fresh_registry):
    names = hf.register_backend_specs([f"audio={tiny['ast']}", f"vqa={tiny['blip-vqa']}"])
    assert names[0] in mmdemo.list_models("audio") and names[1] in mmdemo.list_models("vqa")
    assert isinstance(mmdemo.load("vqa", names[1]), hf.BlipVQA)      # kind read from config.json
    with pytest.raises(mmdemo.MMDemoError, match="TASK=HUB_ID_OR_FOLDER"):
        hf.register_backend_specs(["zeroshot"])
    with pytest.raises(mmdemo.MMDemoError, match="No backend"):
        hf.register_backend("audio", str(tiny["clip"]))
    missing = hf.register_backend_specs(["zeroshot=/no/such/folder"])[0]
    with pytest.raises(mmdemo.MMDemoError, match="folder /no/such/folder does not exist"):
        mmdemo.load("zeroshot", missing)


def dropdowns(url: str) -> dict:
    config = json.load(urllib.request.urlopen(url + "config", timeout=10))
    return {c["props"]["label"]: c["props"] for c in config["components"]
            if c.get("type") == "dropdown" and "label" in c.get("props", {})}


def test_app_starts_on_builtin_models_and_marks_backends(app_url, client, example_image):
    from gradio_client import handle_file
    menus = dropdowns(app_url)
    assert ["clip (not downloaded)", "clip"] in menus["Zero-shot model"]["choices"]
    assert ["vilt (not downloaded)", "vilt"] in menus["VQA model"]["choices"]
    assert menus["VQA model"]["value"] == "easyvqa-gated"
    with pytest.raises(Exception, match="hf download openai/clip-vit-base-patch32"):
        client.predict(handle_file(str(example_image)), "a cat, a dog", "clip", api_name="/zeroshot")


def test_app_serves_local_folders_given_by_flag(tiny, tmp_path):
    """`app.py --backend TASK=FOLDER` end to end: zero-shot labels and a transcript for the text box."""
    from gradio_client import Client, handle_file
    import soundfile as sf
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--backend", f"zeroshot={tiny['clip']}",
                             "--backend", f"transcribe={tiny['whisper']}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "app.py did not start within 120 s"
                time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/"
        menu = dropdowns(url)["Zero-shot model"]
        assert menu["value"] == "conse" and [str(tiny["clip"])] * 2 in menu["choices"]
        client = Client(url, verbose=False)
        best, scores, heatmap, heat_note, _, _, _ = client.predict(handle_file(IMAGE), "a cat, a dog, a red triangle",
                                                             str(tiny["clip"]), api_name="/zeroshot")
        assert best in ("a cat", "a dog", "a red triangle") and scores["label"] == best
        assert inline_jpeg(heatmap).size == (256, 256) and "Chefer" in heat_note
        wav = tmp_path / "tone.wav"
        sf.write(wav, tone(1.0)[1], 16000)
        transcript, text_box, frames, _, note = client.predict(handle_file(str(wav)), str(tiny["whisper"]),
                                                               api_name="/transcribe")
        assert text_box == transcript and len(frames["data"]) == 50 and "cross-attention" in note
    finally:
        proc.terminate()
        proc.wait(timeout=20)
