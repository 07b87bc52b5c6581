"""The map of the space: the gallery's 2-D PCA projection (model.py SpaceMap) drawn with the query on it.

Colour = class (digits: one colour per digit; scenes: the colour word of the caption's first object),
shape = modality (image circle, text square, speech triangle), the modality centroids as large rings
joined by lines labelled with the modality gap, the query a black star."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ...datasets.scenes import RGB
from ...runtime import BoundedCache

DIGIT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"]
MODALITY_NAMES = {"image": "image = circle", "text": "text = square", "audio": "speech = triangle"}


def class_colour(label: str) -> tuple | str:
    if label.isdigit():
        return DIGIT_COLOURS[int(label) % 10]
    for word in label.split():
        if word in RGB:
            return RGB[word] if word not in ("yellow",) else (200, 180, 0)
    return "#555555"


def marker(draw: ImageDraw.ImageDraw, x: float, y: float, modality: str, r: float, fill, outline=None, width=1):
    if modality == "text":
        draw.rectangle([x - r, y - r, x + r, y + r], fill=fill, outline=outline, width=width)
    elif modality == "audio":
        draw.polygon([(x, y - r * 1.2), (x - r * 1.1, y + r * 0.8), (x + r * 1.1, y + r * 0.8)], fill=fill,
                     outline=outline, width=width)
    else:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill, outline=outline, width=width)


def star(draw: ImageDraw.ImageDraw, x: float, y: float, r: float = 11):
    pts = [(x + (r if i % 2 == 0 else r * 0.45) * np.sin(i * np.pi / 5),
            y - (r if i % 2 == 0 else r * 0.45) * np.cos(i * np.pi / 5)) for i in range(10)]
    draw.polygon(pts, fill="black", outline="white")


GALLERY_MAPS = BoundedCache(8)     # id of a gallery's projection -> (projection, its map without the query, to_px)


def draw_map(m, size: int = 520, legend: int = 80) -> Image.Image:
    """SpaceMap -> picture: the gallery's map (points, modality centroids joined by lines, legend; drawn once
    per gallery and kept), then the query's star and its legend line."""
    cached = GALLERY_MAPS.get(id(m.xy))
    if cached is None or cached[0] is not m.xy:           # the projection is kept with it: its id stays unique
        cached = (m.xy, *gallery_map(m, size, legend))
        GALLERY_MAPS.put(id(m.xy), cached)
    _, base, to_px = cached
    img = base.copy()
    draw = ImageDraw.Draw(img)
    x, y, inside = to_px(m.query_xy)
    star(draw, x, y)
    draw.text((6, size + 50), f"black star = your {MODALITY_NAMES[m.query_modality].split()[0]} query"
              f"{'' if inside else ' (outside the gallery: drawn at the edge)'}; PCA of the gallery, 2 components "
              f"hold {m.explained:.0%} of the variance", fill="black")
    return img


def gallery_map(m, size: int, legend: int):
    """The map without the query -> (picture, to_px: projected point -> (x, y, inside the frame))."""
    img = Image.new("RGB", (size, size + legend), "white")
    draw = ImageDraw.Draw(img)
    pts = np.vstack([m.xy, *[c[None] for c in m.centroids_xy.values()]])
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-6)

    def to_px(p):
        q = (np.asarray(p) - lo) / span
        inside = bool(np.all((q >= 0) & (q <= 1)))
        q = np.clip(q, 0, 1)
        return 24 + q[0] * (size - 48), size - 24 - q[1] * (size - 48), inside
    for (x, y), mod, lab in zip(m.xy, m.modalities, m.labels):
        marker(draw, *to_px((x, y))[:2], mod, 3, class_colour(lab))
    cents = {k: to_px(c)[:2] for k, c in m.centroids_xy.items()}
    names = list(cents)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            draw.line([cents[a], cents[b]], fill="black", width=2)
    for k, c in cents.items():
        marker(draw, *c, k, 9, None, outline="black", width=3)
    legend_rows(draw, m, size)
    return img, to_px


def legend_rows(draw: ImageDraw.ImageDraw, m, top: int) -> None:
    """Class colours, modality shapes, the modality gap (what the star is: draw_map)."""
    classes = sorted(set(m.labels), key=lambda c: (not c.isdigit(), c))
    x = 6
    if all(c.isdigit() for c in classes):
        for c in classes:
            draw.text((x, top + 2), c, fill=class_colour(c))
            x += 14
    else:
        draw.text((x, top + 2), "colour = the colour of the caption's first object", fill="black")
    draw.text((6, top + 18), "shape: " + ", ".join(MODALITY_NAMES[k] for k in dict.fromkeys(m.modalities)) +
              "; large outlines: modality centroids (joined by lines)", fill="black")
    gap = ", ".join(f"{k} {v:.3f}" for k, v in m.gap.items()) or "one modality only"
    draw.text((6, top + 34), f"modality gap (centroid distance, 64-d unit vectors): {gap}", fill="black")
