"""Turn whatever a person (or Gradio, or a script) hands us into clean arrays, or say why not.

Limits are in plain sight here; the README documents them. Every failure is an MMDemoError
with a message a person can act on.
"""
from __future__ import annotations

import io
import os
import unicodedata
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import bounds
from .errors import MMDemoError

MAX_IMAGE_PIXELS = 40_000_000      # 40 MP: larger images are refused before decoding
MAX_FILE_BYTES = 50 * 2**20        # 50 MiB per uploaded file
MAX_TEXT_CHARS = 1_000             # questions longer than this are refused
MAX_AUDIO_SECONDS = 30.0           # longer recordings are trimmed to this (see load_audio)
MIN_AUDIO_SECONDS = 0.1            # shorter clips are refused

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS   # PIL's own decompression-bomb guard


def _check_file(path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise MMDemoError(f"File not found: {p.name}")
    size = p.stat().st_size
    if size == 0:
        raise MMDemoError(f"The file {p.name} is empty (0 bytes).")
    if size > MAX_FILE_BYTES:
        raise MMDemoError(f"The file {p.name} is {size / 2**20:.0f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB.")
    return p


def _array_to_pil(a: np.ndarray) -> Image.Image:
    a = np.asarray(a)
    if a.size == 0 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise MMDemoError(f"An image array must be H x W, H x W x 3 or H x W x 4; got shape {a.shape}.")
    if a.shape[0] * a.shape[1] > MAX_IMAGE_PIXELS:
        raise MMDemoError(f"The image has {a.shape[0] * a.shape[1]:,} pixels; the limit is {MAX_IMAGE_PIXELS:,}.")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            raise MMDemoError("The image array contains NaN or infinite values.")
        hi = 1.0 if a.max() <= 1.0 else (255.0 if a.max() <= 255 else float(a.max()))
        a = np.clip(a / hi * 255.0, 0, 255).astype(np.uint8)
    return Image.fromarray(a)


def load_image(image) -> Image.Image:
    """PIL image, numpy array, file path or bytes -> RGB PIL image (EXIF-rotated, first frame,
    transparency composited on white)."""
    if image is None:
        raise MMDemoError("No image given: upload, paste or take a picture first.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if isinstance(image, Image.Image):
                img = image
            elif isinstance(image, np.ndarray):
                img = _array_to_pil(image)
            elif isinstance(image, (bytes, bytearray)):
                if len(image) == 0:
                    raise MMDemoError("The image data is empty (0 bytes).")
                img = Image.open(io.BytesIO(image))
            elif isinstance(image, (str, os.PathLike)):
                img = Image.open(_check_file(image))
            else:
                raise MMDemoError(f"Cannot read an image from a {type(image).__name__}; "
                                  "give a PIL image, a numpy array or a file path.")
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise MMDemoError(f"The image is {img.width}x{img.height} pixels; the limit is {MAX_IMAGE_PIXELS:,} pixels.")
            if img.width < 1 or img.height < 1:
                raise MMDemoError("The image has no pixels.")
            bounds.check_image_header(img)          # pixels x bytes per pixel, before decoding
            img.seek(0) if getattr(img, "n_frames", 1) > 1 else None   # animated: first frame
            bounds.draft_for_working_size(img)      # JPEG: decoded at a reduced scale
            img.load()
            img = ImageOps.exif_transpose(bounds.shrink(img))   # at most WORKING_SIDE from here on
            return _to_rgb(img)
    except MMDemoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MMDemoError(f"The image is too large to decode safely (limit {MAX_IMAGE_PIXELS:,} pixels).") from None
    except UnidentifiedImageError:
        raise MMDemoError("This file is not an image that can be read (PNG, JPEG, GIF, WebP, BMP, TIFF ...).") from None
    except (OSError, SyntaxError, ValueError) as e:   # truncated or corrupt data
        raise MMDemoError(f"The image file is damaged or truncated ({e}).") from None



def load_square(image, size: int) -> np.ndarray:
    """Any image load_image accepts -> size x size x 3 uint8 RGB array (resized as a model expects)."""
    img = load_image(image)
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(img)

def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):       # 16/32-bit grey: rescale to 8 bit
        return _array_to_pil(np.asarray(img, dtype=np.float64)).convert("RGB")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")   # L, 1, CMYK, YCbCr, LAB, HSV


def load_text(text, what: str = "question") -> str:
    """Clean a text input: control characters removed, whitespace collapsed, length checked."""
    if text is None:
        raise MMDemoError(f"No {what} given: type one first.")
    if not isinstance(text, str):
        raise MMDemoError(f"The {what} must be a string, not a {type(text).__name__}.")
    if len(text) > MAX_TEXT_CHARS:
        raise MMDemoError(f"The {what} is {len(text):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
    text = "".join(" " if unicodedata.category(c).startswith(("C", "Z")) else c for c in text)
    text = " ".join(text.split())
    if not text:
        raise MMDemoError(f"The {what} is empty: type one first.")
    return text


def load_audio(audio, target_rate: int | None = None, notes: dict | None = None) -> tuple[int, np.ndarray]:
    """(sample_rate, array) as Gradio gives it, or a file path -> (rate, mono float32 in -1..1).

    Longer than MAX_AUDIO_SECONDS: only the start is kept (a file is not even decoded past it) and,
    when a `notes` dict is given, notes["audio"] says so for the UI. Shorter than
    MIN_AUDIO_SECONDS: refused. Resampled when target_rate is given.
    """
    import soundfile as sf

    if audio is None:
        raise MMDemoError("No audio given: record or upload a clip first.")
    total = None   # the clip's full length in samples, when known before trimming
    if isinstance(audio, (str, os.PathLike)):
        path = _check_file(audio)
        try:
            with sf.SoundFile(str(path)) as f:
                rate, total = f.samplerate, f.frames
                bounds.check_audio_header(rate, f.channels, path.name)   # before decoding anything
                data = bounds.read_mono(f, int(MAX_AUDIO_SECONDS * rate) + 1)
        except MMDemoError:
            raise
        except Exception as e:   # libsndfile says what it could not read (its message names the server path)
            reason = str(e).replace(str(path), path.name)
            raise MMDemoError(f"Cannot read the audio file {path.name} (WAV, FLAC, OGG, MP3 ...): {reason}") from None
    elif isinstance(audio, (tuple, list)) and len(audio) == 2:
        rate, data = audio
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.number):
            raise MMDemoError(f"Audio samples must be numbers, not {data.dtype}.")
        data, total = bounds.first_seconds(data, rate, MAX_AUDIO_SECONDS)   # before any conversion
        if np.issubdtype(data.dtype, np.integer):
            data = data.astype(np.float64) / float(np.iinfo(data.dtype).max)
    else:
        raise MMDemoError("Audio must be (sample_rate, samples) or a file path.")
    try:
        rate = int(rate)
    except (TypeError, ValueError):
        raise MMDemoError(f"The sample rate must be a whole number, not {rate!r}.") from None
    bounds.check_audio_header(rate, 1, "clip")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 2:   # (samples, channels) from soundfile/Gradio -> mono
        data = data.mean(axis=1) if data.shape[1] <= 8 else data.mean(axis=0)
    if data.ndim != 1 or data.size == 0:
        raise MMDemoError("The audio clip is empty.")
    if not np.isfinite(data).all():
        raise MMDemoError("The audio contains NaN or infinite samples.")
    if data.size < MIN_AUDIO_SECONDS * rate:
        raise MMDemoError(f"The audio clip is {data.size / rate:.3f} s long; at least {MIN_AUDIO_SECONDS} s is needed.")
    total = max(total or 0, data.size)
    if total > MAX_AUDIO_SECONDS * rate:
        data = data[: int(MAX_AUDIO_SECONDS * rate)]
        if notes is not None:
            notes["audio"] = (f"The recording is {total / rate:.1f} s long; only its first "
                              f"{MAX_AUDIO_SECONDS:.0f} s were used.")
    peak = np.abs(data).max()
    if peak > 1.0:
        data = data / peak
    if target_rate and target_rate != rate:
        data, rate = bounds.resample(data, rate, target_rate), target_rate
    return rate, data.astype(np.float32)


def resample(wave: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Mono samples at `rate` -> float32 at `new_rate` (torchaudio's windowed-sinc resampler). For the
    project's own data (its rates are known); a person's input goes through bounds.resample, whose cost
    is bounded for any pair of rates and which calls this between standard rates."""
    if rate == new_rate:
        return np.asarray(wave, dtype=np.float32)
    import torch
    import torchaudio.functional as AF
    return AF.resample(torch.from_numpy(np.asarray(wave, dtype=np.float32)), rate, new_rate).numpy()
