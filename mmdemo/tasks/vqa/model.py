"""VQA: CNN region grid + frozen MiniLM question + question-guided spatial attention + a gate
that weighs image evidence against question evidence (the fusion weights)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ... import checkpoint, paths
from ...errors import MMDemoError
from ...explain import METHODS, file_hash
from ...inputs import load_square, load_text
from ...nn.fusion import GatedFusion
from ...nn.image import ConvGridEncoder
from ...nn.pooling import AttentionPool
from ...nn.text import MiniLMEncoder, merge_word_pieces
from ...prediction import Prediction
from ...registry import register

IMAGE_SIZE = 64   # easy-VQA's own size; other images are resized to it


class VQANet(nn.Module):
    def __init__(self, n_answers: int = 13, text_dim: int = 384, dim: int = 256, widths=(24, 48, 96),
                 n_attributes: int = 11):
        super().__init__()
        self.image = ConvGridEncoder(3, widths)
        self.image_proj = nn.Linear(widths[-1], dim)
        self.text_proj = nn.Linear(text_dim, dim)
        self.text_pool = AttentionPool(dim)                      # word pieces -> question vector
        self.spatial = AttentionPool(dim, query_dim=dim)         # regions -> attended region (question-guided)
        self.image_evidence = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())     # from (attended region * question)
        self.question_evidence = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())  # from the question alone
        self.fusion = GatedFusion(dim, 2)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, n_answers))
        # training aid (multi-task): name the image's shape and colour from the mean region feature;
        # it teaches the CNN shapes and colours fast. The answer itself reads only the attended region.
        self.attribute_head = nn.Linear(dim, n_attributes)

    def forward(self, images, q_states, q_mask, image_index=None):
        """images (N, 3, 64, 64) in 0..1; q_states (B, L, 384), q_mask (B, L);
        image_index (B,) picks each question's image (several questions may share one)."""
        regions, grid = self.image(images)
        q, text_w = self.text_pool(self.text_proj(q_states), q_mask)
        regions = self.image_proj(regions)
        logits, fusion_w, image_w, evidence = self.answer(regions, q, image_index)
        return {"logits": logits, "image_attention": image_w.unflatten(1, grid),
                "text_attention": text_w, "fusion_weights": fusion_w, "evidence": evidence,
                # the same head reading each evidence alone: auxiliary losses keep both branches
                # informative, so the gate chooses between real alternatives instead of collapsing
                "branch_logits": [self.head(e) for e in evidence],
                "attribute_logits": self.attribute_head(regions.mean(1))}

    def answer(self, regions, q, image_index=None, present=None):
        """Projected regions (N, R, dim) + question vectors (B, dim) -> answer logits, the gate's weights,
        the spatial attention (B, R) and the two evidence vectors. present (B, 2) bool restricts the gate
        to the branches given (one branch alone = the head reading that evidence, as trained)."""
        v, image_w = self.spatial(regions, query=q, index=image_index)
        evidence = [self.image_evidence(v * q), self.question_evidence(q)]
        fused, fusion_w = self.fusion(evidence, present)
        return self.head(fused), fusion_w, image_w, evidence


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 -> N x 3 x H x W float in 0..1."""
    return torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float() / 255.0


def minilm_states(encoder: MiniLMEncoder, questions: list[str]):
    """Questions -> MiniLM states, masks and word pieces per question; each distinct question encoded once."""
    unique, inverse = np.unique(np.asarray(questions, dtype=object), return_inverse=True)
    states, mask, pieces = encoder.encode(list(unique))
    return states[inverse], mask[inverse], [pieces[i] for i in inverse]


class VQAModel:
    """A ready VQA model: `predict(image=..., text=...)` -> Prediction."""
    task = "vqa"
    modalities = ("image", "question")
    net_class, image_size = VQANet, IMAGE_SIZE
    explained_maps = {"image": "image", "words": "text"}   # explain(): map name -> its Prediction.attention key
    reference_name = "easy-VQA test"                       # what reference_pairs() draws from (EMAP's note)

    def __init__(self, net: VQANet, answers: list[str], name: str, config: dict | None = None):
        self.net, self.answers, self.name, self.config = net.eval(), answers, name, config or {}
        self.text = MiniLMEncoder.shared()

    @classmethod
    def from_checkpoint(cls, folder, name: str):
        config = checkpoint.read_config(folder)
        net = checkpoint.load_weights(folder, cls.net_class(**config["architecture"]))
        model = cls(net, config["answers"], name, config)
        model.folder = folder
        return model

    def checkpoint_hash(self) -> str:
        folder = getattr(self, "folder", None)
        return file_hash(Path(folder) / "model.safetensors") if folder else ""

    def explain(self, image=None, text=None, corruption=None, methods=METHODS, audio=None):
        """-> mmdemo.explain.Explanation for image evidence vs question evidence (tasks/vqa/explain.py)."""
        from .explain import explain
        return explain(self, image, text, corruption, methods)

    @classmethod
    def prepare_image(cls, image) -> np.ndarray:
        return load_square(image, cls.image_size)

    def run(self, images: np.ndarray, questions: list[str] | None, image_index=None, encoded=None) -> dict:
        """Batched forward pass on prepared inputs (N x S x S x 3 uint8); see forward."""
        return self.forward(to_tensor(images), questions, image_index, encoded)

    @torch.no_grad()
    def forward(self, images: torch.Tensor, questions: list[str] | None, image_index=None, encoded=None) -> dict:
        """Images (N, 3, S, S) in 0..1 -> the net's tensors plus word pieces and probabilities. Each distinct
        question goes through MiniLM once; encoded = (states, mask, pieces) if the questions are already
        encoded (e.g. cached float16 states)."""
        states, mask, pieces = encoded or minilm_states(self.text, questions)
        out = self.net(images, states.float(), mask, None if image_index is None else torch.as_tensor(image_index))
        out["probs"] = out["logits"].softmax(-1)
        out["pieces"], out["mask"] = pieces, mask
        return out

    def reference_pairs(self, n: int, seed: int = 7) -> tuple[np.ndarray, list[str]]:
        """EMAP's reference batch: n (image, question) pairs of the test data (images N x S x S x 3 uint8)."""
        from ...datasets.easyvqa import load_split
        test = load_split("test")
        rows = np.random.default_rng(seed).choice(len(test.questions), n, replace=False)
        return test.images[test.image_index[rows]], [test.questions[i] for i in rows]

    def predict(self, image=None, text=None, audio=None, top_k: int = 5) -> Prediction:
        out = self.predict_batch([dict(image=image, text=text, top_k=top_k)])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def predict_batch(self, requests: list[dict]) -> list:
        """Several requests (predict's keyword arguments each) in one forward pass -> a Prediction per
        request, or the MMDemoError its own input raised (the others are still answered)."""
        prepared = []
        for r in requests:
            try:
                question = load_text(r.get("text"), "question")      # the question's message first, as before
                prepared.append((self.prepare_image(r.get("image")), question))
            except MMDemoError as e:
                prepared.append(e)
        ok = [i for i, p in enumerate(prepared) if not isinstance(p, Exception)]
        if ok:
            out = self.run(np.stack([prepared[i][0] for i in ok]), [prepared[i][1] for i in ok])
            for row, i in enumerate(ok):
                prepared[i] = self.prediction(out, row, requests[i].get("top_k", 5))
        return prepared

    def prediction(self, out: dict, row: int, top_k: int) -> Prediction:
        """Row `row` of run()'s batched output -> that request's Prediction."""
        probs = out["probs"][row]
        top = probs.topk(min(top_k, len(self.answers)))
        words, word_w = merge_word_pieces(out["pieces"][row], out["text_attention"][row][out["mask"][row]].numpy())
        return Prediction(
            task=self.task, model=self.name,
            output=self.answers[int(probs.argmax())],
            scores={self.answers[int(i)]: float(p) for p, i in zip(top.values, top.indices)},
            fusion_weights={m: float(w) for m, w in zip(self.modalities, out["fusion_weights"][row])},
            attention={"image": out["image_attention"][row].numpy(), "text": word_w},
            tokens={"text": words},
            notes={
                "image": "Question-guided spatial attention: the softmax weight the model gave each "
                         "cell of its 8x8 grid of image regions.",
                "text": "Attention pooling over the frozen MiniLM token states: the softmax weight of "
                        "each word (word pieces summed). The states are contextual, so one token can "
                        "carry the whole question.",
                "fusion": "Gate: a small network looks at the image evidence and the question evidence "
                          "and weighs them (softmax, per request); the answer is read from their weighted sum.",
            })


@register("vqa", "easyvqa-gated", default=True)
def easyvqa_gated():
    """Built-in, offline: trained here on easy-VQA (checkpoints/vqa)."""
    return VQAModel.from_checkpoint(paths.checkpoints("vqa"), "easyvqa-gated")
