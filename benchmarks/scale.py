"""Training on 1 vs N processes with Hugging Face Accelerate (docs/scale.md): the same manifest, the same seed,
one `python -m mmdemo.train classify --manifest` run and one under `accelerate launch --num_processes N`;
both checkpoints are then measured on the same held-out manifest (with 1 and with N processes).

    python benchmarks/scale.py [--per-class 40] [--test-per-class 40] [--epochs 6] [--processes 2] [--out FILE]

The data are generated (no download): three shapes (circle / square / triangle) of random colour, size (12-20 px)
and place on a noisy 32x32 picture, and a text that names the shape for 60% of the items and says nothing useful
for the rest ("something number 3"); a few items lack the text. Writes artifacts/scale.json by default.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ["circle", "square", "triangle"]


def shapes_manifest(folder: Path, per_class: int, seed: int, name: str = "data") -> Path:
    """A generated image + text manifest of the three shapes (see the module's docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng, lines = np.random.default_rng(seed), []
    for k, shape in enumerate(SHAPES):
        for i in range(per_class):
            pixels = rng.integers(170, 256, (32, 32, 3), dtype=np.uint8)         # a noisy light background
            img = Image.fromarray(pixels)
            s = int(rng.integers(12, 21))
            x, y = rng.integers(1, 31 - s, 2)
            box, fill = [int(x), int(y), int(x + s), int(y + s)], tuple(int(c) for c in rng.integers(0, 140, 3))
            draw = ImageDraw.Draw(img)
            if shape == "circle":
                draw.ellipse(box, fill=fill)
            elif shape == "square":
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=fill)
            file = f"{name}-{shape}{i}.png"
            img.save(folder / file)
            item = {"image": file, "label": shape,
                    "text": f"a {shape} number {i}" if rng.random() < 0.6 else f"something number {i}"}
            if rng.random() < 0.1:
                del item["text"]                                                # items may lack a modality
            lines.append(json.dumps(item))
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(processes: int, module: str, *args) -> list[str]:
    """`python -m MODULE ARGS`, under accelerate launch (torch.distributed.run; gloo on a CPU) when processes > 1.
    (`accelerate launch --cpu --num_processes N` starts ONE process unless an MPI hostfile is given.)"""
    if processes == 1:
        return [sys.executable, "-m", module, *args]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(free_port()), "-m", module, *args]


def run(cmd: list[str], timeout: float = 600) -> tuple[str, float]:
    """Run a command with the repository importable and one torch thread per process; -> (stdout, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return r.stdout, time.perf_counter() - t0


def train(manifest: Path, out: Path, processes: int, epochs: int, seed: int = 0) -> float:
    """Train a classifier on the manifest with 1 or N processes; -> wall seconds."""
    return run(command(processes, "mmdemo.train", "classify", "--manifest", str(manifest), "--out", str(out),
                       "--epochs", str(epochs), "--seed", str(seed)))[1]


def evaluate(folder: Path, manifest: Path, processes: int) -> dict:
    """The classifier's accuracies on the manifest, measured with 1 or N processes (the last stdout line)."""
    out, _ = run(command(processes, "mmdemo.evaluate", "classify", "--classifier", str(folder), "--manifest",
                         str(manifest), "--json"))
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--test-per-class", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/mmdemo-scale"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from benchmarks.common import cpu_name
    from mmdemo import paths
    train_m = shapes_manifest(args.work, args.per_class, seed=1, name="train")
    test_m = shapes_manifest(args.work, args.test_per_class, seed=2, name="test")
    rows = []
    for seed in args.seeds:
        for n in (1, args.processes):
            folder = args.work / f"ckpt-{n}p-seed{seed}"
            seconds = train(train_m, folder, n, args.epochs, seed)
            m = evaluate(folder, test_m, 1)
            m_sharded = evaluate(folder, test_m, args.processes)
            rows.append({"seed": seed, "processes": n, "train_seconds": round(seconds, 1), "accuracy": m["accuracy"],
                         "unimodal_accuracy": m["unimodal_accuracy"], "n_test": m["n"],
                         "sharded_eval_equal": m_sharded["accuracy"] == m["accuracy"]})
            print(json.dumps(rows[-1]), flush=True)
    result = {"cpu": cpu_name(), "load_average": os.getloadavg(), "command": " ".join(sys.argv),
              "epochs": args.epochs, "train_items": 3 * args.per_class, "test_items": 3 * args.test_per_class,
              "runs": rows}
    out = args.out or paths.artifacts("scale.json")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
