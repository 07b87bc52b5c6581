"""The pieces every panel uses to talk to models and show their answers: the one way a panel calls a
model (errors become a message the person sees), the model selector, output pictures, notes, and
unwrapping Gradio's own input values before a model sees them."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import numpy as np
from PIL import Image

from .. import registry
from ..errors import MMDemoError
from ..prediction import Prediction
from .draw import fusion_frame

log = logging.getLogger("mmdemo")


def predict(task: str, model_name: str | None, **inputs) -> Prediction:
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


def fusion_chart(label: str, height: int = 200) -> gr.BarPlot:
    """The bar chart of a Prediction's fusion weights (one bar per modality, 0..1); fed by fusion_frame."""
    return gr.BarPlot(x="modality", y="weight", y_lim=[0, 1], sort=None, height=height, label=label)


def picture(label: str, **kw) -> gr.Image:
    """An output picture (overlay, spectrogram, strip). Sent as JPEG: Gradio's default WebP took
    15x longer to encode (60 ms for the caption strip; benchmarks/bench.py measures end to end)."""
    return gr.Image(label=label, type="pil", interactive=False, format="jpeg", **kw)


def note(pred, key: str) -> str:
    return f"<small>{pred.notes.get(key, '')}</small>"


def drawn_image(sketch) -> Image.Image | None:
    """A gr.Sketchpad value ({"background", "layers", "composite"}) -> the drawn picture, or None when nothing
    dark was drawn on it (then the panel uses the uploaded image). Models never see Gradio's dicts."""
    if not isinstance(sketch, dict) or sketch.get("composite") is None:
        return None
    picture = sketch["composite"]
    a = np.asarray(picture.convert("L") if isinstance(picture, Image.Image) else picture)
    if a.ndim == 3:
        a = a[..., :3].mean(-1) if a.shape[-1] < 4 else np.where(a[..., 3] > 0, a[..., :3].mean(-1), 255)
    if not (a.size and (a < 128).any()):
        return None
    return picture if isinstance(picture, Image.Image) else Image.fromarray(np.asarray(picture))
