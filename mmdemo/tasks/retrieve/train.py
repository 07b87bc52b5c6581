"""Train the search space's heads from scratch and write checkpoints/retrieve (weights, config, card).

    python -m mmdemo.train retrieve [--threads 1] [--digit-steps 600] [--epochs 12] [--scenes 5000] [--speech-epochs 20]

The encoders stay frozen; their features are computed once and cached (.cache/retrieve/, keyed by the
encoders' hash), so training is only the heads: the digit heads (twice: on all five FSDD speakers, and
without HELD_OUT_SPEAKER for the unseen-speaker figure), the two scene towers, then the scene speech tower
on the training captions read by synthetic voices (spoken.py; the voices of the test captions are others).
"""
from __future__ import annotations

import platform
import time

import numpy as np
import torch

from ... import parallel
from ...checkpoint import Trained
from ...nn.fit import fit
from .data import HELD_OUT_SPEAKER, caption_states, digit_train_features, frozen_nets, scene_features
from .model import RetrieveNet, info_nce
from .spoken import spoken_vectors

DIGIT_PAIRS = [("image", "text"), ("image", "audio"), ("text", "audio")]


def add_arguments(ap) -> None:
    ap.add_argument("--digit-steps", type=int, default=600, help="steps of the digit heads (batch 512)")
    ap.add_argument("--scenes", type=int, default=5000, help="training scenes (their features are cached)")
    ap.add_argument("--scene-batch", type=int, default=256)
    ap.add_argument("--speech-epochs", type=int, default=20, help="epochs of the scene speech tower")


def class_batches(labels: dict, rng, batch: int, steps: int):
    """Per step: `batch` random labels and, per modality, a random item of each label."""
    by_class = {m: [np.flatnonzero(y == c) for c in range(10)] for m, y in labels.items()}
    for _ in range(steps):
        y = rng.integers(10, size=batch)
        rows = {m: np.empty(batch, np.int64) for m in labels}
        for c in range(10):
            at = np.flatnonzero(y == c)
            for m in labels:
                rows[m][at] = by_class[m][c][rng.integers(len(by_class[m][c]), size=len(at))]
        yield torch.from_numpy(y), rows


def train_digit_heads(net: RetrieveNet, feats: dict, heads: str, exclude: str | None = None, steps: int = 600,
                      batch: int = 512, seed: int = 0, lr: float = 3e-3) -> dict:
    """The three linear heads of `heads` on class-matched triples (the audio pool without speaker
    `exclude`): symmetric InfoNCE on each pair of modalities, every item of the same digit a positive."""
    rng = np.random.default_rng(seed)
    keep = feats["audio_speaker"] != exclude if exclude else np.ones(len(feats["audio"]), bool)
    pools = {"image": torch.from_numpy(feats["image"]), "text": torch.from_numpy(feats["text"]),
             "audio": torch.from_numpy(feats["audio"][keep])}
    pools = parallel.to_device(pools, parallel.train_device())
    labels = {"image": feats["image_y"], "text": feats["text_y"], "audio": feats["audio_y"][keep]}

    def loss(item):
        y, rows = item
        e = {m: net.embed_digits(m, pools[m][rows[m]], heads) for m in pools}
        same = y[:, None] == y[None, :]
        value = sum(info_nce(e[a], e[b], net.scale(heads), same) for a, b in DIGIT_PAIRS) / len(DIGIT_PAIRS)
        hit = (y[(e["text"] @ e["image"].T).argmax(1)] == y).float().mean()
        return value, {"text_to_image_top1": hit, "scale": net.scale(heads).detach()}

    params = list(getattr(net, heads).parameters()) + [net.log_scale[heads]]
    return fit(net, lambda epoch: class_batches(labels, rng, batch, steps), loss, steps, 1, lr=lr,
               params=params, name=f"retrieve {heads}")


# ------------------------------------------------------------------------------------------ scenes

