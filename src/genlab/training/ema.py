"""Exponential moving average of a module's parameters (Polyak averaging).

``shadow = decay * shadow + (1 - decay) * param`` after each optimiser step; the
averaged weights usually sample better than the raw ones (used by diffusion
models and GANs). Buffers are copied, not averaged.
"""

from __future__ import annotations

import torch

__all__ = ["EMA"]


class EMA:
    """EMA of ``module``'s floating-point parameters with the given ``decay``."""

    def __init__(self, module: torch.nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        shadow, current, others = [], [], []
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                shadow.append(self.shadow[k])
                current.append(v.detach())
            else:
                others.append((k, v))
        if shadow:   # shadow += (1 - decay) * (param - shadow), one fused call over all tensors
            torch._foreach_lerp_(shadow, current, 1.0 - self.decay)
        for k, v in others:
            self.shadow[k].copy_(v)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        """Load the averaged weights into ``module``."""
        module.load_state_dict(self.shadow)
