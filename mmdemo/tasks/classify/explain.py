"""Explaining one classification: corruption, the three reliance views, interactions (Shapley pairs, EMAP),
faithfulness of every heatmap, and the four fusion variants side by side. The methods are mmdemo/explain.py's;
this file only says what a subset, a reference batch and a deleted part mean for this model.

    e = mmdemo.load("classify").explain(image=..., text="seven", audio=..., corruption={"image_noise": 0.5})
    e.shapley, e.fusion_weights, e.ablation_drop, e.agreement, e.faithfulness["image"], e.to_json(), e.figure()

Subsets: the fusion heads take a `present` mask (missing modalities are masked out of the gate, the
attention or the alpha softmax, and zeroed for early fusion) — the same mechanism as the ablation check.
"""
from __future__ import annotations

import copy
import threading
import time
from pathlib import Path

import numpy as np
import torch

from ... import explain as ex
from ...errors import MMDemoError
from ...nn.text import encode_chars, word_weights

N_REFERENCE = 32       # EMAP's reference batch: clean test items (MNIST test, unseen phrasings, FSDD test)


def corrupt(got: dict, c: ex.Corruption) -> dict:
    """The decoded inputs with the corruption applied (a separate seeded stream per modality)."""
    out = dict(got)
    rngs = {m: np.random.default_rng([c.seed, k]) for k, m in enumerate(("image", "text", "audio"))}
    if "image" in got:
        out["image"] = ex.corrupt_image(got["image"], c, rngs["image"])
    if "text" in got:
        out["text"] = ex.corrupt_text(got["text"], c, rngs["text"])
        if not out["text"].strip():
            del out["text"]                         # every word dropped: the text counts as not given
    if "audio" in got:
        out["audio"] = ex.corrupt_audio(got["audio"], c, rngs["audio"])
    if not any(m in out for m in ("image", "text", "audio")):
        raise MMDemoError("The corruption removed every input; lower the dropped-word rate.")
    return out


def run_rows(model, feats: list[torch.Tensor], present: torch.Tensor, label: int) -> torch.Tensor:
    """The variant's probability of `label` for a batch of (features, present) rows; NaN where nothing is present."""
    with torch.no_grad():
        return model.net.variants[model.variant](feats, present)[0].softmax(-1)[:, label]


def subset_values(model, feats, present, label: int) -> tuple[list[str], np.ndarray]:
    """f(S) for every subset S of the given modalities, one batch (subset_masks order)."""
    given = [i for i in range(len(model.modalities)) if present[0, i]]
    masks = ex.subset_masks(len(given))
    rows = torch.zeros(len(masks), len(model.modalities), dtype=torch.bool)
    rows[:, given] = masks
    values = run_rows(model, [f.expand(len(masks), -1) for f in feats], rows, label).double().numpy()
    return [model.modalities[i] for i in given], values


def reliance(model, feats, present, out) -> dict:
    names, values = subset_values(model, feats, present, out["label"])
    views = ex.reliance_views(values, names, 1.0 / len(model.classes))
    views["fusion_weights"] = {m: float(out["weights"][model.modalities.index(m)]) for m in names}
    return views


def reference_file(model):
    return Path(model.folder) / "emap_reference.safetensors" if getattr(model, "folder", None) else None


def reference_features(model) -> dict | None:
    """Pooled features of N_REFERENCE clean test items per modality (EMAP's reference batch), read from
    emap_reference.safetensors next to the checkpoint (written by evaluate --robustness), else computed from
    MNIST and FSDD; None where neither is available."""
    key = id(model.net)
    if key not in _REFERENCE:
        f = reference_file(model)
        if f is not None and f.is_file():
            from safetensors.torch import load_file
            _REFERENCE[key] = load_file(str(f))
        else:
            _REFERENCE[key] = compute_reference(model.net)
    return _REFERENCE[key]


_REFERENCE: dict = {}


def compute_reference(net) -> dict | None:
    from ...datasets.fsdd import fsdd_clips
    from ...datasets.mnist import load_mnist
    from .data import digit_texts
    from .model import encode_all
    try:
        images, _ = load_mnist("test")
        waves = fsdd_clips(split="test")[0]
    except MMDemoError:
        return None
    rng = np.random.default_rng(7)
    img = images[rng.choice(len(images), N_REFERENCE, replace=False), None].astype(np.float32) / 255.0
    clips = [waves[i] for i in rng.choice(len(waves), N_REFERENCE, replace=False)]
    data = {"image": img, "text": digit_texts(N_REFERENCE, seed=7)[0], "audio": clips}
    return {m: encode_all(net, m, data[m])[0].contiguous() for m in net.modalities}


