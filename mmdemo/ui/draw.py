"""Drawing: every picture here is drawn from a Prediction's own tensors (attention maps, fusion weights)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ..explain import verdict
from ..inputs import load_image

OVERLAY_SIZE = 256
LABEL_FONT = ImageFont.load_default_imagefont()   # Pillow's bitmap font: 10x faster to draw than its TrueType default
TILE_LABEL = 16                                   # label height under a tile


def heat_colors(x: np.ndarray) -> np.ndarray:
    """Values in 0..1 -> RGB uint8 on a dark-blue -> red -> yellow ramp."""
    stops = np.array([[0, 0, 80], [0, 90, 200], [220, 30, 30], [255, 220, 0]], dtype=np.float64)
    pos = np.clip(x, 0, 1) * (len(stops) - 1)
    lo = np.minimum(pos.astype(int), len(stops) - 2)
    t = (pos - lo)[..., None]
    return ((1 - t) * stops[lo] + t * stops[lo + 1]).astype(np.uint8)


def overlay(image, attention: np.ndarray, size: int = OVERLAY_SIZE, alpha: float = 0.75) -> Image.Image:
    """The image with an attention grid laid over it: colour and opacity grow with the weight
    (scaled so the grid's peak is the top colour); unattended parts stay visible."""
    base = image if is_base(image, size) else base_picture(image, size)
    a = attention / attention.max() if attention.max() > 0 else attention
    heat = Image.fromarray(heat_colors(a)).resize((size, size), Image.Resampling.BILINEAR)
    mask = Image.fromarray((np.sqrt(np.clip(a, 0, 1)) * alpha * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR)
    return Image.composite(heat, base, mask)


def overlays(image, attentions, size: int = OVERLAY_SIZE, alpha: float = 0.75) -> list[Image.Image]:
    """overlay() of several maps over one image, which is decoded and resized once. (PIL, one thread:
    a batched torch version was 3-30x slower under load, its threads waiting on each other.)"""
    base = base_picture(image, size)
    return [overlay(base, a, size, alpha) for a in attentions]


def is_base(image, size: int) -> bool:
    """Already what overlay() draws on (an RGB picture of size x size, e.g. from base_picture): used as it is."""
    return isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (size, size)


def labelled_tiles(tiles: list[Image.Image], labels: list[str], tile: int, columns: int) -> Image.Image | None:
    """Pictures of at most tile x tile pixels, `columns` to a row, each with its label underneath: one
    picture (one thing to send, however many tiles). Tile i's top-left corner is at
    ((i % columns) * tile, (i // columns) * (tile + TILE_LABEL))."""
    if not tiles:
        return None
    rows = -(-len(tiles) // columns)
    out = Image.new("RGB", (columns * tile, rows * (tile + TILE_LABEL)), "white")
    draw = ImageDraw.Draw(out)
    for i, (picture, label) in enumerate(zip(tiles, labels)):
        x, y = (i % columns) * tile, (i // columns) * (tile + TILE_LABEL)
        out.paste(picture, (x + 2, y + 2))
        draw.text((x + 4, y + tile), fitted(label, tile - 6), fill="black", font=LABEL_FONT)
    return out


def tile_at(x: float, y: float, tile: int, columns: int) -> int:
    """The index of the labelled_tiles() tile under pixel (x, y) (its label included)."""
    return int(y) // (tile + TILE_LABEL) * columns + int(x) // tile


def fitted(label: str, width: int) -> str:
    """The label, cut with "..." to fit `width` pixels in LABEL_FONT."""
    if LABEL_FONT.getlength(label) <= width:
        return label
    while label and LABEL_FONT.getlength(label + "...") > width:
        label = label[:-1]
    return label + "..."


def base_picture(image, size: int = OVERLAY_SIZE) -> Image.Image:
    """The image decoded and resized once for several overlays of the same size (a caption's per-word maps)."""
    return load_image(image).resize((size, size), Image.Resampling.BILINEAR)


def token_highlights(words: list[str], weights: np.ndarray) -> list[tuple[str, float]]:
    """(word, weight scaled to 0..1 by the largest) pairs for gr.HighlightedText."""
    top = float(weights.max()) if len(weights) and weights.max() > 0 else 1.0
    return [(w, round(float(x) / top, 3)) for w, x in zip(words, weights)]


def fusion_frame(weights: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"modality": list(weights), "weight": [round(v, 4) for v in weights.values()]})


def mel_picture(mel: np.ndarray, weights: np.ndarray, height: int = 160, px_per_frame: int = 3) -> Image.Image:
    """Log-mel spectrogram (low frequencies at the bottom) with the frame weights as a white curve
    (scaled so the largest weight reaches the top) and a weight strip underneath."""
    m = (mel - mel.min()) / max(float(mel.max() - mel.min()), 1e-6)
    width = max(mel.shape[1] * px_per_frame, 60)
    spec = Image.fromarray(heat_colors(m[::-1] * 0.8)).resize((width, height), Image.Resampling.NEAREST)
    w = weights[: mel.shape[1]] / max(float(weights.max()), 1e-12)
    strip = Image.fromarray(heat_colors(np.tile(w, (1, 1)))).resize((width, 16), Image.Resampling.NEAREST)
    out = Image.new("RGB", (width, height + 18), "white")
    out.paste(spec, (0, 0))
    out.paste(strip, (0, height + 2))
    draw = ImageDraw.Draw(out)
    xs = (np.arange(len(w)) + 0.5) * width / len(w)
    draw.line([(float(x), float(height - 2 - v * (height - 4))) for x, v in zip(xs, w)], fill="white", width=2)
    return out


def word_map_picture(words: list[str], word_frames: np.ndarray, seconds_per_frame: float,
                     row_height: int = 22, label_width: int = 110, width: int = 600) -> Image.Image:
    """One row per word: where in the recording (time across) the recogniser listened while writing
    it, each row scaled to its own peak; a tick every second along the bottom."""
    n_words, n_frames = word_frames.shape if word_frames.ndim == 2 else (0, 1)
    px_per_frame = max(1, width // max(n_frames, 1))
    width = max(n_frames * px_per_frame, 60)
    out = Image.new("RGB", (label_width + width, max(n_words, 1) * row_height + 16), "white")
    draw = ImageDraw.Draw(out)
    for i, (word, row) in enumerate(zip(words, word_frames)):
        scaled = row / max(float(row.max()), 1e-12)
        strip = Image.fromarray(heat_colors(scaled[None])).resize((width, row_height - 2), Image.Resampling.NEAREST)
        out.paste(strip, (label_width, i * row_height))
        draw.text((4, i * row_height + 4), word[:16], fill="black")
    for second in range(int(n_frames * seconds_per_frame) + 1):
        x = label_width + second / seconds_per_frame * px_per_frame
        draw.line([(x, out.height - 14), (x, out.height - 8)], fill="black")
        draw.text((x + 2, out.height - 14), f"{second}s", fill="black")
    return out


def image_grid(images: np.ndarray, cols: int = 8, scale: int = 4, pad: int = 2) -> Image.Image:
    """(N, H, W) greyscale images in 0..1 -> one picture, `cols` per row, each enlarged `scale` times."""
    n, h, w = images.shape
    rows = -(-n // cols)
    cols = min(cols, n)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 0.35, np.float32)
    for i, im in enumerate(images):
        r, c = divmod(i, cols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    big = Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))
    return big.resize((big.width * scale, big.height * scale), Image.Resampling.NEAREST)


def spectrogram(mel: np.ndarray, height: int = 160, px_per_frame: int = 4) -> Image.Image:
    """A (bands, frames) spectrogram in any range, low frequencies at the bottom, on the heat ramp."""
    m = (mel - mel.min()) / max(float(mel.max() - mel.min()), 1e-6)
    return Image.fromarray(heat_colors(m[::-1])).resize((mel.shape[1] * px_per_frame, height),
                                                         Image.Resampling.NEAREST)


DELETION, INSERTION = (214, 39, 40), (44, 160, 44)


def curve_panels(curves: dict[str, dict], size: tuple[int, int] = (300, 180), columns: int = 2) -> Image.Image | None:
    """A small plot per map (mmdemo.explain.deletion_insertion results): the predicted class's probability as the
    share of parts removed (red) or inserted (green) grows, the map's order solid, random orders dotted; the
    verdict and the areas on top. Drawn with PIL: about 1 ms, where matplotlib took ~300 ms here per request."""
    if not curves:
        return None
    w, h = size
    cols = min(len(curves), columns)
    out = Image.new("RGB", (cols * w, -(-len(curves) // cols) * h), "white")
    d = ImageDraw.Draw(out)
    for i, (name, f) in enumerate(curves.items()):
        x0, y0 = (i % cols) * w, (i // cols) * h
        box = (x0 + 26, y0 + 34, x0 + w - 10, y0 + h - 18)
        d.rectangle(box, outline=(160, 160, 160))
        for kind, colour in (("deletion", DELETION), ("insertion", INSERTION)):
            for order, solid in (("map", True), ("random", False)):
                polyline(d, box, f["fraction"], f[kind][order], colour, solid)
        dl, ins = f["deletion"], f["insertion"]
        d.text((x0 + 4, y0 + 3), fitted(f"{name}: {verdict(f)}", w - 8), fill="black", font=LABEL_FONT)
        d.text((x0 + 4, y0 + 17), f"area: del {dl['auc_map']:.2f} (rnd {dl['auc_random']:.2f}), "
                                  f"ins {ins['auc_map']:.2f} (rnd {ins['auc_random']:.2f})", fill=(90, 90, 90), font=LABEL_FONT)
        d.text((x0 + 4, box[1] - 4), "1", fill="black", font=LABEL_FONT)
        d.text((x0 + 4, box[3] - 8), "0", fill="black", font=LABEL_FONT)
        d.text((box[0], box[3] + 3), "share of parts removed / inserted: 0 -> 1", fill=(90, 90, 90), font=LABEL_FONT)
    return out


def polyline(d: ImageDraw.ImageDraw, box, xs, ys, colour, solid: bool) -> None:
    """Values 0..1 on both axes drawn inside box; dotted = every other short piece of each segment."""
    left, top, right, bottom = box
    pts = [(left + x * (right - left), bottom - min(max(y, 0.0), 1.0) * (bottom - top)) for x, y in zip(xs, ys)]
    if solid:
        d.line(pts, fill=colour, width=2)
        return
    for (xa, ya), (xb, yb) in zip(pts, pts[1:]):
        n = max(2, int(np.hypot(xb - xa, yb - ya) / 4))
        for k in range(0, n, 2):
            t0, t1 = k / n, (k + 1) / n
            d.line([(xa + t0 * (xb - xa), ya + t0 * (yb - ya)), (xa + t1 * (xb - xa), ya + t1 * (yb - ya))],
                   fill=colour, width=1)
