"""Hidden Markov models as genlab models: categorical and diagonal-Gaussian emissions.

Both classes share one Baum-Welch (EM) driver, :meth:`_BaseHMM._em` (Rabiner 1989,
"A Tutorial on Hidden Markov Models...", Proc. IEEE 77(2), eqs. 40a-c and 52-53),
in the manner of scikit-learn's ``BaseMixture``: it reports ``n_iter_``,
``lower_bound_``, ``converged_`` and ``history_`` and warns
:class:`ConvergenceWarning`. The recursions themselves (forward, backward,
posteriors, Viterbi) are the pure functions of :mod:`genlab.models.hmm.algorithms`;
here live only the data handling, the initialisation and the M-steps.

Data follow hmmlearn: a list of sequences, or one concatenated array plus
``lengths``. Sequences are padded into a (B, T_max) batch with a ``lengths``
tensor; everything is computed in float64.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from genlab.base import GenerativeModel
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.hmm.algorithms import forward, posteriors, viterbi
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval, Options, check_finite

__all__ = ["CategoricalHMM", "ConvergenceWarning", "GaussianHMM"]

_DTYPE = torch.float64


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the log-likelihood gain fell below ``tol``."""


# ----------------------------------------------------------------------------- data helpers

def _ndim(x: Any) -> int:
    """Dimensionality of an array-like, or -1 if it is not one (ragged lists, objects)."""
    if isinstance(x, torch.Tensor):
        return x.ndim
    try:
        return int(np.ndim(x))
    except (TypeError, ValueError):
        return -1


def _as_tensor(x: Any, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError, RuntimeError) as err:
            raise DataError(f"{what} could not be read as a numeric array: {err}") from None
    if t.is_complex():
        raise DataError(f"{what} must be numeric; got dtype {t.dtype}.")
    return t


def _split(x: torch.Tensor, lengths: Any) -> list[torch.Tensor]:
    """Cut one concatenated array (N, ...) into sequences of the given ``lengths``."""
    if lengths is None:
        return [x]
    lens = _as_tensor(lengths, "lengths")
    if lens.ndim != 1 or lens.is_floating_point() or lens.dtype == torch.bool or len(lens) == 0:
        raise DataError(f"lengths must be a non-empty 1-D list of ints; got {lengths!r}.")
    if bool((lens < 1).any()):
        raise DataError(f"every entry of lengths must be >= 1 (no empty sequences); got {lens.tolist()}.")
    if int(lens.sum()) != len(x):
        raise DataError(f"lengths sum to {int(lens.sum())} but X has {len(x)} rows; they must be equal.")
    return list(torch.split(x, lens.tolist()))


def _normalize_rows(counts: torch.Tensor, pseudocount: float, old: torch.Tensor) -> torch.Tensor:
    """(counts + pseudocount) normalised over the last axis; an all-zero row keeps ``old``.

    A row with no expected counts does not enter the EM objective, so any value
    maximises it: keeping the old one (instead of 0/0 = NaN) keeps EM monotone.
    """
    c = counts + pseudocount
    s = c.sum(-1, keepdim=True)
    return torch.where(s > 0, c / torch.where(s > 0, s, torch.ones_like(s)), old)


