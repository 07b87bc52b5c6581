"""The tri-modal classifier's data. Digits three ways: text phrasings of a digit (with noise),
drawn/uploaded images made MNIST-like, the seeded corruption protocol, and the bring-your-own-data
manifest reader.

    texts, labels = digit_texts(5000, seed=0)          # "sevn", "the number 7", "SIEBEN!", ...
    x = mnist_like(image)                               # any image of one digit -> 28 x 28 float 0..1
    corrupt_image(x, rng) / corrupt_audio(w, rng) / corrupt_text(t, rng)   # the protocol (see PROTOCOL)
    items, labels = read_manifest("data.jsonl")         # checked; MMDemoError names line + problem
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ...errors import MMDemoError
from ...explain import mix_at_snr, speech_band_noise, typo
from ...inputs import load_audio, load_image

WORDS = {   # digit -> its names: English first, then German, French, Spanish, Italian, Dutch
    0: ["zero", "null", "zéro", "cero", "nil", "nul", "oh"],
    1: ["one", "eins", "un", "uno", "een", "une"],
    2: ["two", "zwei", "deux", "dos", "due", "twee"],
    3: ["three", "drei", "trois", "tres", "tre", "drie"],
    4: ["four", "vier", "quatre", "cuatro", "quattro"],
    5: ["five", "fünf", "cinq", "cinco", "cinque", "vijf", "funf"],
    6: ["six", "sechs", "seis", "sei", "zes"],
    7: ["seven", "sieben", "sept", "siete", "sette", "zeven"],
    8: ["eight", "acht", "huit", "ocho", "otto"],
    9: ["nine", "neun", "neuf", "nueve", "nove", "negen"],
}
TEMPLATES = ["{w}", "{d}", "{w}", "{d}", "the number {w}", "the number {d}", "number {w}", "digit {d}",
             "it's a {w}", "it is {w}", "this is a {d}", "I think it's {w}", "a {w}", "{w} please",
             "my digit is {w}", "{w}!", "{d}.", "looks like {w}", "that's a {w}", "{w} ({d})", "write {w}",
             "definitely {w}", "maybe {w}", "the digit {w}", "it says {d}", "{w}?", "I said {w}"]
def phrase(digit: int, rng: np.random.Generator, typo_rate: float = 0.25) -> str:
    """One way a person might type `digit`: a template, a name in some language, typos, casing."""
    names = WORDS[digit]
    w = names[0] if rng.random() < 0.5 else names[int(rng.integers(len(names)))]
    if rng.random() < typo_rate:
        w = typo(w, rng)
        if rng.random() < 0.3:
            w = typo(w, rng)
    t = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(w=w, d=digit)
    r = rng.random()
    return t.upper() if r < 0.1 else t.capitalize() if r < 0.3 else t.title() if r < 0.35 else t


def digit_texts(n: int, seed: int = 0, typo_rate: float = 0.25) -> tuple[list[str], np.ndarray]:
    """n phrasings with balanced labels; a different seed gives different phrasings."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    return [phrase(int(d), rng, typo_rate) for d in labels], labels.astype(np.int64)


# ---- images: make any picture of one digit look like MNIST (white digit on black, 20 px box, centred by mass)

def mnist_like(image) -> np.ndarray:
    """A photo, upload or sketch of one digit -> 28 x 28 float32 in 0..1, white on black like MNIST.

    Dark strokes on a light background are inverted; the digit's bounding box is scaled to fit
    20 x 20 and placed so its centre of mass is the centre of the 28 x 28 frame (MNIST's recipe)."""
    grey = np.asarray(load_image(image).convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    if np.median(border) > 0.5:          # light background: dark ink -> invert
        grey, border = 1.0 - grey, 1.0 - border
    grey = np.clip(grey - np.median(border), 0, 1)   # background to 0
    if grey.max() < 0.1:
        raise MMDemoError("No digit found: the image looks blank once its background is removed. "
                          "Draw a digit (dark on light, or light on dark) or upload one.")
    grey = grey / grey.max()
    ys, xs = np.nonzero(grey > 0.2)
    crop = grey[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    crop = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.Resampling.LANCZOS),
                      dtype=np.float32) / 255.0
    out = np.zeros((28, 28), np.float32)
    mass = crop.sum()
    cy, cx = (np.arange(nh) @ crop.sum(1)) / mass, (np.arange(nw) @ crop.sum(0)) / mass
    top, left = int(np.clip(round(14 - cy), 0, 28 - nh)), int(np.clip(round(14 - cx), 0, 28 - nw))
    out[top:top + nh, left:left + nw] = crop
    return out


