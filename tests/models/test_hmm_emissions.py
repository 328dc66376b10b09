"""Every emission model (Gaussian diag / spherical / full, Gaussian mixtures) against
independent references: densities from torch.distributions summed over every state path,
hmmlearn given identical parameters, monotone EM, sample moments; plus the learning
options shared by all (structural zeros, n_init, streaming)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from hmm_reference import path_scores
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.hmm import GMMHMM, CategoricalHMM, ConvergenceWarning, GaussianHMM

COV_TYPES = ["diag", "spherical", "full"]


def _data(n: int = 5, D: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """Variable-length sequences alternating between three correlated regimes."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.tensor([[1.0, 0.0], [0.8, 0.6]], dtype=torch.float64)[:D, :D]
    seqs = []
    for i in range(n):
        L = 20 + 4 * i
        z = (torch.arange(L) // 6) % 3
        mu = torch.stack([z * 3.0, -z * 1.5], 1)[:, :D].double()
        seqs.append(mu + 0.7 * torch.randn(L, D, generator=g, dtype=torch.float64) @ mix)
    return seqs


def _full_cov(model) -> torch.Tensor:
    """Every component's covariance as a full (..., D, D) matrix, from the stored layout."""
    c, D = model.covars_, model.means_.shape[-1]
    if model.covariance_type == "full":
        return c
    if model.covariance_type == "diag":
        return torch.diag_embed(c)
    return c[..., None, None] * torch.eye(D, dtype=c.dtype)


def _log_emit_1(model, seq: torch.Tensor) -> torch.Tensor:
    """log p(x_t | z_t = k) (T, K) from torch.distributions, independent of genlab's code."""
    cov = _full_cov(model)
    if isinstance(model, GMMHMM):
        dist = MixtureSameFamily(Categorical(probs=model.weights_), MultivariateNormal(model.means_, cov))
    else:
        dist = MultivariateNormal(model.means_, cov)
    return dist.log_prob(seq[:, None, :])


def _models():
    return [GaussianHMM(n_states=2, covariance_type=c, max_iter=60, tol=1e-8) for c in COV_TYPES] + [
        GMMHMM(n_states=2, n_mix=2, covariance_type=c, max_iter=60, tol=1e-8) for c in COV_TYPES]


def _id(m) -> str:
    return f"{type(m).__name__}-{m.covariance_type}"


# ----------------------------------------------------------------------------- exactness

@pytest.mark.parametrize("model", _models(), ids=_id)
def test_log_prob_and_viterbi_equal_brute_force(model):
    model.fit(_data(3))
    seqs = [s[:6] for s in _data(3, seed=9)]                       # 2^6 paths each
    lp = model.log_prob(seqs)
    paths = model.predict(seqs)
    for b, s in enumerate(seqs):
        scores = path_scores(model.startprob_.log(), model.transmat_.log(), _log_emit_1(model, s))
        ref = torch.logsumexp(torch.stack(list(scores.values())), 0)
        torch.testing.assert_close(lp[b], ref, rtol=1e-10, atol=1e-10)
        assert tuple(paths[b].tolist()) == max(scores, key=lambda p: scores[p].item())


@pytest.mark.parametrize("model", _models(), ids=_id)
def test_em_never_decreases_log_likelihood(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(_data(5))
    h = torch.tensor(model.history_)
    assert len(h) == model.n_iter_ + 1
    assert bool((h[1:] - h[:-1] >= -1e-7 * h.abs().max()).all()), (h[1:] - h[:-1]).min()
    assert h[-1] > h[0]
    assert model.lower_bound_ == pytest.approx(model.log_prob(_data(5)).sum().item(), rel=1e-10)
    # floors hold
    cov = _full_cov(model)
    assert bool((torch.linalg.eigvalsh(cov) >= model.min_covar - 1e-12).all())


@pytest.mark.parametrize("model", _models(), ids=_id)
def test_save_load_round_trip(model, tmp_path):
    model.fit(_data(3))
    model.save(tmp_path / "m")
    loaded = type(model).load(tmp_path / "m")
    assert torch.equal(loaded.log_prob(_data(2, seed=3)), model.log_prob(_data(2, seed=3)))
    for a, b in zip(loaded.sample(2, seed=1, length=7), model.sample(2, seed=1, length=7)):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- sampling

def test_gmm_sample_moments_match_parameters():
    model = GMMHMM(n_states=2, n_mix=2, covariance_type="full", max_iter=20, tol=1.0).fit(_data(4))
    seqs, states = model.sample(400, seed=0, length=50, return_states=True)
    x, z = torch.cat(seqs), torch.cat(states)
    cov = _full_cov(model)
    for k in range(2):
        xk = x[z == k]
        w = model.weights_[k]
        mean = (w[:, None] * model.means_[k]).sum(0)
        second = (w[:, None, None] * (cov[k] + model.means_[k][:, :, None] * model.means_[k][:, None, :])).sum(0)
        covk = second - mean[:, None] * mean[None, :]
        n = len(xk)
        torch.testing.assert_close(xk.mean(0), mean, atol=5 * covk.diagonal().max().sqrt().item() / math.sqrt(n),
                                   rtol=0)
        torch.testing.assert_close(torch.cov(xk.T), covk, atol=0.08 * covk.abs().max().item(), rtol=0)


# ----------------------------------------------------------------------------- hmmlearn

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm", reason="hmmlearn is a test dependency: pip install -e .[dev]")


def _random_cov(rng, shape_type, K, D, lead=()):
    if shape_type == "diag":
        return rng.uniform(0.5, 2.0, size=(*lead, K, D)) if lead else rng.uniform(0.5, 2.0, size=(K, D))
    if shape_type == "spherical":
        return rng.uniform(0.5, 2.0, size=(*lead, K)) if lead else rng.uniform(0.5, 2.0, size=K)
    a = rng.normal(size=(*lead, K, D, D)) if lead else rng.normal(size=(K, D, D))
    return a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(D)


def _set(model, params):
    model._store({k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()})
    model.n_iter_, model.converged_, model.lower_bound_, model.history_ = 0, True, float("nan"), []
    model.codec_ = None


def _compare(ref, ours, x, lengths):
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    ref_lp = np.array([ref.score(x[a:b]) for a, b in itertools.pairwise(bounds)])
    np.testing.assert_allclose(ours.log_prob(x, lengths=lengths).numpy(), ref_lp, rtol=1e-6)
    _, ref_path = ref.decode(x, lengths=lengths, algorithm="viterbi")
    np.testing.assert_array_equal(torch.cat(ours.predict(x, lengths=lengths)).numpy(), ref_path)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_gaussian_matches_hmmlearn(cov):
    rng = np.random.default_rng(2)
    K, D = 3, 2
    start, trans = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K)
    means, covars = rng.normal(scale=2.0, size=(K, D)), _random_cov(rng, cov, K, D)
    lengths = rng.integers(20, 60, size=6)
    x = rng.normal(scale=2.0, size=(int(lengths.sum()), D))
    ref = hmmlearn_hmm.GaussianHMM(n_components=K, covariance_type=cov)
    ref.n_features = D
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = start, trans, means, covars
    ours = GaussianHMM(n_states=K, covariance_type=cov)
    _set(ours, {"startprob": start, "transmat": trans, "means": means, "covars": covars})
    _compare(ref, ours, x, lengths)


@pytest.mark.parametrize("cov", COV_TYPES)
def test_gmm_matches_hmmlearn(cov):
    rng = np.random.default_rng(3)
    K, M, D = 3, 2, 2
    start, trans = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K), size=K)
    weights = rng.dirichlet(np.ones(M), size=K)
    means = rng.normal(scale=2.0, size=(K, M, D))
    covars = _random_cov(rng, cov, M, D, lead=(K,))
    lengths = rng.integers(20, 60, size=6)
    x = rng.normal(scale=2.0, size=(int(lengths.sum()), D))
    ref = hmmlearn_hmm.GMMHMM(n_components=K, n_mix=M, covariance_type=cov)
    ref.n_features = D
    ref.startprob_, ref.transmat_, ref.weights_, ref.means_, ref.covars_ = start, trans, weights, means, covars
    ours = GMMHMM(n_states=K, n_mix=M, covariance_type=cov)
    _set(ours, {"startprob": start, "transmat": trans, "weights": weights, "means": means, "covars": covars})
    _compare(ref, ours, x, lengths)


