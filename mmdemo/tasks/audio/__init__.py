"""Audio: sound classification (task "audio") and transcription (task "transcribe") with the frames
each listened to. Models: the pretrained backends (mmdemo/backends/hf.py registers AST and Whisper);
this folder holds the tab (panel.py)."""

TITLE, ORDER = "Audio", 50
