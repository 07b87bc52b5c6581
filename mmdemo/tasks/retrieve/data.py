"""The frozen encoders the search space sits on, and their features (computed once, cached).

Digits: the tri-modal classifier's encoders (checkpoints/classify): image CNN -> 64-d, character CNN
-> 96-d, audio encoder over Google's speech embedding -> 128-d (pooled vectors, `encode_all`).
Scenes: the captioner's CNN region grid (checkpoints/caption, `CaptionNet.encode`: 12x12 regions,
256-d, averaged 2x2 into 6x6) and the frozen MiniLM's embedding layer (384-d per word piece) for captions.

    nets = frozen_nets()
    feats = digit_train_features(nets, seed=0)     # cached in .cache/retrieve/, keyed by the encoders' hash
    regions = scene_regions(nets.caption, images)   # (N, 36, 256) float16
    states, mask, pieces = caption_states(texts)    # (N, L, 384), (N, L) bool, word pieces
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch.nn import functional as F

from ... import paths

REGION_GRID = 6            # the captioner's 12x12 regions, averaged 2x2
SCENE_SEED = 1             # test scenes' seed (the captioner's evaluation uses the same)
HELD_OUT_SPEAKER = "nicolas"   # the FSDD speaker left out of the digit heads' training for the unseen-speaker figure
TEXT_TRAIN_SEED, TEXT_TEST_SEED = 500, 1    # digit phrasings: head training / evaluation and galleries


@dataclass
class FrozenNets:
    classify: torch.nn.Module     # TriModalNet: encoders + heads (heads used only to compare with zero-shot)
    caption: torch.nn.Module      # CaptionNet: its encode() gives the region grid


@lru_cache(maxsize=1)
def frozen_nets() -> FrozenNets:
    from ..caption.model import CaptionModel
    from ..classify.model import TriModalClassifier
    classify = TriModalClassifier.from_checkpoint(paths.checkpoints("classify"), "gated", "retrieve-frozen").net
    caption = CaptionModel.from_checkpoint(paths.checkpoints("caption"), "retrieve-frozen").net
    for p in list(classify.parameters()) + list(caption.parameters()):
        p.requires_grad_(False)
    return FrozenNets(classify.eval(), caption.eval())


def file_hash(*files) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


@lru_cache(maxsize=None)
def tensors_hash(task: str, prefix: str = "") -> str:
    """The weights of checkpoints/TASK whose names start with `prefix` (names and bytes, in name order):
    a cache stays valid when other parts of that checkpoint are retrained (e.g. classify's fusion heads)."""
    from safetensors.numpy import load_file
    tensors = load_file(str(paths.checkpoints(task, "model.safetensors")))
    h = hashlib.sha256()
    for name in sorted(k for k in tensors if k.startswith(prefix)):
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensors[name]).tobytes())
    return h.hexdigest()[:12]


def frozen_hash(space: str = "both") -> str:
    """What a feature cache depends on: the classifier's encoders (digits), the captioner (scenes), or both."""
    parts = {"digits": [("classify", "encoders.")], "scenes": [("caption", "")]}
    keys = parts["digits"] + parts["scenes"] if space == "both" else parts[space]
    return hashlib.sha256("".join(tensors_hash(*k) for k in keys).encode()).hexdigest()[:12]


def cached(name: str, make):
    """A dict of arrays made once by make() and kept in .cache/retrieve/NAME.npz."""
    path = paths.cache("retrieve", f"{name}.npz")
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    out = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(path)
    return out


# ---------------------------------------------------------------------------------------- digits

