"""Screenshot of the Generate tab of the real app in headless Chromium (Debian's /usr/bin/chromium).

    python scripts/screenshot_generate.py [--out artifacts/generate.png] [--text seven]

Starts app.py on a free port, opens the Generate tab, types the digit, presses Generate, waits for
both models' samples, composes the default scene caption (Compose), waits for the captioner's reading
and saves a full-page screenshot.
"""
import argparse
from pathlib import Path


from mmdemo import paths

from screenshot import app_page, save


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=paths.artifacts("generate.png"))
    ap.add_argument("--text", default="seven")
    args = ap.parse_args()
    with app_page() as page:
        page.get_by_role("tab", name="Generate").click()
        page.get_by_label("Text", exact=False).first.fill(args.text)
        page.get_by_role("button", name="Generate").click()
        page.get_by_text("read as", exact=False).nth(1).wait_for(timeout=90_000)
        page.get_by_role("button", name="Compose").click()
        page.get_by_text("The captioner reads", exact=False).wait_for(timeout=90_000)
        page.wait_for_timeout(2000)
        save(page, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
