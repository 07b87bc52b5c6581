"""Tri-modal classification: contract, the committed checkpoint's quality on fixed slices, every
modality subset, drawn digits, the bring-your-own-data trainer (tiny generated data), bad
manifests, and /classify end to end through gradio_client."""
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image, ImageDraw

import mmdemo
from mmdemo.tasks.classify import data as digits
from mmdemo import checkpoint, paths
from mmdemo.errors import MMDemoError

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["digits-gated", "digits-early", "digits-late", "digits-xattn"]


def draw_digit(digit: int, size: int = 280) -> Image.Image:
    """A digit drawn like a person on the sketchpad: thick black strokes on white, off-centre."""
    img = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(img)
    s = size / 280
    strokes = {
        0: lambda: d.ellipse([90 * s, 50 * s, 190 * s, 230 * s], outline="black", width=int(18 * s)),
        1: lambda: d.line([(150 * s, 40 * s), (150 * s, 240 * s)], fill="black", width=int(18 * s)),
        7: lambda: d.line([(80 * s, 50 * s), (200 * s, 50 * s), (120 * s, 240 * s)], fill="black",
                          width=int(18 * s), joint="curve"),
    }
    strokes[digit]()
    return img


@pytest.fixture(scope="module")
def model():
    return mmdemo.load("classify")


@pytest.fixture(scope="module")
def seven_wav() -> Path:
    return paths.dataset("fsdd") / "recordings" / "7_jackson_0.wav"   # FSDD official test split (index 0)


# ---- contract

def test_registry_has_the_fusion_family():
    names = mmdemo.list_models("classify")
    assert names[0] == "digits-gated"
    assert set(VARIANTS) <= set(names)


@pytest.mark.data('fsdd')
@pytest.mark.parametrize("name", VARIANTS)
def test_prediction_contract(name, seven_wav):
    pred = mmdemo.load("classify", name).predict(image=draw_digit(7), text="seven", audio=str(seven_wav))
    assert pred.task == "classify" and pred.model == name
    assert pred.output == "7"
    assert abs(sum(pred.scores.values()) - 1) < 0.05 or len(pred.scores) == 5
    assert set(pred.fusion_weights) == {"image", "text", "audio"}
    assert abs(sum(pred.fusion_weights.values()) - 1) < 1e-4
    assert all(w >= 0 for w in pred.fusion_weights.values())
    assert pred.attention["image"].shape == (7, 7) and abs(pred.attention["image"].sum() - 1) < 1e-4
    assert pred.tokens["text"] == ["seven"] and abs(pred.attention["text"].sum() - 1) < 1e-4
    assert pred.attention["audio"].shape == (pred.extras.mel.shape[1],)
    assert abs(pred.attention["audio"].sum() - 1) < 1e-4
    assert set(pred.extras.unimodal) == {"image", "text", "audio"}
    assert set(pred.extras.ablation) == {"image", "text", "audio"}
    assert {"fusion", "ablation", "image", "text", "audio"} <= set(pred.notes)


def test_late_fusion_weights_are_the_learned_alpha(model):
    late = mmdemo.load("classify", "digits-late")
    a = late.predict(text="seven", image=draw_digit(7)).fusion_weights
    b = late.predict(text="one", image=draw_digit(1)).fusion_weights
    assert a == pytest.approx(b)             # alpha is a parameter, the same for every request
    assert a["audio"] == 0.0


# ---- every subset of the three inputs

@pytest.mark.data('fsdd')
@pytest.mark.parametrize("subset", [s for k in (1, 2, 3) for s in itertools.combinations(("image", "text", "audio"), k)])
def test_each_modality_subset(subset, model, seven_wav):
    from mmdemo.datasets.mnist import load_mnist
    images, labels = load_mnist("test")
    assert labels[0] == 7
    given = {"image": images[0], "text": "the number sevn", "audio": str(seven_wav)}
    pred = model.predict(**{m: given[m] for m in subset})
    assert pred.output == "7"
    for m in ("image", "text", "audio"):
        if m not in subset:
            assert pred.fusion_weights[m] == 0.0
        assert (m in pred.attention) == (m in subset)
    assert abs(sum(pred.fusion_weights.values()) - 1) < 1e-4
    assert set(pred.extras.ablation) == (set(subset) if len(subset) > 1 else set())


def test_no_input_and_bad_input_are_refused(model):
    with pytest.raises(MMDemoError, match="at least one"):
        model.predict()
    with pytest.raises(MMDemoError, match="at least one"):
        model.predict(text="   ")
    with pytest.raises(MMDemoError, match="blank"):
        model.predict(image=Image.new("RGB", (50, 50), "white"))
    with pytest.raises(MMDemoError):
        model.predict(audio=(16000, np.array([np.nan, 0.0])))


