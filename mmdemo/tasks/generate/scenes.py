"""Caption -> scene: cross-modal generation of a whole scene, checked by reading it back.

A caption in the scene grammar of mmdemo/datasets/scenes.py ("a small red triangle left of a large blue
seven") is parsed into objects (size, colour, noun) and the relations between consecutive ones. Each
digit is drawn by the conditional GAN of this task (condition: that digit's one-hot class
probabilities), each shape is cut from an easy-VQA test image (the pip package's own pictures); every
object is painted in its colour at a size in the size word's range and placed, object after object,
at a random spot that satisfies the relation to the previous one. A layout is kept only if the
grammar's own rules read it as the caption (datasets.scenes.caption_words: the same function that
wrote the captioner's training captions) with no near-ties; otherwise it is re-drawn.

The check: the project's captioner (caption task, scenes-adaptive-attention) reads the scene back.
`python -m mmdemo.evaluate generate --json` reports how often the read-back caption equals the asked
one, and the share of words that agree, on the captions of unseen test scenes.
"""
from __future__ import annotations

import re
import threading

import numpy as np
import torch

from ...datasets.scenes import (CANVAS, COLORS, DIGITS, LARGE, MAX_WORDS, SHAPES, SMALL, apart, box_of,
                                caption_words, centre, clear, crop, paint, placed_box, resize_alpha, shape_masks)
from ...errors import MMDemoError
from .model import NOISE, truncated_noise

MAX_CHARS = 200
LAYOUT_TRIES = 400          # whole layouts tried before giving up (each a few object placements)
PLACE_TRIES = 40            # spots tried per object
GAP = 3                     # px between boxes, as the caption data has it
MARGIN = 7.0                # px by which a relation must hold (datasets.scenes.clear asks 6)


def parse(caption) -> tuple[list[tuple[str, str, str]], list[str]]:
    """'a small red triangle left of a large blue seven' -> ([(size, colour, noun), ...], [relation, ...])."""
    if not isinstance(caption, str) or not caption.strip():
        raise MMDemoError("Type a scene caption, e.g. 'a small red triangle left of a large blue seven'.")
    if len(caption) > MAX_CHARS:
        raise MMDemoError(f"The caption is {len(caption)} characters long; at most {MAX_CHARS}.")
    words = re.sub(r"[.!,;]", " ", caption.lower()).split()
    if len(words) > MAX_WORDS:
        raise MMDemoError(f"At most 4 objects ({MAX_WORDS} words); the caption has {len(words)} words.")
    objects, relations, i = [], [], 0
    while i < len(words):
        if objects:
            rel = "left of" if words[i:i + 2] == ["left", "of"] else words[i] if words[i] in ("above", "below") else None
            if rel is None:
                raise MMDemoError(f"Expected 'left of', 'above' or 'below' before word {i + 1} ({words[i]!r}).")
            relations.append(rel)
            i += len(rel.split())
        obj = words[i:i + 4]
        if len(obj) < 4 or obj[0] != "a" or obj[1] not in ("small", "large") or obj[2] not in COLORS \
                or obj[3] not in SHAPES + DIGITS:
            raise MMDemoError(f"Each object is 'a <small|large> <colour> <shape or digit word>' (colours: "
                              f"{', '.join(COLORS)}; shapes: {', '.join(SHAPES)}; digits: zero ... nine); "
                              f"got {' '.join(obj)!r}.")
        objects.append((obj[1], obj[2], obj[3]))
        i += 4
    return objects, relations


class ObjectMasks:
    """Alpha masks for the objects: digits drawn by the GAN, shapes cut from easy-VQA test images."""
    _shapes = None
    _lock = threading.Lock()

    def __init__(self, generator, rng: np.random.Generator):
        self.generator, self.rng = generator, rng

    @classmethod
    def shapes(cls) -> dict:
        with cls._lock:
            if cls._shapes is None:
                from ...datasets.easyvqa import load_split
                ev = load_split("test")
                known = [r for r, (s, c) in enumerate(ev.attributes) if s]
                cls._shapes = shape_masks(ev.images[known], [ev.attributes[r][0] for r in known])
            return cls._shapes

    @torch.no_grad()
    def mask(self, noun: str) -> np.ndarray:
        if noun in SHAPES:
            masks = self.shapes()[noun]
            return masks[self.rng.integers(len(masks))]
        condition = torch.nn.functional.one_hot(torch.tensor([DIGITS.index(noun)]), 10).float()
        noise = truncated_noise(1, 1.0, torch.Generator().manual_seed(int(self.rng.integers(2**31))), NOISE)
        return crop(self.generator(noise, condition)[0].numpy())


