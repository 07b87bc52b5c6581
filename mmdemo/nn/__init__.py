"""Building blocks by stage, shared by every task: image.py, text.py, audio.py (encoders; the
pretrained speech CNN in speech_embedding.py), pooling.py, fusion.py, and fit.py (the one training loop)."""
