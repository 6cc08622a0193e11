"""The training batches of a run, replayable from any update: batch ``i`` is items
``[i*B, (i+1)*B)`` of epoch ``i // steps_per_epoch`` of a dynamic dataset whose items are a pure
function of (seed, epoch, index, rank), so a resumed run draws what an unbroken one would have."""

from __future__ import annotations

import torch


def _stack(items):
    return torch.stack([m for m, _ in items]), torch.stack([s for _, s in items])


def training_batches(train, steps_per_epoch: int, batch_size: int, step: int, workers: int = 0):
    """Batches ``(mixture [B, T], sources [B, S, T])`` from update ``step`` on: batch ``i`` is items
    ``[i*B, (i+1)*B)`` of epoch ``i // steps_per_epoch``, drawn inline or by ``workers`` processes
    (the same tensors either way: every item is a pure function of its epoch and index)."""
    from torch.utils.data import DataLoader

    while True:
        epoch, index = divmod(step, steps_per_epoch)
        train.set_epoch(epoch)
        sampler = [
            list(range(i * batch_size, (i + 1) * batch_size)) for i in range(index, steps_per_epoch)
        ]
        if workers > 0:
            yield from DataLoader(
                train, batch_sampler=sampler, num_workers=workers, collate_fn=_stack
            )
        else:
            for indices in sampler:
                yield _stack([train[i] for i in indices])
        step += len(sampler)


def alternating_batches(trains, steps_per_epoch: int, batch_size: int, step: int, workers: int = 0):
    """Batches from update ``step`` on, update ``s`` drawn from ``trains[s % len(trains)]`` (each
    dataset at its own place, so a resumed run draws the same batches as an unbroken one)."""
    n = len(trains)
    streams = [
        training_batches(train, steps_per_epoch, batch_size, (step - i + n - 1) // n, workers)
        for i, train in enumerate(trains)
    ]
    while True:
        yield next(streams[step % n])
        step += 1
