"""The Gradio Blocks app. It knows models only through the registry: one panel per task, each
panel draws a Prediction (answer, scores, attention, fusion weights, and how they were made)."""
from __future__ import annotations

import logging
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from . import registry
from .data.inputs import MAX_AUDIO_SECONDS, MAX_FILE_BYTES, MAX_TEXT_CHARS, load_image
from .errors import MMDemoError

log = logging.getLogger("mmdemo")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
OVERLAY_SIZE = 256

INTRO = """# mmdemo — multimodal models that show their reasons
Give an image and a question. Next to every answer you see **why**: where the model looked in
the image, which words it weighed, and how much it trusted each modality (its fusion weights).
Every map and weight is a tensor the model itself computed for this request."""


def heat_colors(x: np.ndarray) -> np.ndarray:
    """Values in 0..1 -> RGB uint8 on a dark-blue -> red -> yellow ramp."""
    stops = np.array([[0, 0, 80], [0, 90, 200], [220, 30, 30], [255, 220, 0]], dtype=np.float64)
    pos = np.clip(x, 0, 1) * (len(stops) - 1)
    lo = np.minimum(pos.astype(int), len(stops) - 2)
    t = (pos - lo)[..., None]
    return ((1 - t) * stops[lo] + t * stops[lo + 1]).astype(np.uint8)


def overlay(image, attention: np.ndarray, size: int = OVERLAY_SIZE, alpha: float = 0.75) -> Image.Image:
    """The image with an attention grid laid over it: colour and opacity grow with the weight
    (scaled so the grid's peak is the top colour); unattended parts stay visible."""
    base = load_image(image).resize((size, size), Image.Resampling.BILINEAR)
    a = attention / attention.max() if attention.max() > 0 else attention
    heat = Image.fromarray(heat_colors(a)).resize((size, size), Image.Resampling.BILINEAR)
    mask = Image.fromarray((np.sqrt(np.clip(a, 0, 1)) * alpha * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.BILINEAR)
    return Image.composite(heat, base, mask)


def token_highlights(words: list[str], weights: np.ndarray) -> list[tuple[str, float]]:
    """(word, weight scaled to 0..1 by the largest) pairs for gr.HighlightedText."""
    top = float(weights.max()) if len(weights) and weights.max() > 0 else 1.0
    return [(w, round(float(x) / top, 3)) for w, x in zip(words, weights)]


def fusion_frame(weights: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"modality": list(weights), "weight": [round(v, 4) for v in weights.values()]})


def note(pred, key: str) -> str:
    return f"<small>{pred.notes.get(key, '')}</small>"


def run_vqa(image, question, model_name):
    """VQA endpoint: answer, top-5, attention overlay, word weights, fusion weights + notes."""
    try:
        image = load_image(image)          # decoded once, for the model and for the overlay
        pred = registry.load("vqa", model_name).predict(image=image, text=question)
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    except Exception:
        log.exception("vqa failed")
        raise gr.Error("The model failed on this input; please try another one.", print_exception=False)
    return (pred.output, pred.scores, overlay(image, pred.attention["image"]),
            token_highlights(pred.tokens["text"], pred.attention["text"]), fusion_frame(pred.fusion_weights),
            note(pred, "image"), note(pred, "text"), note(pred, "fusion"))


def vqa_examples() -> list[list]:
    folder = EXAMPLES / "vqa"
    return [[str(folder / f"{stem}.png"), q] for stem, q in [
        ("0", "what is the red shape?"), ("3", "what color is the circle?"), ("21", "is there a black shape?"),
        ("5", "Which colour is the object?"), ("13", "is it round?"), ("2", "does the image not contain a circle?")]
        if (folder / f"{stem}.png").is_file()]


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="mmdemo — multimodal models that explain themselves") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(label="Image", type="pil", sources=["upload", "webcam", "clipboard"], height=280)
                text = gr.Textbox(label="Question", placeholder="what color is the shape?",
                                  max_length=MAX_TEXT_CHARS, lines=1)
                gr.Audio(label="Voice (microphone or upload; VQA reads only image + question)",
                         sources=["microphone", "upload"], type="numpy")
                gr.Markdown(f"<small>Limits: files up to {MAX_FILE_BYTES // 2**20} MiB, questions up to "
                            f"{MAX_TEXT_CHARS} characters, audio up to {MAX_AUDIO_SECONDS:.0f} s.</small>")
            with gr.Column(scale=2):
                with gr.Tab("Visual question answering"):
                    names = registry.list_models("vqa")
                    model = gr.Dropdown(names, value=names[0], label="VQA model")
                    ask = gr.Button("Ask", variant="primary")
                    with gr.Row():
                        answer = gr.Textbox(label="Answer", interactive=False)
                        top5 = gr.Label(label="Top-5 answers (softmax probabilities)", num_top_classes=5)
                    with gr.Row():
                        with gr.Column():
                            heatmap = gr.Image(label="Where the model looked", type="pil", interactive=False,
                                               height=OVERLAY_SIZE)
                            heat_note = gr.Markdown()
                        with gr.Column():
                            words = gr.HighlightedText(label="Which words it weighed", show_legend=False)
                            words_note = gr.Markdown()
                            fusion = gr.BarPlot(x="modality", y="weight", y_lim=[0, 1], sort=None,
                                                label="Fusion weights (image vs question evidence)", height=200)
                            fusion_note = gr.Markdown()
                    outputs = [answer, top5, heatmap, words, fusion, heat_note, words_note, fusion_note]
                    inputs = [image, text, model]
                    ask.click(run_vqa, inputs, outputs, api_name="vqa")
                    text.submit(run_vqa, inputs, outputs, api_name=False)
                    examples = vqa_examples()
                    if examples:
                        gr.Examples(examples, [image, text], label="Examples from the easy-VQA test split")
    return demo
