"""Explanations a person can explore and check: the shared methods of every task with fusion.

    c = Corruption(image_noise=0.3, audio_snr_db=0, audio_noise="babble", text_typos=0.5, seed=1)
    phi = shapley(values, m)                  # exact, over all 2^m subsets (values in subset_masks order)
    pairs = interaction_index(values, names)  # Shapley interaction index of every pair
    e = emap(score, m, n_ref)                 # Hessel & Lee 2020: the best additive approximation
    curves = deletion_insertion(score, weights)   # faithfulness of a heatmap vs random order
    result = Explanation(...); result.to_json(); result.figure()   # typed result, export

Tasks (tasks/classify, tasks/vqa) supply the value functions: each `model.explain(...)` turns its inputs
into "which modalities are present" / "which parts are kept" batches and calls these. Everything here is
deterministic given the seed.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from itertools import combinations

import numpy as np
import torch
from PIL import Image

from .errors import MMDemoError
from .inputs import resample

METHODS = ("weights", "shapley", "ablation", "interaction", "emap", "faithfulness")
KEYBOARD = "abcdefghijklmnopqrstuvwxyz"


def checked_methods(methods) -> tuple[str, ...]:
    """`methods` as a tuple; MMDemoError naming any that is not one of METHODS."""
    methods = (methods,) if isinstance(methods, str) else tuple(methods)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise MMDemoError(f"Unknown explanation method(s) {', '.join(map(repr, unknown))}; "
                          f"choose from {', '.join(METHODS)}.")
    return methods


# ---------------------------------------------------------------- corruptions, per modality, seeded

@dataclass
class Corruption:
    """What to do to each input before the model sees it (all off by default)."""
    image_noise: float = 0.0          # Gaussian pixel noise, sigma on the 0..1 scale
    image_occlusion: float = 0.0      # share of the image covered by one square of the background colour
    image_blur: float = 0.0           # Gaussian blur radius, pixels of the model's input
    audio_snr_db: float | None = None  # noise added at this signal-to-noise ratio (None: no noise)
    audio_noise: str = "white"        # "white" (speech band, 0-4 kHz) or "babble" (other spoken digits summed)
    audio_mask: float = 0.0           # share of the clip silenced (one span)
    text_typos: float = 0.0           # chance that each word gets a typo
    text_drop: float = 0.0            # chance that each word is dropped
    text_conflict: str = ""           # a word added at the end (e.g. another digit's name)
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict | Corruption | None) -> Corruption:
        if isinstance(d, Corruption):
            return d
        names = {f.name for f in fields(cls)}
        unknown = set(d or {}) - names
        if unknown:
            raise MMDemoError(f"Unknown corruption setting(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}.")
        return cls(**(d or {}))

    def active(self) -> dict:
        """Only the settings that change something (the seed too, when anything does)."""
        default = Corruption()
        out = {k: v for k, v in asdict(self).items() if k != "seed" and v != getattr(default, k)}
        if out.get("audio_noise") and self.audio_snr_db is None:
            out.pop("audio_noise")
        return {**out, "seed": self.seed} if out else {}


def typo(word: str, rng: np.random.Generator) -> str:
    """One random edit: delete, swap neighbours, replace or insert a letter."""
    if len(word) < 2:
        return word
    i = int(rng.integers(len(word)))
    kind = rng.integers(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1 and i < len(word) - 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    c = KEYBOARD[int(rng.integers(len(KEYBOARD)))]
    return word[:i] + c + word[i + 1:] if kind == 2 else word[:i] + c + word[i:]


def background(x: np.ndarray) -> np.ndarray:
    """(C, H, W) image -> its background colour (C, 1, 1): the median of the border pixels."""
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], 1)
    return np.median(border, 1)[:, None, None]


def corrupt_image(x: np.ndarray, c: Corruption, rng: np.random.Generator) -> np.ndarray:
    """x: (C, H, W) float in 0..1 -> the corrupted copy: blur, then the occluding square, then noise."""
    x = x.astype(np.float32).copy()
    if c.image_blur > 0:
        from torchvision.transforms.functional import gaussian_blur
        k = 2 * math.ceil(3 * c.image_blur) + 1
        x = gaussian_blur(torch.from_numpy(x)[None], [k, k], [float(c.image_blur)] * 2)[0].numpy()
    if c.image_occlusion > 0:
        _, h, w = x.shape
        side = int(round(math.sqrt(min(c.image_occlusion, 1.0)) * min(h, w)))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        x[:, top:top + side, left:left + side] = background(x)
    if c.image_noise > 0:
        x = x + rng.normal(0, c.image_noise, x.shape)
    return np.clip(x, 0, 1).astype(np.float32)


def speech_band_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples at 16 kHz of white noise made at 8 kHz: all its power is in 0-4 kHz, like FSDD's speech
    and the model's mel features (16 kHz white noise would put half its power where nothing listens)."""
    return resample(rng.normal(0, 1, n // 2 + 1).astype(np.float32), 8000, 16000)[:n]


def mix_at_snr(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    power = float(np.mean(wave.astype(np.float64) ** 2)) + 1e-12
    noise = noise * np.sqrt(power / 10 ** (snr_db / 10) / (float(np.mean(noise.astype(np.float64) ** 2)) + 1e-12))
    return (wave + noise).astype(np.float32)


@lru_cache(maxsize=1)
def babble_sources(n: int = 40) -> tuple[tuple[np.ndarray, ...], str]:
    """Clips babble is made of: the first n FSDD official-test clips (real speakers, index 0-4), else the
    shipped example clip. Read directly (not the whole data set) so the first request stays quick."""
    import soundfile as sf

    from . import paths
    from .inputs import load_audio
    try:
        files = sorted(paths.dataset("fsdd").glob("recordings/*_[0-4].wav"))[:n]
    except MMDemoError:
        files = []
    clips = []
    for f in files:
        data, rate = sf.read(str(f), dtype="float32", always_2d=True)
        clips.append(resample(data.mean(1), rate, 16000))
    if clips:
        return tuple(clips), "FSDD test clips"
    wave = load_audio(str(paths.examples("classify") / "seven_jackson.wav"), target_rate=16000)[1]
    return (wave,), "the example clip (FSDD not found)"


def babble(n: int, rng: np.random.Generator, voices: int = 5) -> np.ndarray:
    """n samples of babble: `voices` other spoken-digit clips, each looped to length at a random offset, summed."""
    clips, _ = babble_sources()
    out = np.zeros(n, np.float32)
    for i in rng.choice(len(clips), size=voices, replace=len(clips) < voices):
        clip = clips[i] / max(float(np.abs(clips[i]).max()), 1e-6)
        out += np.roll(np.resize(clip, n), int(rng.integers(n)))
    return out


def corrupt_audio(wave: np.ndarray, c: Corruption, rng: np.random.Generator) -> np.ndarray:
    """16 kHz clip -> noise at c.audio_snr_db (white or babble), then one silenced span (time masking)."""
    wave = wave.astype(np.float32).copy()
    if c.audio_snr_db is not None:
        noise = babble(len(wave), rng) if c.audio_noise == "babble" else speech_band_noise(len(wave), rng)
        wave = mix_at_snr(wave, noise, float(c.audio_snr_db))
    if c.audio_mask > 0:
        span = int(min(c.audio_mask, 1.0) * len(wave))
        start = int(rng.integers(0, len(wave) - span + 1))
        wave[start:start + span] = 0.0
    return wave


def corrupt_text(text: str, c: Corruption, rng: np.random.Generator) -> str:
    """Typos per word, dropped words, then a conflicting word at the end. May return ""."""
    words = []
    for w in text.split():
        if c.text_drop > 0 and rng.random() < c.text_drop:
            continue
        words.append(typo(w, rng) if c.text_typos > 0 and rng.random() < c.text_typos else w)
    if c.text_conflict.strip():
        words.append(c.text_conflict.strip())
    return " ".join(words)


# ---------------------------------------------------------------- Shapley values and interactions, exact

def subset_masks(m: int) -> torch.Tensor:
    """All 2^m subsets of m players as a (2^m, m) bool tensor: row k holds the bits of k."""
    return (torch.arange(2 ** m)[:, None] >> torch.arange(m)) & 1 == 1


def subset_name(names, row) -> str:
    return "+".join(n for n, on in zip(names, row) if on) or "none"


def shapley(values, m: int) -> np.ndarray:
    """Exact Shapley values from v(S) of every subset (last axis, subset_masks order; leading axes = a batch):
    phi_i = sum over S without i of |S|! (m-|S|-1)! / m! * (v(S + i) - v(S)). They sum to v(all) - v(none)."""
    v = np.asarray(values, dtype=np.float64)
    phi = np.zeros(v.shape[:-1] + (m,))
    for k in range(2 ** m):
        s = bin(k).count("1")
        for i in range(m):
            if not k >> i & 1:
                w = math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m)
                phi[..., i] += w * (v[..., k | 1 << i] - v[..., k])
    return phi


def interaction_index(values, names) -> dict[str, float]:
    """Shapley interaction index (Grabisch 1997) of every pair i, j: the weighted mean over S without i, j
    of v(S+ij) - v(S+i) - v(S+j) + v(S). Positive: together they do more than their two effects added."""
    v, m, out = np.asarray(values, dtype=np.float64), len(names), {}
    for i, j in combinations(range(m), 2):
        total = 0.0
        for k in range(2 ** m):
            if k >> i & 1 or k >> j & 1:
                continue
            s = bin(k).count("1")
            w = math.factorial(s) * math.factorial(m - s - 2) / math.factorial(m - 1)
            total += w * (v[k | 1 << i | 1 << j] - v[k | 1 << i] - v[k | 1 << j] + v[k])
        out[f"{names[i]} x {names[j]}"] = total
    return out


def emap(score, m: int, n_ref: int, rng: np.random.Generator, max_pairs: int = 1024) -> dict:
    """EMAP (Hessel & Lee 2020): the model's projection onto additive functions, at this input.

    score(rows) gets an (R, m) int array: for each row and modality, 0 = this input's, j >= 1 = reference
    item j-1's; it returns the value of f on those recombined inputs (R,). EMAP(x) = sum_m E[f | x_m]
    - (m - 1) E[f], expectations over the reference batch (E[f] over the product of the references,
    sampled when it has more than max_pairs combinations). One call, vectorised."""
    own = np.zeros((1, m), np.int64)
    cond = []
    for k in range(m):                       # x_k from this input, the rest from reference j
        r = np.repeat(np.arange(1, n_ref + 1)[:, None], m, 1)
        r[:, k] = 0
        cond.append(r)
    if n_ref ** m <= max_pairs:
        grid = np.stack(np.meshgrid(*[np.arange(1, n_ref + 1)] * m, indexing="ij"), -1).reshape(-1, m)
    else:
        grid = rng.integers(1, n_ref + 1, size=(max_pairs, m))
    rows = np.concatenate([own, *cond, grid])
    f = np.asarray(score(rows), dtype=np.float64)
    conditional = [float(f[1 + k * n_ref:1 + (k + 1) * n_ref].mean()) for k in range(m)]
    mean = float(f[1 + m * n_ref:].mean())
    additive = sum(conditional) - (m - 1) * mean
    return {"f": float(f[0]), "emap": additive, "non_additive": float(f[0]) - additive,
            "mean_f": mean, "conditional": conditional, "n_reference": n_ref, "n_product": len(grid)}


# ---------------------------------------------------------------- faithfulness of a heatmap

def _auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps of 0..1 (trapezoid)."""
    return float(((curve[1:] + curve[:-1]) / 2).mean()) if len(curve) > 1 else float(curve[0])


def deletion_insertion(score, weights, rng: np.random.Generator, n_points: int = 8, n_random: int = 3) -> dict:
    """Delete (and insert) the parts a heatmap weighs most first, vs. in random orders.

    score(keep) gets a (R, P) bool array of which of the P parts are kept and returns (R,) values (the
    probability of the predicted class). Deletion starts from the whole input, insertion from nothing
    (all parts replaced by the task's baseline). A faithful map makes the deletion curve fall faster
    (lower area) and the insertion curve rise faster (higher area) than random orders do. One call."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    p = len(w)
    steps = np.unique(np.round(np.linspace(0, p, min(n_points, p) + 1)).astype(int))
    orders = [np.argsort(-w, kind="stable")] + [rng.permutation(p) for _ in range(n_random)]
    masks = []
    for order in orders:
        rank = np.empty(p, np.int64)
        rank[order] = np.arange(p)
        top = rank[None, :] < steps[:, None]              # (S, P): the first k parts in this order
        masks += [~top, top]                              # deletion keeps the rest; insertion keeps the top
    unique, inverse = np.unique(np.concatenate(masks), axis=0, return_inverse=True)   # shared first/last steps
    values = np.asarray(score(unique), dtype=np.float64)[inverse.ravel()].reshape(len(orders), 2, len(steps))
    x = (steps / p).tolist()
    out = {"fraction": x, "weights": w.tolist()}      # the map's weight of each part, in the parts' order
    for j, kind in enumerate(("deletion", "insertion")):
        curve, rand = values[0, j], values[1:, j].mean(0)
        out[kind] = {"map": curve.tolist(), "random": rand.tolist(), "auc_map": _auc(curve), "auc_random": _auc(rand)}
    out["deletion"]["beat_random"] = out["deletion"]["auc_map"] < out["deletion"]["auc_random"]
    out["insertion"]["beat_random"] = out["insertion"]["auc_map"] > out["insertion"]["auc_random"]
    out["n_parts"], out["n_random"] = p, n_random
    return out


# ---------------------------------------------------------------- agreement of the three reliance views

TIE = 0.01     # two values this close are a near-tie: no view "disagrees" over their order


def ranking(values: dict[str, float]) -> list[str]:
    return sorted(values, key=lambda k: -values[k])


def opposed(views: dict[str, dict[str, float]]) -> list[tuple[str, str]]:
    """Pairs (a, b) that one view puts ahead by more than TIE and another puts behind by more than TIE."""
    names = list(next(iter(views.values())))
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
            if any(v[a] - v[b] > TIE for v in views.values()) and any(v[b] - v[a] > TIE for v in views.values())]


def agreement(views: dict[str, dict[str, float]]) -> str:
    """A plain-words line: do the views rank the modalities the same? Where not, say how they differ."""
    views = {k: v for k, v in views.items() if v}
    if not views:
        return "No reliance view could be computed."
    if len(next(iter(views.values()))) < 2:
        return "Only one modality was given: there is nothing to compare."
    ranks = {k: ranking(v) for k, v in views.items()}
    if len({tuple(r) for r in ranks.values()}) == 1:
        return f"The {len(views)} views agree: they rank the modalities {' > '.join(next(iter(ranks.values())))}."
    parts = "; ".join(f"{k}: {' > '.join(r)}" for k, r in ranks.items())
    if not opposed(views):
        return (f"The {len(views)} views agree up to near-ties: where their orders differ, one view puts the two "
                f"modalities within {TIE} of each other — {parts}.")
    tops = {r[0] for r in ranks.values()}
    head = (f"They agree on the most relied-on modality ({tops.pop()}) but not on the order of the rest"
            if len(tops) == 1 else "They disagree on which modality matters most")
    return (f"{head} — {parts}. Fusion weights say what the model chose to mix; Shapley values and the "
            "ablation drop say what its output actually depends on.")


# ---------------------------------------------------------------- the typed result and its export

def file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def input_hash(parts: dict) -> str:
    """sha256 (first 16 hex) of the inputs as the model received them before any corruption."""
    h = hashlib.sha256()
    for k in sorted(parts):
        v = parts[k]
        h.update(k.encode())
        h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else str(v).encode())
    return h.hexdigest()[:16]


@dataclass
class Explanation:
    """One request explained. Every number is exported by to_json(); `inputs` (the corrupted inputs as
    the model saw them, for pictures) is not."""
    task: str
    model: str
    prediction: str
    confidence: float                               # f(all): the probability of the predicted class
    modalities: list[str]                           # the players of the Shapley game, in order
    fusion_weights: dict[str, float] = field(default_factory=dict)
    shapley: dict[str, float] = field(default_factory=dict)
    ablation_drop: dict[str, float] = field(default_factory=dict)
    subset_values: dict[str, float] = field(default_factory=dict)   # "image+text" -> f(that subset)
    interaction: dict[str, float] = field(default_factory=dict)
    emap: dict | None = None
    faithfulness: dict[str, dict] = field(default_factory=dict)    # map name -> deletion_insertion(...)
    agreement: str = ""
    scores: dict[str, float] = field(default_factory=dict)
    corrupted_text: str | None = None
    maps: dict = field(default_factory=dict)        # each heatmap as the model computed it: name -> weights
    notes: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)    # corruption, methods, seed
    input_hash: str = ""
    checkpoint_hash: str = ""
    latency_ms: float = 0.0
    inputs: dict = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "inputs"}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), default=_plain, **kw)

    def shapley_share(self) -> dict[str, float]:
        """Each modality's share of the total absolute Shapley value."""
        total = sum(abs(v) for v in self.shapley.values())
        return {k: abs(v) / total if total > 0 else 0.0 for k, v in self.shapley.items()}

    def figure(self) -> Image.Image:
        return explanation_figure(self)


