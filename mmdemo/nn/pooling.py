"""Pooling a set of vectors into one.

AttentionPool — additive (Bahdanau) attention over a set of vectors, optionally guided by a
query: pools word pieces into a sentence vector, image regions into the region a question is
about, audio steps into a clip vector. Its softmax weights are the attention maps the app shows.
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

    def forward(self, x, mask=None, query=None, index=None, bias=None):
        """x (B, N, D), mask (B, N) bool of valid items, query (B', Q) -> pooled (B', D), weights (B', N).

        index (B',) lets many queries share one set (row index[i] of x): the keys are computed
        once per set, not once per query. Without it B' = B. bias (B', N), optional, is added to the
        logits (e.g. a relative-position score)."""
        h = self.key(x)
        if index is not None:
            x, h = x[index], h[index]
            mask = None if mask is None else mask[index]
        if self.query is not None:
            h = h + self.query(query).unsqueeze(1)
        logits = self.score(torch.tanh(h)).squeeze(-1)
        if bias is not None:
            logits = logits + bias
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf"))
            logits = logits.masked_fill(~mask.any(1, keepdim=True), 0.0)   # nothing valid: uniform, no NaN
        weights = logits.softmax(-1)
        return torch.einsum("bn,bnd->bd", weights, x), weights
