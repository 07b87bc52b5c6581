"""Caption data: scenes composed of real pieces, each with one caption that is a fixed function of it.

A scene is a 96x96 canvas (light background, as easy-VQA draws them) holding 1-4 non-overlapping
objects: easy-VQA shapes (masks cut out of easy-VQA images) and MNIST digits (their strokes as the
mask), each painted in one of easy-VQA's 8 colours at a small (18-26 px) or large (34-44 px) size.
The generator knows every object's box. Also in the mixture, so the demo's examples get sensible
captions: single easy-VQA images (64 px, resized) and single MNIST digits (grey on black, resized).

Grammar (deterministic, so an exact match is reachable):
    caption  = object (relation object)*            objects in order of their centre x, left to right
    object   = "a" size colour noun                 size: "small" if the box's longer side < 30 px
    relation = "left of" | "above" | "below"        between consecutive objects a, b (b right of a):
               "above" if b's centre is lower than a's by more than it is further right (dy > dx),
               "below" if higher by more than that, else "left of".
Scenes whose relations or order are near a tie (within a few pixels) are re-drawn.
e.g. "a small red triangle left of a large blue seven above a small green circle"

Compositional hold-out: the colour-noun pairs in HELDOUT never appear in training (neither in
scenes nor in the single images); the "heldout" split puts one in every scene. Train scenes use
MNIST train digits and easy-VQA train shapes; test scenes MNIST test digits and easy-VQA test shapes.

    data = build("train", 30000, seed=0)   # cached under .cache/caption/ as uint8 arrays
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from .. import paths
from .easyvqa import COLORS, SHAPES

CANVAS = 96
SMALL, LARGE, SIZE_THRESHOLD = (18, 26), (34, 44), 30       # object sides in px; the size-word rule
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
NOUNS = SHAPES + DIGITS
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "black": (0, 0, 0),   # easy-VQA's
       "gray": (128, 128, 128), "teal": (0, 128, 128), "brown": (165, 42, 42), "yellow": (255, 255, 0)}
SINGLE_MNIST_COLOR = "white"          # a single MNIST digit is white-ish strokes on black
HELDOUT = {("green", "circle"), ("yellow", "rectangle"), ("brown", "triangle"),
           ("red", "seven"), ("blue", "two"), ("teal", "four"), ("black", "nine")}
OBJECT_COLORS = COLORS + [SINGLE_MNIST_COLOR]
SPECIALS = ["<pad>", "<start>", "<end>"]
VOCAB = SPECIALS + ["a", "small", "large"] + COLORS + [SINGLE_MNIST_COLOR] + NOUNS + ["left", "of", "above", "below"]
MAX_WORDS = 4 * 4 + 3 * 2                                    # 4 objects, 3 two-word relations
KINDS = ["scene", "easyvqa", "mnist"]


def size_word(box) -> str:
    x0, y0, x1, y1 = box
    return "small" if max(x1 - x0, y1 - y0) < SIZE_THRESHOLD else "large"


def relation(a, b) -> list[str]:
    """Words between consecutive objects a, b (b's centre is right of a's)."""
    dx, dy = centre(b)[0] - centre(a)[0], centre(b)[1] - centre(a)[1]
    return ["above"] if dy > dx else ["below"] if -dy > dx else ["left", "of"]


def centre(box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def caption_words(objects: list[dict]) -> tuple[list[str], list[int]]:
    """The caption of objects (already sorted left to right) and, per word, the index of the object
    it is about: an object's size, colour and noun words, and the relation words before it (which say
    where it is relative to the previous object); -1 for "a"."""
    words, owner = [], []
    for i, o in enumerate(objects):
        if i:
            rel = relation(objects[i - 1]["box"], o["box"])
            words += rel
            owner += [i] * len(rel)
        words += ["a", size_word(o["box"]), o["color"], o["noun"]]
        owner += [-1, i, i, i]
    return words, owner


class Pieces:
    """The real pieces of one split: shape masks cut from easy-VQA images, MNIST digit strokes,
    and the single images themselves with their (shape, colour)."""

    def __init__(self, split: str):
        from .easyvqa import load_split
        from .mnist import load_mnist
        ev = load_split(split)
        known = [r for r, (s, c) in enumerate(ev.attributes) if s and c]
        self.evqa_images = ev.images[known]
        self.evqa_labels = [ev.attributes[r] for r in known]              # (shape, colour)
        self.shape_masks = shape_masks(self.evqa_images, [s for s, _ in self.evqa_labels])
        digits, labels = load_mnist(split)
        self.mnist_images, self.mnist_labels = digits, labels
        self.digit_rows = [np.flatnonzero(labels == d) for d in range(10)]

    def mask(self, rng, noun: str) -> np.ndarray:
        """A random alpha mask (float 0..1, cropped to its content) of the noun."""
        if noun in SHAPES:
            masks = self.shape_masks[noun]
            return masks[rng.integers(len(masks))]
        rows = self.digit_rows[DIGITS.index(noun)]
        return crop(self.mnist_images[rows[rng.integers(len(rows))]].astype(np.float32) / 255.0)


def shape_masks(images: np.ndarray, shapes: list[str]) -> dict[str, list[np.ndarray]]:
    """easy-VQA images and their shapes -> each shape's alpha masks (cropped to the shape)."""
    masks = {s: [] for s in SHAPES}
    for img, shape in zip(images, shapes):
        mask = foreground(img)
        if mask.sum() > 20:
            m = crop(mask.astype(np.float32))
            if min(m.shape) >= 0.4 * max(m.shape):     # no thin bars: they would look like a "one"
                masks[shape].append(m)
    return masks


