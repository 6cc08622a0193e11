"""Scale-out under torchrun: this process's rank, its device, the process group (gloo on CPU,
NCCL on GPU), the DistributedDataParallel wrapper, and the agreements between ranks. Without
torchrun the run is rank 0 of 1 and all of this does nothing."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from separation_core.engine.inference import resolve_device


@dataclass(frozen=True)
class Ranks:
    """This process's place among the run's: ``rank`` of ``world``, ``local`` on its machine."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @classmethod
    def from_environment(cls) -> Ranks:
        """The ranks torchrun sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``)."""
        return cls(
            rank=int(os.environ.get("RANK", 0)),
            world=int(os.environ.get("WORLD_SIZE", 1)),
            local=int(os.environ.get("LOCAL_RANK", 0)),
        )

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that validates, logs and writes checkpoints."""
        return self.rank == 0


def rank_device(name: str, ranks: Ranks) -> torch.device:
    """The device ``name`` ("auto", "cpu", "cuda", ...) for this rank: its own GPU under torchrun."""
    device = resolve_device(name)
    if device.type == "cuda" and ranks.world > 1:
        device = torch.device("cuda", ranks.local)
        torch.cuda.set_device(device)
    return device


def join_process_group(ranks: Ranks, device: torch.device) -> None:
    """Join the run's process group; on CPU, take this rank's share of the machine's cores."""
    if ranks.world <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", ranks.world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))


def data_parallel(model: torch.nn.Module, device: torch.device, world: int) -> torch.nn.Module:
    """``model`` wrapped to average its gradients over the ranks (itself alone)."""
    if world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def barrier(world: int) -> None:
    """Wait for every rank."""
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def world_size_agrees(flag: bool, world: int, device) -> bool:
    """``flag`` of any rank, for all ranks (so that they stop together)."""
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
