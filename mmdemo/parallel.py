"""Training and evaluation on one CPU, a GPU, or many processes and machines, through Hugging Face Accelerate.

    python -m mmdemo.train classify --manifest data.jsonl --out ckpt                       # one process
    accelerate launch --multi_gpu --num_processes 2 -m mmdemo.train classify --manifest ...  # two (gloo on CPU)

The same code runs in both: with one process every helper here is a no-op. Under N processes, fit()
gives process k the batches k, k+N, k+2N, ... of each epoch (shard), averages the gradients over the
processes after every backward (average_gradients: one all-reduce, what DDP does), and only the main
process prints and saves. Evaluation splits the items between the processes and gathers the results.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import sys
from typing import Iterable, Iterator

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


def train_device() -> torch.device:
    """Where fit() puts the model: the accelerator's device under a launcher, else runtime.device()."""
    return accelerator().device if processes()[1] > 1 else device()   # MMDEMO_DEVICE=cuda:1 honoured alone


def shard(batches: Iterable, rank: int, n: int) -> Iterator:
    """Process `rank` of `n` takes batches rank, rank+n, ... Every process walks the same sequence (the
    trainers seed their random numbers alike), so the shards are disjoint. A last group of fewer than n
    batches is shared round-robin, so all processes take the same number of steps (an all-reduce each)."""
    if n == 1:
        yield from batches
        return
    it = iter(batches)
    while group := list(itertools.islice(it, n)):
        yield group[rank % len(group)]


def to_device(batch, where: torch.device):
    """Tensors in nested tuples, lists and dicts moved to `where`; anything else (numpy index arrays) as is."""
    if torch.is_tensor(batch):
        return batch.to(where, non_blocking=True)
    if isinstance(batch, (list, tuple)) and not hasattr(batch, "_fields"):
        return type(batch)(to_device(b, where) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, where) for k, v in batch.items()}
    return batch


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Mean of every parameter's gradient over the processes, in one all-reduce (a missing gradient counts
    as zero, as in DDP). No-op with one process."""
    if processes()[1] == 1 or not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = accelerator().reduce(torch.cat([g.flatten() for g in grads]), reduction="mean")
    for p, g in zip(params, torch.split(flat, [g.numel() for g in grads])):
        p.grad = g.view_as(p).clone()


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
