"""Exact and approximate inference in a discrete Bayesian network (:class:`DiscreteBN`).

Everything works on integer indices: a variable is its index in ``bn.variables``, a state
its index in ``bn.states[v]``, and evidence is a dict ``{variable: state}``. Names are
translated by the estimator.

Exact inference
---------------
- :class:`Factor`: a table with one axis per variable (``variables`` tuple + ndarray);
  products and sums are single :func:`numpy.einsum` calls, never loops over entries.
- :func:`query`: variable elimination. Barren variables (those that are neither
  ancestors of a query nor of an evidence variable) are pruned first, the CPTs are reduced
  by the evidence, and the rest are summed out in a min-fill order (ties broken by the
  smaller variable index). Returns the posterior ``p(variables | evidence)`` as a
  normalised :class:`Factor` (or one marginal per variable with ``joint=False``).
- :func:`map_query` (max-marginal MAP: sum out the others, then max-product with
  traceback over the MAP variables) and :func:`mpe` (max-product over every
  non-evidence variable).
- :class:`JunctionTree` / :func:`all_marginals`: the clique tree of the min-fill
  elimination order, calibrated by two-pass Hugin message passing, which gives every
  posterior marginal at about twice the cost of one query.
- :func:`log_evidence`: ``log p(observed values)`` of many rows with missing values (-1).
  Rows are deduplicated and grouped (by missing-pattern when a pattern covers enough rows,
  else together with observed values entering as indicator factors); each group is one
  variable elimination in which the row axis is carried through every factor as a batch
  axis.

Elimination orders and junction-tree structures depend only on the graph and on which
variables are observed/queried, so they are cached (LRU) across calls; CPT values are not.

Approximate inference
---------------------
- :func:`likelihood_weighting`: vectorised forward sampling with evidence clamped and
  weights ``prod p(e_i | parents)``.
- :func:`gibbs`: parallel Gibbs chains, one systematic scan per sweep, the Markov-blanket
  conditional computed for all chains and all states of a variable by array gathers.
- :func:`sample_given_evidence`: samples from ``p(x | evidence)``: exact (junction-tree
  forward sampling), likelihood weighting with importance resampling, or Gibbs.

Zero-probability evidence raises :class:`~genlab.exceptions.DataError`; a variable that
is both queried and observed raises :class:`~genlab.exceptions.InvalidParameterError`.

>>> import numpy as np
>>> from genlab.models.bayesnet.network import DiscreteBN
>>> bn = DiscreteBN(["rain", "wet"], [["no", "yes"], ["no", "yes"]], [(), (0,)],
...                 [np.array([0.8, 0.2]), np.array([[0.9, 0.1], [0.2, 0.8]])])
>>> query(bn, [0], {1: 1}).table.round(4).tolist()
[0.3333, 0.6667]
>>> mpe(bn, {1: 1})
{0: 1}
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.bayesnet.network import DiscreteBN

__all__ = [
    "Factor",
    "JunctionTree",
    "all_marginals",
    "gibbs",
    "likelihood_weighting",
    "log_evidence",
    "map_query",
    "min_fill_order",
    "mpe",
    "query",
    "sample_given_evidence",
]

BATCH = -1  # pseudo-variable of batched factors: the row axis (always axis 0, as -1 sorts first)
_ZERO_EVIDENCE = "the evidence has probability 0 under the model"
_MAX_TABLE = 1 << 22  # entries per intermediate table when batching rows (32 MiB of float64)


# ----------------------------------------------------------------------------------------
# Factors
# ----------------------------------------------------------------------------------------
def _einsum(factors: Sequence[Factor], out: Sequence[int]) -> np.ndarray:
    """The product of the factors summed onto ``out`` (in that axis order): one einsum."""
    if len(factors) > 30:  # einsum's operand limit; fold the first ones pairwise
        head = _einsum(factors[:2], sorted(set(factors[0].variables) | set(factors[1].variables)))
        merged = Factor(sorted(set(factors[0].variables) | set(factors[1].variables)), head)
        return _einsum([merged, *factors[2:]], out)
    labels: dict[int, int] = {}
    args: list = []
    for f in factors:
        args.append(f.table)
        args.append([labels.setdefault(v, len(labels)) for v in f.variables])
    if len(labels) > 52:
        raise InvalidParameterError(f"a factor over {len(labels)} variables is too large for exact inference; "
                                    "use likelihood_weighting or gibbs.")
    args.append([labels[v] for v in out])
    return np.einsum(*args)


class Factor:
    """A non-negative table over discrete variables: ``table`` has one axis per entry of
    ``variables`` (variable indices), of length that variable's number of states."""

    __slots__ = ("table", "variables")

    def __init__(self, variables: Iterable[int], table: np.ndarray):
        self.variables = tuple(int(v) for v in variables)
        self.table = np.asarray(table, dtype=np.float64)
        if self.table.ndim != len(self.variables) or len(set(self.variables)) != len(self.variables):
            raise InvalidParameterError(f"a factor needs one axis per distinct variable; got variables "
                                        f"{self.variables} and a table of shape {self.table.shape}.")

    def __repr__(self) -> str:
        return f"Factor(variables={self.variables}, shape={self.table.shape})"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.table.shape

    def product(self, other: Factor) -> Factor:
        """The pointwise product over the union of the variables (this factor's first)."""
        out = self.variables + tuple(v for v in other.variables if v not in self.variables)
        return Factor(out, _einsum([self, other], out))

    __mul__ = product

    def marginalise(self, variables: Iterable[int]) -> Factor:
        """Sum out ``variables``."""
        drop = set(variables)
        axes = tuple(i for i, v in enumerate(self.variables) if v in drop)
        return Factor([v for v in self.variables if v not in drop], self.table.sum(axis=axes))

    def maximise(self, variables: Iterable[int]) -> Factor:
        """Maximise out ``variables``."""
        drop = set(variables)
        axes = tuple(i for i, v in enumerate(self.variables) if v in drop)
        return Factor([v for v in self.variables if v not in drop], self.table.max(axis=axes))

    def reduce(self, evidence: Mapping[int, int]) -> Factor:
        """Fix the observed variables (others in ``evidence`` are ignored)."""
        if not any(v in evidence for v in self.variables):
            return self
        idx = tuple(int(evidence[v]) if v in evidence else slice(None) for v in self.variables)
        return Factor([v for v in self.variables if v not in evidence], self.table[idx])

    def normalise(self) -> Factor:
        """Scaled to sum to 1; a zero table raises DataError (zero-probability evidence)."""
        total = self.table.sum()
        if not total > 0:
            raise DataError(f"{_ZERO_EVIDENCE}.")
        return Factor(self.variables, self.table / total)

    def transpose(self, variables: Sequence[int]) -> Factor:
        """The same factor with its axes in the order of ``variables``."""
        return Factor(variables, np.transpose(self.table, [self.variables.index(v) for v in variables]))

    def argmax(self) -> dict[int, int]:
        """The joint argmax (the first one in row-major order) as ``{variable: state}``."""
        flat = int(np.argmax(self.table))
        return {v: int(s) for v, s in zip(self.variables, np.unravel_index(flat, self.table.shape))}


