"""A shared embedding space for image, text and speech: small projection heads over frozen encoders,
trained with symmetric InfoNCE and a learned temperature (CLIP, Radford et al. 2021).

Two spaces, one checkpoint (checkpoints/retrieve):
  digits  MNIST image <-> digit phrasing <-> spoken digit: one linear head per modality over the
          tri-modal classifier's frozen pooled vectors (image CNN 64-d, character CNN 96-d, audio
          encoder over Google's speech embedding 128-d) -> 64-d, L2-normalised;
  scenes  composed scene <-> its caption <-> the caption spoken: a one-layer Transformer over the
          captioner's frozen 6x6 region features, one over MiniLM's frozen word-piece embeddings, and a
          two-layer one over the frozen speech-embedding vectors (80 ms steps), each pooled by
          attention and projected linearly -> 64-d.
Every tower ends in attention pooling + a linear map, so a cosine similarity splits exactly into one
term per region (or word piece, or speech step): sim = sum_i a_i q.(W h_i) / |e| + q.b / |e|. The
app's region maps are those terms (model.py `region_terms`); the word shares are a named standard
method (leave-one-word-out).
"""
from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ... import checkpoint, paths
from ...datasets.scenes import CANVAS
from ...errors import MMDemoError
from ...inputs import load_audio, load_square, load_text
from ...nn.pooling import AttentionPool
from ...prediction import Prediction
from ...registry import register
from ..classify.data import mnist_like
from .gallery import VectorIndex, builtin_items, user_items

EMBED_DIM = 64
DIGIT_FEATURES = {"image": 64, "text": 96, "audio": 128}     # the classifier's pooled vectors
REGION_DIM, PIECE_DIM, SPEECH_DIM = 256, 384, 96             # captioner regions, MiniLM embeddings, speech vectors


class Tower(nn.Module):
    """A set of frozen token vectors -> [optional Transformer layer] -> attention pooling -> linear.
    forward(x (B, N, in), mask (B, N)) -> embedding (B, EMBED_DIM) (not normalised), pooling weights
    (B, N), the pooled tokens (B, N, dim) the linear map reads."""

    def __init__(self, in_dim: int, dim: int = 64, layers: int = 1, out: int = EMBED_DIM):
        super().__init__()
        self.inp = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim))
        layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.1, batch_first=True, norm_first=True)
        self.context = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None
        self.pool = AttentionPool(dim, hidden=64)
        self.out = nn.Linear(dim, out)

    def tokens(self, x, mask=None):
        h = self.inp(x)
        if self.context is not None:
            h = self.context(h, src_key_padding_mask=None if mask is None else ~mask)
        return h

    def forward(self, x, mask=None):
        h = self.tokens(x, mask)
        pooled, weights = self.pool(h, mask)
        return self.out(pooled), weights, h


class RetrieveNet(nn.Module):
    """The trained part: the digit heads (and the same heads trained without one FSDD speaker, for
    the unseen-speaker measurement), the scene towers, and a learned temperature per space."""

    def __init__(self, dim: int = EMBED_DIM, scene_dim: int = 64, scene_layers: int = 1, speech_layers: int = 2):
        super().__init__()
        self.digits = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in DIGIT_FEATURES.items()})
        self.digits_loso = nn.ModuleDict({m: nn.Linear(d, dim) for m, d in DIGIT_FEATURES.items()})
        self.scenes = nn.ModuleDict({"image": Tower(REGION_DIM, scene_dim, scene_layers, dim),
                                     "text": Tower(PIECE_DIM, scene_dim, scene_layers, dim),
                                     "audio": Tower(SPEECH_DIM, scene_dim, speech_layers, dim)})
        # CLIP's temperature: logit scale = exp(t), t learned, initialised at 1/0.07, capped at 100
        self.log_scale = nn.ParameterDict({s: nn.Parameter(torch.tensor(math.log(1 / 0.07)))
                                           for s in ("digits", "digits_loso", "scenes", "scenes_speech")})

    def scale(self, space: str) -> torch.Tensor:
        return self.log_scale[space].clamp(max=math.log(100)).exp()

    def embed_digits(self, modality: str, features, heads: str = "digits") -> torch.Tensor:
        """Frozen pooled vectors (B, D_m) -> unit vectors (B, EMBED_DIM)."""
        return F.normalize(getattr(self, heads)[modality](features), dim=-1)

    def embed_scenes(self, modality: str, x, mask=None) -> torch.Tensor:
        return F.normalize(self.scenes[modality](x, mask)[0], dim=-1)