# ----------------------------------------------------------------------------- learning options

def test_structural_zeros_stay_zero():
    K = 3
    trans = np.array([[0.7, 0.3, 0.0], [0.0, 0.7, 0.3], [0.0, 0.0, 1.0]])       # left to right
    start = np.array([1.0, 0.0, 0.0])
    for model in (GaussianHMM(n_states=K, startprob_init=start, transmat_init=trans, max_iter=30),
                  CategoricalHMM(n_states=K, startprob_init=start, transmat_init=trans, max_iter=30,
                                 pseudocount=0.5)):
        data = _data(4) if isinstance(model, GaussianHMM) else [torch.tensor([0, 0, 1, 1, 2, 2, 2])] * 3
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(data)
        zeros = torch.as_tensor(trans) == 0
        assert (model.transmat_[zeros] == 0).all() and (model.transmat_[~zeros] > 0).all()
        assert (model.startprob_[1:] == 0).all()
        for path in model.predict(data):                                    # never moves left
            assert bool((path[1:] >= path[:-1]).all())


def test_bad_initial_matrices_are_refused():
    with pytest.raises(InvalidParameterError, match="transmat_init"):
        GaussianHMM(n_states=2, transmat_init=[[0.5, 0.5]]).fit(_data(2))
    with pytest.raises(InvalidParameterError, match="sum to 1"):
        GaussianHMM(n_states=2, startprob_init=[0.5, 0.6]).fit(_data(2))