def _cpt_factor(bn: DiscreteBN, v: int) -> Factor:
    """The CPT of ``v`` as a factor with its variables sorted."""
    scope = (*bn.parents[v], v)
    perm = sorted(range(len(scope)), key=lambda i: scope[i])
    return Factor([scope[i] for i in perm], np.transpose(bn.cpts[v], perm))


# ----------------------------------------------------------------------------------------
# Checks and graph helpers
# ----------------------------------------------------------------------------------------
def _check_bn(bn: DiscreteBN) -> None:
    if not isinstance(bn, DiscreteBN):
        raise InvalidParameterError(f"expected a DiscreteBN; got {type(bn).__name__}.")
    if len(bn.cpts) != bn.n_variables:
        raise InvalidParameterError("the network has no CPTs yet; fit its parameters first.")


def _check_evidence(bn: DiscreteBN, evidence: Mapping[int, int] | None) -> dict[int, int]:
    _check_bn(bn)
    if evidence is None:
        return {}
    if not isinstance(evidence, Mapping):
        raise InvalidParameterError(f"evidence must be a dict {{variable index: state index}}; "
                                    f"got {type(evidence).__name__}.")
    card = bn.card
    out = {}
    for v, s in evidence.items():
        v = _check_var(bn, v, "evidence variable")
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= int(s) < card[v]:
            raise DataError(f"evidence state {s!r} of variable {bn.variables[v]!r} must be an index in "
                            f"0..{card[v] - 1} (its states are {bn.states[v]}).")
        out[v] = int(s)
    return out


def _check_var(bn: DiscreteBN, v: object, what: str = "variable") -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < bn.n_variables:
        raise InvalidParameterError(f"{what} must be an index in 0..{bn.n_variables - 1}; got {v!r}.")
    return int(v)


def _check_query(bn: DiscreteBN, variables: int | Iterable[int], evidence: Mapping[int, int]) -> list[int]:
    if isinstance(variables, (int, np.integer)):
        variables = [variables]
    q = [_check_var(bn, v, "query variable") for v in variables]
    if not q:
        raise InvalidParameterError("give at least one query variable.")
    if len(set(q)) != len(q):
        raise InvalidParameterError(f"query variables must be distinct; got {q}.")
    both = [bn.variables[v] for v in q if v in evidence]
    if both:
        raise InvalidParameterError(f"variables {both} are both queried and observed; drop them from the query "
                                    "or from the evidence.")
    return q


def _ancestors_of(parents: Sequence[Sequence[int]], variables: Iterable[int]) -> set[int]:
    """The variables and all their ancestors."""
    seen = set()
    stack = list(variables)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(parents[v])
    return seen


def _ancestors(bn: DiscreteBN, variables: Iterable[int]) -> set[int]:
    return _ancestors_of(bn.parents, variables)


def min_fill_order(scopes: Iterable[Sequence[int]], eliminate: Iterable[int]) -> tuple[list[int], list[frozenset]]:
    """Greedy min-fill elimination order of ``eliminate`` in the interaction graph of the
    factor ``scopes`` (ties: the smaller variable index first).

    Returns the order and, for each eliminated variable, its neighbours at elimination
    time (its clique minus itself); the other variables of the graph stay uneliminated.
    """
    adj: dict[int, set[int]] = {}
    for sc in scopes:
        for a in sc:
            adj.setdefault(a, set()).update(sc)
    for a, s in adj.items():
        s.discard(a)
    remaining = {int(x) for x in eliminate}
    for x in remaining:
        adj.setdefault(x, set())

    def fill(x: int) -> int:
        nb = adj[x]
        return sum(len(nb - adj[a]) - 1 for a in nb) // 2 if len(nb) > 1 else 0

    score: dict[int, int] = {}
    heap: list[tuple[int, int]] = []  # (fill, variable); stale entries are skipped
    dirty = set(remaining)
    order: list[int] = []
    neighbours: list[frozenset] = []
    while remaining:
        for x in dirty:
            if x in remaining:
                f = fill(x)
                if score.get(x) != f:
                    score[x] = f
                    heapq.heappush(heap, (f, x))
        while True:
            f, x = heapq.heappop(heap)
            if x in remaining and score[x] == f:
                break
        remaining.discard(x)
        nb = adj.pop(x)
        order.append(x)
        neighbours.append(frozenset(nb))
        dirty = set()
        for a in nb:
            na = adj[a]
            na.discard(x)
            new = nb - na
            new.discard(a)
            dirty.add(a)
            if new:
                na |= new
                dirty |= na
    return order, neighbours


