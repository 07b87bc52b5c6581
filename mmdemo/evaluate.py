"""Measure a registered model of a task on its test data.

    python -m mmdemo.evaluate TASK [--model NAME] [--limit N] [--json] [task options]
    python -m mmdemo.evaluate TASK --help        # the task's own options too

TASK is any task folder with an evaluate.py (mmdemo/tasks/); its evaluate(model, limit, **options)
returns a dict of metrics, printed here (one JSON object with --json; else one line per metric and,
where the task has one, its report(metrics)). Under `accelerate launch --multi_gpu --num_processes N -m
mmdemo.evaluate ...` a task that splits its items between processes (classify --manifest) gathers the
results; only the main process prints.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import parallel, tasks


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(prog="python -m mmdemo.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=tasks.with_part("evaluate"))
    ap.add_argument("--model", default=None, help="registered model name (default: the task's default)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N test items")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    known, _ = ap.parse_known_args([a for a in argv if a not in ("-h", "--help")] or ["--help"])
    module = tasks.part(known.task, "evaluate")
    if hasattr(module, "add_arguments"):
        module.add_arguments(ap)
    args = ap.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("task", "model", "limit", "json")}
    import mmdemo
    metrics = module.evaluate(mmdemo.load(args.task, args.model), args.limit, **options)
    main_process = parallel.is_main()
    parallel.finish()
    if not main_process:
        return
    if args.json:
        print(json.dumps(metrics))
        return
    for k, v in metrics.items():
        print(f"{k:>18}: {v}")
    if hasattr(module, "report"):
        print(module.report(metrics))


if __name__ == "__main__":
    sys.exit(main())
