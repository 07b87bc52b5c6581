"""Captioning: a CNN region grid and an LSTM decoder with adaptive attention (model.py), trained on
composed scenes of easy-VQA shapes and MNIST digits (datasets/scenes.py, train.py), measured by BLEU-4,
exact match and grounding (evaluate.py); the app's tab (panel.py)."""
from . import model  # noqa: F401  (registers the models)

TITLE, ORDER = "Captioning", 20
