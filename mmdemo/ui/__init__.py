"""The Gradio Blocks app. It knows models only through the registry: the shared inputs on the
left, one tab per task on the right (a panel module per task in this folder), each panel drawing
a Prediction (answer, scores, attention, fusion weights, and how they were made)."""
from __future__ import annotations

import gradio as gr

from .. import registry
from ..data.inputs import MAX_AUDIO_SECONDS, MAX_FILE_BYTES, MAX_TEXT_CHARS
from . import vqa
from . import caption

PANELS = [vqa]   # each panel module has TASK, TITLE and build(inputs); shown when its task has models
PANELS += [caption]

INTRO = """# mmdemo — multimodal models that show their reasons
Give an image, a text and a voice recording. Next to every answer you see **why**: where the model
looked in the image, which words it weighed, and how much it trusted each modality (its fusion
weights). Every map and weight is a tensor the model itself computed for this request."""


def shared_inputs() -> dict:
    """The inputs every task reads from (each task uses the ones it needs)."""
    image = gr.Image(label="Image", type="pil", sources=["upload", "webcam", "clipboard"], height=280)
    text = gr.Textbox(label="Question", placeholder="what color is the shape?", max_length=MAX_TEXT_CHARS, lines=1)
    audio = gr.Audio(label="Voice (microphone or upload)", sources=["microphone", "upload"], type="numpy")
    gr.Markdown(f"<small>Limits: files up to {MAX_FILE_BYTES // 2**20} MiB, text up to "
                f"{MAX_TEXT_CHARS} characters, audio up to {MAX_AUDIO_SECONDS:.0f} s.</small>")
    return {"image": image, "text": text, "audio": audio}


def build_demo() -> gr.Blocks:
    tasks = registry.list_tasks()
    with gr.Blocks(title="mmdemo — multimodal models that explain themselves") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                inputs = shared_inputs()
            with gr.Column(scale=2):
                for panel in PANELS:
                    if panel.TASK in tasks:
                        with gr.Tab(panel.TITLE):
                            panel.build(inputs)
    return demo
