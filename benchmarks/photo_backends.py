"""Model-card facts of the offline photo backends on the bundled example photos (examples/photos/):
EfficientNet-Lite0's top-5 ImageNet labels, the deletion AUC of its Grad-CAM map against random
deletion orders, and ConSE's ranking of a fixed set of free-text labels.

    python benchmarks/photo_backends.py [--random-orders 10] [--steps 16] [--out artifacts/photo_backends.json]
Deletion: the 7x7 grid cells of the 224x224 crop are set to grey in the order given (Grad-CAM's
highest first, or a random permutation) in `steps` chunks; AUC of the top-1 class probability
over the fraction deleted (lower = the map found what the class depends on).
"""
import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from common import cpu_name
from mmdemo.paths import ROOT

LABELS = ["a cat", "a cup of coffee", "a rocket launch", "an astronaut", "a horse", "a photographer with a camera"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--random-orders", type=int, default=10)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "artifacts" / "photo_backends.json"))
    args = ap.parse_args()
    import numpy as np
    import torch

    from mmdemo.backends import conse, efficientnet_lite
    torch.set_num_threads(args.threads)
    photos, start = {}, time.time()
    for path in sorted((ROOT / "examples" / "photos").glob("*.jpg")):
        t = time.perf_counter()
        result = efficientnet_lite.recognise(path)
        seconds = time.perf_counter() - t
        auc = efficientnet_lite.deletion_auc(path, random_orders=args.random_orders, steps=args.steps)
        ranked = conse.label_photo(path, LABELS)
        photos[path.name] = {"top5": [[l, round(p, 4)] for l, p in zip(result["labels"], result["probabilities"])],
                             "recognise_seconds": round(seconds, 3),
                             "deletion_auc_gradcam": round(auc["gradcam"], 4), "deletion_auc_random": round(auc["random"], 4),
                             "conse": [[l, round(s, 4)] for l, s in zip(ranked["labels"], ranked["scores"])]}
        print(path.name, photos[path.name], flush=True)
    gradcam = np.array([p["deletion_auc_gradcam"] for p in photos.values()])
    random = np.array([p["deletion_auc_random"] for p in photos.values()])
    report = {"photos": photos,
              "deletion_auc_mean": {"gradcam": round(float(gradcam.mean()), 4), "random": round(float(random.mean()), 4),
                                    "photos_where_gradcam_beats_random": int((gradcam < random).sum()), "photos": len(photos)},
              "conse_top1_is_the_photos_own_label": sum(1 for name, p in photos.items() if p["conse"][0][0] == _own_label(name)),
              "settings": {"random_orders": args.random_orders, "steps": args.steps, "labels": LABELS},
              "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": args.threads,
                          "load_average_after": os.getloadavg(), "wall_seconds": round(time.time() - start, 1)}}
    print(json.dumps({k: report[k] for k in ("deletion_auc_mean", "conse_top1_is_the_photos_own_label")}))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print("wrote", args.out)


def _own_label(file_name: str) -> str:
    return {"chelsea-cat.jpg": "a cat", "coffee.jpg": "a cup of coffee", "rocket.jpg": "a rocket launch",
            "astronaut.jpg": "an astronaut", "horse.jpg": "a horse", "camera.jpg": "a photographer with a camera"}[file_name]


if __name__ == "__main__":
    main()
