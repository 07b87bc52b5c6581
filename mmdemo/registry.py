"""Task -> model registry, timm-style: `@register` on plain factories, `list_models`, `load`.

Every model is built once per process and shared (the UI and the Python API get the same
object). Every model's `predict(...)` returns a `Prediction` (prediction.py). A name is registered
once: a second `register` of the same task/name is refused.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import MMDemoError


_FACTORIES: dict[str, dict[str, Callable[[], Any]]] = {}   # task -> name -> factory
_DEFAULTS: dict[str, str] = {}                               # task -> default model name
_LOADED: dict[tuple[str, str], Any] = {}                     # (task, name) -> ready model
_AVAILABLE: dict[tuple[str, str], Callable[[], tuple[bool, str]]] = {}   # (task, name) -> availability check
_COLD: set[tuple[str, str]] = set()                          # (task, name) not built at app start (warm=False)
_BUILDING: dict[tuple[str, str], threading.Lock] = {}         # (task, name) -> lock held while it is built
_LOCK = threading.Lock()


def register(task: str, name: str | None = None, default: bool = False,
             available: Callable[[], tuple[bool, str]] | None = None, warm: bool = True):
    """Decorator: register a zero-argument factory that returns a ready model for `task`.
    available: optional quick check -> (usable here, message), for models that live elsewhere
    (e.g. on the Hugging Face Hub); loading an unavailable model raises its message.
    warm=False: the app does not build this model while it starts (mmdemo/app.py warm_up); it is
    built on its first request instead. For big models (Whisper, EfficientNet) that would make the
    app's cold start slower for every task."""
    def wrap(fn):
        model_name = name or fn.__name__
        if model_name in _FACTORIES.get(task, {}):
            raise MMDemoError(f"A {task} model named {model_name!r} is already registered; pick another name.")
        _FACTORIES.setdefault(task, {})[model_name] = fn
        if available is not None:
            _AVAILABLE[(task, model_name)] = available
        if not warm:
            _COLD.add((task, model_name))
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


def warm(task: str, name: str) -> bool:
    """Whether the app builds this model at start (register(..., warm=False) says no)."""
    return (task, name) not in _COLD


def load(task: str, name: str | None = None):
    """The ready, shared model `name` of `task` (the default one if no name is given)."""
    names = list_models(task)
    name = name or _DEFAULTS[task]
    if name not in names:
        raise MMDemoError(f"No {task} model named {name!r}; registered: {', '.join(names)}.")
    if (task, name) in _LOADED:
        return _LOADED[(task, name)]
    with _LOCK:
        lock = _BUILDING.setdefault((task, name), threading.Lock())
    with lock:    # build each model once, even when several requests ask at the same time; a model
        if (task, name) not in _LOADED:     # being built never holds up a request for another one
            ok, message = availability(task, name)
            if not ok:
                raise MMDemoError(message)
            _LOADED[(task, name)] = _FACTORIES[task][name]()
        return _LOADED[(task, name)]


def is_registered(task: str, name: str) -> bool:
    return name in _FACTORIES.get(task, {})


def set_default(task: str, name: str) -> None:
    if not is_registered(task, name):
        raise MMDemoError(f"No {task} model named {name!r} to make the default.")
    _DEFAULTS[task] = name