def foreground(img: np.ndarray, threshold: int = 60) -> np.ndarray:
    """Pixels that differ from the image's background colour (its top-left pixel)."""
    return np.abs(img.astype(np.int16) - img[:1, :1].astype(np.int16)).sum(-1) > threshold


def crop(alpha: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(alpha > 0.3)
    return alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def box_of(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1), x1/y1 exclusive, of the pixels with alpha > 0.3."""
    ys, xs = np.nonzero(alpha > 0.3)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def resize_alpha(alpha: np.ndarray, side: int) -> np.ndarray:
    """Scale a mask so its longer side is `side` px (aspect kept)."""
    h, w = alpha.shape
    s = side / max(h, w)
    size = (max(2, round(w * s)), max(2, round(h * s)))
    small = np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.BILINEAR))
    return np.clip(small * 1.5 / max(float(small.max()), 1e-6), 0, 1)   # thin strokes stay solid when shrunk


def allowed(color: str, noun: str, heldout: bool) -> bool:
    return ((color, noun) in HELDOUT) == heldout


def sample_scene(rng, pieces: Pieces, with_heldout: bool = False):
    """One composed scene: (uint8 96x96x3 image, objects sorted left to right, each a dict with
    noun, color, box). with_heldout: the first object drawn is a held-out colour-noun pair."""
    while True:
        n = int(rng.integers(1, 5))
        objects, alphas = [], []
        for k in range(n):
            while True:
                noun = DIGITS[rng.integers(10)] if rng.random() < 0.5 else SHAPES[rng.integers(3)]
                color = COLORS[rng.integers(len(COLORS))]
                if allowed(color, noun, with_heldout and k == 0):
                    break
            lo, hi = SMALL if rng.random() < 0.5 else LARGE
            alpha = resize_alpha(pieces.mask(rng, noun), int(rng.integers(lo, hi + 1)))
            for _ in range(30):                               # a free spot, 3 px from every other box
                h, w = alpha.shape
                x0, y0 = int(rng.integers(1, CANVAS - w)), int(rng.integers(1, CANVAS - h))
                box = placed_box(alpha, (x0, y0))
                if apart(box, [p["box"] for p in objects]):
                    objects.append({"noun": noun, "color": color, "box": box, "at": (x0, y0)})
                    alphas.append(alpha)
                    break
        if len(objects) < n:
            continue
        order = sorted(range(n), key=lambda i: centre(objects[i]["box"])[0])
        objects, alphas = [objects[i] for i in order], [alphas[i] for i in order]
        if not clear(objects):
            continue
        return paint(objects, alphas, rng), objects


def paint(objects: list[dict], alphas: list[np.ndarray], rng) -> np.ndarray:
    """A light canvas with each object's alpha mask painted in its colour at its "at" (x0, y0), which is
    removed from the object (its box stays)."""
    image = np.empty((CANVAS, CANVAS, 3), np.float32)
    image[:] = rng.integers(225, 256, size=3)
    for o, a in zip(objects, alphas):
        (x0, y0), (h, w) = o.pop("at"), a.shape
        patch = image[y0:y0 + h, x0:x0 + w]
        patch[:] = patch * (1 - a[..., None]) + np.array(RGB[o["color"]], np.float32) * a[..., None]
    return np.clip(image + 0.5, 0, 255).astype(np.uint8)


def placed_box(alpha: np.ndarray, at: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) of a mask whose top-left corner is at `at` (x0, y0) on the canvas."""
    bx0, by0, bx1, by1 = box_of(alpha)
    return at[0] + bx0, at[1] + by0, at[0] + bx1, at[1] + by1


def apart(box, boxes, gap: int = 3) -> bool:
    """Whether `box` is at least `gap` px from every box in `boxes` (on one side of each)."""
    return all(box[0] >= o[2] + gap or o[0] >= box[2] + gap or box[1] >= o[3] + gap or o[1] >= box[3] + gap
               for o in boxes)


def clear(objects, margin: float = 6.0) -> bool:
    """No near-ties: centres at least `margin` px apart in x, and for consecutive objects |dy| and
    dx at least `margin` px apart (so order and relation words are unambiguous)."""
    xs = [centre(o["box"])[0] for o in objects]
    if any(b - a < margin for a, b in zip(xs, xs[1:])):
        return False
    for a, b in zip(objects, objects[1:]):
        dx, dy = centre(b["box"])[0] - centre(a["box"])[0], centre(b["box"])[1] - centre(a["box"])[1]
        if abs(abs(dy) - dx) < margin:
            return False
    return True


def resize_canvas(img: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR))


