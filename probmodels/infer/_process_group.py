"""The process-group side of :func:`probmodels.infer.train.train`: what differs between a
run in one process and one rank of a ``torch.distributed`` group, behind one interface.

The training loop calls the same methods in both cases; in one process they are
no-ops or identities, in a group they are the collectives the loop needs:

- ``shard(idx)``: this rank's contiguous ``1/world_size`` of the global batch;
- ``backward(loss, n_shard, n_global)``: the gradient of the shard's share of the
  mean over the global batch;
- ``sum_gradients(params, value)``: one ``all_reduce`` of the flat gradient and the
  shard's summed loss; returns the global summed loss;
- ``broadcast(tensors)``: rank 0's values (parameters and buffers) to every rank;
- ``gather(obj)``: every rank's ``obj`` (the random states a checkpoint records);
- ``share_verdict(problem)``: rank 0's verdict on the checkpoint path, for every rank;
- ``barrier()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["ProcessGroup", "SingleProcess", "process_group"]


class SingleProcess:
    """A run in one process: the whole batch is this process's, every collective a no-op."""

    rank, world = 0, 1

    def allocate_grads(self, params: Sequence[torch.Tensor]) -> None:
        pass

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        return idx

    def backward(self, loss: torch.Tensor, n_shard: int, n_global: int) -> None:
        loss.backward()

    def sum_gradients(self, params: Sequence[torch.Tensor], value: torch.Tensor) -> torch.Tensor:
        return value

    def broadcast(self, tensors: Sequence[torch.Tensor]) -> None:
        pass

    def barrier(self) -> None:
        pass

    def gather(self, obj: Any) -> list[Any]:
        return [obj]

    def share_verdict(self, problem: OSError | None) -> OSError | None:
        return problem


class ProcessGroup:
    """One rank of an initialised ``torch.distributed`` group (module docstring)."""

    def __init__(self, device: torch.device):
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if device.type == "cuda":
            # NCCL's collectives on Python objects (all_gather_object, barrier) use the
            # current CUDA device; without this every rank would talk through cuda:0
            torch.cuda.set_device(device)

    def allocate_grads(self, params: Sequence[torch.Tensor]) -> None:
        # allocated once, so a rank with an empty shard still joins the all_reduce
        for p in params:
            p.grad = torch.zeros_like(p)

    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous shard of the global batch (may be empty)."""
        return torch.tensor_split(idx, self.world)[self.rank]

    def backward(self, loss: torch.Tensor, n_shard: int, n_global: int) -> None:
        # gradient of (shard sum) / global batch size; summed over ranks by sum_gradients
        (loss * (n_shard / n_global)).backward()

    def sum_gradients(self, params: Sequence[torch.Tensor], value: torch.Tensor) -> torch.Tensor:
        """All-reduce the gradients and this shard's summed loss ``value`` in one flat tensor."""
        grads = [p.grad for p in params]
        if any(g is None for g in grads):
            raise RuntimeError(
                "sum_gradients needs every parameter's gradient: call allocate_grads first."
            )
        flat = torch.cat([g.reshape(-1) for g in grads if g is not None] + [value.reshape(1)])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            if g is not None:
                g.copy_(flat[offset : offset + p.numel()].view_as(p))
            offset += p.numel()
        return flat[-1]

    def broadcast(self, tensors: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for t in tensors:
                dist.broadcast(t.data, src=0)

    def barrier(self) -> None:
        dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        gathered: list[Any] = [None] * self.world
        dist.all_gather_object(gathered, obj)
        return gathered

    def share_verdict(self, problem: OSError | None) -> OSError | None:
        """Rank 0's verdict for every rank, so that no rank waits for a failed one."""
        verdict = [problem]
        dist.broadcast_object_list(verdict, src=0)
        if verdict[0] is not None and problem is None:
            return type(verdict[0])(f"rank 0: {verdict[0]}")
        return problem


def process_group(device: torch.device) -> SingleProcess | ProcessGroup:
    """The group of this process: ``torch.distributed``'s when it is initialised."""
    if dist.is_available() and dist.is_initialized():
        return ProcessGroup(device)
    return SingleProcess()
