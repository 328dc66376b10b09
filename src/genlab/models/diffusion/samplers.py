"""Samplers of the reverse process, kept apart from the network (diffusers' schedulers).

A sampler knows the schedule and the timesteps it visits; it never sees the network.
Each ``step(x0, eps, i, x, generator)`` takes the denoiser's estimates of the clean
data ``x0`` and of the noise ``eps`` at the i-th visited timestep and returns the
sample at the next one. The visited timesteps are evenly spaced from T - 1 down
(diffusers' "trailing" spacing: T - 1, T - 1 - T/steps, ..., T/steps - 1); the last step
goes to the clean data (abar = 1) and returns the clean estimate, as Ho et al.'s final
step returns the mean. With ``steps = T`` every timestep is visited.

- :class:`DDPMSampler`: ancestral sampling (Ho et al. 2020, Algorithm 2) with the
  posterior variance (diffusers' ``"fixed_small"``); with ``steps < T`` it runs the
  respaced chain of Nichol & Dhariwal (2021) on the visited timesteps.
- :class:`DDIMSampler`: Song et al. (2021), eq. 12, with ``eta`` (0: deterministic,
  1: DDPM's variance).
- :class:`DPMSolverPP2MSampler`: DPM-Solver++(2M), the second-order multistep solver of
  the diffusion ODE in the data prediction (Lu et al. 2022, Algorithm 2; diffusers'
  ``DPMSolverMultistepScheduler`` with ``solver_type="midpoint"``), first order on
  its first and last steps.

:func:`predictions` turns the network output (eps, x0 or v) into ``(x0, eps)``;
:func:`sample_loop` is the numbered loop ``Diffusion.sample`` runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from genlab.models.diffusion.schedules import Schedule

__all__ = ["SAMPLERS", "DDIMSampler", "DDPMSampler", "DPMSolverPP2MSampler", "make_sampler", "predictions",
           "sample_loop"]


def predictions(output: torch.Tensor, x: torch.Tensor, abar: torch.Tensor, kind: str,
                clip: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x0, eps)`` estimates from the network output at noise level ``abar``.

    ``x = sqrt(abar) x0 + sqrt(1 - abar) eps`` and ``v = sqrt(abar) eps - sqrt(1 - abar) x0``
    (Salimans & Ho 2022). ``abar`` is a tensor broadcastable to ``x``. With ``clip``,
    x0 is clamped to [-clip, clip] and eps recomputed from it (diffusers' ``clip_sample``).
    """
    a, s = abar.sqrt(), (1 - abar).sqrt()
    if kind == "eps":
        eps = output
        x0 = (x - s * eps) / a
    elif kind == "x0":
        x0 = output
        eps = (x - a * x0) / s
    elif kind == "v":
        x0 = a * x - s * output
        eps = s * x + a * output
    else:
        raise ValueError(f"unknown prediction {kind!r}")
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        eps = (x - a * x0) / s
    return x0, eps


def visited_timesteps(T: int, steps: int) -> torch.Tensor:
    """``steps`` distinct timesteps from T - 1 down, evenly spaced, the last T / steps - 1
    (diffusers' ``"trailing"`` spacing; ``steps = T`` visits every t): int64, descending."""
    return (T - torch.arange(steps, dtype=torch.float64) * (T / steps)).round().long() - 1


class _Sampler:
    """Visited timesteps and the noise levels around them; subclasses define ``step``."""

    stochastic = False

    def __init__(self, schedule: Schedule, steps: int):
        if not 1 <= steps <= schedule.T:
            raise ValueError(f"steps must be in 1..{schedule.T}; got {steps}.")
        self.timesteps = visited_timesteps(schedule.T, steps)                 # (S,)
        abar = schedule.alphas_cumprod
        self.abar = abar[self.timesteps]                                       # at the visited steps
        self.abar_prev = torch.cat([self.abar[1:], torch.ones(1, dtype=torch.float64)])   # at the next (1: data)

    def step(self, x0: torch.Tensor, eps: torch.Tensor, i: int, x: torch.Tensor,
             generator: torch.Generator | None) -> torch.Tensor:   # pragma: no cover - interface
        raise NotImplementedError


def _noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(like.shape, generator=generator, dtype=like.dtype).to(like.device)


class DDPMSampler(_Sampler):
    """x_{t'} ~ q(x_{t'} | x_t, x0_hat): the posterior of the (respaced) forward chain.

    For a step t -> t' with beta = 1 - abar_t / abar_t' (Ho et al. eq. 7)::

        mean = sqrt(abar_t') beta / (1 - abar_t) x0 + sqrt(1 - beta) (1 - abar_t') / (1 - abar_t) x_t
        var  = beta (1 - abar_t') / (1 - abar_t)
    """

    stochastic = True

    def step(self, x0, eps, i, x, generator):
        a_t, a_p = float(self.abar[i]), float(self.abar_prev[i])
        beta = 1 - a_t / a_p
        mean = (a_p ** 0.5 * beta / (1 - a_t)) * x0 + ((1 - beta) ** 0.5 * (1 - a_p) / (1 - a_t)) * x
        var = beta * (1 - a_p) / (1 - a_t)
        return mean + var ** 0.5 * _noise(x, generator) if var > 0 else mean


