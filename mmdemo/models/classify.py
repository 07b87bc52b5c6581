"""Tri-modal classification (image + text + speech -> class): encoders with attention, the fusion
family (early / late / gated / cross-modal attention), auxiliary unimodal heads, modality dropout.

Training is two stages so the whole family retrains in minutes on a CPU:
  1. each encoder + its own unimodal head is trained alone (image: MNIST, text: generated
     phrasings, audio: FSDD + synthetic speech; or whatever a manifest gives);
  2. the encoders are frozen, their pooled vectors are cached (clean and corrupted inputs), and the
     four fusion heads are trained on them with modality dropout, each jointly with its own
     auxiliary unimodal heads (multi-task). All four share the encoders and live in one checkpoint.

Registered models: classify/digits-gated (default), digits-early, digits-late, digits-xattn, plus
every checkpoint folder under checkpoints/ whose config says task "classify" (or app.py --classifier).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import checkpoint
from ..data.digits import mnist_like
from ..data.inputs import load_square, load_text
from ..errors import MMDemoError
from ..registry import Prediction, register
from .fusion import AttentionPool, CrossModalAttentionFusion, EarlyFusion, GatedClassifier, LateFusion

MODALITIES = ("image", "text", "audio")
VARIANTS = ("gated", "early", "late", "xattn")
MAX_CHARS = 64        # text encoder reads this many characters
CHAR_VOCAB = 512      # characters are hashed into this many embeddings (0 = padding)


# ---------------------------------------------------------------- encoders

class ImageEncoder(nn.Module):
    """Image (B, C, H, W) in 0..1 -> grid of region features (H/4 x W/4; 7 x 7 for MNIST) ->
    attention pooling -> (B, out_dim); the pooling softmax is the spatial map the app shows."""

    def __init__(self, in_channels: int = 1, widths=(16, 32, 64)):
        super().__init__()

        def conv(a, b):
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        w0, w1, w2 = widths
        self.cnn = nn.Sequential(*conv(in_channels, w0), nn.MaxPool2d(2), *conv(w0, w1), *conv(w1, w1),
                                 nn.MaxPool2d(2), *conv(w1, w2), *conv(w2, w2))
        self.pool = AttentionPool(w2, hidden=64)
        self.out_dim = w2

    def forward(self, x):
        g = self.cnn(x - 0.5)
        b, c, h, w = g.shape
        pooled, weights = self.pool(g.flatten(2).transpose(1, 2))
        return pooled, weights.view(b, h, w)


def encode_chars(texts: list[str]) -> torch.Tensor:
    """Texts -> (B, L) character ids (lower-cased, hashed into CHAR_VOCAB; 0 = padding)."""
    ids = torch.zeros(len(texts), max(1, min(MAX_CHARS, max((len(t) for t in texts), default=1))), dtype=torch.long)
    for i, t in enumerate(texts):
        for j, c in enumerate(t[:MAX_CHARS]):
            ids[i, j] = 1 + ord(c.lower()[0]) % (CHAR_VOCAB - 1)
    return ids


class TextEncoder(nn.Module):
    """Character CNN: handles "7", "seven", "sevn", "SIEBEN!" alike. Attention pooling over the
    characters; a word's weight in the app is the sum of its characters' weights."""

    def __init__(self, dim: int = 96, emb: int = 32):
        super().__init__()
        self.emb = nn.Embedding(CHAR_VOCAB, emb, padding_idx=0)
        self.conv1 = nn.Conv1d(emb, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 5, padding=2)
        self.pool = AttentionPool(dim, hidden=64)
        self.out_dim = dim

    def forward(self, ids):
        mask = ids > 0
        h = self.emb(ids).transpose(1, 2)
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h) + h).transpose(1, 2)
        return self.pool(h, mask)


def word_weights(text: str, char_weights: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Character weights -> (words, each word's summed weight); spaces belong to no word."""
    words, out, current, w = [], [], "", 0.0
    for c, x in zip(text[:MAX_CHARS], char_weights):
        if c == " ":
            if current:
                words.append(current); out.append(w)
            current, w = "", 0.0
        else:
            current += c
            w += float(x)
    if current:
        words.append(current); out.append(w)
    return words, np.array(out, dtype=np.float32)


