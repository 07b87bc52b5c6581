"""Cross-modal generation: the product-of-experts arithmetic, the speech target and its inverse, the
committed checkpoint's contract and quality on typed digits, every modality subset, bounds refused before
work, the evaluation's Frechet distance, and /generate end to end through gradio_client."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import mmdemo
from mmdemo import paths
from mmdemo.errors import MMDemoError
from mmdemo.tasks.generate.data import CLIP_SAMPLES, FRAMES, N_MELS, speech_from_target, speech_target
from mmdemo.tasks.generate.evaluate import frechet_distance
from mmdemo.tasks.generate.model import LATENT, MAX_SAMPLES, GenerateExtras, product_of_experts

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def model():
    return mmdemo.load("generate")


@pytest.fixture(scope="module")
def seven_wav():
    return paths.dataset("fsdd") / "recordings" / "7_jackson_0.wav"   # FSDD official test split


def drawn_one() -> Image.Image:
    img = Image.new("RGB", (280, 280), "white")
    ImageDraw.Draw(img).line([(150, 40), (150, 240)], fill="black", width=18)
    return img


def test_product_of_experts_is_precision_weighted():
    mu, logvar, share = product_of_experts([torch.full((1, LATENT), 2.0)], [torch.zeros(1, LATENT)])
    assert torch.allclose(mu, torch.ones(1, LATENT))                 # (0 * 1 + 2 * 1) / (1 + 1)
    assert torch.allclose(logvar.exp(), torch.full((1, LATENT), 0.5))
    assert torch.allclose(share, torch.full((2, 1, LATENT), 0.5))    # prior and expert: equal precision
    mu, _, share = product_of_experts([], [])
    assert torch.equal(mu, torch.zeros(1, LATENT)) and torch.equal(share, torch.ones(1, 1, LATENT))


def test_speech_target_and_griffin_lim():
    t = np.linspace(0, 0.5, 8000, dtype=np.float32)
    target = speech_target(0.3 * np.sin(2 * np.pi * 440 * t))
    assert target.shape == (N_MELS, FRAMES) and target.min() >= 0 and target.max() == 1.0
    wave = speech_from_target(target)
    assert wave.shape == (CLIP_SAMPLES,) and np.isfinite(wave).all() and 0.45 < np.abs(wave).max() <= 0.5


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 4))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 3) == pytest.approx(4 * 9, rel=1e-6)   # a shift of 3 in 4 dimensions


def test_contract_from_text(model):
    pred = model.predict(text="seven", model="vae", n=4, temperature=1.0)
    e = pred.extras
    assert isinstance(pred, mmdemo.Prediction) and isinstance(e, GenerateExtras) and pred.task == "generate"
    assert e.samples.shape == (4, 28, 28) and 0 <= e.samples.min() and e.samples.max() <= 1
    assert set(pred.fusion_weights) == {"prior", "text"}
    assert sum(pred.fusion_weights.values()) == pytest.approx(1, abs=1e-5)
    rate, wave = e.speech
    assert rate == 16000 and wave.shape == (CLIP_SAMPLES,) and np.isfinite(wave).all()
    assert set(e.elbo) == {"KL"} and e.elbo["KL"] > 0 and e.interpolation is None
    assert {"fusion", "elbo", "speech", "samples", "reading"} <= set(pred.notes)


@pytest.mark.parametrize("kind, temperature, rate", [("vae", 1.0, 0.95), ("gan", 1.0, 0.95)])
def test_typed_digits_are_drawn_as_that_digit(model, kind, temperature, rate):
    """Every English digit word, 8 samples each (fixed seed): the share the evaluation CNN reads as the
    digit, at the protocol's temperature 1.0. Regression guard at the committed checkpoint's level
    (measured here: VAE 1.00, GAN 1.00; the full measurement is in docs/generate.md)."""
    hits = [model.predict(text=word, model=kind, n=8, seed=1, temperature=temperature).extras.sample_labels.count(d)
            for d, word in enumerate(WORDS)]
    assert sum(hits) / 80 >= rate, hits


@pytest.mark.data("fsdd")
def test_every_modality_subset(model, seven_wav):
    image = drawn_one()
    for given in [{"image": image}, {"audio": str(seven_wav)}, {"image": image, "text": "seven"},
                  {"image": image, "text": "seven", "audio": str(seven_wav)}]:
        pred = model.predict(**given, model="gan", n=2)
        assert set(pred.extras.condition) == {str(d) for d in range(10)}
        assert set(pred.fusion_weights) == set(given)                # the classifier's gate for the GAN
        assert pred.extras.speech is None
        vae = model.predict(**given, model="vae", n=2)
        assert set(vae.fusion_weights) == {"prior", *given}
        assert ("image reconstruction" in vae.extras.elbo) == ("image" in given)
        assert ("speech reconstruction" in vae.extras.elbo) == ("audio" in given)
    assert model.predict(audio=str(seven_wav), n=8, seed=2).extras.sample_labels.count(7) >= 7


def test_interpolation_and_sliders(model):
    pred = model.predict(image=drawn_one(), text="eight", n=1)
    assert pred.extras.interpolation.shape == (8, 28, 28)
    moved = model.predict(image=drawn_one(), text="eight", n=1, sliders=[2.5, 0, 0, -2.5])
    assert np.abs(moved.extras.reconstruction - pred.extras.reconstruction).mean() > 0.01
    assert moved.extras.sliders == [2.5, 0.0, 0.0, -2.5]


@pytest.mark.parametrize("bad", [{"n": 0}, {"n": MAX_SAMPLES + 1}, {"n": 2.5}, {"temperature": 1.6},
                                 {"temperature": -0.1}, {"model": "diffusion"}, {"sliders": [4.0]},
                                 {"sliders": [0, 0, 0, 0, 0]}])
def test_bounds_are_refused(model, bad):
    with pytest.raises(MMDemoError):
        model.predict(text="seven", **bad)


def test_nothing_given_is_refused(model):
    with pytest.raises(MMDemoError, match="at least one"):
        model.predict(text="  ")


def test_generate_endpoint(client):
    out = client.predict(None, None, "three", None, 4, 0.8, 0, 0, 0, 0, api_name="/generate")
    vae_samples, vae_reading, recon, interpolation, gan_samples, gan_reading, speech = out[:7]
    assert vae_samples and gan_samples and recon and speech
    assert "read as 3" in vae_reading and "read as 3" in gan_reading
    assert interpolation is None
    assert "precision share" in out[9]


def test_generate_endpoint_refuses_nothing(client):
    from gradio_client.exceptions import AppError
    with pytest.raises(AppError, match="at least one"):
        client.predict(None, None, "", None, 4, 1.0, 0, 0, 0, 0, api_name="/generate")


# ---------------------------------------------------------------- a scene from a caption (scenes.py)

@pytest.mark.parametrize("caption", ["a small red triangle left of a large blue seven",
                                     "a large green three above a small black circle below a small teal rectangle"])
def test_a_composed_scene_reads_as_its_caption_by_the_grammars_rules(model, caption):
    """The layout is checked with the same function that wrote the captioner's training captions; boxes lie
    on the canvas, apart; the captioner's reading and its agreement are reported, whatever they are."""
    from mmdemo.datasets.scenes import CANVAS, caption_words
    p = model.predict(text=caption.upper() + ".", model="scene", seed=3)
    e = p.extras
    assert e.asked == caption and p.output == e.read_back and e.image.shape == (CANVAS, CANVAS, 3)
    words = caption.split()
    nouns = [w for w in words if w in WORDS or w in ("triangle", "circle", "rectangle")]
    colors = [words[i - 1] for i, w in enumerate(words) if w in nouns]
    read = caption_words([{"noun": n, "color": c, "box": b} for n, c, b in zip(nouns, colors, e.boxes)])[0]
    assert " ".join(read) == caption
    for i, a in enumerate(e.boxes):
        assert 0 < a[0] < a[2] < CANVAS and 0 < a[1] < a[3] < CANVAS
        assert all(a[0] >= b[2] or b[0] >= a[2] or a[1] >= b[3] or b[1] >= a[3] for b in e.boxes[i + 1:])
    assert 0.0 <= e.word_agreement <= 1.0 and (e.read_back != caption or e.word_agreement == 1.0)
    assert (model.predict(text=caption, model="scene", seed=3).extras.image == e.image).all()     # seeded


@pytest.mark.parametrize("caption, message", [
    ("", "Type a scene caption"), ("a red triangle", "Each object is"), ("a small purple circle", "Each object is"),
    ("a small red circle near a small blue two", "Expected 'left of'"), ("x" * 201, "at most 200"),
    (" left of ".join(["a small red circle"] * 5), "At most 4 objects"), (None, "Type a scene caption")])
def test_a_bad_caption_is_refused_with_a_message(model, caption, message):
    with pytest.raises(MMDemoError, match=message):
        model.predict(text=caption, model="scene")


def test_an_impossible_layout_is_refused(model):
    crowded = " left of ".join(["a large red circle"] * 4)        # 4 x 34+ px side by side on 96 px
    with pytest.raises(MMDemoError, match="could not be placed"):
        model.predict(text=crowded, model="scene")


def test_generate_scene_endpoint(client):
    picture, reading = client.predict("a small red triangle left of a large blue seven", 0, api_name="/generate_scene")
    from mmdemo.ui.components import inline_jpeg
    assert inline_jpeg(picture).size == (288, 288)
    assert "**Asked:** a small red triangle left of a large blue seven" in reading and "The captioner reads" in reading
