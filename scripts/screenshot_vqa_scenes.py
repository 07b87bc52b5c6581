"""Screenshot of a two-hop answer in the real app (headless Chromium): the scenes-multihop model on
examples/vqa/scene-two-hop.png, "what colour is the digit left of the triangle?".

    python scripts/screenshot_vqa_scenes.py [--out docs/vqa-scenes-two-hop.png]
"""
import argparse
from pathlib import Path

from PIL import Image
from screenshot import app_page, ask_vqa, save

from mmdemo.paths import ROOT


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "vqa-scenes-two-hop.png")
    ap.add_argument("--image", default=str(ROOT / "examples" / "vqa" / "scene-two-hop.png"))
    ap.add_argument("--question", default="what colour is the digit left of the triangle?")
    args = ap.parse_args()
    with app_page(app_timeout=400) as page:
        ask_vqa(page, args.image, args.question, answered="One map per hop", model="scenes-multihop")
        save(page, args.out)
    picture = Image.open(args.out)                 # keep the answer, the hops, the words and the gate
    picture.crop((0, 0, picture.width, min(picture.height, 1120))).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
