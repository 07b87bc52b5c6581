"""Search in a shared space: the loss, the exact region split, the index, user galleries and their limits,
the committed model's contract, and /retrieve end to end."""
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import mmdemo
from mmdemo import MMDemoError, Prediction, paths
from mmdemo.tasks.retrieve.gallery import MAX_GALLERY_FILES, VectorIndex, user_items
from mmdemo.tasks.retrieve.model import RetrieveNet, Tower, info_nce, region_terms
from mmdemo.tasks.retrieve.train import perturb

DRAWN = {d: str(paths.examples("classify", f"drawn_{d}.png")) for d in (0, 1, 7)}
SCENE = str(paths.examples("caption", "scene-two-objects.png"))


@pytest.fixture(scope="module")
def model():
    return mmdemo.load("retrieve")


def test_info_nce_is_clips_loss_with_one_positive_each():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(8, 16), dim=-1), F.normalize(torch.randn(8, 16), dim=-1)
    scale = torch.tensor(10.0)
    logits = scale * a @ b.T
    clip = (F.cross_entropy(logits, torch.arange(8)) + F.cross_entropy(logits.T, torch.arange(8))) / 2
    assert torch.allclose(info_nce(a, b, scale, torch.eye(8, dtype=torch.bool)), clip, atol=1e-6)
    # an extra negative only adds to the loss, a near copy of an anchor more than its opposite
    eye = torch.eye(8, dtype=torch.bool)
    base = info_nce(a, b, scale, eye)
    near, far = info_nce(a, b, scale, eye, F.normalize(a[:1] + 0.01, dim=-1)), info_nce(a, b, scale, eye, -a[:1])
    assert near > far > base


def test_region_terms_add_up_to_the_cosine_similarity():
    torch.manual_seed(0)
    tower = Tower(32, dim=16, layers=1).eval()
    x, q = torch.randn(1, 9, 32), F.normalize(torch.randn(16 * 4), dim=0)
    with torch.no_grad():
        e, w, h = tower(x)
        terms, bias = region_terms(tower.out, h[0], w[0], q)
    assert math.isclose(float(terms.sum()) + bias, float(F.normalize(e[0], dim=0) @ q), abs_tol=1e-5)


def test_perturbed_captions_differ_and_keep_the_grammar():
    from mmdemo.datasets.scenes import VOCAB
    rng = np.random.default_rng(0)
    for caption in ["a small red two left of a large blue circle", "a large green triangle",
                    "a small black four above a large gray seven below a small teal rectangle"]:
        for _ in range(10):
            other = perturb(caption, rng)
            assert other != caption and set(other.split()) <= set(VOCAB)
            assert other.count(" a ") == caption.count(" a ")


def test_faiss_index_returns_the_exact_top_k():
    torch.manual_seed(0)
    emb = F.normalize(torch.randn(5000, 64), dim=-1)
    index = VectorIndex(emb)
    q = emb[123] + 0.1 * torch.randn(64)
    sims, idx = index.search(F.normalize(q, dim=0), 10)
    exact = (emb @ F.normalize(q, dim=0)).topk(10)
    assert idx[0] == 123 and list(idx) == exact.indices.tolist()
    assert np.allclose(sims, exact.values.numpy(), atol=1e-5)
    assert VectorIndex(emb[:100]).faiss is None        # small galleries: one matrix product


def test_user_galleries_are_bounded_and_checked(tmp_path):
    def prep(image):
        return np.zeros((1, 28, 28), np.float32)
    raw = user_items({"texts": ["seven", "  ", "three"], "images": [DRAWN[7]]}, "digits", prep)
    assert raw.modalities == ["image", "text", "text"] and raw.names[0] == "drawn_7.png"
    with pytest.raises(MMDemoError, match="empty"):
        user_items({"texts": ["", " "]}, "digits", prep)
    with pytest.raises(MMDemoError, match="at most"):
        user_items({"images": [DRAWN[7]] * (MAX_GALLERY_FILES + 1)}, "digits", prep)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(MMDemoError, match="Gallery image 2"):
        user_items({"images": [DRAWN[7], str(bad)]}, "digits", prep)
    with pytest.raises(MMDemoError, match="not sizes"):
        user_items({"sizes": [1]}, "digits", prep)


