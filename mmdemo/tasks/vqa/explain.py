"""Explaining one VQA answer with mmdemo/explain.py's methods (easy-VQA and the scene model alike).

    e = mmdemo.load("vqa").explain(image=..., text="what color is the shape?", corruption={"image_blur": 2})

The two players of the Shapley game are the model's two evidence branches: image evidence (what the
question-guided attention found; for the scene model, the memory after its hops) and question evidence (the
question alone). A subset = the gate restricted to those branches (its softmax over the given ones; one
branch alone = the answer head reading that evidence, which training asks to answer on its own); no branch =
1 / number of answers. EMAP recombines the raw inputs instead: this image with other questions, this question
with other images (the model's own test pairs, model.reference_pairs). Every map the model's Prediction
names in model.explained_maps (easy-VQA: its one region map and word weights; scenes: each hop's) gets
deletion / insertion curves. Everything runs through model.forward, the same pass as predict.
"""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np
import torch

from ... import explain as ex
from ...errors import MMDemoError
from ...inputs import load_text
from .model import to_tensor

PLAYERS = ["image evidence", "question evidence"]
N_REFERENCE = 16       # EMAP: 16 x 16 = 256 recombined pairs for E[f], exact over the product


def prepare(model, image, text, c: ex.Corruption) -> tuple[torch.Tensor, str, dict]:
    """Decoded, corrupted inputs: image (3, S, S) float 0..1, the question; and the clean ones (for the hash)."""
    clean = {"image": model.prepare_image(image).transpose(2, 0, 1).astype(np.float32) / 255.0,
             "text": load_text(text, "question")}
    x = ex.corrupt_image(clean["image"], c, np.random.default_rng([c.seed, 0]))
    question = ex.corrupt_text(clean["text"], c, np.random.default_rng([c.seed, 1]))
    if not question.strip():
        raise MMDemoError("The corruption removed the whole question; lower the dropped-word rate.")
    return torch.from_numpy(x), question, clean


@torch.no_grad()
def subset_probs(net, evidence: list[torch.Tensor], label) -> np.ndarray:
    """(B, 4): probability of each row's label with the gate restricted to each subset of the two branches."""
    b = len(evidence[0])
    masks = ex.subset_masks(2)
    rows = masks.repeat_interleave(b, 0)
    fused, _ = net.fusion([e.repeat(len(masks), 1) for e in evidence], rows)
    probs = net.head(fused).softmax(-1).gather(1, torch.as_tensor(label).repeat(len(masks))[:, None])
    return probs.view(len(masks), b).T.double().numpy()


def batch_shapley(net, evidence, label, n_answers: int) -> np.ndarray:
    """Exact Shapley values (B, 2) of image and question evidence for many questions (evaluate's dataset view)."""
    values = subset_probs(net, evidence, label)
    values[:, 0] = 1.0 / n_answers
    return ex.shapley(values, 2)


@lru_cache(maxsize=4)
def reference(model) -> tuple[torch.Tensor, tuple[str, ...]]:
    """EMAP's reference batch: N_REFERENCE test (image, question) pairs of the model's own data."""
    images, questions = model.reference_pairs(N_REFERENCE)
    return to_tensor(images), tuple(questions)


def emap_view(model, x, question, label, rng) -> dict:
    """EMAP over this (image, question) and the reference pairs: every image with every question."""
    ref_images, ref_questions = reference(model)
    images, questions = torch.cat([x[None], ref_images]), [question, *ref_questions]

    def score(rows):
        out = model.forward(images, [questions[j] for j in rows[:, 1]], rows[:, 0])
        return out["probs"][:, label].double().numpy()
    return ex.emap(score, 2, len(ref_questions), rng)


