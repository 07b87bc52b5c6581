"""Screenshot of the Generate tab of the real app in headless Chromium (Debian's /usr/bin/chromium).

    python scripts/screenshot_generate.py [--out artifacts/generate.png] [--text seven]

Starts app.py on a free port, opens the Generate tab, types the digit, presses Generate, waits for
both models' samples and saves a full-page screenshot.
"""
import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from mmdemo import paths, serve

from screenshot import CHROMIUM_FLAGS


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=paths.artifacts("generate.png"))
    ap.add_argument("--text", default="seven")
    args = ap.parse_args()
    with serve.running_app() as app, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.url, wait_until="load", timeout=90_000)
        page.get_by_role("tab", name="Generate").click()
        page.get_by_label("Text", exact=False).first.fill(args.text)
        page.get_by_role("button", name="Generate").click()
        page.get_by_text("read as", exact=False).nth(1).wait_for(timeout=90_000)
        page.wait_for_timeout(2000)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
