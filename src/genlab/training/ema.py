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
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1.0 - self.decay)
            else:
                self.shadow[k].copy_(v)

    @torch.no_grad()
    def copy_to(self, module: torch.nn.Module) -> None:
        """Load the averaged weights into ``module``."""
        module.load_state_dict(self.shadow)
