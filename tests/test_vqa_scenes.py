"""Scene VQA: the question programs compute the right answers, held-out templates and colour-noun pairs
stay out of training, the scenes-multihop checkpoint loads with shape checks and answers with one map per hop."""
import os
import re

import numpy as np
import pytest

from mmdemo.datasets.scenes import HELDOUT, box_cells
from mmdemo.tasks.vqa import scene_questions as sq
from mmdemo.ui.components import inline_jpeg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWO_HOP = os.path.join(ROOT, "examples", "vqa", "scene-two-hop.png")


def obj(noun, color, box):
    from mmdemo.datasets.scenes import centre, size_word
    return {"noun": noun, "color": color, "size": size_word(box), "box": box, "centre": centre(box)}


# a small blue seven, a large red triangle right of it, a small teal four top right, a small red circle below
SCENE = [obj("seven", "blue", (5, 50, 25, 70)), obj("triangle", "red", (40, 30, 76, 66)),
         obj("four", "teal", (80, 5, 95, 20)), obj("circle", "red", (30, 70, 50, 90))]


def test_filters_relations_and_properties_on_a_constructed_scene():
    assert sq.selected(SCENE, (None, None, "digit")) == [0, 2]
    assert sq.selected(SCENE, (None, "red", "object")) == [1, 3]
    assert sq.selected(SCENE, ("small", "red", "round")) == [3] and not sq.selected(SCENE, ("large", None, "round"))
    assert sq.selected(SCENE, (None, None, "odd")) == [0] and sq.selected(SCENE, (None, None, "even")) == [2]
    assert sq.related(SCENE, 1, "left") == [0, 3]         # the seven and the circle are left of the triangle
    assert sq.related(SCENE, 1, "above") == [2]           # the four is above it
    assert sq.related(SCENE, 0, "right") == [1, 2, 3]
    assert sq.related([obj("one", "red", (10, 10, 20, 20)), obj("two", "red", (12, 40, 22, 60))], 0, "left") is None