def easyvqa_single(img: np.ndarray, shape: str, color: str):
    """A 64x64 easy-VQA image as a caption example: resized to the canvas, its shape's box."""
    big = resize_canvas(img)
    return big, [{"noun": shape, "color": color, "box": box_of(foreground(big).astype(np.float32))}]


def mnist_single(digit: np.ndarray, label: int):
    """A 28x28 MNIST digit (grey on black) as a caption example: resized, caption 'a large white seven'."""
    big = resize_canvas(np.repeat(digit[..., None], 3, -1))
    return big, [{"noun": DIGITS[label], "color": SINGLE_MNIST_COLOR,
                  "box": box_of(big[..., 0].astype(np.float32) / 255.0)}]


def build(split: str, n: int, seed: int, mix=(0.8, 0.12, 0.08), cache: bool = True) -> dict:
    """n examples of `split`:
      "train"   mixture of scenes / easy-VQA singles / MNIST singles (fractions `mix`), no held-out pair
      "test"    unseen scenes (test pieces, no held-out pair)     "heldout"  scenes with a held-out pair
      "easyvqa" easy-VQA test singles                              "mnist"    MNIST test singles
    Returns images (n, 96, 96, 3) uint8, tokens (n, MAX_WORDS + 2) int64 (<start> words <end> <pad>..),
    owner (same shape: object index of each token, -1 none), boxes (n, 4, 4) int (-1 padded), the
    objects' noun and colour ids (n, 4) (index in NOUNS / OBJECT_COLORS, -1 padded), kind (n,)."""
    path = paths.cache("caption") / f"{split}-{n}-{seed}-{'-'.join(map(str, mix))}-v3.npz"
    if cache and path.is_file():
        with np.load(path) as z:
            return dict(z)
    rng = np.random.default_rng(seed)
    pieces = Pieces("train" if split == "train" else "test")
    if split == "train":
        kinds = rng.choice(3, size=n, p=mix)
    else:
        kinds = np.full(n, {"test": 0, "heldout": 0, "easyvqa": 1, "mnist": 2}[split])
    evqa_ok = [i for i, (s, c) in enumerate(pieces.evqa_labels) if split != "train" or allowed(c, s, False)]
    out = {"images": np.zeros((n, CANVAS, CANVAS, 3), np.uint8), "tokens": np.zeros((n, MAX_WORDS + 2), np.int64),
           "owner": np.full((n, MAX_WORDS + 2), -1, np.int64), "boxes": np.full((n, 4, 4), -1, np.int64),
           "nouns": np.full((n, 4), -1, np.int64), "colors": np.full((n, 4), -1, np.int64),
           "kind": kinds.astype(np.int64)}
    for i, kind in enumerate(kinds):
        if kind == 0:
            image, objects = sample_scene(rng, pieces, with_heldout=split == "heldout")
        elif kind == 1:
            r = evqa_ok[i % len(evqa_ok)] if split == "easyvqa" else evqa_ok[rng.integers(len(evqa_ok))]
            shape, color = pieces.evqa_labels[r]
            image, objects = easyvqa_single(pieces.evqa_images[r], shape, color)
        else:
            r = i if split == "mnist" else int(rng.integers(len(pieces.mnist_labels)))
            image, objects = mnist_single(pieces.mnist_images[r], int(pieces.mnist_labels[r]))
        words, owner = caption_words(objects)
        out["images"][i] = image
        out["tokens"][i, :len(words) + 2] = encode(words)
        out["owner"][i, 1:len(words) + 1] = owner
        out["boxes"][i, :len(objects)] = [o["box"] for o in objects]
        out["nouns"][i, :len(objects)] = [NOUNS.index(o["noun"]) for o in objects]
        out["colors"][i, :len(objects)] = [OBJECT_COLORS.index(o["color"]) for o in objects]
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out)
    return out