def audio_module():
    from . import audio   # MelSpectrogram -> pretrained speech-embedding CNN -> attention-pooling encoder
    return audio


# ---------------------------------------------------------------- the classifier

FUSIONS = {"early": lambda d, m, c: EarlyFusion(d, m, c), "late": lambda d, m, c: LateFusion(m),
           "gated": lambda d, m, c: GatedClassifier(d, m, c), "xattn": lambda d, m, c: CrossModalAttentionFusion(d, m, c)}


class FusionVariant(nn.Module):
    """One member of the family on top of the frozen encoders: per-modality projection, auxiliary
    unimodal heads (trained jointly: multi-task) and the fusion itself."""

    def __init__(self, kind: str, feat_dims: list[int], n_classes: int, dim: int = 128):
        super().__init__()
        self.kind = kind
        self.proj = nn.ModuleList([nn.Sequential(nn.Linear(d, dim), nn.ReLU(), nn.LayerNorm(dim)) for d in feat_dims])
        self.aux = nn.ModuleList([nn.Linear(dim, n_classes) for _ in feat_dims])
        self.fusion = FUSIONS[kind](dim, len(feat_dims), n_classes)

    def forward(self, feats: list[torch.Tensor], present: torch.Tensor):
        """feats: M tensors (B, D_m) (anything where absent), present (B, M) bool ->
        fused logits (B, C), weights (B, M) or None, unimodal logits (B, M, C)."""
        z = torch.stack([p(f) for p, f in zip(self.proj, feats)], 1)
        uni = torch.stack([a(z[:, i]) for i, a in enumerate(self.aux)], 1)
        logits, weights = self.fusion(z, present, uni)
        return logits, weights, uni


class TriModalNet(nn.Module):
    """Encoders (only for the modalities a data set has) + their unimodal heads + the four variants."""

    def __init__(self, modalities=MODALITIES, n_classes: int = 10, image_channels: int = 1,
                 image_widths=(16, 32, 64), text_dim: int = 96, audio_dim: int = 128, fusion_dim: int = 128):
        super().__init__()
        self.modalities = list(modalities)
        encoders, dims = {}, []
        for m in self.modalities:
            if m == "image":
                encoders[m] = ImageEncoder(image_channels, image_widths)
            elif m == "text":
                encoders[m] = TextEncoder(text_dim)
            else:
                encoders[m] = audio_module().AudioEncoder(dim=audio_dim)
            dims.append(audio_dim if m == "audio" else encoders[m].out_dim)
        self.encoders = nn.ModuleDict(encoders)
        self.heads = nn.ModuleDict({m: nn.Linear(d, n_classes) for m, d in zip(self.modalities, dims)})
        self.variants = nn.ModuleDict({k: FusionVariant(k, dims, n_classes, fusion_dim) for k in VARIANTS})
        self.feat_dims = dims

    def encode(self, modality: str, x):
        """One modality's batch -> (pooled (B, D), attention weights). Audio x = (mels, lengths)."""
        enc = self.encoders[modality]
        return enc(*x) if modality == "audio" else enc(x)


# ---------------------------------------------------------------- input preparation (shared by training and predict)

def prepare_image(image, config: dict) -> np.ndarray:
    """Any image -> (C, S, S) float32 in 0..1: MNIST-like for the digits, else RGB resized."""
    if config.get("image_prep", "mnist") == "mnist":
        return mnist_like(image)[None]
    if isinstance(image, dict):
        image = image.get("composite")
    return (load_square(image, config.get("image_size", 32)).astype(np.float32) / 255.0).transpose(2, 0, 1)


