"""Caption panel: the caption, each word selectable -> where the model looked when it wrote it, a strip
of every word's map, and per word how much it relied on the image vs the language (beta)."""
from __future__ import annotations

import gradio as gr
import pandas as pd
from PIL import Image

from ... import paths
from ...errors import MMDemoError
from ...inputs import load_image
from ...ui.components import clickable_picture, fusion_chart, fusion_plot, model_dropdown, note, picture, predict
from ...ui.draw import OVERLAY_SIZE, TILE_LABEL, labelled_tiles, overlay, overlays, tile_at

TASK = "caption"
EXAMPLES = [paths.examples("caption"), paths.examples("vqa")]
STRIP_SIZE, STRIP_LABEL, STRIP_COLUMNS = 112, TILE_LABEL, 8   # the strip of per-word maps: tile, label height, tiles a row


def run_caption(image, model_name, beam):
    """/caption endpoint: caption, its probability (or top beams), the word picker, the first word's
    overlay, the strip of per-word overlays, per-word and mean fusion weights, and the notes."""
    try:
        image = load_image(image)          # decoded once, for the model and for the overlays
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    pred = predict(TASK, model_name, image=image, beam=int(beam or 1))
    words, heat = pred.tokens["words"], pred.attention["words"]
    beta = getattr(pred.extras, "word_fusion", [])    # backends without a language gate have none
    labels = [f"{i + 1}. {w}" for i, w in enumerate(words)]
    strip = word_strip(image, heat, labels)
    per_word = pd.DataFrame({"word": [f"{i + 1:02d} {w}" for i, w in enumerate(words)],   # zero-padded: the
                             "image (1 - beta)": [round(1 - b, 4) for b in beta]})     # plot sorts x as text
    picker = gr.Radio(choices=[(label, i) for i, label in enumerate(labels)], value=0 if words else None)
    kept = kept_image(image)
    first = overlay(kept, heat[0]) if words else None
    beams = pd.DataFrame({"caption": list(pred.scores), "probability": [round(p, 4) for p in pred.scores.values()]})
    return (pred.output, beams, picker, first, strip, per_word, fusion_plot(pred.fusion_weights),
            note(pred, "words"), note(pred, "fusion"), note(pred, "scores"), (kept, heat))


def kept_image(image: Image.Image) -> Image.Image:
    """What the session keeps for show_word: the image at the overlay's size (what overlay() resizes
    it to anyway), not the decoded upload (a 40-MP one was 153 MB per session)."""
    return image.resize((OVERLAY_SIZE, OVERLAY_SIZE), Image.Resampling.BILINEAR)


def show_word(index, state):
    """The selected word's heatmap over the image."""
    if state is None or index is None or not 0 <= int(index) < len(state[1]):
        return None
    image, heat = state
    return overlay(image, heat[int(index)])


def word_strip(image, heat, labels: list[str]) -> Image.Image | None:
    """Every word's overlay, small, tiled STRIP_COLUMNS to a row with its label underneath (one picture)."""
    tiles = overlays(image, heat[:len(labels)], size=STRIP_SIZE - 4) if labels else []
    return labelled_tiles(tiles, labels, STRIP_SIZE, STRIP_COLUMNS)


def pick_from_strip(state, evt: gr.SelectData):
    """A click on the strip picks the word whose tile was clicked (evt.index is the pixel [x, y])."""
    x, y = evt.index
    i = tile_at(x, y, STRIP_SIZE, STRIP_COLUMNS)
    if state is None or not 0 <= i < len(state[1]):
        return gr.Radio(), None
    return gr.Radio(value=i), show_word(i, state)


def caption_examples() -> list[list[str]]:
    """Composed scenes first, then MNIST digits, then easy-VQA images."""
    return [[str(p)] for folder in EXAMPLES if folder.is_dir()
            for p in sorted(folder.glob("*.png"), key=lambda p: (not p.stem.startswith("scene"), p.name))]


def build(inputs: dict) -> None:
    """The panel's components and its /caption endpoint, inside the tab the app opened for it."""
    image = inputs["image"]
    with gr.Row():
        model = model_dropdown(TASK, "Caption model")
        beam = gr.Slider(1, 5, value=1, step=1, label="Beam width (1 = greedy)")
    go = gr.Button("Caption", variant="primary")
    with gr.Row():
        caption = gr.Textbox(label="Caption", interactive=False, scale=2)
        scores = gr.Dataframe(label="Caption probability (top beams)", headers=["caption", "probability"],
                              interactive=False, scale=1)
    state = gr.State()
    with gr.Row():
        with gr.Column():
            picker = gr.Radio(label="Pick a word to see where the model looked when it wrote it", choices=[])
            heatmap = picture(label="Where it looked for this word", height=OVERLAY_SIZE)
            words_note = gr.Markdown()
        with gr.Column():
            per_word = gr.BarPlot(x="word", y="image (1 - beta)", y_lim=[0, 1], sort=None, height=260, x_label_angle=-60,
                                  label="Per word: weight of the image context (the rest is language)")
            fusion = fusion_chart("Fusion weights, mean over the caption's words", height=180)
            fusion_note = gr.Markdown()
            scores_note = gr.Markdown()
    strip = clickable_picture(label="Every word's map (click one)")
    outputs = [caption, scores, picker, heatmap, strip, per_word, fusion, words_note, fusion_note, scores_note, state]
    go.click(run_caption, [image, model, beam], outputs, api_name="caption")
    picker.change(show_word, [picker, state], heatmap, api_name=False)
    strip.select(pick_from_strip, [state], [picker, heatmap], api_name=False)
    examples = caption_examples()
    if examples:
        gr.Examples(examples, [image], label="Examples: composed test scenes, MNIST test digits, easy-VQA test images")