def spot(alpha: np.ndarray, previous, relation: str | None, rng) -> tuple[int, int]:
    """A random top-left corner for `alpha` whose box centre satisfies `relation` to the previous box."""
    bx0, by0, bx1, by1 = box_of(alpha)
    if previous is None:
        cx, cy = rng.uniform(8, CANVAS / 2), rng.uniform(8, CANVAS - 8)
    else:
        px, py = centre(previous)
        dx = rng.uniform(MARGIN + 4, 55)
        dy = {"left of": rng.uniform(-dx + MARGIN, dx - MARGIN) if dx > 2 * MARGIN else 0.0,
              "above": rng.uniform(dx + MARGIN, dx + 50), "below": -rng.uniform(dx + MARGIN, dx + 50)}[relation]
        cx, cy = px + dx, py + dy
    return int(round(cx - (bx0 + bx1) / 2)), int(round(cy - (by0 + by1) / 2))


def fits(alpha, at, boxes) -> tuple | None:
    """The object's box if `alpha` at `at` lies inside the canvas and GAP px from every box, else None."""
    (x0, y0), (h, w) = at, alpha.shape
    if x0 < 1 or y0 < 1 or x0 + w > CANVAS - 1 or y0 + h > CANVAS - 1:
        return None
    box = placed_box(alpha, at)
    return box if apart(box, boxes, GAP) else None


def layout(spec, relations, masks_of: ObjectMasks, rng):
    """Objects (with boxes and "at") and their masks that read as the caption, or None after LAYOUT_TRIES."""
    masks = [masks_of.mask(noun) for _, _, noun in spec]
    want = caption_of(spec, relations).split()
    for _ in range(LAYOUT_TRIES):
        objects, alphas = [], []
        for k, ((size, color, noun), mask) in enumerate(zip(spec, masks)):
            lo, hi = SMALL if size == "small" else LARGE
            alpha = resize_alpha(mask, int(rng.integers(lo, hi + 1)))
            for _ in range(PLACE_TRIES):
                at = spot(alpha, objects[-1]["box"] if objects else None, relations[k - 1] if k else None, rng)
                box = fits(alpha, at, [o["box"] for o in objects])
                if box is not None:
                    objects.append({"noun": noun, "color": color, "box": box, "at": at})
                    alphas.append(alpha)
                    break
            else:
                break
        if len(objects) == len(spec) and clear(objects) and reads_as(objects, want):
            return objects, alphas
    return None


def reads_as(objects, words: list[str]) -> bool:
    """The grammar's own reading of the layout (order by centre x, size words, relations) is `words`."""
    return sorted(objects, key=lambda o: centre(o["box"])[0]) == objects and caption_words(objects)[0] == words


def caption_of(spec, relations) -> str:
    parts = []
    for k, (size, color, noun) in enumerate(spec):
        parts += ([relations[k - 1]] if k else []) + ["a", size, color, noun]
    return " ".join(parts)


def compose(caption: str, generator, seed: int = 0) -> tuple[np.ndarray, list[dict], str]:
    """A caption -> (96x96x3 uint8 scene, its objects with boxes, the normalised caption)."""
    spec, relations = parse(caption)
    rng = np.random.default_rng(seed)
    found = layout(spec, relations, ObjectMasks(generator, rng), rng)
    if found is None:
        raise MMDemoError("These objects could not be placed on the 96 px canvas as the caption says; "
                          "try fewer or smaller objects, or other relations.")
    objects, alphas = found
    return paint(objects, alphas, rng), objects, caption_of(spec, relations)
