"""The bad-input corpus: every case is generated here in code (no binary files in the repo).

A case replaces some of a good request's inputs (image file, text, audio file) and says what must
happen: `error` is a regex the project's message must match (MMDemoError in the Python API, the
gr.Error message through the app), None means it must be answered; `notice` is a regex a note of
the answer must match (e.g. trimmed audio). Missing-modality cases are expected per task (TASKS).
tests/test_bad_inputs.py runs each case through the Python API and the live app.
"""
from __future__ import annotations

import io
import itertools
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
GOOD_IMAGE = ROOT / "examples" / "vqa" / "0.png"
GOOD_TEXT = "what color is the shape?"
MODALITIES = ("image", "text", "audio")


@dataclass
class Task:
    """A task the gates cover. Rows for tasks that are not registered (or endpoints the app
    does not have) are skipped, so they come alive when that task lands."""
    name: str
    endpoint: str
    uses: tuple[str, ...]           # inputs the task reads
    required: tuple[str, ...]       # inputs it cannot answer without (the rest may be missing)


TASKS = [
    Task("vqa", "/vqa", uses=("image", "text"), required=("image", "text")),
    Task("caption", "/caption", uses=("image",), required=("image",)),
    Task("classify", "/classify", uses=("image", "text", "audio"), required=()),   # any non-empty subset
    Task("generate", "/generate", uses=("image", "text", "audio"), required=()),   # any non-empty subset
]


@dataclass
class Case:
    name: str
    make: Callable[[Path], dict]    # folder -> {modality: file path / text / None} replacing good inputs
    error: str | None = None        # regex of the expected message; None: must be answered
    notice: str | None = None       # regex one of the answer's notes must match
    missing: tuple[str, ...] = ()   # modalities left out (expectation depends on the task)
    modalities: tuple[str, ...] = field(default=())   # the inputs this case replaces
    per_task: dict = field(default_factory=dict)      # task name -> expectation where it differs from `error`

    def expected_error(self, task: Task) -> str | None:
        if task.name in self.per_task:
            return self.per_task[task.name]
        if not self.missing:
            return self.error
        gone = set(self.missing) & set(task.uses)
        if gone & set(task.required) or gone == set(task.uses):
            return r"No (image|question|text|audio|input)|[Gg]ive|at least one"
        return None

    def applies_to(self, task: Task) -> bool:
        return bool(set(self.modalities) & set(task.uses))


