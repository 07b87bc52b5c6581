"""Fusion: how modalities meet. Every block here reports how much it relied on each modality.

GatedFusion — a small gating network looks at every modality's evidence and gives each a weight
(softmax, sums to 1, per sample); the fused vector is the weighted sum. Those weights are the fusion
weights the app shows. Missing modalities get weight 0.

The fusion family of a classifier (tasks/classify): each variant takes per-modality vectors
feats (B, M, D), present (B, M) bool and the unimodal logits (B, M, C), and returns
(logits (B, C), weights (B, M) or None). A new variant is one class with @fusion_variant("name")
and its NOTE (how its weights are computed, shown in the app); FusionVariant builds any of them.
"""
from __future__ import annotations

import torch
from torch import nn

FUSIONS: dict[str, type[nn.Module]] = {}     # name -> class, in registration order (the family's order)


def fusion_variant(name: str):
    """Class decorator: add a fusion variant to the family under `name`."""
    def wrap(cls):
        FUSIONS[name] = cls
        return cls
    return wrap


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


@fusion_variant("gated")
class GatedClassifier(nn.Module):
    """GatedFusion (per-sample modality weights from a small gating network) -> linear head."""
    NOTE = ("Gated fusion: the gating network's own softmax weights for this request; the fused vector "
            "is the weighted sum of the modality vectors.")

    def __init__(self, dim: int, n_modalities: int, n_classes: int):
        super().__init__()
        self.fusion = GatedFusion(dim, n_modalities)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, n_classes))

    def forward(self, feats, present, unimodal_logits=None):
        fused, weights = self.fusion(list((feats * present.unsqueeze(-1)).unbind(1)), present)
        return self.head(fused), weights


@fusion_variant("early")
class EarlyFusion(nn.Module):
    """Concatenation (missing modalities zeroed, plus the presence flags) -> MLP -> logits. It has no
    weights of its own: the classifier reports a gradient x input contribution per modality."""
    NOTE = ("Early fusion (concatenation) has no weights of its own: these are gradient x input "
            "contributions of each modality's vector to the predicted class's logit (normalised to sum to 1).")

    def __init__(self, dim: int, n_modalities: int, n_classes: int, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim * n_modalities + n_modalities, hidden), nn.ReLU(),
                                 nn.Dropout(0.1), nn.Linear(hidden, n_classes))

    def forward(self, feats, present, unimodal_logits=None):
        x = (feats * present.unsqueeze(-1)).flatten(1)
        return self.mlp(torch.cat([x, present.float()], -1)), None


@fusion_variant("late")
class LateFusion(nn.Module):
    """Weighted sum of the per-modality logits with a learned alpha (softmax over the modalities
    present; MMF fixes alpha = 0.5, here it is trained)."""
    NOTE = ("Late fusion: the learned alpha of each modality (softmax over the modalities given); the "
            "prediction is the alpha-weighted sum of the unimodal heads' logits. Alpha is the same for every request.")

    def __init__(self, dim: int, n_modalities: int, n_classes: int):
        super().__init__()
        self.alpha_logits = nn.Parameter(torch.zeros(n_modalities))

    def forward(self, feats, present, unimodal_logits=None):
        """unimodal_logits (B, M, C): each modality's own head."""
        alpha = self.alpha_logits.expand(present.shape).masked_fill(~present, float("-inf")).softmax(-1)
        return torch.einsum("bm,bmc->bc", alpha, unimodal_logits), alpha


@fusion_variant("xattn")
class CrossModalAttentionFusion(nn.Module):
    """A small Transformer over modality tokens: one self-attention layer lets the modalities read
    each other, then a learned [CLS] query attends over them; its attention (mean over heads) is the
    fusion weight of each modality. Missing modalities are masked out of both."""
    NOTE = ("Cross-modal attention: the attention of the Transformer's [CLS] query over the modality "
            "tokens (softmax, mean over 4 heads) for this request.")

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


class FusionVariant(nn.Module):
    """One member of the family on top of frozen encoders: per-modality projection, auxiliary
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
