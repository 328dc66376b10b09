"""genlab's discrete Bayesian networks against pgmpy 1.1.2 on five bnlearn networks, and on digits.

Run from the repository root::

    .venv/bin/python benchmarks/bayesnet.py                       # every part, five networks: ~2 min
    .venv/bin/python benchmarks/bayesnet.py --quick               # smoke test: asia and child, fewer repeats
    .venv/bin/python benchmarks/bayesnet.py --only structure --networks alarm
    .venv/bin/python benchmarks/bayesnet.py --json results/bayesnet.json   # also write every figure to a file

One run prints genlab's and pgmpy's rows side by side (markdown tables), then a summary of the
issue's targets, then one JSON line holding every figure.

Data
----
``shared/data/bnlearn`` beside the repository (or inside it; ``--data-dir DIR`` or the
``GENLAB_BNLEARN`` environment variable point elsewhere), see its SOURCE.md: the bnlearn networks
asia (8 nodes / 8 arcs), sachs (11/17), child (20/25), insurance (27/52) and alarm (37/46) as
``.bif`` files, and 10,000 rows forward-sampled from each (``<name>_n10000_seed42.csv``). The CSVs
are read with ``pd.read_csv(path, dtype=str, keep_default_na=False)`` so that the states named
``None``, ``TRUE`` or ``False`` stay strings (pandas' defaults turn them into NaN / booleans).
Nothing is downloaded.

Protocol
--------
1. **Structure learning** (``structure``): hill climbing with BIC from the empty graph, no
   indegree limit, tabu list 100, epsilon 1e-4, on the 10,000 rows. States are the values seen
   in the data for both libraries (insurance's ``OtherCarCost = Million`` never occurs).

   - pgmpy: ``pgmpy.causal_discovery.HillClimbSearch(scoring_method="bic-d", return_type="dag",
     show_progress=False).fit(df)`` (1.1.2's current API; ``--pgmpy-hc estimators`` uses the
     deprecated ``pgmpy.estimators.HillClimbSearch(df).estimate(scoring_method="bic-d",
     show_progress=False)``, which runs the same search and gives the same graphs). pgmpy breaks
     ties between equal-scoring moves by set iteration order, so its graph depends on the hash
     seed of the node names: each of the ``--repeats`` runs is a fresh subprocess with
     ``PYTHONHASHSEED`` = 0, 1, ..., which first does an untimed warm-up search on 200 asia rows
     and then times the search on every network. Its row gives medians over those runs and
     the range (min-max) of each figure.
   - genlab: ``CategoricalCodec.fit_encode(df)`` (the DataFrame -> int codes step, shown
     in its own column and included in genlab's time) then ``structure.hill_climb(codes, card,
     score="bic")``; ``--repeats`` runs in this process after an untimed warm-up, median time.
     It is deterministic (ties broken by column index): the script asserts that every run gives
     the same graph.
   - Columns. ``s``: wall-clock seconds per search (median; pgmpy also min-max); ``encode s``:
     genlab's DataFrame encoding, included in ``s``; ``SHD``: structural Hamming distance to the
     true DAG, pgmpy 1.1.2's definition (a missing, extra or reversed edge counts 1; genlab's
     ``structure.shd``, checked here against ``pgmpy.metrics.SHD`` on every pgmpy graph);
     ``CPDAG-SHD``: ``shd(cpdag(learned), cpdag(true))``, the distance between the Markov
     equivalence classes, which is what data can identify (an edge whose direction the data
     cannot tell counts 0 when it is undirected in both patterns); ``skel F1``: F1 of the
     learned adjacencies against the true ones; ``BIC``: the learned DAG's BIC on the same data
     in nats (``structure.network_score``, one scorer for every row; higher is better; the
     ``true DAG`` row gives the generating graph's); ``pgmpy / genlab``: pgmpy's median time over
     genlab's (encoding included). The issue's earlier pgmpy figures are printed under the table.

2. **Exact queries** (``queries``) on the *true* networks: genlab ``bif.read_bif`` and pgmpy
   ``BIFReader(path).get_model(state_name_type=str)``, whose CPDs are then renormalised
   (``cpd.normalize()``; genlab's reader rescales the published tables, whose rows are off by up
   to 1e-7, the same way), so both hold the same numbers. ``--n-queries`` (50) queries per
   network, drawn with a seeded generator: one query variable, 1-3 other evidence variables,
   evidence values taken from a forward sample (so the evidence has positive probability).
   Rows: genlab ``inference.query(bn, [q], evidence)`` (integer indices, returns a Factor),
   genlab ``BayesianNetwork.query([name], evidence={name: state})`` (names in, a pandas Series
   out), pgmpy ``VariableElimination(model).query([name], evidence, show_progress=False)``
   (its default ``elimination_order="greedy"``, an opt_einsum contraction). Each query runs
   ``--query-repeats`` (3) times in a row: ``1st ms`` is the median over queries of the first
   call, ``repeat ms`` the median over queries of the later calls. genlab caches elimination
   plans by (graph, query, evidence variables); its caches are cleared before every first call,
   so ``1st ms`` includes planning. ``max |diff|``: the largest absolute difference between the
   posterior and pgmpy's, over all queries (must be <= 1e-9). ``BIF load s``: reading the file.
   **All marginals**: for the evidence of the first ``--n-evidence-sets`` (10) queries, every
   non-evidence variable's posterior: genlab ``inference.all_marginals`` (one calibrated junction
   tree) against pgmpy one ``VariableElimination.query`` per variable (pgmpy's
   ``BeliefPropagation`` with all variables ran out of memory on alarm: not used); ms per
   evidence set, first call and repeat, as above.

3. **Parameter learning** (``parameters``): maximum likelihood on the true structure, 10,000 rows,
   the BIF's state lists for both. genlab ``CategoricalCodec(variables, states).encode(df)``
   (``encode s``) then ``parameters.fit_cpts(codes, card, parents, method="mle")`` (``fit s``);
   pgmpy ``DiscreteBayesianNetwork(edges).fit(df, estimator=DiscreteMLE(state_names=...))``
   (1.1.2's API: ``fit`` takes an estimator instance; ``MaximumLikelihoodEstimator`` is the old
   name). Median of ``--repeats``. ``max |diff|``: largest absolute CPT difference (an unseen
   parent configuration is uniform in both).

4. **Sampling** (``sampling``) ``--n-samples`` (10,000) rows from the true networks, median of
   ``--repeats`` (``--evidence-repeats``, 3, with evidence). genlab ``DiscreteBN.sample`` (int
   codes) and ``BayesianNetwork.sample(n, seed=...)`` (a DataFrame of state names, like pgmpy's
   output; the ratio uses this row); pgmpy ``model.simulate(n_samples, seed=..., show_progress=
   False)``. With evidence: two variables whose joint state comes from a forward sample, the first
   candidate with ``0.05 <= p(e) <= 0.5`` (printed); genlab ``inference.sample_given_evidence(...,
   method="exact")`` (junction tree) and ``BayesianNetwork.sample(n, evidence=...)``; pgmpy
   ``simulate(..., evidence=...)`` (rejection sampling). ``max |freq - p|``: the largest
   difference between a sampled state frequency and the exact marginal (given the evidence), over
   all variables and states: a check that both sample the right distribution (about 0.01-0.02
   is sampling noise at 10,000 rows).

5. **Digits** (``digits``): ``genlab.datasets.load("digits")`` (8x8 images, 17 grey levels, one
   variable per pixel, genlab's splits); genlab ``BayesianNetwork(score="bdeu", ess=100.0,
   max_indegree=3)`` fit on the training split, test bits/dim from ``genlab.evaluate``. pgmpy:
   the same search (``HillClimbSearch`` with ``BDeu(df, equivalent_sample_size=100,
   state_names=17 levels per pixel)``, ``max_indegree=3``) on the same training codes as strings
   and ``DiscreteBayesianEstimator(prior_type="BDeu", equivalent_sample_size=100)`` CPTs, in a
   subprocess with ``PYTHONHASHSEED`` = the first of ``--hash-seeds``; its CPTs are checked equal to
   genlab's BDeu CPTs on pgmpy's graph, and that genlab model is scored with the same
   ``genlab.evaluate``. ``BDeu``: each learned graph's BDeu on the training codes by genlab's scorer
   (higher is better). pgmpy 1.1.2's BDeu differs from the formula for a family with parents whose
   child has states never seen in the data (its count table drops those rows, so their
   ``+lgamma(ess/(q r))`` terms are missing); 22 of the 64 pixels are such; the script counts the
   families where the two scorers disagree. One run each (pgmpy's search takes ~10 s; skipped by
   --quick and --skip-digits-pgmpy).

Threads: ``--threads`` (2) sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``
and ``NUMBA_NUM_THREADS`` before numpy loads (the pgmpy subprocesses inherit them) and
``torch.set_num_threads``. Both libraries run single-threaded Python and numpy code here, so the
count matters little. ``os.getloadavg()`` is recorded before and after; compare timings only
within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import math
import os
import statistics
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _set_thread_env(argv: list[str]) -> int:
    """Read --threads before numpy/torch load and pin their pools through the environment."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=2)
    threads = pre.parse_known_args(argv)[0].threads
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    return threads


