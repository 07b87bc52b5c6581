"""Pretrained Hugging Face backends in the registry: BLIP captioning, ViLT and BLIP VQA, CLIP
zero-shot classification, AST audio classification, Whisper transcription.

Each backend is loaded by hub id or from a local folder (the same code path) with
attn_implementation="eager", so the attention probabilities are real tensors we can read, and each
returns the project's Prediction with explanations computed from the model's own tensors:
  - cross-attention averaged over heads and layers (BLIP captioning, BLIP VQA, Whisper),
  - attention rollout (Abnar & Zuidema 2020) for single-stream transformers (ViLT, AST),
  - gradient-weighted attention relevance (Chefer et al. 2021) for CLIP.
None of these models has a fusion gate; where no honest fusion weight exists, fusion_weights is {}
and notes["fusion"] says so.

Offline: `availability(source)` answers within about a second (cache lookup, or one HEAD-like
request with a 1 s timeout and no retries) so the app never waits on transformers' retries.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MMDemoError
from ..inputs import load_audio, load_image, load_text
from ..prediction import Prediction
from ..registry import register

@dataclass
class GeneratedExtras:
    generated_tokens: int                 # tokens the decoder generated (greedy)


@dataclass
class ZeroShotExtras:
    image: object                         # the image as the model saw it (PIL), for the overlay


@dataclass
class AudioExtras:
    features: np.ndarray                  # (mel bins, frames): the model's own input features
    seconds: list[float]                  # time of each frame weight


@dataclass
class TranscriptExtras:
    seconds: list[float]                  # time of each audio frame weight
    generated_tokens: int


# registry (task, name) -> (kind, default hub id)
DEFAULT_BACKENDS = {
    ("caption", "blip"): ("blip-caption", "Salesforce/blip-image-captioning-base"),
    ("vqa", "vilt"): ("vilt", "dandelin/vilt-b32-finetuned-vqa"),
    ("vqa", "blip-vqa"): ("blip-vqa", "Salesforce/blip-vqa-base"),
    ("zeroshot", "clip"): ("clip", "openai/clip-vit-base-patch32"),
    ("audio", "ast"): ("ast", "MIT/ast-finetuned-audioset-10-10-0.4593"),
    ("transcribe", "whisper"): ("whisper", "openai/whisper-tiny"),
}
# config.json model_type -> kind, for sources given by flag (the task decides between BLIP's heads)
MODEL_TYPES = {"vilt": "vilt", "clip": "clip", "audio-spectrogram-transformer": "ast", "whisper": "whisper"}
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
NO_FUSION = ("No fusion weight: this model has no gate between modalities; its modalities meet "
             "inside attention layers, so any single number would be invented.")
MAX_NEW_TOKENS = 30      # greedy decoding length limit for captions, answers and transcripts


# ---- where a model is, and saying so quickly when it is nowhere ---------------------------------

def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on")
               for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _cached(repo_id: str) -> bool:
    """config.json and a weights file of repo_id are in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache
    try:
        found = lambda f: isinstance(try_to_load_from_cache(repo_id, f), str)  # noqa: E731
        return found("config.json") and any(found(f) for f in WEIGHT_FILES)
    except Exception:   # an invalid repo id: not cached
        return False


def _reachable(repo_id: str, timeout: float = 1.0) -> bool:
    """One request to the Hub with a short timeout and no retries."""
    from huggingface_hub import HfApi
    try:
        HfApi().model_info(repo_id, timeout=timeout)
        return True
    except Exception:
        return False


def how_to_get(source: str) -> str:
    return (f"The model {source!r} is not downloaded and the Hugging Face Hub cannot be reached. "
            f"Get it on a machine with internet: `hf download {source}` (fills the cache), or "
            f"`hf download {source} --local-dir FOLDER` and start the app with "
            f"`--backend TASK=FOLDER` (a local folder).")


def availability(source: str) -> tuple[bool, str]:
    """(usable here, how): a local folder, the local cache, or the reachable Hub; else the
    message naming the model and how to get it. Takes at most about a second."""
    if Path(source).is_dir():
        ok = (Path(source) / "config.json").is_file()
        return ok, f"local folder {source}" if ok else f"The folder {source} has no config.json: not a saved model."
    if source.startswith(("/", ".", "~")) or source.count("/") > 1:   # a path, not an org/name hub id
        return False, f"The folder {source} does not exist."
    if _cached(source):
        return True, "in the local Hugging Face cache"
    if not _offline() and _reachable(source):
        return True, "will be downloaded from the Hugging Face Hub"
    return False, how_to_get(source)


