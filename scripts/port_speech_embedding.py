"""Copy Google's speech_embedding weights out of the openWakeWord 0.4.0 wheel into
checkpoints/speech-embedding/ (safetensors), and check mmdemo's torch port against ONNX Runtime.

    pip install onnx onnxruntime        # only for this one-time port, not needed by the app
    python scripts/port_speech_embedding.py [--wheel openwakeword-0.4.0-py3-none-any.whl]

Without --wheel it runs `pip download openwakeword==0.4.0 --no-deps` (PyPI is reachable here).
It also writes tests/data/speech_embedding_reference.npz: a seeded test signal, the ONNX mel and
the ONNX embedding, which tests/test_speech_embedding.py compares the torch port against.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from mmdemo import checkpoint, paths
from mmdemo.nn import speech_embedding as se
from mmdemo.paths import ROOT

MODELS = "openwakeword/resources/models/"
REFERENCE = ROOT / "tests" / "data" / "speech_embedding_reference.npz"
CARD = """# speech-embedding: Google's pretrained speech embedding CNN (frozen)

- What: the `speech_embedding` model of Lin et al. 2020, *Training keyword spotters with limited and
  synthesized speech data* (ICASSP 2020, arXiv:2002.01322), by Google, released on TF Hub
  (https://tfhub.dev/google/speech_embedding/1) under the **Apache-2.0** license. Pretrained by Google
  on a large corpus of real speech; we do not train it.
- From where: the ONNX re-implementation in the openWakeWord 0.4.0 wheel on PyPI (David Scripka,
  Apache-2.0 code; its README credits this model to Google under Apache-2.0 and puts its own wake-word
  models, which we do not use, under CC BY-NC-SA 4.0). `python scripts/port_speech_embedding.py`
  copies the weights into this safetensors file.
- Input: `mmdemo.nn.speech_embedding.speech_mel` (torchaudio MelSpectrogram, 32 bands, 60-3800 Hz,
  25 ms windows every 10 ms, log10 scaled as the model expects). Output: a 96-d vector per 80 ms,
  each from a 0.76 s window.
- Check: the torch port reproduces ONNX Runtime's mel and embedding on a seeded test signal:
  max |difference| mel {mel_diff:.2e}, embedding {emb_diff:.2e} (values up to {emb_max:.1f}).
- Used by: the audio encoder of `audio-digits` and of the `digits-*` classifiers, frozen, followed by
  layers trained by this project.
"""


def fetch_wheel(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "openwakeword==0.4.0", "--no-deps", "-q", "-d", str(tmp)],
                   check=True)
    return next(tmp.glob("openwakeword-0.4.0-*.whl"))


def onnx_tensors(model) -> list[np.ndarray]:
    """Conv and BatchNormalization parameters in graph order = the torch state_dict order."""
    from onnx import numpy_helper
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return [inits[i] for n in model.graph.node if n.op_type in ("Conv", "BatchNormalization") for i in n.input[1:]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wheel", type=Path, help="openwakeword-0.4.0 wheel (default: pip download it)")
    args = parser.parse_args()
    import onnx
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as z:
            emb_bytes, mel_bytes = z.read(MODELS + "embedding_model.onnx"), z.read(MODELS + "melspectrogram.onnx")
    net = se.SpeechEmbedding()
    keys = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    tensors = onnx_tensors(onnx.load_from_string(emb_bytes))
    assert len(keys) == len(tensors), (len(keys), len(tensors))
    state = net.state_dict()
    for k, t in zip(keys, tensors):
        assert state[k].shape == t.shape, f"{k}: torch {tuple(state[k].shape)} vs onnx {t.shape}"
        state[k] = torch.from_numpy(t.copy())
    net.load_state_dict(state)

    # check the port: a seeded 1.5 s signal (noise bursts + a chirp), through ONNX Runtime and through torch
    import onnxruntime as ort
    rng = np.random.default_rng(0)
    t = np.arange(24000) / 16000
    wave = (0.3 * np.sin(2 * np.pi * (200 + 900 * t) * t) * (t > 0.3) * (t < 1.1)
            + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    mel_onnx = ort.InferenceSession(mel_bytes, options).run(None, {"input": wave[None] * 32767})[0].squeeze() / 10 + 2
    windows = np.stack([mel_onnx[i:i + se.WINDOW] for i in range(0, len(mel_onnx) - se.WINDOW + 1, se.STEP)])
    emb_onnx = ort.InferenceSession(emb_bytes, options).run(None, {"input_1": windows[..., None]})[0].reshape(len(windows), -1)
    mel_torch = se.speech_mel(wave)
    with torch.no_grad():
        emb_torch = net(torch.as_tensor(mel_onnx)[None])[0].numpy()
    mel_diff = float(np.abs(mel_torch.numpy() - mel_onnx).max())
    emb_diff = float(np.abs(emb_torch - emb_onnx).max())
    print(f"mel {mel_onnx.shape}: max |torch - onnx| {mel_diff:.2e}; embedding {emb_onnx.shape}: {emb_diff:.2e}")
    assert mel_diff < 1e-3 and emb_diff < 1e-3
    checkpoint.save(paths.checkpoints("speech-embedding"), net, {"task": "speech-embedding", "source": "openwakeword==0.4.0 " + MODELS +
                                         "embedding_model.onnx", "n_mels": se.N_MELS, "window": se.WINDOW,
                                         "step": se.STEP, "dim": se.DIM, "license": "Apache-2.0 (Google)",
                                         "port_check": {"mel_max_abs_diff": mel_diff, "embedding_max_abs_diff": emb_diff}},
                    CARD.format(mel_diff=mel_diff, emb_diff=emb_diff, emb_max=float(np.abs(emb_onnx).max())))
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, wave=wave, mel=mel_onnx.astype(np.float32), embedding=emb_onnx.astype(np.float32))
    print(f"wrote {paths.checkpoints('speech-embedding')} and {REFERENCE}")


if __name__ == "__main__":
    main()