# ----------------------------------------------------------------------------------------
# Variable elimination
# ----------------------------------------------------------------------------------------
def _rescale(t: np.ndarray, batched: bool) -> tuple[np.ndarray, float | np.ndarray]:
    """Divide by the maximum (per row when batched) against underflow; returns the log of it."""
    if batched:
        m = t.max(axis=tuple(range(1, t.ndim))) if t.ndim > 1 else t
        m = np.where(m > 0, m, 1.0)
        return t / m.reshape(-1, *([1] * (t.ndim - 1))), np.log(m)
    m = float(t.max()) if t.size else 0.0
    if m > 0 and np.isfinite(m) and m != 1.0:
        return t / m, float(np.log(m))
    return t, 0.0


def _eliminate(factors: list[Factor], order: Sequence[int], mode: str = "sum"):
    """Sum (or maximise) out ``order`` one variable at a time.

    Returns the remaining factors, the log of the scale divided out (a float, or per row
    when the factors carry the :data:`BATCH` axis) and, for ``mode="max"``, the traceback
    entries ``(variable, its neighbours, argmax table over them)``.
    """
    factors = list(factors)
    log_scale: float | np.ndarray = 0.0
    trace = []
    for x in order:
        inv, rest = [], []
        for f in factors:
            (inv if x in f.variables else rest).append(f)
        if not inv:
            continue
        union = sorted({v for f in inv for v in f.variables} - {x})
        if mode == "sum":
            t = _einsum(inv, union)
        else:
            joint = _einsum(inv, [*union, x])
            arg = joint.argmax(-1)
            t = joint.max(-1)
            trace.append((x, tuple(union), arg))
        t, ls = _rescale(t, bool(union) and union[0] == BATCH)
        log_scale = log_scale + ls
        rest.append(Factor(union, t))
        factors = rest
    return factors, log_scale, trace


