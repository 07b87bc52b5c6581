"""Pretrained models from elsewhere, in the same registry and returning the same Prediction:
hf.py (BLIP, ViLT, CLIP, AST, Whisper from the Hugging Face Hub or a folder), hf_random.py (tiny or
full-size random versions of them, for tests and benchmarks)."""
