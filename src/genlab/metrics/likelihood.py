"""Likelihood metrics on one protocol for every family.

All figures derive from ``model.log_prob`` in nats per example:

- ``nll_nats`` = mean of ``-log_prob`` over the examples;
- ``bits_per_dim`` = ``nll_nats / (D ln 2)`` with D the number of scalar
  dimensions of one example (64 for 8x8 digits, 784 for MNIST);
- ``perplexity`` = ``exp(nll per token)`` for token models.
"""

from __future__ import annotations

import math

import torch

__all__ = ["bits_per_dim", "perplexity", "summarize_log_prob"]


def bits_per_dim(log_prob: torch.Tensor | float, n_dims: int) -> float:
    """Mean negative log-likelihood in bits per dimension: ``-mean(log_prob) / (D ln 2)``."""
    lp = float(torch.as_tensor(log_prob, dtype=torch.float64).mean())
    return -lp / (n_dims * math.log(2))


def perplexity(log_prob: torch.Tensor, n_tokens: int) -> float:
    """``exp(-sum(log_prob) / n_tokens)``: perplexity per token."""
    return math.exp(-float(torch.as_tensor(log_prob, dtype=torch.float64).sum()) / n_tokens)


def summarize_log_prob(log_prob: torch.Tensor, n_dims: int) -> dict[str, float]:
    """Mean, standard error and bits/dim of per-example log-probabilities (nats)."""
    lp = torch.as_tensor(log_prob, dtype=torch.float64)
    n = len(lp)
    sem = float(lp.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "n": n,
        "log_prob_nats": float(lp.mean()),
        "nll_nats": float(-lp.mean()),
        "nll_nats_sem": sem,
        "bits_per_dim": bits_per_dim(lp, n_dims),
        "n_dims": n_dims,
    }
