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
_LOCK = threading.Lock()


def register(task: str, name: str | None = None, default: bool = False):
    """Decorator: register a zero-argument factory that returns a ready model for `task`."""
    def wrap(fn):
        model_name = name or fn.__name__
        _FACTORIES.setdefault(task, {})[model_name] = fn
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


def load(task: str, name: str | None = None):
    """The ready, shared model `name` of `task` (the default one if no name is given)."""
    names = list_models(task)
    name = name or _DEFAULTS[task]
    if name not in names:
        raise MMDemoError(f"No {task} model named {name!r}; registered: {', '.join(names)}.")
    with _LOCK:   # build each model once, even when several requests ask at the same time
        if (task, name) not in _LOADED:
            _LOADED[(task, name)] = _FACTORIES[task][name]()
        return _LOADED[(task, name)]
