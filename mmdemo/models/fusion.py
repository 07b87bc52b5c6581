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