def _from_pretrained(cls, source: str, **kw):
    """Load a model or processor; cached hub ids load without any network call."""
    local = not Path(source).is_dir() and _cached(source)
    try:
        return cls.from_pretrained(source, local_files_only=local or _offline(), **kw)
    except OSError as e:
        raise MMDemoError(f"{how_to_get(source)} ({type(e).__name__})") from None


# ---- explanation helpers -------------------------------------------------------------------------

def rollout(attentions, rows=(0,), residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): per layer, mean over heads, mix in the identity
    for the residual connection, renormalise rows; multiply through the layers (last @ ... @ first).
    Returns only the given rows of that product (len(rows), L), each summing to 1; computed as
    vector-matrix products from the last layer down, which is L times cheaper than the full product."""
    n = attentions[0].shape[-1]
    result = torch.eye(n)[list(rows)]
    for a in reversed(attentions):
        a = a[0].float().mean(0)
        a = residual * torch.eye(n) + (1 - residual) * a
        result = result @ (a / a.sum(-1, keepdim=True))
    return result


def normalized(x) -> np.ndarray:
    """Non-negative weights -> a distribution (sums to 1, each in 0..1)."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0, None)
    return (x / x.sum() if x.sum() > 0 else np.full_like(x, 1.0 / max(x.size, 1))).astype(np.float32)


def group_words(pieces: list[str]) -> list[list[int]]:
    """WordPiece token positions grouped into words ('##' continues a word)."""
    groups = []
    for i, p in enumerate(pieces):
        if p.startswith("##") and groups:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def word_labels(tokenizer, ids: list[int]) -> tuple[list[str], list[list[int]]]:
    """Words of a token sequence and, for each word, the positions of its tokens."""
    pieces = tokenizer.convert_ids_to_tokens(ids)
    groups = group_words(pieces)
    words = [tokenizer.convert_tokens_to_string([pieces[i] for i in g]).strip() for g in groups]
    return words, groups


def sequence_probability(logits: torch.Tensor, ids: torch.Tensor, positions=None) -> float:
    """Probability the model gives the generated tokens (all after the first, or those at
    `positions`): logits[t] predicts ids[t + 1]."""
    logp = logits[0, :-1].detach().float().log_softmax(-1).gather(-1, ids[0, 1:, None])[:, 0]
    return float((logp if positions is None else logp[[t - 1 for t in positions]]).sum().exp())


# ---- backends ------------------------------------------------------------------------------------

class HFBackend:
    """Common frame: the model, its processor and the registry name."""
    task = ""
    all_cores = True      # 10-400 M parameters: every core pays off (mmdemo.runtime.all_cores)

    def __init__(self, model_cls, source: str, name: str, processor_cls=None):
        from transformers import AutoProcessor
        self.name, self.source = name, source
        self.processor = _from_pretrained(processor_cls or AutoProcessor, source)
        self.model = _from_pretrained(model_cls, source, attn_implementation="eager").eval()
        self.tokenizer = getattr(self.processor, "tokenizer", None)

    def image(self, image):
        return load_image(image)


CAPTION_MAP_NOTE = ("Text decoder cross-attention over the image patches (class patch dropped), mean of heads "
                    "and layers: per word, the attention it was generated with; the overall map sums the words'.")


