"""Recall@k of cross-modal search, and zero-shot digit labels from text prototypes.

    python -m mmdemo.evaluate retrieve [--limit N] [--json]

Digits (a hit = the retrieved item shows the query's digit): gallery of the first 1,000 MNIST test
images; queries: 2,000 digit phrasings never used in training (seed 1), the 250 FSDD official test clips,
and the clips of HELD_OUT_SPEAKER (its 50 test clips, and all 500) searched with the heads trained
without that speaker; image -> text (1,000 phrasings) and image -> speech (250 test clips).
Scenes (a hit = the retrieved item has exactly the query's caption; captions are unique except for
some single-object images): the first 1,000 test scenes (seed 1, unseen) and 1,000 scenes that each
hold a colour-noun pair never seen in training, caption <-> image; the test captions also spoken by
synthetic voices never heard in training (spoken.py), spoken caption <-> image.
Zero-shot: every MNIST test image labelled by its nearest digit text prototype, next to the classifier's
own image head on the same images.
"""
from __future__ import annotations

import time

import numpy as np
import torch

KS = (1, 5, 10)


def recall(queries: torch.Tensor, gallery: torch.Tensor, q_labels, g_labels) -> dict:
    """Recall@k: the share of queries with an item of their label among the top k of the gallery."""
    top = (queries @ gallery.T).topk(max(KS), dim=1).indices.numpy()
    hit = np.asarray(g_labels)[top] == np.asarray(q_labels)[:, None]
    return {f"R@{k}": round(float(hit[:, :k].any(1).mean()), 4) for k in KS} | {"queries": len(queries),
                                                                              "gallery": len(gallery)}


@torch.no_grad()
def digit_metrics(model, limit: int | None) -> dict:
    from ...datasets.fsdd import fsdd_clips
    from ..classify.data import digit_texts
    from .data import HELD_OUT_SPEAKER, TEXT_TEST_SEED, digit_images, encode_digits
    n = 1000 if limit is None else min(limit, 1000)
    images, y_img = digit_images("test", n)
    texts, y_txt = digit_texts(2 * n, seed=TEXT_TEST_SEED)
    g_texts, g_y_txt = digit_texts(n, seed=TEXT_TEST_SEED)
    waves, y_aud, _ = fsdd_clips(split="test")
    h_waves, h_y, _ = fsdd_clips([HELD_OUT_SPEAKER])
    t_waves, t_y, _ = fsdd_clips([HELD_OUT_SPEAKER], "test")
    sets = {"img": ("image", images), "txt": ("text", texts), "gtxt": ("text", g_texts), "aud": ("audio", waves),
            "held": ("audio", h_waves), "held_test": ("audio", t_waves)}
    feats = {k: (m, torch.from_numpy(encode_digits(model.frozen, m, x if m == "image" else list(x))))
             for k, (m, x) in sets.items()}

    def e(key, heads="digits"):
        return model.net.embed_digits(feats[key][0], feats[key][1], heads)
    out = {"text_to_image": recall(e("txt"), e("img"), y_txt, y_img),
           "speech_to_image": recall(e("aud"), e("img"), y_aud, y_img),
           "image_to_text": recall(e("img"), e("gtxt"), y_img, g_y_txt),
           "image_to_speech": recall(e("img"), e("aud"), y_img, y_aud)}
    for heads, key in (("digits_loso", "unseen_speaker"), ("digits", "speaker_seen_by_heads")):
        g = e("img", heads)
        out[key] = {"speaker": HELD_OUT_SPEAKER, "heads": heads,
                    "test_clips_to_image": recall(e("held_test", heads), g, t_y, y_img),
                    "all_clips_to_image": recall(e("held", heads), g, h_y, y_img)}
    return out