def encode(words: list[str]) -> list[int]:
    return [VOCAB.index("<start>")] + [VOCAB.index(w) for w in words] + [VOCAB.index("<end>")]


def decode(tokens) -> list[str]:
    """Token ids -> words, stopping at <end> (specials dropped)."""
    words = []
    for t in tokens:
        w = VOCAB[int(t)]
        if w == "<end>":
            break
        if w not in SPECIALS:
            words.append(w)
    return words


def box_cells(boxes: np.ndarray, grid: int = CANVAS // 8) -> np.ndarray:
    """Which cells of the grid x grid region grid lie inside each box: cells whose centre is inside it
    (for a box too thin to hold a centre, e.g. a narrow "one": the cells holding the box's centre).
    boxes (..., 4) as (x0, y0, x1, y1) px -> (..., grid, grid) bool. Used by the attention loss and
    by the grounding metric alike."""
    cell = CANVAS / grid
    centres = (np.arange(grid) + 0.5) * cell
    b = np.asarray(boxes, dtype=np.float64)[..., None]
    in_x = (centres >= b[..., 0, :]) & (centres < b[..., 2, :])
    in_y = (centres >= b[..., 1, :]) & (centres < b[..., 3, :])
    mid_x = np.floor((b[..., 0, :] + b[..., 2, :]) / 2 / cell) == np.arange(grid)
    mid_y = np.floor((b[..., 1, :] + b[..., 3, :]) / 2 / cell) == np.arange(grid)
    in_x = np.where(in_x.any(-1, keepdims=True), in_x, mid_x)
    in_y = np.where(in_y.any(-1, keepdims=True), in_y, mid_y)
    return in_y[..., :, None] & in_x[..., None, :]
