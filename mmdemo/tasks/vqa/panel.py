"""VQA panel: answer, top-5, where the model looked, which words it weighed, fusion weights."""
from __future__ import annotations

import json

import gradio as gr
from PIL import Image, ImageDraw

from ... import paths, registry
from ...errors import MMDemoError
from ...inputs import load_image
from ...ui import explain as ui
from ...ui.components import fusion_chart, fusion_plot, model_dropdown, note, picture, predict
from ...ui.draw import OVERLAY_SIZE, overlay, token_highlights

TASK = "vqa"
EXAMPLES = paths.examples("vqa")
SCENE_EXAMPLES = [   # (stem, question) from scripts/vqa_scene_examples.py; the answers it computed in comments
    ("scene-two-hop", "what colour is the digit left of the triangle?"),   # brown
    ("scene-0", "what color is the four that is above the small shape?"),   # red
    ("scene-1", "what is the black object below the black zero?"),          # circle
    ("scene-2", "how many black digits do you see?"),                       # 1
    ("scene-3", "do you see a red circle?"),                                # yes
    ("scene-4", "are digits more numerous than yellow odd digits?"),        # yes
    ("scene-5", "is the brown rectangle three-sided?"),                     # no
    ("scene-6", "is two an odd number?"),                                   # no (a prior answers it)
]


def run_vqa(image, question, model_name):
    """VQA endpoint: answer, top-5, attention overlay, word weights, fusion weights + notes."""
    try:
        image = load_image(image)          # decoded once, for the model and for the overlay
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    pred = predict(TASK, model_name, image=image, text=question)
    return (pred.output, pred.scores, *maps_shown(image, pred), fusion_plot(pred.fusion_weights),
            note(pred, "image"), note(pred, "text"), note(pred, "fusion"))


def maps_shown(image, pred) -> tuple:
    """(the map picture, the word weights) of a prediction: a multi-hop model's every hop side by side and every
    hop's words in turn, else the one map and its words."""
    hops = [k for k in range(1, 10) if f"hop{k}" in pred.attention]
    if hops:
        return hop_strip(image, pred, hops), hop_words(pred, hops)
    return overlay(image, pred.attention["image"]), token_highlights(pred.tokens["text"], pred.attention["text"])


def hop_strip(image, pred, hops: list[int], size: int = OVERLAY_SIZE, label: int = 18) -> Image.Image:
    """Each hop's map over the image, left to right, labelled with the hop and its most weighted word."""
    tops = getattr(pred.extras, "hop_top_words", [""] * len(hops))
    out = Image.new("RGB", (len(hops) * (size + 4), size + label), "white")
    draw = ImageDraw.Draw(out)
    for i, k in enumerate(hops):
        out.paste(overlay(image, pred.attention[f"hop{k}"], size=size), (i * (size + 4), label))
        draw.text((i * (size + 4) + 4, 3), f"hop {k}: looks for '{tops[i]}'", fill="black")
    return out


def hop_words(pred, hops: list[int]) -> list[tuple[str, float | None]]:
    """Every hop's word weights in turn, each run led by an unscored 'hop k:' label."""
    out = []
    for k in hops:
        out += [(f"hop {k}:", None)] + token_highlights(pred.tokens["text"], pred.attention[f"hop{k} text"])
    return out


MODALITIES = ("image", "text")


def run_explain(image, question, model_name, *controls):
    """/explain_vqa: the corrupted inputs with the model's maps (every hop's, for a multi-hop model), the three
    reliance views (image vs question evidence), interaction, faithfulness of every map; the last output is the
    JSON object (as the API returns it)."""
    e, _ = ui.explain(TASK, model_name, image=image, text=question,
                      corruption=ui.corruption_from(MODALITIES, controls))
    v = ui.view_values(e)
    image = (e.inputs["image"].transpose(1, 2, 0) * 255).astype("uint8")
    shown, words = maps_shown(image, e.inputs["prediction"])
    return (shown, e.corrupted_text, words, *[v[k] for k in ui.VIEW_KEYS])


def export_vqa(image, question, model_name, *controls):
    """/explain_vqa_export: the explanation as a JSON file and a PNG figure."""
    return ui.export_files(TASK, model_name, image=image, text=question,
                           corruption=ui.corruption_from(MODALITIES, controls))


