"""Task -> model registry, timm-style: `@register` on plain factories, `list_models`, `load`.

Every model is built once per process and shared (the UI and the Python API get the same
object). Every model's `predict(...)` returns a `Prediction`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .errors import MMDemoError


@dataclass
class Prediction:
    """What every task returns. Each explanation is a tensor the model itself computed."""
    task: str                               # "vqa", "caption", "classify"
    model: str                              # registry name of the model that answered
    output: str                             # the answer / caption / class label
    scores: dict[str, float]                # top candidates -> probability
    fusion_weights: dict[str, float]        # modality -> weight (sums to 1), from the model
    attention: dict[str, np.ndarray]        # "image": H x W in 0..1, "text": one weight per token, ...
    tokens: dict[str, list[str]] = field(default_factory=dict)   # labels of 1-D attention arrays
    notes: dict[str, str] = field(default_factory=dict)          # how each explanation was computed
    extras: dict[str, Any] = field(default_factory=dict)         # task-specific results (beams, per-modality
                                                                 # predictions, ablations, ...)


_FACTORIES: dict[str, dict[str, Callable[[], Any]]] = {}   # task -> name -> factory
_DEFAULTS: dict[str, str] = {}                               # task -> default model name
_LOADED: dict[tuple[str, str], Any] = {}                     # (task, name) -> ready model
_AVAILABLE: dict[tuple[str, str], Callable[[], tuple[bool, str]]] = {}   # (task, name) -> availability check
_LOCK = threading.Lock()


def register(task: str, name: str | None = None, default: bool = False,
             available: Callable[[], tuple[bool, str]] | None = None):
    """Decorator: register a zero-argument factory that returns a ready model for `task`.
    available: optional quick check -> (usable here, message), for models that live elsewhere
    (e.g. on the Hugging Face Hub); loading an unavailable model raises its message."""
    def wrap(fn):
        model_name = name or fn.__name__
        _FACTORIES.setdefault(task, {})[model_name] = fn
        if available is not None:
            _AVAILABLE[(task, model_name)] = available
        if default or task not in _DEFAULTS:
            _DEFAULTS[task] = model_name
        return fn
    return wrap


def list_tasks() -> list[str]:
    return sorted(_FACTORIES)


def list_models(task: str | None = None) -> list[str]:
    """Names of the registered models of `task` (default model first), or of all tasks."""
    if task is None:
        return [f"{t}/{n}" for t in list_tasks() for n in list_models(t)]
    if task not in _FACTORIES:
        raise MMDemoError(f"Unknown task {task!r}; known tasks: {', '.join(list_tasks())}.")
    names = sorted(_FACTORIES[task])
    names.remove(_DEFAULTS[task])
    return [_DEFAULTS[task]] + names


def availability(task: str, name: str) -> tuple[bool, str]:
    """(usable here, how or why not): built-in models always are; backends answer quickly."""
    check = _AVAILABLE.get((task, name))
    return check() if check else (True, "built in")


def load(task: str, name: str | None = None):
    """The ready, shared model `name` of `task` (the default one if no name is given)."""
    names = list_models(task)
    name = name or _DEFAULTS[task]
    if name not in names:
        raise MMDemoError(f"No {task} model named {name!r}; registered: {', '.join(names)}.")
    with _LOCK:   # build each model once, even when several requests ask at the same time
        if (task, name) not in _LOADED:
            ok, message = availability(task, name)
            if not ok:
                raise MMDemoError(message)
            _LOADED[(task, name)] = _FACTORIES[task][name]()
        return _LOADED[(task, name)]


def use_native_conv_kernels():
    """oneDNN (mkldnn) builds and keeps a kernel and its buffers for every input shape it sees; recordings
    and texts come in every length, so a long-running server kept growing (benchmarks/memory.py: 1,500
    classify requests of random length, RSS +63.7 MB). PyTorch's native CPU convolutions keep nothing
    (+1.8 MB) and were as fast here (benchmarks/latency.py: VQA and classify the same, caption +1-2 ms).
    app.py calls this at start; call it in your own long-running server too."""
    import torch
    torch.backends.mkldnn.enabled = False