def test_n_init_keeps_the_best_run():
    data = _data(5)
    one = GaussianHMM(n_states=3, init="random", max_iter=40, random_state=4).fit(data)
    many = GaussianHMM(n_states=3, init="random", max_iter=40, random_state=4, n_init=4).fit(data)
    assert many.lower_bound_ >= one.lower_bound_ - 1e-9       # the first of the 4 runs is `one`


def test_streaming_equals_in_memory():
    """Sufficient statistics summed chunk by chunk give the same EM as one batch."""
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(0, 4, (int(n),), generator=g) for n in torch.randint(5, 40, (30,), generator=g)]
    kw = {"n_states": 3, "n_symbols": 4, "max_iter": 15, "tol": 0.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = CategoricalHMM(**kw).fit(seqs)
        calls = []

        def stream():
            calls.append(1)
            yield from iter(seqs)

        streamed = CategoricalHMM(**kw, chunk_size=50).fit(stream)
    assert len(calls) == 17                           # one pass for init + 16 E-steps
    for key, value in mem._params().items():
        torch.testing.assert_close(streamed._params()[key], value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(streamed.history_, mem.history_, rtol=1e-12)
    with pytest.raises(InvalidParameterError, match="n_symbols"):
        CategoricalHMM(n_states=2).fit(stream)


def test_gaussian_streaming_fits():
    data = _data(6)
    with pytest.warns(ConvergenceWarning):
        model = GaussianHMM(n_states=3, covariance_type="full", max_iter=5, chunk_size=40).fit(lambda: iter(data))
    h = torch.tensor(model.history_)
    assert bool((h[1:] >= h[:-1] - 1e-7 * h.abs().max()).all())


@pytest.mark.parametrize("model, X, match", [
    (GaussianHMM(n_states=2), [torch.tensor([[0.0, float("nan")]] * 5)], "NaN"),
    (GaussianHMM(n_states=2), [torch.zeros(5, 2), torch.zeros(5, 3)], "same number of features"),
    (GaussianHMM(n_states=2), torch.zeros(5, 2, 2), "dimension"),
    (GMMHMM(n_states=2, n_mix=3), [torch.zeros(5, 2)], "at least 6 observations"),
    (CategoricalHMM(n_states=2), lambda: iter([]), "n_symbols"),
])
def test_bad_input_errors(model, X, match):
    with pytest.raises((DataError, InvalidParameterError), match=match):
        model.fit(X)


def test_predict_on_wrong_width_is_a_data_error():
    model = GaussianHMM(n_states=2, max_iter=200, tol=1e-3).fit(_data(2))
    with pytest.raises(DataError, match="trained on D=2"):
        model.log_prob([torch.zeros(4, 3)])


def test_initial_emission_parameters_and_exact_iteration_count():
    data = _data(3)
    means = torch.tensor([[0.0, 0.0], [3.0, -1.5]], dtype=torch.float64)
    covars = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    a = GaussianHMM(n_states=2, means_init=means, covars_init=covars, max_iter=7, tol=None).fit(data)
    assert a.n_iter_ == 7 and len(a.history_) == 8 and not a.converged_        # tol=None: no early stop, no warning
    b = GaussianHMM(n_states=2, means_init=means, covars_init=covars, max_iter=7, tol=None, random_state=99).fit(data)
    torch.testing.assert_close(a.means_, b.means_, rtol=0, atol=0)             # the seed no longer matters
    with pytest.raises(InvalidParameterError, match="means_init must have shape"):
        GaussianHMM(n_states=2, means_init=means[:1]).fit(data)
    with pytest.raises(InvalidParameterError, match="covars_init must be positive"):
        GaussianHMM(n_states=2, covars_init=-covars).fit(data)
    with pytest.raises(InvalidParameterError, match="weights_init"):
        GMMHMM(n_states=2, n_mix=2, weights_init=[[0.5, 0.6], [0.5, 0.5]]).fit(data)
    emit = torch.tensor([[0.5, 0.5], [0.9, 0.1]], dtype=torch.float64)
    c = CategoricalHMM(n_states=2, emissionprob_init=emit, max_iter=1, tol=None).fit([[0, 1, 1], [1, 0]])
    assert c.n_iter_ == 1
    with pytest.raises(InvalidParameterError, match="emissionprob_init"):
        CategoricalHMM(n_states=2, emissionprob_init=2 * emit).fit([[0, 1, 1]])
