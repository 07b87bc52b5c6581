"""Randomly initialised Hugging Face backends, saved to a folder exactly as a download would be
(config, safetensors weights, processor, tokenizer), for tests and the latency benchmark where the
Hub cannot be reached. `full=False`: tiny configs (1-2 layers, small widths, a small vocabulary);
`full=True`: the real architectures' sizes (random weights, same compute per request).

    python -m mmdemo.backends.hf_random clip /tmp/clip-tiny      # then: app.py --backend zeroshot=/tmp/clip-tiny
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

# a small English vocabulary: enough for the tests' questions, captions and labels
WORDS = ("a an the of in on is it what which color colour shape there this photo picture image "
         "red green blue yellow black white gray circle triangle rectangle square cat dog car "
         "yes no how many one two three does not contain and with sitting man woman").split()
PUNCT = list("?.,!'")
BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]"]
SPREAD = 0.3   # init std of the tiny models (real models use 0.02): peaked attention, like a trained model's
ANSWERS = ["red", "green", "blue", "yellow", "circle", "triangle", "rectangle", "yes", "no"]


def tiny_layers(**extra) -> dict:
    """The size of every tiny transformer here: 2 layers of width 32, 2 heads, peaked initial weights."""
    return dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                initializer_range=SPREAD, **extra)


def bert_tokenizer(model_max_length: int = 40, size: int = 0):
    """A WordPiece tokenizer over WORDS; `size`: padded with unused tokens to a real model's vocabulary size."""
    from transformers import BertTokenizer
    tokens = BERT_SPECIAL + WORDS + PUNCT + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    tokens += [f"[unused{i}]" for i in range(size - len(tokens))]
    return BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, bos_token="[DEC]", model_max_length=model_max_length)


def blip(folder: Path, full: bool, vqa: bool) -> None:
    from transformers import (BlipConfig, BlipForConditionalGeneration, BlipForQuestionAnswering,
                              BlipImageProcessor, BlipProcessor)
    tok = bert_tokenizer(512, size=30524 if full else 0)
    ids = dict(bos_token_id=tok.convert_tokens_to_ids("[DEC]"), sep_token_id=tok.sep_token_id,
               pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id)
    if full:    # Salesforce/blip-*-base: ViT-B/16 at 384 px, BERT-base text (vocab 30524)
        config, size = BlipConfig(text_config=dict(vocab_size=len(tok), **ids)), 384
    else:
        size = 32
        config = BlipConfig(
            vision_config=tiny_layers(image_size=size, patch_size=8),
            text_config=tiny_layers(vocab_size=len(tok), encoder_hidden_size=32, max_position_embeddings=64, **ids),
            projection_dim=32)
    model = (BlipForQuestionAnswering if vqa else BlipForConditionalGeneration)(config)
    model.save_pretrained(folder)
    BlipProcessor(BlipImageProcessor(size={"height": size, "width": size}), tok).save_pretrained(folder)


def vilt(folder: Path, full: bool) -> None:
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltImageProcessor, ViltProcessor
    tok = bert_tokenizer(40, size=30522 if full else 0)
    labels = ANSWERS if not full else ANSWERS + [f"answer {i}" for i in range(3129 - len(ANSWERS))]
    common = dict(id2label=dict(enumerate(labels)), label2id={a: i for i, a in enumerate(labels)})
    if full:    # dandelin/vilt-b32-finetuned-vqa: ViT-B/32, 384 px shorter side, 3,129 answers
        config, size = ViltConfig(**common), 384
    else:
        size = 32
        config = ViltConfig(**tiny_layers(vocab_size=len(tok), image_size=size, patch_size=8, max_position_embeddings=40,
                                          **common))
    ViltForQuestionAnswering(config).save_pretrained(folder)
    ViltProcessor(ViltImageProcessor(size={"shortest_edge": size}, size_divisor=32 if full else 8), tok).save_pretrained(folder)


