"""Noise schedules of the discrete-time forward process, as pure functions.

The forward process (Ho et al. 2020, eq. 2 and 4) on T steps, indexed t = 0..T-1
here (Ho's t = 1..T)::

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
    q(x_t | x_0)     = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s <= t} (1 - beta_s)

- ``linear``: beta from 1e-4 to 0.02 over T = 1000 steps (Ho et al.), rescaled by
  1000 / T for other T as in Nichol & Dhariwal (2021, ``get_named_beta_schedule``);
  betas are capped at 0.999, so use T >= 100 with it.
- ``cosine``: abar(s) = f(s) / f(0), f(s) = cos((s + 0.008) / 1.008 * pi / 2)^2 at
  s = (t + 1) / T (Nichol & Dhariwal 2021, eq. 17), betas capped at 0.999. One
  continuous curve sampled at T points, so schedules with different T share their
  end points (the variational bound of a fixed denoiser tightens as T grows, Kingma
  et al. 2021).

Everything is float64: ``1 - abar_t`` near t = 0 is ~1e-4 and the bound's KL terms
subtract nearly equal numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["SCHEDULES", "Schedule", "cosine_betas", "linear_betas", "make_schedule"]


def linear_betas(T: int) -> torch.Tensor:
    """Ho et al.'s linear betas (1e-4 .. 0.02 at T = 1000, scaled by 1000 / T), float64 (T,)."""
    scale = 1000.0 / T
    return torch.linspace(scale * 1e-4, scale * 0.02, T, dtype=torch.float64).clamp(max=0.999)


def cosine_betas(T: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule: betas (T,) float64 from abar(t) = f(t) / f(0)."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return (1 - abar[1:] / abar[:-1]).clamp(max=0.999)


SCHEDULES = {"linear": linear_betas, "cosine": cosine_betas}


@dataclass(frozen=True)
class Schedule:
    """Per-step quantities of a schedule (each a float64 tensor of shape (T,)).

    ``alphas_cumprod[t]`` is abar_t; ``alphas_cumprod_prev[t]`` is abar_{t-1} with
    abar_{-1} = 1 (the data). The posterior q(x_{t-1} | x_t, x_0) (Ho et al. eq. 6-7)
    has mean ``coef_x0[t] * x_0 + coef_xt[t] * x_t`` and variance ``posterior_var[t]``
    (0 at t = 0, where x_{t-1} is the data).
    """

    betas: torch.Tensor

    @property
    def T(self) -> int:
        return len(self.betas)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return torch.cumprod(1 - self.betas, 0)

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    @property
    def posterior_var(self) -> torch.Tensor:
        return self.betas * (1 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)

    @property
    def coef_x0(self) -> torch.Tensor:
        return self.betas * self.alphas_cumprod_prev.sqrt() / (1 - self.alphas_cumprod)

    @property
    def coef_xt(self) -> torch.Tensor:
        return (1 - self.alphas_cumprod_prev) * (1 - self.betas).sqrt() / (1 - self.alphas_cumprod)

    @property
    def log_snr(self) -> torch.Tensor:
        """lambda_t = log(abar_t / (1 - abar_t)), decreasing in t."""
        abar = self.alphas_cumprod
        return torch.log(abar) - torch.log1p(-abar)


def make_schedule(name: str, T: int) -> Schedule:
    """The :class:`Schedule` named ``name`` ("linear" or "cosine") on ``T`` steps.

    Examples
    --------
    >>> s = make_schedule("cosine", 1000)
    >>> s.T, bool(s.alphas_cumprod[-1] < 1e-4)
    (1000, True)
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose from {', '.join(SCHEDULES)}.")
    return Schedule(SCHEDULES[name](T))