@torch.no_grad()
def zero_shot(model, limit: int | None) -> dict:
    """Nearest text prototype vs the classifier's own image head, on the MNIST test split."""
    from .data import digit_images, encode_digits
    images, labels = digit_images("test", limit)
    feats = torch.from_numpy(encode_digits(model.frozen, "image", images))
    zs = (model.net.embed_digits("image", feats) @ model.prototypes().T).argmax(1).numpy()
    head = model.frozen.classify.heads["image"](feats).argmax(1).numpy()
    return {"images": len(images), "zero_shot_accuracy": round(float((zs == labels).mean()), 4),
            "classifier_head_accuracy": round(float((head == labels).mean()), 4)}


def scene_metrics(model, limit: int | None) -> dict:
    from .data import SCENE_SEED, caption_states, scene_features
    out = {}
    for split, n, first in (("test", 2000, 1000), ("heldout", 1000, None)):
        sc = scene_features(model.frozen, split, n, SCENE_SEED, first)
        k = len(sc["captions"]) if limit is None else min(limit, len(sc["captions"]))
        captions = [str(c) for c in sc["captions"][:k]]
        with torch.no_grad():
            img = model.net.embed_scenes("image", torch.from_numpy(sc["regions"][:k]).float())
            states, mask, _ = caption_states(captions)
            txt = model.net.embed_scenes("text", torch.from_numpy(states), torch.from_numpy(mask))
        out[split] = {"caption_to_image": recall(txt, img, captions, captions),
                      "image_to_caption": recall(img, txt, captions, captions),
                      "unique_captions": len(set(captions))}
        if split == "test":
            out[split] |= spoken_metrics(model, captions, img)
    return out


@torch.no_grad()
def spoken_metrics(model, captions: list[str], img: torch.Tensor) -> dict:
    """The test captions read by synthetic voices the speech tower never heard (spoken.py)."""
    from ...nn.audio import pad_vectors
    from .data import SCENE_SEED
    from .spoken import spoken_vectors
    vectors = spoken_vectors(model.frozen.classify.encoders["audio"], captions, "test", SCENE_SEED)
    speech = model.net.embed_scenes("audio", *pad_vectors([torch.from_numpy(v) for v in vectors]))
    return {"spoken_caption_to_image": recall(speech, img, captions, captions),
            "image_to_spoken_caption": recall(img, speech, captions, captions)}


def evaluate(model, limit: int | None = None) -> dict:
    t0 = time.perf_counter()
    out = {"task": "retrieve", "model": model.name, "digits": digit_metrics(model, limit),
           "zero_shot": zero_shot(model, limit), "scenes": scene_metrics(model, limit)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def report(m: dict) -> str:
    d, s, z = m["digits"], m["scenes"], m["zero_shot"]
    rows = [("digits text -> image", d["text_to_image"]), ("digits speech -> image", d["speech_to_image"]),
            (f"digits unseen speaker ({d['unseen_speaker']['speaker']}, test clips) -> image",
             d["unseen_speaker"]["test_clips_to_image"]),
            ("digits image -> text", d["image_to_text"]), ("digits image -> speech", d["image_to_speech"]),
            ("scenes caption -> image", s["test"]["caption_to_image"]),
            ("scenes image -> caption", s["test"]["image_to_caption"]),
            ("scenes spoken caption (unheard voices) -> image", s["test"]["spoken_caption_to_image"]),
            ("scenes image -> spoken caption", s["test"]["image_to_spoken_caption"]),
            ("held-out pairs caption -> image", s["heldout"]["caption_to_image"]),
            ("held-out pairs image -> caption", s["heldout"]["image_to_caption"])]
    lines = ["| search | R@1 | R@5 | R@10 | queries / gallery |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['R@1']} | {r['R@5']} | {r['R@10']} | {r['queries']} / {r['gallery']} |" for name, r in rows]
    lines.append(f"zero-shot digit labels {z['zero_shot_accuracy']} vs the classifier's image head "
                 f"{z['classifier_head_accuracy']} ({z['images']} MNIST test images)")
    return "\n".join(lines)