# ---- drawn digits (sketchpad: black strokes on white, anywhere on a big canvas)

def test_mnist_like_centres_and_scales():
    x = digits.mnist_like(draw_digit(1))
    assert x.shape == (28, 28) and x.max() == pytest.approx(1.0)
    ys, xs = np.nonzero(x > 0.2)
    assert ys.max() - ys.min() + 1 in (19, 20, 21)          # tall side scaled to 20 px
    cy, cx = np.argwhere(x > 0).mean(0)
    assert abs(cy - 13.5) < 2 and abs(cx - 13.5) < 2        # centred
    assert x[0].max() == 0 and x[:, 0].max() == 0           # white background became black


def test_sketchpad_value_is_unwrapped_by_the_ui():
    from mmdemo.ui.components import drawn_image
    rgba = draw_digit(7).convert("RGBA")
    picture = drawn_image({"background": None, "layers": [rgba], "composite": rgba})
    assert digits.mnist_like(picture).shape == (28, 28)                      # models see a picture, not a dict
    blank = Image.new("RGBA", (280, 280), (255, 255, 255, 255))
    assert drawn_image({"background": None, "layers": [], "composite": blank}) is None   # nothing drawn
    assert drawn_image(None) is None


@pytest.mark.parametrize("digit", [0, 1, 7])
def test_drawn_digit_is_recognised(model, digit):
    assert model.predict(image=draw_digit(digit)).output == str(digit)


# ---- the committed checkpoint on fixed slices

@pytest.mark.data('mnist')
def test_image_and_text_heads_on_fixed_slices(model):
    import torch
    from mmdemo.datasets.mnist import load_mnist
    from mmdemo.tasks.classify.model import encode_all
    images, labels = load_mnist("test")
    _, logits = encode_all(model.net, "image", images[:1000, None].astype(np.float32) / 255)
    assert float((logits.argmax(1).numpy() == labels[:1000]).mean()) >= 0.985
    texts, y = digits.digit_texts(500, seed=1)
    _, logits = encode_all(model.net, "text", texts)
    assert float((logits.argmax(1).numpy() == y).mean()) >= 0.95
    assert torch.is_tensor(logits)


@pytest.mark.data('mnist', 'fsdd')
def test_fusion_beats_unimodal_under_corruption(model):
    from mmdemo.tasks.classify.evaluate import evaluate_digits as evaluate_classify
    m = evaluate_classify(model, limit=400)
    r = m["variants"]["digits-gated"]
    assert m["unimodal"]["clean"]["audio"] >= 0.9                      # FSDD official test split, 250 clips
    assert r["clean"] >= 0.98
    assert r["corrupted"] >= max(m["unimodal"]["corrupted"].values()) + 0.05
    for k in ("image", "text", "audio"):
        others = max(v for x, v in m["unimodal"]["corrupted"].items() if x != k)
        assert r[f"corrupted_without_{k}"] >= others - 0.03


# ---- bring your own data

