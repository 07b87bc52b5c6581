"""The pretrained speech-embedding CNN: the committed safetensors port reproduces ONNX Runtime's output
(reference made by scripts/port_speech_embedding.py from the openWakeWord 0.4.0 wheel)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdemo.nn import speech_embedding as se

REFERENCE = Path(__file__).parent / "data" / "speech_embedding_reference.npz"


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def test_mel_front_end_matches_the_onnx_model(reference):
    mel = se.speech_mel(reference["wave"]).numpy()
    assert mel.shape == reference["mel"].shape == (se.frames_for(len(reference["wave"])), se.N_MELS)
    assert np.abs(mel - reference["mel"]).max() < 1e-3


def test_committed_weights_reproduce_the_onnx_embedding(reference):
    net = se.load_speech_embedding()
    with torch.no_grad():
        out = net(torch.from_numpy(reference["mel"])[None])[0].numpy()
    assert out.shape == reference["embedding"].shape == (se.n_vectors(len(reference["mel"])), se.DIM)
    assert np.abs(out - reference["embedding"]).max() < 1e-3


def test_whole_clip_equals_windows_every_80_ms(reference):
    """No padding in time: one pass over the clip = separate 76-frame windows every 8 frames."""
    net = se.load_speech_embedding()
    mel = torch.from_numpy(reference["mel"])
    with torch.no_grad():
        whole = net(mel[None])[0]
        windows = net(torch.stack([mel[i:i + se.WINDOW] for i in range(0, len(mel) - se.WINDOW + 1, se.STEP)]))[:, 0]
    assert torch.allclose(whole, windows, atol=1e-4)


def test_frozen_and_stays_in_eval_mode():
    net = se.load_speech_embedding()
    net.train()
    assert not net.training and not any(m.training for m in net.modules())
    assert not any(p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match="at least 76"):
        net(torch.zeros(1, se.WINDOW - 1, se.N_MELS))
