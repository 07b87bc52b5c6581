"""Explanations (mmdemo/explain.py and the tasks' explain()): exact Shapley values and their efficiency,
the interaction index and EMAP on games whose answer is known, deletion/insertion on a known map,
seeded corruptions, the typed result and its export, and the endpoints."""
import json

import numpy as np
import pytest

from mmdemo import explain as ex
from mmdemo import paths
from mmdemo.errors import MMDemoError

EXAMPLES = paths.examples("classify")


def game(m, seed=0):
    return np.random.default_rng(seed).random(2 ** m)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_shapley_efficiency_on_random_games(m):
    v = game(m, m)
    assert abs(ex.shapley(v, m).sum() - (v[-1] - v[0])) < 1e-12


def test_shapley_and_interaction_of_known_games():
    masks = ex.subset_masks(3).numpy()
    additive = masks @ np.array([1.0, 2.0, 3.0])
    assert np.allclose(ex.shapley(additive, 3), [1, 2, 3])
    assert all(abs(x) < 1e-12 for x in ex.interaction_index(additive, ["a", "b", "c"]).values())
    both = (masks[:, 0] & masks[:, 1]).astype(float)        # a AND b: all interaction, c is a dummy
    assert np.allclose(ex.shapley(both, 3), [0.5, 0.5, 0])
    pairs = ex.interaction_index(both, ["a", "b", "c"])
    assert pairs["a x b"] == pytest.approx(1.0) and pairs["a x c"] == pytest.approx(0.0)


def test_emap_of_an_additive_function_has_no_non_additive_part():
    ref = np.random.default_rng(0).random((8, 2))
    x = np.array([0.3, 0.9])

    def score(rows):
        table = np.vstack([x, ref])
        return table[rows[:, 0], 0] * 2 + table[rows[:, 1], 1]
    e = ex.emap(score, 2, 8, np.random.default_rng(0))
    assert e["f"] == pytest.approx(1.5) and abs(e["non_additive"]) < 1e-12
    mult = ex.emap(lambda rows: np.vstack([x, ref])[rows[:, 0], 0] * np.vstack([x, ref])[rows[:, 1], 1],
                   2, 8, np.random.default_rng(0))
    assert abs(mult["non_additive"]) > 1e-3


def test_deletion_insertion_of_a_faithful_map_beats_random():
    importance = np.array([5.0, 3.0, 1.0, 0.5, 0.1, 0, 0, 0])
    curves = ex.deletion_insertion(lambda keep: keep @ importance / importance.sum(), importance,
                                   np.random.default_rng(0))
    assert curves["deletion"]["beat_random"] and curves["insertion"]["beat_random"]
    assert curves["deletion"]["map"][0] == pytest.approx(1.0) and curves["deletion"]["map"][-1] == pytest.approx(0.0)
    flipped = ex.deletion_insertion(lambda keep: keep @ importance / importance.sum(), -importance,
                                    np.random.default_rng(0))
    assert not flipped["deletion"]["beat_random"]


def test_corruptions_are_seeded_and_change_the_input():
    x = np.random.default_rng(0).random((1, 28, 28)).astype(np.float32)
    c = ex.Corruption(image_noise=0.3, image_occlusion=0.25, image_blur=1.0, seed=3)
    a, b = ex.corrupt_image(x, c, np.random.default_rng(3)), ex.corrupt_image(x, c, np.random.default_rng(3))
    assert np.array_equal(a, b) and not np.allclose(a, x)
    wave = np.sin(np.arange(16000) / 10).astype(np.float32)
    noisy = ex.corrupt_audio(wave, ex.Corruption(audio_snr_db=0, audio_mask=0.5), np.random.default_rng(0))
    assert (noisy == 0).sum() >= 8000 and not np.allclose(noisy[noisy != 0], wave[noisy != 0])
    talk = ex.Corruption(audio_snr_db=0, audio_noise="babble")
    b1, b2 = (ex.corrupt_audio(wave, talk, np.random.default_rng(5)) for _ in range(2))
    added = b1 - wave                                        # babble at 0 dB: as loud as the clip, seeded
    assert np.array_equal(b1, b2) and np.mean(added ** 2) == pytest.approx(np.mean(wave ** 2), rel=0.05)
    assert not np.allclose(b1, ex.corrupt_audio(wave, ex.Corruption(audio_snr_db=0), np.random.default_rng(5)))
    text = ex.corrupt_text("the number seven", ex.Corruption(text_drop=1.0, text_conflict="three"),
                           np.random.default_rng(0))
    assert text == "three"
    with pytest.raises(MMDemoError, match="Unknown corruption"):
        ex.Corruption.from_dict({"image_nois": 1})
    with pytest.raises(MMDemoError, match="Unknown explanation method.*'shap'"):
        ex.checked_methods(["weights", "shap"])
    assert ex.checked_methods("shapley") == ("shapley",)


