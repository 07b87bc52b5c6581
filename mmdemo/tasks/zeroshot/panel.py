"""Zero-shot image classification panel (CLIP): the person types the labels; the model picks one
and shows which image patches made it pick that label."""
from __future__ import annotations

import gradio as gr

from ...errors import MMDemoError
from ...inputs import load_image
from ...ui.components import model_dropdown, note, picture, predict
from ...ui.draw import OVERLAY_SIZE, overlay

TASK = "zeroshot"


def run_zeroshot(image, labels, model_name):
    """Zero-shot endpoint: best label, every label's probability, relevance overlay + notes."""
    try:
        image = load_image(image)
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    pred = predict(TASK, model_name, image=image, text=labels)
    return (pred.output, pred.scores, overlay(pred.extras.image if pred.extras else image, pred.attention["image"]),
            note(pred, "image"), note(pred, "scores") + "<br>" + note(pred, "fusion"))


def build(inputs: dict) -> None:
    """Components and the /zeroshot endpoint; reads the shared image input."""
    model = model_dropdown(TASK, "Zero-shot model")
    labels = gr.Textbox(label="Labels (comma-separated)", value="a cat, a dog, a triangle, a circle", lines=1)
    run = gr.Button("Classify", variant="primary")
    with gr.Row():
        best = gr.Textbox(label="Best label", interactive=False)
        scores = gr.Label(label="Labels (softmax over your labels)", num_top_classes=10)
    heatmap = picture(label="What made it pick that label", height=OVERLAY_SIZE)
    heat_note = gr.Markdown()
    other_notes = gr.Markdown()
    outputs = [best, scores, heatmap, heat_note, other_notes]
    run.click(run_zeroshot, [inputs["image"], labels, model], outputs, api_name="zeroshot")
    labels.submit(run_zeroshot, [inputs["image"], labels, model], outputs, api_name=False)