def save_reference(model) -> None:
    """Write the reference batch's features next to the checkpoint (a few kB), so the app needs no data set."""
    from safetensors.torch import save_file
    ref = compute_reference(model.net)
    if ref is not None and reference_file(model) is not None:
        save_file(ref, str(reference_file(model)))


def emap_view(model, feats, present, label: int, rng) -> dict | None:
    ref = reference_features(model)
    given = [i for i in range(len(model.modalities)) if present[0, i]]
    if ref is None or len(given) < 2:
        return None

    def score(rows):
        pools = [torch.cat([feats[i], ref[m]]) for i, m in enumerate(model.modalities)]
        batch = []
        for i, pool in enumerate(pools):
            batch.append(pool[rows[:, given.index(i)]] if i in given else feats[i].expand(len(rows), -1))
        return run_rows(model, batch, present.expand(len(rows), -1), label).double().numpy()
    return ex.emap(score, len(given), N_REFERENCE, rng)


CAM = "image (LayerCAM)"    # the gradient map beside the image encoder's own attention map


def faithfulness(model, got: dict, feats, present, attention: dict, label: int, rng) -> dict:
    """Deletion / insertion curves of every heatmap of this request (image cells: the encoder's attention
    and LayerCAM; words; audio steps). Each result also holds the map's weight per part ("weights")."""
    maps = dict(attention)
    if "image" in got:
        maps[CAM] = layercam(model, got, feats, present, label, attention["image"].shape)
    out = {}
    for name, heat in maps.items():
        m = "image" if name == CAM else name
        if m in got:
            parts = {"image": image_parts, "text": word_parts, "audio": audio_parts}[m]
            weights, build = parts(got[m], heat, *([model.net.encoders[m]] if m == "audio" else []))
            i = model.modalities.index(m)

            def score(keep, i=i, build=build):
                f, has = build(model, keep)
                rows = present.expand(len(keep), -1).clone()
                rows[:, i] = has
                batch = [f if k == i else x.expand(len(keep), -1) for k, x in enumerate(feats)]
                return run_rows(model, batch, rows, label).double().numpy()
            out[name] = ex.deletion_insertion(score, weights, rng)
    return out


_cam_lock = threading.Lock()     # the library hooks the module it explains: one request at a time


class ImageToClass(torch.nn.Module):
    """image -> the fusion variant's logits, the other modalities' features fixed (what LayerCAM explains).
    A private copy of the image encoder and the variant, so the library's hooks and gradients never touch
    the shared model that other requests are running."""

    def __init__(self, model):
        super().__init__()
        self.encoder = copy.deepcopy(model.net.encoders["image"])
        self.variant = copy.deepcopy(model.net.variants[model.variant])
        self.index = model.modalities.index("image")
        self.feats, self.present = None, None
        self.requires_grad_(True)    # the shared net may be frozen (retrieve freezes the classify net it shares)

    def forward(self, x):
        f, _ = self.encoder(x)
        feats = [f if k == self.index else v.expand(len(x), -1) for k, v in enumerate(self.feats)]
        return self.variant(feats, self.present.expand(len(x), -1))[0]


def layercam(model, got: dict, feats, present, label: int, grid: tuple[int, int]) -> np.ndarray:
    """LayerCAM (Jiang et al. 2021; pytorch-grad-cam) of the predicted class's probability on the image
    encoder's last convolution, given the other inputs as they are -> one weight per cell of the encoder's
    grid (the library's input-sized map averaged over each cell's pixels). Grad-CAM and Grad-CAM++ were
    measured on the same 100 MNIST items and beat random deletion less often (docs/explain.md)."""
    from pytorch_grad_cam import LayerCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    with _cam_lock, torch.enable_grad():      # gradients on even if the caller runs under torch.no_grad()
        if getattr(model, "_layercam", None) is None:
            model._layercam = ImageToClass(model).eval()
        net = model._layercam
        net.feats, net.present = [f.detach() for f in feats], present
        with LayerCAM(model=net, target_layers=[net.encoder.cnn[-1]]) as cam:
            pixels = cam(input_tensor=torch.from_numpy(got["image"])[None],
                         targets=[ClassifierOutputSoftmaxTarget(label)])[0]
        net.feats = None
    return torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(pixels)[None], grid)[0].numpy()


