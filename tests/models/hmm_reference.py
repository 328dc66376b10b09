"""Brute-force HMM reference for tests: enumerate every state path (tiny K and T only)."""

from __future__ import annotations

import itertools

import torch


def path_scores(log_start: torch.Tensor, log_trans: torch.Tensor, log_emit_1: torch.Tensor) -> dict:
    """{path: log p(x, z = path)} for one sequence, log_emit_1 of shape (L, K), every path of length L."""
    L, K = log_emit_1.shape
    scores = {}
    for path in itertools.product(range(K), repeat=L):
        s = log_start[path[0]] + log_emit_1[0, path[0]]
        for t in range(1, L):
            s = s + log_trans[path[t - 1], path[t]] + log_emit_1[t, path[t]]
        scores[path] = s
    return scores
