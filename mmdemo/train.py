"""Train a task's model from scratch and write its checkpoint folder (weights, config, model card).

    python -m mmdemo.train TASK [--epochs N] [--seed S] [--out FOLDER] [--threads N] [task options]
    python -m mmdemo.train TASK --help        # the task's own options too

TASK is any task folder with a train.py (mmdemo/tasks/); its train(epochs, seed, **options) returns a
checkpoint.Trained, which is saved here. The same command runs on N processes (docs/scale.md):

    accelerate launch --multi_gpu --num_processes N -m mmdemo.train TASK ...   # CPU (gloo) or N GPUs

each process trains on its shard of every epoch (mmdemo/nn/fit.py); only the main one prints and saves.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import checkpoint, parallel, paths, tasks
from .errors import MMDemoError


def parser(task_names: list[str]) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m mmdemo.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=task_names)
    ap.add_argument("--out", type=Path, default=None, help="checkpoint folder (default checkpoints/TASK)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the task's own")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return ap


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    names = tasks.with_part("train")
    ap = parser(names)
    known, _ = ap.parse_known_args([a for a in argv if a not in ("-h", "--help")] or ["--help"])
    module = tasks.part(known.task, "train")
    if hasattr(module, "add_arguments"):
        module.add_arguments(ap)
    args = ap.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    options = {k: v for k, v in vars(args).items() if k not in ("task", "out", "epochs", "seed", "threads")}
    # a task with several built-in models names each one's folder (e.g. vqa --model scenes)
    out = args.out or (module.checkpoint_folder(**options) if hasattr(module, "checkpoint_folder")
                       else paths.checkpoints(args.task))
    if hasattr(module, "check_arguments"):
        module.check_arguments(args, ap)
    with parallel.main_prints():
        try:
            trained = module.train(epochs=args.epochs, seed=args.seed, **options)
        except MMDemoError as e:   # e.g. a bad manifest: say what and where, no traceback
            sys.exit(f"error: {e}")
        if parallel.is_main():
            checkpoint.save(out, trained.module, trained.config, trained.card, trained.files)
            print(json.dumps(trained.config.get("metrics", {}), indent=2))
            print(f"wrote {out}")
    parallel.finish()


if __name__ == "__main__":
    sys.exit(main())
