"""Explaining one VQA answer with mmdemo/explain.py's methods.

    e = mmdemo.load("vqa").explain(image=..., text="what color is the shape?", corruption={"image_blur": 2})

The two players of the Shapley game are the model's two evidence branches: image evidence (attended
region x question) and question evidence (the question alone). A subset = the gate restricted to those
branches (its softmax over the given ones; one branch alone = the answer head reading that evidence,
which training asks to answer on its own); no branch = 1 / number of answers. EMAP recombines the raw
inputs instead: this image with other questions, this question with other images (easy-VQA test pairs).
"""
from __future__ import annotations

import time
from functools import lru_cache

import numpy as np
import torch

from ... import explain as ex
from ...errors import MMDemoError
from ...inputs import load_text
from ...nn.text import merge_word_pieces

PLAYERS = ["image evidence", "question evidence"]
N_REFERENCE = 16       # EMAP: 16 x 16 = 256 recombined pairs for E[f], exact over the product


def prepare(model, image, text, c: ex.Corruption) -> tuple[torch.Tensor, str, dict]:
    """Decoded, corrupted inputs: image (3, 64, 64) float 0..1, the question; and the clean ones (for the hash)."""
    clean = {"image": model.prepare_image(image).transpose(2, 0, 1).astype(np.float32) / 255.0,
             "text": load_text(text, "question")}
    x = ex.corrupt_image(clean["image"], c, np.random.default_rng([c.seed, 0]))
    question = ex.corrupt_text(clean["text"], c, np.random.default_rng([c.seed, 1]))
    if not question.strip():
        raise MMDemoError("The corruption removed the whole question; lower the dropped-word rate.")
    return torch.from_numpy(x), question, clean


@torch.no_grad()
def encode(model, images: torch.Tensor, questions: list[str]):
    """-> projected regions (N, 64, dim), grid, question vectors (B, dim), word-piece weights, pieces, mask."""
    net = model.net
    regions, grid = net.image(images)
    states, mask, pieces = model.text.encode(questions)
    q, text_w = net.text_pool(net.text_proj(states), mask)
    return net.image_proj(regions), grid, q, text_w, pieces, mask


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


@lru_cache(maxsize=2)
def reference(model):
    """EMAP's reference batch: N_REFERENCE easy-VQA test (image, question) pairs, encoded once."""
    from ...datasets.easyvqa import load_split
    test = load_split("test")
    rows = np.random.default_rng(7).choice(len(test.questions), N_REFERENCE, replace=False)
    images = torch.from_numpy(test.images[test.image_index[rows]]).permute(0, 3, 1, 2).float() / 255.0
    regions, _, q, *_ = encode(model, images, [test.questions[i] for i in rows])
    return regions, q


def emap_view(model, regions, q, label, rng) -> dict:
    ref_regions, ref_q = reference(model)
    pool_r, pool_q = torch.cat([regions, ref_regions]), torch.cat([q, ref_q])

    def score(rows):
        with torch.no_grad():
            logits = model.net.answer(pool_r, pool_q[torch.as_tensor(rows[:, 1])], torch.as_tensor(rows[:, 0]))[0]
        return logits.softmax(-1)[:, label].double().numpy()
    return ex.emap(score, 2, N_REFERENCE, rng)


def faithfulness(model, x, question, q, words, word_w, image_w, label, rng) -> dict:
    """Deletion / insertion of image regions (8x8 cells -> the background colour) and of words (left out)."""
    net, grid = model.net, image_w.shape
    bg = torch.as_tensor(ex.background(x.numpy()))

    def image_score(keep):
        mask = torch.nn.functional.interpolate(torch.as_tensor(keep).view(-1, 1, *grid).float(), size=x.shape[1:])
        with torch.no_grad():
            regions, _ = net.image(x * mask + bg * (1 - mask))
            return net.answer(net.image_proj(regions), q.expand(len(keep), -1))[0].softmax(-1)[:, label].double().numpy()

    def word_score(keep):
        texts = [" ".join(w for w, k in zip(words, row) if k) for row in keep]
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        regions, _, qs, *_ = encode(model, x[None], list(unique))
        with torch.no_grad():
            logits = net.answer(regions, qs[torch.as_tensor(inverse)], torch.zeros(len(texts), dtype=torch.long))[0]
        return logits.softmax(-1)[:, label].double().numpy()
    return {"image": ex.deletion_insertion(image_score, image_w.ravel(), rng),
            "words": ex.deletion_insertion(word_score, word_w, rng)}


def explain(model, image, text, corruption=None, methods=ex.METHODS) -> ex.Explanation:
    """Everything in `methods` for one question, on the corrupted inputs."""
    t0 = time.perf_counter()
    methods = ex.checked_methods(methods)
    c = ex.Corruption.from_dict(corruption)
    x, question, clean = prepare(model, image, text, c)
    rng = np.random.default_rng(c.seed)
    regions, grid, q, text_w, pieces, mask = encode(model, x[None], [question])
    with torch.no_grad():
        logits, fusion_w, image_w, evidence = model.net.answer(regions, q)
    probs = logits.softmax(-1)[0]
    label = int(probs.argmax())
    words, word_w = merge_word_pieces(pieces[0], text_w[0][mask[0]].numpy())
    v = ex.reliance_views(subset_probs(model.net, evidence, [label])[0], PLAYERS, 1.0 / len(model.answers))
    e = ex.Explanation(task="vqa", model=model.name, prediction=model.answers[label], confidence=float(probs[label]),
                       modalities=PLAYERS, scores={a: float(p) for a, p in zip(model.answers, probs)},
                       corrupted_text=question, checkpoint_hash=model.checkpoint_hash(), input_hash=ex.input_hash(clean))
    image_map = image_w[0].view(*grid).numpy()
    ex.fill_views(e, methods, {p: float(w) for p, w in zip(PLAYERS, fusion_w[0])}, v,
                  lambda: emap_view(model, regions, q, label, rng),
                  lambda: faithfulness(model, x, question, q, words, word_w, image_map, label, rng))
    e.notes = notes()
    e.settings = {"corruption": c.active(), "methods": list(methods), "seed": c.seed, "n_reference": N_REFERENCE}
    e.inputs = {"image": x.numpy(), "text": question, "attention": {"image": image_map, "text": word_w}, "words": words}
    e.maps = {"image": image_map, "words": {"words": words, "weights": word_w}}
    e.latency_ms = (time.perf_counter() - t0) * 1000
    return e


def notes() -> dict:
    how = ("the gate restricted to the given evidence branches: its softmax over them; one branch alone is the "
           "answer head reading that evidence, which training also asks to answer alone")
    return {"fusion": "Gate: a small network weighs the image evidence and the question evidence (softmax, per request).",
            "shapley": ex.NOTES["shapley"].format(how=how).replace("modalities", "evidence branches"),
            "ablation": ex.NOTES["ablation"], "interaction": ex.NOTES["interaction"],
            "emap": ex.NOTES["emap"].format(n=f"{N_REFERENCE} easy-VQA test") +
            " Here the two 'modalities' are the raw inputs: this image with other questions, this question with other images.",
            "faithfulness": ex.NOTES["faithfulness"].format(r=3) + " Parts: image = the 8x8 attention cells (deleted = "
            "the background colour), words (deleted = left out of the question).",
            "corruption": "Corruptions are applied on the server to the decoded 64x64 image and the question, seeded."}
