"""The variational bound on log p(x) of a diffusion model (Ho et al. 2020, eq. 5).

With the reverse transitions p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I), where
mu_theta is the posterior mean of q(x_{t-1} | x_t, x0) with x0 replaced by the denoiser's
estimate and sigma_t^2 the posterior variance (Ho's "fixed small"; the DDPM sampler draws
from this same model), the bound in nats per example is (indices 0..T-1, data x)::

    log p(x) >= - KL(q(x_{T-1} | x) || N(0, I))                                 prior
                - sum_{t=1}^{T-1} E_q KL(q(x_{t-1} | x_t, x) || p(x_{t-1} | x_t))    denoising terms
                + E_q log p(x | x_0)                                           decoder

Each denoising KL is ``0.5 (SNR(t-1) - SNR(t)) ||x - x0_hat(x_t, t)||^2`` with
SNR = abar / (1 - abar) (Kingma et al. 2021, eq. 13), evaluated at one draw of x_t.

The decoder p(x | x_0) is a Gaussian with mean x0_hat(x_0, 0) (what the samplers return)
and variance 1 / SNR(0) = (1 - abar_0) / abar_0, the variance of x_0 / sqrt(abar_0) around x
(Kingma et al. 2021 derive their decoder from q(x_0 | x) the same way). Ho et al. used the
posterior variance at t = 1 instead, which ties the decoder to the step size: with this
choice the prior, the decoder and the end points of the sum depend only on abar_0 and
abar_{T-1}, so refining the steps between them can only tighten the bound.

- **discrete data** (images with L grey levels, in model space k * 2 / (L - 1) - 1): the
  probability of the bin of width 2 / (L - 1) around x, the outer bins reaching to
  +-infinity (Ho et al. Sec. 3.3). This is the probability of the discrete image itself:
  no dequantisation, so bits/dim compares with every other family;
- **continuous data**: the Gaussian density.

Estimator. The sum over the T - 1 denoising terms is exact over t when ``n_terms`` is None
(T - 1 network passes), else stratified: {1..T-1} is cut into ``n_terms`` contiguous
strata of near-equal size n_k, each example draws one t uniformly in each stratum and the
term counts n_k times. Both are unbiased estimates of the bound (one draw of x_t per term);
stratification leaves only the within-stratum variation of the terms in the variance.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch

from genlab.models.diffusion.samplers import predictions
from genlab.models.diffusion.schedules import Schedule

__all__ = ["discretized_gaussian_log_prob", "variational_bound"]


def _log_diff_ndtr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """log(Phi(b) - Phi(a)) for a < b, stable in both tails (reflect when a >= 0)."""
    upper = a >= 0
    lo = torch.where(upper, -b, a)
    hi = torch.where(upper, -a, b)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log1p(-torch.exp(log_lo - log_hi))


def discretized_gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, std: float, levels: int) -> torch.Tensor:
    """log P(bin of x) under N(mean, std^2), bins of width 2 / (L - 1) centred on the L levels in [-1, 1].

    The first and last bins extend to -inf and +inf, so the L probabilities sum to 1.
    Elementwise, float64.
    """
    x, mean = x.double(), mean.double()
    half = 1.0 / (levels - 1)
    lower = torch.where(x <= -1 + half / 2, torch.full_like(x, -math.inf), (x - half - mean) / std)
    upper = torch.where(x >= 1 - half / 2, torch.full_like(x, math.inf), (x + half - mean) / std)
    return _log_diff_ndtr(lower, upper)


def _strata(T: int, n_terms: int | None) -> list[tuple[int, int]]:
    """Contiguous strata [lo, hi) covering the denoising steps 1..T-1."""
    if n_terms is None or n_terms >= T - 1:
        return [(t, t + 1) for t in range(1, T)]
    edges = torch.linspace(1, T, n_terms + 1, dtype=torch.float64).round().long().tolist()
    return [(lo, hi) for lo, hi in itertools.pairwise(edges) if hi > lo]


@torch.no_grad()
def variational_bound(denoise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                      schedule: Schedule, kind: str, *, levels: int | None = None, clip: float | None = None,
                      n_terms: int | None = None, generator: torch.Generator | None = None,
                      return_terms: bool = False):
    """Lower bound on log p(x) in nats per example, shape (B,) (see the module docstring).

    Parameters
    ----------
    denoise : callable
        ``denoise(x_t, t) -> output`` for a batch x_t and int64 timesteps t (B,); the
        output is eps, x0 or v as named by ``kind``.
    x : Tensor of shape (B, ...)
        Data in model space (images in [-1, 1]).
    schedule : Schedule
    kind : {"eps", "x0", "v"}
    levels : int, optional
        Number of grey levels L of discrete data; None for continuous data (density).
    clip : float, optional
        Clamp x0 estimates to [-clip, clip], as the sampler does.
    n_terms : int, optional
        Number of strata for the denoising sum; None: every t.
    generator : torch.Generator, optional
        Source of the timesteps and of the noise.
    return_terms : bool
        Also return ``{"prior", "denoising", "decoder"}``, each (B,) in nats.
    """
    B, dims = x.shape[0], tuple(range(1, x.ndim))
    abar = schedule.alphas_cumprod                       # float64 (T,)
    snr = abar / (1 - abar)
    xd = x.double()

    def draw(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t ~ q(x_t | x) and the clean estimate x0_hat(x_t, t)."""
        a = abar[t].view(B, *[1] * (x.ndim - 1))
        eps = torch.randn(x.shape, generator=generator, dtype=torch.float64)
        xt = (a.sqrt() * xd + (1 - a).sqrt() * eps).to(x.dtype)
        x0_hat, _ = predictions(denoise(xt, t).double(), xt.double(), a, kind, clip)
        return xt, x0_hat

    # 1. prior: KL(N(sqrt(abar) x, 1 - abar) || N(0, 1)), summed over dimensions
    aT = abar[-1]
    prior = (0.5 * ((1 - aT) + aT * xd**2 - 1 - torch.log1p(-aT))).sum(dims)
    # 2. denoising terms, 0.5 (SNR(t-1) - SNR(t)) ||x - x0_hat||^2, exact or stratified over t
    denoising = torch.zeros(B, dtype=torch.float64)
    for lo, hi in _strata(schedule.T, n_terms):
        t = torch.randint(lo, hi, (B,), generator=generator) if hi - lo > 1 else torch.full((B,), lo)
        _, x0_hat = draw(t)
        kl = 0.5 * (snr[t - 1] - snr[t]) * ((xd - x0_hat) ** 2).sum(dims)
        denoising += (hi - lo) * kl
    # 3. decoder p(x | x_0) with the posterior std at t = 1
    _, mean = draw(torch.zeros(B, dtype=torch.long))
    std = float((1 / snr[0]).sqrt())
    if levels is not None:
        decoder = discretized_gaussian_log_prob(xd, mean, std, levels).sum(dims)
    else:
        decoder = (-0.5 * ((xd - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(dims)
    bound = decoder - prior - denoising
    if return_terms:
        return bound, {"prior": prior, "denoising": denoising, "decoder": -decoder}
    return bound
