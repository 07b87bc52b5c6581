"""Training and evaluation on one CPU, a GPU, or many processes and machines, through Hugging Face Accelerate.

    python -m mmdemo.train classify --manifest data.jsonl --out ckpt                       # one process
    accelerate launch --multi_gpu --num_processes 2 -m mmdemo.train classify --manifest ...  # two (gloo on CPU)

The same code runs in both: with one process every helper here is a no-op. Under N processes, fit()
gives process k the k-th slice of every batch (shard), sums the processes' gradients weighted by their
share of the batch after every backward (average_gradients: one all-reduce, what DDP does), and only the
main process prints and saves. Evaluation splits the items between the processes and gathers the results.
"""
from __future__ import annotations

import contextlib
import itertools
import os
from typing import Iterable, Iterator

import numpy as np
import torch

from .runtime import built_once, device


@built_once
def accelerator():
    """The process's Accelerator (its rank, process count and device), made once. On a CPU-only machine (or
    MMDEMO_DEVICE=cpu) it runs on the CPU, several processes talking over gloo; with GPUs, process k uses GPU k."""
    from accelerate import Accelerator
    return Accelerator(cpu=device().type == "cpu")


def processes() -> tuple[int, int]:
    """(this process's index, number of processes); (0, 1) without a launcher."""
    a = accelerator()
    return a.process_index, a.num_processes


def is_main() -> bool:
    return processes()[0] == 0


def finish() -> None:
    """End of a launched run: wait for every process, then close the process group. Left open, gloo's
    threads can outlive the interpreter and abort the process at exit ('terminate called without an
    active exception', SIGABRT) after the work is done. Nothing to do in a single process."""
    if processes()[1] > 1:
        import torch.distributed as dist
        accelerator().wait_for_everyone()
        if dist.is_initialized():
            dist.destroy_process_group()


def train_device() -> torch.device:
    """Where fit() puts the model: the accelerator's device under a launcher, else runtime.device()."""
    return accelerator().device if processes()[1] > 1 else device()   # MMDEMO_DEVICE=cuda:1 honoured alone


def first_dim(batch) -> int | None:
    """The batch size: the length of the first array or tensor found in the batch (None: nothing to split)."""
    if isinstance(batch, (torch.Tensor, np.ndarray)):
        return len(batch) if batch.ndim else None
    parts = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else []
    return next((d for d in map(first_dim, parts) if d is not None), None)


def split_batch(batch, rank: int, n: int, size: int | None = None):
    """Process `rank`'s contiguous slice of a batch. A batch is an index array or tensors whose first dimension
    is the batch, or tuples, lists and dicts of them (anything else, an int, is left whole): every array or
    tensor of that length is cut into n near-equal slices, as np.array_split does."""
    size = first_dim(batch) if size is None else size
    if isinstance(batch, (torch.Tensor, np.ndarray)) and batch.ndim and len(batch) == size:
        lo, hi = size * rank // n, size * (rank + 1) // n
        return batch[lo:hi]
    if isinstance(batch, dict):
        return {k: split_batch(v, rank, n, size) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(split_batch(b, rank, n, size) for b in batch)
    return batch


def shard(batches: Iterable, rank: int, n: int) -> Iterator[tuple[object, float]]:
    """(this process's slice of each batch, its share of the batch's items). Every process walks the same
    batches (the trainers seed their random numbers alike) and takes its own slice of each, so the N
    processes together take the steps one process would, on the same global batches (Accelerate calls this
    split_batches=True): same step count, same learning-rate schedule."""
    for batch in batches:
        size = first_dim(batch) if n > 1 else None
        if not size:                       # one process, or nothing to split: the whole batch, equal shares
            yield batch, 1.0 / n
            continue
        yield split_batch(batch, rank, n, size), (size * (rank + 1) // n - size * rank // n) / size


def to_device(batch, where: torch.device):
    """Tensors in nested tuples, lists and dicts moved to `where`; anything else (numpy index arrays) as is."""
    if torch.is_tensor(batch):
        return batch.to(where, non_blocking=True)
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(to_device(b, where) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, where) for k, v in batch.items()}
    return batch


def average_gradients(params: list[torch.nn.Parameter], share: float | None = None) -> None:
    """Every parameter's gradient summed over the processes, each weighted by its process's share of the
    batch (default: equal shares, DDP's mean): for a loss that is a mean over the batch's items this is the
    whole batch's gradient. One all-reduce; a missing gradient counts as zero. No-op with one process."""
    if processes()[1] == 1 or not params:
        return
    share = 1.0 / processes()[1] if share is None else share
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    used = torch.tensor([float(p.grad is not None) for p in params], device=grads[0].device)
    flat = accelerator().reduce(torch.cat([g.flatten() * share for g in grads] + [used]), reduction="sum")
    flat, used = flat[:-len(params)], flat[-len(params):]
    for p, g, u in zip(params, torch.split(flat, [g.numel() for g in grads]), used):
        p.grad = g.view_as(p).clone() if u > 0 else None    # no process used it: no gradient, as alone


def same_start(model: torch.nn.Module) -> None:
    """Every process starts from the main process's weights and buffers (as DDP does when it wraps a model)."""
    if processes()[1] == 1:
        return
    from accelerate.utils import broadcast
    for t in itertools.chain(model.parameters(), model.buffers()):
        t.data.copy_(broadcast(t.data.clone(), from_process=0))


def average_buffers(model: torch.nn.Module) -> None:
    """BatchNorm's running statistics averaged over the processes (each saw its own shard)."""
    if processes()[1] == 1:
        return
    for b in model.buffers():
        if b.is_floating_point():
            b.data.copy_(accelerator().reduce(b.data, reduction="mean"))


def split(items: list) -> tuple[list[int], list]:
    """This process's share of `items` (contiguous, sizes differ by at most one) and their indices."""
    rank, n = processes()
    if n == 1:
        return list(range(len(items))), items
    with accelerator().split_between_processes(list(range(len(items)))) as mine:
        return list(mine), [items[i] for i in mine]


def gather(indexed: list[tuple[int, object]]) -> list:
    """Every process's (index, result) pairs, in item order, on every process."""
    if processes()[1] > 1:
        from accelerate.utils import gather_object
        indexed = gather_object(indexed)
    return [r for _, r in sorted(indexed, key=lambda p: p[0])]


@contextlib.contextmanager
def main_prints():
    """Only the main process prints (stdout) inside the block; the others stay quiet."""
    if is_main():
        yield
        return
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        yield