def test_agreement_line_says_where_views_disagree():
    same = {"w": {"a": 0.7, "b": 0.3}, "s": {"a": 0.4, "b": 0.1}}
    assert "agree" in ex.agreement(same) and "disagree" not in ex.agreement(same)
    assert "disagree" in ex.agreement({"w": {"a": 0.7, "b": 0.3}, "s": {"a": 0.1, "b": 0.4}})
    near = ex.agreement({"w": {"a": 0.334, "b": 0.333, "c": 0.333}, "s": {"a": 0.2, "b": 0.5, "c": 0.1}})
    assert near.startswith("The 2 views agree up to near-ties") and "disagree" not in near      # a 0.001 gap
    assert ex.opposed({"w": {"a": 0.5, "b": 0.48}, "s": {"a": 0.1, "b": 0.4}}) == [("a", "b")]


@pytest.fixture(scope="module")
def classifier():
    import mmdemo
    return mmdemo.load("classify")


def test_classify_explain_efficiency_and_export(classifier, tmp_path):
    e = classifier.explain(image=str(EXAMPLES / "drawn_7.png"), text="seven", audio=str(EXAMPLES / "seven_jackson.wav"),
                           corruption={"image_noise": 0.4, "text_typos": 1.0, "seed": 2},
                           methods=("weights", "shapley", "ablation", "interaction", "faithfulness"))
    assert e.modalities == ["image", "text", "audio"]
    f_all, f_none = e.subset_values["image+text+audio"], e.subset_values["none"]
    assert f_all == pytest.approx(e.confidence, abs=1e-6) and f_none == pytest.approx(0.1)
    assert abs(sum(e.shapley.values()) - (f_all - f_none)) < 1e-5                # efficiency
    assert set(e.interaction) == {"image x text", "image x audio", "text x audio"}
    assert set(e.faithfulness) == {"image", "image (LayerCAM)", "text", "audio"}
    assert len(e.faithfulness["image (LayerCAM)"]["weights"]) == len(e.faithfulness["image"]["weights"]) == 49
    from mmdemo.ui.draw import curve_panels
    assert curve_panels(e.faithfulness).size == (2 * 300, 2 * 180)                     # a small plot per map
    from mmdemo.ui.explain import badges
    flat = {"deletion": {"auc_map": 1.0, "auc_random": 1.0, "beat_random": False}, "insertion": {"auc_map": 1.0, "auc_random": 1.0}}
    assert ex.verdict(flat) == "tie with random" and ex.verdict(e.faithfulness["audio"]) in badges(e)
    assert "agree" in e.agreement and e.notes["shapley"]
    data = json.loads(e.to_json())
    assert data["settings"]["corruption"]["image_noise"] == 0.4 and len(data["input_hash"]) == 16
    assert len(data["checkpoint_hash"]) == 16 and "inputs" not in data
    assert np.array(data["maps"]["image"]).shape == (7, 7) and len(data["maps"]["audio"]) > 10   # every map's numbers
    assert "".join(data["maps"]["text"]["words"]) == e.corrupted_text.replace(" ", "")
    again = classifier.explain(image=str(EXAMPLES / "drawn_7.png"), text="seven", audio=str(EXAMPLES / "seven_jackson.wav"),
                               corruption={"image_noise": 0.4, "text_typos": 1.0, "seed": 2}, methods=("shapley",))
    assert again.shapley == e.shapley and again.corrupted_text == e.corrupted_text != "seven"   # seeded
    assert e.figure().size == (4 * 4.2 * 90, 2 * 3.4 * 90)     # the views on top, then the 4 maps' curves in a row


def test_classify_layercam_map_is_faithful_and_leaves_the_shared_model_alone(classifier):
    from mmdemo.datasets.mnist import load_mnist
    images, labels = load_mnist("test")
    beat = []
    for i in range(10):          # MNIST test items 0-9, the image alone
        e = classifier.explain(image=images[i], methods=("faithfulness",))
        assert e.prediction == str(labels[i])
        cam = np.reshape(e.faithfulness["image (LayerCAM)"]["weights"], (7, 7))
        assert cam.min() >= 0 and cam.max() > 0
        beat.append(e.faithfulness["image (LayerCAM)"]["deletion"]["beat_random"])
    assert sum(beat) >= 9        # the gradient map's top cells matter more than random ones
    # the library hooks a private copy: no hooks or gradients left on the model other requests use
    assert all(p.grad is None for p in classifier.net.parameters())
    assert not any(m._forward_hooks or m._backward_hooks for m in classifier.net.modules())


