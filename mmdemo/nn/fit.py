"""The one training loop. Every trainer of every task calls fit(); it knows nothing about tasks.

    fit(net, batches, loss, steps_per_epoch=len(train) // 64, epochs=10, lr=3e-3)

batches(epoch) yields the epoch's batches (whatever the task's loss understands); loss(batch) returns
the scalar loss to minimise and a dict of numbers to report (e.g. {"acc": 0.93}); fit reports their
mean per epoch. The optimiser is AdamW with a one-cycle schedule over all steps; gradients are
clipped when `clip` is set. Seeding and building the model stay with the trainer (so a trainer's
random numbers are drawn in its own order); saving the checkpoint is the dispatcher's (mmdemo/train.py).

It runs on Hugging Face Accelerate (mmdemo/parallel.py): the model and the batches' tensors go to the
process's device; under `accelerate launch --num_processes N` process k takes the k-th slice of every
batch (a batch is an index array or tensors whose first dimension is the batch, or tuples, lists, dicts of
them), the slices' gradients are combined after each backward into the whole batch's gradient (one
all-reduce), so N processes take the same steps on the same batches with the same schedule as one
process, each doing 1/N of the work; only the main process logs. With one process it is the plain loop.
"""
from __future__ import annotations

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
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=warmup)
    log = log if rank == 0 else (lambda *a: None)
    means: dict[str, float] = {}
    for epoch in range(epochs):
        model.train()
        t0, sums, n = time.perf_counter(), defaultdict(float), 0
        bar = tqdm(parallel.shard(batches(epoch), rank, n_proc), total=steps_per_epoch, leave=False,
                   desc=f"{name} {epoch + 1}/{epochs}", mininterval=2, disable=rank != 0)
        for batch, share in bar:
            value, stats = loss(parallel.to_device(batch, where)) if share else (None, {})   # share 0: batch < N
            opt.zero_grad(set_to_none=True)
            if value is not None:
                accelerator.backward(value)
            parallel.average_gradients(params, share)
            if clip:
                nn.utils.clip_grad_norm_(params, clip)
            opt.step()
            sched.step()
            if value is None:
                continue
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