# ---------------------------------------------------------------- image files
def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def _shape_image(size=(64, 64)) -> Image.Image:
    """A red triangle on white (an easy-VQA-like picture) to draw the test images from."""
    from PIL import ImageDraw
    img = Image.new("RGB", size, "white")
    w, h = size
    ImageDraw.Draw(img).polygon([(w // 2, h // 6), (w // 6, 5 * h // 6), (5 * w // 6, 5 * h // 6)], fill="red")
    return img


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A real PNG signature + IHDR for a width x height 1-bit image and a tiny all-zero IDAT: what a
    decompression bomb looks like before decoding (a few hundred bytes claiming 400 MP)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = zlib.compress(b"\0" * (1 + width // 8) * 16)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


def _exif_rotated(path: Path) -> Path:
    exif = Image.Exif()
    exif[0x0112] = 6                                        # "rotate 90 degrees to display"
    return _save(_shape_image((96, 64)), path, format="JPEG", exif=exif)


def _animated_gif(path: Path) -> Path:
    frames = [_shape_image(), Image.new("RGB", (64, 64), "blue")]
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def _truncated(fmt: str, path: Path) -> Path:
    buf = io.BytesIO()
    _shape_image((128, 128)).save(buf, format=fmt)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _image(name: str, make: Callable[[Path], Path], error=None, **per_task) -> Case:
    return Case(f"image-{name}", lambda d: {"image": str(make(d))}, error=error, modalities=("image",),
                per_task=per_task)


IMAGE_CASES = [
    _image("0-bytes", lambda d: (d / "empty.png").write_bytes(b"") or d / "empty.png", r"empty \(0 bytes\)"),
    _image("truncated-png", lambda d: _truncated("PNG", d / "cut.png"), "damaged or truncated"),
    _image("truncated-jpeg", lambda d: _truncated("JPEG", d / "cut.jpg"), "damaged or truncated"),
    _image("text-renamed-png", lambda d: (d / "t.png").write_text("just some text\n") and d / "t.png",
           "not an image"),
    _image("html-renamed-jpg", lambda d: (d / "x.jpg").write_text("<script>alert(1)</script>") and d / "x.jpg",
           "not an image"),
    _image("svg", lambda d: (d / "x.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>') and d / "x.svg",
           "not an image"),
    _image("1x1", lambda d: _save(Image.new("RGB", (1, 1), "red"), d / "1x1.png"),
           classify="looks blank", generate="looks blank"),   # one flat colour: no digit to read
    _image("20000x20000-bomb", lambda d: _png_header_only(d / "bomb.png", 20000, 20000), "limit"),
    _image("16-bit-grey", lambda d: _save(Image.fromarray(
        (np.asarray(_shape_image().convert("L"), np.uint16) * 257)), d / "16.png")),
    _image("palette", lambda d: _save(_shape_image().convert("P", palette=Image.Palette.ADAPTIVE), d / "p.png")),
    _image("cmyk-jpeg", lambda d: _save(_shape_image().convert("CMYK"), d / "cmyk.jpg", format="JPEG")),
    _image("rgba-transparent", lambda d: _save(_shape_image().convert("RGBA"), d / "rgba.png")),
    _image("greyscale", lambda d: _save(_shape_image().convert("L"), d / "grey.png")),
    _image("exif-rotated-jpeg", lambda d: _exif_rotated(d / "rot.jpg")),
    _image("animated-gif", lambda d: _animated_gif(d / "anim.gif")),
    _image("webp", lambda d: _save(_shape_image(), d / "x.webp", format="WEBP")),
    _image("large-4000x3000", lambda d: _save(_shape_image((4000, 3000)), d / "big.jpg", format="JPEG")),
]


# ---------------------------------------------------------------- texts
def _text(name: str, text: str, error=None, **per_task) -> Case:
    return Case(f"text-{name}", lambda d: {"text": text}, error=error, modalities=("text",), per_task=per_task)


TEXT_CASES = [
    _text("empty", "", "empty", classify=None, generate=None),          # classify: empty text = no text; answered from
    _text("whitespace", " \t\n  \u00a0 ", "empty", classify=None, generate=None),   # the image and the audio
    _text("100000-chars", "what color is the shape? " * 4000, "limit"),
    _text("1000-chars-at-limit", ("what color is the shape? " * 40)[:1000]),
    _text("emoji", "what color is the shape? 🔺🙂👍🏽"),
    _text("right-to-left", "מה הצבע של הצורה? ما لون الشكل؟"),
    _text("control-chars", "what\x00 color\x07 is\x1b[31m the\r\n shape?\x7f"),
    _text("html-js", '<script>alert(1)</script><img src=x onerror="alert(2)"> what color?'),
    _text("zero-width-and-combining", "wha\u200bt colo\u0301r is the\ufeff shape?"),
]


# ---------------------------------------------------------------- audio files
def _tone(rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def _wav(path: Path, data, rate: int, **kw) -> Path:
    import soundfile as sf
    sf.write(str(path), data, rate, **kw)
    return path


def _header_only_wav(path: Path) -> Path:
    """A valid 44-byte WAV header (PCM 16-bit, 8 kHz mono) announcing 0 bytes of data."""
    path.write_bytes(b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
                     + b"data" + struct.pack("<I", 0))
    return path


def _audio(name: str, make: Callable[[Path], Path], error=None, notice=None) -> Case:
    return Case(f"audio-{name}", lambda d: {"audio": str(make(d))}, error=error, notice=notice, modalities=("audio",))


AUDIO_CASES = [
    _audio("0-bytes", lambda d: (d / "e.wav").write_bytes(b"") or d / "e.wav", r"empty \(0 bytes\)"),
    _audio("header-no-data", lambda d: _header_only_wav(d / "h.wav"), "empty"),
    _audio("1-sample", lambda d: _wav(d / "one.wav", np.array([0.3]), 8000), "at least 0.1 s"),
    _audio("silence", lambda d: _wav(d / "sil.wav", np.zeros(8000), 8000)),
    _audio("10-minutes", lambda d: _wav(d / "long.wav", (_tone(8000, 600) * 0.1), 8000, subtype="PCM_16"),
           notice=r"only its first 30 s"),
    _audio("nan-samples", lambda d: _wav(d / "nan.wav", np.where(np.arange(8000) % 100, _tone(8000, 1), np.nan),
                                         8000, subtype="FLOAT"), "NaN or infinite"),
    _audio("inf-samples", lambda d: _wav(d / "inf.wav", np.where(np.arange(8000) % 100, _tone(8000, 1), np.inf),
                                         8000, subtype="FLOAT"), "NaN or infinite"),
    _audio("int16", lambda d: _wav(d / "i16.wav", _tone(16000, 1), 16000, subtype="PCM_16")),
    _audio("int32", lambda d: _wav(d / "i32.wav", _tone(16000, 1), 16000, subtype="PCM_32")),
    _audio("float64", lambda d: _wav(d / "f64.wav", _tone(16000, 1), 16000, subtype="DOUBLE")),
    _audio("stereo", lambda d: _wav(d / "st.wav", _tone(16000, 1, channels=2), 16000)),
    *[_audio(f"{rate}-Hz", lambda d, rate=rate: _wav(d / f"r{rate}.wav", _tone(rate, 1), rate))
      for rate in (8000, 22050, 44100, 48000, 96000)],
    _audio("clipped", lambda d: _wav(d / "clip.wav", np.clip(_tone(8000, 1) * 8, -1, 1), 8000)),
    _audio("over-full-scale-float", lambda d: _wav(d / "over.wav", _tone(8000, 1) * 6, 8000, subtype="FLOAT")),
    _audio("mp3", lambda d: _wav(d / "a.mp3", _tone(44100, 1), 44100, format="MP3")),
    _audio("flac", lambda d: _wav(d / "a.flac", _tone(44100, 1), 44100, format="FLAC")),
    _audio("ogg-vorbis", lambda d: _wav(d / "a.ogg", _tone(44100, 1), 44100, format="OGG", subtype="VORBIS")),
    _audio("text-renamed-wav", lambda d: (d / "t.wav").write_text("not audio\n") and d / "t.wav", "Cannot read"),
]


# ---------------------------------------------------------------- missing modalities (every combination)
MISSING_CASES = [Case("missing-" + "+".join(gone), lambda d, gone=gone: {m: None for m in gone},
                      missing=gone, modalities=gone)
                 for k in (1, 2, 3) for gone in itertools.combinations(MODALITIES, k)]

CASES = IMAGE_CASES + TEXT_CASES + AUDIO_CASES + MISSING_CASES


def good_inputs(folder: Path) -> dict:
    """A request every task answers: an easy-VQA image, a question, a 1 s spoken-band tone."""
    audio = folder / "good.wav"
    if not audio.exists():
        _wav(audio, _tone(8000, 1), 8000)
    return {"image": str(GOOD_IMAGE), "text": GOOD_TEXT, "audio": str(audio)}