def _dirichlet_ones(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Rows drawn uniformly from the simplex (Dirichlet(1): normalised Exp(1) draws)."""
    e = -torch.log1p(-torch.rand(shape, generator=gen, dtype=_DTYPE))
    return e / e.sum(-1, keepdim=True)


def _check_count(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive int; got {value!r}.")


# ----------------------------------------------------------------------------- shared EM driver

class _BaseHMM(GenerativeModel):
    """Everything but the emission model: data in, Baum-Welch, decoding, sampling, state.

    Subclasses set ``_seq_ndim`` and ``_emission_keys`` and implement ``_check_values``,
    ``_init_params``, ``_log_emit``, ``_m_step_emission`` and ``_sample_emission``.
    Parameters travel as a dict of float64 tensors: ``startprob`` (K,), ``transmat`` (K, K)
    (row = from-state) and the emission entries.
    """

    likelihood = "exact"
    modalities = ("sequence",)
    _fitted_attributes = ("transmat_",)
    _seq_ndim: int = 1
    _emission_keys: tuple[str, ...] = ()
    _start_pseudocount: float = 0.0

    # -- data ------------------------------------------------------------------------
    def _sequences(self, X: Any, lengths: Any, fitting: bool) -> list[torch.Tensor]:
        """Validated sequences from a list of sequences or a concatenated array + lengths."""
        if isinstance(X, (list, tuple)) and len(X) > 0 and _ndim(X[0]) == self._seq_ndim:
            if lengths is not None:
                raise DataError("lengths is for one concatenated array; X is already a list of sequences.")
            seqs = [_as_tensor(s, f"sequence {i}") for i, s in enumerate(X)]
        else:
            x = _as_tensor(X, "X")
            if x.numel() == 0:
                raise DataError(f"X is empty (shape {tuple(x.shape)}); give at least one non-empty sequence.")
            if x.ndim != self._seq_ndim:
                raise DataError(f"X must have {self._seq_ndim} dimension(s) {self._shape_doc}; "
                                f"got shape {tuple(x.shape)}.")
            seqs = _split(x, lengths)
        if not seqs:
            raise DataError("X is empty: give at least one non-empty sequence.")
        out = []
        for i, s in enumerate(seqs):
            if s.ndim != self._seq_ndim:
                raise DataError(f"sequence {i} must have {self._seq_ndim} dimension(s) {self._shape_doc}; "
                                f"got shape {tuple(s.shape)}.")
            if len(s) == 0:
                raise DataError(f"sequence {i} is empty; every sequence needs at least one step.")
            out.append(self._check_values(s, f"sequence {i}", fitting))
        return out

    @staticmethod
    def _pad(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(x (B, T_max, ...) zero-padded, lengths (B,) int64). Zeros, never NaN, on padding,
        so that the M-step's gamma * x is 0 there (gamma is 0 on padding, and 0 * NaN = NaN)."""
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        x = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=0)
        return x, lengths

    # -- fit -------------------------------------------------------------------------
    def fit(self, X: Any, lengths: Any = None) -> _BaseHMM:
        """Fit by Baum-Welch (EM) from an initialisation drawn with ``random_state``.

        Parameters
        ----------
        X : list of sequences, or one array of concatenated sequences
            See the class docstring for the shape of one sequence.
        lengths : list of int, optional
            Lengths of the sequences concatenated in ``X`` (hmmlearn's convention).

        Returns
        -------
        self
        """
        self._validate_params()
        seqs = self._sequences(X, lengths, fitting=True)
        gen = as_generator(self.random_state)
        params = self._init_params(seqs, gen)
        x, lens = self._pad(seqs)
        params = self._em(x, lens, params)
        self.codec_ = None
        self._store(params)
        return self

    def _em(self, x: torch.Tensor, lengths: torch.Tensor, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Baum-Welch. ``history_[i]`` is the total train log-likelihood (nats) after i M-steps.

        Each iteration: 1. E-step under the current parameters (exact, so the recorded value is
        the log-likelihood of exactly these parameters); 2. stop if the gain is below ``tol``
        or ``max_iter`` M-steps were done; 3. M-step. EM never decreases the log-likelihood
        (Dempster et al. 1977) when the M-step is exact, i.e. with ``pseudocount=0``; with a
        pseudocount it maximises the log posterior under a Dirichlet(1 + pseudocount) prior.
        """
        history: list[float] = []
        n_iter, converged = 0, False
        while True:
            # 1. E-step: state marginals, expected transition counts, log p(x) per sequence
            log_emit = self._log_emit(params, x)                                        # (B, T, K)
            gamma, xi_sum, ll = posteriors(params["startprob"].log(), params["transmat"].log(), log_emit, lengths)
            history.append(float(ll.sum()))
            # 2. convergence (absolute gain in total nats, as hmmlearn)
            if len(history) > 1 and history[-1] - history[-2] < self.tol:
                converged = True
                break
            if n_iter == self.max_iter:
                break
            # 3. M-step (Rabiner eqs. 40a-b; emissions in the subclass)
            new = {
                "startprob": _normalize_rows(gamma[:, 0].sum(0), self._start_pseudocount, params["startprob"]),
                "transmat": _normalize_rows(xi_sum.sum(0), self._start_pseudocount, params["transmat"]),
            }
            new.update(self._m_step_emission(params, x, gamma))
            params = new
            n_iter += 1
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: EM did not converge in max_iter={self.max_iter} iterations "
                f"(last gain {history[-1] - history[-2]:.3g} nats >= tol={self.tol}); "
                "raise max_iter or tol.", ConvergenceWarning, stacklevel=3)
        self.history_ = history
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.lower_bound_ = history[-1]
        return params

    # -- state -------------------------------------------------------------------------
    def _store(self, params: dict[str, torch.Tensor]) -> None:
        """Set the learned attributes (``transmat_`` last: it marks the model fitted)."""
        self.startprob_ = params["startprob"]
        for key in self._emission_keys:
            setattr(self, key + "_", params[key])
        self.transmat_ = params["transmat"]

    def _params(self) -> dict[str, torch.Tensor]:
        return {key: getattr(self, key + "_") for key in ("startprob", "transmat", *self._emission_keys)}

    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state = {"n_iter": self.n_iter_, "converged": self.converged_, "lower_bound": self.lower_bound_,
                 "history": list(self.history_)}
        return {k: v.contiguous() for k, v in self._params().items()}, state

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        params = {k: tensors[k].to(_DTYPE) for k in ("startprob", "transmat", *self._emission_keys)}
        K = params["startprob"].shape[0]
        if K != self.n_states or params["transmat"].shape != (K, K):
            raise ValueError(f"saved tensors are for {K} states; config says n_states={self.n_states}.")
        self.n_iter_ = state.get("n_iter", 0)
        self.converged_ = state.get("converged", True)
        self.lower_bound_ = state.get("lower_bound", float("nan"))
        self.history_ = list(state.get("history", []))
        self.codec_ = None
        self._store(params)

    # -- inference ---------------------------------------------------------------------
    def _inputs(self, X: Any, lengths: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                                      torch.Tensor]:
        self._check_fitted()
        x, lens = self._pad(self._sequences(X, lengths, fitting=False))
        params = self._params()
        return params["startprob"].log(), params["transmat"].log(), self._log_emit(params, x), lens, x

    @torch.no_grad()
    def log_prob(self, X: Any, lengths: Any = None) -> torch.Tensor:
        """Exact log-likelihood log p(x_1..T) of each sequence, in nats, shape (n_sequences,).

        Computed by the scaled forward recursion (sum over every state path). For
        :class:`CategoricalHMM` it is the log of a probability; for :class:`GaussianHMM`
        a log density. Float64.
        """
        log_start, log_trans, log_emit, lens, _ = self._inputs(X, lengths)
        return forward(log_start, log_trans, log_emit, lens)[1]

    def score(self, X: Any, lengths: Any = None) -> float:
        """Total log-likelihood of all sequences in nats (hmmlearn's ``score``)."""
        return float(self.log_prob(X, lengths).sum())

    @torch.no_grad()
    def predict(self, X: Any, lengths: Any = None) -> list[torch.Tensor]:
        """Most probable state path of each sequence (Viterbi): a list of int64 tensors (T_i,)."""
        log_start, log_trans, log_emit, lens, _ = self._inputs(X, lengths)
        paths, _ = viterbi(log_start, log_trans, log_emit, lens)                         # (B, T)
        return [paths[b, :n] for b, n in enumerate(lens.tolist())]

    @torch.no_grad()
    def predict_proba(self, X: Any, lengths: Any = None) -> list[torch.Tensor]:
        """Posterior state marginals p(z_t = k | x) of each sequence: a list of (T_i, n_states) tensors."""
        log_start, log_trans, log_emit, lens, _ = self._inputs(X, lengths)
        gamma, _, _ = posteriors(log_start, log_trans, log_emit, lens)                   # (B, T, K)
        return [gamma[b, :n] for b, n in enumerate(lens.tolist())]

    # -- sampling ----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, length: int = 100,
               return_states: bool = False) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Draw ``n`` sequences of ``length`` steps from the fitted chain.

        Parameters
        ----------
        n : int
            Number of sequences.
        seed : int, torch.Generator or None
            Every draw uses this one generator: the same int gives the same sequences;
            a Generator is advanced, so repeated calls with it give new sequences;
            None gives fresh (non-reproducible) sequences.
        length : int
            Steps per sequence.
        return_states : bool
            Also return the hidden state paths.

        Returns
        -------
        list of Tensor, or (sequences, states)
            ``n`` sequences as the data were given (see the class docstring);
            states are int64 tensors of shape (length,).
        """
        self._check_fitted()
        _check_count(n, "n")
        _check_count(length, "length")
        gen = as_generator(seed)
        params = self._params()
        # 1. z_1 ~ startprob, then z_t ~ transmat[z_{t-1}], for all n sequences at once
        z = [torch.multinomial(params["startprob"].expand(n, -1), 1, generator=gen).squeeze(1)]   # (n,)
        for _ in range(1, length):
            z.append(torch.multinomial(params["transmat"][z[-1]], 1, generator=gen).squeeze(1))
        states = torch.stack(z, 1)                                                       # (n, length)
        # 2. x_t ~ p(x | z_t)
        x = self._sample_emission(params, states, gen)                                   # (n, length, ...)
        seqs = list(x.unbind(0))
        return (seqs, list(states.unbind(0))) if return_states else seqs

    # -- hooks -------------------------------------------------------------------------
    _shape_doc = ""

    def _check_values(self, s: torch.Tensor, what: str, fitting: bool) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _init_params(self, seqs: list[torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _log_emit(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _m_step_emission(self, params, x, gamma) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _sample_emission(self, params, states, gen) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


# ----------------------------------------------------------------------------- categorical

class CategoricalHMM(_BaseHMM):
    """HMM with categorical emissions over the symbols 0..n_symbols-1.

    Parameters
    ----------
    n_states : int, default 4
        Number of hidden states K.
    n_symbols : int or None, default None
        Alphabet size M; None takes 1 + the largest symbol seen in ``fit``.
    max_iter : int, default 100
        Most EM iterations (M-steps).
    tol : float, default 1e-4
        EM stops when the total train log-likelihood gains less than this (nats).
    pseudocount : float, default 1e-2
        Added to every expected count in the M-step (start, transitions, emissions):
        MAP estimation under a Dirichlet(1 + pseudocount) prior, which keeps
        unseen symbols and transitions at non-zero probability. 0 gives pure
        maximum likelihood (and a log-likelihood that never decreases).
    init : {"random"}, default "random"
        Start, transition and emission rows drawn uniformly from the simplex.
    random_state : int or None, default 0
        Seed of the initialisation.

    Attributes
    ----------
    startprob_ : Tensor (K,)
    transmat_ : Tensor (K, K)
        ``transmat_[i, j] = p(z_{t+1} = j | z_t = i)``.
    emissionprob_ : Tensor (K, M)
    n_iter_, lower_bound_, converged_, history_
        EM iterations, final total train log-likelihood (nats), whether ``tol`` was
        reached, and the log-likelihood after each iteration (``history_[0]``: init).

    Examples
    --------
    >>> hmm = CategoricalHMM(n_states=2).fit([[0, 1, 1, 2], [2, 2, 0]])
    >>> hmm.log_prob([[0, 1], [2]]).shape
    torch.Size([2])
    >>> len(hmm.sample(3, seed=0, length=5))
    3
    """

    name = "categorical_hmm"
    _seq_ndim = 1
    _emission_keys = ("emissionprob",)
    _shape_doc = "(T_i,) of int symbols"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_states": [Interval(int, 1, None)],
        "n_symbols": [Interval(int, 1, None), None],
        "max_iter": [Interval(int, 1, None)],
        "tol": [Interval(float, 0, None)],
        "pseudocount": [Interval(float, 0, None)],
        "init": [Options("random")],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(self, n_states: int = 4, n_symbols: int | None = None, max_iter: int = 100, tol: float = 1e-4,
                 pseudocount: float = 1e-2, init: str = "random", random_state: int | None = 0):
        self.n_states = n_states
        self.n_symbols = n_symbols
        self.max_iter = max_iter
        self.tol = tol
        self.pseudocount = pseudocount
        self.init = init
        self.random_state = random_state

    @property
    def _start_pseudocount(self) -> float:   # the same prior on every categorical row
        return float(self.pseudocount)

    def likelihood_units(self) -> str:
        """``"discrete"``: ``log_prob`` is the log of a probability of the symbol sequence."""
        return "discrete"

    def _check_values(self, s: torch.Tensor, what: str, fitting: bool) -> torch.Tensor:
        if s.is_floating_point():
            if not bool(torch.isfinite(s).all()):
                raise DataError(f"{what} contains NaN or infinite values; symbols must be ints 0..M-1.")
            if not torch.equal(s, s.round()):
                raise DataError(f"{what} holds non-integer values; symbols must be ints 0..M-1.")
        s = s.long()
        if int(s.min()) < 0:
            raise DataError(f"{what} holds the negative symbol {int(s.min())}; symbols must be ints 0..M-1.")
        M = self.n_symbols if fitting else self.emissionprob_.shape[1]
        if M is not None and int(s.max()) >= M:
            raise DataError(f"{what} holds the symbol {int(s.max())}, outside 0..{M - 1} "
                            f"(n_symbols={M}).")
        return s

    def _init_params(self, seqs, gen):
        M = self.n_symbols if self.n_symbols is not None else 1 + max(int(s.max()) for s in seqs)
        K = self.n_states
        return {"startprob": _dirichlet_ones((K,), gen), "transmat": _dirichlet_ones((K, K), gen),
                "emissionprob": _dirichlet_ones((K, M), gen)}

    def _log_emit(self, params, x):
        return params["emissionprob"].log().T[x]                                          # (B, T, K)

    def _m_step_emission(self, params, x, gamma):
        B_ = params["emissionprob"]
        onehot = F.one_hot(x, B_.shape[1]).to(_DTYPE)                                     # (B, T, M)
        counts = torch.einsum("btk,btm->km", gamma, onehot)     # gamma is 0 on padding    # (K, M)
        return {"emissionprob": _normalize_rows(counts, float(self.pseudocount), B_)}   # Rabiner eq. 40c

    def _sample_emission(self, params, states, gen):
        n, L = states.shape
        rows = params["emissionprob"][states.reshape(-1)]                                 # (n L, M)
        return torch.multinomial(rows, 1, generator=gen).view(n, L)                     # (n, L) int64


# ----------------------------------------------------------------------------- Gaussian

class GaussianHMM(_BaseHMM):
    """HMM with diagonal-covariance Gaussian emissions on (T_i, D) float sequences.

    Parameters
    ----------
    n_states : int, default 4
        Number of hidden states K.
    covariance_type : {"diag"}, default "diag"
        One variance per state and feature.
    max_iter : int, default 100
        Most EM iterations (M-steps).
    tol : float, default 1e-4
        EM stops when the total train log-likelihood gains less than this (nats).
    min_covar : float, default 1e-3
        Floor on every variance. The M-step clips (rather than adds) it: the per-feature
        objective is unimodal in the variance, so clipping is the exact constrained
        maximiser and EM still never decreases the log-likelihood.
    init : {"kmeans", "random"}, default "kmeans"
        Means from 10 seeded Lloyd iterations of k-means (or K random observations);
        variances from the data; uniform start and transition probabilities
        (Dirichlet draws with ``"random"``).
    random_state : int or None, default 0
        Seed of the initialisation.

    Attributes
    ----------
    startprob_ : Tensor (K,)
    transmat_ : Tensor (K, K)
    means_ : Tensor (K, D)
    covars_ : Tensor (K, D)
        Diagonal variances.
    n_iter_, lower_bound_, converged_, history_
        As :class:`CategoricalHMM`.

    Examples
    --------
    >>> x = torch.cat([torch.zeros(20, 1), torch.ones(20, 1)]) + 0.1 * torch.sin(torch.arange(40.0))[:, None]
    >>> hmm = GaussianHMM(n_states=2).fit(x, lengths=[25, 15])
    >>> hmm.predict(x[:3])[0].shape
    torch.Size([3])
    """

    name = "gaussian_hmm"
    _seq_ndim = 2
    _emission_keys = ("means", "covars")
    _shape_doc = "(T_i, D) of floats"
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_states": [Interval(int, 1, None)],
        "covariance_type": [Options("diag")],
        "max_iter": [Interval(int, 1, None)],
        "tol": [Interval(float, 0, None)],
        "min_covar": [Interval(float, 0, None, closed="neither")],
        "init": [Options("kmeans", "random")],
        "random_state": [Interval(int, 0, None), None],
    }

    def __init__(self, n_states: int = 4, covariance_type: str = "diag", max_iter: int = 100, tol: float = 1e-4,
                 min_covar: float = 1e-3, init: str = "kmeans", random_state: int | None = 0):
        self.n_states = n_states
        self.covariance_type = covariance_type
        self.max_iter = max_iter
        self.tol = tol
        self.min_covar = min_covar
        self.init = init
        self.random_state = random_state

    def likelihood_units(self) -> str:
        """``"density"``: ``log_prob`` is a log density of continuous sequences."""
        return "density"

    def _check_values(self, s: torch.Tensor, what: str, fitting: bool) -> torch.Tensor:
        s = s.to(_DTYPE)
        check_finite(s, what)
        if not fitting and s.shape[1] != self.means_.shape[1]:
            raise DataError(f"{what} has {s.shape[1]} features; the model was trained on D={self.means_.shape[1]}.")
        return s

    def _init_params(self, seqs, gen):
        dims = sorted({s.shape[1] for s in seqs})
        if len(dims) > 1:
            raise DataError(f"all sequences must have the same number of features D; got {dims}.")
        x = torch.cat(seqs)                                                               # (N, D)
        K = self.n_states
        if len(x) < K:
            raise DataError(f"GaussianHMM needs at least n_states={K} observations to initialise; got {len(x)}.")
        if self.init == "kmeans":
            means = _kmeans(x, K, gen)
            start, trans = torch.full((K,), 1.0 / K, dtype=_DTYPE), torch.full((K, K), 1.0 / K, dtype=_DTYPE)
        else:
            means = x[torch.randperm(len(x), generator=gen)[:K]].clone()
            start, trans = _dirichlet_ones((K,), gen), _dirichlet_ones((K, K), gen)
        covars = x.var(0, unbiased=False).clamp_min(self.min_covar).expand(K, -1).clone()  # (K, D)
        return {"startprob": start, "transmat": trans, "means": means, "covars": covars}

    def _log_emit(self, params, x):
        means, covars = params["means"], params["covars"]                                 # (K, D) each
        diff2 = (x[:, :, None, :] - means) ** 2                                           # (B, T, K, D)
        return -0.5 * (torch.log(2 * math.pi * covars) + diff2 / covars).sum(-1)          # (B, T, K)

    def _m_step_emission(self, params, x, gamma):
        # gamma is 0 on padding and x is 0 (not NaN) there, so padded steps add nothing
        w = gamma.sum((0, 1))                                                             # (K,)
        used = (w > 0)[:, None]
        w_safe = torch.where(w > 0, w, torch.ones_like(w))[:, None]
        means = torch.einsum("btk,btd->kd", gamma, x) / w_safe                            # (K, D)
        diff2 = (x[:, :, None, :] - means) ** 2                                           # (B, T, K, D)
        covars = (torch.einsum("btk,btkd->kd", gamma, diff2) / w_safe).clamp_min(self.min_covar)
        return {"means": torch.where(used, means, params["means"]),
                "covars": torch.where(used, covars, params["covars"])}

    def _sample_emission(self, params, states, gen):
        mu, var = params["means"][states], params["covars"][states]                       # (n, L, D)
        return mu + var.sqrt() * torch.randn(mu.shape, generator=gen, dtype=_DTYPE)


def _kmeans(x: torch.Tensor, K: int, gen: torch.Generator, n_iter: int = 10) -> torch.Tensor:
    """K centres (K, D) by Lloyd's algorithm from K distinct random rows; empty clusters stay put."""
    centers = x[torch.randperm(len(x), generator=gen)[:K]].clone()                        # (K, D)
    for _ in range(n_iter):
        labels = torch.cdist(x, centers).argmin(1)                                        # (N,)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        counts = torch.bincount(labels, minlength=K).to(x.dtype)[:, None]                 # (K, 1)
        centers = torch.where(counts > 0, sums / counts.clamp_min(1), centers)
    return centers
