"""Cross-modal generation (image / text / speech of a digit -> images and speech): a multimodal VAE
with a product-of-experts joint posterior (any subset of modalities) and a conditional DCGAN, side by
side (model.py); the speech target and training tuples (data.py); training (train.py); measurement
with a separately trained evaluation CNN (evaluate.py); the tab (panel.py)."""
from . import model  # noqa: F401  (registers the model)

TITLE, ORDER = "Generate", 40