def test_classify_variants_side_by_side(classifier):
    from mmdemo.tasks.classify.explain import compare_variants
    rows = compare_variants(classifier, image=str(EXAMPLES / "drawn_7.png"), text="seven")
    assert [r["variant"] for r in rows] == ["digits-gated", "digits-early", "digits-late", "digits-xattn"]
    for r in rows:
        assert abs(sum(r["fusion_weights"].values()) - 1) < 1e-4 and r["parameters"] > 0


def test_vqa_explain_efficiency_and_maps(vqa_model, example_image):
    e = vqa_model.explain(image=str(example_image), text="what color is the shape?",
                          corruption={"image_noise": 0.2, "seed": 1})
    assert e.modalities == ["image evidence", "question evidence"] and e.prediction == "red"
    f_all, f_none = e.subset_values["image evidence+question evidence"], e.subset_values["none"]
    assert abs(sum(e.shapley.values()) - (f_all - f_none)) < 1e-5                # efficiency
    assert set(e.faithfulness) == {"image", "words"} and e.emap["n_product"] == 256
    with pytest.raises(MMDemoError, match="no word the model can read"):
        vqa_model.explain(image=str(example_image), text="\u0301")         # no word piece left: no word map
    data = json.loads(e.to_json())
    assert abs(sum(e.fusion_weights.values()) - 1) < 1e-5 and data["task"] == "vqa"
    assert np.array(data["maps"]["image"]).shape == (8, 8) and data["maps"]["words"]["words"][:2] == ["what", "color"]


def test_explain_endpoints_return_the_object(client, example_image):
    from gradio_client import handle_file
    out = client.predict(handle_file(str(example_image)), "what color is the shape?", "easyvqa-gated",
                         0.3, 0.0, 0.0, 0.0, 0.0, "", 1, api_name="/explain_vqa")
    data = out[-1]
    assert data["task"] == "vqa" and data["settings"]["corruption"]["image_noise"] == 0.3
    assert abs(sum(data["shapley"].values()) - (data["subset_values"]["image evidence+question evidence"]
                                                 - data["subset_values"]["none"])) < 1e-5
    out = client.predict(None, handle_file(str(EXAMPLES / "drawn_7.png")), "seven", None, "digits-gated",
                         0.0, 0.0, 0.0, 40, "white", 0.0, 0.0, 0.0, "three", 0, api_name="/explain_classify")
    data = out[-3]
    assert data["prediction"] == "7" and data["corrupted_text"] == "seven three"
    assert set(data["shapley"]) == {"image", "text"}
    words = out[3]              # the corrupted text's word map, redrawn with the explanation
    assert [w["token"] for w in words] == ["seven", "three"] and max(w["class_or_confidence"] for w in words) == 1.0
    assert "corruption applied: text_conflict three" in out[6].lower()


def test_reliability_target_gives_a_damaged_branch_less_weight():
    import torch
    from mmdemo.tasks.classify.train import reliability_target
    y = torch.tensor([3, 3])
    uni = torch.full((2, 3, 10), -5.0)
    uni[:, :, 3] = 5.0                   # every branch sure of the true class ...
    uni[1, 0, 3] = -5.0                  # ... except image in row 1 (a damaged input: uniform)
    present = torch.tensor([[True, True, True], [True, True, True]])
    t = reliability_target(uni, y, present, temperature=0.1)
    assert torch.allclose(t[0], torch.full((3,), 1 / 3), atol=1e-4) and t[1, 0] < 0.01
    present[1, 2] = False                # an absent modality gets no weight
    assert reliability_target(uni, y, present, 0.1)[1, 2] == 0


