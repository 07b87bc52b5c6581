"""Bounded cost per input: what decoding one image or one recording may cost, decided from its
header before the expensive work (issue 13). The input layer (load_image, load_audio) calls these.

Why each bound exists (measured on this 2-core CPU before the bounds, benchmarks/attack.py):
- a 1-second clip at 8,001 Hz took 5.9 s and +2.07 GB: resampling between rates with no common
  factor builds a sinc kernel of (new rate) x (old rate) taps. Rates outside STANDARD_RATES are first
  moved to the nearest standard rate by linear interpolation (O(samples)), so the sinc resampler only
  ever sees pairs of standard rates (kernel at most 640 x 455 taps, for 11,025 -> 16,000 Hz).
- an 8-channel 192 kHz FLAC of 40 KB: +511 MB, all channels decoded at once; files are now read in
  blocks and mixed down to mono block by block, and more than MAX_AUDIO_CHANNELS are refused.
- a 40-MP 16-bit PNG of 80 KB: 3.8 s, +988 MB (converted to float64 at full size); the decoded size
  (pixels x bytes per pixel) is checked from the header and a decoded image is reduced to
  WORKING_SIDE before any conversion (no model here looks at more than 384 pixels).
"""
from __future__ import annotations

import time

import numpy as np
from PIL import Image

from .errors import MMDemoError

STANDARD_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400, 192000)
MIN_AUDIO_RATE, MAX_AUDIO_RATE = 1000, 192_000   # Hz; outside this a clip is refused
MAX_AUDIO_CHANNELS = 8                   # more channels are refused from the file's header
AUDIO_BLOCK_FRAMES = 65_536              # a file is decoded this many frames at a time, mixed to mono per block
DECODE_SECONDS = 1.5                     # an audio file whose decoding takes more CPU time is refused
MAX_DECODED_IMAGE_BYTES = 128 * 2**20   # pixels x bytes per pixel: 40 MP RGB (120 MB) fits, 40 MP RGBA (160 MB) does not
WORKING_SIDE = 1024                      # decoded images larger than this on a side are reduced (aspect kept)

BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "I;16": 2, "I;16B": 2, "I;16L": 2,
                   "I;16N": 2, "RGB": 3, "YCbCr": 3, "LAB": 3, "HSV": 3, "RGBA": 4, "RGBa": 4, "RGBX": 4,
                   "CMYK": 4, "I": 4, "F": 4}


# ---------------------------------------------------------------- images
def check_image_header(img: Image.Image) -> None:
    """Refuse an opened (not yet decoded) image whose decoded pixels would exceed the byte budget."""
    per_pixel = BYTES_PER_PIXEL.get(img.mode, 4)
    decoded = img.width * img.height * per_pixel
    if decoded > MAX_DECODED_IMAGE_BYTES:
        raise MMDemoError(f"The image is {img.width}x{img.height} pixels in mode {img.mode} ({per_pixel} bytes per "
                          f"pixel): {decoded / 1e6:,.0f} MB decoded; the limit is {MAX_DECODED_IMAGE_BYTES / 1e6:,.0f} MB.")


def draft_for_working_size(img: Image.Image) -> None:
    """JPEG only: let the decoder scale down by 1/2 .. 1/8 while decoding (DCT scaling), never below
    WORKING_SIDE; other formats are decoded at full size (their cost is bounded by the header check)."""
    if img.format == "JPEG" and max(img.size) > WORKING_SIDE:
        img.draft(img.mode, (WORKING_SIDE, WORKING_SIDE))