def perturb(caption: str, rng) -> str:
    """A hard negative: the caption with one thing changed (two objects' colours or nouns swapped,
    or one size, colour, noun or relation word replaced). Same grammar, different scene."""
    from ...datasets.scenes import COLORS, NOUNS
    words = caption.split()
    kinds = {"size": ["small", "large"], "color": COLORS, "noun": NOUNS, "rel": ["above", "below", "left"]}
    at = {k: [i for i, w in enumerate(words) if w in v] for k, v in kinds.items()}
    for _ in range(6):
        kind = ["color", "noun", "size", "rel", "swap-color", "swap-noun"][int(rng.integers(6))]
        if kind.startswith("swap"):
            where = at[kind[5:]]
            if len(where) >= 2:
                i, j = rng.choice(where, 2, replace=False)
                if words[i] != words[j]:
                    words[i], words[j] = words[j], words[i]
                    return " ".join(words)
        elif at[kind]:
            i = int(rng.choice(at[kind]))
            new = [w for w in kinds[kind] if w != words[i]][int(rng.integers(len(kinds[kind]) - 1))]
            if kind == "rel":   # "left of" is two words
                old = words[i:i + 2] if words[i] == "left" else words[i:i + 1]
                words[i:i + len(old)] = ["left", "of"] if new == "left" else [new]
            else:
                words[i] = new
            return " ".join(words)
    return caption


