"""Exact HMM inference as pure log-space recursions on batched, padded sequences.

Forward, backward, posterior marginals (the E-step of Baum-Welch) and Viterbi
decoding, following Rabiner (1989), "A Tutorial on Hidden Markov Models and
Selected Applications in Speech Recognition", Proc. IEEE 77(2): eqs. 19-21
(forward), 23-25 (backward), 26-27 and 37-38 (gamma, xi), 30-35 (Viterbi),
91-92 (scaling).

Shapes and conventions, shared by every function:

- ``log_start`` (K,): log p(z_1 = k); ``log_trans`` (K, K): log p(z_{t+1} = j | z_t = i)
  at ``[i, j]`` (row = from-state); ``log_emit`` (B, T, K): log p(x_t | z_t = k), already
  evaluated by the caller, so nothing here knows the emission model.
- ``lengths`` (B,) int64 with 1 <= lengths[b] <= T. Steps t >= lengths[b] are padding:
  their ``log_emit`` is never read (NaN or inf there is harmless).
- ``-inf`` entries in ``log_start`` / ``log_trans`` are structural zeros (e.g. left-to-right
  models); they never produce NaN. A sequence of probability zero gets log-likelihood -inf,
  zero posteriors and an arbitrary Viterbi path.
- ``log_emit`` in float64 gives float64 throughout; any other dtype is computed in float32.

Numerics: Rabiner's scaling (eq. 91). alpha and beta are carried normalised over K at each
step, so they never under- or overflow however long the sequence, and the log normalisers
are summed once at the end (``torch.sum`` is pairwise, so float32 stays accurate for
T = 10^4+). The forward and backward loops run in probability space, as Rabiner's scaled
recursion does: each step's emissions are divided by their largest entry (added back to the
log scales), so every step is a matmul, a product, a sum and a division, several times
cheaper on the CPU than a log-sum-exp per step (measured: 50 EM iterations of a 5-state
Gaussian HMM on 200 x 500 steps went from 4.9 s to 3.0 s). The approximation: state
probabilities below the smallest positive float (about exp(-708) in float64, exp(-87) in
float32) relative to a step's largest are flushed to zero; this matters only when the sole
path to a later observation runs through such a state.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

__all__ = ["BACKENDS", "backward", "forward", "log_likelihood", "posteriors", "viterbi"]

try:  # the compiled CPU kernels; without numba every function runs in PyTorch
    from genlab.models.hmm import _kernels
except ImportError:  # pragma: no cover - numba is a dependency; this guards broken installs
    _kernels = None

BACKENDS = ("auto", "numba", "torch")
"""``backend`` values: "numba" runs the compiled CPU kernels of :mod:`._kernels`, one
sequence per thread; "torch" runs chunked PyTorch scans (any device, autograd-free);
"auto" picks numba for CPU tensors when it is installed (``GENLAB_HMM_BACKEND`` overrides)."""


def _backend(backend: str, x: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}.")
    if backend == "auto":
        backend = os.environ.get("GENLAB_HMM_BACKEND", "auto")
        if backend == "auto":
            backend = "numba" if (_kernels is not None and x.device.type == "cpu") else "torch"
    if backend == "numba":
        if _kernels is None:
            raise ImportError("backend='numba' needs numba: pip install numba (or use backend='torch').")
        if x.device.type != "cpu":
            raise ValueError(f"backend='numba' runs on the CPU; the tensors are on {x.device}.")
    return backend


def _run_kernel(kernel, *args) -> None:
    """Run a compiled kernel on PyTorch's thread count, and leave that count as it was.

    numba's OpenMP layer shares libgomp with PyTorch: its first parallel call would set
    the process's OpenMP thread count to numba's (the core count), silently undoing a
    user's ``torch.set_num_threads`` for every later PyTorch op."""
    threads = torch.get_num_threads()
    _kernels.numba.set_num_threads(max(1, min(threads, _kernels.numba.config.NUMBA_NUM_THREADS)))
    try:
        kernel(*args)
    finally:
        torch.set_num_threads(threads)


def _np64(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to(torch.float64).numpy())


# ----------------------------------------------------------------------------- helpers