def make_dataset(folder: Path, n_per_class: int = 16) -> Path:
    """Two classes that every modality can tell apart: red circles / blue squares, "cat ..." /
    "dog ..." texts, low / high whistles (16 kHz WAV)."""
    rng = np.random.default_rng(0)
    lines = []
    for k, (label, colour, word, freq) in enumerate([("cat", "red", "cat", 300), ("dog", "blue", "dog", 1200)]):
        for i in range(n_per_class):
            img = Image.new("RGB", (40, 40), "white")
            box = [int(v) for v in rng.integers(2, 12, 2)] + [int(v) for v in rng.integers(26, 38, 2)]
            (ImageDraw.Draw(img).ellipse if k == 0 else ImageDraw.Draw(img).rectangle)(box, fill=colour)
            img.save(folder / f"{label}{i}.png")
            t = np.arange(int(16000 * rng.uniform(0.3, 0.6))) / 16000
            sf.write(folder / f"{label}{i}.wav", (0.3 * np.sin(2 * np.pi * freq * rng.uniform(0.9, 1.1) * t)).astype(np.float32), 16000)
            item = {"image": f"{label}{i}.png", "text": f"a {word} number {i}", "audio": f"{label}{i}.wav", "label": label}
            if i % 5 == 1:
                del item["audio"]       # items may lack modalities
            lines.append(json.dumps(item))
    (folder / "data.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "data.jsonl"


def test_manifest_training_end_to_end(tmp_path):
    from mmdemo.tasks.classify.model import TriModalClassifier, discover, register_folder
    from mmdemo.tasks.classify.byod import train_manifest
    manifest = make_dataset(tmp_path)
    out = tmp_path / "mydata"
    trained = train_manifest(manifest, epochs=8)
    checkpoint.save(out, **vars(trained))
    metrics = trained.config["metrics"]
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert metrics["n_val"] > 0 and metrics["validation_accuracy"]["gated"] >= 0.85
    discover(tmp_path)                       # what the app does with checkpoints/ at start-up
    assert {"mydata-gated", "mydata-early", "mydata-late", "mydata-xattn"} <= set(mmdemo.list_models("classify"))
    with pytest.raises(MMDemoError, match="not a classifier"):
        register_folder(ROOT / "checkpoints" / "vqa")
    m = mmdemo.load("classify", "mydata-gated")
    assert isinstance(m, TriModalClassifier) and m.classes == ["cat", "dog"]
    pred = m.predict(text="a dog number 3", image=str(tmp_path / "dog3.png"), audio=str(tmp_path / "dog3.wav"))
    assert pred.output == "dog" and abs(sum(pred.fusion_weights.values()) - 1) < 1e-4
    assert pred.attention["image"].shape == (8, 8)
    from mmdemo.tasks.classify.robustness import load_robustness, robustness, robustness_file
    assert robustness_file(m) == out.resolve() / "robustness.json"      # its own, never the built-in one's
    assert load_robustness("mydata-gated") == (None, "gated")
    with pytest.raises(MMDemoError, match="not a digits model"):
        robustness(m)


def write(tmp_path, rows) -> Path:
    p = tmp_path / "m.jsonl"
    p.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return p


@pytest.mark.parametrize("rows, message", [
    ([{"text": "a", "label": "x"}, {"image": "nope.png", "label": "y"}], r"line 2: image 'nope.png': File not found"),
    ([{"text": "a", "label": "x"}, {"audio": "bad.wav", "label": "y"}], r"line 2: audio 'bad.wav': Cannot read"),
    ([{"text": "a", "label": ""}, {"text": "b", "label": "y"}], r"line 1: empty or missing label"),
    ([{"text": "a", "label": "x"}, {"text": "b"}], r"line 2: empty or missing label"),
    ([{"text": "a", "label": "x"}, {"text": "b", "label": "x"}], r"one class only"),
    ([], r"no items"),
    (['{"text": "a", "label": "x"', {"text": "b", "label": "y"}], r"line 1: not valid JSON"),
    ([{"text": "a", "label": "x"}, {"label": "y"}], r"line 2: no image, text or audio"),
    ([{"text": "a", "label": "x"}, {"txt": "b", "label": "y"}], r"line 2: unknown field"),
])
def test_bad_manifest_names_line_and_problem(tmp_path, rows, message):
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEnot really audio")
    with pytest.raises(MMDemoError, match=message):
        digits.read_manifest(write(tmp_path, rows))


def test_bad_manifest_cli_message(tmp_path):
    p = write(tmp_path, [{"text": "a", "label": "x"}, {"image": "gone.png", "label": "y"}])
    r = subprocess.run([sys.executable, "-m", "mmdemo.train", "classify", "--manifest", str(p), "--out",
                        str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "line 2" in r.stderr and "gone.png" in r.stderr and "Traceback" not in r.stderr


def test_app_refuses_a_folder_that_is_not_a_classifier(tmp_path):
    r = subprocess.run([sys.executable, "app.py", "--classifier", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "config.json is missing" in r.stderr


# ---- end to end through the app

@pytest.mark.data('fsdd')
def test_classify_endpoint_with_wav_and_drawing(client, tmp_path, seven_wav):
    from gradio_client import handle_file
    drawing = tmp_path / "seven.png"
    draw_digit(7).save(drawing)
    sketch = {"background": None, "layers": [], "composite": handle_file(str(drawing))}
    out = client.predict(sketch, None, "sevn", handle_file(str(seven_wav)), "digits-gated", api_name="/classify")
    label, unimodal, fusion, fusion_note, ablation = out[:5]
    assert label["label"] == "7"
    assert [row[0] for row in unimodal["data"]] == ["image only", "text only", "audio only", "fused"]
    assert [row[0] for row in ablation["data"]] == ["nothing", "image", "text", "audio"]
    assert "gating network" in fusion_note
    assert out[6] is not None and out[8] and out[10] is not None     # image map, word weights, audio picture


def test_classify_endpoint_refuses_nothing(client):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="at least one"):
        client.predict(None, None, "", None, "digits-gated", api_name="/classify")
