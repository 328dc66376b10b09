"""Given identical parameters, genlab's HMM log-likelihoods and Viterbi paths equal
hmmlearn's (the reference users know), to 1e-6 relative."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from genlab.models.hmm import CategoricalHMM, GaussianHMM

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm", reason="hmmlearn is a test dependency: pip install -e .[dev]")


def _random_params(K, rng):
    start = rng.dirichlet(np.ones(K))
    trans = rng.dirichlet(np.ones(K), size=K)
    return start, trans


def _sequences(rng, n, M=None, D=None):
    lengths = rng.integers(20, 60, size=n)
    total = int(lengths.sum())
    x = rng.integers(0, M, size=total) if M else rng.normal(size=(total, D))
    return x, lengths


def _set(model, params):
    model._store({k: torch.as_tensor(v, dtype=torch.float64) for k, v in params.items()})
    model.n_iter_, model.converged_, model.lower_bound_, model.history_ = 0, True, float("nan"), []
    model.codec_ = None


def test_categorical_matches_hmmlearn():
    rng = np.random.default_rng(0)
    K, M = 4, 6
    start, trans = _random_params(K, rng)
    emit = rng.dirichlet(np.ones(M), size=K)
    x, lengths = _sequences(rng, 8, M=M)
    ref = hmmlearn_hmm.CategoricalHMM(n_components=K, n_features=M)
    ref.startprob_, ref.transmat_, ref.emissionprob_ = start, trans, emit
    ours = CategoricalHMM(n_states=K, n_symbols=M)
    _set(ours, {"startprob": start, "transmat": trans, "emissionprob": emit})
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    ref_lp = np.array([ref.score(x[a:b, None]) for a, b in itertools.pairwise(bounds)])
    lp = ours.log_prob(x, lengths=lengths).numpy()
    np.testing.assert_allclose(lp, ref_lp, rtol=1e-6)
    _, ref_path = ref.decode(x[:, None], lengths=lengths, algorithm="viterbi")
    np.testing.assert_array_equal(torch.cat(ours.predict(x, lengths=lengths)).numpy(), ref_path)


def test_gaussian_diag_matches_hmmlearn():
    rng = np.random.default_rng(1)
    K, D = 3, 2
    start, trans = _random_params(K, rng)
    means = rng.normal(scale=2.0, size=(K, D))
    covars = rng.uniform(0.5, 2.0, size=(K, D))
    x, lengths = _sequences(rng, 6, D=D)
    ref = hmmlearn_hmm.GaussianHMM(n_components=K, covariance_type="diag")
    ref.startprob_, ref.transmat_, ref.means_, ref.covars_ = start, trans, means, covars
    ours = GaussianHMM(n_states=K)
    _set(ours, {"startprob": start, "transmat": trans, "means": means, "covars": covars})
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    ref_lp = np.array([ref.score(x[a:b]) for a, b in itertools.pairwise(bounds)])
    np.testing.assert_allclose(ours.log_prob(x, lengths=lengths).numpy(), ref_lp, rtol=1e-6)
    _, ref_path = ref.decode(x, lengths=lengths, algorithm="viterbi")
    np.testing.assert_array_equal(torch.cat(ours.predict(x, lengths=lengths)).numpy(), ref_path)