@torch.no_grad()
def encode_all(net: TriModalNet, modality: str, data, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen pooled features and unimodal-head logits for a whole data set (images array, list of
    texts, list of 16 kHz waves). Empty texts give zeros (they count as missing)."""
    net.eval()
    feats = []
    for s in range(0, len(data), batch):
        chunk = data[s:s + batch]
        if modality == "image":
            x = torch.as_tensor(np.asarray(chunk, dtype=np.float32))
        elif modality == "text":
            x = encode_chars(list(chunk))
        else:
            x = audio_module().mel_batch(list(chunk))
        feats.append(net.encode(modality, x)[0])
    f = torch.cat(feats) if feats else torch.zeros(0, net.feat_dims[net.modalities.index(modality)])
    return f, net.heads[modality](f)


def gradient_contribution(variant: FusionVariant, feats: list[torch.Tensor], present: torch.Tensor,
                          target: torch.Tensor) -> torch.Tensor:
    """|gradient x input| of the target logit, summed over each modality's projected vector,
    normalised to sum to 1 over the modalities present: (B, M)."""
    with torch.enable_grad():
        z = [p(f).detach().requires_grad_(True) for p, f in zip(variant.proj, feats)]
        zs = torch.stack(z, 1)
        uni = torch.stack([a(zs[:, i]) for i, a in enumerate(variant.aux)], 1)
        logits, _ = variant.fusion(zs, present, uni)
        grads = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), z)
    c = torch.stack([(g * x).sum(-1).abs() for g, x in zip(grads, z)], 1) * present
    return c / c.sum(1, keepdim=True).clamp_min(1e-12)


FUSION_NOTES = {
    "early": "Early fusion (concatenation) has no weights of its own: these are gradient x input "
             "contributions of each modality's vector to the predicted class's logit (normalised to sum to 1).",
    "late": "Late fusion: the learned alpha of each modality (softmax over the modalities given); the "
            "prediction is the alpha-weighted sum of the unimodal heads' logits. Alpha is the same for every request.",
    "gated": "Gated fusion: the gating network's own softmax weights for this request; the fused vector "
             "is the weighted sum of the modality vectors.",
    "xattn": "Cross-modal attention: the attention of the Transformer's [CLS] query over the modality "
             "tokens (softmax, mean over 4 heads) for this request.",
}


class TriModalClassifier:
    """A ready classifier: `predict(image=..., text=..., audio=...)` (any subset) -> Prediction."""
    task = "classify"

    def __init__(self, net: TriModalNet, config: dict, variant: str, name: str):
        self.net, self.config, self.variant, self.name = net.eval(), config, variant, name
        self.classes = config["classes"]
        self.modalities = net.modalities

    @classmethod
    def from_checkpoint(cls, folder, variant: str, name: str, _cache={}):
        folder = str(Path(folder).resolve())
        if folder not in _cache:   # the four variants share one net (one set of encoders)
            config = checkpoint.read_config(folder)
            if config.get("task") != "classify":
                raise MMDemoError(f"{folder} holds a {config.get('task')!r} checkpoint, not a classifier.")
            _cache[folder] = (checkpoint.load_weights(folder, TriModalNet(**config["architecture"])), config)
        net, config = _cache[folder]
        return cls(net, config, variant, name)

    # -- inputs

    def inputs(self, image=None, text=None, audio=None, notes: dict | None = None) -> dict:
        """Decode the given inputs; None / empty text / an empty sketch count as not given.
        notes (optional) receives load_audio's notice when a long recording was trimmed."""
        got = {}
        if image is not None and "image" in self.modalities:
            if not (isinstance(image, dict) and image.get("composite") is None):
                got["image"] = prepare_image(image, self.config)
        if text is not None and "text" in self.modalities and (not isinstance(text, str) or text.strip()):
            got["text"] = load_text(text, "text")
        if audio is not None and "audio" in self.modalities:
            from ..data import speech
            got["audio"] = speech.load(audio, notes=notes)[1]
        if not got:
            raise MMDemoError(f"Give at least one input: {', '.join(self.modalities)}.")
        return got

    @torch.no_grad()
    def features(self, got: dict) -> tuple[list[torch.Tensor], torch.Tensor, dict, dict]:
        """-> each modality's pooled vector, which are present, their attention, and the log-mel the
        audio encoder read (the picture its frame weights are drawn on)."""
        feats, attention, mel = [], {}, {}
        for m, dim in zip(self.modalities, self.net.feat_dims):
            if m not in got:
                feats.append(torch.zeros(1, dim))
                continue
            if m == "image":
                x = torch.from_numpy(got[m])[None]
            elif m == "text":
                x = encode_chars([got[m]])
            else:
                x = audio_module().mel_batch([got[m]])
                mel[m] = x[0][0].numpy()
            f, w = self.net.encode(m, x)
            feats.append(f)
            attention[m] = w[0].numpy()
        present = torch.tensor([[m in got for m in self.modalities]])
        return feats, present, attention, mel

    # -- prediction

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None, top_k: int = 5) -> Prediction:
        trimmed = {}
        got = self.inputs(image, text, audio, notes=trimmed)
        feats, present, attention, mel = self.features(got)
        variant = self.net.variants[self.variant]
        logits, weights, uni = variant(feats, present)
        probs = logits.softmax(-1)[0]
        label = int(probs.argmax())
        if self.variant == "early":
            weights = gradient_contribution(variant, feats, present, torch.tensor([label]))
        top = probs.topk(min(top_k, len(self.classes)))
        given = [m for m in self.modalities if m in got]
        unimodal = {}
        for i, m in enumerate(self.modalities):
            if m in got:
                p = uni[0, i].softmax(-1)
                unimodal[m] = {"label": self.classes[int(p.argmax())], "confidence": float(p.max())}
        ablation = {}   # the fused prediction with each given modality removed
        for i, m in enumerate(self.modalities):
            if m in got and len(given) > 1:
                without = present.clone()
                without[0, i] = False
                p = variant(feats, without)[0].softmax(-1)[0]
                ablation[m] = {"confidence": float(p[label]), "label": self.classes[int(p.argmax())]}
        notes = {"fusion": FUSION_NOTES[self.variant],
                 "ablation": "Faithfulness check: the fused model run again without each modality; the "
                             "confidence it then gives the class predicted with all inputs.",
                 "unimodal": "Auxiliary unimodal heads trained jointly with this fusion model (multi-task)."}
        tokens, extras = {}, {"unimodal": unimodal, "ablation": ablation, "confidence": float(probs[label])}
        if "image" in got:
            notes["image"] = ("Spatial attention: the softmax weight the image encoder's attention pooling gave "
                              f"each cell of its {attention['image'].shape[0]}x{attention['image'].shape[1]} grid.")
            extras["image_input"] = got["image"]
        if "text" in got:
            words, w = word_weights(got["text"], attention["text"])
            attention["text"], tokens["text"] = w, words
            notes["text"] = ("Attention pooling of the character CNN: the softmax weight of each character, "
                             "summed per word.")
        if "audio" in got:
            extras["mel"] = mel["audio"]
            notes["audio"] = ("Attention pooling over time of the audio encoder: the softmax weight of each "
                              "80 ms step of the pretrained speech-embedding CNN (each step's vector sees a 0.76 s "
                              "window; its weight is drawn over the window's central 80 ms), over the log-mel "
                              "spectrogram the encoder reads (the clip with 0.4 s of silence added on both sides).")
        if trimmed:
            notes["audio"] = f"{trimmed['audio']} {notes['audio']}"
        return Prediction(
            task=self.task, model=self.name, output=self.classes[label],
            scores={self.classes[int(i)]: float(p) for p, i in zip(top.values, top.indices)},
            fusion_weights={m: float(w) for m, w in zip(self.modalities, weights[0])},
            attention=attention, tokens=tokens, notes=notes, extras=extras)


