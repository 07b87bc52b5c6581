"""Generate panel: draw (or upload) a digit, type it and/or say it; see the VAE's and the GAN's images
side by side, the VAE's reconstruction beside the input, hear the digit said by the speech decoder,
the product-of-experts fusion weights, the ELBO's terms, and move the latent along its main directions."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from ...ui.components import drawn_image, fusion_chart, note, picture, predict
from ...ui.draw import fusion_frame, image_grid, spectrogram
from .model import INTERPOLATION_STEPS, MAX_SAMPLES, N_SLIDERS, SLIDER_RANGE, TEMPERATURE_RANGE
from .scenes import MAX_CHARS

SCENE_EXAMPLE = "a small red triangle left of a large blue seven above a small green circle"

TASK = "generate"


def run_generate(sketch, image, text, audio, n, temperature, *sliders):
    """/generate: VAE samples, reconstruction, interpolation, GAN samples, speech, fusion weights, ELBO terms."""
    drawing = drawn_image(sketch)
    inputs = {"image": drawing if drawing is not None else image, "text": text, "audio": audio,
              "n": int(n), "temperature": float(temperature), "sliders": [float(s) for s in sliders]}
    vae = predict(TASK, None, model="vae", **inputs)
    gan = predict(TASK, None, model="gan", **inputs)
    e = vae.extras
    beside = [x for x in (e.input_image, e.reconstruction) if x is not None]
    interpolation = image_grid(e.interpolation, INTERPOLATION_STEPS, 3) if e.interpolation is not None else None
    elbo = pd.DataFrame([{"term": k, "nats": round(v, 2)} for k, v in e.elbo.items()])
    return (image_grid(e.samples, 8), vae.output, image_grid(np.stack(beside), 2, 6), interpolation,
            image_grid(gan.extras.samples, 8), gan.output, e.speech, spectrogram(e.speech_mel),
            fusion_frame(vae.fusion_weights), note(vae, "fusion"), fusion_frame(gan.fusion_weights), elbo,
            explanations(vae, gan))


def run_scene(caption, seed):
    """/generate_scene: a caption -> the composed scene and what the captioner reads in it."""
    seed = int(seed) if isinstance(seed, (int, float)) and float(seed).is_integer() else seed
    p = predict(TASK, None, text=caption, model="scene", seed=seed)
    e = p.extras
    verdict = "read back exactly as asked" if e.read_back == e.asked else \
        f"{e.word_agreement:.0%} of the words read back as asked"
    reading = (f"**Asked:** {e.asked}  \n**The captioner reads:** {e.read_back}  \n**Check:** {verdict}.\n\n"
               f"<small>{p.notes['scene']}</small>")
    return Image.fromarray(e.image).resize((288, 288), Image.Resampling.NEAREST), reading


def explanations(vae, gan) -> str:
    """How every output was computed, from the two predictions' notes."""
    lines = [vae.notes[k] for k in ("samples", "reading", "elbo", "speech", "sliders", "audio") if k in vae.notes]
    return "<small>" + "<br>".join(lines + [gan.notes["samples"], gan.notes["fusion"]]) + "</small>"


def build(inputs: dict) -> None:
    """The panel and its /generate endpoint. inputs: the shared "image", "text", "audio" components."""
    gr.Markdown("Draw a digit (or use the uploaded image), type it and/or say it: the multimodal VAE and the "
                "conditional GAN draw it, and the VAE says it. A drawing is used instead of the upload.")
    with gr.Row():
        sketch = gr.Sketchpad(label="Draw a digit", type="pil", canvas_size=(280, 280), height=300,
                              brush=gr.Brush(colors=["#000000"], color_mode="fixed", default_size=14))
        with gr.Column():
            n = gr.Slider(1, MAX_SAMPLES, value=8, step=1, label="Samples per model")
            temperature = gr.Slider(*TEMPERATURE_RANGE, value=1.0, step=0.05,
                                    label="Temperature (VAE: posterior sd scale; GAN: truncated-noise scale)")
            sliders = [gr.Slider(-SLIDER_RANGE, SLIDER_RANGE, value=0.0, step=0.25, label=f"Latent direction {i + 1}")
                       for i in range(N_SLIDERS)]
            go = gr.Button("Generate", variant="primary")
    with gr.Row():
        with gr.Column():
            vae_samples = picture(label="VAE samples (joint posterior)")
            vae_reading = gr.Markdown()
            recon = picture(label="Input | VAE reconstruction (joint mean + sliders)")
            interpolation = picture(label="Interpolation: image posterior -> text+voice posterior")
        with gr.Column():
            gan_samples = picture(label="GAN samples (conditioned on the classifier's class probabilities)")
            gan_reading = gr.Markdown()
            speech = gr.Audio(label="The VAE says it (Griffin-Lim)", type="numpy", interactive=False)
            mel = picture(label="Decoded log-mel (what you hear)")
    with gr.Row():
        with gr.Column():
            fusion = fusion_chart("VAE fusion weights (precision share in the joint latent)")
            fusion_note = gr.Markdown()
        with gr.Column():
            gate = fusion_chart("GAN condition: the classifier's gate weights")
            elbo = gr.Dataframe(label="ELBO terms for this input", interactive=False)
    notes = gr.Markdown()
    ins = [sketch, inputs["image"], inputs["text"], inputs["audio"], n, temperature, *sliders]
    outs = [vae_samples, vae_reading, recon, interpolation, gan_samples, gan_reading, speech, mel, fusion,
            fusion_note, gate, elbo, notes]
    go.click(run_generate, ins, outs, api_name="generate")
    for s in sliders:
        s.release(run_generate, ins, outs, api_name=False)
    scene_panel()


def scene_panel() -> None:
    """Caption -> scene, read back by the captioner; endpoint /generate_scene."""
    gr.Markdown("### A scene from a caption\nObjects: `a <small|large> <colour> <shape or digit>`, joined by "
                "`left of`, `above` or `below` (at most 4). Digits are drawn by the GAN above; the captioner "
                "then reads the scene back.")
    with gr.Row():
        caption = gr.Textbox(label="Scene caption", value=SCENE_EXAMPLE, max_length=MAX_CHARS, scale=4)
        seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", scale=1)
        go = gr.Button("Compose", scale=1)
    with gr.Row():
        scene = picture(label="Composed scene", height=288)
        reading = gr.Markdown()
    go.click(run_scene, [caption, seed], [scene, reading], api_name="generate_scene")
