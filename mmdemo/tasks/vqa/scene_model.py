"""Scene VQA: multi-hop question-guided attention over the region grid of a composed scene
(stacked attention, Yang et al. 2016, with a per-hop reading of the question as in MAC, Hudson &
Manning 2018), a frozen MiniLM question, and the gate between image and question evidence.

Each hop k: (1) attention over the question's word pieces, guided by the memory -> what this hop
looks for (control c_k; its softmax = the hop's word weights); (2) how well each region fits c_k (a
multiplicative score; from hop 2 on plus a bias from each region's offset to where hop k-1 looked, so
"left of the triangle" is a function of position); (3) attention over the 12x12 regions, guided by
[c_k, memory], its logits plus log sigmoid(fit) (fit_guided) -> the attended region v_k (its softmax = the
hop's map); (4) a soft count: sum over cells of sigmoid(fit) x a question-free "an object's centre is
here" mark (CentreHead), so it counts objects; (5) memory += MLP([v_k, c_k, count]). The image evidence
is the final memory plus the hops' counts and, for comparisons, whether the comparison the question
asks holds for hop 1's count vs hop 2's (compare_readout)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ... import paths
from ...datasets.scenes import CANVAS, build
from ...errors import MMDemoError
from ...nn.fusion import GatedFusion
from ...nn.image import ConvGridEncoder, grid_centres, with_coordinates
from ...nn.pooling import AttentionPool
from ...nn.text import merge_word_pieces
from ...prediction import Prediction
from ...registry import register
from .model import VQAModel

NAME = "scenes-multihop"


def soft_order(d):
    """Soft "more", "fewer" and "equal" of a count difference d (any shape): sigmoids around +-0.5."""
    return torch.sigmoid(4 * (d - 0.5)), torch.sigmoid(4 * (-d - 0.5)), torch.sigmoid(4 * (0.5 - d.abs()))


class Hop(nn.Module):
    """One reasoning step: read the question, look at the image, count, update the memory.

    relational (hops after the first): a relative-position bias. The previous hop's anchor (its map's
    weighted mean of the region centres) gives every region its offset (dx, dy) to the anchor; a small MLP
    embeds the offset and a projection of what the hop read scores it, added to the look's logits and to
    the count's (so "left of the triangle" is a direct function of position, not left to the additive
    score alone)."""

    def __init__(self, dim: int, relational: bool = False, rel_dim: int = 32, fit_guided: bool = False):
        super().__init__()
        self.fit_guided = fit_guided     # the look also gets log sigmoid(fit): attend where the regions fit
        self.read = AttentionPool(dim, query_dim=dim)            # word pieces, guided by the memory
        self.look = AttentionPool(dim, query_dim=2 * dim)        # regions, guided by [control, memory]
        self.count_key = nn.Linear(dim, dim)
        self.count_score = nn.Linear(dim, 1)
        self.update = nn.Sequential(nn.Linear(2 * dim + 1, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.relational = relational
        if relational:
            self.offset = nn.Sequential(nn.Linear(2, rel_dim), nn.ReLU(), nn.Linear(rel_dim, rel_dim))
            self.offset_look = nn.Linear(2 * dim, rel_dim)
            self.offset_count = nn.Linear(2 * dim, rel_dim)

    def forward(self, words, word_mask, regions, memory, index, centres=None, anchor=None, objectness=None):
        control, word_w = self.read(words, word_mask, query=memory)
        query = torch.cat([control, memory], -1)
        look_bias = count_bias = None
        if self.relational and anchor is not None:
            offsets = self.offset(4.0 * (centres.unsqueeze(0) - anchor.unsqueeze(1)))      # (B, cells, rel_dim)
            look_bias = torch.einsum("bnr,br->bn", offsets, self.offset_look(query))
            count_bias = torch.einsum("bnr,br->bn", offsets, self.offset_count(query))
        keys = self.count_key(regions)[index] if index is not None else self.count_key(regions)
        fit_logits = self.count_score(torch.relu(keys * control.unsqueeze(1))).squeeze(-1)
        fit_logits = fit_logits if count_bias is None else fit_logits + count_bias
        if self.fit_guided:
            fit_bias = nn.functional.logsigmoid(fit_logits)
            look_bias = fit_bias if look_bias is None else look_bias + fit_bias
        seen, region_w = self.look(regions, query=query, index=index, bias=look_bias)
        fits = torch.sigmoid(fit_logits)
        if objectness is not None:                 # "is an object's centre here" x "does it fit what I read"
            fits = fits * torch.sigmoid(objectness[index] if index is not None else objectness)
        count = fits.sum(1, keepdim=True) / 8.0
        memory = memory + self.update(torch.cat([seen, control, count], -1))
        return memory, word_w, region_w, fits


class CentreHead(nn.Module):
    """Regions (N, grid*grid, dim) -> (N, grid*grid) logits: does this cell hold an object's centre? Two 3x3
    convolutions over the grid: whether a cell is the centre depends on where the object ends, so each cell
    looks at its neighbours."""

    def __init__(self, dim: int, grid: int, hidden: int = 64):
        super().__init__()
        self.grid = grid
        self.net = nn.Sequential(nn.Conv2d(dim, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, 1, 3, padding=1))

    def forward(self, regions):
        n = len(regions)
        return self.net(regions.transpose(1, 2).reshape(n, -1, self.grid, self.grid)).reshape(n, -1)


class SceneVQANet(nn.Module):
    def __init__(self, n_answers: int, text_dim: int = 384, dim: int = 128, widths=(16, 32, 64),
                 hops: int = 2, n_nouns: int = 13, n_colors: int = 9, grid: int = CANVAS // 8,
                 relational: bool = False, count_evidence: bool = False, centre_counts: bool = False,
                 compare_readout: bool = False, fit_guided: bool = False):
        super().__init__()
        self.image = ConvGridEncoder(3 + 2, widths)               # 96x96 + x, y channels -> 12x12 regions
        self.region_proj = nn.Linear(widths[-1], dim)
        self.register_buffer("centres", grid_centres(grid), persistent=False)
        self.position = nn.Linear(2, dim)
        self.text_proj = nn.Linear(text_dim, dim)
        self.text_pool = AttentionPool(dim)                       # the whole question (start of the memory)
        self.hops = nn.ModuleList([Hop(dim, relational=relational and k > 0, fit_guided=fit_guided)
                                   for k in range(hops)])
        # count_evidence: each hop's soft count, and per pair of hops their difference and soft "more",
        # "fewer" indicators, go to the image evidence beside the memory (comparisons need two separate
        # counts; the memory holds them only mixed through the update MLPs)
        self.count_evidence = count_evidence
        n_count = hops + 3 * (hops * (hops - 1) // 2) if count_evidence else 0
        # compare_readout (2 hops): the question says which comparison it asks (more / fewer / same / none,
        # a softmax trained on the program's kind); times hop 1 vs hop 2's soft more / fewer / equal
        # indicators, that is whether the comparison asked holds - one more input of the image evidence
        self.compare_type = nn.Linear(dim, 4) if compare_readout else None
        n_count += 4 if compare_readout else 0
        self.image_evidence = nn.Sequential(nn.Linear(dim + n_count, dim), nn.ReLU())
        # centre_counts: a question-free head marks the cells that hold an object's centre; each hop's
        # count fires only there (times how well the cell fits what the hop read), so a count is a sum of
        # objects, not of the cells a large object covers
        self.centre = CentreHead(dim, grid) if centre_counts else None
        self.question_evidence = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.fusion = GatedFusion(dim, 2)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, n_answers))
        # training aid (multi-task): name each object's noun and colour from its box's mean region feature
        self.object_head = nn.Linear(dim, n_nouns + n_colors)

    def cnn_grid(self, images):
        """images (N, 3, 96, 96) in 0..1 -> the CNN's region grid (N, 144, widths[-1])."""
        return self.image(with_coordinates(images))[0]

    def regions(self, images=None, grid=None):
        grid = self.cnn_grid(images) if grid is None else grid
        return self.region_proj(grid) + self.position(self.centres)

    def forward(self, images, q_states, q_mask, image_index=None, object_cells=None, grid=None):
        """images (N, 3, 96, 96) in 0..1; q_states (B, L, 384), q_mask (B, L); image_index (B,) picks each
        question's image. object_cells (N, K, 144) 0/1 (training only) adds the object head's logits.
        grid: the CNN grid of the images, precomputed (training with a frozen CNN); images are then unused."""
        regions = self.regions(images, grid)
        words = self.text_proj(q_states)
        q, _ = self.text_pool(words, q_mask)
        objectness = self.centre(regions) if self.centre is not None else None
        memory, word_maps, region_maps, fits, anchor = q, [], [], [], None
        for hop in self.hops:
            memory, word_w, region_w, fit = hop(words, q_mask, regions, memory, image_index, self.centres, anchor,
                                                objectness)
            word_maps.append(word_w), region_maps.append(region_w), fits.append(fit)
            anchor = region_w @ self.centres                     # (B, 2): where this hop looked
        image_in, counts = memory, [f.sum(1, keepdim=True) for f in fits]
        if self.count_evidence:
            diffs = [counts[i] - counts[j] for i in range(len(counts)) for j in range(i + 1, len(counts))]
            orders = [soft_order(d) for d in diffs]
            more = [o[0] for o in orders] + [o[1] for o in orders]
            image_in = torch.cat([memory, *(c / 4 for c in counts), *(d / 4 for d in diffs), *more], -1)
        compare_logits = None
        if self.compare_type is not None:
            holds = torch.cat(soft_order(counts[0] - counts[1]), -1)          # (B, 3): more, fewer, equal
            compare_logits = self.compare_type(q)
            holds = compare_logits.softmax(-1)[:, :3] * holds
            image_in = torch.cat([image_in, holds, holds.sum(-1, keepdim=True)], -1)
        evidence = [self.image_evidence(image_in), self.question_evidence(q)]
        fused, fusion_w = self.fusion(evidence)
        out = {"logits": self.head(fused), "fusion_weights": fusion_w, "evidence": evidence,
               # the head on each evidence alone: a training loss only (not computed at inference)
               "branch_logits": [self.head(e) for e in evidence] if self.training else [],
               "region_maps": torch.stack(region_maps, 1), "word_maps": torch.stack(word_maps, 1),
               "fits": torch.stack(fits, 1), "objectness": objectness, "compare_logits": compare_logits}
        if object_cells is not None:
            pooled = torch.einsum("bkn,bnd->bkd", object_cells, regions) / object_cells.sum(-1, keepdim=True).clamp(min=1)
            out["object_logits"] = self.object_head(pooled)
        return out