def _factory(folder, variant: str, name: str):
    return lambda: TriModalClassifier.from_checkpoint(folder, variant, name)


BUILTIN = checkpoint.CHECKPOINTS / "classify"
for _v in VARIANTS:
    register("classify", f"digits-{_v}", default=_v == "gated")(_factory(BUILTIN, _v, f"digits-{_v}"))


def register_folder(folder, default: bool = False) -> list[str]:
    """Register a trained classifier folder (its four variants as NAME-gated, NAME-early, ...)."""
    folder = Path(folder)
    config = checkpoint.read_config(folder)
    if config.get("task") != "classify":
        raise MMDemoError(f"{folder} is not a classifier checkpoint (its config says task {config.get('task')!r}).")
    names = []
    for v in VARIANTS:
        name = f"{folder.name}-{v}"
        register("classify", name, default=default and v == "gated")(_factory(folder, v, name))
        names.append(name)
    return names


def discover(root=checkpoint.CHECKPOINTS) -> None:
    """Every checkpoints/* folder (other than the built-in one) whose config says task classify."""
    for cfg in sorted(Path(root).glob("*/config.json")):
        if cfg.parent.resolve() != BUILTIN.resolve():
            try:
                if checkpoint.read_config(cfg.parent).get("task") == "classify":
                    register_folder(cfg.parent)
            except (MMDemoError, ValueError):
                pass   # unreadable config: not ours to serve


discover()
