"""Screenshots of the offline models in the real app (headless Debian Chromium, Playwright):
a spoken question answered (fake microphone playing an espeak-ng question -> "Use my recording as the
text" -> Ask) and a photo recognised (Photos tab: top-5, Grad-CAM, the deletion check).

    python scripts/screenshot_offline.py [--out-dir artifacts]
Writes offline-spoken-question.png and offline-photo.png."""
import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from mmdemo import paths
from screenshot import app_page, save

FAKE_MICROPHONE = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]   # + the file it plays


def spoken(folder: Path, sentence: str) -> Path:
    """espeak-ng speaks the sentence; 4 s of silence after it (the fake mic loops the file); 16-bit PCM (what Chromium's fake mic plays)."""
    wav = folder / "question.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), sentence], check=True, capture_output=True)
    data, rate = sf.read(str(wav))
    sf.write(str(wav), np.concatenate([np.zeros(rate // 4), data, np.zeros(4 * rate)]), rate, subtype="PCM_16")
    return wav


def spoken_question(page, out: Path, image: Path):
    page.locator("input[type=file]").first.set_input_files(str(image))
    audio = page.locator(".block", has=page.get_by_text("Voice (microphone or upload)"))
    audio.get_by_role("button", name="Record").first.click()
    page.wait_for_timeout(3200)
    audio.get_by_role("button", name="Stop").first.click()
    audio.locator("a[data-testid=download-link]").wait_for(timeout=30_000)
    page.get_by_role("button", name="Use my recording as the text").click()
    page.get_by_text("the text box now holds it", exact=False).wait_for(timeout=180_000)
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.get_by_role("textbox", name="Answer", exact=True)
    page.wait_for_function("el => el.value.length > 0", arg=answer.element_handle(), timeout=60_000)
    page.get_by_text("Gate:", exact=False).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    save(page, out)
    return page.get_by_role("textbox", name="Text (the question for VQA").input_value(), answer.input_value()


def photo(page, out: Path, image: Path):
    page.get_by_role("button", name="Remove Image").first.click()
    page.locator("input[type=file]").first.set_input_files(str(image))
    page.get_by_role("tab", name="Photos").click()
    page.get_by_role("button", name="Recognise").click()
    page.get_by_text("Grad-CAM (pytorch-grad-cam)", exact=False).first.wait_for(timeout=180_000)
    page.get_by_role("button", name="Check this map").click()
    page.get_by_text("Grad-CAM order", exact=False).first.wait_for(timeout=120_000)
    page.wait_for_timeout(1500)
    save(page, out)
    return page.get_by_role("textbox", name="Top label (ImageNet)").input_value()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=paths.artifacts())
    ap.add_argument("--question", default="What color is the shape?")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = spoken(Path(tmp), args.question)
        flags = FAKE_MICROPHONE + [f"--use-file-for-fake-audio-capture={wav}"]
        with app_page(flags, app_timeout=300, permissions=["microphone"]) as page:
            page.get_by_role("button", name="Ask", exact=True).wait_for(timeout=60_000)
            heard, answer = spoken_question(page, args.out_dir / "offline-spoken-question.png",
                                            paths.examples("vqa", "0.png"))
            print(f"heard {heard!r}, answered {answer!r}")
            label = photo(page, args.out_dir / "offline-photo.png", paths.examples("photos", "chelsea-cat.jpg"))
            print(f"photo recognised as {label!r}")
    print(f"wrote {args.out_dir / 'offline-spoken-question.png'} and {args.out_dir / 'offline-photo.png'}")


if __name__ == "__main__":
    main()
