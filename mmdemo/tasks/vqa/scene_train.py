"""Train the scene VQA model (scene_model.py) from scratch on questions over composed scenes.

    python -m mmdemo.train vqa --model scenes [--epochs N] [--threads 1]     # -> checkpoints/vqa-scenes
"""
from __future__ import annotations

import hashlib
import platform
import time

import numpy as np
import torch
from torch.nn import functional as F

from ... import parallel, paths
from ...checkpoint import Trained
from ...nn.fit import fit


def encode_questions(texts: list[str], batch: int = 256):
    """Distinct question texts -> frozen MiniLM states (N, L, 384) float16 and masks (N, L), cached on disk
    (.cache/vqa-scenes/): the questions are templated, so a retrain or an evaluation re-uses them."""
    from ...nn.text import MiniLMEncoder
    key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
    path = paths.cache("vqa-scenes") / f"minilm-{len(texts)}-{key}.npz"
    if path.is_file():
        with np.load(path) as z:
            return torch.from_numpy(z["states"]), torch.from_numpy(z["mask"])
    encoder = MiniLMEncoder.shared()
    order = np.argsort([len(t) for t in texts], kind="stable")        # similar lengths: little padding
    parts = [encoder.encode([texts[i] for i in order[s:s + batch]])[:2] for s in range(0, len(texts), batch)]
    length = max(m.shape[1] for _, m in parts)
    states = torch.zeros(len(texts), length, MiniLMEncoder.dim, dtype=torch.float16)
    mask = torch.zeros(len(texts), length, dtype=torch.bool)
    for s, (st, m) in zip(range(0, len(texts), batch), parts):
        rows = torch.as_tensor(order[s:s + batch])
        states[rows, :st.shape[1]], mask[rows, :m.shape[1]] = st.half(), m
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, states=states.numpy(), mask=mask.numpy())
    return states, mask


def question_table(data: dict, questions, n_hops: int) -> dict:
    """[(scene row, Question)] -> tensors: rows, answer ids, question ids into the distinct texts, per-hop
    target objects (Q, hops, 4) bool, families; plus the distinct texts' MiniLM states."""
    from .scene_questions import ANSWERS
    texts = sorted({q.text for _, q in questions})
    position = {t: i for i, t in enumerate(texts)}
    hops = np.zeros((len(questions), n_hops, 4), bool)
    for j, (_, q) in enumerate(questions):
        for k, objects in enumerate(q.hops[:n_hops]):
            hops[j, k, objects] = True
    states, mask = encode_questions(texts)
    return {"rows": np.array([r for r, _ in questions]), "qid": torch.tensor([position[q.text] for _, q in questions]),
            "y": torch.tensor([ANSWERS.index(q.answer) for _, q in questions]), "hops": torch.from_numpy(hops),
            "states": states, "mask": mask, "texts": texts, "questions": [q for _, q in questions]}


def object_cells(data: dict) -> torch.Tensor:
    """(N, 4, 144) 0/1: the grid cells of each object's box (padding objects: none)."""
    from ...datasets.scenes import box_cells
    cells = torch.from_numpy(box_cells(data["boxes"]).reshape(len(data["boxes"]), 4, -1)).float()
    cells[torch.from_numpy(data["boxes"][:, :, 0] < 0)] = 0
    return cells