def shrink(img: Image.Image) -> Image.Image:
    """A decoded image reduced so its longer side is at most WORKING_SIDE (aspect kept). 16/32-bit
    images are subsampled with numpy first (PIL cannot resize every such mode), then rescaled to 8 bit."""
    if max(img.size) <= WORKING_SIDE:
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        step = -(-max(img.size) // WORKING_SIDE)
        a = np.asarray(img)[::step, ::step]
        return Image.fromarray(a.astype(np.float32) if a.dtype != np.float32 else a, mode="F")
    img = img.copy() if img.mode != "P" else img.convert("RGBA")
    img.thumbnail((WORKING_SIDE, WORKING_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return img


# ---------------------------------------------------------------- audio
def check_audio_header(rate: int, channels: int, name: str) -> None:
    """Refuse from the header alone: a sample rate outside MIN..MAX_AUDIO_RATE, too many channels."""
    if not MIN_AUDIO_RATE <= rate <= MAX_AUDIO_RATE:
        raise MMDemoError(f"A sample rate of {rate} Hz is not supported ({MIN_AUDIO_RATE // 1000} kHz - "
                          f"{MAX_AUDIO_RATE // 1000} kHz).")
    if not 1 <= channels <= MAX_AUDIO_CHANNELS:
        raise MMDemoError(f"The audio {name} has {channels} channels; at most {MAX_AUDIO_CHANNELS} are supported.")


def read_mono(sound_file, max_frames: int, started: float | None = None) -> np.ndarray:
    """Read at most max_frames from an open soundfile.SoundFile, AUDIO_BLOCK_FRAMES at a time, each
    block mixed down to mono float32 (memory: one block of all channels + the mono result). Refused
    once decoding has used DECODE_SECONDS of this thread's CPU time (checked between blocks; CPU time,
    not wall time, so a busy machine does not refuse a file that is cheap to decode)."""
    started = time.thread_time() if started is None else started
    blocks, left = [], max_frames
    while left > 0:
        block = sound_file.read(frames=min(AUDIO_BLOCK_FRAMES, left), dtype="float32", always_2d=True)
        if len(block) == 0:
            break
        blocks.append(block.mean(axis=1, dtype=np.float32))
        left -= len(block)
        if time.thread_time() - started > DECODE_SECONDS:
            raise MMDemoError(f"Decoding this audio took more than {DECODE_SECONDS} s; "
                              "please send a shorter or simpler file (WAV or FLAC).")
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


def nearest_standard_rate(rate: int) -> int:
    return min(STANDARD_RATES, key=lambda r: (abs(r - rate), r))


def interpolate(data: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Linear interpolation to new_rate: O(samples) whatever the two rates are."""
    n_out = max(1, int(round(len(data) * new_rate / rate)))
    return np.interp(np.arange(n_out) * (rate / new_rate), np.arange(len(data)), data)


def resample(data: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """float64 mono at `rate` -> float64 at `target_rate`, at a cost bounded for any pair of rates.
    A rate outside STANDARD_RATES is first moved to the nearest standard rate by linear interpolation
    (a small change of rate, e.g. 8,001 -> 8,000 Hz); between standard rates torchaudio's
    band-limited (sinc) resampler runs, whose kernel is small for every such pair."""
    if rate not in STANDARD_RATES:
        snapped = nearest_standard_rate(rate)
        data, rate = interpolate(data, rate, snapped), snapped
    if rate == target_rate:
        return data
    if target_rate not in STANDARD_RATES:
        return interpolate(data, rate, target_rate)
    from .inputs import resample as sinc_resample
    return sinc_resample(data, rate, target_rate).astype(np.float64)


def first_seconds(data: np.ndarray, rate, seconds: float) -> tuple[np.ndarray, int | None]:
    """An in-memory clip, (samples,), (samples, channels) or (channels, samples), cut to its first
    `seconds` (+1 sample) before any conversion, and its full length in frames. More than
    MAX_AUDIO_CHANNELS channels are refused (the smaller axis is the channels)."""
    if data.ndim not in (1, 2):
        return data, None
    frames_axis = 0 if data.ndim == 1 or data.shape[1] <= MAX_AUDIO_CHANNELS else 1
    if data.ndim == 2 and data.shape[1 - frames_axis] > MAX_AUDIO_CHANNELS:
        raise MMDemoError(f"The audio array has shape {data.shape}: more than {MAX_AUDIO_CHANNELS} channels.")
    try:
        keep = max(1, int(seconds * int(rate)) + 1)
    except (TypeError, ValueError):
        return data, None            # an unusable rate is reported by the caller
    index = [slice(None)] * data.ndim
    index[frames_axis] = slice(0, keep)
    return data[tuple(index)], data.shape[frames_axis]