@pytest.mark.parametrize("kind", sq.KINDS)
def test_every_program_computes_its_answer(kind):
    """Re-derive each answer from the scene and the question's own record (its hops, its words)."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        q = sq.sample_question(rng, SCENE, kind)
        if q is None:
            continue
        assert q.answer in sq.ANSWERS and q.text.endswith(("?", "."))
        if kind.startswith("relate"):
            (b,), (i,) = q.hops
            rel = next(r for r, (words, _, _) in sq.RELATIONS.items() if f" {words} the " in q.text)
            assert i in sq.related(SCENE, b, rel)
            assert q.answer == SCENE[i]["color" if kind == "relate_color" else "noun"]
        elif kind in ("count", "count_not"):
            assert q.answer == str(len(q.hops[0]))
        elif kind in ("exist", "attr_pair"):
            assert q.answer == ("yes" if q.hops[0] else "no")
        elif kind == "not_exist":
            assert q.answer == ("no" if q.hops[0] else "yes")
        elif kind.startswith("query"):
            assert q.answer == SCENE[q.about][kind.split("_")[1]]
        elif kind in ("more", "fewer", "same"):
            na, nb = map(len, q.hops)
            assert q.answer == ("yes" if {"more": na > nb, "fewer": na < nb, "same": na == nb}[kind] else "no")


def test_prior_questions_need_no_image():
    rng = np.random.default_rng(1)
    for _ in range(30):
        q = sq.sample_question(rng, [], "prior_parity")
        digit = q.text.split()[1]
        assert q.answer == ("yes" if (digit in sq.ODD) == ("odd" in q.text) else "no")
    assert sq.sample_question(rng, [], "prior_sides").answer in ("0", "3", "4")


def test_heldout_templates_and_pairs_stay_out_of_training():
    for kind, (train, test) in sq.TEMPLATES.items():
        assert train and test and not set(train) & set(test), kind
    rng = np.random.default_rng(2)
    scene = SCENE + [obj("circle", "brown", (60, 70, 80, 90))]
    texts = [q.text for kind in sq.KINDS for extra in (False, True) for _ in range(30)
             if (q := sq.sample_question(rng, scene, kind, extra_templates=extra)) is not None]
    for kind, extra in sq.TRAIN_EXTRA.items():          # the training-only phrasings are not held-out ones
        assert not set(extra) & set(sq.TEMPLATES[kind][1]), kind
    assert len(texts) > 300
    heldout_texts = {t.format(a="X", b="Y", r="R", c="C", n="N", p="P", **{"as": "X", "bs": "Y"})
                     for _, test in sq.TEMPLATES.values() for t in test}
    for text in texts:
        assert not any(re.search(rf"\b{c} {n}s?\b(?!-)", text) for c, n in HELDOUT), text   # "teal four-sided" is no four
        assert "green round" not in text and "yellow four-sided" not in text and "brown three-sided" not in text
        assert text not in heldout_texts


def test_grounding_cells_cover_each_box():
    cells = box_cells(np.array([o["box"] for o in SCENE]))
    assert cells.shape == (4, 12, 12) and cells.any((1, 2)).all()


@pytest.fixture(scope="module")
def scene_model(one_torch_thread):
    import mmdemo
    return mmdemo.load("vqa", "scenes-multihop")


def test_checkpoint_loads_with_shape_checks(scene_model):
    from mmdemo import MMDemoError, checkpoint, paths
    from mmdemo.tasks.vqa.scene_model import SceneVQANet
    folder = paths.checkpoints("vqa-scenes")
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20 and (folder / "README.md").is_file()
    arch = dict(scene_model.config["architecture"], hops=scene_model.config["architecture"]["hops"] + 1)
    with pytest.raises(MMDemoError, match="does not fit"):
        checkpoint.load_weights(folder, SceneVQANet(**arch))
    assert scene_model.config["answers"] == sq.ANSWERS


def test_default_training_is_the_committed_recipe(scene_model):
    """`python -m mmdemo.train vqa --model scenes` reproduces checkpoints/vqa-scenes: train()'s defaults are
    the architecture flags and training settings its config records."""
    import inspect

    from mmdemo.tasks.vqa.scene_train import train
    defaults = {k: v.default for k, v in inspect.signature(train).parameters.items()}
    arch, t = scene_model.config["architecture"], scene_model.config["training"]
    for flag in ("relational", "count_evidence", "centre_counts", "compare_readout", "fit_guided"):
        assert arch.get(flag, False) == defaults[flag], flag
    assert t["epochs"] == 10 and defaults["epochs"] is None          # train(): epochs = epochs or 10
    for key in ("gate_cost", "count_weight", "attention_weight", "object_weight", "lr"):
        assert t[key] == defaults[key], key
    assert t["distinct_budget"] == defaults["distinct"]
    assert t["kind_weights"] == sq.TRAIN_KIND_WEIGHTS and t["lead_in_share"] == sq.LEAD_IN_SHARE


def test_frozen_cnn_is_the_captioners(scene_model):
    """Trained with a frozen CNN (the default): its image encoder is checkpoints/caption's, bit for bit."""
    from safetensors.torch import load_file

    from mmdemo import paths
    if not scene_model.config["training"].get("image_cnn", "").startswith("frozen"):
        pytest.skip("this checkpoint trained its CNN")
    caption = load_file(str(paths.checkpoints("caption") / "model.safetensors"))
    mine = load_file(str(paths.checkpoints("vqa-scenes") / "model.safetensors"))
    names = [k for k in caption if k.startswith("image.")]
    assert names and all(mine[k].equal(caption[k]) for k in names)


