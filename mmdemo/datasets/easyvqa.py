"""easy-VQA (pip package `easy-vqa`, MIT): 64x64 images of one coloured shape + questions.

Official split: 4,000 train / 1,000 test images, 38,575 / 9,673 questions, 13 answers.
Also here: paraphrased questions that a person might type, in two disjoint sets — one mixed
into training (TRAIN_PARAPHRASES), one only ever used for evaluation (TEST_PARAPHRASES); beyond
easy-VQA's own templates they include conjunctions ("is it a red circle?"), their negations and
properties a shape implies ("does it have corners?").
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

SHAPES = ["circle", "rectangle", "triangle"]
COLORS = ["red", "green", "blue", "black", "gray", "teal", "brown", "yellow"]
QUESTION_TYPES = ["shape", "color", "yes/no"]


def answers() -> list[str]:
    from easy_vqa import get_answers
    return list(get_answers())


def question_type(answer: str) -> str:
    return "shape" if answer in SHAPES else "color" if answer in COLORS else "yes/no"


@dataclass
class Split:
    images: np.ndarray          # N_img x 64 x 64 x 3 uint8
    image_ids: list[int]        # easy-VQA image id of each row of `images`
    questions: list[str]
    answers: list[str]
    image_index: np.ndarray     # row in `images` of each question
    attributes: list[tuple[str | None, str | None]]   # (shape, colour) of each image

    @property
    def types(self) -> list[str]:
        return [question_type(a) for a in self.answers]


def image_paths(split: str) -> dict[int, str]:
    import easy_vqa
    return dict(easy_vqa.get_train_image_paths() if split == "train" else easy_vqa.get_test_image_paths())


def load_split(split: str) -> Split:
    """The official train or test split, images decoded into one array."""
    import easy_vqa
    if split not in ("train", "test"):
        raise ValueError(f"easy-VQA has splits 'train' and 'test', not {split!r}")
    q, a, ids = easy_vqa.get_train_questions() if split == "train" else easy_vqa.get_test_questions()
    paths = image_paths(split)
    image_ids = sorted(paths)
    row = {i: r for r, i in enumerate(image_ids)}
    images = np.stack([np.asarray(Image.open(paths[i]).convert("RGB")) for i in image_ids])
    shape, color = {}, {}
    for question, answer, i in zip(q, a, ids):    # the official answers tell each image's shape and colour
        if answer in SHAPES:
            shape[i] = answer
        elif answer in COLORS:
            color[i] = answer
    return Split(images, image_ids, list(q), list(a), np.array([row[i] for i in ids]),
                 [(shape.get(i), color.get(i)) for i in image_ids])


def object_cells(images: np.ndarray, grid: int = 8, threshold: int = 60) -> np.ndarray:
    """Which cells of a grid x grid split of each image hold part of the shape: pixels that differ
    from the image's background colour (its top-left pixel) by more than `threshold` (sum of |RGB|).
    N x H x W x 3 uint8 -> N x grid x grid bool."""
    n, h, w, _ = images.shape
    diff = np.abs(images.astype(np.int16) - images[:, :1, :1, :].astype(np.int16)).sum(-1) > threshold
    return diff.reshape(n, grid, h // grid, grid, w // grid).any((2, 4))


# Paraphrases: (template, kind). kind: "shape"/"color" ask for the attribute; "has_shape",
# "has_color" are yes/no with the slot filled by the true value or another one; a kind with
# ":value" has its value written into the words (e.g. "round" = circle); "not_" inverts.
TRAIN_PARAPHRASES = [
    ("what shape do you see?", "shape"), ("which shape is shown?", "shape"),
    ("tell me the shape", "shape"), ("what kind of shape is this?", "shape"),
    ("what is drawn here?", "shape"), ("what type of figure is in the picture?", "shape"),
    ("which colour is the shape?", "color"), ("what colour is it?", "color"),
    ("what is the shape's color?", "color"), ("tell me the colour", "color"),
    ("which color does the figure have?", "color"), ("what color is the object in the picture?", "color"),
    ("is the shape {color}?", "has_color"), ("is it {color}?", "has_color"),
    ("is the figure coloured {color}?", "has_color"), ("do you see something {color}?", "has_color"),
    ("is this a {shape}?", "has_shape"), ("is the shape a {shape}?", "has_shape"),
    ("can you see a {shape}?", "has_shape"), ("is a {shape} shown?", "has_shape"),
    ("is the shape not {color}?", "not_color"), ("is this not a {shape}?", "not_shape"),
    ("is it circular?", "has_shape:circle"), ("does it have three corners?", "has_shape:triangle"),
    ("does it have four sides?", "has_shape:rectangle"), ("is it grey?", "has_color:gray"),
    # conjunctions (both attributes must hold), their negations, and properties a shape implies
    ("is it a {color} {shape}?", "both"), ("do you see a {color} {shape}?", "both"),
    ("is the {shape} {color}?", "both"), ("does the image show a {color} {shape}?", "both"),
    ("is this not a {color} {shape}?", "not_both"), ("is it anything but a {color} {shape}?", "not_both"),
    ("does it have corners?", "not_shape:circle"), ("is it a polygon?", "not_shape:circle"),
    ("does it have curved edges?", "has_shape:circle"), ("is it a three-sided shape?", "has_shape:triangle"),
    ("is it a four-sided shape?", "has_shape:rectangle"), ("is it not round?", "not_shape:circle"),
    # more ways to ask the same (extended set): other verbs, word orders and synonyms, written apart from
    # the held-out templates below
    ("what is this shape called?", "shape"), ("identify the shape", "shape"),
    ("what form does the object have?", "shape"), ("the picture shows which shape?", "shape"),
    ("what is the colour of the figure?", "color"), ("identify the colour", "color"),
    ("the object has which colour?", "color"), ("which hue does the shape have?", "color"),
    ("is the object painted {color}?", "has_color"), ("does the shape look {color}?", "has_color"),
    ("would you call it {color}?", "has_color"), ("is the drawing {color}?", "has_color"),
    ("does this look like a {shape}?", "has_shape"), ("would you call this a {shape}?", "has_shape"),
    ("is the figure shaped like a {shape}?", "has_shape"), ("isn't the figure a {shape}?", "has_shape"),
    ("is the shape a colour other than {color}?", "not_color"), ("is the figure not coloured {color}?", "not_color"),
    ("is the figure anything but a {shape}?", "not_shape"), ("is the shape different from a {shape}?", "not_shape"),
    ("would you describe it as a {color} {shape}?", "both"), ("is the picture of a {color} {shape}?", "both"),
    ("does the figure differ from a {color} {shape}?", "not_both"),
    ("is it shaped like a ball?", "has_shape:circle"), ("is it a round thing?", "has_shape:circle"),
    ("is it shaped like a box?", "has_shape:rectangle"), ("is it rectangle-shaped?", "has_shape:rectangle"),
    ("is it a triangle-like figure?", "has_shape:triangle"), ("is it pointy?", "not_shape:circle"),
    ("is it a shape with corners?", "not_shape:circle"), ("is its outline made of straight lines?", "not_shape:circle"),
    ("does any part of it look {color}?", "has_color"), ("is there a {shape} in view?", "has_shape"),
]

TEST_PARAPHRASES = [   # never seen in training; written to sound like people typing
    ("Which colour is the object?", "color"), ("What colour is the shape?", "color"),
    ("what's the color of this thing", "color"), ("Color of the shape?", "color"),
    ("Can you tell me what color the figure is?", "color"), ("what colour do you see", "color"),
    ("Which color is shown?", "color"), ("what color is the thing in the image?", "color"),
    ("Name the colour of the object.", "color"), ("how is the shape coloured?", "color"),
    ("What is the object?", "shape"), ("Which shape is this?", "shape"),
    ("what's in the picture?", "shape"), ("Name the shape.", "shape"),
    ("What kind of object is shown?", "shape"), ("what figure is drawn?", "shape"),
    ("Shape?", "shape"), ("Can you tell me what shape this is?", "shape"),
    ("what geometric shape is in the image", "shape"), ("Which figure do you see?", "shape"),
    ("Is it round?", "has_shape:circle"), ("is the object round?", "has_shape:circle"),
    ("Is the shape circular?", "has_shape:circle"), ("Does it have three sides?", "has_shape:triangle"),
    ("Is it triangular?", "has_shape:triangle"), ("Does the shape have four corners?", "has_shape:rectangle"),
    ("Is it rectangular?", "has_shape:rectangle"), ("Is it a square or rectangle?", "has_shape:rectangle"),
    ("Is the object {color}?", "has_color"), ("Is this {color}?", "has_color"),
    ("Is the colour {color}?", "has_color"), ("Do you see anything {color}?", "has_color"),
    ("Is the figure {color}?", "has_color"), ("Is the shape coloured {color}?", "has_color"),
    ("is this shape {color}", "has_color"), ("Is something {color} in the picture?", "has_color"),
    ("Is it a {shape}?", "has_shape"), ("Is the object a {shape}?", "has_shape"),
    ("Do you see a {shape}?", "has_shape"), ("Is there any {shape} here?", "has_shape"),
    ("Is a {shape} visible?", "has_shape"), ("Can I see a {shape} in this image?", "has_shape"),
    ("Does the picture show a {shape}?", "has_shape"), ("is the figure a {shape}", "has_shape"),
    ("Is the object not {color}?", "not_color"), ("Is it not {color}?", "not_color"),
    ("Isn't the shape {color}?", "has_color"), ("Is there no {color} object?", "not_color"),
    ("Is it not a {shape}?", "not_shape"), ("Is there no {shape} in the picture?", "not_shape"),
    ("Is the object not a {shape}?", "not_shape"), ("Is this something other than a {shape}?", "not_shape"),
    ("Is it grey?", "has_color:gray"), ("Is it a grey object?", "has_color:gray"),
    ("Is the shape dark blue-green (teal)?", "has_color:teal"), ("Is the object red?", "has_color:red"),
    ("Is this a {color} {shape}?", "both"), ("Does the picture contain a {color} {shape}?", "both"),
    ("Is the object a {color} {shape}?", "both"), ("is there a {color} {shape} here", "both"),
    ("Is it something other than a {color} {shape}?", "not_both"), ("Isn't this a {color} {shape}?", "both"),
    ("Is the object not a {color} {shape}?", "not_both"),
    ("Does the shape have any corners?", "not_shape:circle"), ("Is the shape angular?", "not_shape:circle"),
    ("Does it have straight edges?", "not_shape:circle"), ("Is the object curved all round?", "has_shape:circle"),
    ("Is it three-sided?", "has_shape:triangle"), ("Is the shape four-sided?", "has_shape:rectangle"),
    ("Is the object not circular?", "not_shape:circle"),
]


# The first 26 training templates are easy-VQA's own kinds ("original" set); checkpoints/vqa is trained with
# all of them ("extended": + conjunctions, negated conjunctions, shape properties, more phrasings;
# `--paraphrases original` trains without). Evaluation reports the first 56 held-out templates (the kinds
# the first published model was measured on) and the rest apart; make_paraphrases draws templates in order,
# so the first 56 give the same questions whether or not the new ones follow.
ORIGINAL_TRAIN_TEMPLATES, ORIGINAL_TEST_TEMPLATES = 26, 56
PARAPHRASE_SETS = ("original", "extended")


def train_paraphrases(paraphrase_set: str = "original") -> list[tuple[str, str]]:
    """The training templates of a paraphrase set: "original" (easy-VQA's own kinds, 26) or "extended" (what
    checkpoints/vqa is trained with: + conjunctions, their negations, shape properties and more phrasings)."""
    if paraphrase_set not in PARAPHRASE_SETS:
        raise ValueError(f"paraphrase set {paraphrase_set!r}: one of {PARAPHRASE_SETS}")
    return TRAIN_PARAPHRASES if paraphrase_set == "extended" else TRAIN_PARAPHRASES[:ORIGINAL_TRAIN_TEMPLATES]


def both_question(rng, text: str, shape: str, color: str, negated: bool) -> tuple[str, str]:
    """A conjunction "a {color} {shape}": both true 40% of the time, else exactly one of the two is
    (so neither attribute alone answers it). negated: the answer flips."""
    r = rng.random()
    c = color if r < 0.7 else rng.choice([v for v in COLORS if v != color])
    s = shape if r < 0.4 or r >= 0.7 else rng.choice([v for v in SHAPES if v != shape])
    has = c == color and s == shape
    return text.format(color=c, shape=s), "yes" if has != negated else "no"


def paraphrase_kinds(templates, n_per_template: int) -> list[str]:
    """The kind of every question make_paraphrases writes (same order), e.g. "both", "not_shape"."""
    return [kind.partition(":")[0] for _, kind in templates for _ in range(n_per_template)]


def make_paraphrases(templates, attributes, n_per_template: int, seed: int):
    """Fill templates over images with known (shape, colour).

    Returns (questions, answers, image_rows). Yes/no slots get the true value half the time.
    """
    rng = random.Random(seed)
    rows = [r for r, (s, c) in enumerate(attributes) if s and c]
    qs, ans, idx = [], [], []
    for text, kind in templates:
        base, _, fixed = kind.partition(":")
        for r in rng.sample(rows, n_per_template):
            shape, color = attributes[r]
            if base in ("shape", "color"):
                q, a = text, shape if base == "shape" else color
            elif base in ("both", "not_both"):
                q, a = both_question(rng, text, shape, color, negated=base == "not_both")
            else:
                attr = "shape" if base.endswith("shape") else "color"
                true = shape if attr == "shape" else color
                pool = SHAPES if attr == "shape" else COLORS
                value = fixed or (true if rng.random() < 0.5 else rng.choice([v for v in pool if v != true]))
                has = value == true
                if base.startswith("not_"):
                    has = not has
                q, a = text.format(**{attr: value}), "yes" if has else "no"
            qs.append(q), ans.append(a), idx.append(r)
    return qs, ans, np.array(idx)
