"""The Gradio Blocks app. It knows models only through the registry: the shared inputs on the
left, one tab per task on the right (each task folder's panel.py, titled by its TITLE, shown when the
task has models), each panel drawing a Prediction (answer, scores, attention, fusion weights, and
how they were made). components.py and draw.py hold what the panels share."""
from __future__ import annotations

import html
import os
from pathlib import Path

import gradio as gr

from .. import registry, tasks
from ..inputs import MAX_AUDIO_SECONDS, MAX_FILE_BYTES, MAX_TEXT_CHARS
from . import atomic_cache

# uploads and drawn outputs are deleted from Gradio's cache once this old (and when the server stops)
CACHE_SECONDS = int(os.environ.get("MMDEMO_CACHE_SECONDS", 300))

INTRO = """# mmdemo — multimodal models that show their reasons
Give an image, a text and a voice recording. Next to every answer you see **why**: where the model
looked in the image, which words it weighed, and how much it trusted each modality (its fusion
weights). Every map and weight is a tensor the model itself computed for this request."""


def shared_inputs() -> dict:
    """The inputs every task reads from (each task uses the ones it needs)."""
    image = gr.Image(label="Image", type="filepath", sources=["upload", "webcam", "clipboard"], height=280)
    image.preprocess = file_path_of(image.preprocess)   # decoded and checked by load_image, not by Gradio
    text = gr.Textbox(label="Text (the question for VQA; the digit for classification, e.g. \"seven\"; "
                            "or speak it: record, then \"Use my recording as the text\")",
                      placeholder="what color is the shape?", max_length=MAX_TEXT_CHARS, lines=1)
    audio = gr.Audio(label="Voice (microphone or upload)", sources=["microphone", "upload"], type="filepath")
    if "transcribe" in registry.list_tasks():
        ask_by_voice(audio, text)
    gr.Markdown(f"<small>Limits: files up to {MAX_FILE_BYTES // 2**20} MiB, text up to "
                f"{MAX_TEXT_CHARS} characters, audio up to {MAX_AUDIO_SECONDS:.0f} s.</small>")
    return {"image": image, "text": text, "audio": audio}


def ask_by_voice(audio: gr.Audio, text: gr.Textbox) -> None:
    """"Use my recording as the text": the default speech recogniser writes what it heard into the
    shared text box, so every task that reads the text (VQA's question, classification's digit, ...)
    can be asked by voice. Endpoint /ask_by_voice -> (text box, what was heard)."""
    use = gr.Button("Use my recording as the text", size="sm")
    heard = gr.Markdown()
    use.click(recording_as_text, [audio], [text, heard], api_name="ask_by_voice")


def recording_as_text(audio) -> tuple[str, str]:
    """Transcribe the shared recording with the default transcribe model -> (transcript, what was heard)."""
    from .components import predict
    if audio is None:
        raise gr.Error("Record or upload a voice first, then press the button.", print_exception=False)
    pred = predict("transcribe", None, audio=audio)
    if not pred.output:
        return gr.update(), f"<small>Heard nothing recognisable ({pred.model}); the text box is unchanged.</small>"
    return pred.output, (f"Heard: **{html.escape(pred.output)}** <small>({pred.model}) — the text box now holds it; "
                         "press a task's button to use it.</small>")


def file_path_of(gradio_preprocess):
    """Hand an uploaded file's path (already checked by Gradio to be in its cache) straight to the
    model code. Gradio's own Image preprocess opens the file with PIL first, so a broken upload
    would fail there with PIL's message instead of load_image's clear one."""
    def preprocess(payload):
        if payload is not None and payload.path:
            return str(payload.path)
        return gradio_preprocess(payload)   # base64 data and None: Gradio's own handling
    return preprocess


def echo(image, text, audio):
    """Hidden /echo endpoint: the shared inputs (image, text, audio), no model. The benchmarks'
    baseline for Gradio's own overhead (upload, queue, pre/postprocessing)."""
    return "|".join([Path(image).name if image else "", text or "", Path(audio).name if audio else ""])


def build_demo() -> gr.Blocks:
    atomic_cache.install()   # concurrent requests never download a half-written picture
    with_models = registry.list_tasks()
    with gr.Blocks(title="mmdemo — multimodal models that explain themselves",
                   delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                inputs = shared_inputs()
            with gr.Column(scale=2):
                for name in tabs(with_models):
                    with gr.Tab(tasks.package(name).TITLE):
                        tasks.part(name, "panel").build(inputs)
        echo_button, echo_out = gr.Button(visible=False), gr.Textbox(visible=False)
        echo_button.click(echo, [inputs["image"], inputs["text"], inputs["audio"]], echo_out, api_name="echo")
    keep_example_files(demo)
    return demo


def keep_example_files(demo: gr.Blocks) -> None:
    """Gradio's cache cleaner (delete_cache) keeps the files a component marks "keep in cache", but it
    did delete the audio examples (their gr.Dataset holds only the file name; the copy in the cache is
    the Audio component's): tests/test_security.py saw the CC0 sounds and FSDD clips go after
    CACHE_SECONDS, so clicking them later would fail. Every file in a component's cache when the UI
    has just been built is the app's own (defaults, examples): keep them all."""
    for block in demo.blocks.values():
        if hasattr(block, "keep_in_cache") and getattr(block, "temp_files", None):
            block.keep_in_cache.update(block.temp_files)


def tabs(with_models: list[str]) -> list[str]:
    """The task folders that get a tab: those with a panel.py whose task has registered models."""
    return [n for n in tasks.with_part("panel") if n in with_models]
