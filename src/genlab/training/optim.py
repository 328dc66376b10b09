"""Optimiser and learning-rate schedule (nanoGPT's recipe).

- AdamW with two parameter groups: tensors with 2 or more dimensions (weight
  matrices, convolution kernels, embeddings) get weight decay; biases and norm
  gains do not.
- Linear warmup, then cosine decay to ``min_lr_ratio * lr``. The schedule is a pure
  function of the step, so resuming needs no scheduler state.
"""

from __future__ import annotations

import math

import torch

__all__ = ["build_optimizer", "lr_factor"]


def build_optimizer(module: torch.nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW over ``module``'s trainable parameters, with weight-decay groups.

    A module may define ``optimizer_groups()`` returning its own list of AdamW groups
    (e.g. a GAN's generator and discriminator with their own ``betas`` and an
    ``lr_scale``, the two-time-scale rule); the trainer multiplies the scheduled learning
    rate by each group's ``lr_scale`` (default 1).
    """
    if hasattr(module, "optimizer_groups"):
        groups = [{**g, "weight_decay": g.get("weight_decay", weight_decay)} for g in module.optimizer_groups()]
        return torch.optim.AdamW(groups, lr=lr, betas=betas, foreach=False)
    decay, no_decay = [], []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    # foreach=False: the single-tensor path gives identical results on every run and resume.
    return torch.optim.AdamW(groups, lr=lr, betas=betas, foreach=False)


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str, min_lr_ratio: float) -> float:
    """Multiplier of the base learning rate at optimisation ``step`` (0-based).

    ``schedule``: ``"cosine"`` (warmup, then half a cosine down to ``min_lr_ratio``)
    or ``"constant"`` (warmup, then 1).
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