def test_predict_returns_a_map_and_word_weights_per_hop(scene_model):
    p = scene_model.predict(image=TWO_HOP, text="what colour is the digit left of the triangle?")
    hops = len(scene_model.net.hops)
    assert hops >= 2 and p.model == "scenes-multihop"
    for k in range(1, hops + 1):
        m = p.attention[f"hop{k}"]
        assert m.shape == (12, 12) and abs(m.sum() - 1) < 1e-4
        assert len(p.attention[f"hop{k} text"]) == len(p.tokens["text"])
    assert np.array_equal(p.attention["image"], p.attention[f"hop{hops}"])
    assert set(p.fusion_weights) == {"image", "question"} and abs(sum(p.fusion_weights.values()) - 1) < 1e-5
    assert "hop" in p.notes["image"] and "hop" in p.notes["text"]


@pytest.mark.data("mnist")
def test_two_hop_answer_finds_the_triangle_then_the_digit(scene_model):
    """examples/vqa/scene-two-hop.png is test scene 4 (scripts/vqa_scene_examples.py): the brown digit left of
    the only triangle. Hop 1 should put more of its mass on the triangle than on any other object (the
    committed checkpoint: 0.42 triangle, 0.36 rectangle, 0.22 zero; its single peak cell is on the rectangle),
    hop 2's peak should be on the digit."""
    from mmdemo.datasets.scenes import build
    data = build("test", 2000, 1)
    objects = sq.scene_objects(data, 4)
    p = scene_model.predict(image=data["images"][4], text="what colour is the digit left of the triangle?")
    assert p.output == "brown"
    digit = next(o for o in objects if o["color"] == "brown")
    mass = {o["noun"]: float((p.attention["hop1"] * box_cells(np.array(o["box"]))).sum()) for o in objects}
    assert max(mass, key=mass.get) == "triangle", mass
    peak = np.unravel_index(p.attention["hop2"].argmax(), (12, 12))
    assert box_cells(np.array(digit["box"]))[peak]


@pytest.mark.data("mnist")
def test_soft_counts_count_objects(scene_model):
    """Each hop's soft count is trained to fire once per object centre (the comparison questions read these
    counts): on 40 unseen test scenes, "how many objects are there?" - the last hop's count rounds to the
    number of objects in the scene for nearly every scene."""
    from mmdemo.datasets.scenes import build
    data = build("test", 2000, 1)
    n = 40
    out = scene_model.run(data["images"][:n], ["how many objects are there?"] * n, np.arange(n))
    counts = out["fits"][:, -1].sum(-1).numpy()
    truth = (data["nouns"][:n] >= 0).sum(1)
    assert (np.round(counts) == truth).mean() >= 0.9, (counts, truth)


def test_concurrent_requests_share_a_forward_pass(scene_model):
    """predict_batch (what the app's Batcher calls) answers each request as predict does, per hop; a bad
    question fails only its own request."""
    from mmdemo import MMDemoError
    questions = ["what colour is the digit left of the triangle?", "how many shapes are there?"]
    batch = scene_model.predict_batch([dict(image=TWO_HOP, text=q) for q in questions] + [dict(image=TWO_HOP, text="")])
    assert isinstance(batch[2], MMDemoError)
    for q, got in zip(questions, batch):
        alone = scene_model.predict(image=TWO_HOP, text=q)
        assert got.output == alone.output and got.attention.keys() == alone.attention.keys()
        assert got.fusion_weights == pytest.approx(alone.fusion_weights, abs=1e-5)     # each request its own gate
        for key in alone.attention:
            assert np.allclose(got.attention[key], alone.attention[key], atol=1e-5)