def digit_images(split: str, n: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST images as the classifier reads them, (N, 1, 28, 28) float32 0..1, and labels."""
    from ...datasets.mnist import load_mnist
    images, labels = load_mnist(split)
    rows = np.arange(len(images)) if n is None else np.random.default_rng(seed).permutation(len(images))[:n]
    return images[rows, None].astype(np.float32) / 255.0, labels[rows]


def encode_digits(nets: FrozenNets, modality: str, data) -> np.ndarray:
    from ..classify.model import encode_all
    return encode_all(nets.classify, modality, data)[0].numpy().astype(np.float32)


def digit_train_features(nets: FrozenNets, seed: int = 0, n_images: int = 20000, n_texts: int = 20000,
                         audio_views: int = 1, synthetic_every: int = 2) -> dict:
    """Frozen features for the digit heads: MNIST train images, generated phrasings, and FSDD train
    (five speakers) + synthetic voices, each clip clean and in `audio_views` augmented views."""
    def make():
        from ...datasets.fsdd import fsdd_clips
        from ...datasets.spoken_digits import augment, synthetic_clips
        from ..classify.data import digit_texts
        images, y_img = digit_images("train", n_images, seed)
        texts, y_txt = digit_texts(n_texts, seed=TEXT_TRAIN_SEED + seed)
        waves, y_aud, who = fsdd_clips(split="train")
        s_waves, s_labels, _ = synthetic_clips(synthetic_every, verbose=False)
        waves, y_aud, who = waves + list(s_waves), np.concatenate([y_aud, s_labels]), who + ["synthetic"] * len(s_waves)
        rng = np.random.default_rng(seed)
        views = list(waves) + [augment(w, rng) for _ in range(audio_views) for w in waves]
        print(f"retrieve: encoding {len(images)} images, {len(texts)} texts, {len(views)} audio views", flush=True)
        return {"image": encode_digits(nets, "image", images), "image_y": y_img,
                "text": encode_digits(nets, "text", texts), "text_y": y_txt,
                "audio": encode_digits(nets, "audio", views), "audio_y": np.tile(y_aud, audio_views + 1),
                "audio_speaker": np.array(who * (audio_views + 1))}
    return cached(f"train-digits-{frozen_hash('digits')}-{seed}-{n_images}-{n_texts}-{audio_views}-{synthetic_every}", make)


# ---------------------------------------------------------------------------------------- scenes

@torch.no_grad()
def scene_regions(caption_net, images: np.ndarray, batch: int = 128) -> np.ndarray:
    """Scenes (N, 96, 96, 3) uint8 -> the captioner's region features averaged 2x2: (N, 36, 256) float16."""
    from ..caption.model import to_tensor
    out = []
    for s in range(0, len(images), batch):
        v, _, _ = caption_net.encode(to_tensor(images[s:s + batch]))
        b, n, d = v.shape
        g = int(round(n ** 0.5))
        grid = v.transpose(1, 2).reshape(b, d, g, g)
        out.append(F.avg_pool2d(grid, g // REGION_GRID).flatten(2).transpose(1, 2).half().numpy())
    return np.concatenate(out) if out else np.zeros((0, REGION_GRID ** 2, 256), np.float16)


@torch.no_grad()
def caption_states(texts: list[str], max_tokens: int = 32):
    """Texts -> MiniLM's frozen embedding layer (word-piece + position embeddings, layer norm) for each
    word piece: (N, L, 384) float32, mask of real pieces (N, L), the pieces. Only the embedding layer:
    the full six-layer forward ran at 0.24 s per caption on the shared 2-core CPU (too slow to
    embed thousands of training captions); the trained head contextualises the pieces itself."""
    from ...nn.text import MiniLMEncoder
    encoder = MiniLMEncoder.shared()
    batch = encoder.tokenizer(list(texts), max_tokens, pad_to=max_tokens)
    return encoder.model.embed(batch.ids).float().numpy(), batch.real.numpy(), batch.pieces


def scene_set(split: str, n: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Scenes of the captioner's generator (cached there) and their captions as strings."""
    from ...datasets.scenes import build, decode
    data = build(split, n, seed)
    return data["images"], [" ".join(decode(t)) for t in data["tokens"]]


def scene_features(nets: FrozenNets, split: str, n: int, seed: int, first: int | None = None) -> dict:
    """Region features of the first `first` (default all) of n scenes and their captions; cached."""
    def make():
        images, captions = scene_set(split, n, seed)
        images, captions = images[:first], captions[:first]
        print(f"retrieve: encoding {len(images)} {split} scenes and captions", flush=True)
        return {"regions": scene_regions(nets.caption, images), "captions": np.array(captions)}
    return cached(f"scenes-{frozen_hash('scenes')}-{split}-{n}-{seed}-{first}", make)
