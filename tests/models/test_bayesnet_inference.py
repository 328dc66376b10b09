"""Inference in discrete Bayesian networks (genlab.models.bayesnet.inference).

References: brute-force enumeration of the full joint (asia, random small networks) and
pgmpy's VariableElimination on the bnlearn networks (asia, child, alarm).
"""

from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.bayesnet import inference as inf
from genlab.models.bayesnet.network import DiscreteBN

BNLEARN = Path(__file__).resolve().parents[3] / "shared" / "data" / "bnlearn"


# ----------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------
def parse_bif(text: str) -> DiscreteBN:
    """A tiny reader for the bnlearn .bif files (CPT rows renormalised to sum to 1)."""
    variables, states = [], []
    for m in re.finditer(r"variable\s+(\S+)\s*\{\s*type\s+discrete\s*\[\s*(\d+)\s*\]\s*\{([^}]*)\}", text):
        variables.append(m[1])
        states.append([s.strip() for s in m[3].split(",")])
    idx = {n: i for i, n in enumerate(variables)}
    parents: list = [()] * len(variables)
    cpts: list = [None] * len(variables)
    for m in re.finditer(r"probability\s*\(\s*([^|)]+?)\s*(?:\|\s*([^)]*))?\)\s*\{([^}]*)\}", text):
        v = idx[m[1].strip()]
        ps = tuple(idx[p.strip()] for p in m[2].split(",")) if m[2] else ()
        cpt = np.full([len(states[p]) for p in ps] + [len(states[v])], np.nan)
        for entry in filter(None, (e.strip() for e in m[3].split(";"))):
            if entry.startswith("table"):
                assert not ps
                cpt[:] = [float(x) for x in entry[5:].split(",")]
            else:
                mm = re.fullmatch(r"\(([^)]*)\)\s*(.*)", entry, re.DOTALL)
                cfg = tuple(states[p].index(s.strip()) for p, s in zip(ps, mm[1].split(",")))
                cpt[cfg] = [float(x) for x in mm[2].split(",")]
        assert not np.isnan(cpt).any()
        parents[v], cpts[v] = ps, cpt / cpt.sum(-1, keepdims=True)
    return DiscreteBN(variables, states, parents, cpts)


_CACHE: dict[str, DiscreteBN] = {}


def load(name: str) -> DiscreteBN:
    path = BNLEARN / f"{name}.bif"
    if not path.is_file():
        pytest.skip(f"shared network {path} not found")
    if name not in _CACHE:
        _CACHE[name] = parse_bif(path.read_text())
    return _CACHE[name]


