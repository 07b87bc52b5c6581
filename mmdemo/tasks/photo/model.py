"""The photo recogniser: EfficientNet-Lite0 (ImageNet-1k) with Grad-CAM, registered as the default
"photo" model. Built on its first request, not at app start (warm=False)."""
from __future__ import annotations

from dataclasses import dataclass

from ...backends import efficientnet_lite
from ...prediction import Prediction
from ...registry import register


@dataclass
class PhotoExtras:
    crop: object                          # the 224x224 centre crop the model saw (PIL), for the overlay
    class_indices: list[int]              # ImageNet indices of the top-5 labels


class EfficientNetLite0Photo:
    name = "efficientnet-lite0"

    def predict(self, image=None, text=None, audio=None) -> Prediction:
        result = efficientnet_lite.recognise(image, top_k=5)
        return Prediction(
            task="photo", model=self.name, output=result["labels"][0],
            scores=dict(zip(result["labels"], result["probabilities"])), fusion_weights={},
            attention={"image": result["heatmap"]},
            extras=PhotoExtras(result["crop"], result["class_indices"]),
            notes={"image": result["notes"]["heatmap"] + " Grad-CAM (Selvaraju et al. 2017): the activations "
                            "weighted by the class score's mean gradient per channel, ReLU.",
                   "scores": "Softmax over the 1000 ImageNet-1k classes (EfficientNet-Lite0, 4.7 M parameters, "
                             "on the 224x224 centre crop); the five most probable.",
                   "fusion": "No fusion weight: the image is the only input."})

    def check_map(self, image) -> dict:
        """Deletion AUC of the Grad-CAM map vs random deletion orders (efficientnet_lite.deletion_auc)."""
        return efficientnet_lite.deletion_auc(image)


@register("photo", "efficientnet-lite0", default=True, warm=False)
def efficientnet_lite0():
    efficientnet_lite.get_model()        # load now, under the registry's lock
    return EfficientNetLite0Photo()