def image_parts(x: np.ndarray, grid: np.ndarray):
    """Parts = the cells of the encoder's attention grid; a deleted cell takes the background colour."""
    gh, gw = grid.shape
    _, h, w = x.shape
    bg = torch.as_tensor(ex.background(x))
    img = torch.as_tensor(x)

    def build(model, keep):
        mask = torch.as_tensor(keep).view(-1, 1, gh, gw).float()
        mask = torch.nn.functional.interpolate(mask, size=(h, w), mode="nearest")
        with torch.no_grad():
            f, _ = model.net.encode("image", img * mask + bg * (1 - mask))
        return f, torch.ones(len(keep), dtype=torch.bool)
    return grid.ravel(), build


def word_parts(text: str, char_weights: np.ndarray):
    """Parts = words; a deleted word is left out of the text (no words left: the text is not given)."""
    words, weights = word_weights(text, char_weights)

    def build(model, keep):
        texts = [" ".join(w for w, k in zip(words, row) if k) for row in keep]
        with torch.no_grad():
            f, _ = model.net.encode("text", encode_chars([t or " " for t in texts]))
        return f, torch.tensor([bool(t) for t in texts])
    return weights, build


def audio_parts(wave: np.ndarray, frame_weights: np.ndarray, encoder):
    """Parts = the audio encoder's 80 ms steps (one speech-embedding vector each, the units its attention
    weighs); a deleted step is left out of the attention pooling. Deleting in the representation, not in
    the waveform: re-running the frozen speech CNN for every point of every curve took ~1 s per request."""
    from ...nn.audio import mel_batch
    with torch.no_grad():
        v, valid = encoder.vectors(*mel_batch([wave]))
        weights = encoder.pool_vectors(v, valid)[1][0][valid[0]]
    n = int(valid[0].sum())

    def build(model, keep):
        rows = torch.zeros(len(keep), v.shape[1], dtype=torch.bool)
        rows[:, :n] = torch.as_tensor(keep)
        with torch.no_grad():
            f, _ = encoder.pool_vectors(v.expand(len(keep), -1, -1), rows)
        return f, rows.any(1)
    return weights.numpy(), build


def explain(model, image=None, text=None, audio=None, corruption=None, methods=ex.METHODS) -> ex.Explanation:
    """Everything in `methods` (mmdemo.explain.METHODS) for one request, on the corrupted inputs."""
    t0 = time.perf_counter()
    methods = ex.checked_methods(methods)
    c = ex.Corruption.from_dict(corruption)
    clean = model.preprocess(image, text, audio)
    got = corrupt(clean, c)
    feats, present, attention, mel = model.features(got)
    result = explain_features(model, got, feats, present, attention, methods, c.seed)
    result.input_hash = ex.input_hash(clean)
    result.settings = {"corruption": c.active(), "methods": list(methods), "seed": c.seed,
                       "n_reference": N_REFERENCE, "variant": model.variant}
    result.inputs = {**got, "mel": mel.get("audio"), "attention": attention}
    result.maps = exported_maps(got, attention)
    result.latency_ms = (time.perf_counter() - t0) * 1000
    return result


def exported_maps(got: dict, attention: dict) -> dict:
    """The encoders' attention as the panel shows it: image cells, words (characters summed), audio frames."""
    maps = {m: attention[m] for m in ("image", "audio") if m in attention}
    if "text" in attention:
        words, weights = word_weights(got["text"], attention["text"])
        maps["text"] = {"words": words, "weights": weights}
    return maps


def explain_features(model, got, feats, present, attention, methods, seed: int = 0) -> ex.Explanation:
    """The views computed from encoded inputs (shared by the four variants when compared side by side)."""
    rng = np.random.default_rng(seed)
    out = model.forward(feats, present)
    label = out["label"]
    v = reliance(model, feats, present, out)
    names = list(v["fusion_weights"])
    e = ex.Explanation(task="classify", model=model.name, prediction=model.classes[label],
                       confidence=float(out["probs"][label]), modalities=names,
                       scores={model.classes[i]: float(p) for i, p in enumerate(out["probs"])},
                       corrupted_text=got.get("text"), checkpoint_hash=model.checkpoint_hash())
    ex.fill_views(e, methods, v["fusion_weights"], v, lambda: emap_view(model, feats, present, label, rng),
                  lambda: faithfulness(model, got, feats, present, attention, label, rng))
    e.notes = notes(model, e)
    return e


