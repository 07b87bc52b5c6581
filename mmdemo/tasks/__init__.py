"""Task folders: each sub-package here is one task, found by its folder name; no table elsewhere
lists them. The training and evaluation dispatchers, the app's tabs and the test suite all come from
these folders.

A task folder NAME holds (all but __init__.py optional):
    __init__.py   TITLE (the app tab's title) and ORDER (its position); imports model.py
    model.py      the task's model(s), each registered with @mmdemo.register(NAME, ...)
    data.py       the task's data
    train.py      train(epochs=None, seed=0, **options) -> checkpoint.Trained   (python -m mmdemo.train NAME)
                  add_arguments(parser) for the task's own options
    evaluate.py   evaluate(model, limit=None, **options) -> dict                 (python -m mmdemo.evaluate NAME)
                  add_arguments(parser), report(metrics) -> str
    panel.py      build(inputs): the tab's components and endpoints; wiring only

Task folders kept elsewhere (your own): MMDEMO_TASK_PATH=/path/a:/path/b, each path holding task folders.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil

__path__ = list(__path__) + [p for p in os.environ.get("MMDEMO_TASK_PATH", "").split(os.pathsep) if p]


def names() -> list[str]:
    """Every task folder, in tab order (ORDER, then name)."""
    found = sorted({m.name for m in pkgutil.iter_modules(__path__) if m.ispkg})
    return sorted(found, key=lambda n: (getattr(package(n), "ORDER", 100), n))


def package(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def part(name: str, part: str):
    """The task folder's module `part` ("train", "evaluate", "panel", ...), or None if it has none."""
    package(name)
    if importlib.util.find_spec(f"{__name__}.{name}.{part}") is None:
        return None
    return importlib.import_module(f"{__name__}.{name}.{part}")


def with_part(part_name: str) -> list[str]:
    """The tasks that have a module `part_name` (e.g. every trainable task)."""
    return [n for n in names() if importlib.util.find_spec(f"{__name__}.{n}.{part_name}") is not None]


def load_all() -> None:
    """Import every task folder (which registers its models)."""
    for n in names():
        package(n)
