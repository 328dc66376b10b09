"""``genlab.create("hmm")``: an HMM on any genlab sequence data, through the common contract.

:class:`HMM` reads a :class:`~genlab.data.Split` (or raw data) of any modality that
is a sequence, picks the emission model, and delegates to the estimators of this
package (:class:`~genlab.models.hmm.CategoricalHMM`, :class:`~genlab.models.hmm.GaussianHMM`,
:class:`~genlab.models.hmm.GMMHMM`), which keep hmmlearn's API for users who want it.

==========================================  ==========================  ======================
data                                        one sequence is             emission ("auto")
==========================================  ==========================  ======================
text stream (``load("text")``, a str)       ``sequence_length`` chars   categorical
lines, SMILES, chorales (``lengths`` set)   one line / molecule / piece categorical
images with levels (digits, MNIST)          the raster scan of pixels   categorical (levels)
numeric sequences (CSV with ``sequence``)   one sequence id             Gaussian
continuous images                           the raster scan of pixels   Gaussian (D = 1)
==========================================  ==========================  ======================
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.base import GenerativeModel
from genlab.data.base import Split
from genlab.data.codecs import CharCodec, Codec, ImageCodec, TabularCodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.hmm.algorithms import BACKENDS
from genlab.models.hmm.estimator import CategoricalHMM, ConvergenceWarning, _BaseHMM
from genlab.models.hmm.gaussian import COVARIANCE_TYPES, GMMHMM, GaussianHMM
from genlab.utils.validation import Interval, Options

__all__ = ["HMM"]

EMISSIONS = ("auto", "categorical", "gaussian", "gmm")
TRAINING_OPTIONS = ("max_steps", "progress", "out")


def _is_discrete(codec: Codec) -> bool:
    return (isinstance(codec, ImageCodec) and codec.levels is not None) or hasattr(codec, "vocab_size") or (
        getattr(codec, "kind", "") in ("char", "tokens"))


class HMM(GenerativeModel):
    """Hidden Markov model for text, token sequences, images as pixel sequences and numeric series.

    Parameters
    ----------
    n_states : int, default 16
        Number of hidden states K.
    emission : {"auto", "categorical", "gaussian", "gmm"}, default "auto"
        Emission model; "auto" is categorical for discrete data (characters, tokens,
        image levels) and Gaussian for real-valued data.
    covariance_type : {"diag", "spherical", "full"}, default "diag"
        Gaussian covariances (Gaussian and GMM emissions).
    n_mix : int, default 2
        Gaussians per state for ``emission="gmm"``.
    max_iter : int, default 100
        Most EM iterations; stopping there warns ``ConvergenceWarning``. ``fit(max_steps=N)``
        sets a deliberate budget of N iterations instead, without the warning.
    tol : float, default 1e-4
        EM stops when the train log-likelihood per step gains less than this (nats per
        step; per step so that the same value fits 1,000 and 1,000,000 steps).
    pseudocount : float, default 1e-2
        Dirichlet pseudo-count of categorical rows (start, transitions, emissions).
    min_covar : float, default 1e-3
        Variance floor of Gaussian emissions.
    n_init : int, default 1
        Initialisations; the best final fit is kept.
    sequence_length : int, default 256
        A text stream is cut into sequences of this many characters (the last one shorter).
    chunk_size : int or None, default None
        Steps per E-step batch (None: 2^21 / n_states).
    random_state : int or None, default 0
        Seed of the initialisation.
    backend : {"auto", "numba", "torch"}, default "auto"
        Where the recursions run (see :mod:`genlab.models.hmm.algorithms`).

    Attributes
    ----------
    estimator_ : CategoricalHMM, GaussianHMM or GMMHMM
        The fitted estimator (``startprob_``, ``transmat_``, emission parameters, ``history_``).
    codec_ : Codec
        Maps sequences to and from the user's form of the data.

    Examples
    --------
    >>> import genlab
    >>> data = genlab.datasets.load("digits")
    >>> hmm = genlab.create("hmm", n_states=4).fit(data.train[:100], max_steps=5)
    >>> hmm.log_prob(data.test[:3]).shape, hmm.sample(2, seed=0).shape
    (torch.Size([3]), torch.Size([2, 1, 8, 8]))
    >>> text = genlab.create("hmm", n_states=2).fit("to be or not to be", max_steps=3)
    >>> len(text.sample(1, seed=0, length=12)[0])
    12
    """

    name = "hmm"
    likelihood = "exact"
    modalities = ("sequence", "text", "image")
    training_options = TRAINING_OPTIONS
    demo: ClassVar[dict[str, Any]] = {"params": {"n_states": 64}, "fit": {"max_steps": 60}}
    compare: ClassVar[dict[str, Any]] = {
        "image": {"params": {"n_states": 64}, "fit": {"max_steps": 60}},
        "text": {"params": {"n_states": 64, "sequence_length": 200}, "fit": {"max_steps": 30}},
    }
    _fitted_attributes = ("estimator_",)
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_states": [Interval(int, 1, None)],
        "emission": [Options(*EMISSIONS)],
        "covariance_type": [Options(*COVARIANCE_TYPES)],
        "n_mix": [Interval(int, 1, None)],
        "max_iter": [Interval(int, 1, None)],
        "tol": [Interval(float, 0, None)],
        "pseudocount": [Interval(float, 0, None)],
        "min_covar": [Interval(float, 0, None, closed="neither")],
        "n_init": [Interval(int, 1, None)],
        "sequence_length": [Interval(int, 1, None)],
        "chunk_size": [Interval(int, 1, None), None],
        "random_state": [Interval(int, 0, None), None],
        "backend": [Options(*BACKENDS)],
    }

    def __init__(self, n_states: int = 16, emission: str = "auto", covariance_type: str = "diag", n_mix: int = 2,
                 max_iter: int = 100, tol: float = 1e-4, pseudocount: float = 1e-2, min_covar: float = 1e-3,
                 n_init: int = 1, sequence_length: int = 256, chunk_size: int | None = None,
                 random_state: int | None = 0, backend: str = "auto"):
        self.n_states = n_states
        self.emission = emission
        self.covariance_type = covariance_type
        self.n_mix = n_mix
        self.max_iter = max_iter
        self.tol = tol
        self.pseudocount = pseudocount
        self.min_covar = min_covar
        self.n_init = n_init
        self.sequence_length = sequence_length
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.backend = backend

    def likelihood_units(self) -> str:
        """``"discrete"`` for categorical emissions (log_prob is the log of a probability),
        ``"density"`` for Gaussian ones."""
        emission = getattr(self, "emission_", self.emission)
        return "discrete" if emission in ("categorical", "auto") else "density"

    # -- data ------------------------------------------------------------------------
    def _user_data(self, X: Any, y: Any) -> tuple[Any, Codec]:
        """(Split-like data in model space, codec) for fit, from any accepted form."""
        if isinstance(X, str):
            codec = CharCodec.fit(X)
            return Split(codec.encode(X), None, codec), codec
        if isinstance(X, (list, tuple)) and X and all(isinstance(s, str) for s in X):
            codec = CharCodec.fit("".join(X))
            lengths = torch.tensor([len(s) for s in X])
            if bool((lengths == 0).any()):
                raise DataError("empty strings cannot be sequences; drop them first.")
            return Split(codec.encode(list(X)), None, codec, lengths=lengths), codec
        x, _, codec = self._training_data(X, y)
        if isinstance(X, Split):
            return X, codec
        return Split(x, None, codec), codec

    def _sequences_of(self, split: Split, codec: Codec) -> list[torch.Tensor]:
        """The list of sequences an estimator fits, from a split in model space."""
        x = split.x
        if getattr(split, "lengths", None) is not None:
            return [x[i, :n] for i, n in enumerate(split.lengths.tolist())]
        if isinstance(codec, ImageCodec):
            flat = codec.to_levels(x) if codec.levels is not None else x
            flat = flat.reshape(len(x), -1)
            return list(flat if codec.levels is not None else flat[..., None].double())
        if isinstance(codec, TabularCodec):
            raise DataError("table rows have no order, so they are not sequences. Give numeric sequences as a CSV "
                            "with a 'sequence' column (rows of one sequence id, in time order), or fit "
                            "genlab.models.hmm.GaussianHMM on your arrays directly.")
        if x.ndim == 1:                                           # a token stream (text)
            if len(x) == 0:
                raise DataError("the text is empty.")
            return list(torch.split(x, self.sequence_length))
        raise DataError(f"cannot read {type(codec).__name__} data of shape {tuple(x.shape)} as sequences.")

    def _emission_for(self, codec: Codec) -> str:
        if self.emission != "auto":
            if self.emission == "categorical" and not _is_discrete(codec):
                raise InvalidParameterError(f"emission='categorical' needs discrete data; {codec!r} is real-valued. "
                                            "Use emission='gaussian' or 'gmm'.")
            return self.emission
        return "categorical" if _is_discrete(codec) else "gaussian"

    def _n_symbols(self, codec: Codec) -> int | None:
        if isinstance(codec, ImageCodec):
            return codec.levels
        return getattr(codec, "vocab_size", None)

    def _make_estimator(self, emission: str, codec: Codec, max_iter: int) -> _BaseHMM:
        common = {"n_states": self.n_states, "max_iter": max_iter, "tol": 0.0, "n_init": self.n_init,
                  "random_state": self.random_state, "chunk_size": self.chunk_size, "backend": self.backend}
        if emission == "categorical":
            return CategoricalHMM(n_symbols=self._n_symbols(codec), pseudocount=float(self.pseudocount), **common)
        if emission == "gaussian":
            return GaussianHMM(covariance_type=self.covariance_type, min_covar=float(self.min_covar), **common)
        return GMMHMM(n_mix=self.n_mix, covariance_type=self.covariance_type, min_covar=float(self.min_covar),
                      **common)

    # -- fit -------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, *, val: Any = None, **training: Any) -> HMM:
        """Fit by Baum-Welch EM.

        Parameters
        ----------
        X : Split, str, list of str, Tensor or array
            Training sequences (see the module docstring for how each kind is read).
        y : ignored
            HMMs here are unconditional; labels are accepted and not used.
        val : Split, optional
            Held-out data: its log-likelihood per step is logged at the end.
        **training
            ``max_steps`` (EM iterations, overrides ``max_iter``), ``progress`` (print one
            line per iteration), ``out`` (a run folder: ``metrics.jsonl`` gets the EM history).
            Gradient-training options (``lr``, ``batch_size``...) do not apply to EM.
        """
        self._validate_params()
        max_steps = self._check_training_options(training)
        split, codec = self._user_data(X, y)
        seqs = self._sequences_of(split, codec)
        emission = self._emission_for(codec)
        est = self._make_estimator(emission, codec, max_steps or self.max_iter)
        n_steps = sum(len(s) for s in seqs)
        est.tol = float(self.tol) * n_steps
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(seqs)
        for w in caught:
            if max_steps is None or not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        seconds = time.perf_counter() - t0
        self.codec_ = codec
        self.emission_ = emission
        self.n_steps_ = est.n_iter_
        self.estimator_ = est
        report = {"train_log_prob_per_step": est.lower_bound_ / n_steps}
        if val is not None:
            val_split, _ = self._eval_split(val)
            val_seqs = self._sequences_of(val_split, codec)
            report["val_log_prob_per_step"] = float(est.log_prob(val_seqs).sum()) / sum(len(s) for s in val_seqs)
        self.train_report_ = report
        if training.get("progress"):
            val_text = (f", val {report['val_log_prob_per_step']:.4f}" if "val_log_prob_per_step" in report else "")
            print(f"HMM ({emission}, {self.n_states} states): {est.n_iter_} EM iterations in {seconds:.1f} s; "
                  f"log-likelihood per step: train {report['train_log_prob_per_step']:.4f}{val_text} nats")
        if training.get("out"):
            # "loss" is the train negative log-likelihood per step (nats), as the trainer's curves
            out = Path(training["out"])
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "metrics.jsonl", "w") as f:
                f.writelines(json.dumps({"step": i, "loss": -ll / n_steps}) + "\n" for i, ll in enumerate(est.history_))
                end = {"step": est.n_iter_, "seconds": round(seconds, 3), **report}
                if "val_log_prob_per_step" in report:
                    end["val_loss"] = -report["val_log_prob_per_step"]
                f.write(json.dumps(end) + "\n")
        return self

    # -- inference ---------------------------------------------------------------------
    def _eval_split(self, X: Any, y: Any = None) -> tuple[Split, Codec]:
        codec = self.codec_
        is_text = isinstance(X, str) or (isinstance(X, (list, tuple)) and X and all(isinstance(s, str) for s in X))
        if is_text and not isinstance(codec, CharCodec):
            raise DataError(f"this model was trained on data with codec {codec!r}; text was given.")
        if isinstance(X, str):
            return Split(codec.encode(X), None, codec), codec
        if is_text:
            return Split(codec.encode(list(X)), None, codec, lengths=torch.tensor([len(s) for s in X])), codec
        if isinstance(X, Split) and getattr(X, "lengths", None) is not None:
            if X.codec != codec:
                raise DataError(f"this model was trained on data with codec {codec!r}; the data given has {X.codec!r}.")
            return X, codec
        if isinstance(X, Split) and X.x.ndim == 1:
            if X.codec != codec:
                raise DataError(f"this model was trained on data with codec {codec!r}; the data given has {X.codec!r}.")
            return X, codec
        x, labels = self._eval_data(X, y)
        return Split(x, labels, codec), codec

    @torch.no_grad()
    def log_prob(self, X: Any, y: Any = None) -> torch.Tensor:
        """Exact log-likelihood in nats of each sequence (image, line, or text chunk of
        ``sequence_length`` characters), shape (n,). For discrete data it is the log of a
        probability, so ``-log_prob / (n_steps ln 2)`` is bits per character / pixel."""
        self._check_fitted()
        split, codec = self._eval_split(X, y)
        return self.estimator_.log_prob(self._sequences_of(split, codec))

    @torch.no_grad()
    def predict(self, X: Any) -> list[torch.Tensor]:
        """Most probable hidden-state path of each sequence (Viterbi)."""
        self._check_fitted()
        split, codec = self._eval_split(X)
        return self.estimator_.predict(self._sequences_of(split, codec))

    @torch.no_grad()
    def sample(self, n: int, *, seed: Any = None, condition: Any = None, length: int | None = None) -> Any:
        """Draw ``n`` sequences, in the user's form of the training data.

        Images come back as (n, C, H, W) in [0, 1]; text as a list of ``n`` strings of
        ``length`` characters (default ``sequence_length``); token sequences as lists of
        tokens; numeric sequences as a list of (length, D) tensors in the original units.
        """
        self._check_fitted()
        if condition is not None:
            raise InvalidParameterError("an HMM is unconditional; sample() takes no condition.")
        codec = self.codec_
        if isinstance(codec, ImageCodec):
            size = int(np.prod(codec.shape))
            if length is not None and length != size:
                raise InvalidParameterError(f"image samples have length {size} (the pixels); got length={length}.")
            seqs = self.estimator_.sample(n, seed=seed, length=size)
            x = torch.stack(seqs).reshape(n, *codec.shape)
            x = x.float() / (codec.levels - 1) if codec.levels is not None else x.float().clamp(0, 1)
            return codec.decode(x)
        seqs = self.estimator_.sample(n, seed=seed, length=length or self.sequence_length)
        return [codec.decode(s) for s in seqs]

    # -- persistence -------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors, state = self.estimator_._get_state()
        return tensors, {"emission": self.emission_, "estimator": state, "n_steps": self.n_steps_,
                         "estimator_params": {k: v for k, v in self.estimator_.get_params().items()}}

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        emission = state["emission"]
        cls = {"categorical": CategoricalHMM, "gaussian": GaussianHMM, "gmm": GMMHMM}[emission]
        est = cls(**state["estimator_params"])
        est._set_state(tensors, state["estimator"])
        self.emission_ = emission
        self.n_steps_ = state.get("n_steps", est.n_iter_)
        self.train_report_ = {}
        self.estimator_ = est