def test_search_with_text_over_your_own_gallery(model):
    pred = model.predict(text="seven", gallery={"images": [DRAWN[0], DRAWN[1], DRAWN[7]],
                                                 "texts": ["nine", "the number 7", "one"]}, k=6)
    assert isinstance(pred, Prediction) and pred.task == "retrieve"
    sims = [r.similarity for r in pred.extras.results]
    assert sims == sorted(sims, reverse=True) and all(-1.001 <= s <= 1.001 for s in sims)
    best_image = next(r for r in pred.extras.results if r.modality == "image")
    best_text = next(r for r in pred.extras.results if r.modality == "text")
    assert best_image.name == "drawn_7.png" and best_text.name == "the number 7"
    assert best_image.regions.shape == (7, 7)
    shares = pred.attention["query_words"]
    assert pred.tokens["query_words"] == ["seven"] and math.isclose(float(shares.sum()), 1.0, abs_tol=1e-5)
    m = pred.extras.map
    assert m.xy.shape == (6, 2) and set(m.gap) == {"image-text"} and m.gap["image-text"] >= 0
    assert set(pred.notes) >= {"scores", "regions", "words", "map", "index"}


def test_image_query_gets_zero_shot_labels_and_its_regions(model):
    pred = model.predict(image=DRAWN[7], gallery={"texts": [str(d) for d in range(10)]}, k=3)
    assert pred.extras.results[0].name == "7"
    assert max(pred.extras.zero_shot, key=pred.extras.zero_shot.get) == "7"
    assert math.isclose(sum(pred.extras.zero_shot.values()), 1.0, abs_tol=1e-5)
    assert pred.attention["query_regions"].shape == (7, 7)


def test_scene_space_finds_the_matching_caption(model):
    from mmdemo.tasks.caption.model import CaptionModel   # noqa: F401  (the captioner is the frozen encoder)
    captions = ["a large red circle", "a small blue two left of a large green seven", "a large yellow triangle"]
    pred = model.predict(image=SCENE, gallery={"texts": captions}, space="scenes", k=3)
    assert len(pred.extras.results) == 3 and pred.extras.space == "scenes"
    assert pred.attention["query_regions"].shape == (6, 6)
    assert pred.extras.zero_shot is None


def test_bad_queries_are_refused_with_a_message(model):
    gallery = {"texts": ["seven"]}
    with pytest.raises(MMDemoError, match="exactly one query"):
        model.predict(image=DRAWN[7], text="seven", gallery=gallery)
    with pytest.raises(MMDemoError, match="exactly one query"):
        model.predict(gallery=gallery)
    with pytest.raises(MMDemoError, match="No built-in gallery"):
        model.predict(text="seven", gallery="nope")


def test_a_spoken_caption_finds_its_scene_caption(model):
    """examples/retrieve/spoken-caption.wav: 'a small red circle above a large blue seven' read by an
    espeak-ng voice of the test split (never heard in training)."""
    captions = ["a small red circle above a large blue seven", "a large green triangle", "a small yellow two"]
    pred = model.predict(audio=str(paths.examples("retrieve", "spoken-caption.wav")), gallery={"texts": captions},
                         space="scenes", k=3)
    assert pred.extras.query_modality == "audio" and pred.output == captions[0]
    assert pred.scores[f"1. {captions[0]}"] > pred.scores[f"2. {pred.extras.results[1].name}"]


def test_checkpoint_is_small_and_has_a_card():
    folder = paths.checkpoints("retrieve")
    assert (folder / "model.safetensors").stat().st_size < 10 * 2**20
    card = (folder / "README.md").read_text()
    assert "CC BY-SA 3.0" in card and "CC BY-SA 4.0" in card and "R@1" in card
    assert RetrieveNet  # the architecture the card describes


@pytest.mark.data("fsdd")
def test_speech_finds_its_digit_among_the_phrasings(model):
    pred = model.predict(audio=str(paths.examples("classify", "seven_jackson.wav")), gallery="digit-texts", k=5)
    assert [r.label for r in pred.extras.results].count("7") >= 4
    assert pred.extras.zero_shot["7"] > 0.5


def test_retrieve_endpoint(client):
    out = client.predict(None, "seven", None, "text", "yours", 3, None, "7\nthree\nthe number one", "digits",
                         "digits-scenes", api_name="/retrieve")
    table = out[0]
    assert table["data"][0][2] == "7" and len(table["data"]) == 3
    assert "gap" in out[7]