def train_scene_towers(net: RetrieveNet, sc: dict, epochs: int, batch: int = 256, seed: int = 0,
                       lr: float = 2e-3, negatives: int = 128) -> dict:
    """The scene image and caption towers: symmetric InfoNCE between each scene and its caption (scenes
    with identical captions are all positives), plus a perturbed caption of `negatives` of the batch's
    scenes as extra negatives for image -> caption."""
    rng = np.random.default_rng(seed)
    regions = torch.from_numpy(sc["regions"])
    captions = [str(c) for c in sc["captions"]]
    states, mask, _ = caption_states(captions)
    states, mask = torch.from_numpy(states).half(), torch.from_numpy(mask)
    group = torch.from_numpy(np.unique(captions, return_inverse=True)[1])
    where = parallel.train_device()
    regions, states, mask, group = (t.to(where) for t in (regions, states, mask, group))
    n = len(captions)

    def batches(epoch):
        order = rng.permutation(n)
        for s in range(0, n - batch + 1, batch):
            yield torch.from_numpy(order[s:s + batch])

    def loss(rows):
        img = net.embed_scenes("image", regions[rows].float())
        txt = net.embed_scenes("text", states[rows].float(), mask[rows])
        neg_states, neg_mask, _ = caption_states([perturb(captions[i], rng) for i in rows[:negatives].tolist()])
        neg = net.embed_scenes("text", torch.from_numpy(neg_states).to(where), torch.from_numpy(neg_mask).to(where))
        same = group[rows][:, None] == group[rows][None, :]
        value = info_nce(img, txt, net.scale("scenes"), same, extra_b=neg)
        hit = same[torch.arange(len(rows), device=where), (txt @ img.T).argmax(1)].float().mean()
        return value, {"caption_to_image_top1": hit, "scale": net.scale("scenes").detach()}

    params = list(net.scenes.parameters()) + [net.log_scale["scenes"]]
    return fit(net, batches, loss, n // batch, epochs, lr=lr, params=params, name="retrieve scenes")


def train_scene_speech(net: RetrieveNet, sc: dict, vectors: list, epochs: int = 20, batch: int = 256,
                       seed: int = 0, lr: float = 2e-3) -> dict:
    """The scene speech tower, after the image and caption towers (frozen here): each spoken caption is
    pulled to its scene's image embedding and its caption's embedding (symmetric InfoNCE with each,
    scenes with identical captions all positives), so speech lands where that scene already is."""
    from ...nn.audio import pad_vectors
    rng = np.random.default_rng(seed)
    captions = [str(c) for c in sc["captions"]]
    with torch.no_grad():
        img = net.embed_scenes("image", torch.from_numpy(sc["regions"]).float())
        states, mask, _ = caption_states(captions)
        txt = net.embed_scenes("text", torch.from_numpy(states), torch.from_numpy(mask))
    speech, valid = pad_vectors([torch.from_numpy(v) for v in vectors])
    group = torch.from_numpy(np.unique(captions, return_inverse=True)[1])
    img, txt, speech, valid, group = (t.to(parallel.train_device()) for t in (img, txt, speech, valid, group))

    lengths = valid.sum(1).cpu().numpy()

    def batches(epoch):
        """Batches of clips of similar length (in a random order), cut to their longest clip: the
        padded length, and so the cost, follows each batch's own clips."""
        order = np.argsort(lengths + rng.random(len(lengths)) * 4, kind="stable")   # length, shuffled within ties
        chunks = [order[s:s + batch] for s in range(0, len(order) - batch + 1, batch)]
        for i in rng.permutation(len(chunks)):
            yield torch.from_numpy(chunks[i])

    def loss(rows):
        t = int(lengths[rows.cpu().numpy()].max())
        e = net.embed_scenes("audio", speech[rows, :t], valid[rows, :t])
        same = group[rows][:, None] == group[rows][None, :]
        scale = net.scale("scenes_speech")
        value = (info_nce(e, img[rows], scale, same) + info_nce(e, txt[rows], scale, same)) / 2
        hit = same[torch.arange(len(rows)), (e @ img[rows].T).argmax(1)].float().mean()
        return value, {"speech_to_image_top1": hit, "scale": scale.detach()}

    params = list(net.scenes["audio"].parameters()) + [net.log_scale["scenes_speech"]]
    return fit(net, batches, loss, len(captions) // batch, epochs, lr=lr, params=params, name="retrieve speech")


def train(epochs: int | None = None, seed: int = 0, digit_steps: int = 600, scenes: int = 5000,
          scene_batch: int = 256, speech_epochs: int = 20) -> Trained:
    from .evaluate import evaluate
    from .model import Retriever
    epochs = epochs or 12
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    nets = frozen_nets()
    feats = digit_train_features(nets, seed)
    sc = scene_features(nets, "train", scenes, seed)
    spoken = spoken_vectors(nets.classify.encoders["audio"], [str(c) for c in sc["captions"]], "train", seed)
    t_feat = time.perf_counter() - t0
    print(f"retrieve: frozen features ready in {t_feat:.0f} s", flush=True)
    net = RetrieveNet()
    config = {"task": "retrieve", "architecture": {"dim": 64, "scene_dim": 64, "scene_layers": 1, "speech_layers": 2},
              "training": {"seed": seed, "digit_steps": digit_steps, "scene_epochs": epochs, "scenes": scenes,
                           "scene_batch": scene_batch, "speech_epochs": speech_epochs,
                           "held_out_speaker": HELD_OUT_SPEAKER}}
    t1 = time.perf_counter()
    train_digit_heads(net, feats, "digits", None, digit_steps, seed=seed)
    train_digit_heads(net, feats, "digits_loso", HELD_OUT_SPEAKER, digit_steps, seed=seed)
    t_digits = time.perf_counter() - t1
    train_scene_towers(net, sc, epochs, scene_batch, seed)
    train_scene_speech(net, sc, spoken, speech_epochs, scene_batch, seed)
    t_train = time.perf_counter() - t1
    metrics = evaluate(Retriever(net.eval(), config, "digits-scenes"))
    config["metrics"] = metrics
    config["training"]["seconds"] = {"features": round(t_feat), "digit_heads": round(t_digits),
                                     "heads_total": round(t_train), "total": round(time.perf_counter() - t0)}
    config["training"]["machine"] = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    from .card import model_card
    return Trained(net, config, model_card(config))
