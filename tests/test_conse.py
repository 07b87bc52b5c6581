"""ConSE open-vocabulary labels (mmdemo/backends/conse.py): free-text labels are ranked sensibly on
real photos, the per-class explanation adds up to the score, bad labels are refused."""
import numpy as np
import pytest

from mmdemo.backends import conse
from mmdemo.errors import MMDemoError
from tests.conftest import ROOT

PHOTOS = ROOT / "examples" / "photos"
LABELS = ["a cat", "a cup of coffee", "a rocket launch", "a photographer with a camera"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.mark.parametrize("photo, expected", [("chelsea-cat.jpg", "a cat"), ("coffee.jpg", "a cup of coffee"),
                                             ("rocket.jpg", "a rocket launch"),
                                             ("camera.jpg", "a photographer with a camera")])
def test_the_right_label_wins(photo, expected):
    result = conse.label_photo(PHOTOS / photo, LABELS)
    assert result["labels"][0] == expected
    assert result["scores"] == sorted(result["scores"], reverse=True)


def test_cat_beats_coffee_on_the_cat_and_vice_versa():
    cat = conse.label_photo(PHOTOS / "chelsea-cat.jpg", "a cup of coffee, a cat")
    coffee = conse.label_photo(PHOTOS / "coffee.jpg", "a cat, a cup of coffee")
    assert cat["labels"] == ["a cat", "a cup of coffee"] and cat["scores"][0] - cat["scores"][1] > 0.2
    assert coffee["labels"] == ["a cup of coffee", "a cat"]


def test_explanation_terms_add_up_to_the_score_and_name_cat_classes():
    result = conse.label_photo(PHOTOS / "chelsea-cat.jpg", ["a cat", "a dog"])
    for label, score in zip(result["labels"], result["scores"]):
        assert sum(term[3] for term in result["explanations"][label]) == pytest.approx(score, abs=1e-5)
    top_terms = [term[0] for term in result["explanations"]["a cat"][:2]]
    assert all("cat" in name for name in top_terms)
    assert sum(w for _, w in result["imagenet"]) == pytest.approx(1, abs=1e-5) and len(result["imagenet"]) == 10


def test_photo_embedding_is_a_unit_vector_comparable_with_texts():
    photo = conse.photo_embedding(PHOTOS / "coffee.jpg")
    texts = conse.text_embeddings(["espresso", "a space rocket"])
    assert photo["vector"].shape == (384,) and np.linalg.norm(photo["vector"]) == pytest.approx(1, abs=1e-5)
    assert np.allclose(np.linalg.norm(texts, axis=1), 1, atol=1e-5)
    assert photo["vector"] @ texts[0] > photo["vector"] @ texts[1]


@pytest.mark.parametrize("labels", ["", " , ,", [], [3], None, ["x" * 101], ",".join(f"l{i}" for i in range(51))])
def test_bad_labels_are_refused(labels):
    with pytest.raises(MMDemoError):
        conse.label_photo(PHOTOS / "coffee.jpg", labels)


def test_bad_photo_is_refused():
    with pytest.raises(MMDemoError):
        conse.label_photo(b"\x89PNG broken", ["a cat"])
