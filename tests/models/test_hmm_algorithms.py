"""HMM recursions against brute force: enumerate every state path of tiny models
(K = 3, T <= 6) and compare likelihood, marginals, transition counts and the best path."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hmm_reference import path_scores as _path_scores

from genlab.models.hmm.algorithms import backward, forward, log_likelihood, posteriors, viterbi


@pytest.fixture(autouse=True, params=["torch", "numba"])
def backend(request, monkeypatch):
    """Every test runs on both backends: the chunked PyTorch scans and the numba kernels."""
    monkeypatch.setenv("GENLAB_HMM_BACKEND", request.param)
    return request.param


def _random_hmm(K: int, T: int, B: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    log_start = torch.log_softmax(torch.randn(K, generator=g, dtype=dtype), -1)
    log_trans = torch.log_softmax(torch.randn(K, K, generator=g, dtype=dtype), -1)
    log_emit = 2.0 * torch.randn(B, T, K, generator=g, dtype=dtype)
    return log_start, log_trans, log_emit


def _left_to_right(K: int, dtype=torch.float64):
    """Start in state 0; stay or move one state right; the last state is absorbing."""
    log_start = torch.full((K,), -math.inf, dtype=dtype)
    log_start[0] = 0.0
    log_trans = torch.full((K, K), -math.inf, dtype=dtype)
    for i in range(K):
        log_trans[i, i] = math.log(0.6) if i < K - 1 else 0.0
        if i < K - 1:
            log_trans[i, i + 1] = math.log(0.4)
    return log_start, log_trans


def _brute_force(log_start, log_trans, log_emit_1):
    """log p(x), marginals gamma (L, K), transition counts (K, K), best path and its score."""
    L, K = log_emit_1.shape
    scores = _path_scores(log_start, log_trans, log_emit_1)
    paths = list(scores)
    s = torch.stack([scores[p] for p in paths])
    loglik = torch.logsumexp(s, 0)
    w = (s - loglik).exp()
    gamma = torch.zeros(L, K, dtype=s.dtype)
    xi = torch.zeros(K, K, dtype=s.dtype)
    for p, wp in zip(paths, w):
        for t in range(L):
            gamma[t, p[t]] += wp
        for t in range(L - 1):
            xi[p[t], p[t + 1]] += wp
    best = max(paths, key=lambda p: scores[p].item())
    return loglik, gamma, xi, best, scores[best]


# ----------------------------------------------------------------------------- forward / backward

@pytest.mark.parametrize("T", [1, 2, 4, 6])
def test_forward_equals_sum_over_paths(T):
    log_start, log_trans, log_emit = _random_hmm(K=3, T=T, B=2, seed=T)
    log_alpha, loglik = forward(log_start, log_trans, log_emit, torch.full((2,), T))
    assert log_alpha.shape == (2, T, 3) and loglik.shape == (2,) and loglik.dtype == torch.float64
    for b in range(2):
        ref = _brute_force(log_start, log_trans, log_emit[b])[0]
        torch.testing.assert_close(loglik[b], ref, rtol=0, atol=1e-10)


def test_forward_variable_lengths_match_single_sequences():
    lengths = torch.tensor([6, 1, 4, 3])
    log_start, log_trans, log_emit = _random_hmm(K=3, T=6, B=4, seed=1)
    padded = log_emit.clone()
    for b, L in enumerate(lengths.tolist()):
        padded[b, L:] = math.nan                      # padding must never be read
    log_alpha, loglik = forward(log_start, log_trans, padded, lengths)
    log_beta = backward(log_trans, padded, lengths)
    gamma, xi_sum, loglik_p = posteriors(log_start, log_trans, padded, lengths)
    paths, best = viterbi(log_start, log_trans, padded, lengths)
    for b, L in enumerate(lengths.tolist()):
        one = (log_start, log_trans, log_emit[b:b + 1, :L])
        la1, ll1 = forward(*one, torch.tensor([L]))
        g1, x1, _ = posteriors(*one, torch.tensor([L]))
        p1, s1 = viterbi(*one, torch.tensor([L]))
        torch.testing.assert_close(loglik[b], ll1[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(loglik_p[b], ll1[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(log_alpha[b, :L], la1[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(log_beta[b, :L], backward(log_trans, log_emit[b:b + 1, :L], torch.tensor([L]))[0])
        torch.testing.assert_close(gamma[b, :L], g1[0], rtol=0, atol=1e-12)
        torch.testing.assert_close(xi_sum[b], x1[0], rtol=0, atol=1e-12)
        assert torch.equal(paths[b, :L], p1[0]) and (paths[b, L:] == -1).all()
        torch.testing.assert_close(best[b], s1[0], rtol=0, atol=1e-12)
        assert (gamma[b, L:] == 0).all() and torch.isneginf(log_alpha[b, L:]).all()
        assert torch.isneginf(log_beta[b, L:]).all()


def test_backward_consistent_with_forward():
    lengths = torch.tensor([6, 5, 2])
    log_start, log_trans, log_emit = _random_hmm(K=3, T=6, B=3, seed=2)
    log_alpha, loglik = forward(log_start, log_trans, log_emit, lengths)
    log_beta = backward(log_trans, log_emit, lengths)
    for b, L in enumerate(lengths.tolist()):
        assert (log_beta[b, L - 1] == 0).all()
        per_step = torch.logsumexp(log_alpha[b, :L] + log_beta[b, :L], dim=-1)     # (L,)
        torch.testing.assert_close(per_step, loglik[b].expand(L), rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- posteriors

def test_posteriors_equal_brute_force():
    lengths = torch.tensor([5, 6, 3])
    log_start, log_trans, log_emit = _random_hmm(K=3, T=6, B=3, seed=3)
    gamma, xi_sum, loglik = posteriors(log_start, log_trans, log_emit, lengths)
    assert gamma.shape == (3, 6, 3) and xi_sum.shape == (3, 3, 3)
    for b, L in enumerate(lengths.tolist()):
        ref_ll, ref_gamma, ref_xi, _, _ = _brute_force(log_start, log_trans, log_emit[b, :L])
        torch.testing.assert_close(loglik[b], ref_ll, rtol=0, atol=1e-10)
        torch.testing.assert_close(gamma[b, :L].sum(-1), torch.ones(L, dtype=torch.float64), rtol=0, atol=1e-12)
        torch.testing.assert_close(gamma[b, :L], ref_gamma, rtol=0, atol=1e-10)
        torch.testing.assert_close(xi_sum[b], ref_xi, rtol=0, atol=1e-10)
        torch.testing.assert_close(xi_sum[b].sum(), torch.tensor(L - 1.0, dtype=torch.float64), rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- Viterbi

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_equals_best_path(seed):
    lengths = torch.tensor([6, 4, 1])
    log_start, log_trans, log_emit = _random_hmm(K=3, T=6, B=3, seed=10 + seed)
    paths, best = viterbi(log_start, log_trans, log_emit, lengths)
    assert paths.dtype == torch.int64 and paths.shape == (3, 6)
    for b, L in enumerate(lengths.tolist()):
        _, _, _, ref_path, ref_score = _brute_force(log_start, log_trans, log_emit[b, :L])
        assert tuple(paths[b, :L].tolist()) == ref_path
        assert (paths[b, L:] == -1).all()
        torch.testing.assert_close(best[b], ref_score, rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- structural zeros

def test_structural_zeros_left_to_right():
    log_start, log_trans = _left_to_right(3)
    _, _, log_emit = _random_hmm(K=3, T=6, B=3, seed=4)
    lengths = torch.tensor([6, 4, 2])
    log_alpha, loglik = forward(log_start, log_trans, log_emit, lengths)
    log_beta = backward(log_trans, log_emit, lengths)
    gamma, xi_sum, loglik_p = posteriors(log_start, log_trans, log_emit, lengths)
    paths, best = viterbi(log_start, log_trans, log_emit, lengths)
    assert torch.isfinite(loglik).all() and torch.isfinite(best).all()
    torch.testing.assert_close(loglik_p, loglik, rtol=0, atol=1e-12)
    for x in (log_alpha, log_beta, gamma, xi_sum):
        assert not torch.isnan(x).any()
    forbidden = torch.isneginf(log_trans)
    assert (xi_sum[:, forbidden] == 0).all()
    for b, L in enumerate(lengths.tolist()):
        ref_ll, ref_gamma, ref_xi, ref_path, ref_score = _brute_force(log_start, log_trans, log_emit[b, :L])
        torch.testing.assert_close(loglik[b], ref_ll, rtol=0, atol=1e-10)
        torch.testing.assert_close(gamma[b, :L], ref_gamma, rtol=0, atol=1e-10)
        torch.testing.assert_close(xi_sum[b], ref_xi, rtol=0, atol=1e-10)
        p = paths[b, :L].tolist()
        assert tuple(p) == ref_path and p[0] == 0
        torch.testing.assert_close(best[b], ref_score, rtol=0, atol=1e-10)
        assert all(not forbidden[i, j] for i, j in itertools.pairwise(p))


def test_zero_probability_sequence_gives_neg_inf_not_nan():
    log_start, log_trans = _left_to_right(3)
    log_emit = torch.zeros(2, 4, 3, dtype=torch.float64)
    log_emit[0, 1, :2] = -math.inf                    # step 1 only possible in state 2, unreachable by then
    gamma, xi_sum, loglik = posteriors(log_start, log_trans, log_emit, torch.tensor([4, 4]))
    _, best = viterbi(log_start, log_trans, log_emit, torch.tensor([4, 4]))
    assert torch.isneginf(loglik[0]) and torch.isneginf(best[0]) and torch.isfinite(loglik[1])
    assert (gamma[0] == 0).all() and (xi_sum[0] == 0).all()
    assert not torch.isnan(gamma).any() and not torch.isnan(xi_sum).any()


# ----------------------------------------------------------------------------- long sequences

def test_forward_long_sequence_float32_matches_float64():
    K, T = 4, 20_000
    log_start, log_trans, _ = _random_hmm(K=K, T=T, B=1, seed=5)
    g = torch.Generator().manual_seed(5)
    x = 2.0 * torch.randn(1, T, 1, generator=g, dtype=torch.float64)
    means = torch.tensor([-2.0, -0.5, 0.5, 2.0], dtype=torch.float64)
    log_emit = -0.5 * (x - means) ** 2 - 0.5 * math.log(2 * math.pi)     # unit-variance Gaussian emissions
    lengths = torch.tensor([T])
    _, ll64 = forward(log_start, log_trans, log_emit, lengths)
    _, ll32 = forward(log_start.float(), log_trans.float(), log_emit.float(), lengths)
    assert ll32.dtype == torch.float32 and torch.isfinite(ll32).all()
    assert ll64.item() < -1000                      # far below what exp() could represent
    assert abs(ll32.item() - ll64.item()) <= 1e-4 * abs(ll64.item())


def test_forward_raises_on_bad_lengths():
    log_start, log_trans, log_emit = _random_hmm(K=3, T=4, B=2, seed=6)
    with pytest.raises(ValueError, match="lengths"):
        forward(log_start, log_trans, log_emit, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="lengths"):
        forward(log_start, log_trans, log_emit, torch.tensor([5, 4]))


# ----------------------------------------------------------------------------- backends agree

def test_backends_agree_on_long_variable_length_batch():
    """Chunk boundaries (torch) and the compiled loops (numba) on lengths 1..997."""
    lengths = torch.tensor([997, 1, 2, 640, 33, 500])
    log_start, log_trans, log_emit = _random_hmm(K=4, T=997, B=6, seed=7)
    log_trans[0, 3] = -math.inf                                       # a structural zero
    out = {}
    for be in ("torch", "numba"):
        out[be] = (posteriors(log_start, log_trans, log_emit, lengths, backend=be),
                   viterbi(log_start, log_trans, log_emit, lengths, backend=be),
                   log_likelihood(log_start, log_trans, log_emit, lengths, backend=be))
    (g_t, x_t, l_t), (p_t, b_t), ll_t = out["torch"]
    (g_n, x_n, l_n), (p_n, b_n), ll_n = out["numba"]
    torch.testing.assert_close(l_t, l_n, rtol=1e-12, atol=0)
    torch.testing.assert_close(ll_t, l_n, rtol=1e-12, atol=0)
    torch.testing.assert_close(ll_n, l_n, rtol=1e-12, atol=0)
    torch.testing.assert_close(g_t, g_n, rtol=0, atol=1e-9)
    torch.testing.assert_close(x_t, x_n, rtol=1e-9, atol=1e-9)
    assert (x_n[:, 0, 3] == 0).all()
    assert torch.equal(p_t, p_n)
    torch.testing.assert_close(b_t, b_n, rtol=1e-12, atol=0)


def test_unknown_backend_is_refused():
    log_start, log_trans, log_emit = _random_hmm(K=2, T=3, B=1, seed=8)
    with pytest.raises(ValueError, match="backend must be one of"):
        posteriors(log_start, log_trans, log_emit, torch.tensor([3]), backend="cuda")


def test_compiled_kernels_leave_torch_thread_count_alone():
    """numba's OpenMP layer shares libgomp with PyTorch; a kernel call must not reset
    ``torch.set_num_threads`` (it used to raise 1 thread to the core count)."""
    pytest.importorskip("numba")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        g = torch.Generator().manual_seed(0)
        K, V, B, T = 3, 4, 5, 7
        log_start = torch.log_softmax(torch.randn(K, generator=g, dtype=torch.float64), 0)
        log_trans = torch.log_softmax(torch.randn(K, K, generator=g, dtype=torch.float64), 1)
        log_emit = torch.log_softmax(torch.randn(B, T, K, generator=g, dtype=torch.float64), -1)
        lengths = torch.full((B,), T)
        for fn in (log_likelihood, posteriors, viterbi):
            fn(log_start, log_trans, log_emit, lengths, backend="numba")
            assert torch.get_num_threads() == 1, fn.__name__
    finally:
        torch.set_num_threads(before)
