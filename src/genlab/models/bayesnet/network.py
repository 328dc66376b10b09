"""The discrete Bayesian network as plain data: variables, states, parents, CPTs.

Every module of this package (structure search, parameter learning, inference, BIF
interchange, the estimator) shares this one representation:

- ``variables``: list of V names; ``states[v]``: the names of variable v's states (str);
  ``card[v] = len(states[v])``.
- ``parents[v]``: a tuple of variable indices (the order fixes the CPT axes).
- ``cpts[v]``: float64 array of shape ``(*card[parents[v]], card[v])``:
  ``cpts[v][i_1, ..., i_k, j] = p(X_v = j | X_{parents} = (i_1..i_k))``; it sums to 1 over
  the last axis.
- Data are integer-coded: an int array (N, V) with ``data[n, v]`` in 0..card[v]-1, or
  ``-1`` for a missing value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from genlab.exceptions import DataError, InvalidParameterError

__all__ = ["DiscreteBN", "family_index", "has_cycle", "topological_order"]


def topological_order(parents: Sequence[Sequence[int]]) -> list[int]:
    """Variables ordered so that every parent comes before its children (Kahn's algorithm,
    smallest index first among the ready ones, so the order is deterministic).

    Raises
    ------
    InvalidParameterError
        If the graph has a directed cycle; the message names the variables on it.
    """
    V = len(parents)
    children: list[list[int]] = [[] for _ in range(V)]
    indeg = [0] * V
    for v, ps in enumerate(parents):
        for p in ps:
            children[p].append(v)
            indeg[v] += 1
    import heapq

    ready = [v for v in range(V) if indeg[v] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        v = heapq.heappop(ready)
        order.append(v)
        for c in children[v]:
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, c)
    if len(order) < V:
        raise InvalidParameterError(f"the graph has a directed cycle through variables "
                                    f"{sorted(set(range(V)) - set(order))}; a Bayesian network must be a DAG.")
    return order


def has_cycle(parents: Sequence[Sequence[int]]) -> bool:
    """Whether the directed graph given by parent lists has a cycle."""
    try:
        topological_order(parents)
    except InvalidParameterError:
        return True
    return False


def family_index(data: np.ndarray, v: int, parents: Sequence[int], card: Sequence[int]) -> np.ndarray:
    """Flat index of (parents..., v) configurations of each row: (N,) int64, row-major over
    ``(*card[parents], card[v])`` (the CPT layout). Rows with a missing value get -1."""
    cols = [*parents, v]
    idx = np.zeros(len(data), dtype=np.int64)
    missing = np.zeros(len(data), dtype=bool)
    for c in cols:
        col = data[:, c]
        missing |= col < 0
        idx = idx * card[c] + col
    idx[missing] = -1
    return idx


@dataclass
class DiscreteBN:
    """A discrete Bayesian network (see the module docstring for every field's layout)."""

    variables: list[str]
    states: list[list[str]]
    parents: list[tuple[int, ...]]
    cpts: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        V = len(self.variables)
        if len(set(self.variables)) != V:
            dup = sorted({x for x in self.variables if self.variables.count(x) > 1})
            raise InvalidParameterError(f"variable names must be unique; repeated: {dup}.")
        if len(self.states) != V or len(self.parents) != V:
            raise InvalidParameterError(f"need states and parents for each of the {V} variables.")
        self.states = [[str(s) for s in st] for st in self.states]
        for v, st in enumerate(self.states):
            if len(st) < 1 or len(set(st)) != len(st):
                raise InvalidParameterError(f"variable {self.variables[v]!r} needs >= 1 distinct state names; got {st}.")
        self.parents = [tuple(int(p) for p in ps) for ps in self.parents]
        for v, ps in enumerate(self.parents):
            if len(set(ps)) != len(ps) or v in ps or any(not 0 <= p < V for p in ps):
                raise InvalidParameterError(f"bad parents {ps} for variable {self.variables[v]!r}.")
        self._order = topological_order(self.parents)
        self._index = {name: i for i, name in enumerate(self.variables)}
        if self.cpts:
            self.cpts = [np.asarray(c, dtype=np.float64) for c in self.cpts]
            for v, c in enumerate(self.cpts):
                want = self.cpt_shape(v)
                if c.shape != want:
                    raise InvalidParameterError(f"CPT of {self.variables[v]!r} has shape {c.shape}; expected {want} "
                                                "(parent states..., own states).")
                if not np.all(np.isfinite(c)) or (c < 0).any() or not np.allclose(c.sum(-1), 1.0, atol=1e-6):
                    raise InvalidParameterError(f"CPT of {self.variables[v]!r} must be non-negative with rows "
                                                "summing to 1.")

    # -- shape ---------------------------------------------------------------------------
    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def card(self) -> list[int]:
        return [len(s) for s in self.states]

    def cpt_shape(self, v: int) -> tuple[int, ...]:
        card = self.card
        return (*(card[p] for p in self.parents[v]), card[v])

    def index(self, name: str) -> int:
        """Index of a variable; unknown names raise :class:`~genlab.exceptions.DataError` listing the known ones."""
        try:
            return self._index[name]
        except KeyError:
            raise DataError(f"unknown variable {name!r}; the network has {self.variables}.") from None

    def state_index(self, v: int, state: object) -> int:
        """Index of a state (by name, or an int index); unknown ones raise DataError naming the valid states."""
        st = self.states[v]
        is_int = isinstance(state, (int, np.integer)) and not isinstance(state, bool)
        if is_int and str(state) not in st and 0 <= int(state) < len(st):
            return int(state)
        try:
            return st.index(str(state))
        except ValueError:
            raise DataError(f"unknown state {state!r} of {self.variables[v]!r}; its states are {st}.") from None

    @property
    def order(self) -> list[int]:
        """A topological order (parents first)."""
        return list(self._order)

    def edges(self) -> list[tuple[str, str]]:
        """(parent, child) name pairs."""
        return [(self.variables[p], self.variables[v]) for v, ps in enumerate(self.parents) for p in ps]

    def children(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in range(self.n_variables)]
        for v, ps in enumerate(self.parents):
            for p in ps:
                out[p].append(v)
        return out

    def n_parameters(self) -> int:
        """Free parameters: sum over variables of (card - 1) x parent configurations (the BIC's d)."""
        card = self.card
        return int(sum((card[v] - 1) * int(np.prod([card[p] for p in ps], dtype=np.int64)) for v, ps in
                       enumerate(self.parents)))

    # -- probability -----------------------------------------------------------------------
    def log_prob_complete(self, data: np.ndarray) -> np.ndarray:
        """log p(x) in nats of fully observed integer-coded rows (N, V): the sum of log CPT entries."""
        if (data < 0).any():
            raise DataError("log_prob_complete needs fully observed rows; use the estimator's log_prob "
                            "to marginalise missing values.")
        card = self.card
        out = np.zeros(len(data))
        with np.errstate(divide="ignore"):                  # a zero CPT entry is a row of probability 0: -inf
            for v in range(self.n_variables):
                idx = family_index(data, v, self.parents[v], card)
                out += np.log(self.cpts[v].reshape(-1))[idx]
        return out

    def sample(self, n: int, rng: np.random.Generator, evidence: dict[int, int] | None = None) -> np.ndarray:
        """Forward (ancestral) sampling: (n, V) int rows; ``evidence`` clamps variables (do-style)
        — for sampling *given* evidence use :func:`genlab.models.bayesnet.inference` instead."""
        card = self.card
        out = np.zeros((n, self.n_variables), dtype=np.int64)
        for v in self._order:
            if evidence and v in evidence:
                out[:, v] = evidence[v]
                continue
            ps = self.parents[v]
            pidx = np.zeros(n, dtype=np.int64)
            for p in ps:
                pidx = pidx * card[p] + out[:, p]
            probs = self.cpts[v].reshape(-1, card[v])[pidx]                       # (n, card)
            u = rng.random(n)[:, None]
            out[:, v] = np.minimum((np.cumsum(probs, 1) < u).sum(1), card[v] - 1)
        return out

    def copy_structure(self, parents: Iterable[Sequence[int]]) -> DiscreteBN:
        """The same variables and states with other parents (no CPTs)."""
        return DiscreteBN(list(self.variables), [list(s) for s in self.states], [tuple(p) for p in parents])
