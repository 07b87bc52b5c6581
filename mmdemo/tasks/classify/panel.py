"""Tri-modal classification panel: draw (or upload) a digit, type it, say it - any subset.
Shows the fused class next to each unimodal head, the fusion weights with what they mean, a
modality-ablation check, and each modality's attention (image map, word weights, audio frames
drawn over the mel spectrogram)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from ... import paths
from ...registry import load
from ...ui import explain as ui
from ...ui.components import drawn_image, fusion_chart, model_dropdown, note, picture, predict
from ...ui.draw import OVERLAY_SIZE, fusion_frame, mel_picture, overlay, token_highlights
from .explain import CAM, compare_variants
from .robustness import dataset_plots, robustness_plot, weight_shift_warning

TASK = "classify"
EXAMPLES = paths.examples("classify")


def run_classify(sketch, image, text, audio, model_name):
    """/classify: fused class + scores, unimodal heads, fusion weights, ablation, attention pictures."""
    drawing = drawn_image(sketch)
    pred = predict(TASK, model_name, image=drawing if drawing is not None else image, text=text, audio=audio)
    e = pred.extras
    unimodal = pd.DataFrame([{"head": f"{m} only", "class": r["label"], "confidence": round(r["confidence"], 4)}
                             for m, r in e.unimodal.items()]
                            + [{"head": "fused", "class": pred.output, "confidence": round(e.confidence, 4)}])
    ablation = pd.DataFrame([{"removed": "nothing", "confidence in " + pred.output: round(e.confidence, 4),
                              "prediction": pred.output}]
                            + [{"removed": m, "confidence in " + pred.output: round(r["confidence"], 4),
                                "prediction": r["label"]} for m, r in e.ablation.items()])
    image_map = overlay(e.image_input[0], pred.attention["image"]) if "image" in pred.attention else None
    words = token_highlights(pred.tokens["text"], pred.attention["text"]) if "text" in pred.attention else None
    audio_pic = mel_picture(e.mel, pred.attention["audio"]) if "audio" in pred.attention else None
    return (pred.scores, unimodal, fusion_frame(pred.fusion_weights), note(pred, "fusion"), ablation,
            note(pred, "ablation"), image_map, note(pred, "image"), words, note(pred, "text"), audio_pic,
            note(pred, "audio"))


MODALITIES = ("image", "text", "audio")


def explain_inputs(sketch, image, text, audio, controls) -> dict:
    drawing = drawn_image(sketch)
    return dict(image=drawing if drawing is not None else image, text=text, audio=audio,
                corruption=ui.corruption_from(MODALITIES, controls))


def run_explain(sketch, image, text, audio, model_name, *controls):
    """/explain_classify: the corrupted inputs with their maps, the three reliance views, interactions,
    faithfulness, the JSON object (third from last), the variants side by side, the robustness curve with
    this input's point."""
    inputs = explain_inputs(sketch, image, text, audio, controls)
    e, _ = ui.explain(TASK, model_name, **inputs)
    v = ui.view_values(e, weight_shift_warning(e.model))
    seen = e.inputs
    shown_image = overlay(seen["image"][0], seen["attention"]["image"]) if "image" in seen else None
    cam = e.faithfulness.get(CAM)
    shown_cam = overlay(seen["image"][0], np.reshape(cam["weights"], seen["attention"]["image"].shape)) if cam else None
    words = token_highlights(e.maps["text"]["words"], e.maps["text"]["weights"]) if "text" in e.maps else None
    shown_audio = (16000, seen["audio"]) if "audio" in seen else None
    frames = mel_picture(seen["mel"], seen["attention"]["audio"]) if "audio" in seen else None
    variants = variants_frame(compare_variants(load(TASK, model_name), **inputs))
    return (shown_image, shown_cam, e.corrupted_text or "", words, shown_audio, frames, *[v[k] for k in ui.VIEW_KEYS],
            variants, robustness_plot(e))


def export_classify(sketch, image, text, audio, model_name, *controls):
    """/explain_classify_export: the explanation as a JSON file and a PNG figure."""
    return ui.export_files(TASK, model_name, **explain_inputs(sketch, image, text, audio, controls))


def triple(values: dict) -> str:
    return " / ".join(f"{values[m]:.3f}" if m in values else "-" for m in MODALITIES)


def variants_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"variant": r["variant"], "prediction": r["prediction"],
                          "confidence": round(r["confidence"], 4), "weights i/t/a": triple(r["fusion_weights"]),
                          "Shapley i/t/a": triple(r["shapley"]), "ablation drop i/t/a": triple(r["ablation_drop"]),
                          "views agree": r["agreement"].startswith("The 3 views agree"),
                          "ms": round(r["latency_ms"], 1), "parameters": r["parameters"]} for r in rows])


