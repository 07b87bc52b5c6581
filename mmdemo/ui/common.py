"""Drawing helpers shared by every task panel, and the one way a panel calls a model.

Every picture here is drawn from a Prediction's own tensors (attention maps, fusion weights)."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image

from .. import registry
from ..data.inputs import load_image
from ..errors import MMDemoError

log = logging.getLogger("mmdemo")
OVERLAY_SIZE = 256


def predict(task: str, model_name: str | None, **inputs) -> registry.Prediction:
    """Run a registered model for a panel: the project's errors become a gr.Error message the
    person sees; anything else is logged and reported without a traceback. The server keeps serving."""
    try:
        return registry.load(task, model_name).predict(**inputs)
    except MMDemoError as e:
        raise gr.Error(str(e), print_exception=False)
    except Exception:
        log.exception("%s failed", task)
        raise gr.Error("The model failed on this input; please try another one.", print_exception=False)


def model_choices(task: str) -> list[tuple[str, str]]:
    """(label, registry name) for a task's models; models that cannot be loaded here (e.g. a Hub
    model that is not downloaded, with the Hub unreachable) are marked "(not downloaded)".
    The checks run in parallel; each takes about a second at most."""
    names = registry.list_models(task)
    with ThreadPoolExecutor(max(1, len(names))) as pool:
        ok = list(pool.map(lambda n: registry.availability(task, n)[0], names))
    return [(n if good else f"{n} (not downloaded)", n) for n, good in zip(names, ok)]


def model_dropdown(task: str, label: str) -> gr.Dropdown:
    """A model selector for a panel, starting on the first model that can be loaded here."""
    choices = model_choices(task)
    ready = [n for lab, n in choices if lab == n]
    return gr.Dropdown(choices, value=(ready or [choices[0][1]])[0], label=label)


def fusion_plot(weights: dict[str, float]):
    """The fusion-weight chart's update: hidden when the model has no fusion weights (its note says why)."""
    return gr.update(value=fusion_frame(weights), visible=bool(weights))


def picture(label: str, **kw) -> gr.Image:
    """An output picture (overlay, spectrogram, strip). Sent as JPEG: Gradio's default WebP took
    15x longer to encode (60 ms for the caption strip; benchmarks/bench.py measures end to end)."""
    return gr.Image(label=label, type="pil", interactive=False, format="jpeg", **kw)


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