class DDIMSampler(_Sampler):
    """x_{t'} = sqrt(abar_t') x0 + sqrt(1 - abar_t' - sigma^2) eps + sigma z (Song et al. eq. 12).

    ``sigma = eta sqrt((1 - abar_t') / (1 - abar_t)) sqrt(1 - abar_t / abar_t')``;
    ``eta = 0`` is deterministic given x_T, ``eta = 1`` has DDPM's variance.
    """

    def __init__(self, schedule: Schedule, steps: int, eta: float = 0.0):
        super().__init__(schedule, steps)
        self.eta = float(eta)
        self.stochastic = self.eta > 0

    def step(self, x0, eps, i, x, generator):
        a_t, a_p = float(self.abar[i]), float(self.abar_prev[i])
        var = self.eta ** 2 * (1 - a_p) / (1 - a_t) * (1 - a_t / a_p)
        out = a_p ** 0.5 * x0 + max(1 - a_p - var, 0.0) ** 0.5 * eps
        return out + var ** 0.5 * _noise(x, generator) if var > 0 else out


class DPMSolverPP2MSampler(_Sampler):
    """DPM-Solver++(2M) in lambda = log(alpha / sigma), alpha = sqrt(abar), sigma = sqrt(1 - abar).

    With h = lambda_t' - lambda_t and D0 = x0_hat(t)::

        first order:  x_t' = (sigma_t' / sigma_t) x_t - alpha_t' (exp(-h) - 1) D0
        second order: ... - 0.5 alpha_t' (exp(-h) - 1) D1,  D1 = (D0 - x0_hat(t_prev)) / r,
                      r = (lambda_t - lambda_t_prev) / h

    (Lu et al. 2022, Algorithm 2, midpoint form). The first step has no history, and the
    last goes to sigma = 0 (h infinite), so both are first order; the last returns D0.
    """

    def __init__(self, schedule: Schedule, steps: int):
        super().__init__(schedule, steps)
        self.prev_x0: torch.Tensor | None = None

    @staticmethod
    def _lam(abar: float) -> float:
        return 0.5 * (math.log(abar) - math.log1p(-abar))

    def step(self, x0, eps, i, x, generator):
        a_t, a_p = float(self.abar[i]), float(self.abar_prev[i])
        if a_p >= 1.0:                          # last step: sigma_t' = 0, the solution is D0
            self.prev_x0 = None
            return x0
        lam_t, lam_p = self._lam(a_t), self._lam(a_p)
        h = lam_p - lam_t
        phi = math.expm1(-h)                   # exp(-h) - 1
        ratio = ((1 - a_p) / (1 - a_t)) ** 0.5
        out = ratio * x - a_p ** 0.5 * phi * x0
        if self.prev_x0 is not None:
            lam_prev = self._lam(float(self.abar[i - 1]))
            r = (lam_t - lam_prev) / h
            out = out - 0.5 * a_p ** 0.5 * phi * (x0 - self.prev_x0) / r
        self.prev_x0 = x0
        return out


SAMPLERS = {"ddpm": DDPMSampler, "ddim": DDIMSampler, "dpm++2m": DPMSolverPP2MSampler}


def make_sampler(name: str, schedule: Schedule, steps: int, eta: float = 0.0) -> _Sampler:
    """A fresh sampler (samplers with history, like DPM-Solver++(2M), are used once)."""
    if name == "ddim":
        return DDIMSampler(schedule, steps, eta)
    return SAMPLERS[name](schedule, steps)


def sample_loop(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], sampler: _Sampler,
                x: torch.Tensor, kind: str, clip: float | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the reverse process from ``x`` = x_T: returns the final x0 estimate.

    ``predict(x_t, t)`` is the network output (eps, x0 or v, given by ``kind``) for the
    batch ``x_t`` at the integer timestep ``t`` (a 0-d int64 tensor).
    """
    for i, t in enumerate(sampler.timesteps):
        # 1. predict: network output -> estimates of the clean data and of the noise
        abar = sampler.abar[i].to(x.dtype)
        x0, eps = predictions(predict(x, t), x, abar, kind, clip)
        # 2. x_t -> x_t' (the next visited timestep; after t = 0, the data)
        x = sampler.step(x0, eps, i, x, generator)
    return x
