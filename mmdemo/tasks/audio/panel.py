"""Audio panel: classify a sound (AST) with the spectrogram patches it attended to, and
transcribe speech (Whisper) into the shared text box, with the audio frames each listened to."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from ... import registry
from ...ui.components import model_dropdown, note, picture, predict
from ...ui.draw import overlay

TASK = "audio"


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
    return pred.output, pred.output, frames_frame(pred), note(pred, "audio") + "<br>" + note(pred, "scores")


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
    if "transcribe" in registry.list_tasks():
        with gr.Group():
            gr.Markdown("### Transcribe (fills the text box on the left)")
            asr = model_dropdown("transcribe", "Speech recogniser")
            transcribe = gr.Button("Transcribe", variant="primary")
            transcript = gr.Textbox(label="Transcript", interactive=False)
            asr_frames = gr.LinePlot(x="seconds", y="weight", label="Where it listened, per moment", height=200)
            asr_note = gr.Markdown()
            transcribe.click(run_transcribe, [audio, asr], [transcript, text, asr_frames, asr_note],
                             api_name="transcribe")