def info_nce(a: torch.Tensor, b: torch.Tensor, scale: torch.Tensor, same: torch.Tensor,
             extra_b: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between unit vectors a (B, D) and b (B, D). `same` (B, B) bool marks every
    positive pair (items of one class, or scenes with the same caption): the target puts equal mass
    on each (with one positive per row this is exactly CLIP's loss). extra_b (M, D): further
    negatives for the a -> b direction only (perturbed captions)."""
    logits = scale * a @ b.T
    target = same.float() / same.float().sum(1, keepdim=True)
    rows = logits if extra_b is None else torch.cat([logits, scale * a @ extra_b.T], 1)
    rows_target = target if extra_b is None else F.pad(target, (0, len(extra_b)))
    a_to_b = -(rows_target * rows.log_softmax(1)).sum(1).mean()
    b_to_a = -(target.T * logits.T.log_softmax(1)).sum(1).mean()
    return (a_to_b + b_to_a) / 2


def region_terms(tower_out: nn.Linear, tokens: torch.Tensor, weights: torch.Tensor, query: torch.Tensor):
    """Exact split of cosine(query, out(sum_i w_i h_i)) into one term per token:
    term_i = w_i * query.(W h_i) / |e|; the terms plus query.b / |e| sum to the similarity.
    tokens (N, dim), weights (N,), query (EMBED_DIM,) unit -> terms (N,), bias term."""
    e = tower_out(weights @ tokens)
    norm = e.norm().clamp_min(1e-12)
    terms = weights * (tokens @ tower_out.weight.T @ query) / norm
    return terms, float(tower_out.bias @ query / norm)


# ------------------------------------------------------------------------------ the ready model

@dataclass
class Result:
    """One gallery item found: rank, position in the gallery, modality, class label (digit or
    caption), display name, cosine similarity, the item itself, and its explanation."""
    rank: int
    index: int
    modality: str
    label: str
    name: str
    similarity: float
    item: object = None                       # image array, text, or 16 kHz wave
    regions: np.ndarray | None = None         # image results: per-region terms of the similarity (grid)
    words: list[str] | None = None            # text results: words and each word's share
    word_shares: np.ndarray | None = None


@dataclass
class SpaceMap:
    """The gallery's 2-D PCA projection with the query on it, and the modality gap."""
    xy: np.ndarray                    # (N, 2) gallery points
    modalities: list[str]             # per point
    labels: list[str]                 # per point (digit, or caption)
    query_xy: np.ndarray              # (2,)
    query_modality: str
    centroids_xy: dict[str, np.ndarray]   # modality -> (2,) its centroid, projected
    gap: dict[str, float]             # "image-text" -> distance between the two modality centroids (64-d)
    explained: float                  # share of the variance the two components hold


@dataclass
class RetrieveExtras:
    space: str
    gallery: str
    query_modality: str
    results: list[Result]
    map: SpaceMap
    zero_shot: dict[str, float] | None = None    # digits: class -> probability from the text prototypes
    query_input: np.ndarray | None = None        # the query image as the encoder read it
    index: str = ""                              # which search was used


NOTES = {
    "scores": "Cosine similarity of the query's and each item's 64-d embeddings (projection heads trained with "
              "symmetric InfoNCE over frozen encoders); top k of the gallery.",
    "regions": "Which regions matched: the embedding is a linear map of an attention-pooled set of region "
               "features, so the cosine similarity splits exactly into one term per region, "
               "w_i * q.(W h_i) / |e| (w_i the pooling weight, h_i the region's feature, q the other side's "
               "embedding); the map shows the positive terms. Digits: the classifier CNN's 7x7 grid; scenes: "
               "the captioner's regions averaged 2x2 into 6x6, after the head's Transformer layer.",
    "words": "Each word's share: leave-one-word-out (the drop in cosine similarity when the word is removed, "
             "negative drops set to 0, normalised to sum to 1) against the query (for a text result) or the "
             "top result (for a text query).",
    "map": "2-D PCA of the gallery's embeddings (fitted on the gallery), the query projected on it; the modality "
           "gap is the distance between the centroids of each modality's embeddings in the 64-d space.",
    "zero_shot": "Zero-shot digit labels: softmax (learned temperature) of the cosine similarity to each digit's "
                 "text prototype, the mean embedding of prompts such as 'four', '4', 'a handwritten four'; no "
                 "classifier head.",
}
PROMPTS = ["{w}", "{d}", "a handwritten {w}", "the number {w}", "digit {d}", "a {w}", "the digit {w}"]
DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MAP_POINTS = 3000          # the map draws at most this many gallery points (a fixed, seeded subset)


class Retriever:
    """`predict(image=|text=|audio=, gallery="mnist-test" or your files, k=5)` -> Prediction.
    One query in any modality; the gallery in any modality of the same space."""
    task = "retrieve"

    def __init__(self, net: "RetrieveNet", config: dict, name: str, weights_hash: str = ""):
        from .data import frozen_nets
        self.net, self.config, self.name = net.eval(), config, name
        self.frozen = frozen_nets()
        self.weights_hash = weights_hash
        self._galleries: dict = {}
        self._lock = threading.Lock()

    @classmethod
    def from_checkpoint(cls, folder, name: str) -> "Retriever":
        from .data import file_hash
        config = checkpoint.read_config(folder)
        if config.get("task") != "retrieve":
            raise MMDemoError(f"{folder} holds a {config.get('task')!r} checkpoint, not a search model.")
        net = checkpoint.load_weights(folder, RetrieveNet(**config["architecture"]))
        return cls(net, config, name, file_hash(Path(folder) / "model.safetensors"))

    # ---- encoders: raw items -> unit vectors
    def prepare_image(self, space: str, image) -> np.ndarray:
        if space == "digits":
            return mnist_like(image)[None]                     # (1, 28, 28) float 0..1
        return load_square(image, CANVAS)                      # (96, 96, 3) uint8

    @torch.no_grad()
    def embed(self, space: str, modality: str, items: list, heads: str = "digits") -> torch.Tensor:
        """Prepared items (image arrays, texts, 16 kHz waves) -> unit embeddings (N, EMBED_DIM)."""
        from .data import caption_states, encode_digits, scene_regions
        if not len(items):
            return torch.zeros(0, EMBED_DIM)
        if space == "digits":
            data = np.stack(items) if modality == "image" else list(items)
            return self.net.embed_digits(modality, torch.from_numpy(encode_digits(self.frozen, modality, data)), heads)
        if modality == "image":
            return self.net.embed_scenes("image", torch.from_numpy(scene_regions(self.frozen.caption, np.stack(items))).float())
        if modality == "text":
            states, mask, _ = caption_states(list(items))
            return self.net.embed_scenes("text", torch.from_numpy(states), torch.from_numpy(mask))
        from ...nn.audio import clip_vectors, pad_vectors        # a spoken caption
        return self.net.embed_scenes("audio", *pad_vectors(clip_vectors(self.frozen.classify.encoders["audio"], items)))

    def embed_gallery(self, raw) -> torch.Tensor:
        out = torch.zeros(len(raw.items), EMBED_DIM)
        for m in ("image", "text", "audio"):
            rows = [i for i, x in enumerate(raw.modalities) if x == m]
            if rows:
                out[rows] = self.embed(raw.space, m, [raw.items[i] for i in rows])
        return out

    # ---- galleries: embedded once (built-in ones cached on disk, keyed by the weights' hashes)
    def gallery(self, name: str) -> "Gallery":
        with self._lock:
            if name not in self._galleries:
                raw = builtin_items(name)
                emb = self._cached_embeddings(name, lambda: self.embed_gallery(raw))
                self._galleries[name] = Gallery(name, raw, emb)
            return self._galleries[name]

    def _cached_embeddings(self, name: str, make) -> torch.Tensor:
        from .data import frozen_hash
        if not self.weights_hash:          # a net just trained, not saved: no disk cache
            return make()
        path = paths.cache("retrieve", f"gallery-{name}-{self.weights_hash}-{frozen_hash()}.npy")
        if path.is_file():
            return torch.from_numpy(np.load(path))
        emb = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.npy")
        np.save(tmp, emb.numpy())
        os.replace(tmp, path)
        return emb

    def user_gallery(self, items, space: str) -> "Gallery":
        raw = user_items(items, space, lambda im: self.prepare_image(space, im))
        return Gallery("yours", raw, self.embed_gallery(raw))

    @torch.no_grad()
    def prototypes(self, heads: str = "digits") -> torch.Tensor:
        """(10, EMBED_DIM) unit text prototypes of the digits: the mean embedding of PROMPTS."""
        texts = [p.format(w=w, d=d) for d, w in enumerate(DIGIT_WORDS) for p in PROMPTS]
        e = self.embed("digits", "text", texts, heads).view(10, len(PROMPTS), -1).mean(1)
        return F.normalize(e, dim=-1)

    # ---- one request
    def preprocess(self, image, text, audio, space: str, notes: dict) -> tuple[str, object]:
        given = [m for m, x in (("image", image), ("text", text), ("audio", audio))
                 if x is not None and not (isinstance(x, str) and not x.strip())]
        if len(given) != 1:
            raise MMDemoError("Give exactly one query: an image, a text or a recording" +
                              (f" (got {', '.join(given)})." if given else "."))
        m = given[0]
        if m == "image":
            return m, self.prepare_image(space, image)
        if m == "text":
            return m, load_text(text, "query")
        return m, load_audio(audio, target_rate=16000, notes=notes)[1]

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None, gallery="mnist-test", k: int = 5,
                space: str | None = None) -> Prediction:
        k = max(1, min(int(k), 50))
        if isinstance(gallery, str):
            g = self.gallery(gallery)
        else:
            g = self.user_gallery(gallery, space or "digits")
        trimmed: dict = {}
        modality, item = self.preprocess(image, text, audio, g.raw.space, trimmed)
        query = self.embed(g.raw.space, modality, [item])[0]
        sims, idx = g.index.search(query, k)
        results = self.results(g, sims, idx, query)
        return self.postprocess(g, modality, item, query, results, trimmed)

    # ---- explanations
    @torch.no_grad()
    def region_maps(self, space: str, images: list[np.ndarray], target: torch.Tensor) -> list[np.ndarray]:
        """Each image's similarity to `target` split into its regions' terms (region_terms), as grids;
        the images go through the frozen CNN in one batch."""
        if not images:
            return []
        if space == "digits":
            enc, head = self.frozen.classify.encoders["image"], self.net.digits["image"]
            tokens = enc.cnn(torch.from_numpy(np.stack(images)) - 0.5).flatten(2).transpose(1, 2)
            _, w = enc.pool(tokens)
        else:
            from .data import scene_regions
            tower = self.net.scenes["image"]
            head = tower.out
            tokens = tower.tokens(torch.from_numpy(scene_regions(self.frozen.caption, np.stack(images))).float())
            _, w = tower.pool(tokens)
        side = int(round(tokens.shape[1] ** 0.5))
        return [region_terms(head, t, wi, target)[0].view(side, side).numpy() for t, wi in zip(tokens, w)]

    @torch.no_grad()
    def word_shares(self, space: str, text: str, target: torch.Tensor) -> tuple[list[str], np.ndarray]:
        """Leave-one-word-out: each word's drop in cosine similarity to `target` when it is removed,
        negative drops set to 0, normalised to sum to 1 (all zero if no word helps)."""
        words = text.split()[:48]
        variants = [text] + [" ".join(words[:i] + words[i + 1:]) or "." for i in range(len(words))]
        sims = self.embed(space, "text", variants) @ target
        drops = (sims[0] - sims[1:]).clamp_min(0).numpy()
        return words, drops / drops.sum() if drops.sum() > 0 else drops

    def results(self, g: "Gallery", sims, idx, query: torch.Tensor) -> list[Result]:
        """The found items with their explanations: image results' region maps (one batch), text
        results' word shares."""
        raw = g.raw
        out = [Result(r + 1, int(i), raw.modalities[i], raw.labels[i], raw.names[i], float(s), raw.items[i])
               for r, (s, i) in enumerate(zip(sims, idx))]
        images = [r for r in out if r.modality == "image"]
        for r, grid in zip(images, self.region_maps(raw.space, [r.item for r in images], query)):
            r.regions = grid
        for r in out:
            if r.modality == "text":
                r.words, r.word_shares = self.word_shares(raw.space, r.item, query)
        return out

    def postprocess(self, g: "Gallery", modality: str, item, query: torch.Tensor, results: list[Result],
                    trimmed: dict) -> Prediction:
        space, attention, tokens = g.raw.space, {}, {}
        notes = {key: NOTES[key] for key in ("scores", "regions", "words", "map")}
        notes["index"] = f"Search: {g.index.kind} over {len(g.raw.items):,} items."
        top = g.embeddings[results[0].index] if results else query
        if modality == "image":       # the query image's regions against the top result
            attention["query_regions"] = self.region_maps(space, [item], top)[0]
        elif modality == "text":
            tokens["query_words"], attention["query_words"] = self.word_shares(space, item, top)
        zero_shot = None
        if space == "digits" and modality != "text":
            p = (self.net.scale("digits") * self.prototypes() @ query).softmax(-1)
            zero_shot = {str(d): float(p[d]) for d in range(10)}
            notes["zero_shot"] = NOTES["zero_shot"]
        if trimmed.get("audio"):
            notes["audio"] = trimmed["audio"]
        extras = RetrieveExtras(space, g.name, modality, results, g.space_map(query, modality), zero_shot,
                                item if modality == "image" else None, g.index.kind)
        return Prediction(task=self.task, model=self.name, output=results[0].name if results else "",
                          scores={f"{r.rank}. {r.name}": round(r.similarity, 4) for r in results},
                          fusion_weights={}, attention=attention, tokens=tokens, notes=notes, extras=extras)


class Gallery:
    """A gallery embedded: raw entries, unit embeddings (N, D), the search index, the map's projection."""

    def __init__(self, name: str, raw, embeddings: torch.Tensor):
        self.name, self.raw, self.embeddings = name, raw, embeddings
        self.index = VectorIndex(embeddings)
        x = embeddings.double()
        self.mean = x.mean(0)
        _, s, vh = torch.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vh[:2]
        self.explained = float((s[:2] ** 2).sum() / (s ** 2).sum().clamp_min(1e-12))
        rng = np.random.default_rng(0)
        self.shown = np.sort(rng.permutation(len(x))[:MAP_POINTS]) if len(x) > MAP_POINTS else np.arange(len(x))
        self.xy = self.project(x[self.shown])
        self.shown_modalities = [raw.modalities[i] for i in self.shown]
        self.shown_labels = [raw.labels[i] for i in self.shown]
        mods = np.array(raw.modalities)
        self.centroids = {m: x[torch.from_numpy(mods == m)].mean(0) for m in dict.fromkeys(raw.modalities)}
        names = list(self.centroids)
        self.gap = {f"{a}-{b}": float((self.centroids[a] - self.centroids[b]).norm())
                    for i, a in enumerate(names) for b in names[i + 1:]}

    def project(self, x: torch.Tensor) -> np.ndarray:
        return ((x.double() - self.mean) @ self.components.T).numpy().astype(np.float32)

    def space_map(self, query: torch.Tensor, modality: str) -> SpaceMap:
        return SpaceMap(self.xy, self.shown_modalities, self.shown_labels,
                        self.project(query[None])[0], modality,
                        {m: self.project(c[None])[0] for m, c in self.centroids.items()}, self.gap, self.explained)


@register("retrieve", "digits-scenes", default=True)
def digits_scenes():
    """Built-in, offline: heads trained here over the classifier's and captioner's frozen encoders."""
    return Retriever.from_checkpoint(paths.checkpoints("retrieve"), "digits-scenes")
