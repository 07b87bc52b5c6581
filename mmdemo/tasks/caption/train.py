"""Train the built-in captioner from scratch and write checkpoints/caption (weights, config, card).

    python -m mmdemo.train caption [--epochs N] [--threads 1]
"""
from __future__ import annotations

import platform
import time

import numpy as np
import torch
from torch.nn import functional as F

from ... import parallel
from ...checkpoint import Trained
from ...nn.fit import fit


def train(epochs: int | None = None, seed: int = 0, n_train: int = 24000, batch: int = 64,
          lr: float = 2e-3, attention_weight: float = 0.5, object_weight: float = 0.5) -> Trained:
    from ...datasets.scenes import HELDOUT, NOUNS, VOCAB, box_cells, build
    from .evaluate import evaluate
    from .model import CaptionModel, CaptionNet, to_tensor

    epochs = epochs or 2
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    t_start = time.perf_counter()
    data = build("train", n_train, seed)               # rendered once, cached in .cache/caption/
    tokens = torch.from_numpy(data["tokens"])
    owner = torch.from_numpy(data["owner"])
    cells = torch.from_numpy(box_cells(data["boxes"]).reshape(n_train, 4, -1)).float()   # (N, 4, 144)
    cells[torch.from_numpy(data["boxes"][:, :, 0] < 0)] = 0                               # padding: no object
    nouns, colors = torch.from_numpy(data["nouns"]), torch.from_numpy(data["colors"])
    where = parallel.train_device()                     # what the loss indexes lives where the model trains
    tokens, owner, cells, nouns, colors = (t.to(where) for t in (tokens, owner, cells, nouns, colors))
    print(f"caption: {n_train:,} training examples ready in {time.perf_counter() - t_start:.0f} s", flush=True)

    arch = {"vocab_size": len(VOCAB), "widths": [16, 32, 64], "dim": 256, "embed": 64, "attention_dim": 64}
    net = CaptionNet(**arch)

    # plain random batches: batches sorted by caption length would also group scene types, and
    # the CNN's batch norm would then see skewed batches (tried: it hurt)
    def batches(epoch):
        order = rng.permutation(n_train)
        for s in range(0, n_train - batch + 1, batch):
            yield torch.from_numpy(np.sort(order[s:s + batch]))

    def loss(rows):
        tok = tokens[rows]
        logits, maps, _, objects = net(to_tensor(data["images"][rows.cpu().numpy()]).to(where), tok, cells[rows])
        target = tok[:, 1:logits.shape[1] + 1]
        word_loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=0)
        # weak attention supervision: an object word's region map should put its mass on that
        # object's cells (the generator knows the box). Not used at inference.
        who = owner[rows, 1:logits.shape[1] + 1]
        sel = who >= 0
        b_idx = torch.arange(len(rows), device=where)[:, None].expand_as(who)[sel]
        on_box = (maps[sel] * cells[rows[b_idx], who[sel]]).sum(-1)
        att_loss = -torch.log(on_box + 1e-6).mean()
        # multi-task aid: each object's noun and colour from its box's region features
        real = nouns[rows] >= 0
        object_loss = (F.cross_entropy(objects[real][:, :len(NOUNS)], nouns[rows][real])
                       + F.cross_entropy(objects[real][:, len(NOUNS):], colors[rows][real]))
        value = word_loss + attention_weight * att_loss + object_weight * object_loss
        return value, {"word loss": word_loss.item(), "attention loss": att_loss.item(),
                       "object loss": object_loss.item()}

    fit(net, batches, loss, steps_per_epoch=n_train // batch, epochs=epochs, lr=lr, clip=2.0, name="caption")
    train_seconds = time.perf_counter() - t_start

    metrics = evaluate(CaptionModel(net.eval(), "scenes-adaptive-attention"))
    config = {"task": "caption", "architecture": arch, "vocab": VOCAB,
              "heldout_pairs": sorted(map(list, HELDOUT)),
              "training": {"epochs": epochs, "seed": seed, "examples": n_train, "batch": batch, "lr": lr,
                           "attention_weight": attention_weight, "object_weight": object_weight,
                           "seconds": round(train_seconds, 1),
                           "machine": f"{platform.machine()}, {torch.get_num_threads()} threads"},
              "metrics": metrics}
    return Trained(net, config, model_card(config))


def model_card(config: dict) -> str:
    m, t = config["metrics"], config["training"]
    rows = "\n".join(f"| {name} | {m[k]['n']:,} | {m[k]['bleu4']:.4f} | {m[k]['exact_match']:.4f} | "
                     f"{m[k]['grounding']:.4f} ({m[k]['grounding_words']:,} words) |"
                     for k, name in [("test", "unseen scenes (test pieces)"),
                                     ("heldout", "held-out colour-noun pairs"),
                                     ("easyvqa", "easy-VQA test images (single)"),
                                     ("mnist", "MNIST test digits (single)")])
    pairs = ", ".join(" ".join(p) for p in config["heldout_pairs"])
    return f"""# scenes-adaptive-attention — built-in captioner of mmdemo

Writes captions such as "a small red triangle left of a large blue seven" and, for every word, shows
where it looked and how much it relied on the image versus what it had already said.

- **Image**: a CNN (conv stem + 2 conv blocks + context conv, widths {config['architecture']['widths']}) turns the
  96x96 image plus two x/y coordinate channels (CoordConv) into a 12x12 grid of region features; each
  region gets a learned position embedding plus a linear code of its centre (x, y).
- **Decoder**: an LSTM (hidden {config['architecture']['dim']}) with adaptive attention (Show, Attend and Tell +
  the visual sentinel of Lu et al. 2017). At each word the LSTM state scores the 144 regions and a
  sentinel vector (the language model's memory); one softmax over both. The image part of the
  attended context (regions only, renormalised) is fed into the next step's LSTM input; the word
  output reads the mixed context + LSTM state and the previous word's image context, so a relation
  word compares the object just named with the one it now attends to. Greedy decoding by default,
  beam search on request (`predict(image, beam=3)`).
- **Heatmap per word**: the decoder's own softmax over the regions for that word.
- **Fusion weight per word**: beta, the sentinel's share of that softmax (language); image = 1 - beta.
- **Attention training**: a weak loss (weight {t['attention_weight']}) asks the region softmax of each object word
  (size, colour, noun), and of the relation words just before an object, to put its mass on that
  object's cells (the generator knows every box). beta is not supervised. At inference no box
  exists: the map is the model's own softmax.
- **Multi-task aid** (weight {t.get('object_weight', 0)}): a linear head names each object's noun and colour from the
  mean region feature of its box; it teaches the CNN digits fast. Captions never read it.

## Data (mmdemo/datasets/scenes.py, seeded, rendered once into .cache/caption/)
{t['examples']:,} training examples: 80% composed scenes of 1-4 objects (easy-VQA shape masks cut from the
easy-VQA train images, MNIST train digits; 8 easy-VQA colours; small 18-26 px / large 34-44 px;
random light background), 12% single easy-VQA train images, 8% single MNIST train digits. The caption
is a fixed function of the scene (objects left to right, relations "left of" / "above" / "below"
between neighbours; grammar in scenes.py). Held out of training entirely: {pairs}.
Test scenes use easy-VQA test shapes and MNIST test digits and another seed.
Licenses: MNIST (LeCun, Cortes, Burges) CC BY-SA 3.0; easy-VQA (Victor Zhou) MIT.

## Measured metrics (greedy decoding)
| test set | n | BLEU-4 | exact match | grounding |
|---|---|---|---|---|
{rows}

BLEU-4: corpus BLEU, one reference, no smoothing (mmdemo/tasks/caption/evaluate.py). Grounding: the fraction
of generated colour and noun words whose attention peak (argmax cell) has its centre inside the box of
the object that word's phrase describes (k-th phrase = k-th object left to right; extra phrases are misses).

Training: {t['epochs']} epochs over {t['examples']:,} examples (batch {t['batch']}), seed {t['seed']},
{t['seconds']:.0f} s wall time including rendering the data, on {t['machine']} (a shared 2-core CPU).

## Reproduce
```
python -m mmdemo.train caption --threads 1     # from scratch, rewrites this folder
python -m mmdemo.evaluate caption --json
```
"""
