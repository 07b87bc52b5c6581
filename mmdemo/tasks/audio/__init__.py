"""Audio: sound classification (task "audio") and transcription (task "transcribe") with the frames
each listened to. Models: Whisper tiny.en offline (model.py, the default recogniser) and the pretrained
Hub backends (mmdemo/backends/hf.py registers AST and Whisper); the tab is panel.py."""
from . import model  # noqa: F401  (registers the offline recogniser)

TITLE, ORDER = "Audio", 50
