"""Hidden Markov models: the shared EM driver and categorical emissions.

Every emission model (:class:`CategoricalHMM` here; Gaussian and Gaussian-mixture
emissions in :mod:`genlab.models.hmm.gaussian`) shares one Baum-Welch (EM) driver,
:meth:`_BaseHMM._em` (Rabiner 1989,
"A Tutorial on Hidden Markov Models...", Proc. IEEE 77(2), eqs. 40a-c and 52-53),
in the manner of scikit-learn's ``BaseMixture``: it reports ``n_iter_``,
``lower_bound_``, ``converged_`` and ``history_`` and warns
:class:`ConvergenceWarning`. The recursions themselves (forward, backward,
posteriors, Viterbi) are the pure functions of :mod:`genlab.models.hmm.algorithms`;
here live only the data handling, the initialisation and the M-steps.

Data follow hmmlearn: a list of sequences, or one concatenated array plus
``lengths``. Sequences are padded into a (B, T_max) batch with a ``lengths``
tensor; everything is computed in float64. EM accumulates sufficient statistics batch by
batch, so data larger than memory can be streamed.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.base import GenerativeModel
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.hmm.algorithms import BACKENDS, log_likelihood, posteriors, viterbi
from genlab.utils.random import as_generator
from genlab.utils.validation import Interval, Options

__all__ = ["CategoricalHMM", "ConvergenceWarning"]

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


def _normalize_rows(counts: torch.Tensor, pseudocount: float, old: torch.Tensor,
                    allowed: torch.Tensor | None = None) -> torch.Tensor:
    """(counts + pseudocount) normalised over the last axis; an all-zero row keeps ``old``.

    A row with no expected counts does not enter the EM objective, so any value
    maximises it: keeping the old one (instead of 0/0 = NaN) keeps EM monotone.
    Entries outside ``allowed`` (structural zeros) get no pseudocount and stay 0.
    """
    c = counts + pseudocount
    if allowed is not None:
        c = torch.where(allowed, c, torch.zeros_like(c))
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

def _flat(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The valid steps of a padded batch (B, T, ...) as one array (N, ...), sequence by sequence."""
    B, T = x.shape[:2]
    if bool((lengths == T).all()):
        return x.reshape(B * T, *x.shape[2:])
    return x[torch.arange(T)[None, :] < lengths[:, None]]


def _unflat(values: torch.Tensor, lengths: torch.Tensor, T: int) -> torch.Tensor:
    """Inverse of :func:`_flat`: (N, K) -> (B, T, K), zero on padding."""
    B = len(lengths)
    if bool((lengths == T).all()):
        return values.reshape(B, T, *values.shape[1:])
    out = values.new_zeros(B, T, *values.shape[1:])
    out[torch.arange(T)[None, :] < lengths[:, None]] = values
    return out