def test_explain_tests_every_hops_maps(scene_model):
    """The explanation tools of the VQA tab run on the scene model too: exact Shapley values of its two evidence
    branches, EMAP over unseen test scenes, deletion / insertion of each hop's region map and word weights."""
    e = scene_model.explain(image=TWO_HOP, text="what colour is the digit left of the triangle?",
                            corruption={"image_noise": 0.1, "seed": 1})
    assert e.prediction == "brown" and e.modalities == ["image evidence", "question evidence"]
    f_all, f_none = e.subset_values["image evidence+question evidence"], e.subset_values["none"]
    assert abs(sum(e.shapley.values()) - (f_all - f_none)) < 1e-5                  # efficiency
    assert f_all == pytest.approx(e.confidence, abs=1e-6)
    hops = len(scene_model.net.hops)
    assert set(e.faithfulness) == {f"{kind} (hop {k})" for kind in ("image", "words") for k in range(1, hops + 1)}
    assert e.faithfulness[f"image (hop {hops})"]["n_parts"] == 144 and e.maps["image (hop 1)"].shape == (12, 12)
    assert e.emap["n_reference"] == 16 and "unseen test scene" in e.notes["emap"] and "12x12" in e.notes["faithfulness"]
    assert e.fusion_weights == pytest.approx(dict(zip(e.modalities, scene_model.predict(
        image=TWO_HOP, text="what colour is the digit left of the triangle?").fusion_weights.values())), abs=0.05)


def test_explain_and_dataset_view_endpoints(client):
    from gradio_client import handle_file
    out = client.predict(handle_file(TWO_HOP), "what colour is the digit left of the triangle?", "scenes-multihop",
                         0.0, 0.0, 0.0, 0.0, 0.0, "", 0, api_name="/explain_vqa")
    data = out[-1]
    assert data["model"] == "scenes-multihop" and data["prediction"] == "brown" and "image (hop 2)" in data["faithfulness"]
    strip = inline_jpeg(out[0])
    assert strip.width > 1.5 * strip.height                                  # every hop's map, side by side
    assert sum(1 for t in out[2] if t["token"].startswith("hop ")) == len(data["maps"]) // 2
    confusion, per_class, shares, summary = client.predict("scenes-multihop", api_name="/vqa_dataset_view")
    assert "unseen test scenes" in summary and confusion is not None
    groups = {r[0] for r in shares["data"]}
    assert {"relation (correct)", "relation (wrong)", "prior (correct)"} <= groups          # per question family


def test_panel_shows_every_hop(client):
    from gradio_client import handle_file
    answer, top5, strip, words, _, heat_note, _, _ = client.predict(
        handle_file(TWO_HOP), "what colour is the digit left of the triangle?", "scenes-multihop", api_name="/vqa")
    assert answer == "brown" and top5["label"] == "brown"
    assert inline_jpeg(strip).width > 1.5 * inline_jpeg(strip).height      # the hops side by side
    tokens = [t["token"] if isinstance(t, dict) else t[0] for t in words]
    assert tokens.count("hop 1:") == 1 and tokens.count("hop 2:") == 1 and "hop" in heat_note


def test_easyvqa_conjunctions_need_both_attributes():
    """The easy-VQA paraphrases' new kinds: "is it a red circle?" is yes only when both hold, and the no's
    mostly have one of the two right (so one attribute alone cannot answer)."""
    from mmdemo.datasets.easyvqa import TEST_PARAPHRASES, TRAIN_PARAPHRASES, make_paraphrases, paraphrase_kinds
    attributes = [("circle", "red"), ("triangle", "blue"), ("rectangle", "teal")] * 20
    both = [t for t in TEST_PARAPHRASES if t[1] in ("both", "not_both")]
    qs, answers, rows = make_paraphrases(both, attributes, 20, seed=0)
    for q, a, r, kind in zip(qs, answers, rows, paraphrase_kinds(both, 20)):
        shape, color = attributes[r]
        has = f"{color} {shape}" in q
        assert a == ("yes" if has != (kind == "not_both") else "no"), q
    half_right = sum((attributes[r][0] in q) != (attributes[r][1] in q) for q, r in zip(qs, rows))
    assert half_right > 0.4 * len(qs)
    kinds = {k.partition(":")[0] for _, k in TRAIN_PARAPHRASES} & {k.partition(":")[0] for _, k in TEST_PARAPHRASES}
    assert {"both", "not_both", "not_shape", "has_shape"} <= kinds
