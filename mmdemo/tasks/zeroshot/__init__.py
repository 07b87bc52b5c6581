"""Zero-shot image labels: the person types the labels. Models: the pretrained backends
(mmdemo/backends/hf.py registers CLIP); this folder holds the tab (panel.py)."""

TITLE, ORDER = "Zero-shot labels", 40
