"""Data-parallel training over processes, GPUs or machines, started by ``accelerate launch``.

``accelerate launch`` (or ``torchrun``) starts one process per replica and sets ``WORLD_SIZE``; Hugging Face
``Accelerator`` then joins the process group (gloo on CPUs, NCCL on GPUs) and picks each process's device.
Every replica draws the same global batch from the same seeded stream and trains on its own rows of it,
so N processes with a batch of B each take B / N rows, and the result equals one process on the batch of B:

- the token cross-entropy is a mean over the batch's tokens, whose count differs between replicas (FAST
  chunks vary in length), so each replica scales its mean to ``its tokens x N / all tokens`` before the
  gradients are averaged (every other loss is a mean over rows, equal in number on every replica);
- gradients are averaged with one all-reduce after each backward pass, so every replica takes the same
  optimizer step and holds the same weights (``weight_spread`` measures it);
- only the main process writes checkpoints and prints; the others wait for it.

One process (no ``WORLD_SIZE``, or 1) needs none of this, and ``accelerate`` is not even imported.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch


class Replicas:
    """This process among the data-parallel replicas; a single process is one replica of one."""

    def __init__(self, device: torch.device) -> None:
        self.count = int(os.environ.get("WORLD_SIZE", "1"))
        self._accelerator = None
        self.device = device
        self.rank = 0
        if self.count > 1:
            from accelerate import Accelerator

            self._accelerator = Accelerator(cpu=device.type == "cpu")
            self.rank = self._accelerator.process_index
            self.count = self._accelerator.num_processes
            self.device = self._accelerator.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def local_rows(self, batch_size: int) -> slice:
        """This replica's rows of a global batch of ``batch_size``."""
        if batch_size % self.count:
            raise ValueError(f"the batch size {batch_size} must divide among the {self.count} processes")
        rows = batch_size // self.count
        return slice(self.rank * rows, (self.rank + 1) * rows)

    def token_scale(self, local_tokens: int) -> float:
        """What turns this replica's mean over its tokens into its share of the mean over all replicas' tokens
        (after gradients are averaged over replicas)."""
        if self.count == 1:
            return 1.0
        total = self._sum(torch.tensor([float(local_tokens)], device=self.device))
        return float(local_tokens) * self.count / float(total)

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        if self.count == 1:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        flat = self._sum(torch.cat([g.reshape(-1) for g in grads])) / self.count
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def mean(self, values: list[float]) -> list[float]:
        """``values`` averaged over replicas (for the logged losses)."""
        if self.count == 1:
            return values
        return (self._sum(torch.tensor(values, dtype=torch.float64, device=self.device)) / self.count).tolist()

    def weight_spread(self, parameters: Iterable[torch.nn.Parameter]) -> float:
        """Largest difference of any weight between replicas (0 when they are in step)."""
        if self.count == 1:
            return 0.0
        flat = torch.cat([p.detach().reshape(-1).float() for p in parameters])
        gathered = self._accelerator.gather(flat[None])
        return float((gathered.max(dim=0).values - gathered.min(dim=0).values).max())

    def wait(self) -> None:
        if self._accelerator is not None:
            self._accelerator.wait_for_everyone()

    def _sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return self._accelerator.reduce(tensor, reduction="sum")
