"""Latency of one search against a 10,000-item gallery (MNIST test images), batch 1, after warm-up.

    python benchmarks/retrieve.py [--repeats 100] [--threads 1]

Measures, in the same run: the whole predict() (encode the text query, search, explain the k = 5
results, place the query on the map), the search alone with faiss (IndexFlatIP, exact) and with one
torch matrix product + top-k, and drawing the map. Writes artifacts/retrieve-benchmark.json and the map
of the query "seven" over the "digits-all" gallery (artifacts/retrieve-map.png).
"""
import argparse
import json

import torch

import mmdemo
from mmdemo import paths
from mmdemo.tasks.retrieve.gallery import VectorIndex
from mmdemo.tasks.retrieve.space_map import draw_map
from common import cpu_name, timed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    mmdemo.use_native_conv_kernels()
    model = mmdemo.load("retrieve")
    g = model.gallery("mnist-test")
    query = model.embed("digits", "text", ["seven"])[0]
    exact = VectorIndex(g.embeddings[: 4095])        # below the faiss threshold: the matmul path ...
    exact.embeddings = g.embeddings                  # ... over the same 10,000 items
    rows = {"gallery_items": len(g.raw.items), "index": g.index.kind,
            "predict_text_query_k5": timed(lambda: model.predict(text="seven", gallery="mnist-test", k=5), args.repeats),
            "search_only_faiss": timed(lambda: g.index.search(query, 5), args.repeats),
            "search_only_matmul_topk": timed(lambda: exact.search(query, 5), args.repeats)}
    pred = model.predict(text="seven", gallery="digits-all", k=5)
    rows["draw_map_digits_all"] = timed(lambda: draw_map(pred.extras.map), 20)
    rows["machine"] = f"{cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    out = paths.artifacts()
    out.mkdir(parents=True, exist_ok=True)
    draw_map(pred.extras.map).save(out / "retrieve-map.png")
    (out / "retrieve-benchmark.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