def _dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _prepare(log_emit: torch.Tensor, lengths: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Check shapes, zero the padding of ``log_emit``; returns (log_emit, mask (B, T) bool)."""
    if log_emit.dim() != 3 or log_emit.shape[-1] != K:
        raise ValueError(f"log_emit must have shape (B, T, K={K}); got {tuple(log_emit.shape)}.")
    B, T, _ = log_emit.shape
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape (B,) = ({B},); got {tuple(lengths.shape)}.")
    if bool(((lengths < 1) | (lengths > T)).any()):
        raise ValueError(f"lengths must lie in [1, T={T}]; got {lengths.tolist()}.")
    mask = torch.arange(T, device=log_emit.device) < lengths.to(log_emit.device)[:, None]   # (B, T)
    log_emit = log_emit.to(_dtype(log_emit)).masked_fill(~mask[..., None], 0.0)
    return log_emit, mask


def _safe_max(x: torch.Tensor, dim: int) -> torch.Tensor:
    """max over ``dim`` (kept), with -inf replaced by 0 so that ``x - max`` is never NaN."""
    m = x.amax(dim=dim, keepdim=True)
    return m.masked_fill(~torch.isfinite(m), 0.0)


def _normalize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x - logsumexp_K x, logsumexp_K x); an all -inf row stays -inf instead of NaN."""
    lse = torch.logsumexp(x, dim=-1)                                   # (...,)
    return x - lse.masked_fill(~torch.isfinite(lse), 0.0)[..., None], lse


# ----------------------------------------------------------------------------- chunked scans

def _chunk_len(S: int) -> int:
    """Chunk length L for a scan of S steps: the work in Python-level steps is about
    2 L + S / L, smallest at L = sqrt(S / 2)."""
    return max(1, round(math.sqrt(S / 2)))


def _chunk(E: torch.Tensor, L: int, fill: float) -> torch.Tensor:
    """(B, S, K) -> (B, C, L, K), padding the end of the time axis with ``fill``."""
    B, S, K = E.shape
    C = -(-S // L)
    if C * L != S:
        E = torch.cat([E, E.new_full((B, C * L - S, K), fill)], 1)
    return E.reshape(B, C, L, K)


_CHUNK_MAX_STATES = 8
"""Above this many states the chunked scan's K^3 transfer matrices cost more than they save,
and a plain loop of (B, K) @ (K, K) matrix products (BLAS) is faster."""


def _scan_sequential(v0: torch.Tensor, P: torch.Tensor, E: torch.Tensor, emit_first: bool
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_scan` as a plain loop over the S steps (for many states)."""
    tiny = torch.finfo(E.dtype).tiny
    v = v0
    vs, cs = [], []
    for s in range(E.shape[1]):
        v = (v * E[:, s]) @ P if emit_first else (v @ P) * E[:, s]
        c = v.sum(-1, keepdim=True)
        v = v / c.clamp_min(tiny)
        vs.append(v)
        cs.append(c)
    if not vs:
        return E.new_zeros(E.shape), E.new_zeros(E.shape[:2])
    return torch.stack(vs, 1), torch.cat(cs, 1).log()


def _scan(v0: torch.Tensor, P: torch.Tensor, E: torch.Tensor, emit_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The scaled linear recurrence v_s ∝ step_s(v_{s-1}), s = 1..S, in chunks.

    ``step_s(v) = (v @ P) * E_s`` (``emit_first=False``, the forward recursion) or
    ``(v * E_s) @ P`` (``emit_first=True``, the backward one run in reversed time).
    ``v0`` (B, K) sums to 1; ``E`` (B, S, K). Returns the normalised v_1..v_S (B, S, K),
    each summing to 1 (or 0 when the sequence has probability 0), and the log normalisers
    log c_s (B, S): log of the sum of step_s(v_{s-1}). Both equal the plain sequential
    recursion's up to rounding.

    A plain loop takes S Python-level steps on (B, K) tensors, and on the CPU each op
    costs a few microseconds however small the tensor. Here time is cut into C chunks of
    L steps (L ~ sqrt(S/2)): 1. the chunks' transfer matrices, the products of their L
    step matrices, are built for all chunks at once (L steps on (B, C, K, K)); 2. the
    vectors at the chunk starts follow sequentially (C steps on (B, K)); 3. every chunk
    reruns its L steps from its start vector at once (L steps on (B, C, K)), which yields
    the exact normalisers. About 2 L + C steps instead of S: 66 instead of 500 for S = 500.
    Each transfer matrix is kept with every row scaled to max 1 and the row's log scale
    apart, so a start state whose continuations are far less likely than another's is
    never flushed to zero.
    """
    B, S, K = E.shape
    tiny = torch.finfo(E.dtype).tiny
    if K > _CHUNK_MAX_STATES:
        return _scan_sequential(v0, P, E, emit_first)
    L = _chunk_len(S)
    Ec = _chunk(E, L, 1.0)                                              # (B, C, L, K)
    C = Ec.shape[1]

    def step(v: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        # one 2-D matmul over all rows: a batched (..., K) @ (K, K) broadcast is ~50x slower on the CPU
        if emit_first:
            v = v * e
            return (v.reshape(-1, K) @ P).reshape(v.shape)
        return (v.reshape(-1, K) @ P).reshape(v.shape) * e

    # 1-2. start vector of every chunk
    starts = [v0]
    if C > 1:
        M = torch.eye(K, dtype=E.dtype, device=E.device).expand(B, C - 1, K, K)
        log_rows = E.new_zeros(B, C - 1, K, 1)
        for j in range(L):
            M = step(M, Ec[:, :C - 1, j, None, :])                      # (B, C-1, K, K)
            r = M.amax(-1, keepdim=True)
            M = M / r.clamp_min(tiny)
            log_rows = log_rows + r.log()
        log_rows = log_rows.squeeze(-1)                                 # (B, C-1, K)
        v = v0
        for c in range(C - 1):
            a = v.log() + log_rows[:, c]                                # log of v's weight on each row
            w = (a - _safe_max(a, -1)).exp()
            v = (w[:, None, :] @ M[:, c]).squeeze(1)
            v = v / v.sum(-1, keepdim=True).clamp_min(tiny)
            starts.append(v)
    # 3. all chunks from their start vectors at once
    v = torch.stack(starts, 1)                                          # (B, C, K)
    vs, cs = [], []
    for j in range(L):
        v = step(v, Ec[:, :, j])
        c = v.sum(-1, keepdim=True)
        v = v / c.clamp_min(tiny)
        vs.append(v)
        cs.append(c)
    V = torch.stack(vs, 2).reshape(B, C * L, K)[:, :S]
    log_c = torch.cat(cs, -1).reshape(B, C * L)[:, :S].log()
    return V, log_c


# ----------------------------------------------------------------------------- forward / backward

def _emission_scale(log_emit):
    """Per-step emissions in probability space: (exp(log_emit - m), m) with m = max over K (B, T, 1).

    The largest entry of each step is 1, so the scaled recursions never overflow; m is
    added back to the log scales. Padding steps (zeroed log_emit) give rows of ones.
    """
    m = _safe_max(log_emit, dim=-1)
    return (log_emit - m).exp(), m


def _forward_scaled(log_start, log_trans, E, e_max, mask):
    """Normalised alpha-hat (B, T, K) in probability space, 0 on padding, and log c_t (B, T), 0 on padding.

    Rabiner's scaled recursion (eqs. 91-92): alpha-hat_t = (alpha-hat_{t-1} @ A) * b(x_t) / c_t,
    with c_t the sum over states, run by :func:`_scan`.
    """
    tiny = torch.finfo(E.dtype).tiny
    a0 = log_start.exp() * E[:, 0]                                     # eq. 19
    c0 = a0.sum(-1, keepdim=True)
    a0 = a0 / c0.clamp_min(tiny)                                       # an impossible sequence stays 0, not NaN
    # eq. 20. Padding steps are computed too (rows of ones) and masked below:
    # nothing at a valid step depends on a later one.
    V, log_c = _scan(a0, log_trans.exp(), E[:, 1:], emit_first=False)
    alpha_hat = torch.cat([a0[:, None], V], 1).masked_fill(~mask[..., None], 0.0)
    log_c = (torch.cat([c0.log(), log_c], 1) + e_max.squeeze(-1)).masked_fill(~mask, 0.0)
    return alpha_hat, log_c


def _backward_scaled(log_trans, E, e_max, mask):
    """Normalised beta-hat (B, T, K) in probability space, each step summing to 1 and 0 on
    padding, and log d_t (B, T), 0 where unused, such that
    log beta_t = log beta-hat_t + log K + sum_{s >= t} log d_s.

    eq. 25, beta_t = A (b(x_{t+1}) * beta_{t+1}), runs as a forward scan in reversed time
    from beta_L = 1 (eq. 24). Each sequence is first rolled so that its last step sits at
    T - 1: every scan then starts at its own end, and its padding comes last in reversed time.
    """
    B, T, K = E.shape
    dev = E.device
    last = (mask.sum(1) - 1)[:, None]                                  # (B, 1) index of the last valid step
    steps = torch.arange(T, device=dev)
    shift = T - 1 - last                                               # (B, 1)
    to_rolled = (steps[None, :] - shift) % T                           # rolled[t'] = original[to_rolled[t']]
    from_rolled = (steps[None, :] + shift) % T                         # original[t] = rolled[from_rolled[t]]
    E_r = E.gather(1, to_rolled[..., None].expand(B, T, K))
    m_r = e_max[..., 0].gather(1, to_rolled)                           # (B, T)
    uniform = E.new_full((B, K), 1.0 / K)
    V, log_d = _scan(uniform, log_trans.exp().T, E_r[:, 1:].flip(1), emit_first=True)
    beta_r = torch.cat([uniform[:, None], V], 1).flip(1)               # (B, T, K), rolled time
    # d_t scales beta_t, whose recursion used the emissions of step t+1
    log_d_r = torch.cat([log_d.flip(1) + m_r[:, 1:], E.new_zeros(B, 1)], 1)
    beta_hat = beta_r.gather(1, from_rolled[..., None].expand(B, T, K))
    log_d = log_d_r.gather(1, from_rolled)
    unused = steps >= last                                             # the last step and the padding
    beta_hat = torch.where(unused[..., None], uniform[:, None], beta_hat).masked_fill(~mask[..., None], 0.0)
    return beta_hat, log_d.masked_fill(unused, 0.0)


def forward(log_start: torch.Tensor, log_trans: torch.Tensor, log_emit: torch.Tensor,
            lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward pass: log alpha_t(k) = log p(x_1..t, z_t = k) and the exact log-likelihood.

    Returns ``log_alpha`` (B, T, K), -inf on padding, and ``log_likelihood`` (B,):
    log p(x_1..L) in nats, exact (up to rounding), L = lengths[b].
    """
    log_emit, mask = _prepare(log_emit, lengths, log_start.shape[0])
    log_start, log_trans = log_start.to(log_emit.dtype), log_trans.to(log_emit.dtype)
    E, e_max = _emission_scale(log_emit)
    alpha_hat, log_c = _forward_scaled(log_start, log_trans, E, e_max, mask)
    log_alpha = alpha_hat.log() + log_c.cumsum(1)[..., None]           # undo the scaling (eq. 91)
    return log_alpha, log_c.sum(1)


def backward(log_trans: torch.Tensor, log_emit: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Backward pass: log beta_t(k) = log p(x_t+1..L | z_t = k), shape (B, T, K).

    ``log_beta[b, lengths[b] - 1] = 0``; padding is -inf.
    """
    K = log_trans.shape[0]
    log_emit, mask = _prepare(log_emit, lengths, K)
    E, e_max = _emission_scale(log_emit)
    beta_hat, log_d = _backward_scaled(log_trans.to(log_emit.dtype), E, e_max, mask)
    suffix = log_d.flip(1).cumsum(1).flip(1)                           # sum_{s >= t} log d_s
    last = (mask.sum(1) - 1)[:, None]
    at_last = torch.arange(mask.shape[1], device=mask.device) == last  # exactly 0 there (eq. 24)
    log_beta = beta_hat.log() + math.log(K) + suffix[..., None]
    return log_beta.masked_fill(at_last[..., None], 0.0).masked_fill(~mask[..., None], float("-inf"))


def log_likelihood(log_start: torch.Tensor, log_trans: torch.Tensor, log_emit: torch.Tensor,
                   lengths: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """Exact log p(x_1..L) of every sequence in nats, shape (B,): :func:`forward` without alpha."""
    K = log_start.shape[0]
    log_emit, _mask = _prepare(log_emit, lengths, K)
    if _backend(backend, log_emit) == "numba":
        out = np.empty(log_emit.shape[0])
        _run_kernel(_kernels.loglik_kernel, _np64(log_start.exp()), _np64(log_trans.exp()), _np64(log_emit),
                    lengths.numpy().astype(np.int64), out)
        return torch.from_numpy(out).to(log_emit.dtype)
    return forward(log_start, log_trans, log_emit, lengths)[1]


# ----------------------------------------------------------------------------- posteriors (E-step)

def posteriors(log_start: torch.Tensor, log_trans: torch.Tensor, log_emit: torch.Tensor,
               lengths: torch.Tensor, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Everything Baum-Welch needs from one E-step.

    ``backend``: see :data:`BACKENDS`; both give the same values up to rounding.

    Returns
    -------
    gamma : Tensor of shape (B, T, K)
        p(z_t = k | x_1..L); rows sum to 1 at valid steps, 0 on padding (eq. 27).
    xi_sum : Tensor of shape (B, K, K)
        sum_{t=1}^{L-1} p(z_t = i, z_{t+1} = j | x_1..L), expected transition counts (eq. 37).
    log_likelihood : Tensor of shape (B,)
        Exact log p(x_1..L) in nats, as :func:`forward`.
    """
    K = log_start.shape[0]
    log_emit, mask = _prepare(log_emit, lengths, K)
    log_start, log_trans = log_start.to(log_emit.dtype), log_trans.to(log_emit.dtype)
    if _backend(backend, log_emit) == "numba":
        B, T, _ = log_emit.shape
        gamma, xi, ll = np.empty((B, T, K)), np.empty((B, K, K)), np.empty(B)
        P = _np64(log_trans.exp())
        _run_kernel(_kernels.posteriors_kernel, _np64(log_start.exp()), P, _np64(log_emit),
                    lengths.numpy().astype(np.int64), gamma, xi, ll)
        xi *= P
        return tuple(torch.from_numpy(a).to(log_emit.dtype) for a in (gamma, xi, ll))
    E, e_max = _emission_scale(log_emit)
    alpha_hat, log_c = _forward_scaled(log_start, log_trans, E, e_max, mask)         # (B, T, K), (B, T)
    beta_hat, _ = _backward_scaled(log_trans, E, e_max, mask)                         # (B, T, K)
    tiny = torch.finfo(E.dtype).tiny

    # 1. gamma_t ∝ alpha_t beta_t; the two scalings differ, so normalise each step afresh
    g = alpha_hat * beta_hat
    gamma = g / g.sum(-1, keepdim=True).clamp_min(tiny)                               # (B, T, K), 0 on padding

    # 2. xi_t(i, j) ∝ alpha_t(i) a_ij b_j(x_{t+1}) beta_{t+1}(j), normalised per t, summed over t.
    #    As matmuls instead of a (B, T-1, K, K) tensor: xi_sum = P * (A / n)^T @ V.
    P = log_trans.exp()                                                               # (K, K)
    A = alpha_hat[:, :-1]                                                             # (B, T-1, K)
    V = E[:, 1:] * beta_hat[:, 1:]                                                    # (B, T-1, K), 0 on padding
    n = ((A @ P) * V).sum(-1)                                                         # (B, T-1)
    pair = mask[:, 1:] & (n > 0)                     # t+1 valid; n = 0 only for zero-probability sequences
    w = torch.where(pair, 1.0 / torch.where(pair, n, torch.ones_like(n)), torch.zeros_like(n))
    xi_sum = P * ((A * w[..., None]).transpose(1, 2) @ V)                            # (B, K, K)
    return gamma, xi_sum, log_c.sum(1)


# ----------------------------------------------------------------------------- Viterbi

def viterbi(log_start: torch.Tensor, log_trans: torch.Tensor, log_emit: torch.Tensor,
            lengths: torch.Tensor, backend: str = "auto") -> tuple[torch.Tensor, torch.Tensor]:
    """Most probable state path (Rabiner eqs. 32-35).

    Returns ``paths`` (B, T) int64, padded with -1, and ``best_log_prob`` (B,):
    max over paths of log p(x_1..L, z_1..L) in nats. Ties go to the lowest state index.

    Chunked as :func:`_scan`, in the max-plus semiring: the chunks' max-plus transfer
    matrices, then the best scores at the chunk starts (sequential over chunks), then every
    chunk's recursion with back-pointers at once; the backtrack composes each chunk's
    back-pointers for every end state at once, then links the chunks.
    """
    K = log_start.shape[0]
    log_emit, mask = _prepare(log_emit, lengths, K)
    log_start, log_trans = log_start.to(log_emit.dtype), log_trans.to(log_emit.dtype)
    B, T, _ = log_emit.shape
    if _backend(backend, log_emit) == "numba":
        paths, best = np.full((B, T), -1, dtype=np.int64), np.empty(B)
        _run_kernel(_kernels.viterbi_kernel, _np64(log_start), _np64(log_trans), _np64(log_emit),
                    lengths.numpy().astype(np.int64), paths, best)
        return torch.from_numpy(paths), torch.from_numpy(best).to(log_emit.dtype)
    dev = log_emit.device
    last = mask.sum(1) - 1                                                          # (B,)
    d0 = log_start + log_emit[:, 0]                                                 # (B, K), eq. 32
    if T == 1:
        return d0.argmax(-1)[:, None], d0.amax(-1)
    S = T - 1
    L = _chunk_len(S)
    Ec = _chunk(log_emit[:, 1:], L, 0.0)                                            # (B, C, L, K)
    C = Ec.shape[1]

    # 1-2. best (max-subtracted) scores at every chunk start, and the subtracted offsets
    m = _safe_max(d0, -1)
    starts, offsets = [d0 - m], [m]
    if C > 1:
        M = torch.full((K, K), float("-inf"), dtype=log_emit.dtype, device=dev).fill_diagonal_(0.0)
        M = M.expand(B, C - 1, K, K)
        for j in range(L):                                                          # eqs. 33, max-plus
            M = (M[..., None] + log_trans).amax(-2) + Ec[:, :C - 1, j, None, :]
        d = starts[0]
        for c in range(C - 1):
            nd = (d[:, :, None] + M[:, c]).amax(1)
            m = _safe_max(nd, -1)
            d = nd - m
            starts.append(d)
            offsets.append(offsets[-1] + m)
    # 3. every chunk at once: eqs. 33-34 with back-pointers
    d = torch.stack(starts, 1)                                                      # (B, C, K)
    base = torch.stack(offsets, 1)                                                  # (B, C, 1)
    deltas, offs, bps = [], [], []
    for j in range(L):
        scores = d[..., :, None] + log_trans                                        # (B, C, K_from, K_to)
        # amax + argmax, not max(dim=...): the latter is ~400x slower here on CPU (torch 2.13)
        new = scores.amax(-2) + Ec[:, :, j]
        bps.append(scores.argmax(-2))
        m = _safe_max(new, -1)
        d = new - m
        deltas.append(d)
        offs.append(m)
    delta = torch.stack(deltas, 2).reshape(B, C * L, K)[:, :S]                      # step t = s + 1
    off = (torch.cat(offs, -1).cumsum(-1) + base).reshape(B, C * L)[:, :S]
    bp = torch.stack(bps, 2).reshape(B, C * L, K)                                   # state at t -> at t - 1

    # best final state and score at each sequence's last step (eq. 35)
    s_last = (last - 1).clamp_min(0)
    idx = torch.arange(B, device=dev)
    final = torch.where((last == 0)[:, None], d0, delta[idx, s_last] + off[idx, s_last][:, None])
    best_log_prob = final.amax(-1)
    state = final.argmax(-1)                                                        # (B,)

    # backtrack: steps after the last one point to themselves, so the state at any later
    # time is the final state; Z[:, c, j, k] is the state at time cL + j given state k at (c+1)L
    ident = torch.arange(K, device=dev).expand(B, C * L, K)
    t_of = torch.arange(1, C * L + 1, device=dev)
    bp = torch.where((t_of[None, :] > last[:, None])[..., None], ident, bp).reshape(B, C, L, K)
    z = torch.arange(K, device=dev).expand(B, C, K)
    Z = [z]
    for j in range(L - 1, -1, -1):
        z = bp[:, :, j].gather(-1, z)
        Z.append(z)
    Z = torch.stack(Z[::-1], 2)                                                     # (B, C, L + 1, K)
    ends = [state]                                                                  # state at time (c+1)L
    for c in range(C - 1, 0, -1):
        ends.append(Z[:, c, 0].gather(-1, ends[-1][:, None]).squeeze(-1))
    ends = torch.stack(ends[::-1], 1)                                               # (B, C)
    chunks = Z[:, :, :L].gather(-1, ends[:, :, None, None].expand(B, C, L, 1)).squeeze(-1)   # (B, C, L)
    paths = torch.cat([chunks.reshape(B, C * L), state[:, None]], 1)[:, :T]
    return paths.masked_fill(~mask, -1), best_log_prob