def test_target_shift_measures_how_far_the_gates_target_falls(classifier):
    import torch
    from mmdemo.tasks.classify.robustness import target_shift
    net = classifier.net
    g = torch.Generator().manual_seed(0)
    clean = {m: torch.randn(40, d, generator=g) for m, d in zip(net.modalities, net.feat_dims)}
    y = torch.arange(40) % 10
    yes = {m: torch.ones(40, dtype=torch.bool) for m in net.modalities}
    same = target_shift(net, clean, clean, yes, y, temperatures=(0.01, 0.1))["gated"]
    assert all(abs(d) < 1e-6 for t in same.values() for d in t.values())        # nothing corrupted: no fall
    gone = target_shift(net, clean, clean, {**yes, "text": torch.zeros(40, dtype=torch.bool)}, y, (0.01,))["gated"]
    uni = net.variants["gated"]([clean[m] for m in net.modalities], torch.ones(40, 3, dtype=torch.bool))[2]
    from mmdemo.tasks.classify.train import reliability_target
    before = reliability_target(uni, y, torch.ones(40, 3, dtype=torch.bool), 0.01)[:, 1].mean()
    assert gone["0.01"]["text"] == pytest.approx(float(before), abs=1e-6)     # an absent text loses all its target


def test_weight_shift_warning_names_the_targets_own_fall(monkeypatch):
    from mmdemo.tasks.classify import robustness as rb
    shift = {"image": {"weight_drop": 0.25}, "text": {"weight_drop": 0.19}, "audio": {"weight_drop": 0.3}}
    saved = {"n": 500, "weight_shift": {"gated": shift, "early": shift},
             "target_shift": {"gated": {"0.002": {"image": 0.3, "text": 0.195, "audio": 0.3},
                                        "0.05": {"image": 0.2, "text": 0.18, "audio": 0.2}}}}
    monkeypatch.setattr(rb, "load_robustness", lambda name: (saved, name.rsplit("-", 1)[-1]))
    gated, early = rb.weight_shift_warning("digits-gated"), rb.weight_shift_warning("digits-early")
    assert "text +0.190" in gated and "at most text 0.195" in gated and "from 0.002 to 0.05" in gated
    assert "image" not in gated.split("(")[1] and "do not track corruption" in early
    saved["weight_shift"]["gated"] = {"text": {"weight_drop": 0.21}}
    assert rb.weight_shift_warning("digits-gated") == ""


def test_robustness_plot_marks_this_input(monkeypatch):
    from types import SimpleNamespace
    from mmdemo.tasks.classify import robustness as rb
    curves = {"image": {"setting": "image_noise", "levels": [0.0, 0.5, 1.0], "accuracy": [1.0, 0.8, 0.4]}}
    monkeypatch.setattr(rb, "load_robustness", lambda name: ({"curves": {"gated": curves}}, "gated"))
    clean = rb.robustness_plot(SimpleNamespace(model="digits-gated", confidence=0.9, settings={"corruption": {}}))
    assert clean.iloc[-1].to_dict() == {"level": 0.0, "accuracy": 0.9, "curve": "× this input's confidence (clean)"}
    assert clean["accuracy"].tolist()[:3] == [1.0, 0.8, 0.4]
    noisy = rb.robustness_plot(SimpleNamespace(model="digits-gated", confidence=0.5, settings={"corruption": {
        "image_noise": 0.5, "audio_snr_db": 0.0, "audio_noise": "babble", "image_blur": 1.0}}))
    marks = noisy[noisy["curve"].str.startswith("×")]
    assert marks["level"].tolist() == [0.5, pytest.approx(4 / 6)] and "babble" in marks["curve"].iloc[1]


def test_dataset_frames_from_a_saved_view():
    from mmdemo.ui.explain import dataset_frames
    view = {"metrics": ex.classification_metrics([0, 1, 1], [0, 1, 0], ["a", "b"]),
            "reliance_by_class": ex.reliance_by_group(np.array([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]]), ["x", "y"],
                                                      ["a", "b", "b"], [True, True, False])}
    confusion, per_class, shares, summary = dataset_frames(view, "reliance_by_class", ["x", "y"], "items", "none saved")
    assert confusion.axes[0].images[0].get_array().tolist() == [[1, 0], [1, 1]]          # rows = truth
    assert set(shares["group"]) == {"a (correct)", "b (correct)", "b (wrong)"}
    values = dict(zip(per_class["class"], per_class["value"]))
    assert values == {"a P": 0.5, "a R": 1.0, "a F": 0.6667, "b P": 1.0, "b R": 0.5, "b F": 0.6667}
    assert "accuracy 0.6667" in summary
    assert dataset_frames(None, "reliance_by_class", ["x", "y"], "items", "none saved")[3] == "none saved"


def test_vqa_dataset_view_endpoint(client):
    confusion, per_class, shares, summary = client.predict("easyvqa-gated", api_name="/vqa_dataset_view")
    assert "questions (easy-vqa test)" in summary and "accuracy" in summary
    assert confusion is not None and {"precision", "recall", "f1"} <= {r[2] for r in per_class["data"]}