class _BaseHMM(GenerativeModel):
    """Everything but the emission model: data in, Baum-Welch, decoding, sampling, state.

    Subclasses set ``_seq_ndim`` and ``_emission_keys`` and implement ``_check_values``,
    ``_init_emission``, ``_log_emit_flat`` (log p(x | z = k) of (N, ...) steps -> (N, K)),
    ``_new_stats``, ``_accumulate``, ``_m_step_emission`` and ``_sample_emission``.
    Parameters travel as a dict of float64 tensors: ``startprob`` (K,), ``transmat`` (K, K)
    (row = from-state) and the emission entries.

    EM runs on sufficient statistics: each batch of sequences adds its expected counts
    and moments, and the M-step reads only those. So a batch is all that is ever in memory,
    and a stream of sequences (see ``fit``) is fitted exactly as the same data in a list.
    """

    likelihood = "exact"
    modalities = ("sequence",)
    _fitted_attributes = ("transmat_",)
    _seq_ndim: int = 1
    _emission_keys: tuple[str, ...] = ()
    _shape_doc = ""

    @property
    def _start_pseudocount(self) -> float:
        return 0.0

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
        seqs = [self._check_sequence(s, f"sequence {i}", fitting) for i, s in enumerate(seqs)]
        widths = sorted({tuple(s.shape[1:]) for s in seqs})
        if len(widths) > 1:
            raise DataError(f"all sequences must have the same number of features D; got {[w[0] for w in widths]}.")
        return seqs

    def _check_sequence(self, s: torch.Tensor, what: str, fitting: bool) -> torch.Tensor:
        if s.ndim != self._seq_ndim:
            raise DataError(f"{what} must have {self._seq_ndim} dimension(s) {self._shape_doc}; "
                            f"got shape {tuple(s.shape)}.")
        if len(s) == 0:
            raise DataError(f"{what} is empty; every sequence needs at least one step.")
        return self._check_values(s, what, fitting)

    @staticmethod
    def _pad(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(x (B, T_max, ...) zero-padded, lengths (B,) int64)."""
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        x = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=0)
        return x, lengths

    def _chunk_steps(self) -> int:
        return self.chunk_size if self.chunk_size is not None else max(1024, 2**21 // self.n_states)

    def _batches(self, seqs: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Padded batches of about ``chunk_size`` steps each, sequences of similar length together."""
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        out, cur, steps = [], [], 0
        for i in order:
            cur.append(seqs[i])
            steps += len(seqs[i])
            if steps >= self._chunk_steps():
                out.append(self._pad(cur))
                cur, steps = [], 0
        if cur:
            out.append(self._pad(cur))
        return out

    def _stream(self, source: Any) -> Any:
        """A zero-argument callable giving an iterator of padded batches, for a streaming ``X``."""
        def batches():
            cur, steps, i = [], 0, 0
            width = None
            for s in source():
                cur.append(self._check_sequence(_as_tensor(s, f"streamed sequence {i}"),
                                                f"streamed sequence {i}", True))
                if width is not None and cur[-1].shape[1:] != width:
                    raise DataError(f"streamed sequence {i} has shape {tuple(cur[-1].shape)}; earlier ones had "
                                    f"{tuple(width)} features per step.")
                width = cur[-1].shape[1:]
                steps += len(cur[-1])
                i += 1
                if steps >= self._chunk_steps():
                    yield self._pad(cur)
                    cur, steps = [], 0
            if cur:
                yield self._pad(cur)
            if i == 0:
                raise DataError("the sequence stream given to fit() yielded no sequences.")
        return batches

    # -- fit -------------------------------------------------------------------------
    def fit(self, X: Any, lengths: Any = None) -> _BaseHMM:
        """Fit by Baum-Welch (EM), keeping the best of ``n_init`` initialisations.

        Parameters
        ----------
        X : list of sequences, one array of concatenated sequences, or a callable
            See the class docstring for the shape of one sequence. For data larger than
            memory, pass a zero-argument callable that returns a fresh iterator over the
            sequences (e.g. reading files); it is called once per EM iteration and the
            sequences are processed ``chunk_size`` steps at a time. Initialisation then
            uses the first chunk.
        lengths : list of int, optional
            Lengths of the sequences concatenated in ``X`` (hmmlearn's convention).

        Returns
        -------
        self
        """
        self._validate_params()
        if callable(X) and not isinstance(X, torch.Tensor):
            if lengths is not None:
                raise DataError("lengths does not apply to a sequence stream; yield one sequence at a time.")
            batches = self._stream(X)
            first = next(iter(batches()))
            init_seqs = [first[0][b, :n] for b, n in enumerate(first[1].tolist())]
        else:
            init_seqs = self._sequences(X, lengths, fitting=True)
            cached = self._batches(init_seqs)
            batches = lambda: iter(cached)
        gen = as_generator(self.random_state)
        best = None
        for _ in range(self.n_init):
            params = self._init_params(init_seqs, gen)
            params, run = self._em(batches, params)
            if best is None or run["lower_bound"] > best[1]["lower_bound"]:
                best = (params, run)
        params, run = best
        if not run["converged"] and self.tol is not None:
            warnings.warn(
                f"{type(self).__name__}: EM did not converge in max_iter={self.max_iter} iterations "
                f"(last gain {run['history'][-1] - run['history'][-2]:.3g} nats >= tol={self.tol}); "
                "raise max_iter or tol.", ConvergenceWarning, stacklevel=2)
        self.history_, self.n_iter_ = run["history"], run["n_iter"]
        self.converged_, self.lower_bound_ = run["converged"], run["lower_bound"]
        self.codec_ = None
        self._store(params)
        return self

    def _init_params(self, seqs: list[torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Start and transition probabilities (given, uniform or Dirichlet draws) plus the emissions."""
        K = self.n_states
        given = {key: getattr(self, key + "_init", None) for key in self._emission_keys}
        given = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in given.items() if v is not None}
        # the rule's draw is skipped when every emission parameter is given (k-means on big data is not free)
        params = self._init_emission(seqs, gen, shapes_only=len(given) == len(self._emission_keys))
        for key, value in params.items():                       # user-given initial emission parameters
            if key in given:
                if given[key].shape != value.shape:
                    raise InvalidParameterError(f"{key}_init must have shape {tuple(value.shape)}; "
                                                f"got {tuple(given[key].shape)}.")
                params[key] = given[key]
        self._check_emission(params)
        for key, shape in (("startprob", (K,)), ("transmat", (K, K))):
            given = getattr(self, key + "_init")
            if given is not None:
                t = torch.as_tensor(np.asarray(given, dtype=np.float64))
                if t.shape != shape or not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
                    raise InvalidParameterError(
                        f"{key}_init must be a non-negative array of shape {shape}; got shape {tuple(t.shape)}.")
                rows = t.sum(-1, keepdim=True)
                if not torch.allclose(rows, torch.ones_like(rows), atol=1e-6):
                    raise InvalidParameterError(f"{key}_init rows must sum to 1; they sum to {rows.flatten().tolist()}.")
                params[key] = t / rows
            elif self.init == "random":
                params[key] = _dirichlet_ones(shape, gen)
            else:
                params[key] = torch.full(shape, 1.0 / K, dtype=_DTYPE)
        return params

    def _em(self, batches: Any, params: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Baum-Welch from ``params``. ``history[i]`` is the total train log-likelihood (nats) after i M-steps.

        Each iteration: 1. E-step under the current parameters (exact, so the recorded value is
        the log-likelihood of exactly these parameters), accumulated batch by batch; 2. stop if
        the gain is below ``tol`` or ``max_iter`` M-steps were done; 3. M-step. EM never
        decreases the log-likelihood (Dempster et al. 1977) when the M-step is exact, i.e. with
        ``pseudocount=0``; a pseudocount maximises the posterior under a Dirichlet(1 + pseudocount)
        prior instead. Zeros of the initial start and transition probabilities stay zero: their
        expected counts are zero, and no pseudocount is added there.
        """
        allowed = {"startprob": params["startprob"] > 0, "transmat": params["transmat"] > 0}
        history: list[float] = []
        n_iter, converged = 0, False
        while True:
            # 1. E-step: state marginals, expected transition counts, log p(x) per sequence
            K = self.n_states
            stats = {"start": torch.zeros(K, dtype=_DTYPE), "trans": torch.zeros(K, K, dtype=_DTYPE),
                     **self._new_stats(params)}
            total = 0.0
            log_start, log_trans = params["startprob"].log(), params["transmat"].log()
            for x, lens in batches():
                log_emit = _unflat(self._log_emit_flat(params, _flat(x, lens)), lens, x.shape[1])   # (B, T, K)
                gamma, xi_sum, ll = posteriors(log_start, log_trans, log_emit, lens, backend=self.backend)
                total += float(ll.sum())
                stats["start"] += gamma[:, 0].sum(0)
                stats["trans"] += xi_sum.sum(0)
                self._accumulate(stats, params, _flat(x, lens), _flat(gamma, lens))
            history.append(total)
            # 2. convergence (absolute gain in total nats, as hmmlearn)
            if self.tol is not None and len(history) > 1 and history[-1] - history[-2] < self.tol:
                converged = True
                break
            if n_iter == self.max_iter:
                break
            # 3. M-step (Rabiner eqs. 40a-b; emissions in the subclass)
            pc = self._start_pseudocount
            new = {
                "startprob": _normalize_rows(stats["start"], pc, params["startprob"], allowed["startprob"]),
                "transmat": _normalize_rows(stats["trans"], pc, params["transmat"], allowed["transmat"]),
            }
            new.update(self._m_step_emission(stats, params))
            params = new
            n_iter += 1
        return params, {"history": history, "n_iter": n_iter, "converged": converged, "lower_bound": history[-1]}

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
    def _inputs(self, X: Any, lengths: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        self._check_fitted()
        x, lens = self._pad(self._sequences(X, lengths, fitting=False))
        params = self._params()
        log_emit = _unflat(self._log_emit_flat(params, _flat(x, lens)), lens, x.shape[1])
        return params["startprob"].log(), params["transmat"].log(), log_emit, lens

    @torch.no_grad()
    def log_prob(self, X: Any, lengths: Any = None) -> torch.Tensor:
        """Exact log-likelihood log p(x_1..T) of each sequence, in nats, shape (n_sequences,).

        Computed by the scaled forward recursion (sum over every state path). For
        :class:`CategoricalHMM` it is the log of a probability; for Gaussian emissions
        a log density. Float64.
        """
        log_start, log_trans, log_emit, lens = self._inputs(X, lengths)
        return log_likelihood(log_start, log_trans, log_emit, lens, backend=self.backend)

    def score(self, X: Any, lengths: Any = None) -> float:
        """Total log-likelihood of all sequences in nats (hmmlearn's ``score``)."""
        return float(self.log_prob(X, lengths).sum())

    @torch.no_grad()
    def predict(self, X: Any, lengths: Any = None) -> list[torch.Tensor]:
        """Most probable state path of each sequence (Viterbi): a list of int64 tensors (T_i,)."""
        log_start, log_trans, log_emit, lens = self._inputs(X, lengths)
        paths, _ = viterbi(log_start, log_trans, log_emit, lens, backend=self.backend)   # (B, T)
        return [paths[b, :n] for b, n in enumerate(lens.tolist())]

    @torch.no_grad()
    def predict_proba(self, X: Any, lengths: Any = None) -> list[torch.Tensor]:
        """Posterior state marginals p(z_t = k | x) of each sequence: a list of (T_i, n_states) tensors."""
        log_start, log_trans, log_emit, lens = self._inputs(X, lengths)
        gamma, _, _ = posteriors(log_start, log_trans, log_emit, lens, backend=self.backend)   # (B, T, K)
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
        x = self._sample_emission(params, states.reshape(-1), gen)                      # (n length, ...)
        seqs = list(x.reshape(n, length, *x.shape[1:]).unbind(0))
        return (seqs, list(states.unbind(0))) if return_states else seqs

    # -- hooks -------------------------------------------------------------------------
    def _check_values(self, s: torch.Tensor, what: str, fitting: bool) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _init_emission(self, seqs: list[torch.Tensor], gen: torch.Generator,
                       shapes_only: bool = False) -> dict[str, torch.Tensor]:  # pragma: no cover
        """Initial emission parameters by the ``init`` rule; with ``shapes_only`` (every one is
        given by the user) any tensors of the right shapes, without the rule's cost."""
        raise NotImplementedError

    def _check_emission(self, params: dict[str, torch.Tensor]) -> None:
        """Raise InvalidParameterError if user-given initial emission parameters are invalid."""

    def _log_emit_flat(self, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def _new_stats(self, params: dict[str, torch.Tensor]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _accumulate(self, stats, params, x, gamma) -> None:  # pragma: no cover
        raise NotImplementedError

    def _m_step_emission(self, stats, params) -> dict[str, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def _sample_emission(self, params, states, gen) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


_COMMON_CONSTRAINTS: dict[str, list] = {
    "n_states": [Interval(int, 1, None)],
    "max_iter": [Interval(int, 1, None)],
    "tol": [Interval(float, 0, None), None],
    "n_init": [Interval(int, 1, None)],
    "random_state": [Interval(int, 0, None), None],
    "chunk_size": [Interval(int, 1, None), None],
    "backend": [Options(*BACKENDS)],
}

_COMMON_DOC = """    max_iter : int, default 100
        Most EM iterations (M-steps).
    tol : float or None, default 1e-4
        EM stops when the total train log-likelihood gains less than this (nats);
        None runs exactly ``max_iter`` iterations (benchmarks).
    n_init : int, default 1
        Independent initialisations; the fit with the highest final log-likelihood is kept.
    startprob_init, transmat_init : array-like or None
        Initial start (K,) and transition (K, K) probabilities instead of the ``init``
        rule. Their zeros are structural and stay zero through EM (e.g. a left-to-right
        model: ``transmat_init`` upper bidiagonal).
    chunk_size : int or None, default None
        Steps per E-step batch; memory grows as chunk_size x n_states x 8 bytes x about 6.
        None: 2^21 / n_states steps (16 MB per batch array), which keeps the batch in cache
        (on 160k SMILES with 32 states, 1,000,000-step batches were 2.3x slower).
    backend : {"auto", "numba", "torch"}, default "auto"
        Where the recursions run: compiled CPU kernels (numba) or PyTorch; see
        :data:`genlab.models.hmm.algorithms.BACKENDS`. Same results up to rounding.
"""
# ----------------------------------------------------------------------------- categorical

class CategoricalHMM(_BaseHMM):
    """HMM with categorical emissions over the symbols 0..n_symbols-1.

    Parameters
    ----------
    n_states : int, default 4
        Number of hidden states K.
    n_symbols : int or None, default None
        Alphabet size M; None takes 1 + the largest symbol seen in ``fit`` (give it
        when streaming, or when the training data may miss the last symbols).
    pseudocount : float, default 1e-2
        Added to every expected count in the M-step (start, transitions, emissions):
        MAP estimation under a Dirichlet(1 + pseudocount) prior, which keeps
        unseen symbols and transitions at non-zero probability. 0 gives pure
        maximum likelihood (and a log-likelihood that never decreases).
    init : {"random"}, default "random"
        Start, transition and emission rows drawn uniformly from the simplex.
    emissionprob_init : array-like (K, M) or None
        Initial emission probabilities instead of the ``init`` draw.
    random_state : int or None, default 0
        Seed of the initialisation.
""" + _COMMON_DOC + """
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
        **_COMMON_CONSTRAINTS,
        "n_symbols": [Interval(int, 1, None), None],
        "pseudocount": [Interval(float, 0, None)],
        "init": [Options("random")],
    }

    def __init__(self, n_states: int = 4, n_symbols: int | None = None, max_iter: int = 100, tol: float | None = 1e-4,
                 pseudocount: float = 1e-2, init: str = "random", random_state: int | None = 0, n_init: int = 1,
                 startprob_init: Any = None, transmat_init: Any = None, emissionprob_init: Any = None,
                 chunk_size: int | None = None, backend: str = "auto"):
        self.n_states = n_states
        self.n_symbols = n_symbols
        self.emissionprob_init = emissionprob_init
        self.max_iter = max_iter
        self.tol = tol
        self.pseudocount = pseudocount
        self.init = init
        self.random_state = random_state
        self.n_init = n_init
        self.startprob_init = startprob_init
        self.transmat_init = transmat_init
        self.chunk_size = chunk_size
        self.backend = backend

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

    def _stream(self, source: Any) -> Any:
        if self.n_symbols is None:
            raise InvalidParameterError("n_symbols must be given when fitting on a stream of sequences "
                                        "(the alphabet cannot be read off the first chunk).")
        return super()._stream(source)

    def _check_emission(self, params):
        e = params["emissionprob"]
        if (e < 0).any() or not torch.allclose(e.sum(1), torch.ones(len(e), dtype=e.dtype), atol=1e-6):
            raise InvalidParameterError("emissionprob_init must be non-negative with rows summing to 1.")

    def _init_emission(self, seqs, gen, shapes_only=False):
        M = self.n_symbols if self.n_symbols is not None else 1 + max(int(s.max()) for s in seqs)
        return {"emissionprob": _dirichlet_ones((self.n_states, M), gen)}

    def _log_emit_flat(self, params, x):
        return params["emissionprob"].log().T[x]                                          # (N, K)

    def _new_stats(self, params):
        return {"emit": torch.zeros_like(params["emissionprob"]).T.contiguous()}         # (M, K)

    def _accumulate(self, stats, params, x, gamma):
        stats["emit"].index_add_(0, x, gamma)                                             # Rabiner eq. 40c numerator

    def _m_step_emission(self, stats, params):
        return {"emissionprob": _normalize_rows(stats["emit"].T, float(self.pseudocount), params["emissionprob"])}

    def _sample_emission(self, params, states, gen):
        return torch.multinomial(params["emissionprob"][states], 1, generator=gen).squeeze(1)   # (N,)


