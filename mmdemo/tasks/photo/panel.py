"""Photos panel: top-5 ImageNet labels of the shared image, the Grad-CAM map of the top label over
the crop the model saw, and a button that checks the map (deletion AUC vs random deletion)."""
from __future__ import annotations

import gradio as gr

from ... import paths, registry
from ...errors import MMDemoError
from ...ui.components import model_dropdown, note, picture, predict
from ...ui.draw import OVERLAY_SIZE, overlay

TASK = "photo"
PHOTOS = paths.examples("photos")


def run_photo(image, model_name):
    """/photo: top label, top-5 probabilities, Grad-CAM overlay + notes."""
    pred = predict(TASK, model_name, image=image)
    return (pred.output, pred.scores, overlay(pred.extras.crop, pred.attention["image"]),
            note(pred, "image"), note(pred, "scores"))


def check_map(image, model_name) -> str:
    """/check_map: the deletion test of the Grad-CAM map (lower AUC than random = the map points at
    what the prediction depends on)."""
    if image is None:
        raise gr.Error("Upload a photo first.", print_exception=False)
    try:
        result = registry.load(TASK, model_name).check_map(image)
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    verdict = deletion_verdict(result["gradcam"], result["random"])
    return (f"**Deletion AUC** for '{result['label']}': Grad-CAM order **{result['gradcam']:.3f}**, random order "
            f"{result['random']:.3f} (mean of 3) — {verdict}.<br><small>Deletion test (Petsiuk et al. 2018): the "
            "7x7 cells are greyed out in the map's order, most important first, and the class probability is "
            "tracked; the area under that curve is smaller when the map ranks the cells the model needs first.</small>")


def deletion_verdict(gradcam: float, random: float, margin: float = 0.05) -> str:
    """What the two areas say, without over-reading a small difference (3 random orders are noisy)."""
    if gradcam < random - margin:
        return "clearly lower than random: the map ranks first the cells the prediction depends on"
    if gradcam > random + margin:
        return "higher than random: the map does not point at what the prediction depends on"
    return (f"within {margin} of random: no clear sign either way on this photo (e.g. deleting cells of a cat "
            "moves probability between cat classes)")


def photo_examples() -> list[list[str]]:
    return [[str(p)] for p in sorted(PHOTOS.glob("*.jpg"))]


def build(inputs: dict) -> None:
    """Components and the /photo and /check_map endpoints; reads the shared image input."""
    image = inputs["image"]
    model = model_dropdown(TASK, "Photo recogniser")
    run = gr.Button("Recognise", variant="primary")
    with gr.Row():
        best = gr.Textbox(label="Top label (ImageNet)", interactive=False)
        top5 = gr.Label(label="Top-5 ImageNet labels (softmax probabilities)", num_top_classes=5)
    heatmap = picture(label="Grad-CAM: where the top label's evidence is (on the 224x224 crop)", height=OVERLAY_SIZE)
    heat_note, score_note = gr.Markdown(), gr.Markdown()
    run.click(run_photo, [image, model], [best, top5, heatmap, heat_note, score_note], api_name="photo")
    check = gr.Button("Check this map (deletion AUC vs random)", size="sm")
    check_result = gr.Markdown()
    check.click(check_map, [image, model], check_result, api_name="check_map")
    if photo_examples():
        gr.Examples(photo_examples(), [image], label="Photos (CC0 / public domain, from scikit-image)")