def notes(model, e: ex.Explanation) -> dict:
    from ...nn.fusion import FUSIONS
    how = "the fusion head's present-mask: missing modalities are masked out of the fusion, as in the ablation check"
    out = {"fusion": FUSIONS[model.variant].NOTE, "shapley": ex.NOTES["shapley"].format(how=how),
           "ablation": ex.NOTES["ablation"], "interaction": ex.NOTES["interaction"],
           "faithfulness": ex.NOTES["faithfulness"].format(r=3) +
           " Maps: 'image' = the image encoder's own attention (its pooling softmax); 'image (LayerCAM)' = LayerCAM "
           "(Jiang et al. 2021, pytorch-grad-cam): the positive gradients of the predicted class's probability times "
           "the last convolution's activations, summed over channels, averaged per grid cell - a standard post-hoc "
           "method, not the model's own weights."
           " Parts: image = attention-grid cells (deleted = background colour), words (deleted = left out), "
           "audio = the encoder's 80 ms steps (deleted = left out of its attention pooling: in the representation, "
           "not the waveform); the other inputs stay as they are.",
           "corruption": "Corruptions are applied on the server to the decoded inputs, seeded (same settings, same result)."
                         f" Babble = {ex.babble_sources.__doc__.split(': ')[1].split('(')[0].strip()}, summed."}
    out["emap"] = ex.NOTES["emap"].format(n=N_REFERENCE) if e.emap else \
        "EMAP needs two given modalities and the test data (MNIST, FSDD) for its reference batch."
    return out


def compare_variants(model, image=None, text=None, audio=None, corruption=None) -> list[dict]:
    """The four fusion variants on the same (corrupted) input: prediction, confidence, the three views,
    latency of the variant's own work (the encoders run once for all four) and parameters."""
    from .model import VARIANTS, TriModalClassifier
    c = ex.Corruption.from_dict(corruption)
    got = corrupt(model.preprocess(image, text, audio), c)
    t0 = time.perf_counter()
    feats, present, attention, _ = model.features(got)
    encode_ms = (time.perf_counter() - t0) * 1000
    encoders = sum(p.numel() for n, p in model.net.named_parameters() if not n.startswith("variants."))
    rows = []
    for kind in VARIANTS:
        other = TriModalClassifier(model.net, model.config, kind, f"{model.name.rsplit('-', 1)[0]}-{kind}")
        other.folder = getattr(model, "folder", None)
        t1 = time.perf_counter()
        e = explain_features(other, got, feats, present, attention, ("weights", "shapley", "ablation"), c.seed)
        rows.append({"variant": other.name, "prediction": e.prediction, "confidence": e.confidence,
                     "fusion_weights": e.fusion_weights, "shapley": e.shapley, "ablation_drop": e.ablation_drop,
                     "agreement": e.agreement, "latency_ms": encode_ms + (time.perf_counter() - t1) * 1000,
                     "parameters": encoders + sum(p.numel() for p in model.net.variants[kind].parameters())})
    return rows


@torch.no_grad()
def batch_reliance(net, kind: str, feats: list[torch.Tensor], present: torch.Tensor):
    """Many triples at once: predicted label, fusion weights (B, M) and exact Shapley values (B, M) of the
    predicted class's probability (f(none) = 1/C), as in explain(). For the dataset view and robustness."""
    from ...nn.fusion import gradient_contribution
    variant = net.variants[kind]
    logits, weights, _ = variant(feats, present)
    label = logits.argmax(1)
    if weights is None:
        weights = gradient_contribution(variant, feats, present, label)
    m, n = present.shape[1], len(label)
    masks = ex.subset_masks(m)
    rows = (masks[:, None, :] & present[None]).reshape(-1, m)                 # (2^m * B, M), subset-major
    probs = variant([f.repeat(len(masks), 1) for f in feats], rows)[0].softmax(-1)
    values = probs.gather(1, label.repeat(len(masks))[:, None]).view(len(masks), n).T.double().numpy()
    values[(~rows.any(1)).view(len(masks), n).T.numpy()] = 1.0 / logits.shape[1]   # nothing present: uniform
    return label.numpy(), weights.numpy(), ex.shapley(values, m)