_set_thread_env(sys.argv[1:])

import numpy as np
import pandas as pd
import torch

try:
    import genlab
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
    import genlab
from genlab.data.codecs import CategoricalCodec
from genlab.models.bayesnet import inference as inf
from genlab.models.bayesnet import structure as st
from genlab.models.bayesnet.bif import read_bif
from genlab.models.bayesnet.estimator import BayesianNetwork
from genlab.models.bayesnet.network import DiscreteBN
from genlab.models.bayesnet.parameters import fit_cpts

try:
    import pgmpy
except ImportError:  # bench extra missing: pgmpy's rows are skipped
    pgmpy = None

NETWORKS = ("asia", "sachs", "child", "insurance", "alarm")
PARTS = ("structure", "queries", "parameters", "sampling", "digits")
DIGITS_PARAMS = {"score": "bdeu", "ess": 100.0, "max_indegree": 3}   # genlab's demo settings (BayesianNetwork.demo)
# pgmpy 1.1.2 figures quoted in the issue (hill climbing, BIC): seconds, SHD
ISSUE_PGMPY = {"asia": (0.12, 1), "sachs": (0.39, 10), "child": (1.7, 9), "insurance": (2.7, 32),
               "alarm": (5.0, 29)}


# ======================================================================== helpers
def quiet_pgmpy() -> None:
    """pgmpy logs at INFO (inferred dtypes) and warns about deprecations; keep the tables readable."""
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="pgmpy")
    logging.getLogger("pgmpy").setLevel(logging.ERROR)


def find_data(explicit: str | None) -> Path:
    """The bnlearn folder: --data-dir, $GENLAB_BNLEARN, or shared/data/bnlearn beside or inside the repo."""
    candidates = [explicit, os.environ.get("GENLAB_BNLEARN"), REPO.parent / "shared" / "data" / "bnlearn",
                  REPO / "shared" / "data" / "bnlearn"]
    for c in candidates:
        if c and (Path(c) / "asia.bif").exists():
            return Path(c)
    sys.exit("bnlearn data not found: pass --data-dir or set GENLAB_BNLEARN (a folder with <name>.bif and "
             "<name>_n10000_seed42.csv, see shared/data/bnlearn/SOURCE.md).")


def read_csv(folder: Path, net: str) -> pd.DataFrame:
    # dtype=str and keep_default_na=False: states named None / TRUE / False stay strings
    return pd.read_csv(folder / f"{net}_n10000_seed42.csv", dtype=str, keep_default_na=False)


def timed(fn, *a, **kw):
    t0 = time.perf_counter()
    out = fn(*a, **kw)
    return time.perf_counter() - t0, out


def clear_genlab_caches() -> None:
    """Empty genlab's cached elimination / junction-tree plans (so a first call pays its planning)."""
    for obj in vars(inf).values():
        if callable(getattr(obj, "cache_clear", None)):
            obj.cache_clear()


def parents_from_edges(edges, variables: list[str]) -> list[tuple[int, ...]]:
    idx = {v: i for i, v in enumerate(variables)}
    out: list[list[int]] = [[] for _ in variables]
    for a, b in edges:
        out[idx[b]].append(idx[a])
    return [tuple(sorted(p)) for p in out]


def _f(v, spec=".3f"):
    return "-" if v is None else format(v, spec)


def _med_range(vals, spec=".3f"):
    """'median (min-max)' of a list, or the single value."""
    if not vals:
        return "-"
    med = statistics.median(vals)
    if min(vals) == max(vals):
        return format(med, spec)
    return f"{format(med, spec)} ({format(min(vals), spec)}-{format(max(vals), spec)})"


def pgmpy_cpt(cpd, bn: DiscreteBN, v: int) -> np.ndarray:
    """A pgmpy TabularCPD of variable v in genlab's layout: axes (*bn.parents[v], v), bn's state order."""
    names = list(cpd.variables)                           # [v, *evidence]
    vals = np.asarray(cpd.values, dtype=np.float64)      # shape (card v, *card evidence)
    for ax, name in enumerate(names):
        w = bn.index(name)
        order = [list(cpd.state_names[name]).index(s) for s in bn.states[w]]
        vals = np.take(vals, order, axis=ax)
    want = [bn.variables[p] for p in bn.parents[v]] + [bn.variables[v]]
    return np.transpose(vals, [names.index(n) for n in want])


def marginal_error(codes: np.ndarray, exact: list[np.ndarray], skip=()) -> float:
    """max over variables and states of |sampled frequency - exact marginal|."""
    err = 0.0
    for v, p in enumerate(exact):
        if v in skip:
            continue
        freq = np.bincount(codes[:, v], minlength=len(p)) / len(codes)
        err = max(err, float(np.abs(freq - p).max()))
    return err


def df_codes(df: pd.DataFrame, bn: DiscreteBN) -> np.ndarray:
    """State names of a DataFrame (pgmpy's or genlab's samples) -> int codes in bn's state order."""
    out = np.empty((len(df), bn.n_variables), dtype=np.int64)
    for v, name in enumerate(bn.variables):
        codes = pd.Categorical(df[name].astype(str), categories=bn.states[v]).codes
        if (codes < 0).any():
            raise AssertionError(f"{name}: a sampled value is not one of {bn.states[v]}")
        out[:, v] = codes
    return out


