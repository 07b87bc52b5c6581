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
Building blocks: nn/image.py, nn/text.py, nn/audio.py (encoders), nn/fusion.py (the family).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ... import checkpoint, paths
from ...errors import MMDemoError
from ...explain import METHODS, file_hash
from ...inputs import load_audio, load_square, load_text
from ...nn.audio import SAMPLE_RATE, AudioEncoder, mel_batch
from ...nn.fusion import FUSIONS, FusionVariant, gradient_contribution
from ...nn.image import PooledImageEncoder
from ...nn.text import CharTextEncoder, encode_chars, word_weights
from ...prediction import Prediction
from ...registry import is_registered, register, set_default
from .data import mnist_like

MODALITIES = ("image", "text", "audio")
VARIANTS = tuple(FUSIONS)          # ("gated", "early", "late", "xattn"): nn/fusion.py's family, in its order


class TriModalNet(nn.Module):
    """Encoders (only for the modalities a data set has) + their unimodal heads + the four variants."""

    def __init__(self, modalities=MODALITIES, n_classes: int = 10, image_channels: int = 1,
                 image_widths=(16, 32, 64), text_dim: int = 96, audio_dim: int = 128, fusion_dim: int = 128):
        super().__init__()
        self.modalities = list(modalities)
        encoders, dims = {}, []
        for m in self.modalities:
            if m == "image":
                encoders[m] = PooledImageEncoder(image_channels, image_widths)
            elif m == "text":
                encoders[m] = CharTextEncoder(text_dim)
            else:
                encoders[m] = AudioEncoder(dim=audio_dim)
            dims.append(audio_dim if m == "audio" else encoders[m].out_dim)
        self.encoders = nn.ModuleDict(encoders)
        self.heads = nn.ModuleDict({m: nn.Linear(d, n_classes) for m, d in zip(self.modalities, dims)})
        self.variants = nn.ModuleDict({k: FusionVariant(k, dims, n_classes, fusion_dim) for k in VARIANTS})
        self.feat_dims = dims

    def encode(self, modality: str, x):
        """One modality's batch -> (pooled (B, D), attention weights). Audio x = (mels, lengths)."""
        enc = self.encoders[modality]
        return enc(*x) if modality == "audio" else enc(x)


class AudioDigitNet(nn.Module):
    """AudioEncoder + a 10-way digit head; forward(x, lengths) -> logits (B, 10), frame weights (B, T)."""

    def __init__(self, dim: int = 128, n_classes: int = 10):
        super().__init__()
        self.encoder = AudioEncoder(dim)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, n_classes))

    def forward(self, x, lengths=None):
        pooled, weights = self.encoder(x, lengths)
        return self.head(pooled), weights

    def classify_vectors(self, v, valid):
        return self.head(self.encoder.pool_vectors(v, valid)[0])

    @classmethod
    def from_checkpoint(cls, folder) -> "AudioDigitNet":
        """The audio branch alone (checkpoints/audio-digits), shapes checked."""
        config = checkpoint.read_config(folder)
        return checkpoint.load_weights(folder, cls(config["arch"]["dim"]))


def prepare_image(image, config: dict) -> np.ndarray:
    """Any image -> (C, S, S) float32 in 0..1: MNIST-like for the digits, else RGB resized."""
    if config.get("image_prep", "mnist") == "mnist":
        return mnist_like(image)[None]
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
            x = mel_batch(list(chunk))
        feats.append(net.encode(modality, x)[0])
    f = torch.cat(feats) if feats else torch.zeros(0, net.feat_dims[net.modalities.index(modality)])
    return f, net.heads[modality](f)


@dataclass
class ClassifyExtras:
    """What the classify panel shows besides the prediction."""
    confidence: float                         # the fused model's probability of its class
    unimodal: dict[str, dict]                 # modality -> {"label", "confidence"} of its auxiliary head
    ablation: dict[str, dict]                 # modality -> {"label", "confidence" in the class} without it
    image_input: np.ndarray | None = None     # (C, S, S) the image as the encoder saw it
    mel: np.ndarray | None = None             # (N_MELS, T) the log-mel the audio encoder read


NOTES = {
    "ablation": "Faithfulness check: the fused model run again without each modality; the confidence it then "
                "gives the class predicted with all inputs.",
    "unimodal": "Auxiliary unimodal heads trained jointly with this fusion model (multi-task).",
    "text": "Attention pooling of the character CNN: the softmax weight of each character, summed per word.",
    "audio": "Attention pooling over time of the audio encoder: the softmax weight of each 80 ms step of the "
             "pretrained speech-embedding CNN (each step's vector sees a 0.76 s window; its weight is drawn over the "
             "window's central 80 ms), over the log-mel spectrogram the encoder reads (the clip with 0.4 s of "
             "silence added on both sides).",
}


