"""Compiled CPU kernels for the HMM recursions (numba), one sequence per thread.

The recursions of :mod:`genlab.models.hmm.algorithms` loop over time, and on the CPU
every PyTorch op costs a few microseconds however small its tensor: a 5-state forward
step on 200 sequences is 1,000 multiply-adds but ~20 us of dispatch. These kernels run
the same scaled recursions (Rabiner 1989, eqs. 19-20, 24-25, 27, 37, 91-92; Viterbi
eqs. 32-35) as compiled loops, in parallel over sequences, with everything in float64.

Conventions are those of ``algorithms``: ``log_emit`` (B, T, K) with padding after
``lengths[b]`` never read; ``start`` (K,) and ``trans`` (K, K) in probability space
(row = from-state) for the sum-product kernels, in log space for Viterbi.

Scaling follows Rabiner: alpha-hat_t sums to 1 with normaliser c_t; beta-hat_t is scaled
by the same c_{t+1}, so gamma_t = alpha-hat_t * beta-hat_t exactly and
xi_t(i, j) = alpha-hat_t(i) a_ij b_j(x_{t+1}) beta-hat_{t+1}(j) / c_{t+1}. Each step's
emissions are divided by their largest entry (added back to log c_t), so nothing over- or
underflows however long the sequence. A sequence of probability zero (some c_t = 0) gets
log-likelihood -inf and zero posteriors.

Compiled on first use and cached on disk (``cache=True``); importing this module raises
ImportError where numba is missing, and ``algorithms`` then falls back to PyTorch.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

__all__ = ["NUMBA_VERSION", "loglik_kernel", "posteriors_kernel", "viterbi_kernel"]

NUMBA_VERSION = numba.__version__

# reassociation and fused multiply-add let LLVM vectorise the sums over states; no flag
# that assumes finite values (the kernels handle -inf and zero-probability sequences)
_FAST = {"reassoc", "contract"}


@njit(cache=True, inline="always", fastmath=_FAST)
def _scaled_emissions(log_emit_b, L, K, E, e_max):  # pragma: no cover - compiled
    """E[t] = exp(log_emit[t] - max_k log_emit[t]); e_max[t] = that max (0 if all -inf)."""
    for t in range(L):
        m = -np.inf
        for k in range(K):
            m = max(m, log_emit_b[t, k])
        if not math.isfinite(m):
            m = 0.0
        e_max[t] = m
        for k in range(K):
            E[t, k] = math.exp(log_emit_b[t, k] - m)


@njit(cache=True, inline="always", fastmath=_FAST)
def _forward_one(start, trans, E, L, K, alpha, c):  # pragma: no cover - compiled
    """Scaled forward pass of one sequence into alpha (L, K) and c (L,); returns sum log c."""
    s = 0.0
    for k in range(K):
        a = start[k] * E[0, k]
        alpha[0, k] = a
        s += a
    c[0] = s
    if s > 0.0:
        for k in range(K):
            alpha[0, k] /= s
    for t in range(1, L):
        # alpha_t = (alpha_{t-1} @ trans) * E_t, row by row of trans (contiguous memory)
        for j in range(K):
            alpha[t, j] = 0.0
        for i in range(K):
            a = alpha[t - 1, i]
            if a != 0.0:
                for j in range(K):
                    alpha[t, j] += a * trans[i, j]
        s = 0.0
        for j in range(K):
            alpha[t, j] *= E[t, j]
            s += alpha[t, j]
        c[t] = s
        if s > 0.0:
            for j in range(K):
                alpha[t, j] /= s
    total = 0.0
    for t in range(L):
        total += math.log(c[t]) if c[t] > 0.0 else -np.inf
    return total


@njit(cache=True, parallel=True, fastmath=_FAST)
def loglik_kernel(start, trans, log_emit, lengths, out):  # pragma: no cover - compiled
    """out[b] = log p(x_1..L_b) in nats for every sequence b."""
    B, _T, K = log_emit.shape
    for b in prange(B):
        L = lengths[b]
        E = np.empty((L, K))
        e_max = np.empty(L)
        alpha = np.empty((L, K))
        c = np.empty(L)
        _scaled_emissions(log_emit[b], L, K, E, e_max)
        out[b] = _forward_one(start, trans, E, L, K, alpha, c) + e_max.sum()


@njit(cache=True, parallel=True, fastmath=_FAST)
def posteriors_kernel(start, trans, log_emit, lengths, gamma, xi_sum, loglik):  # pragma: no cover - compiled
    """The E-step: gamma (B, T, K) (zero on padding), xi_sum (B, K, K) without the
    factor a_ij (the caller multiplies by ``trans`` once), loglik (B,)."""
    B, T, K = log_emit.shape
    for b in prange(B):
        L = lengths[b]
        E = np.empty((L, K))
        e_max = np.empty(L)
        alpha = np.empty((L, K))
        c = np.empty(L)
        _scaled_emissions(log_emit[b], L, K, E, e_max)
        ll = _forward_one(start, trans, E, L, K, alpha, c)
        loglik[b] = ll + e_max.sum()
        for t in range(T):
            for k in range(K):
                gamma[b, t, k] = 0.0
        for i in range(K):
            for j in range(K):
                xi_sum[b, i, j] = 0.0
        if not math.isfinite(ll):
            continue                                          # probability 0: zero posteriors
        # backward, scaled by the forward normalisers, fused with gamma and xi
        beta = np.ones(K)
        tmp = np.empty(K)
        for k in range(K):
            gamma[b, L - 1, k] = alpha[L - 1, k]
        for t in range(L - 2, -1, -1):
            inv = 1.0 / c[t + 1]
            for j in range(K):
                tmp[j] = E[t + 1, j] * beta[j] * inv
            for i in range(K):
                a = alpha[t, i]
                acc = 0.0
                for j in range(K):
                    xi_sum[b, i, j] += a * tmp[j]
                    acc += trans[i, j] * tmp[j]
                beta[i] = acc
            s = 0.0
            for k in range(K):
                g = alpha[t, k] * beta[k]
                gamma[b, t, k] = g
                s += g
            if s > 0.0:                                       # 1 up to rounding; renormalise exactly
                for k in range(K):
                    gamma[b, t, k] /= s


@njit(cache=True, parallel=True, fastmath=_FAST)
def viterbi_kernel(log_start, log_trans, log_emit, lengths, paths, best):  # pragma: no cover - compiled
    """Most probable paths into paths (B, T) (padding left as the caller filled it) and
    their log joint probabilities into best (B,). Ties go to the lowest state index."""
    B, _T, K = log_emit.shape
    for b in prange(B):
        L = lengths[b]
        delta = np.empty(K)
        new = np.empty(K)
        back = np.empty((L, K), dtype=np.int64)
        for k in range(K):
            delta[k] = log_start[k] + log_emit[b, 0, k]
        for t in range(1, L):
            for j in range(K):
                m = -np.inf
                arg = 0
                for i in range(K):
                    v = delta[i] + log_trans[i, j]
                    if v > m:
                        m = v
                        arg = i
                back[t, j] = arg
                new[j] = m + log_emit[b, t, j]
            for j in range(K):
                delta[j] = new[j]
        m = -np.inf
        state = 0
        for k in range(K):
            if delta[k] > m:
                m = delta[k]
                state = k
        best[b] = m
        for t in range(L - 1, -1, -1):
            paths[b, t] = state
            if t > 0:
                state = back[t, state]
