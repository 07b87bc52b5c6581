"""Open-vocabulary labels offline: ConSE (Norouzi et al. 2014) over EfficientNet-Lite0's ImageNet
probabilities and MiniLM label embeddings (mmdemo/backends/conse.py), registered as the default
"zeroshot" model; CLIP (backends/hf.py) remains a choice where it is downloaded.
Built on its first request, not at app start (warm=False)."""
from __future__ import annotations

from dataclasses import dataclass

from ...backends import conse, efficientnet_lite
from ...inputs import load_text
from ...prediction import Prediction
from ...registry import register


@dataclass
class ConseExtras:
    image: object                         # the 224x224 crop the classifier saw (PIL), for the overlay
    classes: list[dict]                   # per ImageNet class of the best label: weight, similarity, contribution
    top_class: str                        # the ImageNet class the Grad-CAM map is for


class ConseZeroShot:
    name = "conse"

    def predict(self, image=None, text=None, audio=None) -> Prediction:
        labels = load_text(text, "list of labels")
        result = conse.label_photo(image, labels)
        x, crop = efficientnet_lite.preprocess(image)
        top_class, top_weight = result["imagenet"][0]
        class_index = efficientnet_lite.imagenet_categories().index(top_class)
        heatmap = efficientnet_lite.grad_cam(efficientnet_lite.get_model(), x, class_index)
        best = result["labels"][0]
        classes = [{"ImageNet class": name, "weight": round(w, 4), "similarity to label": round(s, 4),
                    "contribution": round(c, 4)} for name, w, s, c in result["explanations"][best]]
        return Prediction(
            task="zeroshot", model=self.name, output=best, scores=dict(zip(result["labels"], result["scores"])),
            fusion_weights={}, attention={"image": heatmap}, extras=ConseExtras(crop, classes, top_class),
            notes={"image": f"Grad-CAM (pytorch-grad-cam) of EfficientNet-Lite0 for its top ImageNet class "
                            f"'{top_class}' (weight {top_weight:.2f} in the photo's embedding), on the 224x224 crop.",
                   "scores": result["notes"]["scores"] + " Scores are cosines (-1..1), not probabilities.",
                   "classes": f"Which ImageNet classes carried the match for '{best}': each row's contribution = "
                              "its weight x its name's similarity to the label / |photo vector|; they sum to the score.",
                   "fusion": "No fusion weight: image and text meet in one embedding space (ConSE), no gate."})


@register("zeroshot", "conse", default=True, warm=False)
def conse_zeroshot():
    efficientnet_lite.get_model()
    conse.get_text_encoder()             # MiniLM (shared) + the 1000 class-name embeddings
    return ConseZeroShot()