class TriModalClassifier:
    """A ready classifier: `predict(image=..., text=..., audio=...)` (any subset) -> Prediction.
    The steps are separate: preprocess (decode the inputs), forward (encoders + fusion), postprocess."""
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
        model = cls(net, config, variant, name)
        model.folder = folder
        return model

    def preprocess(self, image=None, text=None, audio=None, notes: dict | None = None) -> dict:
        """Decode the given inputs; None or an empty text count as not given. notes (optional)
        receives load_audio's notice when a long recording was trimmed."""
        got = {}
        if image is not None and "image" in self.modalities:
            got["image"] = prepare_image(image, self.config)
        if text is not None and "text" in self.modalities and (not isinstance(text, str) or text.strip()):
            got["text"] = load_text(text, "text")
        if audio is not None and "audio" in self.modalities:
            got["audio"] = load_audio(audio, target_rate=SAMPLE_RATE, notes=notes)[1]
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
                x = mel_batch([got[m]])
                mel[m] = x[0][0].numpy()
            f, w = self.net.encode(m, x)
            feats.append(f)
            attention[m] = w[0].numpy()
        present = torch.tensor([[m in got for m in self.modalities]])
        return feats, present, attention, mel

    @torch.no_grad()
    def forward(self, feats, present) -> dict:
        """The fusion variant on the encoded inputs: probabilities, the modality weights (and how they were
        computed), each auxiliary head's prediction, and the prediction with each given modality removed."""
        variant = self.net.variants[self.variant]
        logits, weights, uni = variant(feats, present)
        probs = logits.softmax(-1)[0]
        label = int(probs.argmax())
        if weights is None:   # a variant without weights of its own (early fusion)
            weights = gradient_contribution(variant, feats, present, torch.tensor([label]))
        given = [i for i in range(len(self.modalities)) if present[0, i]]
        unimodal = {self.modalities[i]: uni[0, i].softmax(-1) for i in given}
        ablation = {}
        for i in given if len(given) > 1 else []:
            without = present.clone()
            without[0, i] = False
            ablation[self.modalities[i]] = variant(feats, without)[0].softmax(-1)[0]
        return {"probs": probs, "label": label, "weights": weights[0], "unimodal": unimodal, "ablation": ablation}

    def postprocess(self, out: dict, got: dict, attention: dict, mel: dict, trimmed: dict,
                    top_k: int = 5) -> Prediction:
        probs, label = out["probs"], out["label"]
        top = probs.topk(min(top_k, len(self.classes)))
        extras = ClassifyExtras(
            confidence=float(probs[label]), image_input=got.get("image"), mel=mel.get("audio"),
            unimodal={m: {"label": self.classes[int(p.argmax())], "confidence": float(p.max())}
                      for m, p in out["unimodal"].items()},
            ablation={m: {"confidence": float(p[label]), "label": self.classes[int(p.argmax())]}
                      for m, p in out["ablation"].items()})
        notes = {"fusion": FUSIONS[self.variant].NOTE, "ablation": NOTES["ablation"], "unimodal": NOTES["unimodal"]}
        tokens = {}
        if "image" in got:
            h, w = attention["image"].shape
            notes["image"] = ("Spatial attention: the softmax weight the image encoder's attention pooling gave "
                              f"each cell of its {h}x{w} grid.")
        if "text" in got:
            tokens["text"], attention["text"] = word_weights(got["text"], attention["text"])
            notes["text"] = NOTES["text"]
        if "audio" in got:
            notes["audio"] = " ".join(filter(None, [trimmed.get("audio"), NOTES["audio"]]))
        return Prediction(
            task=self.task, model=self.name, output=self.classes[label],
            scores={self.classes[int(i)]: float(p) for p, i in zip(top.values, top.indices)},
            fusion_weights={m: float(w) for m, w in zip(self.modalities, out["weights"])},
            attention=attention, tokens=tokens, notes=notes, extras=extras)

    def checkpoint_hash(self) -> str:
        folder = getattr(self, "folder", None)
        return file_hash(Path(folder) / "model.safetensors") if folder else ""

    def explain(self, image=None, text=None, audio=None, corruption=None, methods=METHODS):
        """-> mmdemo.explain.Explanation: corrupted inputs, three reliance views, interactions, faithfulness
        (tasks/classify/explain.py)."""
        from .explain import explain
        return explain(self, image, text, audio, corruption, methods)

    def predict(self, image=None, text=None, audio=None, top_k: int = 5) -> Prediction:
        trimmed = {}
        got = self.preprocess(image, text, audio, notes=trimmed)
        feats, present, attention, mel = self.features(got)
        return self.postprocess(self.forward(feats, present), got, attention, mel, trimmed, top_k)


def _factory(folder, variant: str, name: str):
    return lambda: TriModalClassifier.from_checkpoint(folder, variant, name)


def builtin_folder() -> Path:
    return paths.checkpoints("classify")


for _v in VARIANTS:
    register("classify", f"digits-{_v}", default=_v == "gated")(_factory(builtin_folder(), _v, f"digits-{_v}"))


def register_folder(folder, default: bool = False) -> list[str]:
    """Register a trained classifier folder (its variants as NAME-gated, NAME-early, ...). A folder that
    is already registered (found by discover()) is only made the default when asked."""
    folder = Path(folder)
    config = checkpoint.read_config(folder)
    if config.get("task") != "classify":
        raise MMDemoError(f"{folder} is not a classifier checkpoint (its config says task {config.get('task')!r}).")
    names = [f"{folder.name}-{v}" for v in VARIANTS]
    for v, name in zip(VARIANTS, names):
        if not is_registered("classify", name):
            register("classify", name)(_factory(folder, v, name))
    if default:
        set_default("classify", names[0])
    return names


def discover(root=None) -> None:
    """Every checkpoints/* folder (other than the built-in one) whose config says task classify."""
    for cfg in sorted(Path(root or paths.checkpoints()).glob("*/config.json")):
        if cfg.parent.resolve() != builtin_folder().resolve():
            try:
                if checkpoint.read_config(cfg.parent).get("task") == "classify":
                    register_folder(cfg.parent)
            except (MMDemoError, ValueError):
                pass   # unreadable config: not ours to serve


discover()