class BlipCaption(HFBackend):
    task = "caption"

    def __init__(self, source, name):
        from transformers import BlipForConditionalGeneration
        super().__init__(BlipForConditionalGeneration, source, name)

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None, beam: int = 1) -> Prediction:
        pixel_values = self.processor(images=self.image(image), return_tensors="pt").pixel_values
        m, cfg = self.model, self.model.config.text_config
        # BlipForConditionalGeneration.generate step by step (greedy), keeping the image embeddings
        image_embeds = m.vision_model(pixel_values=pixel_values).last_hidden_state
        ids = m.text_decoder.generate(input_ids=torch.full((1, 1), cfg.bos_token_id), eos_token_id=cfg.sep_token_id,
                                      pad_token_id=cfg.pad_token_id, encoder_hidden_states=image_embeds,
                                      max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=max(1, int(beam)))
        # one teacher-forced pass over the caption: the cross-attention each word was generated with
        out = m.text_decoder(input_ids=ids, encoder_hidden_states=image_embeds, output_attentions=True)
        cross = torch.stack(out.cross_attentions)[:, 0].mean((0, 1))   # (T, 1 + patches): mean of layers, heads
        side = int(round((cross.shape[-1] - 1) ** 0.5))
        special = set(self.tokenizer.all_special_ids)
        keep = [t for t in range(1, ids.shape[1]) if int(ids[0, t]) not in special]   # caption tokens
        words, groups = word_labels(self.tokenizer, [int(ids[0, t]) for t in keep])
        # token ids[t] was predicted from position t - 1; drop the image CLS column, renormalise
        maps = np.stack([normalized(sum(cross[keep[i] - 1, 1:].numpy() for i in g)).reshape(side, side)
                         for g in groups]) if groups else np.zeros((0, side, side), np.float32)
        caption = self.tokenizer.decode(ids[0], skip_special_tokens=True).strip()
        return Prediction(
            task=self.task, model=self.name, output=caption,
            scores={caption: sequence_probability(out.logits, ids)},
            fusion_weights={},
            attention={"image": normalized(maps.sum(0) if len(maps) else cross[:, 1:].sum(0).numpy().reshape(side, side)),
                       "words": maps},
            tokens={"words": words}, extras=GeneratedExtras(ids.shape[1] - 1),
            notes={"image": CAPTION_MAP_NOTE, "words": CAPTION_MAP_NOTE,
                   "scores": "Greedy decoding; the score is the probability of the whole caption.",
                   "fusion": NO_FUSION})


