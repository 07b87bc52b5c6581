"""Galleries to search: built-in ones from the test splits, or the user's own files and texts.

    GALLERIES                                   name -> (space, description)
    raw = builtin_items("mnist-test")           RawGallery: space, modality, class label, name, item per entry
    raw = user_items({"images": [...], "audio": [...], "texts": [...]}, space="digits")
    index = VectorIndex(embeddings)             exact inner-product search (faiss beyond INDEX_MIN items)

User galleries are bounded: at most MAX_GALLERY_FILES files and MAX_GALLERY_TEXTS texts, each decoded
by mmdemo.inputs with its own limits; a bad item is refused with its position in the message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ...errors import MMDemoError
from ...inputs import load_audio, load_image, load_text

GALLERIES = {
    "mnist-test": ("digits", "MNIST test images (10,000)"),
    "fsdd-test": ("digits", "FSDD test clips (250, five speakers)"),
    "digit-texts": ("digits", "Digit phrasings (1,000, unseen in training)"),
    "digits-all": ("digits", "Digits, all three modalities (1,000 images + 250 clips + 500 phrasings)"),
    "scenes-test": ("scenes", "Test scenes (1,000 unseen)"),
    "scene-captions": ("scenes", "Test scene captions (1,000)"),
    "scenes-all": ("scenes", "Test scenes and their captions (2,000)"),
    "spoken-captions": ("scenes", "Test scene captions spoken by unheard synthetic voices (300)"),
}
MAX_GALLERY_FILES, MAX_GALLERY_TEXTS = 64, 256
INDEX_MIN = 4096          # galleries at least this big are searched with faiss (exact inner product)
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".webm"}


@dataclass
class RawGallery:
    """Gallery entries before embedding: per entry its modality, class label (digit or caption), a
    display name and the item itself (image array, text, or 16 kHz wave)."""
    space: str
    modalities: list[str]
    labels: list[str]
    names: list[str]
    items: list
    notes: list[str] = field(default_factory=list)

    def __add__(self, other: "RawGallery") -> "RawGallery":
        return RawGallery(self.space, self.modalities + other.modalities, self.labels + other.labels,
                          self.names + other.names, self.items + other.items, self.notes + other.notes)


def mnist_gallery(n: int | None = None) -> RawGallery:
    from .data import digit_images
    images, labels = digit_images("test")
    images, labels = images[:n], labels[:n]
    return RawGallery("digits", ["image"] * len(images), [str(y) for y in labels],
                      [f"MNIST test #{i} ({y})" for i, y in enumerate(labels)], list(images))


def fsdd_gallery() -> RawGallery:
    from ...datasets.fsdd import fsdd_clips
    waves, labels, who = fsdd_clips(split="test")
    counts: dict = {}
    names = []
    for y, s in zip(labels, who):
        counts[(y, s)] = counts.get((y, s), -1) + 1
        names.append(f"{y}_{s}_{counts[(y, s)]}.wav")
    return RawGallery("digits", ["audio"] * len(waves), [str(y) for y in labels], names, list(waves))


def text_gallery(n: int = 1000) -> RawGallery:
    from ..classify.data import digit_texts
    from .data import TEXT_TEST_SEED
    texts, labels = digit_texts(n, seed=TEXT_TEST_SEED)
    return RawGallery("digits", ["text"] * n, [str(y) for y in labels], list(texts), list(texts))


def scene_gallery(images: bool = True, captions: bool = True, n: int = 1000) -> RawGallery:
    from .data import SCENE_SEED, scene_set
    scenes, texts = scene_set("test", 2000, SCENE_SEED)
    scenes, texts = scenes[:n], texts[:n]
    out = RawGallery("scenes", [], [], [], [])
    if images:
        out = out + RawGallery("scenes", ["image"] * n, texts, [f"test scene #{i}" for i in range(n)], list(scenes))
    if captions:
        out = out + RawGallery("scenes", ["text"] * n, texts, texts, list(texts))
    return out


def spoken_caption_gallery(n: int = 300) -> RawGallery:
    """The first n test captions, each read by a synthetic voice the speech tower never heard."""
    from .data import SCENE_SEED, scene_set
    from .spoken import spoken_captions
    _, texts = scene_set("test", 2000, SCENE_SEED)
    waves, voices = spoken_captions(texts[:n], "test", SCENE_SEED)
    return RawGallery("scenes", ["audio"] * n, texts[:n], [f"'{t}' ({v.split(':')[1]})" for t, v in zip(texts, voices)],
                      waves)


def builtin_items(name: str) -> RawGallery:
    if name not in GALLERIES:
        raise MMDemoError(f"No built-in gallery {name!r}; choose one of {', '.join(GALLERIES)}.")
    makers = {"mnist-test": mnist_gallery, "fsdd-test": fsdd_gallery, "digit-texts": text_gallery,
              "digits-all": lambda: mnist_gallery(1000) + fsdd_gallery() + text_gallery(500),
              "scenes-test": lambda: scene_gallery(captions=False),
              "scene-captions": lambda: scene_gallery(images=False), "scenes-all": scene_gallery,
              "spoken-captions": spoken_caption_gallery}
    return makers[name]()


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def user_items(gallery, space: str, prepare_image) -> RawGallery:
    """The user's own gallery: {"images": [...], "audio": [...], "texts": [...]}, or a list of file
    paths (images and audio told apart by suffix). prepare_image(image) -> what the space's image
    encoder reads. Bounded; each item is decoded and checked here."""
    if not isinstance(gallery, dict):
        files = _as_list(gallery)
        gallery = {"images": [f for f in files if Path(str(f)).suffix.lower() not in AUDIO_SUFFIXES],
                   "audio": [f for f in files if Path(str(f)).suffix.lower() in AUDIO_SUFFIXES]}
    unknown = set(gallery) - {"images", "audio", "texts"}
    if unknown:
        raise MMDemoError(f"A gallery takes images, audio and texts, not {', '.join(sorted(unknown))}.")
    images, audio = _as_list(gallery.get("images")), _as_list(gallery.get("audio"))
    texts = [t for t in _as_list(gallery.get("texts")) if not (isinstance(t, str) and not t.strip())]   # blank lines dropped
    if len(images) + len(audio) > MAX_GALLERY_FILES:
        raise MMDemoError(f"A gallery holds at most {MAX_GALLERY_FILES} files; {len(images) + len(audio)} were given.")
    if len(texts) > MAX_GALLERY_TEXTS:
        raise MMDemoError(f"A gallery holds at most {MAX_GALLERY_TEXTS} texts; {len(texts)} were given.")
    if not images and not audio and not texts:
        raise MMDemoError("The gallery is empty: upload images or audio files, or type texts (one per line).")
    out = RawGallery(space, [], [], [], [])
    for kind, entries in (("image", images), ("audio", audio), ("text", texts)):
        for i, x in enumerate(entries):
            out = out + RawGallery(space, [kind], ["yours"], [_name(x, kind, i)], [_decode(x, kind, i, prepare_image)])
    return out


def _name(x, kind: str, i: int) -> str:
    if kind == "text":
        return str(x)
    return Path(x).name if isinstance(x, (str, Path)) else f"{kind} {i + 1}"


def _decode(x, kind: str, i: int, prepare_image):
    try:
        if kind == "image":
            return prepare_image(load_image(x))
        if kind == "audio":
            return load_audio(x, target_rate=16000)[1]
        return load_text(x, "gallery text")
    except MMDemoError as e:
        raise MMDemoError(f"Gallery {kind} {i + 1} ({_name(x, kind, i)}): {e}") from None


class VectorIndex:
    """Exact top-k by inner product over unit vectors: faiss IndexFlatIP for galleries of INDEX_MIN
    items or more (when faiss is installed), else one matrix product and torch.topk."""

    def __init__(self, embeddings: torch.Tensor):
        self.embeddings = embeddings.float().contiguous()
        self.faiss = None
        if len(embeddings) >= INDEX_MIN:
            try:
                import faiss
                self.faiss = faiss.IndexFlatIP(embeddings.shape[1])
                self.faiss.add(self.embeddings.numpy())
            except ImportError:
                self.faiss = None
        self.kind = "faiss IndexFlatIP (exact)" if self.faiss is not None else "exact matrix product + top-k"

    def search(self, query: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        """query (D,) unit -> similarities (k,), indices (k,), best first."""
        k = min(k, len(self.embeddings))
        if self.faiss is not None:
            sims, idx = self.faiss.search(query.float().numpy()[None], k)
            return sims[0], idx[0]
        top = (self.embeddings @ query.float()).topk(k)
        return top.values.numpy(), top.indices.numpy()
