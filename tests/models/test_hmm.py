"""CategoricalHMM and GaussianHMM against independent references: brute force over every
state path (log_prob, predict), sample frequencies vs. parameters, recovery of a known
chain, EM monotonicity, save/load, input forms and errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hmm_reference import path_scores

from genlab.exceptions import DataError, InvalidParameterError, NotFittedError
from genlab.models.hmm import CategoricalHMM, ConvergenceWarning, GaussianHMM

# a known 2-state chain over 3 symbols
START = torch.tensor([0.6, 0.4], dtype=torch.float64)
TRANS = torch.tensor([[0.9, 0.1], [0.2, 0.8]], dtype=torch.float64)
EMIT = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]], dtype=torch.float64)


def _draw_chain(n: int, length: int, seed: int) -> list[torch.Tensor]:
    """Sequences from (START, TRANS, EMIT) by a plain loop, independent of the estimator."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        z = int(torch.multinomial(START, 1, generator=g))
        xs = []
        for t in range(length):
            if t:
                z = int(torch.multinomial(TRANS[z], 1, generator=g))
            xs.append(int(torch.multinomial(EMIT[z], 1, generator=g)))
        out.append(torch.tensor(xs))
    return out


def _gauss_data(n: int = 6, seed: int = 0) -> list[torch.Tensor]:
    """Variable-length 2-D sequences switching between two well separated regimes."""
    g = torch.Generator().manual_seed(seed)
    seqs = []
    for i in range(n):
        L = 15 + 3 * i
        z = (torch.arange(L) // 5) % 2                                   # blocks of 5 steps
        mu = torch.stack([z * 3.0, -z * 2.0], 1)
        seqs.append(mu + 0.5 * torch.randn(L, 2, generator=g))
    return seqs


def _fit_cat(**kw) -> CategoricalHMM:
    return CategoricalHMM(**{"n_states": 2, "max_iter": 300, **kw}).fit(_draw_chain(20, 30, seed=1))


def _fit_gauss(**kw) -> GaussianHMM:
    return GaussianHMM(**{"n_states": 2, "max_iter": 300, **kw}).fit(_gauss_data())


def _log_emit_1(model, seq: torch.Tensor) -> torch.Tensor:
    """log p(x_t | z_t = k), (T, K), written out independently of the estimator."""
    if isinstance(model, CategoricalHMM):
        return torch.stack([model.emissionprob_[:, int(s)].log() for s in seq])
    var, mu = model.covars_, model.means_
    return torch.stack([(-0.5 * (torch.log(2 * math.pi * var) + (x - mu) ** 2 / var)).sum(-1)
                        for x in seq.double()])


def _path_scores(model, seq):
    """{path: log p(x, z = path)} over every state path."""
    return path_scores(model.startprob_.log(), model.transmat_.log(), _log_emit_1(model, seq))


def _match_states(est: torch.Tensor, true: torch.Tensor) -> list[int]:
    """Permutation of estimated states closest to the true ones (rows of emission matrices)."""
    K = true.shape[0]
    return list(min(itertools.permutations(range(K)), key=lambda p: float((est[list(p)] - true).abs().sum())))


# ----------------------------------------------------------------------------- fit

@pytest.mark.parametrize("make", [lambda: _fit_cat(pseudocount=0.0), lambda: _fit_gauss(n_states=3)])
def test_fit_never_decreases_log_likelihood(make):
    model = make()
    h = torch.tensor(model.history_)
    assert len(h) == model.n_iter_ + 1 and model.converged_
    assert bool((h[1:] - h[:-1] >= -1e-8).all()), (h[1:] - h[:-1]).min()
    assert model.lower_bound_ == pytest.approx(h[-1].item())
    # lower_bound_ is the train log-likelihood of the final parameters
    data = _draw_chain(20, 30, seed=1) if isinstance(model, CategoricalHMM) else _gauss_data()
    assert model.lower_bound_ == pytest.approx(model.log_prob(data).sum().item(), rel=1e-10)


def test_fit_recovers_known_categorical_hmm():
    model = CategoricalHMM(n_states=2, max_iter=500, tol=1e-6).fit(_draw_chain(200, 60, seed=0))
    perm = _match_states(model.emissionprob_, EMIT)
    torch.testing.assert_close(model.emissionprob_[perm], EMIT, atol=0.05, rtol=0)
    torch.testing.assert_close(model.transmat_[perm][:, perm], TRANS, atol=0.05, rtol=0)
    torch.testing.assert_close(model.startprob_[perm], START, atol=0.15, rtol=0)


def test_fit_learned_attributes():
    cat, gauss = _fit_cat(), _fit_gauss()
    assert cat.emissionprob_.shape == (2, 3) and cat.transmat_.dtype == torch.float64
    assert gauss.means_.shape == (2, 2) and gauss.covars_.shape == (2, 2)
    assert bool((gauss.covars_ >= gauss.min_covar).all())
    for m in (cat, gauss):
        torch.testing.assert_close(m.transmat_.sum(1), torch.ones(2, dtype=torch.float64))
        assert m.codec_ is None
    assert CategoricalHMM(n_states=2, n_symbols=5).fit([[0, 1, 2]]).emissionprob_.shape == (2, 5)


def test_fit_warns_convergence():
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        model = CategoricalHMM(n_states=3, max_iter=1).fit(_draw_chain(5, 20, seed=0))
    assert not model.converged_ and model.n_iter_ == 1 and len(model.history_) == 2


def test_fit_list_equals_concatenated_with_lengths():
    for make, data in [(lambda: CategoricalHMM(n_states=3, max_iter=300), _draw_chain(4, 9, seed=2)),
                       (lambda: GaussianHMM(n_states=2, max_iter=300), _gauss_data(4))]:
        data = [d[: 5 + 2 * i] for i, d in enumerate(data)]     # variable lengths
        lengths = [len(d) for d in data]
        a, b = make().fit(data), make().fit(torch.cat(data), lengths=lengths)
        for key, va in a._params().items():
            torch.testing.assert_close(va, b._params()[key])
        torch.testing.assert_close(a.log_prob(data), b.log_prob(torch.cat(data), lengths=lengths))
        for pa, pb in zip(a.predict(data), b.predict(torch.cat(data), lengths=lengths)):
            assert torch.equal(pa, pb)


def test_fit_same_random_state_same_model():
    a, b = _fit_gauss(init="random"), _fit_gauss(init="random")
    torch.testing.assert_close(a.means_, b.means_, rtol=0, atol=0)


# ----------------------------------------------------------------------------- log_prob / predict

@pytest.mark.parametrize("K", [2, 3])
def test_log_prob_equals_sum_over_paths(K):
    # a few iterations: any fitted parameters will do
    with pytest.warns(ConvergenceWarning):
        cat = CategoricalHMM(n_states=K, max_iter=3, tol=0.0).fit(_draw_chain(3, 6, seed=K))
    with pytest.warns(ConvergenceWarning):
        gauss = GaussianHMM(n_states=K, max_iter=3, tol=0.0).fit(_gauss_data(2))
    for model, seqs in [(cat, [torch.tensor([0, 2, 1, 1, 0]), torch.tensor([2]), torch.tensor([1, 0])]),
                        (gauss, [_gauss_data(1, seed=5)[0][:5], _gauss_data(1, seed=6)[0][:2]])]:
        got = model.log_prob(seqs)
        assert got.shape == (len(seqs),) and got.dtype == torch.float64
        want = torch.stack([torch.logsumexp(torch.stack(list(_path_scores(model, s).values())), 0) for s in seqs])
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        # posterior marginals sum to one at every step
        for p, s in zip(model.predict_proba(seqs), seqs):
            assert p.shape == (len(s), K)
            torch.testing.assert_close(p.sum(1), torch.ones(len(s), dtype=torch.float64))


@pytest.mark.parametrize("K", [2, 3])
def test_predict_equals_best_path(K):
    with pytest.warns(ConvergenceWarning):
        model = CategoricalHMM(n_states=K, max_iter=2, tol=0.0).fit(_draw_chain(3, 6, seed=K))
    seqs = [torch.tensor([0, 2, 1, 1, 0]), torch.tensor([2, 2, 0]), torch.tensor([1])]
    for path, s in zip(model.predict(seqs), seqs):
        scores = _path_scores(model, s)
        best = max(scores, key=lambda p: float(scores[p]))
        assert path.dtype == torch.int64 and path.tolist() == list(best)


def test_likelihood_units():
    assert CategoricalHMM.likelihood == GaussianHMM.likelihood == "exact"
    assert CategoricalHMM().likelihood_units() == "discrete"
    assert GaussianHMM().likelihood_units() == "density"


# ----------------------------------------------------------------------------- sample

def test_sample_frequencies_match_categorical_parameters():
    model = _fit_cat()
    seqs, states = model.sample(400, seed=3, length=100, return_states=True)
    assert len(seqs) == 400 and seqs[0].shape == (100,) and seqs[0].dtype == torch.int64
    z, x = torch.stack(states), torch.stack(seqs)                        # (n, T)
    trans = torch.zeros(2, 2, dtype=torch.float64).index_put_((z[:, :-1].reshape(-1), z[:, 1:].reshape(-1)),
                                                               torch.ones(z[:, 1:].numel(), dtype=torch.float64),
                                                               accumulate=True)
    torch.testing.assert_close(trans / trans.sum(1, keepdim=True), model.transmat_, atol=0.02, rtol=0)
    emit = torch.zeros(2, 3, dtype=torch.float64).index_put_((z.reshape(-1), x.reshape(-1)),
                                                             torch.ones(x.numel(), dtype=torch.float64),
                                                             accumulate=True)
    torch.testing.assert_close(emit / emit.sum(1, keepdim=True), model.emissionprob_, atol=0.02, rtol=0)
    start = torch.bincount(z[:, 0], minlength=2).double() / len(z)
    torch.testing.assert_close(start, model.startprob_, atol=0.08, rtol=0)


def test_sample_moments_match_gaussian_parameters():
    model = _fit_gauss()
    seqs, states = model.sample(200, seed=4, length=100, return_states=True)
    x, z = torch.stack(seqs), torch.stack(states)                        # (n, T, D), (n, T)
    for k in range(2):
        xk = x[z == k]
        torch.testing.assert_close(xk.mean(0), model.means_[k], atol=0.05, rtol=0)
        torch.testing.assert_close(xk.var(0), model.covars_[k], atol=0.05, rtol=0.05)


def test_sample_seed():
    model = _fit_cat()
    a, b = model.sample(5, seed=7, length=20), model.sample(5, seed=7, length=20)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    g = torch.Generator().manual_seed(7)
    c, d = model.sample(5, seed=g, length=20), model.sample(5, seed=g, length=20)
    assert all(torch.equal(u, v) for u, v in zip(a, c))
    assert not all(torch.equal(u, v) for u, v in zip(c, d))
    with pytest.raises(InvalidParameterError):
        model.sample(0)
    with pytest.raises(InvalidParameterError):
        model.sample(2, length=0)


# ----------------------------------------------------------------------------- save / load

@pytest.mark.parametrize("make", [_fit_cat, _fit_gauss])
def test_save_load_round_trip(make, tmp_path):
    model = make()
    model.save(tmp_path / "m")
    loaded = type(model).load(tmp_path / "m")
    data = _draw_chain(3, 10, seed=9) if isinstance(model, CategoricalHMM) else _gauss_data(3, seed=9)
    assert torch.equal(model.log_prob(data), loaded.log_prob(data))
    assert all(torch.equal(u, v) for u, v in zip(model.sample(4, seed=1, length=12),
                                                  loaded.sample(4, seed=1, length=12)))
    assert loaded.n_iter_ == model.n_iter_ and loaded.history_ == model.history_
    assert loaded.get_params() == model.get_params()


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("model", [CategoricalHMM(), GaussianHMM()])
@pytest.mark.parametrize("method", ["log_prob", "predict", "predict_proba"])
def test_methods_raise_not_fitted(model, method):
    with pytest.raises(NotFittedError):
        getattr(model, method)([[0]])
    with pytest.raises(NotFittedError):
        model.sample(1)
    with pytest.raises(NotFittedError):
        model.save("unused")


@pytest.mark.parametrize("model", [CategoricalHMM(n_states=0), CategoricalHMM(pseudocount=-1.0),
                                   CategoricalHMM(init="kmeans"), CategoricalHMM(n_symbols=0),
                                   GaussianHMM(n_states=0), GaussianHMM(covariance_type="tied"),
                                   GaussianHMM(min_covar=0.0), GaussianHMM(max_iter=0),
                                   GaussianHMM(random_state="a")])
def test_fit_raises_invalid_parameter(model):
    with pytest.raises(InvalidParameterError):
        model.fit([[0, 1, 1]] if isinstance(model, CategoricalHMM) else [torch.zeros(5, 1)])


@pytest.mark.parametrize("X, lengths, match", [
    ([], None, "empty"),
    (torch.zeros(0, dtype=torch.long), None, "empty"),
    ([[0, 1], []], None, "empty"),
    ([0, 1, 2], [2, 2], "sum to 4"),
    ([0, 1, 2], [3, 0], ">= 1"),
    ([[0, 1], [1, 2]], [2, 2], "already a list"),
    ([0, -1, 2], None, "negative"),
    ([0, 1, 5], None, "outside 0..2"),
    ([0.0, float("nan")], None, "NaN"),
    ([0.5, 1.0], None, "non-integer"),
    ([[[0, 1]]], None, "dimension"),
    (torch.zeros(2, 2, dtype=torch.long), None, "dimension"),
    (["a", "b"], None, "numeric"),
])
def test_fit_raises_data_error_categorical(X, lengths, match):
    with pytest.raises(DataError, match=match):
        CategoricalHMM(n_states=2, n_symbols=3).fit(X, lengths=lengths)


@pytest.mark.parametrize("X, lengths, match", [
    ([], None, "empty"),
    (torch.zeros(0, 2), None, "empty"),
    ([torch.zeros(3, 2), torch.zeros(0, 2)], None, "empty"),
    (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), None, "NaN"),
    ([torch.tensor([[0.0, float("inf")], [1.0, 1.0]])], None, "NaN or infinite"),
    (torch.zeros(5), None, "dimension"),
    ([torch.zeros(3, 2, 1)], None, "dimension"),
    (torch.zeros(5, 2), [2, 2], "sum to 4"),
    ([torch.zeros(3, 2), torch.zeros(3, 1)], None, "same number of features"),
    (torch.zeros(1, 2), None, "at least 2 observations"),
])
def test_fit_raises_data_error_gaussian(X, lengths, match):
    with pytest.raises(DataError, match=match):
        GaussianHMM(n_states=2).fit(X, lengths=lengths)


def test_log_prob_raises_data_error():
    cat, gauss = _fit_cat(), _fit_gauss()
    with pytest.raises(DataError, match="outside 0..2"):
        cat.log_prob([[0, 3]])
    with pytest.raises(DataError, match="trained on D=2"):
        gauss.predict(torch.zeros(4, 3))
    with pytest.raises(DataError, match="NaN"):
        gauss.predict_proba(torch.full((4, 2), float("nan")))