class ViltVQA(HFBackend):
    task = "vqa"

    def __init__(self, source, name):
        from transformers import ViltForQuestionAnswering
        super().__init__(ViltForQuestionAnswering, source, name)

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None, top_k: int = 5) -> Prediction:
        question = load_text(text, "question")
        enc = self.processor(images=self.image(image), text=question, return_tensors="pt", truncation=True)
        # ViLT's own patch embedding, run here so we know which grid cell each image token is
        # (it may reorder or sample patches); the model then runs on exactly these embeddings
        emb = self.model.vilt.embeddings
        patches, patch_mask, (patch_index, _) = emb.visual_embed(
            enc.pixel_values, enc.pixel_mask, max_image_length=self.model.config.max_image_length)
        out = self.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                         token_type_ids=enc.get("token_type_ids"), image_embeds=patches,
                         pixel_mask=patch_mask, output_attentions=True)
        probs = out.logits[0].sigmoid()          # ViLT VQA is trained with a per-answer sigmoid (BCE)
        top = probs.topk(min(top_k, probs.numel()))
        labels = self.model.config.id2label
        n_text = enc.input_ids.shape[1]
        row = rollout(out.attentions)[0]         # the text CLS token, which the answer head reads
        p = self.model.config.patch_size
        grid = np.zeros((enc.pixel_values.shape[-2] // p, enc.pixel_values.shape[-1] // p), np.float64)
        image_w = row[n_text + 1:].numpy() * patch_mask[0, 1:].numpy()   # padded patches carry nothing
        for (r, c), w in zip(patch_index[0].tolist(), image_w):
            grid[r, c] += w
        ids = enc.input_ids[0].tolist()
        real = [i for i, t in enumerate(ids) if t not in set(self.tokenizer.all_special_ids)
                and enc.attention_mask[0, i]]
        words, groups = word_labels(self.tokenizer, [ids[i] for i in real])
        text_w = normalized([sum(float(row[real[i]]) for i in g) for g in groups])
        return Prediction(
            task=self.task, model=self.name, output=labels[int(probs.argmax())],
            scores={labels[int(i)]: float(v) for v, i in zip(top.values, top.indices)},
            fusion_weights={}, attention={"image": normalized(grid), "text": text_w}, tokens={"text": words},
            notes={"image": "Attention rollout (Abnar & Zuidema 2020) from the [CLS] token the answer "
                            "head reads, to each image patch (heads averaged, residual added, layers multiplied).",
                   "text": "The same rollout row over the question's words (word pieces summed).",
                   "scores": "Per-answer sigmoid probabilities (ViLT's VQA head is trained with BCE).",
                   "fusion": NO_FUSION})


class BlipVQA(HFBackend):
    task = "vqa"

    def __init__(self, source, name):
        from transformers import BlipForQuestionAnswering
        super().__init__(BlipForQuestionAnswering, source, name)

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None) -> Prediction:
        question = load_text(text, "question")
        enc = self.processor(images=self.image(image), text=question, return_tensors="pt", truncation=True)
        m = self.model
        # BlipForQuestionAnswering.generate, step by step, keeping the attentions
        image_embeds = m.vision_model(pixel_values=enc.pixel_values).last_hidden_state
        q = m.text_encoder(input_ids=enc.input_ids, attention_mask=enc.attention_mask,
                           encoder_hidden_states=image_embeds, output_attentions=True)
        q_mask = torch.ones(q.last_hidden_state.shape[:-1], dtype=torch.long)
        bos = torch.full((1, 1), m.decoder_start_token_id)
        ids = m.text_decoder.generate(input_ids=bos, eos_token_id=m.config.text_config.sep_token_id,
                                      pad_token_id=m.config.text_config.pad_token_id, max_new_tokens=10,
                                      do_sample=False, num_beams=1,
                                      encoder_hidden_states=q.last_hidden_state, encoder_attention_mask=q_mask)
        out = m.text_decoder(input_ids=ids, encoder_hidden_states=q.last_hidden_state,
                             encoder_attention_mask=q_mask, output_attentions=True)
        # answer -> question tokens (decoder cross-attention, mean of layers, heads, answer positions)
        to_question = torch.stack(out.cross_attentions)[:, 0, :, :-1].mean((0, 1, 2))        # (Tq,)
        # question tokens -> image patches (encoder cross-attention, mean of layers and heads)
        to_image = torch.stack(q.cross_attentions)[:, 0].mean((0, 1))[:, 1:]                 # (Tq, patches)
        image_map = (to_question[:, None] * to_image).sum(0).numpy()
        side = int(round(image_map.size ** 0.5))
        qids = enc.input_ids[0].tolist()
        real = [i for i, t in enumerate(qids) if t not in set(self.tokenizer.all_special_ids)]
        words, groups = word_labels(self.tokenizer, [qids[i] for i in real])
        text_w = normalized([sum(float(to_question[real[i]]) for i in g) for g in groups])
        answer = self.tokenizer.decode(ids[0], skip_special_tokens=True).strip()
        return Prediction(
            task=self.task, model=self.name, output=answer,
            scores={answer: sequence_probability(out.logits, ids)}, fusion_weights={},
            attention={"image": normalized(image_map).reshape(side, side), "text": text_w}, tokens={"text": words},
            extras=GeneratedExtras(ids.shape[1] - 1),
            notes={"image": "Answer decoder's cross-attention over the question tokens, chained to each question "
                            "token's cross-attention over the image patches (heads and layers averaged).",
                   "text": "Answer decoder's cross-attention over the question's words (heads, layers and "
                           "answer tokens averaged; word pieces summed).",
                   "scores": "Greedy decoding (open vocabulary); the score is the answer's probability.",
                   "fusion": NO_FUSION})


class ClipZeroShot(HFBackend):
    task = "zeroshot"
    template = "a photo of a {}."

    def __init__(self, source, name):
        from transformers import CLIPModel
        super().__init__(CLIPModel, source, name)

    def predict(self, image=None, text=None, audio=None) -> Prediction:
        labels = [x.strip() for x in load_text(text, "list of labels").split(",") if x.strip()]
        if len(labels) < 2:
            raise MMDemoError("Give at least two labels, separated by commas (e.g. 'cat, dog, car').")
        if len(labels) > 50:
            raise MMDemoError(f"{len(labels)} labels given; the limit is 50.")
        labels = list(dict.fromkeys(labels))
        image = self.image(image)
        side = min(image.size)    # CLIP sees the central square (its processor centre-crops): crop it here so
        left, top = (image.width - side) // 2, (image.height - side) // 2    # the map can be drawn on it
        image = image.crop((left, top, left + side, top + side))
        enc = self.processor(images=image, text=[self.template.format(x) for x in labels],
                             return_tensors="pt", padding=True, truncation=True)
        with torch.enable_grad():
            out = self.model(**enc, output_attentions=True)
            probs = out.logits_per_image[0].softmax(-1)
            best = int(probs.argmax())
            attentions = out.vision_model_output.attentions
            grads = torch.autograd.grad(out.logits_per_image[0, best], attentions)
        # Chefer et al. 2021: R <- R + mean_heads((grad * A)^+) @ R, layer by layer; row of the CLS token
        with torch.no_grad():
            n = attentions[0].shape[-1]
            relevance = torch.eye(n)
            for a, g in zip(attentions, grads):
                cam = (g[0] * a[0]).clamp(min=0).mean(0)
                relevance = relevance + cam @ relevance
            patches = relevance[0, 1:].numpy()
        grid = int(round(patches.size ** 0.5))
        order = probs.argsort(descending=True).tolist()
        return Prediction(
            task=self.task, model=self.name, output=labels[best],
            scores={labels[i]: float(probs[i].detach()) for i in order},
            fusion_weights={}, attention={"image": normalized(patches).reshape(grid, grid)}, extras=ZeroShotExtras(image),
            notes={"image": f"Gradient-weighted attention relevance (Chefer et al. 2021) of the image patches "
                            f"for the label '{labels[best]}', through every vision layer (on the central "
                            f"square CLIP sees).",
                   "scores": f"Softmax over the labels of CLIP's image-text similarity (prompt "
                             f"'{self.template.format('LABEL')}').",
                   "fusion": NO_FUSION})


class ASTAudio(HFBackend):
    task = "audio"

    def __init__(self, source, name):
        from transformers import ASTForAudioClassification, AutoFeatureExtractor
        super().__init__(ASTForAudioClassification, source, name, processor_cls=AutoFeatureExtractor)

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None, top_k: int = 5) -> Prediction:
        fe, cfg = self.processor, self.model.config
        rate, samples = load_audio(audio, target_rate=fe.sampling_rate)
        x = fe(samples, sampling_rate=rate, return_tensors="pt").input_values       # (1, frames, mel)
        out = self.model(input_values=x, output_attentions=True)
        probs = out.logits[0].sigmoid()          # AudioSet is multi-label: per-class sigmoid
        top = probs.topk(min(top_k, probs.numel()))
        f_dim, t_dim = self.model.audio_spectrogram_transformer.embeddings.get_shape(cfg)
        row = rollout(out.attentions, rows=(0, 1)).mean(0)    # CLS and distillation tokens, averaged like the head
        grid = row[2:].numpy().reshape(f_dim, t_dim)
        frames = max(1, min(x.shape[1], int(len(samples) / rate * 100)))   # 10 ms filterbank frames
        t_keep = max(1, min(t_dim, (frames - cfg.patch_size) // cfg.time_stride + 1))   # patches over the clip
        grid = grid[:, :t_keep]
        centres = [(j * cfg.time_stride + cfg.patch_size / 2) / 100 for j in range(t_keep)]
        return Prediction(
            task=self.task, model=self.name, output=cfg.id2label[int(probs.argmax())],
            scores={cfg.id2label[int(i)]: float(v) for v, i in zip(top.values, top.indices)},
            fusion_weights={},
            attention={"spectrogram": normalized(grid), "audio": normalized(grid.sum(0))},
            tokens={"audio": [f"{t:.2f} s" for t in centres]},
            extras=AudioExtras(x[0, :frames].T.numpy(), centres),
            notes={"audio": "Attention rollout (Abnar & Zuidema 2020) from the CLS and distillation tokens to "
                            "the spectrogram patches; frame weight = the sum over frequency of each time column.",
                   "scores": "Per-class sigmoid probabilities (AudioSet labels are multi-label).",
                   "fusion": "No fusion weight: audio is the only modality."})


class WhisperTranscribe(HFBackend):
    task = "transcribe"

    def __init__(self, source, name):
        from transformers import WhisperForConditionalGeneration
        super().__init__(WhisperForConditionalGeneration, source, name)

    @torch.no_grad()
    def predict(self, image=None, text=None, audio=None) -> Prediction:
        fe = self.processor.feature_extractor
        rate, samples = load_audio(audio, target_rate=fe.sampling_rate)
        samples = samples[: fe.n_samples]       # one window (30 s for the real models)
        feats = fe(samples, sampling_rate=rate, return_tensors="pt").input_features
        encoded = self.model.get_encoder()(feats)       # the encoder runs once, for decoding and for the maps
        multilingual = getattr(self.model.generation_config, "is_multilingual", False)   # not the *.en models
        ids = self.model.generate(encoder_outputs=encoded, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1,
                                  **(dict(language="en", task="transcribe") if multilingual else {}))
        # generate returns only the new tokens; the maps need the prompt they were generated after
        g = self.model.generation_config
        prompt = [g.decoder_start_token_id] + ([g.lang_to_id["<|en|>"], g.task_to_id["transcribe"]] if multilingual
                                               else []) + [g.no_timestamps_token_id]
        if ids[0, :len(prompt)].tolist() != prompt:
            ids = torch.cat([torch.tensor([prompt]), ids], 1)
        out = self.model(encoder_outputs=encoded, decoder_input_ids=ids, output_attentions=True)
        cross = torch.stack(out.cross_attentions)[:, 0].mean((0, 1))       # (T, encoder frames)
        special = set(self.tokenizer.all_special_ids)
        text_pos = [t for t in range(len(prompt), ids.shape[1]) if int(ids[0, t]) not in special]
        weights = cross[[t - 1 for t in text_pos]].sum(0) if text_pos else cross.sum(0)
        step = fe.n_samples / fe.sampling_rate / cross.shape[-1]            # seconds per encoder frame
        n = max(1, min(cross.shape[-1], int(np.ceil(len(samples) / rate / step))))
        transcript = self.tokenizer.decode(ids[0], skip_special_tokens=True).strip()
        return Prediction(
            task=self.task, model=self.name, output=transcript,
            scores={transcript: sequence_probability(out.logits, ids, text_pos)},
            fusion_weights={}, attention={"audio": normalized(weights[:n].numpy())},
            tokens={"audio": [f"{(i + 0.5) * step:.2f} s" for i in range(n)]},
            extras=TranscriptExtras([(i + 0.5) * step for i in range(n)], ids.shape[1] - len(prompt)),
            notes={"audio": "Decoder cross-attention over the encoder's audio frames (heads and layers averaged, "
                            "summed over the transcript's tokens), clipped to the recording's length.",
                   "scores": "Greedy decoding, English; the score is the transcript's probability.",
                   "fusion": "No fusion weight: audio is the only input modality."})


KINDS = {"blip-caption": BlipCaption, "vilt": ViltVQA, "blip-vqa": BlipVQA, "clip": ClipZeroShot,
         "ast": ASTAudio, "whisper": WhisperTranscribe}
TASK_KINDS = {"caption": "blip-caption", "zeroshot": "clip", "audio": "ast", "transcribe": "whisper"}


def kind_of(task: str, source: str) -> str:
    """Which backend class serves `source` for `task`: from its config.json when we can read it
    (local folder or cache), else from the task (and the name, for VQA)."""
    import json
    config = Path(source) / "config.json"
    if not config.is_file() and not Path(source).is_dir():
        from huggingface_hub import try_to_load_from_cache
        try:
            found = try_to_load_from_cache(source, "config.json")
        except Exception:
            found = None
        config = Path(found) if isinstance(found, str) else None
    model_type = json.loads(config.read_text()).get("model_type") if config and config.is_file() else None
    if task == "vqa":
        kind = "blip-vqa" if model_type == "blip" or (model_type is None and "blip" in source.lower()) else "vilt"
    else:
        kind = MODEL_TYPES.get(model_type, TASK_KINDS.get(task))
    if kind is None or KINDS[kind].task != task:
        raise MMDemoError(f"No backend for task {task!r} with the model {source!r} "
                          f"(known tasks: {', '.join(sorted(TASK_KINDS) + ['vqa'])}).")
    return kind


def register_backend(task: str, source: str, name: str | None = None, kind: str | None = None,
                     default: bool = False) -> str:
    """Register a hub id or local folder as a `task` model; returns its registry name."""
    kind = kind or kind_of(task, source)
    name = name or source
    register(task, name, default=default, available=lambda: availability(source))(
        lambda: KINDS[kind](source, name))
    return name


def register_backend_specs(specs: list[str]) -> list[str]:
    """app.py's `--backend TASK=HUB_ID_OR_FOLDER` values -> registered names."""
    names = []
    for spec in specs:
        task, sep, source = spec.partition("=")
        if not sep or not source:
            raise MMDemoError(f"--backend wants TASK=HUB_ID_OR_FOLDER, got {spec!r}")
        names.append(register_backend(task.strip(), source.strip()))
    return names


for (_task, _name), (_kind, _source) in DEFAULT_BACKENDS.items():
    register_backend(_task, _source, name=_name, kind=_kind)
