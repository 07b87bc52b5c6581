"""mmdemo: multimodal demo models that explain themselves (fusion weights + attention maps).

    import mmdemo
    mmdemo.list_models("vqa")
    pred = mmdemo.load("vqa").predict(image="cat.png", text="what color is the shape?")

Importing mmdemo registers every task folder's models (mmdemo/tasks/) and the pretrained backends
(mmdemo/backends/hf.py; loaded only when chosen).
"""
from .errors import MMDemoError
from .prediction import Prediction
from .registry import list_models, list_tasks, load, register
from .runtime import use_native_conv_kernels
from . import tasks as _tasks

_tasks.load_all()
from .backends import hf as _hf  # noqa: E402,F401  (registers the pretrained backends)

__all__ = ["MMDemoError", "Prediction", "list_models", "list_tasks", "load", "register",
           "use_native_conv_kernels"]
