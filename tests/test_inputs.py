import io

import numpy as np
import pytest
from PIL import Image

from mmdemo import MMDemoError
from mmdemo.inputs import MAX_TEXT_CHARS, load_audio, load_image, load_text


def png_bytes(img, **kw):
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def test_image_from_pil_array_path_and_bytes(tmp_path, example_image):
    img = load_image(example_image)
    assert img.mode == "RGB" and img.size == (64, 64)
    assert load_image(str(example_image)).size == (64, 64)
    assert np.array_equal(np.asarray(load_image(np.asarray(img))), np.asarray(img))
    assert np.array_equal(np.asarray(load_image(example_image.read_bytes())), np.asarray(img))
    assert load_image(np.random.rand(10, 12)).size == (12, 10)           # float greyscale 0..1


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_image_modes_become_rgb(mode):
    img = Image.new("RGB", (20, 10), (200, 30, 30)).convert(mode)
    out = load_image(Image.open(io.BytesIO(png_bytes(img, format="TIFF" if mode == "CMYK" else "PNG"))))
    assert out.mode == "RGB" and out.size == (20, 10)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    assert load_image(img).getpixel((0, 0)) == (255, 255, 255)


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (30, 10), "red")
    exif = Image.Exif()
    exif[0x0112] = 6                       # "rotate 90 CW to display"
    out = load_image(Image.open(io.BytesIO(png_bytes(img, format="JPEG", exif=exif))))
    assert out.size == (10, 30)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ("red", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    assert load_image(buf.getvalue()).getpixel((0, 0))[0] > 200


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"this is text, not a picture", "not an image"),
])
def test_bad_image_bytes(data, message):
    with pytest.raises(MMDemoError, match=message):
        load_image(data)


def test_bad_image_files(tmp_path, example_image):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "cut.png").write_bytes(example_image.read_bytes()[:200])
    for name, message in [("empty.png", "empty"), ("text.png", "not an image"), ("cut.png", "damaged or truncated"),
                          ("missing.png", "not found")]:
        with pytest.raises(MMDemoError, match=message):
            load_image(tmp_path / name)


def test_decompression_bomb_is_refused(tmp_path):
    Image.new("1", (7000, 7000)).save(tmp_path / "big.png")       # 49 MP, a few kB on disk
    with pytest.raises(MMDemoError, match="limit"):
        load_image(tmp_path / "big.png")


def test_none_and_odd_objects():
    with pytest.raises(MMDemoError, match="No image"):
        load_image(None)
    with pytest.raises(MMDemoError, match="Cannot read an image"):
        load_image(42)
    with pytest.raises(MMDemoError, match="NaN"):
        load_image(np.full((4, 4), np.nan))
    with pytest.raises(MMDemoError, match="must be"):
        load_image(np.zeros((4, 4, 7)))


def test_text_is_cleaned_and_checked():
    assert load_text("  what\tcolor\x00 is it?\n") == "what color is it?"
    assert load_text("שאלה 🙂") == "שאלה 🙂"
    for bad in [None, "", "   \n\t"]:
        with pytest.raises(MMDemoError):
            load_text(bad)
    with pytest.raises(MMDemoError, match="limit"):
        load_text("a" * (MAX_TEXT_CHARS + 1))


def test_audio_decoding(tmp_path):
    import soundfile as sf
    rate, x = load_audio((8000, (np.sin(np.arange(8000) / 5) * 20000).astype(np.int16)))
    assert rate == 8000 and x.dtype == np.float32 and np.abs(x).max() <= 1
    rate, x = load_audio((44100, np.zeros((4410, 2), np.float64)), target_rate=8000)
    assert rate == 8000 and x.shape == (800,)
    sf.write(tmp_path / "a.wav", np.zeros(1600, np.float32), 16000)
    assert load_audio(tmp_path / "a.wav")[1].shape == (1600,)
    for bad, message in [(None, "No audio"), ((8000, np.array([])), "empty"),
                         ((8000, np.array([0.1, np.nan])), "NaN"), ((10, np.zeros(5)), "not supported")]:
        with pytest.raises(MMDemoError, match=message):
            load_audio(bad)


def test_audio_limits_trim_with_a_notice_and_refuse_too_short(tmp_path):
    import soundfile as sf
    from mmdemo.inputs import MAX_AUDIO_SECONDS, MIN_AUDIO_SECONDS
    notes = {}
    rate, x = load_audio((8000, np.zeros(8000 * 45, np.float32)), notes=notes)     # as Gradio's numpy type gives it
    assert x.size == int(MAX_AUDIO_SECONDS * 8000) and "45.0 s" in notes["audio"]
    sf.write(tmp_path / "long.wav", np.zeros(8000 * 45, np.int16), 8000)          # a file: read only up to 30 s
    notes = {}
    assert load_audio(tmp_path / "long.wav", notes=notes)[1].size == int(MAX_AUDIO_SECONDS * 8000)
    assert "only its first 30 s" in notes["audio"]
    notes = {}
    load_audio((8000, np.zeros(8000)), notes=notes)
    assert notes == {}                                                             # no notice when nothing was cut
    with pytest.raises(MMDemoError, match="at least"):
        load_audio((8000, np.zeros(int(8000 * MIN_AUDIO_SECONDS) - 1)))