# ======================================================================== 1. structure
def pgmpy_hill_climb(df: pd.DataFrame, api: str):
    if api == "estimators":
        from pgmpy.estimators import HillClimbSearch

        return HillClimbSearch(df).estimate(scoring_method="bic-d", show_progress=False)
    from pgmpy.causal_discovery import HillClimbSearch

    return HillClimbSearch(scoring_method="bic-d", return_type="dag", show_progress=False).fit(df).causal_graph_


def hc_child(args) -> None:
    """One pgmpy process (its own PYTHONHASHSEED): time hill climbing on every network, print JSON."""
    quiet_pgmpy()
    folder = find_data(args.data_dir)
    pgmpy_hill_climb(read_csv(folder, "asia").head(200), args.pgmpy_hc)            # warm-up, untimed
    out = {"hash_seed": os.environ.get("PYTHONHASHSEED"), "networks": {}}
    for net in args.networks:
        df = read_csv(folder, net)
        dt, dag = timed(pgmpy_hill_climb, df, args.pgmpy_hc)
        codec = CategoricalCodec.fit(df)                  # genlab under this hash seed too (untimed): same graph?
        ps = st.hill_climb(codec.encode(df).numpy(), codec.card, score="bic")
        out["networks"][net] = {"s": dt, "edges": [list(e) for e in dag.edges()],
                                "genlab_edges": sorted([codec.columns[p], codec.columns[v]]
                                                       for v, pp in enumerate(ps) for p in pp)}
    print(json.dumps(out))