def centre_cells(data: dict) -> torch.Tensor:
    """(N, 4, 144) one-hot: the grid cell holding each object's box centre (padding objects: none). The
    count loss asks each hop's soft count to fire on exactly these cells of its objects, so its sum is a
    count of objects, not of the cells they cover (objects come in two sizes)."""
    from ...datasets.scenes import CANVAS
    grid = CANVAS // 8
    boxes = data["boxes"].astype(np.float64)
    cx, cy = (boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2
    cell = np.clip((cy // 8).astype(int), 0, grid - 1) * grid + np.clip((cx // 8).astype(int), 0, grid - 1)
    out = torch.zeros(*boxes.shape[:2], grid * grid)
    out.scatter_(2, torch.from_numpy(cell)[..., None], 1.0)
    out[torch.from_numpy(data["boxes"][:, :, 0] < 0)] = 0
    return out


def frozen_caption_grid(net, images: torch.Tensor, batch: int = 250) -> tuple[torch.Tensor, str]:
    """Copy the captioner's CNN (checkpoints/caption: the same ConvGridEncoder on the same 96x96 scenes,
    trained on the train pieces without the held-out pairs) into net.image, freeze it, and run it once over
    every training image -> the region grids (N, 144, C) float16 that every step reuses, and the source's
    hash. The CNN was ~60% of a step's cost; the copy stays in the scene checkpoint (self-contained)."""
    from safetensors.torch import load_file
    path = paths.checkpoints("caption") / "model.safetensors"
    state = {k[len("image."):]: v for k, v in load_file(str(path)).items() if k.startswith("image.")}
    net.image.load_state_dict(state)
    net.image.requires_grad_(False).eval()
    with torch.no_grad():
        grid = torch.cat([net.cnn_grid(images[s:s + batch].float() / 255.0).half()
                          for s in range(0, len(images), batch)])
    return grid, hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def objective(res: dict, g: dict, sel, local, img_rows, y, attention_weight: float, object_weight: float,
              gate_cost: float, count_weight: float) -> tuple[torch.Tensor, dict]:
    """The scene model's training loss for one batch: answer + both branches' answers + weak attention,
    count, object and gate terms (each explained where it is computed); -> (loss, logged figures)."""
    from ...datasets.scenes import NOUNS
    cells = g["cells"][img_rows]
    answer = F.cross_entropy(res["logits"], y)
    branches = sum(F.cross_entropy(b, y) for b in res["branch_logits"])
    # weak attention supervision: each hop's map should put its mass on the objects its step of the
    # program is about (the generator knows every box); hops about nothing are left free
    target = torch.einsum("qkj,qjn->qkn", g["hops"][sel].float(), cells[local]).clamp(max=1)
    has = target.sum(-1) > 0
    mass = (res["region_maps"] * target).sum(-1)
    attention = -torch.log(mass[has] + 1e-6).mean() if has.any() else mass.sum() * 0
    # count supervision: hop k's soft count fires on the centre cells of the objects its step is about
    # (none: a count of 0), so sum(fits) counts objects
    centres = torch.einsum("qkj,qjn->qkn", g["hops"][sel].float(), g["centres"][img_rows][local])
    counting = (F.binary_cross_entropy(res["fits"].clamp(1e-6, 1 - 1e-6), centres, reduction="sum") / len(sel)
                + F.smooth_l1_loss(res["fits"].sum(-1), centres.sum(-1)))     # and the count itself
    if res.get("compare_logits") is not None:   # which comparison the question asks (more/fewer/same/none)
        counting = counting + F.cross_entropy(res["compare_logits"], g["compare"][sel])
    if res.get("objectness") is not None:    # the question-free centre head: every object's centre cell
        counting = counting + F.binary_cross_entropy_with_logits(
            res["objectness"], g["centres"][img_rows].sum(1).clamp(max=1), reduction="sum") / len(img_rows)
    nouns, colors = g["nouns"][img_rows], g["colors"][img_rows]
    real = nouns >= 0
    objects = res["object_logits"][real]
    object_loss = (F.cross_entropy(objects[:, :len(NOUNS)], nouns[real])
                   + F.cross_entropy(objects[:, len(NOUNS):], colors[real]))
    looking = res["fusion_weights"][:, 0].mean()
    # the gate's cost of using the image: -log(question weight). Its gradient on the gate's logit is
    # gate_cost x image weight, so it does not vanish once the gate saturates on the image (the linear
    # cost gate_cost x image weight did, and the gate could collapse to 1.0 on every question); the
    # answer loss holds the image weight up where the image is needed (w_question ~ gate_cost / gain)
    gate = -torch.log(res["fusion_weights"][:, 1] + 1e-6).mean()
    value = (answer + 0.5 * branches + attention_weight * attention + object_weight * object_loss
             + gate_cost * gate + count_weight * counting)
    return value, {"acc": float((res["logits"].argmax(-1) == y).float().mean()), "attention": attention.item(),
                   "count": counting.item(), "image weight": looking.item()}


def train(epochs: int | None = None, seed: int = 0, n_train: int = 12000, per_scene: int = 6,
          distinct: int = 20000, images_per_step: int = 32, lr: float = 3e-3, hops: int = 2,
          attention_weight: float = 0.5, object_weight: float = 0.5, gate_cost: float = 0.005,
          frozen_cnn: bool = True, relational: bool = True, count_evidence: bool = True,
          count_weight: float = 0.5, extra_templates: bool = True, balanced: bool = True,
          centre_counts: bool = True, kind_weights: dict | None = None, compare_readout: bool = True,
          fit_guided: bool = True) -> Trained:
    """The scene VQA model from scratch. distinct: at most this many different question texts (each goes
    through MiniLM once; questions_for). Kinds whose texts rarely repeat use up their share first: with
    10,000 the draws kept only 2,302 relation questions of 45,340 (5 %, for a 16 % share of the draws);
    20,000 keeps 3,958 of 52,772 (docs/vqa-scenes.md, run H)."""
    from ...datasets.scenes import NOUNS, OBJECT_COLORS, build
    from ...nn.text import MiniLMEncoder
    from .scene_evaluate import evaluate
    from .scene_model import NAME, SceneVQAModel, SceneVQANet
    from .scene_questions import ANSWERS, COMPARISONS, LEAD_IN_SHARE, TRAIN_KIND_WEIGHTS, questions_for

    epochs = epochs or 10
    kind_weights = kind_weights or TRAIN_KIND_WEIGHTS
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    data = build("train", n_train, seed, mix=(0.9, 0.1, 0.0))       # scenes + single easy-VQA shapes
    d = question_table(data, questions_for(data, per_scene, seed, distinct=distinct,
                                                   extra_templates=extra_templates, balanced=balanced,
                                                   kind_weights=kind_weights), hops)
    where = parallel.train_device()
    g = parallel.to_device({   # a copy of what the loss indexes, where the model trains
        "images": torch.from_numpy(data["images"]).permute(0, 3, 1, 2),   # uint8; scaled per batch
        "cells": object_cells(data), "centres": centre_cells(data), "nouns": torch.from_numpy(data["nouns"]),
        "colors": torch.from_numpy(data["colors"]),
        **{k: d[k] for k in ("states", "mask", "qid", "y", "hops")},
        "compare": torch.tensor([COMPARISONS.index(q.kind) if q.kind in COMPARISONS else 3 for q in d["questions"]])},
        where)
    by_image = np.split(np.argsort(d["rows"], kind="stable"), np.cumsum(np.bincount(d["rows"], minlength=n_train))[:-1])
    print(f"vqa scenes: {len(d['y']):,} questions ({len(d['texts']):,} distinct) on {n_train:,} scenes, "
          f"ready in {time.perf_counter() - t_start:.0f} s", flush=True)
    arch = {"n_answers": len(ANSWERS), "text_dim": MiniLMEncoder.dim, "dim": 128, "widths": [16, 32, 64],
            "hops": hops, "n_nouns": len(NOUNS), "n_colors": len(OBJECT_COLORS), "relational": relational,
            "count_evidence": count_evidence, "centre_counts": centre_counts, "compare_readout": compare_readout,
            "fit_guided": fit_guided}
    net = SceneVQANet(**arch)
    cnn_source = "trained with the rest"
    if frozen_cnn:
        g["grid"], sha = frozen_caption_grid(net, g["images"])
        cnn_source = f"frozen, copied from checkpoints/caption (model.safetensors sha1 {sha})"
        print(f"vqa scenes: frozen captioner CNN grid of {n_train:,} scenes ready at "
              f"{time.perf_counter() - t_start:.0f} s", flush=True)

    def batches(epoch):
        order = rng.permutation(n_train)
        for s in range(0, n_train - images_per_step + 1, images_per_step):
            yield np.sort(order[s:s + images_per_step])

    def loss(img_rows):
        sel = np.concatenate([by_image[r] for r in img_rows])
        local = torch.as_tensor(np.searchsorted(img_rows, d["rows"][sel]), device=where)
        q, y, cells = g["qid"][sel], g["y"][sel], g["cells"][img_rows]
        length = int(g["mask"][q].sum(1).max())                     # no all-padding columns
        states, mask = g["states"][q, :length].float(), g["mask"][q, :length]
        if frozen_cnn:
            res = net(None, states, mask, local, cells, grid=g["grid"][img_rows].float())
        else:
            res = net(g["images"][img_rows].float() / 255.0, states, mask, local, cells)
        return objective(res, g, sel, local, img_rows, y, attention_weight=attention_weight,
                         object_weight=object_weight, gate_cost=gate_cost, count_weight=count_weight)

    fit(net, batches, loss, steps_per_epoch=n_train // images_per_step, epochs=epochs, lr=lr, clip=2.0,
        name="vqa scenes")
    train_seconds = time.perf_counter() - t_start
    config = {"task": "vqa", "model": NAME, "architecture": arch, "answers": ANSWERS,
              "training": {"epochs": epochs, "seed": seed, "scenes": n_train, "questions": len(d["y"]),
                           "distinct_questions": len(d["texts"]), "distinct_budget": distinct,
                           "images_per_step": images_per_step, "lr": lr,
                           "attention_weight": attention_weight, "object_weight": object_weight,
                           "count_weight": count_weight, "extra_templates": extra_templates,
                           "balanced_comparisons": balanced, "kind_weights": kind_weights,
                           "lead_in_share": LEAD_IN_SHARE if extra_templates else 0.0,
                           "gate_cost": gate_cost, "gate_cost_form": "-log(question weight)", "image_cnn": cnn_source, "seconds": round(train_seconds, 1),
                           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"}}
    config["metrics"] = evaluate(SceneVQAModel(net.eval(), ANSWERS, NAME, config))
    from .scene_card import model_card
    return Trained(net, config, model_card(config))