def random_bn(seed: int, V: int = 7, max_parents: int = 3, zeros: bool = False) -> DiscreteBN:
    """A random DAG (variables in a shuffled topological order) with cards 2-3 and Dirichlet
    CPTs; with ``zeros``, some CPT entries are exactly 0."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(V)
    card = rng.integers(2, 4, size=V)
    parents: list = [()] * V
    for i in range(V):
        k = int(rng.integers(0, min(i, max_parents) + 1))
        parents[perm[i]] = tuple(int(perm[j]) for j in sorted(rng.choice(i, size=k, replace=False)))
    cpts = []
    for v in range(V):
        shape = (*(card[p] for p in parents[v]), card[v])
        c = rng.dirichlet(np.full(card[v], 0.7), size=shape[:-1]).reshape(shape)
        if zeros:
            c = np.where(rng.random(shape) < 0.2, 0.0, c)
            c[c.sum(-1) == 0, 0] = 1.0
            c /= c.sum(-1, keepdims=True)
        cpts.append(c)
    return DiscreteBN([f"x{v}" for v in range(V)], [[f"s{k}" for k in range(card[v])] for v in range(V)],
                      parents, cpts)


def full_joint(bn: DiscreteBN) -> np.ndarray:
    """The joint table p(x_0, ..., x_{V-1}) by enumerating every configuration."""
    card = bn.card
    configs = np.array(list(itertools.product(*[range(k) for k in card])))
    with np.errstate(divide="ignore"):
        p = np.exp(bn.log_prob_complete(configs))
    return p.reshape(card)


def brute_posterior(joint: np.ndarray, variables, evidence) -> np.ndarray:
    """p(variables | evidence) from the full joint, axes in the order of ``variables``."""
    idx = tuple(evidence.get(v, slice(None)) for v in range(joint.ndim))
    t = joint[idx]
    rest = [v for v in range(joint.ndim) if v not in evidence]
    t = t.sum(axis=tuple(i for i, v in enumerate(rest) if v not in variables))
    kept = [v for v in rest if v in variables]
    t = np.transpose(t, [kept.index(v) for v in variables])
    return t / t.sum()


def random_evidence(rng, bn, joint, k):
    """k observed variables with a configuration of positive probability."""
    flat = rng.choice(joint.size, p=joint.reshape(-1) / joint.sum())
    full = np.unravel_index(flat, joint.shape)
    ev_vars = rng.choice(bn.n_variables, size=k, replace=False)
    return {int(v): int(full[v]) for v in ev_vars}


SMALL = [("asia", None), ("rand0", 0), ("rand1", 1), ("rand2z", 2), ("rand3z", 3)]


def small_bn(name, seed):
    if seed is None:
        return load(name)
    return random_bn(seed, V=7 + seed % 2, zeros=name.endswith("z"))


# ----------------------------------------------------------------------------------------
# Factors and orderings
# ----------------------------------------------------------------------------------------
def test_factor_operations():
    rng = np.random.default_rng(0)
    a = inf.Factor((0, 2), rng.random((2, 3)))
    b = inf.Factor((2, 1), rng.random((3, 4)))
    ab = a * b
    assert ab.variables == (0, 2, 1)
    np.testing.assert_allclose(ab.table, a.table[:, :, None] * b.table[None], rtol=1e-14)
    np.testing.assert_allclose(ab.marginalise([2]).table, np.einsum("ij,jk->ik", a.table, b.table), rtol=1e-14)
    np.testing.assert_allclose(ab.maximise([0, 1]).table, ab.table.max(axis=(0, 2)), rtol=0)
    red = ab.reduce({2: 1, 7: 0})
    assert red.variables == (0, 1)
    np.testing.assert_allclose(red.table, ab.table[:, 1, :], rtol=0)
    n = ab.normalise()
    assert abs(n.table.sum() - 1) < 1e-14
    assert ab.transpose((1, 0, 2)).table.shape == (4, 2, 3)
    best = ab.argmax()
    assert ab.table[best[0], best[2], best[1]] == ab.table.max()
    with pytest.raises(DataError, match="probability 0"):
        inf.Factor((0,), np.zeros(2)).normalise()
    with pytest.raises(InvalidParameterError):
        inf.Factor((0, 0), np.ones((2, 2)))


def test_min_fill_order_is_deterministic_and_triangulates():
    # a 4-cycle 0-1-3-2-0: every node has fill 1; ties go to the smaller index
    order, nbs = inf.min_fill_order([(0, 1), (1, 3), (3, 2), (2, 0)], [0, 1, 2, 3])
    assert order == [0, 1, 2, 3]
    assert nbs[0] == {1, 2}
    # a chain is eliminated from its simplicial ends without fill
    order, nbs = inf.min_fill_order([(2, 0), (0, 1), (1, 3)], [0, 1, 2, 3])
    assert order[0] == 2 and all(len(n) <= 1 for n in nbs)


def test_junction_tree_structure_alarm():
    bn = load("alarm")
    jt = inf.JunctionTree(bn)
    sets = [set(c) for c in jt.cliques]
    assert set().union(*sets) == set(range(bn.n_variables))
    for i, s in enumerate(sets):  # maximal cliques only
        assert not any(i != j and s <= t for j, t in enumerate(sets))
    for v in range(bn.n_variables):  # every family in a clique
        assert any({v, *bn.parents[v]} <= s for s in sets)
    for v in range(bn.n_variables):  # running intersection: the cliques holding v are connected
        holding = {i for i, s in enumerate(sets) if v in s}
        tops = [i for i in holding if jt.parent[i] not in holding]
        assert len(tops) == 1
    assert sum(p < 0 for p in jt.parent) == 1
    assert jt.log_evidence == pytest.approx(0.0, abs=1e-9)


# ----------------------------------------------------------------------------------------
# Exact inference against brute force
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,seed", SMALL)
def test_query_matches_brute_force(name, seed):
    bn = small_bn(name, seed)
    joint = full_joint(bn)
    rng = np.random.default_rng(1 if seed is None else seed + 10)
    for k in (0, 1, 2, 3):
        ev = random_evidence(rng, bn, joint, k)
        free = [v for v in range(bn.n_variables) if v not in ev]
        for v in free:
            got = inf.query(bn, [v], ev)
            assert got.variables == (v,)
            np.testing.assert_allclose(got.table, brute_posterior(joint, [v], ev), rtol=0, atol=1e-12)
        for size in (2, 3):
            q = [int(x) for x in rng.choice(free, size=min(size, len(free)), replace=False)]
            got = inf.query(bn, q, ev)
            assert got.variables == tuple(q)
            np.testing.assert_allclose(got.table, brute_posterior(joint, q, ev), rtol=0, atol=1e-12)
            sep = inf.query(bn, q, ev, joint=False)
            for f, v in zip(sep, q):
                assert f.variables == (v,)
                np.testing.assert_allclose(f.table, brute_posterior(joint, [v], ev), rtol=0, atol=1e-12)
        # all marginals in one pass = per-variable queries = brute force
        allm = inf.all_marginals(bn, ev)
        for v in range(bn.n_variables):
            want = np.eye(bn.card[v])[ev[v]] if v in ev else brute_posterior(joint, [v], ev)
            np.testing.assert_allclose(allm[v], want, rtol=0, atol=1e-12)
        jt = inf.JunctionTree(bn, ev)
        assert jt.log_evidence == pytest.approx(np.log(joint[tuple(ev.get(v, slice(None))
                                                              for v in range(bn.n_variables))].sum()), abs=1e-12)


@pytest.mark.parametrize("name,seed", SMALL)
def test_map_and_mpe_match_brute_force(name, seed):
    bn = small_bn(name, seed)
    joint = full_joint(bn)
    rng = np.random.default_rng(2 if seed is None else seed + 20)
    for k in (0, 1, 2):
        ev = random_evidence(rng, bn, joint, k)
        free = [v for v in range(bn.n_variables) if v not in ev]
        cond = joint[tuple(ev.get(v, slice(None)) for v in range(bn.n_variables))]
        got = inf.mpe(bn, ev)
        assert sorted(got) == free
        p_got = cond[tuple(got[v] for v in free)]
        assert p_got == pytest.approx(cond.max(), rel=1e-12)
        if (cond >= cond.max() * (1 - 1e-12)).sum() == 1:
            assert tuple(got[v] for v in free) == np.unravel_index(cond.argmax(), cond.shape)
        for size in (1, 2, 3):
            q = [int(x) for x in rng.choice(free, size=size, replace=False)]
            post = brute_posterior(joint, q, ev)
            got = inf.map_query(bn, q, ev)
            assert sorted(got) == sorted(q)
            assert post[tuple(got[v] for v in q)] == pytest.approx(post.max(), rel=1e-12)
            if (post >= post.max() * (1 - 1e-12)).sum() == 1:
                assert tuple(got[v] for v in q) == np.unravel_index(post.argmax(), post.shape)


@pytest.mark.parametrize("strategy", ["auto", "pattern", "indicator"])
@pytest.mark.parametrize("name,seed", SMALL)
def test_log_evidence_matches_brute_force(name, seed, strategy):
    bn = small_bn(name, seed)
    joint = full_joint(bn)
    rng = np.random.default_rng(3 if seed is None else seed + 30)
    n = 300
    flat = rng.choice(joint.size, size=n, p=joint.reshape(-1) / joint.sum())
    X = np.stack(np.unravel_index(flat, joint.shape), 1)
    X[rng.random(X.shape) < 0.4] = -1
    X[:5] = np.stack(np.unravel_index(flat[:5], joint.shape), 1)  # fully observed rows
    X[5] = -1  # nothing observed
    X[6:9] = rng.integers(0, np.array(bn.card), size=(3, bn.n_variables))  # maybe impossible
    got = inf.log_evidence(bn, X, strategy=strategy)
    for row, g in zip(X, got):
        p = joint[tuple(int(s) if s >= 0 else slice(None) for s in row)].sum()
        if p == 0:
            assert g == -np.inf
        else:
            assert g == pytest.approx(np.log(p), abs=1e-12)
    assert got[5] == 0.0


def test_log_evidence_asia_impossible_rows_and_batching(monkeypatch):
    bn = load("asia")
    tub, either = bn.index("tub"), bn.index("either")
    X = np.full((4, 8), -1)
    X[0, [tub, either]] = [0, 1]  # tub = yes, either = no: impossible
    X[1, tub] = 0
    X[2:, either] = 1
    out = inf.log_evidence(bn, X)
    assert out[0] == -np.inf and np.isfinite(out[1:]).all()
    assert out[2] == out[3]
    # tiny chunks and either strategy give the same numbers
    monkeypatch.setattr(inf, "_MAX_TABLE", 2)
    for strategy in ("pattern", "indicator"):
        np.testing.assert_allclose(inf.log_evidence(bn, X, strategy=strategy), out, rtol=0, atol=1e-14)


def test_log_evidence_alarm_strategies_agree():
    bn = load("alarm")
    rng = np.random.default_rng(11)
    X = bn.sample(400, rng)
    X[rng.random(X.shape) < 0.25] = -1
    a = inf.log_evidence(bn, X, strategy="pattern")
    b = inf.log_evidence(bn, X, strategy="indicator")
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert np.isfinite(a).all()
    # a row observed on 4 variables = the junction tree's log p(evidence)
    ev = {0: int(X[0, 0]) if X[0, 0] >= 0 else 0, 5: 1, 20: 0, 30: 1}
    row = np.full((1, bn.n_variables), -1)
    row[0, list(ev)] = list(ev.values())
    assert inf.log_evidence(bn, row)[0] == pytest.approx(inf.JunctionTree(bn, ev).log_evidence, abs=1e-10)
    with pytest.raises(InvalidParameterError):
        inf.log_evidence(bn, row, strategy="fast")


def test_cached_structure_with_new_cpts():
    """The cached plans depend on the structure only: new CPTs give new (correct) answers."""
    a = random_bn(12, V=7)
    b = DiscreteBN(a.variables, a.states, a.parents,
                   [np.random.default_rng(13).dirichlet(np.ones(c.shape[-1]), size=c.shape[:-1]) for c in a.cpts])
    ev = {0: 1, 3: 0}
    for bn in (a, b, a):
        joint = full_joint(bn)
        allm = inf.all_marginals(bn, ev)
        for v in (1, 2, 4):
            np.testing.assert_allclose(allm[v], brute_posterior(joint, [v], ev), rtol=0, atol=1e-12)
            np.testing.assert_allclose(inf.query(bn, [v], ev).table, brute_posterior(joint, [v], ev), rtol=0,
                                       atol=1e-12)


# ----------------------------------------------------------------------------------------
# Against pgmpy
# ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pgmpy_models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgmpy.inference import VariableElimination
        from pgmpy.readwrite import BIFReader
    cache = {}

    def get(name):
        if name not in cache:
            load(name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = BIFReader(str(BNLEARN / f"{name}.bif")).get_model()
                for cpd in model.get_cpds():
                    cpd.normalize(inplace=True)  # as our reader does
            cache[name] = VariableElimination(model)
        return cache[name]

    return get


def pgmpy_query(ve, bn, q, ev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ve.query([bn.variables[v] for v in q], evidence={bn.variables[v]: bn.states[v][s] for v, s in
                                                                ev.items()}, joint=True, show_progress=False)
    t = np.transpose(res.values, [res.variables.index(bn.variables[v]) for v in q])
    for ax, v in enumerate(q):
        names = [str(s) for s in res.state_names[bn.variables[v]]]
        t = np.take(t, [names.index(s) for s in bn.states[v]], axis=ax)
    return t


@pytest.mark.parametrize("name", ["asia", "child", "alarm"])
def test_query_matches_pgmpy(name, pgmpy_models):
    bn = load(name)
    ve = pgmpy_models(name)
    rng = np.random.default_rng(4)
    for k in (0, 1, 2, 3):
        X = bn.sample(1, rng)[0]  # evidence of positive probability
        ev_vars = rng.choice(bn.n_variables, size=k, replace=False)
        ev = {int(v): int(X[v]) for v in ev_vars}
        free = [v for v in range(bn.n_variables) if v not in ev]
        for size in (1, 2):
            q = [int(x) for x in rng.choice(free, size=size, replace=False)]
            np.testing.assert_allclose(inf.query(bn, q, ev).table, pgmpy_query(ve, bn, q, ev), rtol=0, atol=1e-9)
        if k == 2:
            allm = inf.all_marginals(bn, ev)
            for v in rng.choice(free, size=3, replace=False):
                np.testing.assert_allclose(allm[v], pgmpy_query(ve, bn, [int(v)], ev), rtol=0, atol=1e-9)


def test_bnlearn_networks_all_marginals_equal_queries():
    for name in ("child", "insurance", "alarm"):
        bn = load(name)
        rng = np.random.default_rng(5)
        X = bn.sample(1, rng)[0]
        ev = {int(v): int(X[v]) for v in rng.choice(bn.n_variables, size=4, replace=False)}
        allm = inf.all_marginals(bn, ev)
        for v in range(bn.n_variables):
            if v not in ev:
                np.testing.assert_allclose(allm[v], inf.query(bn, [v], ev).table, rtol=0, atol=1e-12)
        assert inf.JunctionTree(bn, ev).log_evidence == pytest.approx(
            inf.log_evidence(bn, np.where(np.isin(np.arange(bn.n_variables), list(ev)), X, -1)[None])[0], abs=1e-10)


# ----------------------------------------------------------------------------------------
# Approximate inference and sampling given evidence
# ----------------------------------------------------------------------------------------
def _close(est, exact, n_eff, z=5.0):
    tol = z * np.sqrt(exact * (1 - exact) / n_eff) + 2e-3
    assert np.all(np.abs(est - exact) <= tol), (est, exact, tol)


def test_likelihood_weighting_converges():
    for bn, ev in ((load("asia"), {7: 0, 6: 0}), (random_bn(7, V=8), {0: 1, 5: 0})):
        exact = inf.all_marginals(bn, ev)
        marg, X, w = inf.likelihood_weighting(bn, None, ev, 20_000, np.random.default_rng(6), return_samples=True)
        assert X.shape == (20_000, bn.n_variables) and w.sum() == pytest.approx(1.0)
        assert all((X[:, v] == s).all() for v, s in ev.items())
        n_eff = 1.0 / (w ** 2).sum()
        for v in range(bn.n_variables):
            _close(marg[v], exact[v], n_eff)
        only = inf.likelihood_weighting(bn, [3], ev, 100, 0)
        assert len(only) == 1 and only[0].shape == (bn.card[3],)


def test_gibbs_converges():
    bn = random_bn(8, V=8)  # strictly positive CPTs: the chain is ergodic
    ev = {1: 0, 6: 1}
    exact = inf.all_marginals(bn, ev)
    X = inf.gibbs(bn, ev, n_samples=20_000, burn_in=50, rng=np.random.default_rng(7))
    assert X.shape == (20_000, bn.n_variables)
    assert all((X[:, v] == s).all() for v, s in ev.items())
    for v in range(bn.n_variables):
        emp = np.bincount(X[:, v], minlength=bn.card[v]) / len(X)
        _close(emp, exact[v], n_eff=4000)  # autocorrelated: a conservative effective size


@pytest.mark.parametrize("method", ["exact", "lw", "gibbs"])
def test_sample_given_evidence_matches_posterior(method):
    bn = random_bn(9, V=8)
    ev = {2: 1, 7: 0}
    joint = full_joint(bn)
    X = inf.sample_given_evidence(bn, 10_000, ev, np.random.default_rng(8), method=method)
    assert X.shape == (10_000, bn.n_variables) and X.dtype == np.int64
    assert all((X[:, v] == s).all() for v, s in ev.items())
    n_eff = 10_000 if method == "exact" else 2500
    for v in (v for v in range(bn.n_variables) if v not in ev):
        _close(np.bincount(X[:, v], minlength=bn.card[v]) / len(X), brute_posterior(joint, [v], ev), n_eff)
    # a pairwise joint too (checks the dependence between samples' columns)
    pair = brute_posterior(joint, [0, 4], ev)
    emp = np.zeros_like(pair)
    np.add.at(emp, (X[:, 0], X[:, 4]), 1.0 / len(X))
    _close(emp, pair, n_eff)


def test_exact_sampling_alarm_and_asia():
    for name, k in (("alarm", 3), ("asia", 2)):
        bn = load(name)
        rng = np.random.default_rng(9)
        x = bn.sample(1, rng)[0]
        ev = {int(v): int(x[v]) for v in rng.choice(bn.n_variables, size=k, replace=False)}
        X = inf.sample_given_evidence(bn, 10_000, ev, rng)
        assert (X >= 0).all() and all((X[:, v] == s).all() for v, s in ev.items())
        exact = inf.all_marginals(bn, ev)
        for v in range(bn.n_variables):
            _close(np.bincount(X[:, v], minlength=bn.card[v]) / len(X), exact[v], 10_000)
        # every sample has positive probability (deterministic CPTs respected)
        with np.errstate(divide="ignore"):
            assert np.isfinite(bn.log_prob_complete(X)).all()
    bn = load("asia")
    X = inf.sample_given_evidence(bn, 50, None, 0)
    assert X.shape == (50, 8)


# ----------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------
def test_zero_probability_evidence_raises():
    bn = load("asia")
    ev = {bn.index("tub"): 0, bn.index("either"): 1}  # tub = yes but either = no
    calls = [
        lambda: inf.query(bn, [bn.index("xray")], ev),
        lambda: inf.query(bn, [bn.index("asia"), bn.index("dysp")], ev, joint=False),
        lambda: inf.all_marginals(bn, ev),
        lambda: inf.map_query(bn, [bn.index("smoke")], ev),
        lambda: inf.mpe(bn, ev),
        lambda: inf.likelihood_weighting(bn, None, ev, 200, 0),
        lambda: inf.gibbs(bn, ev, 10, 1, 0),
        lambda: inf.sample_given_evidence(bn, 10, ev, 0),
        lambda: inf.mpe(bn, {v: 0 for v in range(8)} | {bn.index("either"): 1}),
    ]
    for call in calls:
        with pytest.raises(DataError, match="probability 0"):
            call()


def test_bad_arguments_raise():
    bn = load("asia")
    with pytest.raises(InvalidParameterError, match="both queried and observed"):
        inf.query(bn, [0, 1], {1: 0})
    with pytest.raises(InvalidParameterError, match="both queried and observed"):
        inf.map_query(bn, [2], {2: 0})
    with pytest.raises(InvalidParameterError):
        inf.query(bn, [8])
    with pytest.raises(InvalidParameterError):
        inf.query(bn, [0, 0])
    with pytest.raises(InvalidParameterError):
        inf.query(bn, [])
    with pytest.raises(DataError):
        inf.query(bn, [0], {1: 2})
    with pytest.raises(DataError):
        inf.log_evidence(bn, np.full((2, 7), -1))
    with pytest.raises(DataError):
        inf.log_evidence(bn, np.full((2, 8), 2))
    with pytest.raises(InvalidParameterError):
        inf.sample_given_evidence(bn, 5, {}, 0, method="nope")