def dataset_plots(model_name):
    """/vqa_dataset_view: confusion matrix, per-answer metrics, mean Shapley share per question type (correct vs
    wrong) and a summary, from dataset_view.json next to the checkpoint (evaluate vqa --save-dataset-view)."""
    from .evaluate import dataset_view_file
    from .explain import PLAYERS
    f = dataset_view_file(registry.load(TASK, model_name))
    view = json.loads(f.read_text()) if f is not None and f.is_file() else None
    what = f"questions ({view['split']})" if view else ""
    if view and "paraphrases_reliance_by_question_type" in view:
        # easy-VQA's test split has hardly any wrong answers; its held-out paraphrases have some: both groups
        paraphrased = {f"paraphrased {t}": v for t, v in view["paraphrases_reliance_by_question_type"].items()}
        view["reliance_by_question_type"] = {**view["reliance_by_question_type"], **paraphrased}
        what += f" (bars also on {view['paraphrases_n']} held-out paraphrases)"
    return ui.dataset_frames(view, "reliance_by_question_type", PLAYERS, what,
                             f"Run python -m mmdemo.evaluate vqa --model {model_name} --save-dataset-view.")


def build_explain(image, text, model) -> None:
    gr.Markdown("### Explore and check: corrupt the image or the question, test the explanations")
    controls = ui.corruption_controls(MODALITIES)
    go = gr.Button("Explain the answer")
    with gr.Row():
        seen_image = picture(label="Image as the model saw it (corrupted) + its attention", height=200)
        with gr.Column():
            seen_text = gr.Textbox(label="Question as the model read it", interactive=False)
            seen_words = gr.HighlightedText(label="Its word weights", show_legend=False)
    views = ui.view_outputs()
    args = [image, text, model, *controls]
    outputs = [seen_image, seen_text, seen_words, *[views[k] for k in ui.VIEW_KEYS]]
    go.click(run_explain, args, outputs, api_name="explain_vqa")
    for c in controls:
        c.change(run_explain, args, outputs, api_name=False, trigger_mode="always_last")
    views["export"].click(export_vqa, args, views["files"], api_name="explain_vqa_export")
    show, dataset_outputs = ui.dataset_view_outputs(
        "Dataset view: metrics and reliance per question type or family (evaluate vqa --save-dataset-view)",
        "Mean Shapley share of image vs question evidence per question type / family (correct / wrong)")
    show.click(dataset_plots, [model], dataset_outputs, api_name="vqa_dataset_view")


def vqa_examples() -> list[list]:
    return [[str(EXAMPLES / f"{stem}.png"), q] for stem, q in [
        ("0", "what is the red shape?"), ("3", "what color is the circle?"), ("21", "is there a black shape?"),
        ("5", "Which colour is the object?"), ("13", "is it round?"), ("2", "does the image not contain a circle?")]
        if (EXAMPLES / f"{stem}.png").is_file()]


def scene_examples() -> list[list]:
    """Composed test scenes (scripts/vqa_scene_examples.py) with questions for the scenes-multihop model."""
    return [[str(EXAMPLES / f"{stem}.png"), q, "scenes-multihop"] for stem, q in SCENE_EXAMPLES
            if (EXAMPLES / f"{stem}.png").is_file()]


def build(inputs: dict) -> None:
    """The panel's components and its /vqa endpoint, inside the tab the app opened for it.
    inputs: the shared input components ("image", "text", "audio")."""
    image, text = inputs["image"], inputs["text"]
    model = model_dropdown(TASK, "VQA model")
    ask = gr.Button("Ask", variant="primary")
    with gr.Row():
        answer = gr.Textbox(label="Answer", interactive=False)
        top5 = gr.Label(label="Top-5 answers (softmax probabilities)", num_top_classes=5)
    with gr.Row():
        with gr.Column():
            heatmap = picture(label="Where the model looked", height=OVERLAY_SIZE)
            heat_note = gr.Markdown()
        with gr.Column():
            words = gr.HighlightedText(label="Which words it weighed", show_legend=False)
            words_note = gr.Markdown()
            fusion = fusion_chart("Fusion weights (image vs question evidence)")
            fusion_note = gr.Markdown()
    outputs = [answer, top5, heatmap, words, fusion, heat_note, words_note, fusion_note]
    ask.click(run_vqa, [image, text, model], outputs, api_name="vqa")
    text.submit(run_vqa, [image, text, model], outputs, api_name=False)
    build_explain(image, text, model)
    examples = vqa_examples()
    if examples:
        gr.Examples(examples, [image, text], label="Examples from the easy-VQA test split")
    if scene_examples():
        gr.Examples(scene_examples(), [image, text, model],
                    label="Multi-object scenes (unseen test scenes) for the scenes-multihop model")