# ---- the corruption protocol: fixed, seeded, documented (README "Tri-modal classification")

PROTOCOL = {
    "image": "Gaussian pixel noise (sigma 0.45 on 0..1) and a random black occluding box of 10-16 px side",
    "audio": "white noise at 0 dB SNR in the speech band: made at FSDD's own 8 kHz rate (0-4 kHz, where the "
             "speech and the model's mel features are), then resampled to 16 kHz with the clip",
    "text": "empty with probability 0.3, otherwise 3 random typos (delete/swap/replace/insert)",
    "seed": "evaluation uses seed 1234; fusion training uses other seeds",
}


def corrupt_image(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """x: 28 x 28 float in 0..1."""
    x = x + rng.normal(0, 0.45, x.shape)
    s = int(rng.integers(10, 17))
    top, left = rng.integers(0, 28 - s + 1, size=2)
    x[top:top + s, left:left + s] = 0.0
    return np.clip(x, 0, 1).astype(np.float32)


def corrupt_audio(wave: np.ndarray, rng: np.random.Generator, snr_db: float = 0.0) -> np.ndarray:
    """wave: 16 kHz. The noise is white at 8 kHz (FSDD's rate), so its power is all in 0-4 kHz like
    the speech's: white noise made at 16 kHz would put half its power above 4 kHz, where neither
    the recordings nor the mel features are (an easier, effectively +3 dB, test)."""
    return mix_at_snr(wave, speech_band_noise(len(wave), rng), snr_db)


def corrupt_text(text: str, rng: np.random.Generator) -> str:
    if rng.random() < 0.3:
        return ""
    for _ in range(3):
        text = typo(text, rng)
    return text


# ---- bring your own data: a JSON Lines manifest, {"image": path, "text": str, "audio": path, "label": ...}

MODALITIES = ("image", "text", "audio")


def read_manifest(path) -> tuple[list[dict], list[str]]:
    """Read and check a manifest. Returns (items, class names); every item has "label" (str) and the
    modalities it gives, paths resolved against the manifest's folder. Files are opened once here
    so a broken one stops training before it starts, with the line number and the problem."""
    path = Path(path)
    if not path.is_file():
        raise MMDemoError(f"Manifest not found: {path}")
    items, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name} line {n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: not valid JSON ({e.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where}: expected a JSON object with a label, got {type(row).__name__}")
            continue
        label = row.get("label")
        if label is None or not str(label).strip():
            problems.append(f"{where}: empty or missing label")
            continue
        item = {"label": str(label).strip(), "line": n}
        unknown = set(row) - set(MODALITIES) - {"label"}
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))} "
                            f"(allowed: image, text, audio, label)")
            continue
        for key in ("image", "audio"):
            if row.get(key) in (None, ""):
                continue
            file = Path(row[key]) if Path(row[key]).is_absolute() else path.parent / row[key]
            try:
                load_image(file) if key == "image" else load_audio(file)
            except MMDemoError as e:
                problems.append(f"{where}: {key} {row[key]!r}: {e}")
                break
            item[key] = str(file)
        else:
            if row.get("text") not in (None, ""):
                if not isinstance(row["text"], str):
                    problems.append(f"{where}: text must be a string")
                    continue
                item["text"] = row["text"]
            if not any(m in item for m in MODALITIES):
                problems.append(f"{where}: no image, text or audio given")
                continue
            items.append(item)
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise MMDemoError("The manifest has problems:\n" + "\n".join(problems[:10]) + more)
    if not items:
        raise MMDemoError(f"The manifest {path.name} has no items.")
    classes = sorted({i["label"] for i in items})
    if len(classes) < 2:
        raise MMDemoError(f"The manifest {path.name} has one class only ({classes[0]!r}); a classifier needs at least two.")
    return items, classes