@dataclass
class SceneVQAExtras:
    hop_words: list[list[float]]     # per hop: the weight of each word (tokens["text"])
    hop_top_words: list[str]         # per hop: its most weighted word


class SceneVQAModel(VQAModel):
    """A ready scene VQA model: `predict(image=..., text=...)` -> Prediction with one map per hop.
    Loading, image preparation, predict / predict_batch and the batched run() are VQAModel's."""
    net_class, image_size = SceneVQANet, CANVAS
    reference_name = "unseen test scene"

    @property
    def explained_maps(self) -> dict:
        """Every hop's region map and word weights (Prediction.attention keys)."""
        hops = range(1, len(self.net.hops) + 1)
        return {**{f"image (hop {k})": f"hop{k}" for k in hops}, **{f"words (hop {k})": f"hop{k} text" for k in hops}}

    def reference_pairs(self, n: int, seed: int = 7) -> tuple[np.ndarray, list[str]]:
        """EMAP's reference batch: n unseen test scenes (test pieces), one generated question each (the generator
        finds none for a few scenes, so it is asked about twice as many and the first n answered are kept)."""
        from .scene_questions import questions_for
        scenes = build("test", 2 * n, seed, cache=False)
        pairs = questions_for(scenes, 1, seed=seed)[:n]
        if len(pairs) < n:
            raise MMDemoError(f"Only {len(pairs)} reference questions for {n} were generated (seed {seed}).")
        return scenes["images"][[row for row, _ in pairs]], [q.text for _, q in pairs]

    def prediction(self, out: dict, row: int, top_k: int) -> Prediction:
        """Row `row` of run()'s batched output -> that request's Prediction, one map per hop (VQAModel's
        predict and predict_batch call this, so concurrent requests share a forward pass here too)."""
        probs = out["probs"][row]
        top = probs.topk(min(top_k, len(self.answers)))
        grid = round(out["region_maps"].shape[-1] ** 0.5)
        maps = out["region_maps"][row].reshape(-1, grid, grid).numpy()
        hop_words = [merge_word_pieces(out["pieces"][row], w[out["mask"][row]].numpy()) for w in out["word_maps"][row]]
        words = hop_words[0][0]
        attention = {"image": maps[-1], "text": hop_words[-1][1],
                     **{f"hop{k + 1}": m for k, m in enumerate(maps)},
                     **{f"hop{k + 1} text": w for k, (_, w) in enumerate(hop_words)}}
        return Prediction(
            task=self.task, model=self.name, output=self.answers[int(probs.argmax())],
            scores={self.answers[int(i)]: float(p) for p, i in zip(top.values, top.indices)},
            fusion_weights={m: float(w) for m, w in zip(self.modalities, out["fusion_weights"][row])},
            attention=attention, tokens={"text": words},
            extras=SceneVQAExtras([w.tolist() for _, w in hop_words],
                                  [words[int(np.argmax(w))] if len(w) else "" for _, w in hop_words]),
            notes={
                "image": f"One map per hop ({len(maps)} hops): the softmax weight the model gave each cell of "
                         "its 12x12 grid of image regions at that hop, guided by what the hop read in the "
                         "question and by what earlier hops found"
                         + (" (its logits include how well each cell fits what the hop read)"
                            if self.net.hops[0].fit_guided else "") + ". 'image' is the last hop's map.",
                "text": "Per hop: the hop's attention over the frozen MiniLM token states (softmax, guided by "
                        "the memory of earlier hops; word pieces summed) - what that hop looked for.",
                "fusion": "Gate: a small network weighs the image evidence (the memory after the last hop) "
                          "against the question evidence (the question alone), softmax per request.",
            })


@register("vqa", NAME)
def scenes_multihop():
    """Built-in, offline: trained here on questions over composed easy-VQA/MNIST scenes (checkpoints/vqa-scenes)."""
    return SceneVQAModel.from_checkpoint(paths.checkpoints("vqa-scenes"), NAME)