def _plain(x):
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON")


def explanation_figure(e: Explanation) -> Image.Image:
    """A PNG-ready summary: the three reliance views and interactions + EMAP on top, then the faithfulness
    curves of every map, up to four a row."""
    from matplotlib.figure import Figure         # not pyplot: no global state shared between requests
    n_maps = len(e.faithfulness)
    cols = max(2, min(n_maps, 4))
    rows = 1 + -(-n_maps // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows), dpi=90)
    grid = fig.add_gridspec(rows, 2 * cols)
    reliance, inter = fig.add_subplot(grid[0, :cols]), fig.add_subplot(grid[0, cols:])
    mods = e.modalities
    for k, (view, vals) in enumerate([("fusion weight", e.fusion_weights), ("Shapley", e.shapley),
                                      ("ablation drop", e.ablation_drop)]):
        reliance.bar(np.arange(len(mods)) + (k - 1) * 0.27, [vals.get(m, 0.0) for m in mods], 0.27, label=view)
    reliance.set_xticks(range(len(mods)), mods)
    reliance.axhline(0, color="k", lw=0.5)
    reliance.set_title("Reliance: three views")
    reliance.legend(fontsize=7)
    names = list(e.interaction) + (["EMAP non-additive"] if e.emap else [])
    vals = list(e.interaction.values()) + ([e.emap["non_additive"]] if e.emap else [])
    inter.barh(names or ["(none)"], vals or [0.0], color="tab:purple")
    inter.axvline(0, color="k", lw=0.5)
    inter.set_title("Interaction")
    inter.tick_params(labelsize=7)
    for i, (name, f) in enumerate(e.faithfulness.items()):
        faithfulness_axes(fig.add_subplot(grid[1 + i // cols, 2 * (i % cols):2 * (i % cols) + 2]), name, f)
    fig.suptitle(f"{e.model}: {e.prediction} ({e.confidence:.3f}) — {e.agreement[:110]}", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def verdict(f: dict) -> str:
    """A map's faithfulness verdict from its deletion areas (equal within 1e-6: a tie)."""
    d = f["deletion"]
    if abs(d["auc_map"] - d["auc_random"]) < 1e-6:
        return "tie with random"
    return "beat random here" if d["beat_random"] else "did not beat random"


def faithfulness_axes(ax, name: str, f: dict) -> None:
    """One map's deletion (red) and insertion (green) curves, map order solid, random dashed; the verdict on top."""
    for kind, colour in (("deletion", "tab:red"), ("insertion", "tab:green")):
        ax.plot(f["fraction"], f[kind]["map"], color=colour, label=f"{kind} (map) {f[kind]['auc_map']:.2f}")
        ax.plot(f["fraction"], f[kind]["random"], color=colour, ls="--", label=f"{kind} (random) {f[kind]['auc_random']:.2f}")
    ax.set_title(f"{name}: {verdict(f)}", fontsize=9)
    ax.set_xlabel("share of parts removed / inserted", fontsize=8)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=6)


# ---------------------------------------------------------------- what the two tasks share around these

def reliance_views(values: np.ndarray, names: list[str], uniform: float) -> dict:
    """From f(S) of every subset (subset_masks order): Shapley values, ablation drops, subset values
    and the pairwise interaction index. f(none) is `uniform` (1/C: no evidence; most fusions cannot run on nothing)."""
    v = np.asarray(values, dtype=np.float64).copy()
    v[0] = uniform
    m, full = len(names), 2 ** len(names) - 1
    phi = shapley(v, m)
    masks = subset_masks(m).numpy()
    return {"shapley": {n: float(p) for n, p in zip(names, phi)},
            "ablation_drop": {n: float(v[full] - v[full & ~(1 << i)]) for i, n in enumerate(names)},
            "subset_values": {subset_name(names, row): float(x) for row, x in zip(masks, v)},
            "interaction": interaction_index(v, names) if m > 1 else {}}


def fill_views(e: Explanation, methods, weights: dict, views: dict, emap_=None, faithfulness=None) -> Explanation:
    """Put the requested views into e (emap_ and faithfulness are callables, run only when asked) and the
    agreement line of the three reliance views."""
    e.fusion_weights = weights if "weights" in methods else {}
    if "shapley" in methods:
        e.shapley, e.subset_values = views["shapley"], views["subset_values"]
    if "ablation" in methods:
        e.ablation_drop = views["ablation_drop"]
    if "interaction" in methods:
        e.interaction = views["interaction"]
    if "emap" in methods and emap_ is not None:
        e.emap = emap_()
    if "faithfulness" in methods and faithfulness is not None:
        e.faithfulness = faithfulness()
    e.agreement = agreement({"fusion weights": e.fusion_weights, "Shapley": e.shapley, "ablation drop": e.ablation_drop})
    return e


NOTES = {
    "shapley": "Exact Shapley values over all 2^M subsets of the given modalities: the value of a subset is the "
               "probability of the predicted class when the model sees only that subset ({how}); f(no input) = 1/"
               "number of classes (no evidence). They sum to f(all) - f(none).",
    "ablation": "Ablation drop: f(all) minus f(all but this modality), the same subset mechanism.",
    "interaction": "Shapley interaction index (Grabisch 1997) of each pair from the same 2^M values: positive = the "
                   "pair does more together than its two effects added.",
    "emap": "EMAP (Hessel & Lee 2020): the best additive approximation of the model, sum over modalities of "
            "E[f | this modality from the input, the others from {n} reference items] - (M-1) E[f]; the "
            "non-additive part is f minus that.",
    "faithfulness": "Deletion / insertion (Petsiuk et al. 2018): the probability of the predicted class as the "
                    "parts the map weighs most are removed (inserted) first, vs. the mean of {r} random orders; "
                    "area under each curve. The map beats random when its deletion area is lower.",
}


# ---------------------------------------------------------------- dataset view (evaluate --json)

def classification_metrics(y_true, y_pred, labels: list[str]) -> dict:
    """Accuracy, precision, recall, F1 (macro over the classes that occur, and per class) and the confusion
    matrix (rows = truth), computed by scikit-learn."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
    idx = list(range(len(labels)))
    seen = sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))   # macro: classes that occur
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=idx, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=seen, average="macro", zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision_macro": float(mp),
            "recall_macro": float(mr), "f1_macro": float(mf),
            "per_class": {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                          for i, c in enumerate(labels)},
            "labels": list(labels), "confusion": confusion_matrix(y_true, y_pred, labels=idx).tolist()}


def reliance_by_group(shares: np.ndarray, names: list[str], groups, correct) -> dict:
    """Mean Shapley share of each modality per group (class / question type), for correct and wrong answers."""
    groups, correct, out = np.asarray(groups), np.asarray(correct, dtype=bool), {}
    for g in sorted(set(groups.tolist())):
        out[str(g)] = {}
        for kind, sel in (("correct", correct), ("wrong", ~correct)):
            rows = (groups == g) & sel
            out[str(g)][kind] = ({n: float(shares[rows, i].mean()) for i, n in enumerate(names)} | {"n": int(rows.sum())}
                                 if rows.any() else {"n": 0})
    return out


def shares_of(phi: np.ndarray) -> np.ndarray:
    """Shapley values (N, M) -> each modality's share of the total absolute value (rows of zeros stay zero)."""
    a = np.abs(phi)
    return a / np.clip(a.sum(-1, keepdims=True), 1e-12, None)
