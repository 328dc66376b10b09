"""Timestep embeddings for diffusion denoisers.

``timestep_embedding`` is the sinusoidal code of Vaswani et al. (2017) applied to a
(possibly fractional) timestep, as in Ho et al. (2020) and diffusers' ``Timesteps``
with ``flip_sin_to_cos=True, downscale_freq_shift=0``: ``[cos(t w_k), sin(t w_k)]``
with ``w_k = max_period ** (-k / half)``, k = 0..half-1. ``TimestepMLP`` is the
two-layer network that lifts it to the width the residual blocks read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TimestepMLP", "timestep_embedding"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps.

    Parameters
    ----------
    t : Tensor of shape (B,)
        Timesteps (integers or floats).
    dim : int
        Embedding size (even).
    max_period : float
        Longest wavelength.

    Returns
    -------
    Tensor of shape (B, dim), float32: cosines then sines.

    Examples
    --------
    >>> timestep_embedding(torch.tensor([0, 10]), 4).shape
    torch.Size([2, 4])
    """
    if dim % 2:
        raise ValueError(f"timestep_embedding needs an even dim; got {dim}.")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]          # (B, half)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepMLP(nn.Module):
    """``sinusoid(t) (B, in_dim) -> Linear -> SiLU -> Linear -> (B, out_dim)``."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.in_dim = in_dim
        self.linear_1 = nn.Linear(in_dim, out_dim)
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(timestep_embedding(t, self.in_dim))))