def faithfulness(model, x, question, words, maps: dict, label, rng) -> dict:
    """Deletion / insertion of each map's parts: image cells (-> the background colour), words (left out)."""
    bg = torch.as_tensor(ex.background(x.numpy()))

    def image_score(keep, grid):
        mask = torch.nn.functional.interpolate(torch.as_tensor(keep).view(-1, 1, *grid).float(), size=x.shape[1:])
        return model.forward(x * mask + bg * (1 - mask), [question] * len(keep))["probs"][:, label].double().numpy()

    def word_score(keep):
        texts = [" ".join(w for w, k in zip(words, row) if k) for row in keep]
        return model.forward(x[None], texts, np.zeros(len(texts), np.int64))["probs"][:, label].double().numpy()
    return {name: ex.deletion_insertion(lambda keep, g=w.shape: image_score(keep, g), w.ravel(), rng) if w.ndim == 2
            else ex.deletion_insertion(word_score, w, rng) for name, w in maps.items()}


def explain(model, image, text, corruption=None, methods=ex.METHODS) -> ex.Explanation:
    """Everything in `methods` for one question, on the corrupted inputs."""
    t0 = time.perf_counter()
    methods = ex.checked_methods(methods)
    c = ex.Corruption.from_dict(corruption)
    x, question, clean = prepare(model, image, text, c)
    rng = np.random.default_rng(c.seed)
    out = model.forward(x[None], [question])
    pred = model.prediction(out, 0, len(model.answers))
    if not pred.tokens["text"]:
        raise MMDemoError("The question has no word the model can read (after the corruption, if any).")
    label = int(out["probs"][0].argmax())
    v = ex.reliance_views(subset_probs(model.net, out["evidence"], [label])[0], PLAYERS, 1.0 / len(model.answers))
    e = ex.Explanation(task="vqa", model=model.name, prediction=pred.output, confidence=float(out["probs"][0, label]),
                       modalities=PLAYERS, scores=pred.scores, corrupted_text=question,
                       checkpoint_hash=model.checkpoint_hash(), input_hash=ex.input_hash(clean))
    words, maps = pred.tokens["text"], {name: pred.attention[key] for name, key in model.explained_maps.items()}
    ex.fill_views(e, methods, dict(zip(PLAYERS, pred.fusion_weights.values())), v,
                  lambda: emap_view(model, x, question, label, rng),
                  lambda: faithfulness(model, x, question, words, maps, label, rng))
    e.notes = notes(model, maps)
    e.settings = {"corruption": c.active(), "methods": list(methods), "seed": c.seed, "n_reference": N_REFERENCE}
    e.inputs = {"image": x.numpy(), "text": question, "attention": pred.attention, "words": words, "prediction": pred}
    e.maps = {name: {"words": words, "weights": w} if w.ndim == 1 else w for name, w in maps.items()}
    e.latency_ms = (time.perf_counter() - t0) * 1000
    return e


def notes(model, maps: dict) -> dict:
    how = ("the gate restricted to the given evidence branches: its softmax over them; one branch alone is the "
           "answer head reading that evidence, which training also asks to answer alone")
    h, w = next((m.shape for m in maps.values() if m.ndim == 2), ("?", "?"))
    side = model.image_size
    return {"fusion": "Gate: a small network weighs the image evidence and the question evidence (softmax, per request).",
            "shapley": ex.NOTES["shapley"].format(how=how).replace("modalities", "evidence branches"),
            "ablation": ex.NOTES["ablation"], "interaction": ex.NOTES["interaction"],
            "emap": ex.NOTES["emap"].format(n=f"{N_REFERENCE} {model.reference_name}") +
            " Here the two 'modalities' are the raw inputs: this image with other questions, this question with other images.",
            "faithfulness": ex.NOTES["faithfulness"].format(r=3) + f" Parts: image = the {h}x{w} attention cells "
            "(deleted = the background colour), words (deleted = left out of the question)."
            + (" Each hop's map is tested on its own." if len(maps) > 2 else ""),
            "corruption": f"Corruptions are applied on the server to the decoded {side}x{side} image and the question, seeded."}
