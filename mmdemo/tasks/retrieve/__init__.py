"""Cross-modal search in a shared embedding space (image, text, speech): projection heads trained
with symmetric InfoNCE (CLIP-style, learned temperature) over the project's frozen encoders
(model.py, train.py), frozen features and galleries (data.py), recall and zero-shot measurement
(evaluate.py), the map of the space (space_map.py) and the "Search" tab (panel.py)."""
from . import model  # noqa: F401  (registers the models)

TITLE, ORDER = "Search", 40
