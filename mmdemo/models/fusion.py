"""Fusion building blocks shared by every task.

AttentionPool — additive (Bahdanau) attention over a set of vectors, optionally guided by a
query: pools word pieces into a sentence vector, or image regions into the region the
question is about. Its softmax weights are the attention maps the app shows.

GatedFusion — a small gating network looks at every modality's evidence and gives each a
weight (softmax, sums to 1, per sample); the fused vector is the weighted sum. Those weights
are the fusion weights the app shows. Missing modalities get weight 0.
"""
from __future__ import annotations

import torch
from torch import nn


class AttentionPool(nn.Module):
    def __init__(self, dim: int, query_dim: int = 0, hidden: int = 128):
        super().__init__()
        self.key = nn.Linear(dim, hidden)
        self.query = nn.Linear(query_dim, hidden, bias=False) if query_dim else None
        self.score = nn.Linear(hidden, 1, bias=False)

    def forward(self, x, mask=None, query=None, index=None):
        """x (B, N, D), mask (B, N) bool of valid items, query (B', Q) -> pooled (B', D), weights (B', N).

        index (B',) lets many queries share one set (row index[i] of x): the keys are computed
        once per set, not once per query. Without it B' = B."""
        h = self.key(x)
        if index is not None:
            x, h = x[index], h[index]
            mask = None if mask is None else mask[index]
        if self.query is not None:
            h = h + self.query(query).unsqueeze(1)
        logits = self.score(torch.tanh(h)).squeeze(-1)
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
            logits = logits.masked_fill(~mask.any(1, keepdim=True), 0.0)   # nothing valid: uniform, no NaN
        weights = logits.softmax(-1)
        return torch.einsum("bn,bnd->bd", weights, x), weights


class GatedFusion(nn.Module):
    def __init__(self, dim: int, n_modalities: int, hidden: int = 128):
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(dim * n_modalities, hidden), nn.ReLU(), nn.Linear(hidden, n_modalities))

    def forward(self, feats: list[torch.Tensor], present: torch.Tensor | None = None):
        """feats: M tensors (B, D); present (B, M) bool -> fused (B, D), weights (B, M)."""
        logits = self.gate(torch.cat(feats, -1))
        if present is not None:
            logits = logits.masked_fill(~present, float("-inf"))
        weights = logits.softmax(-1)
        return torch.einsum("bm,bmd->bd", weights, torch.stack(feats, 1)), weights


# ---- the fusion family of the tri-modal classifier (mmdemo/models/classify.py). Each takes per-modality
# vectors feats (B, M, D) and present (B, M) bool, and returns (logits, weights (B, M) or None).

class EarlyFusion(nn.Module):
    """Concatenation (missing modalities zeroed, plus the presence flags) -> MLP -> logits. It has no
    weights of its own: the classifier reports a gradient x input contribution per modality."""

    def __init__(self, dim: int, n_modalities: int, n_classes: int, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim * n_modalities + n_modalities, hidden), nn.ReLU(),
                                 nn.Dropout(0.1), nn.Linear(hidden, n_classes))

    def forward(self, feats, present, unimodal_logits=None):
        x = (feats * present.unsqueeze(-1)).flatten(1)
        return self.mlp(torch.cat([x, present.float()], -1)), None


class LateFusion(nn.Module):
    """Weighted sum of the per-modality logits with a learned alpha (softmax over the modalities
    present; MMF fixes alpha = 0.5, here it is trained)."""

    def __init__(self, n_modalities: int):
        super().__init__()
        self.alpha_logits = nn.Parameter(torch.zeros(n_modalities))

    def forward(self, feats, present, unimodal_logits=None):
        """unimodal_logits (B, M, C): each modality's own head."""
        alpha = self.alpha_logits.expand(present.shape).masked_fill(~present, float("-inf")).softmax(-1)
        return torch.einsum("bm,bmc->bc", alpha, unimodal_logits), alpha


class GatedClassifier(nn.Module):
    """GatedFusion (per-sample modality weights from a small gating network) -> linear head."""

    def __init__(self, dim: int, n_modalities: int, n_classes: int):
        super().__init__()
        self.fusion = GatedFusion(dim, n_modalities)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, n_classes))

    def forward(self, feats, present, unimodal_logits=None):
        fused, weights = self.fusion(list((feats * present.unsqueeze(-1)).unbind(1)), present)
        return self.head(fused), weights


class CrossModalAttentionFusion(nn.Module):
    """A small Transformer over modality tokens: one self-attention layer lets the modalities read
    each other, then a learned [CLS] query attends over them; its attention (mean over heads) is the
    fusion weight of each modality. Missing modalities are masked out of both."""

    def __init__(self, dim: int, n_modalities: int, n_classes: int, heads: int = 4):
        super().__init__()
        self.modality = nn.Parameter(torch.randn(n_modalities, dim) * 0.02)
        self.layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.1, batch_first=True)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.readout = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, n_classes))

    def forward(self, feats, present, unimodal_logits=None):
        tokens = self.layer(feats + self.modality, src_key_padding_mask=~present)
        fused, weights = self.readout(self.cls.expand(len(feats), -1, -1), tokens, tokens,
                                      key_padding_mask=~present, need_weights=True, average_attn_weights=True)
        return self.head(fused[:, 0]), weights[:, 0]
