"""Speech: FSDD loader, synthetic voices, augmentation, log-mel features, the audio encoder, the
committed spoken-digit checkpoint."""
import shutil

import numpy as np
import pytest
import torch

from mmdemo import paths
from mmdemo.datasets import fsdd, spoken_digits
from mmdemo.errors import MMDemoError
from mmdemo.inputs import load_audio
from mmdemo.nn import audio
from mmdemo.tasks.classify.evaluate import audio_accuracy, audio_probs
from mmdemo.tasks.classify.model import AudioDigitNet
from mmdemo.tasks.classify.train import train_audio_net

RATE = audio.SAMPLE_RATE
pytestmark = pytest.mark.data("fsdd")      # every test here reads FSDD or trains on it


def tone(freq=440.0, seconds=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_fsdd_official_split_and_speakers():
    waves, labels, speakers = fsdd.fsdd_clips()
    assert len(waves) == 2500 and sorted(set(speakers)) == sorted(fsdd.SPEAKERS)
    train, train_labels, _ = fsdd.fsdd_clips(split="train")
    test, test_labels, _ = fsdd.fsdd_clips(split="test")
    assert len(train) == 2250 and len(test) == 250
    assert np.bincount(test_labels).tolist() == [25] * 10
    one, one_labels, who = fsdd.fsdd_clips(["nicolas"], "test")
    assert len(one) == 50 and set(who) == {"nicolas"}
    assert all(w.dtype == np.float32 and w.ndim == 1 and np.isfinite(w).all() for w in waves[:50])
    # 8 kHz files come out at 16 kHz: twice the samples of the file
    import soundfile as sf
    info = sf.info(str(paths.dataset("fsdd") / "recordings" / "0_jackson_0.wav"))
    assert info.samplerate == 8000
    assert len(fsdd.fsdd_clips(["jackson"], "test")[0][0]) == 2 * info.frames


def test_fsdd_unknown_speaker_and_split_refused():
    with pytest.raises(MMDemoError, match="no speaker"):
        fsdd.fsdd_clips(["alice"])
    with pytest.raises(ValueError):
        fsdd.fsdd_clips(split="dev")


def test_digit_clips_test_is_clean_fsdd_test_and_train_mixes_in_order():
    waves, labels = spoken_digits.digit_clips("test")
    ref, ref_labels, _ = fsdd.fsdd_clips(split="test")
    assert len(waves) == 250 and (labels == ref_labels).all() and np.array_equal(waves[7], ref[7])
    a, la = spoken_digits.digit_clips("train", seed=0, synthetic=False)
    b, lb = spoken_digits.digit_clips("train", seed=0, synthetic=False)
    assert len(a) == 2250 and (la == lb).all() and np.bincount(la).tolist() == [225] * 10


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synthesised_digit_is_trimmed_16k_speech():
    wave = spoken_digits._synthesise("espeak-ng", "en-us+m3", ["-s", "150"], "seven")
    assert wave.dtype == np.float32 and 0.2 * RATE < len(wave) < 1.5 * RATE
    assert np.isfinite(wave).all() and 0.5 < np.abs(wave).max() <= 0.7 + 1e-6


def test_augment_keeps_rate_range_and_is_seeded():
    clip = tone(440.0)
    for seed in range(20):
        out = spoken_digits.augment(clip, np.random.default_rng(seed))
        assert out.dtype == np.float32 and out.ndim == 1 and np.isfinite(out).all()
        assert np.abs(out).max() <= 1.0 and 0.75 * len(clip) < len(out) <= 3 * RATE
        # still 16 kHz: the tone's peak moves at most by the ±20 % speed change (plus one FFT bin)
        spectrum = np.abs(np.fft.rfft(out))
        peak = np.fft.rfftfreq(len(out), 1 / RATE)[spectrum.argmax()]
        assert 440 / 1.26 < peak < 440 / 0.74, (seed, peak)
    same = [spoken_digits.augment(clip, np.random.default_rng(3)) for _ in range(2)]
    assert np.array_equal(*same)
    assert not np.array_equal(same[0], spoken_digits.augment(clip, np.random.default_rng(4)))


def test_trim_drops_silence_around_the_word():
    word = tone(300, 0.3)
    padded = np.concatenate([np.zeros(RATE // 2, np.float32), word, np.zeros(RATE // 2, np.float32)])
    trimmed = spoken_digits.trim(padded)
    assert abs(len(trimmed) - len(word)) <= 2 * 320
    assert len(spoken_digits.trim(np.zeros(RATE, np.float32))) == RATE   # all quiet: unchanged


def test_log_mel_shape_and_level_invariance():
    from mmdemo.nn import speech_embedding as se
    pad = int(audio.PAD_SECONDS * RATE)
    mel = audio.log_mel(tone(500, 1.0))
    assert mel.dtype == torch.float32 and mel.shape == (audio.N_MELS, se.frames_for(RATE + 2 * pad))
    loud, quiet = audio.log_mel(tone(500, 1.0)), audio.log_mel(0.01 * tone(500, 1.0))
    assert torch.allclose(loud, quiet, atol=1e-3)   # every clip is scaled to the same peak
    assert audio.log_mel(np.zeros(1, np.float32)).shape[1] >= se.WINDOW   # one sample still fills a window


@pytest.mark.parametrize("bad, message", [(np.zeros(0, np.float32), "non-empty"),
                                          (np.array([0.1, np.nan] * 300, np.float32), "NaN"),
                                          (np.zeros((2, 100), np.float32), "mono")])
def test_log_mel_refuses_bad_clips(bad, message):
    with pytest.raises(MMDemoError, match=message):
        audio.log_mel(bad)


@pytest.mark.parametrize("rate", [8000, 44100, 96000])
def test_odd_inputs_reach_16k_mono(rate):
    stereo = (np.stack([tone(440, 0.5, rate), tone(440, 0.5, rate)], 1) * 32767).astype(np.int16)
    out_rate, wave = load_audio((rate, stereo), target_rate=RATE)
    assert out_rate == RATE and wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - RATE // 2) <= 2 and np.isfinite(wave).all()
    assert audio.log_mel(wave).shape[0] == audio.N_MELS


def test_odd_inputs_refused_or_handled():
    for bad, message in [((RATE, np.zeros(0, np.int16)), "empty"), ((RATE, np.array([np.nan, 0.1])), "NaN"),
                         (None, "No audio"), ((12, np.zeros(100)), "sample rate")]:
        with pytest.raises(MMDemoError, match=message):
            load_audio(bad)
    with pytest.raises(MMDemoError, match="at least"):                # one sample: too short to hear a word
        load_audio((8000, np.array([1000], np.int16)))


def test_encoder_frame_weights_are_a_softmax_over_valid_frames():
    from mmdemo.nn import speech_embedding as se
    torch.manual_seed(0)
    enc = audio.AudioEncoder(dim=32).eval()
    mels = [audio.log_mel(tone(300 + 100 * i, s)) for i, s in enumerate([0.31, 0.5, 0.05, 1.2])]
    x, lengths = audio.batch_mels(mels)
    pooled, weights = enc(x, lengths)
    assert pooled.shape == (4, 32) and weights.shape == x.shape[::2]
    assert torch.allclose(weights.sum(1), torch.ones(4), atol=1e-5)
    centre = (se.WINDOW - se.STEP) // 2    # each 80 ms vector's weight sits at the centre of its window
    for i, n in enumerate(lengths.tolist()):
        assert (weights[i, n:] == 0).all() and (weights[i, :centre] == 0).all()
        assert (weights[i, centre:centre + se.STEP * se.n_vectors(n)] > 0).all()
    mask = torch.arange(x.shape[2]) < lengths[:, None]   # a mask works like lengths
    assert torch.allclose(enc(x, mask)[1], weights)
    alone = enc(*audio.batch_mels(mels[:1]))[0]          # padding in a batch changes nothing
    assert torch.allclose(alone, pooled[:1], atol=1e-5)


def test_only_the_layers_after_the_pretrained_cnn_train():
    waves, labels, _ = fsdd.fsdd_clips(["theo"], "test")
    net = train_audio_net(waves[:40], labels[:40], epochs=1, views=1, batch=8, dim=32, verbose=False)
    torch.manual_seed(0)                                         # the same initial weights as training's
    fresh = AudioDigitNet(32)
    for k, v in fresh.encoder.embedding.state_dict().items():   # the frozen CNN is untouched
        assert torch.equal(v, net.encoder.embedding.state_dict()[k])
    assert not torch.equal(fresh.encoder.proj[1].weight, net.encoder.proj[1].weight)
    probs = audio_probs(net, waves[:5])
    assert probs.shape == (5, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_committed_checkpoint_hears_fsdd_test_digits():
    """Fixed slice: every other clip of the official FSDD test split (125 clips, all digits and speakers)."""
    net = AudioDigitNet.from_checkpoint(paths.checkpoints("audio-digits"))
    waves, labels = spoken_digits.digit_clips("test")
    assert audio_accuracy(net, waves[::2], labels[::2]) >= 0.95


def test_a_net_trained_without_a_speaker_hears_that_speaker():
    """Speaker-disjoint in small: FSDD only (no synthetic voices), 1 augmented view, 6 epochs, four
    speakers' train split -> the fifth speaker's test clips (the full protocol: python -m mmdemo.evaluate classify --loso)."""
    waves, labels, _ = fsdd.fsdd_clips(["nicolas", "theo", "yweweler", "lucas"], "train")
    net = train_audio_net(waves, labels, epochs=6, views=1, verbose=False)
    held_waves, held_labels, _ = fsdd.fsdd_clips(["jackson"], "test")
    assert audio_accuracy(net, held_waves, held_labels) >= 0.9
