"""Zero-shot image labels: the person types (or says) the labels. Models: ConSE offline (model.py, the
default: EfficientNet-Lite0's ImageNet probabilities x MiniLM label embeddings) and CLIP where it is
downloaded (mmdemo/backends/hf.py); the tab is panel.py."""
from . import model  # noqa: F401  (registers ConSE)

TITLE, ORDER = "Zero-shot labels", 40
