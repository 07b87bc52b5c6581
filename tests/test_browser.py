"""A real browser: Playwright for Python driving Debian's Chromium (/usr/bin/chromium, installed
by .ci/run with apt) against the live app. Upload an image, type a question -> the answer, the
heatmap and the fusion chart appear; HTML in the question stays text; record from a fake
microphone (a WAV file through Chromium's fake-device flags) -> the recording reaches the app
(and the classification appears when that task exists). Screenshots go to artifacts/ (the README's
picture is made by `python scripts/screenshot.py --out docs/screenshot.png`: a test never rewrites docs/)."""
import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                                "(apt-get install chromium; .ci/run does this)")


def microphone_wav(folder: Path) -> Path:
    """What the fake microphone plays: a spoken "seven" (espeak-ng, when installed), else a tone."""
    path = folder / "mic.wav"
    if shutil.which("espeak-ng"):
        subprocess.run(["espeak-ng", "-w", str(path), "seven"], check=True, capture_output=True)
        data, rate = sf.read(str(path))
    else:
        rate = 16000
        data = 0.3 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate)
    sf.write(str(path), np.concatenate([data, np.zeros(rate)]), rate, subtype="PCM_16")   # Chromium wants PCM WAV
    return path


@pytest.fixture(scope="module")
def page(app_url, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    wav = microphone_wav(tmp_path_factory.mktemp("mic"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=FLAGS + [f"--use-file-for-fake-audio-capture={wav}"])
        context = browser.new_context(permissions=["microphone"], viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.dialogs = dialogs
        page.goto(app_url, wait_until="load", timeout=90_000)
        page.get_by_role("button", name="Ask").wait_for(timeout=60_000)
        yield page
        browser.close()


def answer_box(page):
    return page.get_by_role("textbox", name="Answer", exact=True)


def ask(page, question: str, timeout=60_000):
    answer_box(page).evaluate("el => el.value = ''")
    page.get_by_role("textbox", name="Text (the question for VQA").fill(question)
    page.get_by_role("button", name="Ask").click()
    page.wait_for_function("el => el.value.length > 0", arg=answer_box(page).element_handle(), timeout=timeout)
    return answer_box(page).input_value()


def test_vqa_in_a_real_browser(page):
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "examples" / "vqa" / "0.png"))
    assert ask(page, "what color is the shape?") == "red"
    heatmap = page.locator(".block", has=page.get_by_text("Where the model looked")).locator("img")
    heatmap.first.wait_for(timeout=30_000)
    assert heatmap.first.evaluate("img => img.complete && img.naturalWidth") > 0
    chart = page.locator(".block", has=page.get_by_text("Fusion weights")).locator("canvas, svg")
    chart.first.wait_for(timeout=30_000)
    page.get_by_text("Gate:", exact=False).first.wait_for(timeout=30_000)      # the fusion note
    page.wait_for_timeout(1000)                                                 # let the chart finish drawing
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-vqa.png"), full_page=True)


def test_html_in_the_question_stays_text(page):
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "examples" / "vqa" / "3.png"))
    ask(page, '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script> what color?')
    assert page.evaluate("window.__xss") is None and not page.dialogs
    assert page.locator("img[src=x]").count() == 0


def test_fake_microphone_recording_reaches_the_app(page):
    audio = page.locator(".block", has=page.get_by_text("Voice (microphone or upload)"))
    audio.get_by_role("button", name="Record").first.click()
    page.wait_for_timeout(2500)
    audio.get_by_role("button", name="Stop").first.click()
    link = audio.locator("a[data-testid=download-link]")              # the recording, uploaded to the app
    link.wait_for(timeout=30_000)
    recording = page.request.get(link.get_attribute("href"))
    assert recording.ok
    samples, rate = sf.read(io.BytesIO(recording.body()))
    assert len(samples) / rate > 1.0 and np.abs(samples).max() > 0.01   # seconds of the fake microphone's sound
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-microphone.png"), full_page=True)
    # the classifier answers from the recording alone: no text, no image (clear both)
    page.get_by_role("textbox", name="Text (the question for VQA").fill("")
    page.get_by_role("button", name="Remove Image").first.click()
    page.get_by_role("tab", name="Tri-modal classification").click()
    page.get_by_role("button", name="Classify").click()
    unimodal = classify_table(page)
    assert "audio only" in unimodal and "image only" not in unimodal and "text only" not in unimodal
    page.screenshot(path=str(ARTIFACTS / "browser-classify.png"), full_page=True)


def classify_table(page, expect: str = " only") -> str:
    """The text of the classify panel's per-modality table, once it shows `expect`."""
    table = page.locator(".block", has=page.get_by_text("Each modality alone", exact=False)).last
    for _ in range(120):
        if expect in table.inner_text():
            return table.inner_text()
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "browser-classify-failed.png"), full_page=True)
    raise AssertionError("the classification did not appear within 60 s")


def test_sketchpad_drawing_is_classified(page):
    page.get_by_role("tab", name="Tri-modal classification").click()
    pad = page.locator(".block", has=page.get_by_text("Draw a digit", exact=True)).last
    pad.get_by_role("button", name="Brush").click()                 # Gradio's sketchpad: pick the brush first
    box = pad.locator("canvas").last.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.5 * w, y + 0.2 * h)                     # a "1": one vertical stroke
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(x + 0.5 * w, y + (0.2 + 0.05 * i) * h, steps=3)
    page.mouse.up()
    page.get_by_role("textbox", name="Text (the question for VQA").fill("")
    page.get_by_role("button", name="Classify").click()
    rows = classify_table(page, "image only").split()
    image_only = rows.index("image") + 2                             # the row "image only | class | confidence"
    assert rows[image_only] == "1", rows                             # the drawn stroke is read as a one
    # (the fused answer also hears the microphone's "seven" recorded by the test before)
    page.screenshot(path=str(ARTIFACTS / "browser-sketchpad.png"), full_page=True)


CHART = """el => { const c = el.querySelector('canvas'); if (c) return c.toDataURL();
                  const s = el.querySelector('svg'); return s ? s.outerHTML : ''; }"""


def chart_after_change(page, chart, before: str, timeout_s: int = 90) -> str:
    for _ in range(timeout_s * 2):
        now = chart.evaluate(CHART)
        if now and now != before:
            return now
        page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "browser-explain-failed.png"), full_page=True)
    raise AssertionError("the fusion chart did not change")


def test_moving_a_corruption_control_changes_the_fusion_chart(page):
    page.get_by_role("tab", name="Tri-modal classification").click()
    page.locator("input[type=file]").first.set_input_files(str(ROOT / "examples" / "classify" / "drawn_7.png"))
    page.get_by_role("textbox", name="Text (the question for VQA").fill("seven")
    page.get_by_role("button", name="Explain", exact=True).click()
    chart = page.locator(".block", has=page.get_by_text("(a) Fusion weights")).last
    first = chart_after_change(page, chart, "")
    page.get_by_text("Do the three views agree?").first.wait_for(timeout=60_000)
    noise = page.locator(".block", has=page.get_by_text("Image: Gaussian noise σ")).last.locator("input[type=number]")
    noise.fill("0.9")
    noise.press("Enter")
    chart_after_change(page, chart, first)                          # the server re-ran the model on the noisier image
    page.wait_for_timeout(1500)
    ARTIFACTS.mkdir(exist_ok=True)
    section = page.get_by_text("Explore and check: corrupt the inputs").first
    section.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "explain-side-by-side.png"), full_page=True)
