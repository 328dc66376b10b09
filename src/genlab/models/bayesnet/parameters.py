"""Parameter learning: CPTs from integer-coded data by counting (vectorised, np.bincount).

- ``"mle"``: maximum likelihood, N(x, parents) / N(parents).
- ``"bdeu"``: the posterior mean under the BDeu prior: every cell of a family gets the
  pseudo-count ``ess / (q r)`` (q parent configurations, r states), so the prior is the
  same whatever the graph (likelihood equivalent).
- ``"dirichlet"``: the posterior mean with a pseudo-count ``pseudo_count`` in every cell
  (``pseudo_count=1`` is Laplace / K2).

Rows with a missing value (-1) in a family are left out of that family's counts only (they
still count for every family they are complete in): maximum likelihood on the observed
columns, which is unbiased when values are missing completely at random.

A parent configuration never seen in the data gets the uniform distribution under
``"mle"`` (0/0 has no maximiser) and the prior mean otherwise.

>>> import numpy as np
>>> data = np.array([[0, 0], [0, 1], [1, 1], [1, 1], [-1, 0]])
>>> fit_cpts(data, [2, 2], [(), (0,)])[1].tolist()
[[0.5, 0.5], [0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genlab.exceptions import InvalidParameterError
from genlab.models.bayesnet.network import family_index

__all__ = ["METHODS", "family_counts", "fit_cpts"]

METHODS = ("mle", "bdeu", "dirichlet")


def family_counts(data: np.ndarray, v: int, parents: Sequence[int], card: Sequence[int]) -> np.ndarray:
    """Counts N(parents = j, x_v = k) of the complete rows, shape (*card[parents], card[v])."""
    shape = (*(card[p] for p in parents), card[v])
    idx = family_index(data, v, parents, card)
    idx = idx[idx >= 0]
    return np.bincount(idx, minlength=int(np.prod(shape))).astype(np.float64).reshape(shape)


def fit_cpts(data: np.ndarray, card: Sequence[int], parents: Sequence[Sequence[int]], method: str = "mle",
             ess: float = 10.0, pseudo_count: float = 1.0) -> list[np.ndarray]:
    """One CPT per variable (layout of :mod:`genlab.models.bayesnet.network`)."""
    if method not in METHODS:
        raise InvalidParameterError(f"parameter learning method must be one of {METHODS}; got {method!r}.")
    cpts = []
    for v, ps in enumerate(parents):
        counts = family_counts(data, v, tuple(ps), card)
        if method == "bdeu":
            counts = counts + ess / counts.size
        elif method == "dirichlet":
            counts = counts + pseudo_count
        total = counts.sum(-1, keepdims=True)
        cpt = np.divide(counts, total, out=np.full_like(counts, 1.0 / card[v]), where=total > 0)
        cpts.append(cpt)
    return cpts
