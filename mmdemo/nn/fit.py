"""The one training loop. Every trainer of every task calls fit(); it knows nothing about tasks.

    fit(net, batches, loss, steps_per_epoch=len(train) // 64, epochs=10, lr=3e-3)

batches(epoch) yields the epoch's batches (whatever the task's loss understands); loss(batch) returns
the scalar loss to minimise and a dict of numbers to report (e.g. {"acc": 0.93}); fit reports their
mean per epoch. The optimiser is AdamW with a one-cycle schedule over all steps; gradients are
clipped when `clip` is set. Seeding and building the model stay with the trainer (so a trainer's
random numbers are drawn in its own order); saving the checkpoint is the dispatcher's (mmdemo/train.py).

It runs on Hugging Face Accelerate (mmdemo/parallel.py): the model and the batches' tensors go to the
process's device; under `accelerate launch --num_processes N` process k takes every N-th batch of each
epoch, the gradients are averaged over the processes after each backward (so every step sees N batches:
the batch is N times larger, an epoch N times shorter and the one-cycle schedule is laid over the steps
each process really takes), and only the main process logs. With one process it is the plain loop.
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import parallel


def fit(model: nn.Module, batches: Callable[[int], Iterable], loss: Callable[[object], tuple[torch.Tensor, dict]],
        steps_per_epoch: int, epochs: int = 1, lr: float = 3e-3, weight_decay: float = 1e-4,
        warmup: float = 0.1, clip: float | None = None, params=None, name: str = "train",
        log=print) -> dict[str, float]:
    """Train `model` (its parameters that require grad, or `params`) and return the last epoch's means
    (this process's; the shards are alike, so any process's means tell how training went)."""
    accelerator, (rank, n_proc) = parallel.accelerator(), parallel.processes()
    home, where = next(model.parameters()).device, parallel.train_device()
    model.to(where)
    parallel.same_start(model)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = math.ceil(steps_per_epoch / n_proc)          # what this process takes per epoch (shard)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps, pct_start=warmup)
    log = log if rank == 0 else (lambda *a: None)
    means: dict[str, float] = {}
    for epoch in range(epochs):
        model.train()
        t0, sums, n = time.perf_counter(), defaultdict(float), 0
        bar = tqdm(parallel.shard(batches(epoch), rank, n_proc), total=steps, desc=f"{name} {epoch + 1}/{epochs}",
                   leave=False, mininterval=2, disable=rank != 0)
        for batch in bar:
            value, stats = loss(parallel.to_device(batch, where))
            opt.zero_grad(set_to_none=True)
            accelerator.backward(value)
            parallel.average_gradients(params)
            if clip:
                nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            sched.step()
            n += 1
            sums["loss"] += value.item()
            for k, v in stats.items():
                sums[k] += float(v)
        parallel.average_buffers(model)
        means = {k: v / max(n, 1) for k, v in sums.items()}
        log(f"{name} epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            + f" ({time.perf_counter() - t0:.0f} s)" + (f" [{n_proc} processes]" if n_proc > 1 else ""))
    model.eval().to(home)        # handed back where it came from (the trainers evaluate it there)
    return means