def build_explain(sketch, image, text, audio, model) -> None:
    """The "explore and check" section and its /explain_classify endpoint."""
    gr.Markdown("### Explore and check: corrupt the inputs, watch the fusion react, test the explanations")
    controls = ui.corruption_controls(MODALITIES)
    go = gr.Button("Explain")
    with gr.Row():
        seen_image = picture(label="Image as the model saw it (corrupted) + its attention", height=200)
        seen_cam = picture(label="The same image + LayerCAM (gradients of the predicted class's probability)",
                           height=200)
        with gr.Column():
            seen_text = gr.Textbox(label="Text as the model saw it", interactive=False)
            seen_words = gr.HighlightedText(label="Its word weights", show_legend=False)
    with gr.Row():
        seen_audio = gr.Audio(label="Audio as the model heard it", interactive=False, type="numpy")
        seen_frames = picture(label="Its frame weights over the log-mel spectrogram")
    views = ui.view_outputs()
    variants = gr.Dataframe(label="The four fusion variants on this input (weights, Shapley, ablation: "
                                  "image / text / audio; ms = the variant's work, encoders shared)", interactive=False)
    gr.Markdown(ui.small("How: the four variants share this checkpoint's encoders, so the corrupted inputs are encoded "
                         "once and each variant's fusion head runs on the same vectors. Weights are each variant's own "
                         "(gated: the gate's softmax; late: its learned alpha; xattn: the [CLS] token's attention; early "
                         "has none, so gradient x input per modality); Shapley and ablation are computed for every "
                         "variant exactly as in the views above; parameters = encoders + that variant's head."))
    robustness = gr.LinePlot(x="level", y="accuracy", color="curve", height=240,
                             label="Robustness: accuracy vs corruption level (evaluate --robustness), this input as ×")
    args = [sketch, image, text, audio, model, *controls]
    outputs = [seen_image, seen_cam, seen_text, seen_words, seen_audio, seen_frames, *[views[k] for k in ui.VIEW_KEYS],
               variants, robustness]
    go.click(run_explain, args, outputs, api_name="explain_classify")
    for c in controls:
        c.change(run_explain, args, outputs, api_name=False, trigger_mode="always_last")
    views["export"].click(export_classify, args, views["files"], api_name="explain_classify_export")
    build_dataset_view(model)


def build_dataset_view(model) -> None:
    show, outputs = ui.dataset_view_outputs(
        "Dataset view: metrics and reliance per class (evaluate --robustness)",
        "Mean Shapley share per class (correct / wrong), protocol-corrupted test triples")
    show.click(dataset_plots, [model], outputs, api_name="classify_dataset_view")


def build(inputs: dict) -> None:
    """The panel and its /classify endpoint. inputs: the shared "image", "text", "audio" components."""
    image, text, audio = inputs["image"], inputs["text"], inputs["audio"]
    gr.Markdown("Draw a digit (pick the brush left of the canvas; or use the uploaded image), type it (\"seven\", "
                "\"7\", \"sieben\" ...) and/or say it: any subset works. A drawing is used instead of the upload; "
                "clear it to use the upload.")
    with gr.Row():
        sketch = gr.Sketchpad(label="Draw a digit", type="pil", canvas_size=(280, 280), height=300,
                              brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=14))
        with gr.Column():
            model = model_dropdown(TASK, "Classifier (fusion variant)")
            go = gr.Button("Classify", variant="primary")
            label = gr.Label(label="Fused prediction (softmax)", num_top_classes=5)
    with gr.Row():
        with gr.Column():
            fusion = fusion_chart("Fusion weights for this request")
            fusion_note = gr.Markdown()
        with gr.Column():
            ablation = gr.Dataframe(label="Ablation: the fused model with each modality removed", interactive=False)
            ablation_note = gr.Markdown()
    unimodal = gr.Dataframe(label="Each modality alone (auxiliary heads) next to the fused prediction", interactive=False)
    with gr.Row():
        with gr.Column():
            heatmap = picture(label="Image attention (over the digit as the model sees it)", height=OVERLAY_SIZE)
            heat_note = gr.Markdown()
        with gr.Column():
            words = gr.HighlightedText(label="Text: weight of each word", show_legend=False)
            words_note = gr.Markdown()
            frames = picture(label="Audio: frame weights over the log-mel spectrogram")
            frames_note = gr.Markdown()
    outputs = [label, unimodal, fusion, fusion_note, ablation, ablation_note, heatmap, heat_note, words, words_note,
               frames, frames_note]
    go.click(run_classify, [sketch, image, text, audio, model], outputs, api_name="classify")
    build_explain(sketch, image, text, audio, model)
    examples = [[str(EXAMPLES / f"drawn_{d}.png"), t] for d, t in [(7, "seven"), (0, "null"), (1, "the number 1")]
                if (EXAMPLES / f"drawn_{d}.png").is_file()]
    if examples:
        gr.Examples(examples, [image, text], label="Drawn digits (as uploads) with a text")
    if fsdd_examples():
        gr.Examples(fsdd_examples(), [audio], label="Spoken digits: FSDD test clips (CC BY-SA 4.0, Zohar Jackson "
                                                    "and contributors; examples/classify/CREDITS.md)")


def fsdd_examples() -> list[list[str]]:
    """FSDD official-test clips, so the audio modality can be tried without a microphone."""
    return [[str(EXAMPLES / f"{name}.wav")] for name in ("seven_jackson", "three_theo", "zero_nicolas", "five_lucas")
            if (EXAMPLES / f"{name}.wav").is_file()]
