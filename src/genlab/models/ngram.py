"""A character n-gram model: the baseline every text model must beat in ``genlab compare``.

Interpolated absolute discounting (Ney, Essen & Kneser 1994): for a context h of length
k < n,

    p(w | h) = max(c(h w) - d, 0) / c(h) + d T(h) / c(h) * p(w | h'),

with h' the context without its first character, T(h) the number of distinct characters
seen after h, and a uniform distribution over the vocabulary below order 1. A context
never seen backs off entirely. Every probability is positive, so held-out text never
scores -inf, and the probabilities of the vocabulary sum to 1 in every context (tested).
Text is scored in chunks of ``sequence_length`` characters, each starting without
context, exactly as :class:`genlab.models.HMM` cuts it, so bits/char compare one to one.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.base import GenerativeModel
from genlab.data.base import Split
from genlab.data.codecs import CharCodec
from genlab.exceptions import DataError, InvalidParameterError
from genlab.utils.random import as_numpy_generator
from genlab.utils.validation import Interval

__all__ = ["CharNGram"]


class CharNGram(GenerativeModel):
    """Character n-gram language model with interpolated absolute discounting.

    Parameters
    ----------
    order : int, default 5
        n: the longest context is n - 1 characters.
    discount : float, default 0.75
        Absolute discount d in (0, 1).
    sequence_length : int, default 256
        Chunk length for scoring a text stream (as the HMM).

    Examples
    --------
    >>> lm = CharNGram(order=3).fit("abracadabra " * 20)
    >>> text = lm.sample(1, seed=0, length=11)[0]
    >>> len(text), set(text) <= set("abcdr ")
    (11, True)
    >>> round(float(lm.log_prob("abracadabra").exp()), 3)      # p of the 11 characters from no context
    0.077
    """

    name = "ngram"
    likelihood = "exact"
    modalities = ("text",)
    training_options = ("max_steps", "progress", "out")
    _fitted_attributes = ("counts_",)
    compare: ClassVar[dict[str, Any]] = {"params": {"order": 5, "sequence_length": 200}, "fit": {}}
    _parameter_constraints: ClassVar[dict[str, list]] = {
        "order": [Interval(int, 1, None)],
        "discount": [Interval(float, 0, 1, closed="neither")],
        "sequence_length": [Interval(int, 1, None)],
    }

    def __init__(self, order: int = 5, discount: float = 0.75, sequence_length: int = 256):
        self.order = order
        self.discount = discount
        self.sequence_length = sequence_length

    def _ids(self, X: Any, fitting: bool) -> torch.Tensor:
        if isinstance(X, str):
            if fitting:
                self.codec_ = CharCodec.fit(X)
            return self.codec_.encode(X)
        if isinstance(X, Split) and X.x.ndim == 1 and isinstance(X.codec, CharCodec):
            if fitting:
                self.codec_ = X.codec
            elif X.codec != self.codec_:
                raise DataError(f"this model was trained with codec {self.codec_!r}; the data has {X.codec!r}.")
            return X.x
        raise DataError("CharNGram models a text stream: give a str or a split of load('file.txt').")

    def fit(self, X: Any, y: Any = None, *, val: Any = None, **training: Any) -> CharNGram:
        """Count every n-gram of the training text (orders 1..n)."""
        self._validate_params()
        self._check_training_options(training)
        ids = self._ids(X, fitting=True)
        if len(ids) == 0:
            raise DataError("the text is empty.")
        self._count(ids.tolist())
        self.text_ids_ = ids.clone()
        return self

    def _count(self, ids: list[int]) -> None:
        counts: list[dict[tuple, Counter]] = [defaultdict(Counter) for _ in range(self.order)]
        for k in range(self.order):                               # context length k
            for i in range(k, len(ids)):
                counts[k][tuple(ids[i - k:i])][ids[i]] += 1
        self.counts_ = [{h: (sum(c.values()), len(c), dict(c)) for h, c in ck.items()} for ck in counts]

    def _prob(self, context: tuple, w: int) -> float:
        d, V = float(self.discount), self.codec_.vocab_size
        p = 1.0 / V
        for k in range(0, min(len(context), self.order - 1) + 1):
            h = context[len(context) - k:] if k else ()
            entry = self.counts_[k].get(h)
            if entry is None:
                break                                            # longer contexts are unseen too
            total, types, c = entry
            p = max(c.get(w, 0) - d, 0.0) / total + d * types / total * p
        return p

    def _chunks(self, ids: torch.Tensor) -> list[list[int]]:
        return [c.tolist() for c in torch.split(ids, self.sequence_length)]

    def log_prob(self, X: Any, y: Any = None) -> torch.Tensor:
        """Exact log-probability in nats of each ``sequence_length`` chunk, shape (n_chunks,)."""
        self._check_fitted()
        ids = self._ids(X, fitting=False)
        out = []
        for chunk in self._chunks(ids):
            lp = 0.0
            for i, w in enumerate(chunk):
                lp += math.log(self._prob(tuple(chunk[max(0, i - self.order + 1):i]), w))
            out.append(lp)
        return torch.tensor(out, dtype=torch.float64)

    def likelihood_units(self) -> str:
        return "discrete"

    def n_parameters(self) -> int:
        """Stored counts: one per distinct (context, next character) pair over all orders."""
        self._check_fitted()
        return sum(len(c) for ck in self.counts_ for _, _, c in ck.values())

    def sample(self, n: int, *, seed: Any = None, condition: Any = None, length: int | None = None) -> list[str]:
        """``n`` strings of ``length`` characters (default ``sequence_length``)."""
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidParameterError(f"n must be a positive int; got {n!r}.")
        rng = as_numpy_generator(seed)
        V = self.codec_.vocab_size
        out = []
        for _ in range(n):
            seq: list[int] = []
            for _ in range(length or self.sequence_length):
                ctx = tuple(seq[max(0, len(seq) - self.order + 1):])
                p = np.array([self._prob(ctx, w) for w in range(V)])
                seq.append(int(rng.choice(V, p=p / p.sum())))
            out.append(self.codec_.decode(torch.tensor(seq)))
        return out

    def _get_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"text_ids": self.text_ids_.contiguous()}, {}

    def _set_state(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
        self.text_ids_ = tensors["text_ids"]
        self._count(self.text_ids_.tolist())