def clip(folder: Path, full: bool) -> None:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    letters = "abcdefghijklmnopqrstuvwxyz.,!?'"
    tokens = list(letters) + [c + "</w>" for c in letters] + [w + "</w>" for w in WORDS]
    specials = ["<|startoftext|>", "<|endoftext|>"]
    vocab = {}
    for t in tokens:     # unique ids 0..n-1 ('a</w>' is both a letter and a word)
        vocab.setdefault(t, len(vocab))
    merges = []   # merges that build each vocabulary word from its letters
    for w in WORDS:
        parts = list(w[:-1]) + [w[-1] + "</w>"]
        while len(parts) > 1:
            a, b = parts[0], parts[1]
            merges.append((a, b))
            vocab.setdefault(a + b, len(vocab))
            parts = [a + b] + parts[2:]
    merges = list(dict.fromkeys(merges))
    for s in specials:   # last, so the ids survive save_pretrained / from_pretrained unchanged
        vocab[s] = len(vocab)
    tok = CLIPTokenizer(vocab=vocab, merges=merges)
    start, end = tok.convert_tokens_to_ids(["<|startoftext|>", "<|endoftext|>"])   # ids as the tokenizer assigns them
    ids = dict(bos_token_id=start, eos_token_id=end, pad_token_id=end)
    if full:    # openai/clip-vit-base-patch32: ViT-B/32 at 224 px, 12-layer text transformer (vocab 49408)
        config, size = CLIPConfig(text_config=dict(vocab_size=49408, **ids)), 224
    else:
        size = 32
        config = CLIPConfig(
            vision_config=tiny_layers(image_size=size, patch_size=8),
            text_config=tiny_layers(vocab_size=len(tok), max_position_embeddings=32, **ids),
            projection_dim=16)
    CLIPModel(config).save_pretrained(folder)
    tok.model_max_length = config.text_config.max_position_embeddings
    CLIPProcessor(CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size}),
                  tok).save_pretrained(folder)


def ast(folder: Path, full: bool) -> None:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification
    labels = ["Speech", "Music", "Silence", "Dog", "Vehicle"]
    if full:    # MIT/ast-finetuned-audioset-10-10-0.4593: 1,024 frames x 128 mel bins, 527 classes
        labels = labels + [f"class {i}" for i in range(527 - len(labels))]
        config = ASTConfig(id2label=dict(enumerate(labels)), label2id={a: i for i, a in enumerate(labels)})
    else:
        config = ASTConfig(**tiny_layers(max_length=128, num_mel_bins=32, id2label=dict(enumerate(labels)),
                                         label2id={a: i for i, a in enumerate(labels)}))
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=config.num_mel_bins, max_length=config.max_length).save_pretrained(folder)


def byte_level_alphabet() -> list[str]:
    """The 256 characters byte-level BPE (GPT-2, Whisper) uses for the 256 byte values."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def whisper(folder: Path, full: bool) -> None:
    from transformers import (GenerationConfig, WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration, WhisperProcessor, WhisperTokenizer)
    vocab = {c: i for i, c in enumerate(byte_level_alphabet())}
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    if full:   # the real vocabulary's size (51,865), special tokens last as in Whisper's
        vocab.update({f"<|unused{i}|>": 256 + i for i in range(51865 - 256 - len(specials))})
    for s in specials:
        vocab[s] = len(vocab)
    tok = WhisperTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    sid = dict(zip(specials, tok.convert_tokens_to_ids(specials)))
    ids = dict(pad_token_id=sid["<|endoftext|>"], bos_token_id=sid["<|endoftext|>"], eos_token_id=sid["<|endoftext|>"],
               decoder_start_token_id=sid["<|startoftranscript|>"])
    if full:    # openai/whisper-tiny: 80 mel bins x 30 s, 4 + 4 layers of width 384, vocab 51865
        config = WhisperConfig(vocab_size=len(tok), **ids)
        fe = WhisperFeatureExtractor(feature_size=80, chunk_length=30)
    else:       # 2 s windows: 200 mel frames -> 100 encoder frames
        config = WhisperConfig(vocab_size=len(tok), num_mel_bins=16, d_model=32, encoder_layers=1, decoder_layers=1,
                               encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                               decoder_ffn_dim=64, max_source_positions=100, max_target_positions=64, init_std=SPREAD, **ids)
        fe = WhisperFeatureExtractor(feature_size=16, chunk_length=2)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        **ids, max_length=config.max_target_positions, is_multilingual=True,
        lang_to_id={"<|en|>": sid["<|en|>"]}, task_to_id={"transcribe": sid["<|transcribe|>"],
                                                          "translate": sid["<|translate|>"]},
        no_timestamps_token_id=sid["<|notimestamps|>"], begin_suppress_tokens=[], suppress_tokens=[])
    model.save_pretrained(folder)
    WhisperProcessor(fe, tok).save_pretrained(folder)


BUILDERS = {"blip-caption": lambda f, full: blip(f, full, vqa=False), "blip-vqa": lambda f, full: blip(f, full, vqa=True),
            "vilt": vilt, "clip": clip, "ast": ast, "whisper": whisper}


def build(kind: str, folder, full: bool = False, seed: int = 0) -> Path:
    """Save a randomly initialised `kind` backend (see hf.KINDS) to `folder`; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    BUILDERS[kind](folder, full)
    return folder


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[1] not in BUILDERS:
        raise SystemExit(f"usage: python -m mmdemo.backends.hf_random {{{','.join(BUILDERS)}}} FOLDER [--full]")
    print(build(sys.argv[1], sys.argv[2], full=sys.argv[3:] == ["--full"]))