def run_structure(args, folder: Path) -> dict:
    print(f"\n## 1. Structure learning: hill climbing, BIC, from the empty graph, 10,000 rows; genlab median of "
          f"{args.repeats} in-process runs, pgmpy {args.repeats} subprocesses with PYTHONHASHSEED="
          f"{args.hash_seeds[0]}..{args.hash_seeds[-1]} (pgmpy API: {args.pgmpy_hc})\n", flush=True)
    # genlab, in this process
    warm = read_csv(folder, args.networks[0])
    c = CategoricalCodec.fit(warm)
    st.hill_climb(c.encode(warm).numpy(), c.card, score="bic")                    # warm-up, untimed
    res: dict = {}
    for net in args.networks:
        bn = read_bif(folder / f"{net}.bif")
        df = read_csv(folder, net)
        enc, srch, graphs = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            codec, X = CategoricalCodec.fit_encode(df)
            X = X.numpy()
            t1 = time.perf_counter()
            ps = st.hill_climb(X, codec.card, score="bic")
            t2 = time.perf_counter()
            enc.append(t1 - t0)
            srch.append(t2 - t1)
            graphs.append(ps)
        assert all(g == graphs[0] for g in graphs), f"{net}: genlab's hill climbing gave different graphs"
        assert codec.columns == bn.variables or set(codec.columns) == set(bn.variables)
        learned = parents_from_edges([(codec.columns[p], codec.columns[v]) for v, pp in enumerate(graphs[0])
                                      for p in pp], bn.variables)
        card = [codec.card[codec.columns.index(v)] for v in bn.variables]
        Xb = X[:, [codec.columns.index(v) for v in bn.variables]]                 # columns in BIF order
        cache = st.ScoreCache(Xb, card, "bic")
        true_cp = st.cpdag(bn.parents)
        totals = [a + b for a, b in zip(enc, srch)]

        def figures(ps, true_cp=true_cp, bn=bn, cache=cache):
            return {"shd": st.shd(ps, bn.parents), "cpdag_shd": st.shd(st.cpdag(ps), true_cp),
                    "skeleton_f1": st.skeleton_f1(ps, bn.parents), "bic": cache.total(ps),
                    "n_edges": sum(len(p) for p in ps)}

        res[net] = {"n_nodes": bn.n_variables, "n_arcs": len(bn.edges()),
                    "true": {"bic": cache.total(bn.parents)},
                    "genlab": {"s": statistics.median(totals), "s_all": totals, "encode_s": statistics.median(enc),
                               "search_s": statistics.median(srch), **figures(graphs[0]),
                               "edges": [list(e) for e in DiscreteBN(bn.variables, bn.states, learned).edges()]}}
        res[net]["_figures"] = figures
        print(f"[structure] genlab {net}: {res[net]['genlab']['s']:.3f} s, SHD {res[net]['genlab']['shd']}",
              flush=True)
    # pgmpy, one subprocess per hash seed (each runs every network)
    runs: dict = {net: [] for net in args.networks}
    if pgmpy is not None:
        for seed in args.hash_seeds:
            env = {**os.environ, "PYTHONHASHSEED": str(seed)}
            cmd = [sys.executable, str(Path(__file__).resolve()), "--_hc-child", "--networks", ",".join(args.networks),
                   "--threads", str(args.threads), "--pgmpy-hc", args.pgmpy_hc, "--data-dir", str(folder)]
            print(f"[structure] pgmpy, PYTHONHASHSEED={seed}...", flush=True)
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.child_timeout,
                                      check=False)
            except subprocess.TimeoutExpired:
                print(f"  timed out after {args.child_timeout:.0f} s", flush=True)
                continue
            if proc.returncode != 0:
                print(f"  failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
                continue
            child = json.loads(proc.stdout.strip().splitlines()[-1])
            for net, r in child["networks"].items():
                ge = r.pop("genlab_edges")
                res[net]["genlab"].setdefault("same_graph_under_hash_seeds", True)
                res[net]["genlab"]["same_graph_under_hash_seeds"] &= ge == sorted(res[net]["genlab"]["edges"])
                runs[net].append({"hash_seed": seed, **r})
        from pgmpy.base import DAG
        from pgmpy.metrics import SHD

        for net in args.networks:
            bn = read_bif(folder / f"{net}.bif")
            true_dag = DAG()
            true_dag.add_nodes_from(bn.variables)
            true_dag.add_edges_from(bn.edges())
            for r in runs[net]:
                ps = parents_from_edges(r["edges"], bn.variables)
                r.update(res[net]["_figures"](ps))
                est = DAG()
                est.add_nodes_from(bn.variables)
                est.add_edges_from([tuple(e) for e in r["edges"]])
                r["shd_pgmpy_metric"] = int(SHD()(true_causal_graph=true_dag, est_causal_graph=est))
                if r["shd_pgmpy_metric"] != r["shd"]:
                    print(f"warning: {net} seed {r['hash_seed']}: genlab shd {r['shd']} != pgmpy SHD "
                          f"{r['shd_pgmpy_metric']}", flush=True)
            if runs[net]:
                agg = {k: statistics.median([r[k] for r in runs[net]])
                       for k in ("s", "shd", "cpdag_shd", "skeleton_f1", "bic", "n_edges")}
                agg.update({f"{k}_min": min(r[k] for r in runs[net]) for k in ("s", "shd", "cpdag_shd")})
                agg.update({f"{k}_max": max(r[k] for r in runs[net]) for k in ("s", "shd", "cpdag_shd")})
                agg["distinct_graphs"] = len({json.dumps(sorted(r["edges"])) for r in runs[net]})
                res[net]["pgmpy"] = {**agg, "runs": runs[net]}
                res[net]["pgmpy_over_genlab"] = agg["s"] / res[net]["genlab"]["s"]
                res[net]["pgmpy_over_genlab_search_only"] = agg["s"] / res[net]["genlab"]["search_s"]

    print("\n| network | nodes / arcs | library | runs | s | encode s | SHD | CPDAG-SHD | skel F1 | BIC "
          "| pgmpy s / genlab s | pgmpy s / genlab search s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for net in args.networks:
        r = res[net]
        g = r["genlab"]
        print(f"| {net} | {r['n_nodes']} / {r['n_arcs']} | genlab | {args.repeats} | {g['s']:.4f} | {g['encode_s']:.4f} "
              f"| {g['shd']} | {g['cpdag_shd']} | {g['skeleton_f1']:.3f} | {g['bic']:.1f} "
              f"| {_f(r.get('pgmpy_over_genlab'), '.1f')} | {_f(r.get('pgmpy_over_genlab_search_only'), '.1f')} |")
        if "pgmpy" in r:
            rr = r["pgmpy"]["runs"]
            print(f"| | | pgmpy | {len(rr)} | {_med_range([x['s'] for x in rr], '.3f')} | - "
                  f"| {_med_range([x['shd'] for x in rr], '.0f')} | {_med_range([x['cpdag_shd'] for x in rr], '.0f')} "
                  f"| {_med_range([x['skeleton_f1'] for x in rr], '.3f')} | {r['pgmpy']['bic']:.1f} | | |")
        print(f"| | | true DAG | | | | 0 | 0 | 1.000 | {r['true']['bic']:.1f} | | |")
    print("\n(s: wall-clock seconds per search, median (min-max); genlab's includes encode s, the DataFrame -> "
          "codes step; BIC: nats, higher is better, median over pgmpy's runs; pgmpy s / genlab s: median over "
          "median, encoding included; search s: genlab's hill_climb alone.)")
    if pgmpy is not None:
        print("issue's earlier pgmpy figures: " + "; ".join(f"{n} {ISSUE_PGMPY[n][0]} s SHD {ISSUE_PGMPY[n][1]}"
                                                             for n in args.networks if n in ISSUE_PGMPY))
        distinct = {n: res[n]["pgmpy"]["distinct_graphs"] for n in args.networks if "pgmpy" in res[n]}
        print("distinct pgmpy graphs over the hash seeds: " + ", ".join(f"{n} {k}" for n, k in distinct.items()))
        ok = all(x["shd"] == x["shd_pgmpy_metric"] for n in args.networks for x in runs[n])
        print(f"genlab's structure.shd equals pgmpy.metrics.SHD on every pgmpy graph: {ok}")
        same = all(res[n]["genlab"].get("same_graph_under_hash_seeds", True) for n in args.networks)
        print(f"genlab's graph is the same in the pgmpy subprocesses (PYTHONHASHSEED {args.hash_seeds}) as here: "
              f"{same}")
    for net in args.networks:
        res[net].pop("_figures")
    return res


# ======================================================================== 2. queries
def load_pgmpy_bif(path: Path):
    from pgmpy.readwrite import BIFReader

    model = BIFReader(str(path)).get_model(state_name_type=str)
    for cpd in model.get_cpds():
        cpd.normalize()                     # published tables are rounded: rescale as genlab's reader does
    return model


def make_queries(bn: DiscreteBN, n: int, seed: int, net: str, max_evidence: int) -> list[tuple[int, dict]]:
    rng = np.random.default_rng([seed, zlib.crc32(net.encode())])
    V = bn.n_variables
    out = []
    for _ in range(n):
        row = bn.sample(1, rng)[0]
        q = int(rng.integers(V))
        k = int(rng.integers(1, max_evidence + 1))
        others = [v for v in range(V) if v != q]
        ev = sorted(int(v) for v in rng.choice(others, size=min(k, len(others)), replace=False))
        out.append((q, {v: int(row[v]) for v in ev}))
    return out


def _names(bn: DiscreteBN, ev: dict) -> dict:
    return {bn.variables[v]: bn.states[v][s] for v, s in ev.items()}


def _pg_vec(factor, bn: DiscreteBN, v: int) -> np.ndarray:
    name = bn.variables[v]
    order = [list(factor.state_names[name]).index(s) for s in bn.states[v]]
    return np.asarray(factor.values, dtype=np.float64)[order]


def run_queries(args, folder: Path) -> dict:
    print(f"\n## 2. Exact queries on the true networks: {args.n_queries} queries per network (1 query variable, "
          f"1-{args.max_evidence} evidence variables), each run {args.query_repeats} times; all marginals for "
          f"{args.n_evidence_sets} evidence sets\n", flush=True)
    if pgmpy is not None:
        from pgmpy.inference import VariableElimination
    res: dict = {}
    for net in args.networks:
        print(f"[queries] {net}...", flush=True)
        path = folder / f"{net}.bif"
        t_gl, bn = timed(read_bif, path)
        model = BayesianNetwork.from_bif(path)
        queries = make_queries(bn, args.n_queries, args.seed, net, args.max_evidence)
        r: dict = {"n_queries": len(queries), "genlab_bif_s": t_gl}
        rows = {"genlab": [], "genlab_names": [], "pgmpy": []}
        post = {"genlab": [], "genlab_names": [], "pgmpy": []}
        if pgmpy is not None:
            t_pg, pm = timed(load_pgmpy_bif, path)
            r["pgmpy_bif_s"] = t_pg
            ve = VariableElimination(pm)
        for q, ev in queries:
            evn, qn = _names(bn, ev), bn.variables[q]
            for lib, times in rows.items():
                if lib == "pgmpy" and pgmpy is None:
                    continue
                if lib == "genlab":
                    clear_genlab_caches()
                    call = functools.partial(inf.query, bn, [q], ev)
                elif lib == "genlab_names":
                    clear_genlab_caches()
                    call = functools.partial(model.query, [qn], evidence=evn)
                else:
                    call = functools.partial(ve.query, [qn], evidence=evn, show_progress=False)
                ts = []
                for _ in range(args.query_repeats):
                    dt, out = timed(call)
                    ts.append(dt)
                times.append(ts)
                if lib == "genlab":
                    post[lib].append(np.asarray(out.table))
                elif lib == "genlab_names":
                    post[lib].append(out[qn].to_numpy())
                else:
                    post[lib].append(_pg_vec(out, bn, q))
        for lib, ts in rows.items():
            if not ts:
                continue
            r[lib] = {"first_ms": 1e3 * statistics.median(t[0] for t in ts),
                      "repeat_ms": 1e3 * statistics.median(x for t in ts for x in t[1:]) if args.query_repeats > 1
                      else None}
        r["genlab_names"]["max_abs_diff_vs_genlab"] = max(float(np.abs(a - b).max())
                                                          for a, b in zip(post["genlab_names"], post["genlab"]))
        if pgmpy is not None:
            r["max_abs_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(post["genlab"], post["pgmpy"]))
        # all marginals given evidence
        sets = [ev for _, ev in queries[: args.n_evidence_sets]]
        am: dict = {"genlab": [], "pgmpy": []}
        diff = 0.0
        for ev in sets:
            evn = _names(bn, ev)
            free = [v for v in range(bn.n_variables) if v not in ev]
            clear_genlab_caches()
            ts = []
            for _ in range(args.query_repeats):
                dt, gm = timed(inf.all_marginals, bn, ev)
                ts.append(dt)
            am["genlab"].append(ts)
            if pgmpy is not None:
                ts = []
                for _ in range(args.query_repeats):
                    t0 = time.perf_counter()
                    pr = {v: ve.query([bn.variables[v]], evidence=evn, show_progress=False) for v in free}
                    ts.append(time.perf_counter() - t0)
                am["pgmpy"].append(ts)
                diff = max(diff, max(float(np.abs(_pg_vec(pr[v], bn, v) - gm[v]).max()) for v in free))
        r["all_marginals"] = {lib: {"first_ms": 1e3 * statistics.median(t[0] for t in ts),
                                    "repeat_ms": 1e3 * statistics.median(x for t in ts for x in t[1:])
                                    if args.query_repeats > 1 else None}
                              for lib, ts in am.items() if ts}
        r["all_marginals"]["n_sets"] = len(sets)
        if pgmpy is not None:
            r["all_marginals"]["max_abs_diff"] = diff
            for key in ("first_ms", "repeat_ms"):
                g, p = r["all_marginals"]["genlab"][key], r["all_marginals"]["pgmpy"][key]
                r["all_marginals"][f"pgmpy_over_genlab_{key[:-3]}"] = None if g is None else p / g
                g, p = r["genlab"][key], r["pgmpy"][key]
                r[f"pgmpy_over_genlab_{key[:-3]}"] = None if g is None else p / g
        res[net] = r

    print("\n| network | library | BIF load s | ms / query (1st call) | ms / query (repeat) | pgmpy / genlab (1st) "
          "| pgmpy / genlab (repeat) | max abs diff vs pgmpy |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for net, r in res.items():
        for lib, label in (("genlab", "genlab inference.query"), ("genlab_names", "genlab BayesianNetwork.query"),
                           ("pgmpy", "pgmpy VariableElimination")):
            if lib not in r:
                continue
            x = r[lib]
            bif = r["genlab_bif_s"] if lib == "genlab" else r.get("pgmpy_bif_s") if lib == "pgmpy" else None
            ratio1 = ratio2 = None
            if "pgmpy" in r and lib != "pgmpy":
                ratio1 = r["pgmpy"]["first_ms"] / x["first_ms"]
                ratio2 = r["pgmpy"]["repeat_ms"] / x["repeat_ms"] if x["repeat_ms"] else None
            d = r.get("max_abs_diff") if lib == "genlab" else None
            if lib == "genlab_names" and r.get("max_abs_diff") is not None:
                d = max(r["max_abs_diff"], x["max_abs_diff_vs_genlab"])
            print(f"| {net if lib == 'genlab' else ''} | {label} | {_f(bif, '.3f')} | {x['first_ms']:.3f} "
                  f"| {_f(x['repeat_ms'], '.3f')} | {_f(ratio1, '.1f')} | {_f(ratio2, '.1f')} | {_f(d, '.1e')} |")
    print("\nAll marginals given evidence (every non-evidence variable): genlab inference.all_marginals (one "
          "junction tree) vs pgmpy one VariableElimination query per variable, ms per evidence set, median over "
          "evidence sets\n")
    print("| network | evidence sets | genlab ms (1st) | genlab ms (repeat) | pgmpy ms (1st) | pgmpy ms (repeat) "
          "| pgmpy / genlab (1st) | pgmpy / genlab (repeat) | max abs diff |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for net, r in res.items():
        a = r["all_marginals"]
        g, p = a["genlab"], a.get("pgmpy", {})
        print(f"| {net} | {a['n_sets']} | {g['first_ms']:.3f} | {_f(g['repeat_ms'])} | {_f(p.get('first_ms'), '.2f')} "
              f"| {_f(p.get('repeat_ms'), '.2f')} | {_f(a.get('pgmpy_over_genlab_first'), '.1f')} "
              f"| {_f(a.get('pgmpy_over_genlab_repeat'), '.1f')} | {_f(a.get('max_abs_diff'), '.1e')} |")
    print("\n(1st call: genlab's plan caches cleared first; repeat: the same query again. max abs diff: largest "
          "|posterior - pgmpy's| over all queries and states.)")
    return res


# ======================================================================== 3. parameters
def run_parameters(args, folder: Path) -> dict:
    print(f"\n## 3. Parameter learning: maximum likelihood on the true structure, 10,000 rows, median of "
          f"{args.repeats}\n", flush=True)
    if pgmpy is not None:
        from pgmpy.models import DiscreteBayesianNetwork
        from pgmpy.parameter_estimator import DiscreteMLE
    res: dict = {}
    for net in args.networks:
        print(f"[parameters] {net}...", flush=True)
        bn = read_bif(folder / f"{net}.bif")
        df = read_csv(folder, net)
        enc, fit, pg = [], [], []
        if net == args.networks[0]:                                          # warm-up, untimed
            fit_cpts(CategoricalCodec(bn.variables, bn.states).encode(df).numpy(), bn.card, bn.parents)
            if pgmpy is not None:
                m = DiscreteBayesianNetwork(bn.edges())
                m.add_nodes_from(bn.variables)
                m.fit(df, estimator=DiscreteMLE())
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            X = CategoricalCodec(bn.variables, bn.states).encode(df).numpy()
            t1 = time.perf_counter()
            cpts = fit_cpts(X, bn.card, bn.parents, method="mle")
            t2 = time.perf_counter()
            enc.append(t1 - t0)
            fit.append(t2 - t1)
        r = {"genlab": {"encode_s": statistics.median(enc), "fit_s": statistics.median(fit),
                        "s": statistics.median([a + b for a, b in zip(enc, fit)])}}
        if pgmpy is not None:
            names = {v: list(s) for v, s in zip(bn.variables, bn.states)}
            for _ in range(args.repeats):
                m = DiscreteBayesianNetwork(bn.edges())
                m.add_nodes_from(bn.variables)
                dt, _ = timed(m.fit, df, estimator=DiscreteMLE(state_names=names))
                pg.append(dt)
            r["pgmpy"] = {"s": statistics.median(pg)}
            r["max_abs_diff"] = max(float(np.abs(pgmpy_cpt(m.get_cpds(name), bn, v) - cpts[v]).max())
                                    for v, name in enumerate(bn.variables))
            r["pgmpy_over_genlab"] = r["pgmpy"]["s"] / r["genlab"]["s"]
            r["pgmpy_over_genlab_fit_only"] = r["pgmpy"]["s"] / r["genlab"]["fit_s"]
        res[net] = r
    print("\n| network | genlab encode s | genlab fit_cpts s | genlab total s | pgmpy fit s | pgmpy / genlab (total) "
          "| pgmpy / genlab (fit_cpts) | max abs CPT diff |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for net, r in res.items():
        g = r["genlab"]
        print(f"| {net} | {g['encode_s']:.4f} | {g['fit_s']:.4f} | {g['s']:.4f} | {_f(r.get('pgmpy', {}).get('s'), '.4f')} "
              f"| {_f(r.get('pgmpy_over_genlab'), '.1f')} | {_f(r.get('pgmpy_over_genlab_fit_only'), '.1f')} "
              f"| {_f(r.get('max_abs_diff'), '.1e')} |")
    return res


# ======================================================================== 4. sampling
def pick_evidence(bn: DiscreteBN, seed: int, net: str) -> tuple[dict, float]:
    """Two variables in a forward-sampled joint state with 0.05 <= p(e) <= 0.5 (the first such candidate)."""
    rng = np.random.default_rng([seed, zlib.crc32(net.encode()), 1])
    best = None
    for _ in range(500):
        row = bn.sample(1, rng)[0]
        vs = sorted(int(v) for v in rng.choice(bn.n_variables, size=2, replace=False))
        x = np.full((1, bn.n_variables), -1, dtype=np.int64)
        x[0, vs] = row[vs]
        p = float(np.exp(inf.log_evidence(bn, x)[0]))
        ev = {v: int(row[v]) for v in vs}
        if 0.05 <= p <= 0.5:
            return ev, p
        if best is None or abs(math.log(p / 0.1)) < abs(math.log(best[1] / 0.1)):
            best = (ev, p)
    return best


def samplers(bn: DiscreteBN, model: BayesianNetwork, pm, n: int, ev: dict | None) -> dict:
    """seed -> n rows, per library: genlab codes, genlab DataFrame, pgmpy DataFrame (pm None: no pgmpy)."""
    evn = None if ev is None else _names(bn, ev)

    def genlab_codes(seed):
        rng = np.random.default_rng(seed)
        return bn.sample(n, rng) if ev is None else inf.sample_given_evidence(bn, n, ev, rng, method="exact")

    def genlab_df(seed):
        return model.sample(n, seed=seed, evidence=evn)

    out = {"genlab_codes": genlab_codes, "genlab_df": genlab_df}
    if pm is not None:
        out["pgmpy"] = lambda seed: pm.simulate(n_samples=n, seed=seed, show_progress=False, evidence=evn)
    return out


def run_sampling(args, folder: Path) -> dict:
    n = args.n_samples
    print(f"\n## 4. Sampling {n:,} rows from the true networks: forward, median of {args.repeats}; given evidence, "
          f"median of {args.evidence_repeats}\n", flush=True)
    res: dict = {}
    for net in args.networks:
        print(f"[sampling] {net}...", flush=True)
        path = folder / f"{net}.bif"
        bn = read_bif(path)
        model = BayesianNetwork.from_bif(path)
        exact = inf.all_marginals(bn, {})
        ev, p_ev = pick_evidence(bn, args.seed, net)
        evn = _names(bn, ev)
        exact_ev = inf.all_marginals(bn, ev)
        r: dict = {"evidence": evn, "p_evidence": p_ev, "forward": {}, "evidence_rows": {}}
        pm = load_pgmpy_bif(path) if pgmpy is not None else None
        for key, reps, evid in (("forward", args.repeats, None), ("evidence_rows", args.evidence_repeats, ev)):
            ref = exact if evid is None else exact_ev
            skip = () if evid is None else tuple(ev)
            for lib, fn in samplers(bn, model, pm, n, evid).items():
                with contextlib.redirect_stderr(io.StringIO()):
                    fn(args.seed + 10_000)                                    # warm-up, untimed
                ts, err = [], 0.0
                for i in range(reps):
                    with contextlib.redirect_stderr(io.StringIO()):          # pgmpy's progress / info lines
                        dt, out = timed(fn, args.seed + i)
                    ts.append(dt)
                    codes = out if isinstance(out, np.ndarray) else df_codes(out, bn)
                    if evid is not None:
                        assert all((codes[:, v] == s).all() for v, s in evid.items()), f"{lib}: evidence not kept"
                    err = max(err, marginal_error(codes, ref, skip))
                r[key][lib] = {"s": statistics.median(ts), "max_marginal_error": err}
            if "pgmpy" in r[key]:
                r[key]["pgmpy_over_genlab"] = r[key]["pgmpy"]["s"] / r[key]["genlab_df"]["s"]
        res[net] = r
    print("\n| network | rows | library | forward s | max abs freq - p | given evidence s | max abs freq - p "
          "| pgmpy / genlab (forward) | pgmpy / genlab (evidence) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    labels = {"genlab_codes": "genlab DiscreteBN.sample / sample_given_evidence (codes)",
              "genlab_df": "genlab BayesianNetwork.sample (DataFrame)", "pgmpy": "pgmpy simulate (DataFrame)"}
    for net, r in res.items():
        for lib, label in labels.items():
            if lib not in r["forward"]:
                continue
            f, e = r["forward"][lib], r["evidence_rows"][lib]
            r1 = r["forward"].get("pgmpy_over_genlab") if lib == "genlab_df" else None
            r2 = r["evidence_rows"].get("pgmpy_over_genlab") if lib == "genlab_df" else None
            print(f"| {net if lib == 'genlab_codes' else ''} | {n:,} | {label} | {f['s']:.4f} "
                  f"| {f['max_marginal_error']:.4f} | {e['s']:.4f} | {e['max_marginal_error']:.4f} | {_f(r1, '.1f')} "
                  f"| {_f(r2, '.1f')} |")
    print("\nevidence: " + "; ".join(f"{net} {r['evidence']} (p = {r['p_evidence']:.3f})" for net, r in res.items()))
    print("(max abs freq - p: largest |sampled frequency - exact marginal| over variables and states, given the "
          "evidence for the evidence column; pgmpy's simulate with evidence is rejection sampling.)")
    return res


# ======================================================================== 5. digits
def digits_pgmpy_child(args) -> None:
    """pgmpy's digits run, in a subprocess with a fixed PYTHONHASHSEED (its ties depend on it); prints JSON."""
    quiet_pgmpy()
    from pgmpy.causal_discovery import HillClimbSearch
    from pgmpy.models import DiscreteBayesianNetwork
    from pgmpy.parameter_estimator import DiscreteBayesianEstimator
    from pgmpy.structure_score import BDeu

    data = genlab.datasets.load("digits")
    m = BayesianNetwork(**DIGITS_PARAMS).fit(data.train)                  # genlab's graph, for the score check
    x = data.train.x
    codes = data.train.codec.to_levels(x).reshape(len(x), -1).numpy()      # what genlab's fit counted
    names, states = m.network_.variables, m.network_.states
    df = pd.DataFrame(codes.astype(str), columns=names)                 # strings: pgmpy treats ints as numeric
    sn = {nm: list(s) for nm, s in zip(names, states)}
    score = BDeu(df, equivalent_sample_size=DIGITS_PARAMS["ess"], state_names=sn)
    t0 = time.perf_counter()
    hc = HillClimbSearch(scoring_method=score, max_indegree=DIGITS_PARAMS["max_indegree"], return_type="dag",
                         show_progress=False).fit(df)
    t1 = time.perf_counter()
    pm = DiscreteBayesianNetwork(hc.causal_graph_.edges())
    pm.add_nodes_from(names)
    pm.fit(df, estimator=DiscreteBayesianEstimator(state_names=sn, prior_type="BDeu",
                                                   equivalent_sample_size=DIGITS_PARAMS["ess"]))
    t2 = time.perf_counter()
    edges = [list(e) for e in hc.causal_graph_.edges()]
    g2 = BayesianNetwork(structure="given", edges=edges, **DIGITS_PARAMS).fit(data.train)
    bn2 = g2.network_
    diff = max(float(np.abs(pgmpy_cpt(pm.get_cpds(nm), bn2, v) - bn2.cpts[v]).max())
               for v, nm in enumerate(bn2.variables))
    # pgmpy's BDeu family scores against genlab's, on genlab's graph
    cache = st.ScoreCache(codes, m.network_.card, "bdeu", DIGITS_PARAMS["ess"])
    differ = []
    for v, ps in enumerate(m.network_.parents):
        a, b = cache.local(v, ps), float(score.local_score(names[v], tuple(names[p] for p in ps)))
        if abs(a - b) > 1e-6 * max(1.0, abs(a)):
            differ.append(v)
    unobserved = [len(np.unique(codes[:, v])) < len(states[v]) for v in range(len(names))]
    print(json.dumps({"hash_seed": os.environ.get("PYTHONHASHSEED"), "search_s": t1 - t0, "fit_s": t2 - t0,
                      "edges": edges, "max_abs_cpt_diff_vs_genlab_bdeu": diff,
                      "bdeu_families_differing": len(differ),
                      "differing_all_have_unseen_child_states": all(unobserved[v] for v in differ),
                      "families_with_unseen_child_states": int(sum(unobserved))}))


def run_digits(args) -> dict:
    print("\n## 5. Digits (8x8, 17 grey levels, one variable per pixel): hill climbing with BDeu (ess 100), at most "
          "3 parents, BDeu CPTs; test bits/dim\n", flush=True)
    data = genlab.datasets.load("digits")
    m = BayesianNetwork(**DIGITS_PARAMS)
    dt, _ = timed(m.fit, data.train)
    rep = genlab.evaluate(m, data.test)
    x = data.train.x
    codes = data.train.codec.to_levels(x).reshape(len(x), -1).numpy()
    cache = st.ScoreCache(codes, m.network_.card, "bdeu", DIGITS_PARAMS["ess"])
    res = {"n_train": len(data.train), "n_test": rep["n"], "params": DIGITS_PARAMS,
           "genlab": {"fit_s": dt, "bits_per_dim": rep["bits_per_dim"], "nll_nats": rep["nll_nats"],
                      "nll_nats_sem": rep["nll_nats_sem"], "n_edges": len(m.network_.edges()),
                      "bdeu": cache.total(m.network_.parents)}}
    if pgmpy is not None and not args.skip_digits_pgmpy:
        seed = args.hash_seeds[0]
        print(f"[digits] pgmpy hill climbing, PYTHONHASHSEED={seed} (about 10 s)...", flush=True)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_digits-child", "--threads", str(args.threads)]
        proc = subprocess.run(cmd, env={**os.environ, "PYTHONHASHSEED": str(seed)}, capture_output=True, text=True,
                              timeout=args.child_timeout, check=False)
        if proc.returncode != 0:
            print(f"  failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
        else:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            g2 = BayesianNetwork(structure="given", edges=r["edges"], **DIGITS_PARAMS).fit(data.train)
            rep2 = genlab.evaluate(g2, data.test)
            res["pgmpy"] = {**r, "bits_per_dim": rep2["bits_per_dim"], "nll_nats": rep2["nll_nats"],
                            "nll_nats_sem": rep2["nll_nats_sem"], "n_edges": len(r["edges"]),
                            "bdeu": cache.total(g2.network_.parents)}
            res["shd_genlab_vs_pgmpy"] = st.shd(m.network_.parents, g2.network_.parents)
    print("| library | fit s (structure + CPTs) | edges | BDeu (genlab's scorer) | test NLL nats (s.e.) "
          "| test bits/dim |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for lib in ("genlab", "pgmpy"):
        if lib in res:
            x = res[lib]
            print(f"| {lib} | {x['fit_s']:.2f} | {x['n_edges']} | {x['bdeu']:.1f} | {x['nll_nats']:.2f} "
                  f"({x['nll_nats_sem']:.2f}) | {x['bits_per_dim']:.4f} |")
    if "pgmpy" in res:
        r = res["pgmpy"]
        print(f"\n(train {res['n_train']} / test {res['n_test']} images. pgmpy's CPTs equal genlab's BDeu CPTs on "
              f"pgmpy's graph to {r['max_abs_cpt_diff_vs_genlab_bdeu']:.1e}, and that model is scored by "
              f"genlab.evaluate. SHD between the two learned graphs: {res['shd_genlab_vs_pgmpy']}. pgmpy's BDeu "
              f"local score differs from genlab's on {r['bdeu_families_differing']} of genlab's "
              f"{len(m.network_.variables)} families (all of them pixels with levels that never occur in the "
              f"training split: {r['differing_all_have_unseen_child_states']}; such pixels: "
              f"{r['families_with_unseen_child_states']}): with parents, pgmpy's count table keeps only the "
              "child states seen in the data (get_state_counts(reindex=False)), so each unseen (state, seen parent "
              "configuration) cell misses its +lgamma(ess/(q r)) term and its search optimises another score.)")
    else:
        print(f"\n(train {res['n_train']} / test {res['n_test']} images; BDeu in nats, higher is better.)")
    return res


# ======================================================================== targets
def print_targets(report: dict) -> dict:
    """The issue's targets per network: the figures, and whether each is met (**no** in bold)."""
    s, q, p, sm = (report.get(k) or {} for k in ("structure", "queries", "parameters", "sampling"))
    out, lines = {}, []

    def mark(ok: bool) -> str:
        return "yes" if ok else "**no**"

    for net in report["networks"]:
        t: dict = {}
        cells = {}
        if net in s and "pgmpy" in s[net]:
            g, pg = s[net]["genlab"], s[net]["pgmpy"]
            t["shd_le_pgmpy_median"] = g["shd"] <= pg["shd"]
            t["shd_le_pgmpy_best"] = g["shd"] <= pg["shd_min"]
            t["structure_10x"] = s[net]["pgmpy_over_genlab"] >= 10
            t["structure_10x_search_only"] = s[net]["pgmpy_over_genlab_search_only"] >= 10
            cells["shd"] = (f"{g['shd']} vs {pg['shd']:g} ({pg['shd_min']}-{pg['shd_max']}): "
                            f"{mark(t['shd_le_pgmpy_median'])}")
            cells["structure"] = (f"{s[net]['pgmpy_over_genlab']:.1f}x: {mark(t['structure_10x'])} / "
                                  f"{s[net]['pgmpy_over_genlab_search_only']:.1f}x: {mark(t['structure_10x_search_only'])}")
        if net in q and "max_abs_diff" in q[net]:
            a = q[net]["all_marginals"]
            d = max(q[net]["max_abs_diff"], a["max_abs_diff"])
            t["queries_exact"] = d <= 1e-9
            t["all_marginals_10x"] = a["pgmpy_over_genlab_first"] >= 10
            cells["exact"] = f"{d:.1e}: {mark(t['queries_exact'])}"
            rep_ = a.get("pgmpy_over_genlab_repeat")
            cells["marg"] = (f"{a['pgmpy_over_genlab_first']:.1f}x: {mark(t['all_marginals_10x'])}"
                             + (f" / {rep_:.1f}x" if rep_ is not None else ""))
        if net in p and "pgmpy_over_genlab" in p[net]:
            t["parameters_5x"] = p[net]["pgmpy_over_genlab"] >= 5
            t["parameters_5x_fit_only"] = p[net]["pgmpy_over_genlab_fit_only"] >= 5
            cells["mle"] = (f"{p[net]['pgmpy_over_genlab']:.1f}x: {mark(t['parameters_5x'])} / "
                            f"{p[net]['pgmpy_over_genlab_fit_only']:.1f}x: {mark(t['parameters_5x_fit_only'])}")
        if net in sm and "pgmpy_over_genlab" in sm[net]["forward"]:
            t["sampling_5x"] = sm[net]["forward"]["pgmpy_over_genlab"] >= 5
            cells["sample"] = f"{sm[net]['forward']['pgmpy_over_genlab']:.1f}x: {mark(t['sampling_5x'])}"
        out[net] = t
        lines.append((net, cells))
    heads = {"shd": "SHD genlab vs pgmpy median (range) <=", "structure": "structure >= 10x (with encoding / search)",
             "exact": "queries max abs diff <= 1e-9", "marg": "all marginals >= 10x (1st call / repeat)",
             "mle": "MLE >= 5x (with encoding / fit_cpts)", "sample": "forward sampling >= 5x (DataFrames)"}
    keys = [k for k in heads if any(k in c for _, c in lines)]
    if keys:
        print("\n## Issue targets (pgmpy time / genlab time)\n")
        print("| network | " + " | ".join(heads[k] for k in keys) + " |")
        print("| --- |" + " --- |" * len(keys))
        for net, c in lines:
            print(f"| {net} | " + " | ".join(c.get(k, "-") for k in keys) + " |")
    return out


# ======================================================================== main
def _csv(cast):
    return lambda s: [cast(v) for v in s.split(",") if v]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads of torch and numpy's BLAS (env vars + torch)")
    p.add_argument("--only", type=_csv(str), default=None, help=f"comma list of parts, from {','.join(PARTS)}")
    p.add_argument("--networks", type=_csv(str), default=list(NETWORKS), help="comma list of bnlearn networks")
    p.add_argument("--data-dir", default=None, help="folder of the .bif and _n10000_seed42.csv files")
    p.add_argument("--repeats", type=int, default=5,
                   help="runs per timing (structure: genlab runs and pgmpy subprocesses; parameters; sampling)")
    p.add_argument("--hash-seeds", type=_csv(int), default=None,
                   help="PYTHONHASHSEED of each pgmpy structure run (default 0..repeats-1)")
    p.add_argument("--pgmpy-hc", choices=["causal_discovery", "estimators"], default="causal_discovery",
                   help="pgmpy's hill-climbing API: the current class or the deprecated estimators one")
    p.add_argument("--child-timeout", type=float, default=1800, help="seconds per pgmpy structure subprocess")
    p.add_argument("--n-queries", type=int, default=50)
    p.add_argument("--max-evidence", type=int, default=3, help="most evidence variables per query")
    p.add_argument("--query-repeats", type=int, default=3, help="calls of each query (first call, then repeats)")
    p.add_argument("--n-evidence-sets", type=int, default=10, help="evidence sets for the all-marginals comparison")
    p.add_argument("--n-samples", type=int, default=10_000)
    p.add_argument("--evidence-repeats", type=int, default=3, help="runs of sampling given evidence")
    p.add_argument("--skip-digits-pgmpy", action="store_true", help="digits: genlab only")
    p.add_argument("--seed", type=int, default=0, help="seed of the queries, evidence and samples")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the JSON result here")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: asia and child, 2 repeats, 10 queries run twice, 3 evidence sets, 2 evidence "
                        "repeats, digits without pgmpy")
    p.add_argument("--_hc-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--_digits-child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:  # explicit options win over --quick's values
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
        for name, value in (("networks", ["asia", "child"]), ("repeats", 2), ("n_queries", 10), ("query_repeats", 2),
                            ("n_evidence_sets", 3), ("evidence_repeats", 2), ("skip_digits_pgmpy", True)):
            if "--" + name.replace("_", "-") not in given:
                setattr(args, name, value)
    if args.hash_seeds is None:
        args.hash_seeds = list(range(args.repeats))
    bad = [n for n in (args.only or []) if n not in PARTS]
    if bad:
        p.error(f"unknown parts {bad}; choose from {PARTS}")
    if args.repeats < 1 or args.query_repeats < 1 or args.evidence_repeats < 1:
        p.error("repeats must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    quiet_pgmpy()
    if args._hc_child:
        return hc_child(args)
    if args._digits_child:
        return digits_pgmpy_child(args)
    folder = find_data(args.data_dir)
    parts = args.only or list(PARTS)
    if pgmpy is None:
        print("warning: pgmpy is not installed (pip install -e .[bench]): genlab rows only", flush=True)
    load_before = os.getloadavg()
    if load_before[0] >= 1.0:
        print(f"warning: load average {load_before[0]:.2f} before the run: other processes compete for the cores; "
              "rerun on an idle machine for timings you report.", flush=True)
    t_start = time.perf_counter()
    import networkx

    report: dict = {"benchmark": "bayesnet", "genlab": getattr(genlab, "__version__", None),
                    "pgmpy": getattr(pgmpy, "__version__", None), "numpy": np.__version__, "pandas": pd.__version__,
                    "networkx": networkx.__version__, "torch": torch.__version__, "threads": args.threads,
                    "quick": args.quick, "networks": args.networks, "repeats": args.repeats,
                    "hash_seeds": args.hash_seeds, "pgmpy_hc_api": args.pgmpy_hc, "data_dir": str(folder),
                    "loadavg_before": load_before, "env": {k: os.environ.get(k) for k in THREAD_VARS}}
    print(f"genlab {report['genlab']}, pgmpy {report['pgmpy']}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"{args.threads} threads; networks {', '.join(args.networks)}; data {folder}", flush=True)
    if "structure" in parts:
        report["structure"] = run_structure(args, folder)
    if "queries" in parts:
        report["queries"] = run_queries(args, folder)
    if "parameters" in parts:
        report["parameters"] = run_parameters(args, folder)
    if "sampling" in parts:
        report["sampling"] = run_sampling(args, folder)
    if "digits" in parts:
        report["digits"] = run_digits(args)
    report["targets"] = print_targets(report)
    report["loadavg_after"] = os.getloadavg()
    report["total_s"] = time.perf_counter() - t_start
    print(f"\nload average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in report['loadavg_after'])}; threads {args.threads}; total "
          f"{report['total_s']:.0f} s")
    line = json.dumps(report, default=float)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
