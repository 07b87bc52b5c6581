"""Audio panel: classify a sound (AST) with the spectrogram patches it attended to, and
transcribe speech (Whisper tiny.en offline, or the Hub's Whisper) into the shared text box, with the
audio frames it listened to for each word. Example recordings: CC0 animal sounds (examples/sounds/)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from ... import paths, registry
from ...ui.components import model_dropdown, note, picture, predict
from ...ui.draw import overlay, word_map_picture

TASK = "audio"
SOUNDS = paths.examples("sounds")


def frames_frame(pred) -> pd.DataFrame:
    return pd.DataFrame({"seconds": pred.extras.seconds, "weight": pred.attention["audio"].astype(float)})


def spectrogram_overlay(pred):
    """The model's own input features (log-mel, low frequencies at the bottom) with its map over them."""
    feats = pred.extras.features[::-1]
    lo, hi = float(feats.min()), float(feats.max())
    grey = ((feats - lo) / (hi - lo + 1e-9) * 255).astype(np.uint8)
    return overlay(grey, pred.attention["spectrogram"][::-1])


def run_audio(audio, model_name):
    """Audio classification endpoint: top label, top-5, spectrogram overlay, frame weights + notes."""
    pred = predict("audio", model_name, audio=audio)
    return (pred.output, pred.scores, spectrogram_overlay(pred), frames_frame(pred),
            note(pred, "audio") + "<br>" + note(pred, "fusion"))


def run_transcribe(audio, model_name):
    """Transcription endpoint: the transcript (also written into the shared text box), frame weights + notes."""
    pred = predict("transcribe", model_name, audio=audio)
    words = None
    if "words" in pred.attention:           # per-word maps (Whisper tiny.en); the Hub backend gives the sum only
        step = pred.extras.seconds[1] - pred.extras.seconds[0] if len(pred.extras.seconds) > 1 else 0.02
        words = word_map_picture(pred.tokens["words"], pred.attention["words"], step)
    return (pred.output, pred.output, frames_frame(pred), words,
            note(pred, "audio") + "<br>" + note(pred, "scores"))


def sound_examples() -> list[list[str]]:
    return [[str(p)] for p in sorted(SOUNDS.glob("*.mp3"))]


def build(inputs: dict) -> None:
    """Components and the /audio and /transcribe endpoints; reads the shared audio input."""
    audio, text = inputs["audio"], inputs["text"]
    with gr.Group():
        gr.Markdown("### What sound is this?")
        model = model_dropdown("audio", "Audio classifier")
        classify = gr.Button("Classify the sound", variant="primary")
        with gr.Row():
            label = gr.Textbox(label="Top label", interactive=False)
            top5 = gr.Label(label="Top-5 labels", num_top_classes=5)
        with gr.Row():
            spectrogram = picture(label="Where it listened (spectrogram: time across, frequency up)", height=200)
            frames = gr.LinePlot(x="seconds", y="weight", label="Weight of each moment", height=200)
        audio_note = gr.Markdown()
        classify.click(run_audio, [audio, model], [label, top5, spectrogram, frames, audio_note], api_name="audio")
        if sound_examples():
            gr.Examples(sound_examples(), [audio], label="CC0 animal sounds (BigSoundBank, Joseph Sardin)")
    if "transcribe" in registry.list_tasks():
        with gr.Group():
            gr.Markdown("### Transcribe (fills the text box on the left)")
            asr = model_dropdown("transcribe", "Speech recogniser")
            transcribe = gr.Button("Transcribe", variant="primary")
            transcript = gr.Textbox(label="Transcript", interactive=False)
            asr_frames = gr.LinePlot(x="seconds", y="weight", label="Where it listened, per moment", height=200)
            asr_words = picture(label="Where it listened for each word (time across)")
            asr_note = gr.Markdown()
            transcribe.click(run_transcribe, [audio, asr], [transcript, text, asr_frames, asr_words, asr_note],
                             api_name="transcribe")
