"""The pieces every panel uses to talk to models and show their answers: the one way a panel calls a
model (errors become a message the person sees), the model selector, output pictures, notes, and
unwrapping Gradio's own input values before a model sees them."""
from __future__ import annotations

import base64
import contextlib
import functools
import html
import io
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import numpy as np
from PIL import Image

from .. import registry
from ..errors import MMDemoError
from ..prediction import Prediction
from ..runtime import all_cores
from .draw import fusion_frame

log = logging.getLogger("mmdemo")


MAX_BATCH = 16     # requests of one model answered by one forward pass at most


class Batcher:
    """Concurrent requests for one model share a forward pass: a request that arrives while the model
    is busy waits (it would anyway) and then goes with every other waiting one into one
    model.predict_batch(list of inputs) call. No timer: a request alone runs at once, as batch 1.
    predict_batch answers each request with its Prediction or the exception its own input raised,
    so a bad input fails only its own request. The thread whose request is first in line runs the batch."""

    def __init__(self, model, max_batch: int = MAX_BATCH):
        self.model, self.max_batch = model, max_batch
        self.lock, self.waiting, self.busy = threading.Lock(), [], False

    def __call__(self, **inputs):
        request = {"inputs": inputs, "done": threading.Event(), "lead": False}
        with self.lock:
            self.waiting.append(request)
            request["lead"] = not self.busy
            self.busy = True
        request["done"].wait() if not request["lead"] else None
        if "outcome" not in request:             # told to lead: run the batch this request is first in
            self.run_batch()
        if isinstance(request["outcome"], BaseException):
            raise request["outcome"]
        return request["outcome"]

    def run_batch(self) -> None:
        with self.lock:
            batch, self.waiting = self.waiting[:self.max_batch], self.waiting[self.max_batch:]
        try:
            outcomes = self.model.predict_batch([r["inputs"] for r in batch])
        except Exception as e:                   # not one input's fault: every request of the batch gets it
            outcomes = [e] * len(batch)
        for r, outcome in zip(batch, outcomes):
            r["outcome"] = outcome
            r["done"].set()
        with self.lock:                          # hand the model to the next request in line, if any
            if self.waiting:
                self.waiting[0]["lead"] = True
                self.waiting[0]["done"].set()
            else:
                self.busy = False


BATCHERS: dict[int, Batcher] = {}
BATCHERS_LOCK = threading.Lock()


def batcher(model) -> Batcher:
    """The one Batcher of a model that has predict_batch (models are built once per process)."""
    with BATCHERS_LOCK:
        return BATCHERS.setdefault(id(model), Batcher(model))


def run_model(task: str, model_name: str | None, **inputs) -> Prediction:
    """registry.load(task, model_name).predict(**inputs), through the model's Batcher when it batches, on
    every core when the model says its operators are big enough for that (`all_cores = True`)."""
    model = registry.load(task, model_name)
    with all_cores() if getattr(model, "all_cores", False) else contextlib.nullcontext():
        return batcher(model)(**inputs) if hasattr(model, "predict_batch") else model.predict(**inputs)


def predict(task: str, model_name: str | None, **inputs) -> Prediction:
    """Run a registered model for a panel: the project's errors become a gr.Error message the
    person sees; anything else is logged and reported without a traceback. The server keeps serving.
    Concurrent requests of a model with predict_batch share one forward pass (Batcher)."""
    try:
        return run_model(task, model_name, **inputs)
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


def inline_img(value, label: str = "", height: int | None = None):
    """A picture (PIL image, (H, W[, 3]) uint8 array) -> <img> HTML holding it as a JPEG data URI; None stays
    None. Text is refused: nothing a person typed can become HTML here."""
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError("picture() outputs take a picture (PIL image or array), not text")
    picture = value if isinstance(value, Image.Image) else Image.fromarray(np.asarray(value))
    buf = io.BytesIO()
    picture.convert("RGB").save(buf, "JPEG", quality=90)
    style = f"max-height:{height}px;" if height else ""
    return (f'<img src="data:image/jpeg;base64,{base64.b64encode(buf.getvalue()).decode()}" '
            f'alt="{html.escape(label)}" style="max-width:100%;{style}">')


def inline_jpeg(value: str | None) -> Image.Image | None:
    """A picture() output value (the <img> HTML) -> the picture it holds (None stays None)."""
    if not value:
        return None
    data = value.split("base64,", 1)[1].split('"', 1)[0]
    return Image.open(io.BytesIO(base64.b64decode(data)))


def clickable_picture(label: str, **kw) -> gr.Image:
    """An output picture a person can click (its .select event gets the pixel): a gr.Image, sent as a file,
    JPEG (Gradio's default WebP took 15x longer to encode)."""
    return gr.Image(label=label, type="pil", interactive=False, format="jpeg", **kw)


def picture(label: str, height: int | None = None, **kw) -> gr.HTML:
    """An output picture (overlay, spectrogram, strip) sent inside the answer itself: the panel returns a PIL
    image (or a uint8 array, or None) and the page gets an <img> with the JPEG as a data URI (inline_img).
    A gr.Image writes a file into Gradio's cache that the browser (or gradio_client) then fetches with a
    second request: ~29 ms more per picture here (`python benchmarks/output_pictures.py`), and a file to
    sweep. API clients get the <img> HTML; inline_jpeg() reads the picture back. (The conversion is set on
    the instance: a gr.HTML subclass would make Gradio write a .pyi stub next to this module.)"""
    component = gr.HTML(label=label, show_label=True, container=True, padding=True, js_on_load=None,
                        min_height=height, **kw)
    component.postprocess = functools.partial(inline_img, label=label, height=height)
    return component


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
