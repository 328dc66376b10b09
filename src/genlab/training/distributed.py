"""Process-group helpers: everything is written by rank 0 only, so the same code
runs unchanged as one process or as many under ``torchrun`` (DDP)."""

from __future__ import annotations

import torch.distributed as dist

__all__ = ["rank", "world_size", "is_main_process"]


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return rank() == 0
