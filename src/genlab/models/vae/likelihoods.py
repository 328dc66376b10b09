"""Observation models p(x | z) of the VAE decoder, as pure functions.

Each takes the decoder's output ``params`` and data ``x`` in model space (images in
[0, 1], tables standardised) and returns log p(x | z) in nats, summed over the
dimensions of one example: shape (B,).

==============  ==============================  =========================================
name            params shape                    what log p(x|z) is
==============  ==============================  =========================================
bernoulli       (B, *event) logits              exact for binary data (L = 2); for grey
                                                levels a pseudo-likelihood (not normalised)
categorical     (B, *event, L) logits           exact discrete likelihood over L levels
logistic        (B, *event, 2) mean, log-scale  exact discrete likelihood: the discretised
                                                logistic of PixelCNN++ (Salimans et al. 2017)
gaussian        (B, *event) mean, plus a        a density (nats w.r.t. Lebesgue measure) for
                learned per-dimension log-sigma continuous data; not a probability
==============  ==============================  =========================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["N_PARAMS", "log_likelihood", "observation_mean", "sample_observation"]

LOG_SIGMA_MIN = -7.0


def N_PARAMS(decoder: str, levels: int | None) -> int:
    """Number of decoder outputs per data dimension."""
    return {"bernoulli": 1, "gaussian": 1, "logistic": 2, "categorical": levels or 0}[decoder]


def _sum_event(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1).sum(dim=1)


def log_likelihood(decoder: str, params: torch.Tensor, x: torch.Tensor, levels: int | None,
                   log_sigma: torch.Tensor | None = None) -> torch.Tensor:
    """log p(x | z) in nats per example, shape (B,). ``params`` as in the module table."""
    params = params.float()
    if decoder == "bernoulli":
        return -_sum_event(F.binary_cross_entropy_with_logits(params, x, reduction="none"))
    if decoder == "categorical":
        k = torch.round(x * (levels - 1)).long().unsqueeze(-1)
        return _sum_event(torch.log_softmax(params, dim=-1).gather(-1, k).squeeze(-1))
    if decoder == "logistic":
        return _sum_event(_discretized_logistic_logp(params[..., 0], params[..., 1], x, levels))
    if decoder == "gaussian":
        ls = log_sigma.clamp(min=LOG_SIGMA_MIN).expand_as(params)
        return _sum_event(-0.5 * ((x - params) / ls.exp()) ** 2 - ls - 0.5 * math.log(2 * math.pi))
    raise ValueError(decoder)


def _discretized_logistic_logp(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor, levels: int) -> torch.Tensor:
    """log P(x) of a logistic(mean, scale) on [-1, 1] cut into ``levels`` equal bins.

    Edge bins take the tails: P(x=0) = CDF(-1 + h), P(x=L-1) = 1 - CDF(1 - h), with
    half-width h = 1 / (L - 1). Stable log-space form of PixelCNN++ eq. 2.
    """
    xs = 2.0 * x - 1.0                      # [0, 1] -> [-1, 1]
    half = 1.0 / (levels - 1)
    log_scale = log_scale.clamp(min=LOG_SIGMA_MIN)
    inv_s = torch.exp(-log_scale)
    plus_in = inv_s * (xs - mean + half)
    min_in = inv_s * (xs - mean - half)
    log_cdf_plus = plus_in - F.softplus(plus_in)            # log sigmoid(plus_in)
    log_one_minus_cdf_min = -F.softplus(min_in)             # log (1 - sigmoid(min_in))
    cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
    mid_in = inv_s * (xs - mean)
    # log of the density at the bin centre times the bin width: used when cdf_delta underflows
    log_pdf_mid = mid_in - log_scale - 2.0 * F.softplus(mid_in) + math.log(2 * half)
    log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)), log_pdf_mid)
    return torch.where(xs < -1 + half / 2, log_cdf_plus,
                       torch.where(xs > 1 - half / 2, log_one_minus_cdf_min, log_mid))


def observation_mean(decoder: str, params: torch.Tensor, levels: int | None) -> torch.Tensor:
    """E[x | z] in model space (for ``mode="mean"`` samples and reconstructions)."""
    params = params.float()
    if decoder == "bernoulli":
        return torch.sigmoid(params)
    if decoder == "categorical":
        grid = torch.linspace(0, 1, levels, device=params.device)
        return (torch.softmax(params, dim=-1) * grid).sum(-1)
    if decoder == "logistic":
        return ((params[..., 0].clamp(-1, 1)) + 1) / 2
    return params


def sample_observation(decoder: str, params: torch.Tensor, levels: int | None, generator: torch.Generator,
                       log_sigma: torch.Tensor | None = None) -> torch.Tensor:
    """Draw x ~ p(x | z) in model space, using ``generator`` for every random number."""
    params = params.float()
    if decoder == "bernoulli":
        u = torch.rand(params.shape, generator=generator, device=params.device)
        return (u < torch.sigmoid(params)).float()
    if decoder == "categorical":
        probs = torch.softmax(params, dim=-1).reshape(-1, levels)
        k = torch.multinomial(probs, 1, generator=generator).reshape(params.shape[:-1])
        return k.float() / (levels - 1)
    if decoder == "logistic":
        mean, log_scale = params[..., 0], params[..., 1].clamp(min=LOG_SIGMA_MIN)
        u = torch.rand(mean.shape, generator=generator, device=params.device).clamp(1e-5, 1 - 1e-5)
        xs = (mean + log_scale.exp() * (torch.log(u) - torch.log1p(-u))).clamp(-1, 1)
        return torch.round((xs + 1) / 2 * (levels - 1)) / (levels - 1)
    if decoder == "gaussian":
        eps = torch.randn(params.shape, generator=generator, device=params.device)
        return params + log_sigma.clamp(min=LOG_SIGMA_MIN).exp() * eps
    raise ValueError(decoder)
