"""mmdemo: multimodal demo models that explain themselves (fusion weights + attention maps).

    import mmdemo
    mmdemo.list_models("vqa")
    pred = mmdemo.load("vqa").predict(image="cat.png", text="what color is the shape?")
"""
from .errors import MMDemoError
from .registry import Prediction, list_models, list_tasks, load, register, use_native_conv_kernels
from . import models  # noqa: F401  (registers the built-in models)

__all__ = ["MMDemoError", "Prediction", "list_models", "list_tasks", "load", "register",
           "use_native_conv_kernels"]