@functools.lru_cache(maxsize=1024)
def _ve_plan(parents: tuple, query: tuple, observed: frozenset) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the non-barren variables, the min-fill order summing out the non-query ones); cached."""
    keep = sorted(_ancestors_of(parents, [*query, *observed]))
    scopes = [tuple(u for u in (*parents[v], v) if u not in observed) for v in keep]
    qs = set(query)
    order, _ = min_fill_order(scopes, [v for v in keep if v not in observed and v not in qs])
    return tuple(keep), tuple(order)


def _reduced_factors(bn: DiscreteBN, keep: Iterable[int], evidence: Mapping[int, int]) -> list[Factor]:
    return [_cpt_factor(bn, v).reduce(evidence) for v in sorted(keep)]


def query(bn: DiscreteBN, variables: int | Sequence[int], evidence: Mapping[int, int] | None = None,
          joint: bool = True) -> Factor | list[Factor]:
    """Posterior ``p(variables | evidence)`` by variable elimination.

    Parameters
    ----------
    variables : int or sequence of int
        Query variables (distinct, none of them observed).
    evidence : dict {variable: state}, optional
    joint : bool
        ``True``: one normalised :class:`Factor` whose axes follow ``variables``.
        ``False``: a list with one normalised 1-D factor per query variable (computed in one
        calibrated junction tree of the pruned network when there are several).

    Raises
    ------
    DataError
        If the evidence has probability 0.
    InvalidParameterError
        If a variable is both queried and observed, or an index is out of range.
    """
    ev = _check_evidence(bn, evidence)
    q = _check_query(bn, variables, ev)
    if not joint and len(q) > 1:
        jt = JunctionTree(bn, ev, relevant=q)
        return [Factor([v], jt.marginal(v)) for v in q]
    keep, order = _ve_plan(tuple(bn.parents), tuple(q), frozenset(ev))
    factors, _, _ = _eliminate(_reduced_factors(bn, keep, ev), order, "sum")
    out = Factor(q, _einsum(factors, q)).normalise()
    return out if joint else [out]


def map_query(bn: DiscreteBN, variables: int | Sequence[int],
              evidence: Mapping[int, int] | None = None) -> dict[int, int]:
    """Max-marginal MAP: ``argmax_{x_Q} sum_{others} p(x_Q, others, evidence)``.

    Barren variables are pruned, the non-MAP variables summed out (min-fill order), then the
    MAP variables maximised out with traceback. Returns ``{variable: state}`` for the
    query variables (ties: the smaller state index).
    """
    ev = _check_evidence(bn, evidence)
    q = _check_query(bn, variables, ev)
    keep, order = _ve_plan(tuple(bn.parents), tuple(sorted(q)), frozenset(ev))
    factors, _, _ = _eliminate(_reduced_factors(bn, keep, ev), order, "sum")
    return _max_product(factors, q)


def mpe(bn: DiscreteBN, evidence: Mapping[int, int] | None = None) -> dict[int, int]:
    """Most probable explanation: the jointly most probable states of every non-evidence
    variable (max-product elimination with traceback). Returns ``{variable: state}`` for
    the non-evidence variables only."""
    ev = _check_evidence(bn, evidence)
    free = [v for v in range(bn.n_variables) if v not in ev]
    factors = _reduced_factors(bn, range(bn.n_variables), ev)
    if not free:
        if not np.prod([f.table for f in factors]) > 0:
            raise DataError(f"{_ZERO_EVIDENCE}.")
        return {}
    return _max_product(factors, free)


def _max_product(factors: list[Factor], variables: Sequence[int]) -> dict[int, int]:
    order, _ = min_fill_order([f.variables for f in factors], variables)
    factors, _, trace = _eliminate(factors, order, "max")
    best = _einsum(factors, [])
    if not best > 0:
        raise DataError(f"{_ZERO_EVIDENCE}.")
    assign: dict[int, int] = {}
    for x, scope, arg in reversed(trace):
        assign[x] = int(arg[tuple(assign[v] for v in scope)])
    return {v: assign[v] for v in variables}


# ----------------------------------------------------------------------------------------
# Junction tree
# ----------------------------------------------------------------------------------------
def _clique_tree(order: Sequence[int], neighbours: Sequence[frozenset]):
    """The clique tree of an elimination order: candidate clique ``{x_i} | N_i`` hangs under
    the clique of the first-eliminated variable of ``N_i``; non-maximal candidates are
    merged into a superset child. Returns (cliques as sorted tuples, parent index or -1,
    clique index of each eliminated variable's candidate)."""
    n = len(order)
    pos = {x: i for i, x in enumerate(order)}
    cand = [neighbours[i] | {order[i]} for i in range(n)]
    par = [min((pos[y] for y in neighbours[i]), default=-1) for i in range(n)]
    rep = list(range(n))
    tpar = list(par)
    sets = list(cand)
    children: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        if par[i] >= 0:
            children[par[i]].append(i)

    def find(i: int) -> int:
        while rep[i] != i:
            i = rep[i]
        return i

    for i in range(n):
        for c in children[i]:
            r = find(c)
            if cand[i] <= sets[r]:
                rep[i] = r
                tpar[r] = tpar[i]
                break
    reps = [i for i in range(n) if rep[i] == i]
    new_id = {r: k for k, r in enumerate(reps)}
    cliques = [tuple(sorted(sets[r])) for r in reps]
    parent = [new_id[find(tpar[r])] if tpar[r] >= 0 else -1 for r in reps]
    home = {x: new_id[find(pos[x])] for x in order}
    return cliques, parent, home


class _TreePlan:
    """The structure of a junction tree: everything that depends only on the graph, the
    cardinalities, which variables are observed and which are relevant (cached)."""

    def __init__(self, parents: tuple, card: tuple, observed: frozenset, relevant: tuple | None):
        V = len(parents)
        keep = set(range(V)) if relevant is None else _ancestors_of(parents, [*relevant, *observed])
        self.variables = sorted(keep)
        scopes = {v: tuple(sorted((*parents[v], v))) for v in self.variables}
        reduced = {v: tuple(u for u in scopes[v] if u not in observed) for v in self.variables}
        free = [v for v in self.variables if v not in observed]
        order, nbs = min_fill_order(reduced.values(), free)
        self.cliques, self.parent, home = _clique_tree(order, nbs)
        pos = {x: i for i, x in enumerate(order)}
        nc = len(self.cliques)
        self.shapes = [tuple(card[v] for v in c) for c in self.cliques]
        # factors: (v, axis permutation of the CPT, scope with observed entries, home clique, broadcast shape)
        self.factors = []
        for v in self.variables:
            fam = (*parents[v], v)
            perm = sorted(range(len(fam)), key=lambda i: fam[i])
            red = reduced[v]
            if red:
                c = home[min(red, key=pos.__getitem__)]
                shape = tuple(card[u] if u in red else 1 for u in self.cliques[c])
            else:
                c, shape = -1, ()
            self.factors.append((v, perm, tuple(u if u in observed else None for u in scopes[v]), c, shape))
        self.children: list[list[int]] = [[] for _ in range(nc)]
        self.roots = []
        for c, p in enumerate(self.parent):
            (self.children[p] if p >= 0 else self.roots).append(c)
        topo = list(self.roots)  # parents before children
        for c in topo:
            topo.extend(self.children[c])
        self.topo = topo
        self.separators = [tuple(sorted(set(self.cliques[c]) & set(self.cliques[p]))) if p >= 0 else ()
                           for c, p in enumerate(self.parent)]

        def axes(c: int, onto) -> tuple[int, ...]:
            onto = set(onto)
            return tuple(i for i, v in enumerate(self.cliques[c]) if v not in onto)

        def bshape(sub, c: int) -> tuple[int, ...]:
            sub = set(sub)
            return tuple(card[v] if v in sub else 1 for v in self.cliques[c])

        # (child, parent, axes of the child summed onto the separator, separator shape in the parent,
        #  axes of the parent summed onto the separator, separator shape in the child)
        self.edges = [(c, p, axes(c, self.separators[c]), bshape(self.separators[c], p), axes(p, self.separators[c]),
                       bshape(self.separators[c], c)) for c in topo if (p := self.parent[c]) >= 0]
        self.where: dict[int, tuple[int, tuple[int, ...]]] = {}
        sizes = [math.prod(sh) for sh in self.shapes]
        for c, cl in enumerate(self.cliques):
            for v in cl:
                if v not in self.where or sizes[c] < sizes[self.where[v][0]]:
                    self.where[v] = (c, axes(c, [v]))


@functools.lru_cache(maxsize=256)
def _tree_plan(parents: tuple, card: tuple, observed: frozenset, relevant: tuple | None) -> _TreePlan:
    return _TreePlan(parents, card, observed, relevant)


class JunctionTree:
    """A calibrated junction tree of ``bn`` given ``evidence`` (Hugin architecture).

    The cliques come from the min-fill elimination of every unobserved variable of the
    network (or, with ``relevant``, of the ancestors of ``relevant`` and of the evidence:
    the other variables are barren and cannot change those posteriors). Evidence reduces
    the CPTs, so observed variables are in no clique. Calibration is one collect pass
    (leaves to roots; messages are rescaled, and the scales give ``log_evidence``) and one
    distribute pass (messages divided by the stored separators, 0/0 = 0). The structure
    (cliques, separators, axes) depends only on the graph and on which variables are
    observed, and is cached across calls (LRU, 256 entries).

    Attributes
    ----------
    cliques : list of tuple of int
        Sorted variable indices of each clique.
    parent : list of int
        Parent clique (-1 for a root; a forest when the graph is disconnected).
    separators : list of tuple of int
        Variables shared with the parent clique.
    beliefs : list of ndarray
        ``p(clique variables | evidence)``, one axis per clique variable.
    log_evidence : float
        ``log p(evidence)`` (0 without evidence).
    """

    def __init__(self, bn: DiscreteBN, evidence: Mapping[int, int] | None = None,
                 relevant: Iterable[int] | None = None):
        ev = _check_evidence(bn, evidence)
        self.bn = bn
        self.evidence = ev
        rel = None if relevant is None else tuple(sorted({_check_var(bn, v) for v in relevant}))
        plan = _tree_plan(tuple(bn.parents), tuple(bn.card), frozenset(ev), rel)
        self._plan = plan
        self.variables = plan.variables
        self.cliques, self.parent, self.separators, self._topo = plan.cliques, plan.parent, plan.separators, plan.topo
        pot: list = [None] * len(plan.cliques)
        log_z = 0.0
        for v, perm, scope, c, shape in plan.factors:
            t = np.transpose(bn.cpts[v], perm)
            if any(u is not None for u in scope):
                t = t[tuple(slice(None) if u is None else ev[u] for u in scope)]
            if c < 0:
                if not t > 0:
                    raise DataError(f"{_ZERO_EVIDENCE}.")
                log_z += float(np.log(t))
                continue
            t = t.reshape(shape)
            pot[c] = t if pot[c] is None else pot[c] * t
        for c, shape in enumerate(plan.shapes):  # a clique without factors (cannot happen) or broadcast ones
            if pot[c] is None or pot[c].shape != shape:
                pot[c] = np.broadcast_to(pot[c] if pot[c] is not None else 1.0, shape).copy()
        stored: list = [None] * len(plan.cliques)
        for c, p, c_axes, p_shape, _, _ in reversed(plan.edges):  # collect
            msg = pot[c].sum(axis=c_axes)
            m = float(msg.max())
            if not m > 0:
                raise DataError(f"{_ZERO_EVIDENCE}.")
            msg = msg / m
            log_z += float(np.log(m))
            stored[c] = msg
            pot[p] = pot[p] * msg.reshape(p_shape)
        for c in plan.roots:
            z = float(pot[c].sum())
            if not z > 0:
                raise DataError(f"{_ZERO_EVIDENCE}.")
            log_z += float(np.log(z))
            pot[c] = pot[c] / z
        for c, p, _, _, p_axes, c_shape in plan.edges:  # distribute
            msg = pot[p].sum(axis=p_axes)
            ratio = np.divide(msg, stored[c], out=np.zeros_like(msg), where=stored[c] > 0)
            b = pot[c] * ratio.reshape(c_shape)
            pot[c] = b / b.sum()
        self.beliefs = pot
        self.log_evidence = log_z

    def marginal(self, v: int) -> np.ndarray:
        """``p(x_v | evidence)`` (one-hot for an observed variable)."""
        if v in self.evidence:
            out = np.zeros(self.bn.card[v])
            out[self.evidence[v]] = 1.0
            return out
        if v not in self._plan.where:
            raise InvalidParameterError(f"variable {v} was pruned from this junction tree (not relevant).")
        c, axes = self._plan.where[v]
        out = self.beliefs[c].sum(axis=axes)
        return out / out.sum()

    def marginals(self) -> list[np.ndarray]:
        """Every variable's posterior marginal (requires a tree built with ``relevant=None``)."""
        return [self.marginal(v) for v in range(self.bn.n_variables)]

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Exact samples of the tree's variables given the evidence: the root clique's joint
        from its belief, then each child clique's new variables from
        ``belief(clique) / belief(separator)`` given the sampled separator (topological
        order of the tree). Columns of pruned variables are left -1."""
        out = np.full((n, self.bn.n_variables), -1, dtype=np.int64)
        for v, s in self.evidence.items():
            out[:, v] = s
        for c in self._topo:
            cl = self.cliques[c]
            sep = self.separators[c]
            new = [v for v in cl if v not in set(sep)]
            b = np.transpose(self.beliefs[c], [cl.index(v) for v in (*sep, *new)])
            ns = int(np.prod(b.shape[:len(sep)], dtype=np.int64))
            b = b.reshape(ns, -1)
            sidx = (np.ravel_multi_index([out[:, v] for v in sep], [self.bn.card[v] for v in sep]) if sep
                    else np.zeros(n, dtype=np.int64))
            shape_new = tuple(self.bn.card[v] for v in new)
            if ns == 1:
                flat = _sample_categorical(b[0] / b[0].sum(), n, rng)
            else:
                flat = np.empty(n, dtype=np.int64)
                step = max(1, _MAX_TABLE // b.shape[1])
                for s in range(0, n, step):
                    rows = b[sidx[s:s + step]]
                    flat[s:s + step] = _sample_rows(rows / rows.sum(1, keepdims=True), rng)
            for v, col in zip(new, np.unravel_index(flat, shape_new)):
                out[:, v] = col
        return out


def all_marginals(bn: DiscreteBN, evidence: Mapping[int, int] | None = None) -> list[np.ndarray]:
    """Every variable's posterior marginal ``p(x_v | evidence)`` from one calibrated junction
    tree (about twice the cost of a single query). Observed variables get one-hot vectors."""
    return JunctionTree(bn, evidence).marginals()


# ----------------------------------------------------------------------------------------
# Log-likelihood of rows with missing values
# ----------------------------------------------------------------------------------------
def _check_rows(bn: DiscreteBN, rows: np.ndarray) -> np.ndarray:
    _check_bn(bn)
    X = np.asarray(rows)
    if X.ndim == 1:
        X = X[None]
    if X.ndim != 2 or X.shape[1] != bn.n_variables:
        raise DataError(f"rows must have shape (N, {bn.n_variables}); got {np.shape(rows)}.")
    if X.size and not np.issubdtype(X.dtype, np.integer) and (not np.all(np.isfinite(X))
                                                              or not np.all(X == np.round(X))):
        raise DataError("rows must hold integer state indices (-1 for missing).")
    X = X.astype(np.int64)
    card = np.asarray(bn.card)
    bad = (X < -1) | (X >= card)
    if bad.any():
        n, v = np.argwhere(bad)[0]
        raise DataError(f"row {n}: state index {X[n, v]} of variable {bn.variables[v]!r} is out of range "
                        f"(0..{card[v] - 1}, or -1 for missing).")
    return X


def _batched_cpt(bn: DiscreteBN, v: int, observed: set[int], X: np.ndarray) -> Factor:
    """The CPT of v with the observed variables of its family indexed by the rows of X:
    a factor over (BATCH, free family variables), or an unbatched one if none is observed."""
    f = _cpt_factor(bn, v)
    obs = [i for i, u in enumerate(f.variables) if u in observed]
    if not obs:
        return f
    free = [i for i, u in enumerate(f.variables) if u not in observed]
    t = np.transpose(f.table, obs + free)[tuple(X[:, f.variables[i]] for i in obs)]
    return Factor([BATCH, *(f.variables[i] for i in free)], t)


_PATTERN_OVERHEAD = 60_000  # the fixed cost of one elimination, in batched table entries (measured, roughly)


def _unique_rows(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D array (lexicographic order) and each row's index among them
    (np.unique(axis=0) without its slow structured-dtype sort)."""
    if len(A) == 0:
        return A, np.zeros(0, dtype=np.int64)
    order = np.lexsort(A.T[::-1])
    S = A[order]
    new = np.ones(len(A), dtype=bool)
    new[1:] = (S[1:] != S[:-1]).any(1)
    inverse = np.empty(len(A), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return S[new], inverse


@functools.lru_cache(maxsize=512)
def _evidence_plan(parents: tuple, card: tuple, all_obs: frozenset, all_miss: frozenset):
    """For rows whose observed variables include ``all_obs`` and exclude ``all_miss``: the
    non-barren variables, the min-fill order of the unobserved ones, and the total and
    largest size of the intermediate tables (per row); cached."""
    keep = sorted(_ancestors_of(parents, set(range(len(parents))) - all_miss))
    scopes = [[u for u in (*parents[v], v) if u not in all_obs] for v in keep]
    order, nbs = min_fill_order(scopes, [v for v in keep if v not in all_obs])
    sizes = [math.prod(card[u] for u in nb | {x}) for x, nb in zip(order, nbs)]
    return tuple(keep), tuple(order), sum(sizes) + 1, max([*sizes, 1])


def log_evidence(bn: DiscreteBN, evidence_rows: np.ndarray, strategy: str = "auto") -> np.ndarray:
    """``log p(observed values)`` in nats for each row of an (N, V) integer array whose
    missing values (-1) are summed out.

    Fully observed rows are sums of log CPT entries. The other rows are grouped, each group
    is deduplicated, and each group is one variable elimination (min-fill order, cached by
    structure) in which the rows are a batch axis of every factor that touches an observed
    value, in chunks that keep intermediate tables under ~32 MiB. Variables observed in
    every row of a group index the CPTs directly; variables missing in every row of a group
    that are not ancestors of an observed one are dropped (barren); a variable observed in
    some rows only enters as an indicator factor (one-hot where observed, ones where missing).

    ``strategy`` picks the groups:

    - ``"pattern"``: one group per missing-pattern (small eliminations, one per pattern);
      best when few patterns cover many rows.
    - ``"indicator"``: one group for all rows (one elimination, but over the indicator
      variables too); best when the patterns are many (values missing at random).
    - ``"auto"`` (default): a pattern gets its own group when its rows would cost more in the
      shared group than one elimination's fixed cost (by the intermediate table sizes); the
      other rows share one group.

    Rows of probability 0 get ``-inf``; a row with nothing observed gets 0.
    """
    if strategy not in ("auto", "pattern", "indicator"):
        raise InvalidParameterError(f"strategy must be 'auto', 'pattern' or 'indicator'; got {strategy!r}.")
    X = _check_rows(bn, evidence_rows)
    out = np.zeros(len(X))
    miss = X < 0
    complete = ~miss.any(1)
    with np.errstate(divide="ignore"):
        if complete.any():
            out[complete] = bn.log_prob_complete(X[complete])
        inc = np.flatnonzero(~complete & ~miss.all(1))  # rows with nothing observed: log 1 = 0
        if not len(inc):
            return out
        if strategy == "indicator":
            groups = [inc]
        else:
            patterns, inverse = _unique_rows(miss[inc])
            counts = np.bincount(inverse, minlength=len(patterns))
            if strategy == "pattern":
                alone = np.ones(len(patterns), dtype=bool)
            else:  # alone when C0 + n_p cost_p <= n_p cost_shared (cost: intermediate entries per row)
                m = miss[inc]
                parents, card = tuple(bn.parents), tuple(bn.card)
                shared = _evidence_plan(parents, card, frozenset(np.flatnonzero(~m.any(0)).tolist()),
                                        frozenset(np.flatnonzero(m.all(0)).tolist()))[2]
                alone = counts * shared >= _PATTERN_OVERHEAD
                for k in np.flatnonzero(alone):
                    own = _evidence_plan(parents, card, frozenset(np.flatnonzero(~patterns[k]).tolist()),
                                         frozenset(np.flatnonzero(patterns[k]).tolist()))[2]
                    alone[k] = _PATTERN_OVERHEAD + counts[k] * own <= counts[k] * shared
            groups = [inc[inverse == k] for k in np.flatnonzero(alone)]
            rest = inc[~alone[inverse]]
            if len(rest):
                groups.append(rest)
        for rows in groups:
            out[rows] = _log_evidence_group(bn, X[rows])
    return out


def _log_evidence_group(bn: DiscreteBN, X: np.ndarray) -> np.ndarray:
    """log p(observed values) of rows (each with some value observed) by one batched elimination."""
    uniq, back = _unique_rows(X)
    miss = uniq < 0
    all_obs = frozenset(np.flatnonzero(~miss.any(0)).tolist())
    all_miss = frozenset(np.flatnonzero(miss.all(0)).tolist())
    mixed = [v for v in range(bn.n_variables) if v not in all_obs and v not in all_miss]
    keep, order, _, biggest = _evidence_plan(tuple(bn.parents), tuple(bn.card), all_obs, all_miss)
    card = bn.card
    step = max(1, _MAX_TABLE // biggest)
    eyes = {v: np.eye(card[v]) for v in mixed}
    res = np.empty(len(uniq))
    for s in range(0, len(uniq), step):
        Xc = uniq[s:s + step]
        factors = [_batched_cpt(bn, v, all_obs, Xc) for v in keep]
        for v in mixed:
            lam = np.ones((len(Xc), card[v]))
            seen = Xc[:, v] >= 0
            lam[seen] = eyes[v][Xc[seen, v]]
            factors.append(Factor([BATCH, v], lam))
        factors, log_scale, _ = _eliminate(factors, order, "sum")
        val = _einsum(factors, [BATCH])  # the remaining factors are over (BATCH,) or constants
        res[s:s + step] = np.log(val) + log_scale
    return res[back]


# ----------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------
def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of a (n, k) array of row-normalised probabilities."""
    u = rng.random(len(probs))[:, None]
    return np.minimum((np.cumsum(probs, 1) < u).sum(1), probs.shape[1] - 1)


def _sample_categorical(p: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(p)
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(p) - 1)


def _family_strides(bn: DiscreteBN, v: int) -> tuple[list[int], np.ndarray]:
    """Columns (parents..., v) and their row-major strides in the flattened CPT of v."""
    card = bn.card
    cols = [*bn.parents[v], v]
    strides = np.ones(len(cols), dtype=np.int64)
    for i in range(len(cols) - 2, -1, -1):
        strides[i] = strides[i + 1] * card[cols[i + 1]]
    return cols, strides


def _lw_samples(bn: DiscreteBN, ev: Mapping[int, int], n: int, rng: np.random.Generator):
    """Forward samples (n, V) with the evidence clamped, and their log weights."""
    card = bn.card
    X = np.zeros((n, bn.n_variables), dtype=np.int64)
    logw = np.zeros(n)
    with np.errstate(divide="ignore"):
        for v in bn.order:
            cols, strides = _family_strides(bn, v)
            pidx = X[:, cols[:-1]] @ (strides[:-1] // card[v]) if len(cols) > 1 else np.zeros(n, dtype=np.int64)
            table = bn.cpts[v].reshape(-1, card[v])
            if v in ev:
                X[:, v] = ev[v]
                logw += np.log(table[pidx, ev[v]])
            else:
                X[:, v] = _sample_rows(table[pidx], rng)
    return X, logw


def likelihood_weighting(bn: DiscreteBN, variables: Sequence[int] | None = None,
                         evidence: Mapping[int, int] | None = None, n_samples: int = 10_000,
                         rng: np.random.Generator | int | None = None, return_samples: bool = False):
    """Approximate posterior marginals by likelihood weighting.

    Every sample is drawn forward in topological order with the evidence variables clamped,
    and weighted by ``prod_e p(x_e = e | sampled parents)`` (computed in logs).

    Returns
    -------
    marginals : list of ndarray
        Weighted estimates of ``p(x_v | evidence)`` for each of ``variables`` (all when None).
    samples, weights : ndarray, ndarray
        Only with ``return_samples=True``: the (n_samples, V) samples and their
        normalised weights (n_samples,), i.e. a weighted sample given the evidence.

    Raises
    ------
    DataError
        If every weight is 0 (the evidence has probability 0, or is far too unlikely
        for ``n_samples``).
    """
    ev = _check_evidence(bn, evidence)
    q = list(range(bn.n_variables)) if variables is None else _check_query(bn, variables, {})
    if int(n_samples) < 1:
        raise InvalidParameterError(f"n_samples must be >= 1; got {n_samples}.")
    X, logw = _lw_samples(bn, ev, int(n_samples), _rng(rng))
    top = logw.max()
    if not np.isfinite(top):
        raise DataError(f"every likelihood weight is 0: {_ZERO_EVIDENCE} (or it is too unlikely for "
                        f"n_samples={n_samples}).")
    w = np.exp(logw - top)
    w /= w.sum()
    card = bn.card
    marg = [np.bincount(X[:, v], weights=w, minlength=card[v]) for v in q]
    return (marg, X, w) if return_samples else marg


def gibbs(bn: DiscreteBN, evidence: Mapping[int, int] | None = None, n_samples: int = 1000, burn_in: int = 100,
          rng: np.random.Generator | int | None = None, n_chains: int | None = None, thin: int = 1) -> np.ndarray:
    """Gibbs sampling given the evidence: (n_samples, V) int rows with the evidence clamped.

    ``n_chains`` chains (default ``min(n_samples, 64)``) run side by side; a sweep updates
    each unobserved variable in topological order, for all chains at once, from its
    Markov-blanket conditional ``p(x_v | mb) ∝ p(x_v | pa_v) prod_c p(x_c | pa_c)`` evaluated
    for all states by gathering CPT entries. The chains start from likelihood-weighting
    samples resampled by weight (so every start has positive probability), run ``burn_in``
    sweeps, then record every ``thin``-th sweep; rows are sweep-major (all chains of the
    first recorded sweep, then the next one...).

    Networks with deterministic CPT entries (zeros) can make the chain reducible; the
    resampled starts soften that but do not remove it.
    """
    ev = _check_evidence(bn, evidence)
    n_samples, burn_in, thin = int(n_samples), int(burn_in), int(thin)
    if n_samples < 1 or burn_in < 0 or thin < 1:
        raise InvalidParameterError(f"need n_samples >= 1, burn_in >= 0 and thin >= 1; got {n_samples}, "
                                    f"{burn_in}, {thin}.")
    rng = _rng(rng)
    C = min(n_samples, 64) if n_chains is None else int(n_chains)
    if C < 1:
        raise InvalidParameterError(f"n_chains must be >= 1; got {n_chains}.")
    X0, logw = _lw_samples(bn, ev, max(1000, 10 * C), rng)
    top = logw.max()
    if not np.isfinite(top):
        raise DataError(f"every likelihood weight of the initial states is 0: {_ZERO_EVIDENCE}.")
    w = np.exp(logw - top)
    X = X0[rng.choice(len(X0), size=C, p=w / w.sum())].copy()

    card = bn.card
    children = bn.children()
    fam = [_family_strides(bn, v) for v in range(bn.n_variables)]
    flat = [c.reshape(-1) for c in bn.cpts]
    plan = []
    for v in bn.order:
        if v in ev:
            continue
        cols, strides = fam[v]
        kids = []
        for c in children[v]:
            ccols, cstr = fam[c]
            kids.append((ccols, cstr, int(cstr[ccols.index(v)]), flat[c]))
        plan.append((v, cols[:-1], strides[:-1] // card[v], bn.cpts[v].reshape(-1, card[v]), np.arange(card[v]), kids))
    n_sweeps = -(-n_samples // C)
    out = np.empty((n_sweeps, C, bn.n_variables), dtype=np.int64)
    total = burn_in + n_sweeps * thin
    rec = 0
    for sweep in range(total):
        for v, pcols, pstr, table, states, kids in plan:
            p = table[X[:, pcols] @ pstr] if pcols else np.broadcast_to(table[0], (C, card[v]))
            for ccols, cstr, sv, cflat in kids:
                base = X[:, ccols] @ cstr - X[:, v] * sv
                p = p * cflat[base[:, None] + states * sv]
            z = p.sum(1, keepdims=True)
            ok = z[:, 0] > 0
            new = _sample_rows(np.divide(p, z, out=np.zeros_like(p), where=z > 0), rng)
            X[:, v] = np.where(ok, new, X[:, v])
        if sweep >= burn_in and (sweep - burn_in) % thin == 0:
            out[rec] = X
            rec += 1
    return out.reshape(-1, bn.n_variables)[:n_samples]


def sample_given_evidence(bn: DiscreteBN, n: int, evidence: Mapping[int, int] | None = None,
                          rng: np.random.Generator | int | None = None, method: str = "exact",
                          **kwargs) -> np.ndarray:
    """(n, V) int samples from ``p(x | evidence)`` (evidence columns hold the evidence).

    Methods
    -------
    ``"exact"``
        Exact and vectorised over the n rows. Without evidence, ancestral sampling. With
        evidence: a junction tree over the evidence variables' ancestors is calibrated
        (:class:`JunctionTree`), its variables are sampled clique by clique from the root
        down (each clique's new variables from its belief conditioned on the already
        sampled separator), and the remaining variables (not ancestors of the evidence,
        hence independent of it given their parents) are sampled forward from their CPTs.
        Cost: one calibration plus O(n x cliques) gathers.
    ``"lw"``
        Likelihood weighting with importance resampling: ``n_particles`` (default
        ``max(n, 10000)``) weighted samples, n of them drawn with replacement by weight.
        Approximate.
    ``"gibbs"``
        :func:`gibbs` (``burn_in``, ``n_chains``, ``thin`` pass through). Approximate.
    """
    ev = _check_evidence(bn, evidence)
    n = int(n)
    if n < 0:
        raise InvalidParameterError(f"n must be >= 0; got {n}.")
    rng = _rng(rng)
    if method == "exact":
        if kwargs:
            raise InvalidParameterError(f"method 'exact' takes no extra arguments; got {sorted(kwargs)}.")
        if not ev:
            return bn.sample(n, rng)
        jt = JunctionTree(bn, ev, relevant=[])
        X = jt.sample(n, rng)
        card = bn.card
        done = set(jt.variables)
        for v in bn.order:
            if v in done:
                continue
            cols, strides = _family_strides(bn, v)
            pidx = X[:, cols[:-1]] @ (strides[:-1] // card[v]) if len(cols) > 1 else np.zeros(n, dtype=np.int64)
            X[:, v] = _sample_rows(bn.cpts[v].reshape(-1, card[v])[pidx], rng)
        return X
    if method == "lw":
        extra = set(kwargs) - {"n_particles"}
        if extra:
            raise InvalidParameterError(f"method 'lw' takes only n_particles; got {sorted(extra)}.")
        m = int(kwargs.get("n_particles", max(n, 10_000)))
        _, X, w = likelihood_weighting(bn, None, ev, m, rng, return_samples=True)
        return X[rng.choice(len(X), size=n, p=w)]
    if method == "gibbs":
        extra = set(kwargs) - {"burn_in", "n_chains", "thin"}
        if extra:
            raise InvalidParameterError(f"method 'gibbs' takes burn_in, n_chains, thin; got {sorted(extra)}.")
        return gibbs(bn, ev, n_samples=max(n, 1), rng=rng, **kwargs)[:n]
    raise InvalidParameterError(f"method must be 'exact', 'lw' or 'gibbs'; got {method!r}.")
