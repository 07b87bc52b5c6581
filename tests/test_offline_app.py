"""The offline pretrained models in the registry and the app: Whisper tiny.en is the default
recogniser (per-word maps), the Photos task (EfficientNet-Lite0 + Grad-CAM + deletion check),
ConSE is the default zero-shot model (ImageNet-class table), none of them is built at app start,
and a spoken question fills the shared text box and gets a VQA answer (ask by voice)."""
import shutil
import subprocess

import numpy as np
import pytest
from gradio_client import handle_file

import mmdemo
from mmdemo import registry
from mmdemo.paths import ROOT

PHOTOS = ROOT / "examples" / "photos"
OFFLINE = [("transcribe", "whisper-tiny-en"), ("photo", "efficientnet-lite0"), ("zeroshot", "conse")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.mark.parametrize("task, name", OFFLINE)
def test_offline_models_are_the_defaults_and_not_warmed_at_start(task, name):
    assert mmdemo.list_models(task)[0] == name and not registry.warm(task, name)
    assert registry.warm("vqa", "easyvqa-gated")


def test_warm_up_skips_the_cold_models(monkeypatch):
    from mmdemo.app import warm_up
    built = []
    monkeypatch.setattr(registry, "load", lambda task, name=None: built.append((task, name)))
    warm_up()
    assert ("vqa", "easyvqa-gated") in built and not set(built) & set(OFFLINE)
    assert not {task for task, _ in built} & {"transcribe", "photo", "zeroshot"}   # no Hub model instead either


def test_transcript_with_a_map_per_word():
    pred = mmdemo.load("transcribe").predict(audio=str(ROOT / "examples" / "classify" / "three_theo.wav"))
    assert "three" in pred.output.lower() and pred.model == "whisper-tiny-en"
    words = pred.attention["words"]
    assert words.shape == (len(pred.tokens["words"]), len(pred.extras.seconds)) and len(pred.tokens["words"]) >= 1
    assert np.allclose(words.sum(1), 1, atol=1e-4) and np.isclose(pred.attention["audio"].sum(), 1, atol=1e-4)
    assert "alignment heads" in pred.notes["audio"]


def test_photo_top5_and_grad_cam():
    pred = mmdemo.load("photo").predict(image=str(PHOTOS / "chelsea-cat.jpg"))
    assert pred.output in ("tiger cat", "Egyptian cat", "tabby") and len(pred.scores) == 5
    assert pred.attention["image"].shape == (224, 224) and pred.extras.crop.size == (224, 224)
    assert "Grad-CAM" in pred.notes["image"] and "pytorch-grad-cam" in pred.notes["image"]


def test_conse_zero_shot_names_the_imagenet_classes_behind_the_match():
    pred = mmdemo.load("zeroshot").predict(image=str(PHOTOS / "coffee.jpg"), text="a cat, a cup of coffee, a rocket")
    assert pred.output == "a cup of coffee" and list(pred.scores)[0] == "a cup of coffee"
    assert sum(row["contribution"] for row in pred.extras.classes) == pytest.approx(pred.scores["a cup of coffee"],
                                                                                   abs=1e-3)
    assert pred.attention["image"].shape == (224, 224) and pred.extras.top_class in pred.notes["image"]


def test_conse_shares_the_process_minilm():
    from mmdemo.backends import conse
    from mmdemo.nn.text import MiniLMEncoder
    assert conse.get_text_encoder().model is MiniLMEncoder.shared().model


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt)")
def test_a_spoken_question_fills_the_text_box_and_is_answered(client, example_image, tmp_path):
    wav = tmp_path / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "What color is the shape?"], check=True)
    text, heard = client.predict(handle_file(str(wav)), api_name="/ask_by_voice")
    assert "color is the shape" in text.lower() and "text box now holds it" in heard
    answer = client.predict(handle_file(str(example_image)), text, "easyvqa-gated", api_name="/vqa")[0]
    assert answer == "red"                   # easy-VQA test image 0: a red triangle


def test_a_spoken_search_query_finds_that_digit(client, tmp_path):
    """Ask by voice fills the shared text box; the Search tab (query with: text) reads it."""
    wav = tmp_path / "query.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "I am looking for the digit seven."], check=True)
    text, _ = client.predict(handle_file(str(wav)), api_name="/ask_by_voice")
    assert "seven" in text.lower() or "7" in text      # Whisper tiny.en writes "the digits 7." here
    table = client.predict(None, text, None, "text", "mnist-test", 5, None, "", "digits", "digits-scenes",
                           api_name="/retrieve")[0]
    classes = [row[table["headers"].index("class / caption")] for row in table["data"]]
    assert len(classes) == 5 and all(str(c) == "7" for c in classes), classes


def test_ask_by_voice_without_a_recording_says_so(client):
    with pytest.raises(Exception, match="Record or upload a voice"):
        client.predict(None, api_name="/ask_by_voice")


def test_photos_tab_recognises_and_checks_its_map(client):
    photo = handle_file(str(PHOTOS / "chelsea-cat.jpg"))
    best, top5, heatmap, heat_note, _ = client.predict(photo, "efficientnet-lite0", api_name="/photo")
    assert best == top5["label"] and len(top5["confidences"]) == 5 and "Grad-CAM" in heat_note
    check = client.predict(photo, "efficientnet-lite0", api_name="/check_map")
    assert "Deletion AUC" in check and "random order" in check


def test_audio_tab_transcribes_offline_with_a_map_per_word(client):
    wav = handle_file(str(ROOT / "examples" / "classify" / "three_theo.wav"))
    transcript, text_box, frames, words_picture, note = client.predict(wav, "whisper-tiny-en", api_name="/transcribe")
    assert "three" in transcript.lower() and text_box == transcript and "alignment heads" in note
    assert frames["data"] and words_picture is not None
