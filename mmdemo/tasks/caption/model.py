"""Captioning: CNN region grid -> LSTM decoder with adaptive attention (Show, Attend and Tell, Xu et
al. 2015, with the visual sentinel of Lu et al. 2017 "Knowing When to Look").

At every word the LSTM state scores the 12x12 image regions and a "visual sentinel" (what the
language model already knows); one softmax over regions + sentinel gives the attention. The
sentinel's share beta is the word's fusion weight (language vs image context); the regions' own
softmax is the word's heatmap. The attended context is fed into the LSTM input at the next step
(so the decoder remembers what it has already named) and into the word output."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ... import checkpoint, paths
from ...datasets.scenes import CANVAS, MAX_WORDS, NOUNS, OBJECT_COLORS, VOCAB, decode
from ...errors import MMDemoError
from ...inputs import load_square
from ...nn.image import ConvGridEncoder, grid_centres, with_coordinates
from ...prediction import Prediction
from ...registry import register

START, END = VOCAB.index("<start>"), VOCAB.index("<end>")


class CaptionNet(nn.Module):
    def __init__(self, vocab_size: int = len(VOCAB), widths=(16, 32, 64), dim: int = 256, embed: int = 64,
                 attention_dim: int = 64, grid: int = CANVAS // 8):
        super().__init__()
        # where things are, which the relation words ("above", "left of") need: the CNN also sees two
        # channels holding each pixel's x and y (CoordConv), and each region gets a learned position
        # embedding plus a linear code of its centre (x, y), so an attended context holds the
        # attended object's centroid linearly and two contexts can be compared
        self.image = ConvGridEncoder(3 + 2, widths)                # 96x96 (+ x, y) -> 12x12 regions
        self.region_proj = nn.Linear(widths[-1], dim)
        self.position = nn.Parameter(torch.randn(grid * grid, dim) * 0.02)
        self.register_buffer("centres", grid_centres(grid), persistent=False)
        self.position_xy = nn.Linear(2, dim, bias=False)
        self.embed = nn.Embedding(vocab_size, embed)
        self.init_h, self.init_c = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.lstm = nn.LSTMCell(embed + dim, dim)                  # input: previous word + previous image context
        self.sentinel_x, self.sentinel_h = nn.Linear(embed + dim, dim), nn.Linear(dim, dim, bias=False)
        self.att_region, self.att_sentinel = nn.Linear(dim, attention_dim), nn.Linear(dim, attention_dim)
        self.att_hidden = nn.Linear(dim, attention_dim, bias=False)
        self.att_score = nn.Linear(attention_dim, 1, bias=False)
        # word output: (mixed context + LSTM state) and the previous step's image context (for a
        # relation word: the object just named, while the attention is on the next one)
        self.out = nn.Sequential(nn.Linear(2 * dim, dim), nn.Tanh(), nn.Linear(dim, vocab_size))
        # training aid (multi-task): name each object's noun and colour from the mean region feature
        # of its box; it teaches the CNN digits and shapes fast. Captions never read it.
        self.object_head = nn.Linear(dim, len(NOUNS) + len(OBJECT_COLORS))

    def encode(self, images):
        """images (B, 3, 96, 96) in 0..1 -> regions (B, 144, dim), their attention keys, decoder state."""
        regions, _ = self.image(with_coordinates(images))
        v = self.region_proj(regions) + self.position + self.position_xy(self.centres)
        mean = v.mean(1)
        state = (torch.tanh(self.init_h(mean)), torch.tanh(self.init_c(mean)), torch.zeros_like(mean))
        return v, self.att_region(v), state

    def step(self, v, keys, word, state):
        """One word: previous word ids (B,) -> logits (B, vocab), region map (B, 144), beta (B,), state.
        The state carries the image context forward (regions only, renormalised: not mixed with the
        sentinel), so where the last object was is kept even when beta is high."""
        h_prev, c_prev, image_context_prev = state
        x = torch.cat([self.embed(word), image_context_prev], -1)
        h, c = self.lstm(x, (h_prev, c_prev))
        sentinel = torch.sigmoid(self.sentinel_x(x) + self.sentinel_h(h_prev)) * torch.tanh(c)
        q = self.att_hidden(h)
        z_regions = self.att_score(torch.tanh(keys + q.unsqueeze(1))).squeeze(-1)
        z_sentinel = self.att_score(torch.tanh(self.att_sentinel(sentinel) + q))
        alpha = torch.cat([z_regions, z_sentinel], 1).softmax(-1)     # regions + sentinel, sums to 1
        beta = alpha[:, -1:]
        region_map = z_regions.softmax(-1)                              # = alpha[:-1] / (1 - beta)
        image_context = torch.einsum("bn,bnd->bd", region_map, v)
        context = (1 - beta) * image_context + beta * sentinel          # Lu et al.'s c-hat
        logits = self.out(torch.cat([context + h, image_context_prev], -1))
        return logits, region_map, beta[:, 0], (h, c, image_context)

    def forward(self, images, tokens, object_cells=None):
        """Teacher forcing. tokens (B, T) = <start> words <end> <pad>.. -> logits (B, T-1, V),
        region maps (B, T-1, 144), betas (B, T-1): the step t outputs predict tokens[:, t + 1].
        object_cells (B, K, 144) 0/1 (training only): also the object head's logits (B, K, classes)."""
        v, keys, state = self.encode(images)
        objects = None
        if object_cells is not None:
            pooled = torch.einsum("bkn,bnd->bkd", object_cells, v) / object_cells.sum(-1, keepdim=True).clamp(min=1)
            objects = self.object_head(pooled)
        steps = int((tokens != 0).sum(1).max()) - 1
        logits, maps, betas = [], [], []
        for t in range(steps):
            lg, m, b, state = self.step(v, keys, tokens[:, t], state)
            logits.append(lg), maps.append(m), betas.append(b)
        return torch.stack(logits, 1), torch.stack(maps, 1), torch.stack(betas, 1), objects

    @torch.no_grad()
    def greedy(self, images, max_words: int = MAX_WORDS):
        """Batched greedy decoding -> tokens (B, L) (END-terminated), maps (B, L, 144), betas (B, L),
        log-probabilities of each chosen token (B, L)."""
        v, keys, state = self.encode(images)
        word = torch.full((len(images),), START, dtype=torch.long)
        done = torch.zeros(len(images), dtype=torch.bool)
        tokens, maps, betas, logp = [], [], [], []
        for _ in range(max_words + 1):
            lg, m, b, state = self.step(v, keys, word, state)
            lp = lg.log_softmax(-1)
            word = lp.argmax(-1).masked_fill(done, END)
            tokens.append(word), maps.append(m), betas.append(b), logp.append(lp.gather(1, word[:, None])[:, 0])
            done |= word == END
            if done.all():
                break
        return torch.stack(tokens, 1), torch.stack(maps, 1), torch.stack(betas, 1), torch.stack(logp, 1)

    @torch.no_grad()
    def beam(self, image, width: int = 3, max_words: int = MAX_WORDS):
        """Beam search on one image (1, 3, H, W) -> up to `width` finished beams, best first, each
        (log-probability, tokens, maps, betas)."""
        v, keys, state = self.encode(image)
        beams = [(0.0, [START], [], [])]
        finished = []
        for _ in range(max_words + 1):
            n = len(beams)
            idx = torch.zeros(n, dtype=torch.long)
            lg, m, b, new_state = self.step(v[idx], keys[idx], torch.tensor([bm[1][-1] for bm in beams]), state)
            lp = lg.log_softmax(-1) + torch.tensor([bm[0] for bm in beams])[:, None]
            top = lp.flatten().topk(min(width, lp.numel()))
            candidates = []
            for score, flat in zip(top.values.tolist(), top.indices.tolist()):
                i, w = divmod(flat, lp.shape[1])
                item = (score, beams[i][1] + [w], beams[i][2] + [m[i]], beams[i][3] + [float(b[i])], i)
                (finished if w == END else candidates).append(item)
            if not candidates or len(finished) >= width:
                break
            beams = [c[:4] for c in candidates]
            keep = torch.tensor([c[4] for c in candidates])
            state = tuple(s[keep] for s in new_state)
        finished = sorted(finished or [c[:4] for c in candidates], key=lambda f: -f[0])[:width]
        return [(f[0], f[1][1:], torch.stack(f[2]), f[3]) for f in finished]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x H x W float in 0..1."""
    return torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0


@dataclass
class CaptionExtras:
    word_fusion: list[float]      # per word: beta, the language sentinel's share (image = 1 - beta)
    beam: int                     # beam width used (1 = greedy)


class CaptionModel:
    """A ready captioner: `predict(image=..., beam=1)` -> Prediction."""
    task = "caption"

    def __init__(self, net: CaptionNet, name: str, config: dict | None = None):
        self.net, self.name, self.config = net.eval(), name, config or {}
        self.grid = CANVAS // 8

    @classmethod
    def from_checkpoint(cls, folder, name: str):
        config = checkpoint.read_config(folder)
        if config.get("vocab") != VOCAB:
            raise MMDemoError(f"The checkpoint {folder} was trained with another vocabulary; retrain it.")
        net = checkpoint.load_weights(folder, CaptionNet(**config["architecture"]))
        return cls(net, name, config)

    @staticmethod
    def prepare_image(image) -> np.ndarray:
        return load_square(image, CANVAS)

    def predict(self, image=None, text=None, audio=None, beam: int = 1) -> Prediction:
        x = to_tensor(self.prepare_image(image)[None])
        beam = max(1, min(int(beam), 10))     # beam width 1 = greedy; wider than 10 buys nothing here
        if beam > 1:
            beams = self.net.beam(x, width=int(beam))
            logp, tokens, maps, betas = beams[0]
            scores = {" ".join(words_of(b[1])): float(np.exp(b[0])) for b in beams}
        else:
            tokens, maps, betas, logps = (t[0] for t in self.net.greedy(x))
            tokens, betas = tokens.tolist(), betas.tolist()
            length = tokens.index(END) + 1 if END in tokens else len(tokens)
            logp = float(logps[:length].sum())
            scores = {" ".join(words_of(tokens)): float(np.exp(logp))}
        words = words_of(tokens)
        n = len(words)
        heat = maps[:n].reshape(n, self.grid, self.grid).numpy().astype(np.float32)
        beta = [float(b) for b in betas[:n]]
        language = float(np.mean(beta)) if beta else 0.0
        return Prediction(
            task=self.task, model=self.name, output=" ".join(words), scores=scores,
            fusion_weights={"image": 1.0 - language, "language": language},
            attention={"words": heat}, tokens={"words": words},
            extras=CaptionExtras(word_fusion=beta, beam=int(beam)),
            notes={
                "words": "Per word: the decoder's own softmax over the 12x12 grid of image regions when it "
                         "wrote that word (training gently pulled object words' maps onto their objects; "
                         "at inference no box exists).",
                "fusion": "Adaptive attention (visual sentinel, Lu et al. 2017): per word, the share beta of "
                          "the attention given to the language model's sentinel instead of the image "
                          "regions; image = 1 - beta. Shown: the mean over words, and per word.",
                "scores": "Probability of the whole caption (product of the chosen words' softmax "
                          "probabilities)" + (f"; top {beam} beams" if beam > 1 else ", greedy decoding") + ".",
            })


def words_of(tokens) -> list[str]:
    return decode(tokens)


@register("caption", "scenes-adaptive-attention", default=True)
def scenes_adaptive_attention():
    """Built-in, offline: trained here on composed easy-VQA/MNIST scenes (checkpoints/caption)."""
    return CaptionModel.from_checkpoint(paths.checkpoints("caption"), "scenes-adaptive-attention")
