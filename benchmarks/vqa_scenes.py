"""Latency of the two VQA models per question on this CPU, and where the scene model's time goes
(MiniLM question encoding vs the CNN + hops). Writes artifacts/vqa-scenes-latency.json.

    python benchmarks/vqa_scenes.py [--threads 1] [--repeats 50]
"""
import argparse
import json
import os

import torch
from common import cpu_name, timed

import mmdemo
from mmdemo import paths
from mmdemo.paths import ROOT

IMAGE = str(ROOT / "examples" / "vqa" / "scene-two-hop.png")
QUESTION = "what colour is the digit left of the triangle?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    scenes, easy = mmdemo.load("vqa", "scenes-multihop"), mmdemo.load("vqa", "easyvqa-gated")
    image = scenes.prepare_image(IMAGE)[None]
    encoded = scenes.text.encode([QUESTION])
    out = {
        "cpu": cpu_name(), "threads": args.threads, "load_average": os.getloadavg(),
        "scenes-multihop predict": timed(lambda: scenes.predict(image=IMAGE, text=QUESTION), args.repeats),
        "easyvqa-gated predict": timed(lambda: easy.predict(image=IMAGE, text=QUESTION), args.repeats),
        "MiniLM encode (one question)": timed(lambda: scenes.text.encode([QUESTION]), args.repeats),
        "scene net (CNN + hops, question encoded)": timed(lambda: scenes.run(image, None, encoded=encoded),
                                                          args.repeats),
    }
    path = paths.artifacts("vqa-scenes-latency.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
