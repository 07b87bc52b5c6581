"""Tri-modal classification (image + text + speech -> class): three encoders and a family of four
fusion variants (model.py); the digits data and corruption protocol (data.py); training on the
built-in digits (train.py) or your own manifest (byod.py); measurement (evaluate.py); the tab (panel.py)."""
from . import model  # noqa: F401  (registers the models)

TITLE, ORDER = "Tri-modal classification", 30
