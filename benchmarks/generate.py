"""Generation speed of the generate task on this machine (after warm-up), written to artifacts/generate/.

    python benchmarks/generate.py [--repeats 30] [--threads 1]

Per image: the generator alone (VAE image decoder / GAN generator) for a batch of n images, divided by n.
Per request: predict() end to end from a typed digit (the classifier's encoders, both decoders, Griffin-Lim
for the speech, the evaluation CNN's reading, interpolation), and the speech part (Griffin-Lim) alone.
"""
import argparse
import json

import torch

import mmdemo
from mmdemo import paths
from mmdemo.tasks.generate.data import speech_from_target
from mmdemo.tasks.generate.model import LATENT, NOISE
from common import cpu_name, timed

mmdemo.use_native_conv_kernels()   # the convolutions the server runs


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = mmdemo.load("generate")
    vae, gan = model.net.vae, model.net.generator
    rows = {}
    for n in (1, 8, 16):
        z, noise, cond = torch.randn(n, LATENT), torch.randn(n, NOISE), torch.full((n, 10), 0.1)
        for name, fn in (("vae image decoder", lambda: torch.sigmoid(vae.image_decoder(z))),
                         ("gan generator", lambda: gan(noise, cond))):
            r = timed(fn, args.repeats)
            rows[f"{name}, batch {n}"] = {**r, "per_image_ms": round(r["p50_ms"] / n, 3)}
    mel = vae.speech_decoder(torch.randn(1, LATENT))
    rows["speech: log-mel decoder + Griffin-Lim (1 s)"] = timed(lambda: speech_from_target(vae.speech_decoder(
        torch.randn(1, LATENT))[0]), max(5, args.repeats // 3))
    rows["Griffin-Lim alone"] = timed(lambda: speech_from_target(mel[0]), max(5, args.repeats // 3))
    for kind in ("vae", "gan"):
        rows[f"predict(text='seven', model='{kind}', n=8) end to end"] = timed(
            lambda: model.predict(text="seven", model=kind, n=8), max(5, args.repeats // 3))
    result = {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
              "load_average": [round(x, 2) for x in __import__("os").getloadavg()], "results": rows}
    out = paths.artifacts("generate", "benchmark.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"cpu: {result['cpu']}, {result['torch_threads']} torch threads, load average {result['load_average']}")
    print("| what | p50 ms | p95 ms | per image ms |\n|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['p50_ms']} | {r['p95_ms']} | {r.get('per_image_ms', '')} |")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
