"""Zero-shot image classification panel: the person types (or says, via the shared text box) the
labels; the model picks one and shows why: ConSE lists the ImageNet classes that carried the match
(and the Grad-CAM map of the top one), CLIP shows which image patches made it pick that label."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ... import paths
from ...errors import MMDemoError
from ...inputs import load_image
from ...ui.components import model_dropdown, note, picture, predict
from ...ui.draw import OVERLAY_SIZE, overlay

TASK = "zeroshot"
PHOTOS = paths.examples("photos")
EXAMPLES = [("chelsea-cat.jpg", "a cat, a dog, a cup of coffee, a horse"),
            ("coffee.jpg", "a cat, a cup of coffee, a rocket, breakfast"),
            ("rocket.jpg", "a rocket launch, a bird, a city at night, fireworks"),
            ("astronaut.jpg", "an astronaut, a soldier, a chef, a flag")]


def run_zeroshot(image, labels, model_name):
    """Zero-shot endpoint: best label, every label's score, map overlay, notes, ImageNet classes (ConSE)."""
    try:
        image = load_image(image)
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    pred = predict(TASK, model_name, image=image, text=labels)
    classes = getattr(pred.extras, "classes", None)
    table = gr.update(value=pd.DataFrame(classes), visible=True) if classes else gr.update(visible=False)
    return (pred.output, pred.scores, overlay(pred.extras.image if pred.extras else image, pred.attention["image"]),
            note(pred, "image"), note(pred, "scores") + "<br>" + note(pred, "fusion"), table,
            note(pred, "classes"))


def build(inputs: dict) -> None:
    """Components and the /zeroshot endpoint; reads the shared image input (and the shared text on request)."""
    model = model_dropdown(TASK, "Zero-shot model")
    labels = gr.Textbox(label="Labels (comma-separated)", value="a cat, a dog, a cup of coffee, a circle", lines=1)
    with gr.Row():
        run = gr.Button("Classify", variant="primary")
        from_text = gr.Button("Use the text box (typed or spoken) as the labels", size="sm")
    with gr.Row():
        best = gr.Textbox(label="Best label", interactive=False)
        scores = gr.Label(label="Score of each label (ConSE: cosine; CLIP: softmax over your labels)",
                          num_top_classes=10)
    heatmap = picture(label="What made it pick that label", height=OVERLAY_SIZE)
    heat_note = gr.Markdown()
    other_notes = gr.Markdown()
    classes = gr.Dataframe(label="Which ImageNet classes carried the match (ConSE)", interactive=False, visible=False)
    classes_note = gr.Markdown()
    outputs = [best, scores, heatmap, heat_note, other_notes, classes, classes_note]
    run.click(run_zeroshot, [inputs["image"], labels, model], outputs, api_name="zeroshot")
    labels.submit(run_zeroshot, [inputs["image"], labels, model], outputs, api_name=False)
    from_text.click(lambda text: text, [inputs["text"]], [labels], api_name=False)
    examples = [[str(PHOTOS / name), text] for name, text in EXAMPLES if (PHOTOS / name).is_file()]
    if examples:
        gr.Examples(examples, [inputs["image"], labels], label="Photos (CC0 / public domain) with labels")
