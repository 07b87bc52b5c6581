"""What every model returns: a Prediction. Each explanation in it is a tensor the model itself
computed (or a named, standard method; `notes` says which)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Prediction:
    task: str                               # "vqa", "caption", "classify", ...
    model: str                              # registry name of the model that answered
    output: str                             # the answer / caption / class label
    scores: dict[str, float]                # top candidates -> probability
    fusion_weights: dict[str, float]        # modality -> weight (sums to 1), from the model; {} if it has none
    attention: dict[str, np.ndarray]        # "image": H x W in 0..1, "text": one weight per token, ...
    tokens: dict[str, list[str]] = field(default_factory=dict)   # labels of 1-D attention arrays
    notes: dict[str, str] = field(default_factory=dict)          # how each explanation was computed
    extras: Any = None                      # the task's own results: a small dataclass defined by the task
                                            # (e.g. tasks/classify/model.py ClassifyExtras), or None
