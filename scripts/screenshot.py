"""Screenshot of the real app in headless Chromium (Debian's /usr/bin/chromium) for the README.

    python scripts/screenshot.py [--out artifacts/screenshot.png]  (docs/screenshot.png: the README picture)

Starts app.py on a free port, uploads an example image, asks a question, waits for the answer
and the explanations, and saves a full-page screenshot.
"""
import argparse
import contextlib
from pathlib import Path

from playwright.sync_api import sync_playwright

from mmdemo import paths, serve
from mmdemo.paths import ROOT

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def app_page(extra_flags=(), app_timeout: float = 120, **context):
    """The app on a free loopback port and a headless Chromium page on it, loaded (the other screenshot
    scripts use this too). extra_flags: more Chromium flags (a fake microphone); context: e.g. permissions."""
    with serve.running_app(timeout=app_timeout) as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS + list(extra_flags))
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, **context).new_page()
        page.goto(app.url, wait_until="load", timeout=90_000)
        yield page
        browser.close()


def save(page, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)


def ask_vqa(page, image: str, question: str, answered: str, model: str | None = None) -> None:
    """In the VQA tab: pick `model` (default: the tab's own), upload `image`, ask `question`, and wait
    until the text `answered` shows (the answer's explanations are drawn by then)."""
    page.get_by_role("button", name="Ask").wait_for(timeout=60_000)
    if model:
        page.get_by_label("VQA model").click()
        page.get_by_role("option", name=model).click()
    page.locator("input[type=file]").first.set_input_files(image)
    page.get_by_role("textbox", name="Text (the question for VQA").fill(question)
    page.get_by_role("button", name="Ask").click()
    page.get_by_text(answered, exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=paths.artifacts("screenshot.png"),
                    help="default artifacts/screenshot.png; the README picture: --out docs/screenshot.png")
    ap.add_argument("--image", default=str(ROOT / "examples" / "vqa" / "0.png"))
    ap.add_argument("--question", default="what color is the shape?")
    args = ap.parse_args()
    with app_page() as page:
        ask_vqa(page, args.image, args.question, answered="Gate:")
        save(page, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
