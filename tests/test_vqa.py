import json
import shutil

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import load_file, save_file

from mmdemo import MMDemoError, Prediction, paths
from mmdemo.datasets.easyvqa import ORIGINAL_TEST_TEMPLATES, TEST_PARAPHRASES, load_split, make_paraphrases
from mmdemo.tasks.vqa.evaluate import evaluate as evaluate_vqa
from mmdemo.tasks.vqa.model import VQAModel


def test_prediction_contract(vqa_model, example_image):
    pred = vqa_model.predict(image=Image.open(example_image), text="what is the red shape?")
    assert isinstance(pred, Prediction) and pred.task == "vqa" and pred.model == "easyvqa-gated"
    assert pred.output == "triangle"
    assert pred.output == max(pred.scores, key=pred.scores.get)
    assert 1 <= len(pred.scores) <= 5 and sum(pred.scores.values()) <= 1 + 1e-6
    assert set(pred.fusion_weights) == {"image", "question"}
    assert sum(pred.fusion_weights.values()) == pytest.approx(1, abs=1e-5)
    assert all(0 <= w <= 1 for w in pred.fusion_weights.values())
    heat = pred.attention["image"]
    assert heat.shape == (8, 8) and heat.min() >= 0 and heat.max() <= 1
    assert heat.sum() == pytest.approx(1, abs=1e-4)               # a softmax over the regions
    words = pred.attention["text"]
    assert pred.tokens["text"] == ["what", "is", "the", "red", "shape", "?"]
    assert words.shape == (6,) and words.min() >= 0 and words.max() <= 1
    assert set(pred.notes) >= {"image", "text", "fusion"}


def test_attention_peaks_on_the_shape(vqa_model, example_image):
    img = np.asarray(Image.open(example_image).convert("RGB"))
    on_shape = (np.abs(img.astype(int) - 255).sum(-1) > 60)                # not the white background
    cells = on_shape.reshape(8, 8, 8, 8).mean((1, 3))                      # fraction of each 8x8 cell
    heat = vqa_model.predict(image=img, text="what color is the shape?").attention["image"]
    assert cells.flat[heat.argmax()] > 0


def test_same_answer_for_pil_array_and_path(vqa_model, example_image):
    q = "is there a triangle?"
    answers = {vqa_model.predict(image=x, text=q).output
               for x in (Image.open(example_image), np.asarray(Image.open(example_image)), str(example_image))}
    assert answers == {"yes"}


def test_other_sizes_and_modes_are_answered(vqa_model, example_image):
    img = Image.open(example_image).convert("RGB")
    for variant in (img.resize((1, 1)), img.resize((640, 480)), img.convert("L"), img.convert("RGBA")):
        pred = vqa_model.predict(image=variant, text="what color is the shape?")
        assert pred.output in vqa_model.answers


@pytest.mark.parametrize("kwargs, message", [
    ({"text": "what color?"}, "No image"),
    ({"image": "EXAMPLE", "text": ""}, "empty"),
    ({"image": "EXAMPLE", "text": None}, "No question"),
    ({"image": b"not an image", "text": "what color?"}, "not an image"),
    ({"image": "EXAMPLE", "text": "x" * 5000}, "limit"),
])
def test_bad_input_raises_project_error(vqa_model, example_image, kwargs, message):
    kwargs = {k: (str(example_image) if v == "EXAMPLE" else v) for k, v in kwargs.items()}
    with pytest.raises(MMDemoError, match=message):
        vqa_model.predict(**kwargs)


def test_committed_checkpoint_quality_on_fixed_slice(vqa_model):
    metrics = evaluate_vqa(vqa_model, limit=2000)       # the first 2,000 official test questions
    assert metrics["n"] == 2000
    assert metrics["accuracy"] >= 0.99
    assert min(metrics["accuracy_per_type"].values()) >= 0.97
    assert metrics["grounding"]["peak_on_object"] >= 0.9            # the heatmap points at the shape
    assert metrics["paraphrases"]["n"] == 10 * ORIGINAL_TEST_TEMPLATES >= 500   # the published 56 templates
    assert metrics["paraphrases_all"]["n"] == 10 * len(TEST_PARAPHRASES)
    # the original templates' questions are the same with or without the new ones after them
    assert metrics["paraphrases"]["accuracy"] == pytest.approx(
        json.loads((paths.checkpoints("vqa") / "config.json").read_text())["metrics"]["paraphrases"]["accuracy"])


def test_model_card_reports_the_committed_metrics():
    folder = paths.checkpoints("vqa")
    config = json.loads((folder / "config.json").read_text())
    card = (folder / "README.md").read_text()
    assert f"{config['metrics']['accuracy']:.4f}" in card
    assert "MIT" in card and "easy-VQA" in card
    assert (folder / "model.safetensors").stat().st_size <= 10 * 2**20


def test_checkpoint_shapes_are_checked(tmp_path):
    src = paths.checkpoints("vqa")
    shutil.copy(src / "config.json", tmp_path / "config.json")
    state = load_file(str(src / "model.safetensors"))
    state["head.2.weight"] = state["head.2.weight"][:5]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(MMDemoError, match="does not fit"):
        VQAModel.from_checkpoint(tmp_path, "broken")
    with pytest.raises(MMDemoError, match="config.json is missing"):
        VQAModel.from_checkpoint(tmp_path / "nowhere", "missing")


def test_paraphrase_sets_are_deterministic_and_disjoint():
    from mmdemo.datasets.easyvqa import TRAIN_PARAPHRASES
    test = load_split("test")
    a = make_paraphrases(TEST_PARAPHRASES, test.attributes, 10, seed=0)
    b = make_paraphrases(TEST_PARAPHRASES, test.attributes, 10, seed=0)
    assert a[0] == b[0] and a[1] == b[1] and np.array_equal(a[2], b[2])
    assert not {t for t, _ in TEST_PARAPHRASES} & {t for t, _ in TRAIN_PARAPHRASES}
    assert len(TEST_PARAPHRASES) >= 50


def test_default_training_templates_are_the_committed_checkpoints():
    """`python -m mmdemo.train vqa` reproduces checkpoints/vqa: its defaults are the recipe the config records."""
    import inspect

    from mmdemo.datasets.easyvqa import TRAIN_PARAPHRASES, train_paraphrases
    from mmdemo.tasks.vqa.train import train
    config = json.loads((paths.checkpoints("vqa") / "config.json").read_text())["training"]
    defaults = {k: v.default for k, v in inspect.signature(train).parameters.items()}
    assert config["paraphrase_set"] == defaults["paraphrases"] == "extended"
    assert config["image_noise"] == defaults["image_noise"] > 0
    assert config["drop_question_marks"] == defaults["drop_question_marks"]
    assert len(train_paraphrases(config["paraphrase_set"])) == config["paraphrase_templates"]
    assert train_paraphrases("extended") == TRAIN_PARAPHRASES
    with pytest.raises(ValueError):
        train_paraphrases("more")
