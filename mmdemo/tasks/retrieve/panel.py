"""Search panel: one query (the shared image, text or recording) -> the top-k items of a gallery in
any modality, with similarity scores, which regions of each image result matched, each word's share,
zero-shot digit labels, and the map of the space with the query on it."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from ...ui.components import model_dropdown, picture, predict
from ...ui.draw import OVERLAY_SIZE, labelled_tiles, overlay, token_highlights
from .gallery import GALLERIES
from .space_map import draw_map

TASK = "retrieve"
YOURS = "yours"


def as_picture(item) -> np.ndarray:
    """A gallery image as the encoder read it -> uint8 picture (digits: 28x28 grey; scenes: RGB)."""
    a = np.asarray(item)
    if a.dtype != np.uint8:
        a = (np.clip(a, 0, 1) * 255).astype(np.uint8)
    return a[0] if a.ndim == 3 and a.shape[0] == 1 else a


RESULT_TILE, RESULT_COLUMNS = 132, 5      # image results: tile size, tiles a row


def result_pictures(pred) -> Image.Image | None:
    """Image results with their matched regions (positive terms of the similarity) laid over them, tiled in
    one picture, each labelled with its rank (the table names it) and cosine similarity."""
    images = [r for r in pred.extras.results if r.modality == "image"]
    tiles = [overlay(as_picture(r.item), np.clip(r.regions, 0, None), size=RESULT_TILE - 4) for r in images]
    return labelled_tiles(tiles, [f"{r.rank}.  similarity {r.similarity:.3f}" for r in images], RESULT_TILE,
                          min(len(tiles), RESULT_COLUMNS) or 1)


def result_table(pred) -> pd.DataFrame:
    return pd.DataFrame([{"rank": r.rank, "modality": r.modality, "item": r.name,
                          "class / caption": r.label, "similarity": round(r.similarity, 4)}
                         for r in pred.extras.results])


def word_view(pred):
    """The query's words (text query), else the best text result's words, with their shares."""
    if "query_words" in pred.attention:
        return token_highlights(pred.tokens["query_words"], pred.attention["query_words"]), "Your query's words"
    for r in pred.extras.results:
        if r.words:
            return token_highlights(r.words, r.word_shares), f"Result {r.rank}: {r.name}"
    return None, ""


def run_search(image, text, audio, query_from, gallery, k, files, texts, space, model_name=None):
    """/retrieve: results table, image results with matched regions, query map, words, audio of the best
    speech result, zero-shot labels, the map of the space, and the notes."""
    query = {"image": image, "text": text, "audio": audio}.get(query_from)
    if gallery == YOURS:
        gallery = {"images": [f for f in files or [] if not str(f).lower().endswith(AUDIO)],
                   "audio": [f for f in files or [] if str(f).lower().endswith(AUDIO)],
                   "texts": (texts or "").splitlines()}
    pred = predict(TASK, model_name, **{query_from: query}, gallery=gallery, k=int(k or 5), space=space)
    e = pred.extras
    query_map = None
    if "query_regions" in pred.attention and e.query_input is not None:
        query_map = overlay(as_picture(e.query_input), np.clip(pred.attention["query_regions"], 0, None))
    words, words_label = word_view(pred)
    speech = next(((16000, r.item) for r in e.results if r.modality == "audio"), None)
    gap = ", ".join(f"{k}: {v:.3f}" for k, v in e.map.gap.items()) or "one modality only"
    notes = "\n\n".join(f"<small>**{k}**: {v}</small>" for k, v in pred.notes.items())
    return (result_table(pred), result_pictures(pred), query_map, gr.update(value=words, label=words_label or "Words"),
            speech, e.zero_shot, draw_map(e.map), f"Modality gap (distance between centroids, 64-d): {gap}", notes)


AUDIO = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".opus", ".webm")


def build(inputs: dict) -> None:
    """The Search tab and its /retrieve endpoint. inputs: the shared "image", "text", "audio"."""
    gr.Markdown("Search a gallery with one query: the uploaded image, the text or the recording (pick which). "
                "Digits and scenes are two spaces; a query is embedded into the space of the gallery.")
    with gr.Row():
        query_from = gr.Radio(["text", "image", "audio"], value="text", label="Query with")
        gallery = gr.Dropdown([(d, n) for n, (_, d) in GALLERIES.items()] + [("Your own files and texts", YOURS)],
                              value="mnist-test", label="Gallery")
        k = gr.Slider(1, 20, value=5, step=1, label="Results (k)")
    with gr.Accordion("Your own gallery (choose 'Your own files and texts' above)", open=False):
        with gr.Row():
            files = gr.File(label="Images and audio files", file_count="multiple", type="filepath")
            texts = gr.Textbox(label="Texts, one per line", lines=4)
            space = gr.Radio(["digits", "scenes"], value="digits", label="Space")
    model = model_dropdown(TASK, "Search model")
    go = gr.Button("Search", variant="primary")
    table = gr.Dataframe(label="Top results (cosine similarity)", interactive=False)
    with gr.Row():
        images = picture(label="Image results: regions that matched the query (rank as in the table, cosine similarity)")
        query_map = picture(label="Your image: regions that matched the top result", height=OVERLAY_SIZE)
    with gr.Row():
        words = gr.HighlightedText(label="Words", show_legend=False)
        speech = gr.Audio(label="Best speech result", interactive=False)
        zero_shot = gr.Label(label="Zero-shot digit label (text prototypes, no classifier)", num_top_classes=3)
    with gr.Row():
        space_map = picture(label="The map of the space (PCA of the gallery)")
        with gr.Column():
            gap = gr.Markdown()
            notes = gr.Markdown()
    go.click(run_search, [inputs["image"], inputs["text"], inputs["audio"], query_from, gallery, k, files, texts, space,
                                                         model],
             [table, images, query_map, words, speech, zero_shot, space_map, gap, notes], api_name="retrieve")
