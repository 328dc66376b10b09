"""genlab's HMMs against hmmlearn 0.3.3 and pomegranate 1.1.2, plus scaling and Tiny Shakespeare.

Run from the repository root::

    .venv/bin/python benchmarks/hmm.py                      # (a) Gaussian and (b) categorical comparison
    .venv/bin/python benchmarks/hmm.py --quick              # smoke test of (a) and (b), under a minute
    .venv/bin/python benchmarks/hmm.py --only scale --scale             # (c) 1,000 / 3,000 / 10,000 sequences
    .venv/bin/python benchmarks/hmm.py --only text \\
        --text ../shared/data/tinyshakespeare/input.txt                  # (d) character HMMs, 64 and 256 states
    .venv/bin/python benchmarks/hmm.py --json results/hmm.json          # also write every figure to a file

Protocol of (a) and (b), the same for every library
---------------------------------------------------
- Data: sequences drawn from a known HMM with a fixed seed (``--seed``, 0): 200 training
  and 50 held-out sequences of 500 steps (``--n-train``, ``--n-test``, ``--seq-len``).
  (a) Gaussian, 5 states, 3-D, diagonal covariances: true means ~ N(0, 2^2), variances
  ~ U(0.5, 1.5), transitions 0.7 on the diagonal plus 0.3 x a Dirichlet(1) row.
  (b) Categorical, 10 states, 30 symbols: emission rows ~ Dirichlet(0.2), transitions
  0.6 on the diagonal plus 0.4 x a Dirichlet(1) row. Start probabilities ~ Dirichlet(1).
- Initial parameters, drawn once (seed + 1) and given to every library: start and
  transition rows ~ Dirichlet(1); (a) means = 5 distinct random training observations,
  variances = the training data's variance per feature for every state; (b) emission
  rows ~ Dirichlet(1).
- Exactly ``--iters`` (50) EM iterations: hmmlearn ``n_iter=50, tol=-inf``; pomegranate
  ``max_iter=50`` with ``tol`` set to -inf after construction (its constructor rejects
  negative values); genlab ``max_iter=50, tol=None`` (no early stop; the ``EM it`` column
  shows the M-steps done). genlab takes the initial parameters through its public
  ``startprob_init`` / ``transmat_init`` / ``means_init`` / ``covars_init`` /
  ``emissionprob_init`` arguments. Maximum-likelihood M-steps everywhere: hmmlearn's priors at their
  neutral values (``startprob_prior = transmat_prior = emissionprob_prior = 1``, and
  ``covars_prior=0``: its default 1e-2 would add 1e-2 / (expected count) to every
  variance), genlab ``pseudocount=0`` for (b); variance floors (hmmlearn ``min_covar``
  is used only by its own initialisation, which is switched off; genlab clips at
  ``min_covar=1e-3``) never bind, the variances stay near 1.
- Rows. ``hmmlearn scaling`` / ``hmmlearn log``: ``implementation="scaling"`` / ``"log"``
  (single-threaded C++ recursions). ``pomegranate``: ``DenseHMM`` with ``Normal(
  covariance_type="diag")`` or ``Categorical`` distributions, parameters and data in
  ``--pomegranate-dtype`` (float32, as in the issue) and ``torch.set_num_threads(1)``
  (restored afterwards); pomegranate also learns an end-state probability per state,
  started at 1 (log 0, i.e. no end constraint, so its initial likelihood equals the
  others'), after which its transition rows sum to 1 - p(end). ``genlab numba`` /
  ``genlab torch``: ``backend="numba"`` (compiled kernels, one sequence per thread) /
  ``backend="torch"`` (chunked PyTorch scans), float64.
- Columns. ``fit s``: wall-clock seconds of the ``fit`` call, median (and minimum) of
  ``--repeats`` (3), each from a freshly built model with the same initial parameters;
  the data are given in each library's usual form (hmmlearn and genlab: one concatenated
  array plus ``lengths``; pomegranate: one (n, T, d) tensor), so conversions are timed.
  hmmlearn and pomegranate run 50 E-steps and 50 M-steps; genlab runs 51 E-steps (the
  last scores the final parameters, giving ``lower_bound_`` for free), about 2% more work.
  ``x hl-scaling``: median fit time / hmmlearn scaling's. ``train LL``: total log-likelihood
  (nats) of the training data under the *final* parameters: hmmlearn ``score`` after
  ``fit`` (its ``monitor_.history[-1]`` is one M-step behind), genlab ``lower_bound_``
  (= ``score``), and for pomegranate its fitted start, transition (rows renormalised to
  sum to 1, i.e. its learned end state dropped) and emission parameters, cast to float64,
  copied into an hmmlearn ``implementation="scaling"`` model and scored there (its own
  ``log_probability``, which includes the end state, goes to the JSON as
  ``train_ll_own_with_end``). ``rel diff``: (train LL - hmmlearn scaling's) / |hmmlearn
  scaling's|. ``Viterbi s``: decoding the 50 held-out sequences (hmmlearn ``decode``,
  genlab ``predict``, pomegranate ``viterbi``), median of ``--viterbi-repeats`` (20).
  ``held-out LL``: total log-likelihood of the held-out sequences, scored as train LL.
- Warm-up: before any timing, every library fits a tiny problem twice; the difference
  between the first and second call (numba loading or compiling its kernels, first-use
  imports) is printed on one line and is not in the table.

(c) ``--scale``: the (a) problem on 1,000 / 3,000 / 10,000 sequences of 500 steps, 5 EM
iterations each (``--scale-iters``), genlab numba and hmmlearn scaling, each size and
library in a fresh subprocess (warm-up fit first), reporting seconds per iteration (fit
time / iterations; genlab's fit has one E-step more), seconds per iteration per million
steps (flat if the time grows linearly), and peak resident memory from
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` before the fit (data + imports + warm-up)
and after it.

(d) ``--text PATH``: Tiny Shakespeare, character (byte) ``CategoricalHMM`` with 64 and 256
states (``--text-states``), vocabulary = the sorted set of bytes of the whole file (65),
trained on the first 90% cut into sequences of 200 characters (``--text-seq-len``), scored
on the last 10%: held-out bits/char = -sum log2 p / characters, both with the held-out text
cut into sequences of the same length and as one sequence. genlab ``pseudocount=0.01``
(its default; with 0 a character unseen in training would score -inf), random
Dirichlet(1) initialisation (seed + 2). EM iterations (``--text-iters``, one entry per state
count): by default 30 up to 64 states and ``auto`` above; ``auto`` times a one-iteration fit on
10% of the training sequences, extrapolates to one iteration on all of them, and picks the
most iterations that fit in ``--text-budget`` seconds (600; at most 30, or the first number
given), printing the estimate and the choice.
``--text-hmmlearn`` adds an hmmlearn scaling row (priors 1 + pseudocount, the same MAP
update) for the state counts up to 64.

Threads: ``--threads`` (2) sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``NUMBA_NUM_THREADS`` before numpy, torch and numba load, then
``torch.set_num_threads`` and ``numba.set_num_threads``; pomegranate runs with 1 torch thread
(``--pomegranate-threads``). ``os.getloadavg()`` is recorded before and after. A JSON line
with every figure ends the output; ``--json PATH`` also writes it to a file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _set_thread_env(argv: list[str]) -> int:
    """Read --threads before numpy/torch/numba load and pin their pools through the environment."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=2)
    threads = pre.parse_known_args(argv)[0].threads
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(threads)
    return threads


_set_thread_env(sys.argv[1:])

import numpy as np
import torch

try:
    import genlab  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
from genlab.models.hmm import CategoricalHMM, ConvergenceWarning, GaussianHMM

try:
    import hmmlearn
    from hmmlearn import hmm as hl
except ImportError:  # bench extra missing: the hmmlearn rows are skipped
    hl = hmmlearn = None
try:
    import pomegranate
    from pomegranate.distributions import Categorical as PgCategorical
    from pomegranate.distributions import Normal as PgNormal
    from pomegranate.hmm import DenseHMM
except ImportError:
    pomegranate = None

ROWS = ("hmmlearn-scaling", "hmmlearn-log", "pomegranate", "genlab-numba", "genlab-torch")
LABELS = {"hmmlearn-scaling": "hmmlearn scaling", "hmmlearn-log": "hmmlearn log", "pomegranate": "pomegranate",
          "genlab-numba": "genlab numba", "genlab-torch": "genlab torch"}
REF = "hmmlearn-scaling"


# ======================================================================== data
def _draw(rng: np.random.RandomState, probs: np.ndarray) -> np.ndarray:
    """One index per row of ``probs`` (R, K) by inverse CDF."""
    u = rng.random_sample(len(probs))
    idx = (u[:, None] > np.cumsum(probs, 1)).sum(1)
    return np.minimum(idx, probs.shape[1] - 1)


def sample_states(rng, startprob, transmat, n: int, T: int) -> np.ndarray:
    """(n, T) int64 state paths, all sequences at once."""
    K = len(startprob)
    z = np.empty((n, T), dtype=np.int64)
    z[:, 0] = _draw(rng, np.broadcast_to(startprob, (n, K)))
    for t in range(1, T):
        z[:, t] = _draw(rng, transmat[z[:, t - 1]])
    return z


def _dirichlet_rows(rng, alpha: float, shape) -> np.ndarray:
    return rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1]) if len(shape) > 1 else rng.dirichlet(
        np.full(shape[0], alpha))


def make_problem(kind: str, n_train: int, n_test: int, T: int, seed: int, K: int | None = None) -> dict:
    """Data from a known HMM and the shared initial parameters (see the module docstring)."""
    rng = np.random.RandomState(seed)
    if kind == "gaussian":
        K, D = K or 5, 3
        true = {"startprob": rng.dirichlet(np.ones(K)),
                "transmat": 0.7 * np.eye(K) + 0.3 * rng.dirichlet(np.ones(K), size=K),
                "means": rng.normal(0.0, 2.0, (K, D)), "covars": rng.uniform(0.5, 1.5, (K, D))}
        z = sample_states(rng, true["startprob"], true["transmat"], n_train + n_test, T)
        x = true["means"][z] + np.sqrt(true["covars"][z]) * rng.standard_normal((n_train + n_test, T, D))
    else:
        K, M = K or 10, 30
        true = {"startprob": rng.dirichlet(np.ones(K)),
                "transmat": 0.6 * np.eye(K) + 0.4 * rng.dirichlet(np.ones(K), size=K),
                "emissionprob": rng.dirichlet(np.full(M, 0.2), size=K)}
        z = sample_states(rng, true["startprob"], true["transmat"], n_train + n_test, T)
        x = _draw(rng, true["emissionprob"][z.reshape(-1)]).reshape(n_train + n_test, T)
    train, test = x[:n_train], x[n_train:]
    r = np.random.RandomState(seed + 1)
    init = {"startprob": r.dirichlet(np.ones(K)), "transmat": r.dirichlet(np.ones(K), size=K)}
    if kind == "gaussian":
        flat = train.reshape(-1, train.shape[-1])
        init["means"] = flat[r.choice(len(flat), K, replace=False)].copy()
        init["covars"] = np.tile(flat.var(0), (K, 1))
    else:
        init["emissionprob"] = r.dirichlet(np.ones(M), size=K)
    return {"kind": kind, "K": K, "D": D if kind == "gaussian" else None, "M": M if kind != "gaussian" else None,
            "T": T, "train": train, "test": test, "init": init, "true": true}


def concat(problem: dict, x: np.ndarray, lib: str):
    """(X, lengths) in hmmlearn's/genlab's concatenated form."""
    n, T = x.shape[:2]
    if problem["kind"] == "gaussian":
        X = x.reshape(n * T, -1)
    else:
        X = x.reshape(n * T, 1) if lib == "hmmlearn" else x.reshape(n * T)
    return X, [T] * n


# ======================================================================== genlab
def genlab_model(kind: str, init: dict, max_iter: int, backend: str, tol: float | None = None,
                 pseudocount: float = 0.0, n_symbols: int | None = None):
    """A genlab HMM started from ``init`` (public ``*_init`` arguments); ``tol=None`` runs exactly ``max_iter``."""
    common = {"n_states": len(init["startprob"]), "max_iter": max_iter, "tol": tol,
              "startprob_init": init["startprob"], "transmat_init": init["transmat"], "backend": backend}
    if kind == "gaussian":
        return GaussianHMM(covariance_type="diag", min_covar=1e-3, means_init=init["means"],
                           covars_init=init["covars"], **common)
    return CategoricalHMM(n_symbols=n_symbols or init["emissionprob"].shape[1], pseudocount=pseudocount,
                          emissionprob_init=init["emissionprob"], **common)


def genlab_fit(m, X, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return m.fit(X, lengths)


def genlab_params(m) -> dict:
    keys = ("startprob", "transmat", "means", "covars") if hasattr(m, "means_") else (
        "startprob", "transmat", "emissionprob")
    return {k: getattr(m, k + "_").numpy().copy() for k in keys}


# ======================================================================== hmmlearn
def hmmlearn_model(kind: str, params: dict, n_iter: int, implementation: str, tol: float = -np.inf,
                   prior: float = 1.0):
    """An hmmlearn model holding ``params``, with no initialisation of its own and ML (prior 1) M-steps."""
    K = len(params["startprob"])
    common = {"n_components": K, "n_iter": n_iter, "tol": tol, "init_params": "", "implementation": implementation,
              "startprob_prior": prior, "transmat_prior": prior}
    if kind == "gaussian":
        m = hl.GaussianHMM(covariance_type="diag", covars_prior=0.0, params="stmc", **common)
        m.means_ = np.array(params["means"], dtype=np.float64)
        m.covars_ = np.array(params["covars"], dtype=np.float64)
    else:
        m = hl.CategoricalHMM(n_features=params["emissionprob"].shape[1], emissionprob_prior=prior, params="ste",
                              **common)
        m.emissionprob_ = np.array(params["emissionprob"], dtype=np.float64)
    m.startprob_ = np.array(params["startprob"], dtype=np.float64)
    m.transmat_ = np.array(params["transmat"], dtype=np.float64)
    return m


def hmmlearn_params(m) -> dict:
    out = {"startprob": m.startprob_.copy(), "transmat": m.transmat_.copy()}
    if isinstance(m, hl.GaussianHMM):
        out["means"], out["covars"] = m.means_.copy(), m._covars_.copy()
    else:
        out["emissionprob"] = m.emissionprob_.copy()
    return out


def hmmlearn_score(kind: str, params: dict, X, lengths) -> float:
    """Total log-likelihood of (X, lengths) under ``params``, by hmmlearn's scaled forward pass."""
    return float(hmmlearn_model(kind, params, 1, "scaling").score(X, lengths))


# ======================================================================== pomegranate
def pomegranate_model(kind: str, init: dict, max_iter: int, dtype: torch.dtype):
    def t(a):  # a copy: pomegranate updates its parameters in place, and must not write into `init`
        return torch.tensor(np.array(a), dtype=dtype)

    K = len(init["startprob"])
    if kind == "gaussian":
        dists = [PgNormal(means=t(init["means"][k]), covs=t(init["covars"][k]), covariance_type="diag")
                 for k in range(K)]
    else:
        dists = [PgCategorical(probs=t(init["emissionprob"][k : k + 1])) for k in range(K)]
    m = DenseHMM(dists, edges=t(init["transmat"]), starts=t(init["startprob"]), ends=torch.ones(K, dtype=dtype),
                 max_iter=max_iter, tol=0.0)
    m.tol = float("-inf")  # the constructor rejects tol < 0; -inf makes it run exactly max_iter iterations
    # every pomegranate module has a float32 `_device` parameter, and the HMM takes its working dtype
    # from its first parameter: cast the whole model so that float64 really computes in float64
    return m.to(dtype)


def pomegranate_data(problem: dict, x: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    if problem["kind"] == "gaussian":
        return torch.as_tensor(x, dtype=dtype)
    return torch.as_tensor(x, dtype=torch.int64)[..., None]


def pomegranate_params(m) -> dict:
    """Fitted start / transition / emission parameters in float64; transition rows renormalised (end state dropped)."""
    with torch.no_grad():
        start = m.starts.detach().double().exp().numpy()
        edges = m.edges.detach().double().exp().numpy()
        out = {"startprob": start / start.sum(), "transmat": edges / edges.sum(1, keepdims=True),
               "p_end": m.ends.detach().double().exp().numpy()}
        d0 = m.distributions[0]
        if hasattr(d0, "means"):
            out["means"] = np.stack([d.means.detach().double().numpy() for d in m.distributions])
            out["covars"] = np.stack([d.covs.detach().double().numpy() for d in m.distributions])
        else:
            out["emissionprob"] = np.stack([d.probs.detach().double().numpy()[0] for d in m.distributions])
    return out


class torch_threads:
    """Run a block with ``n`` torch threads and restore the previous count afterwards."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        self.prev = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.prev)


# ======================================================================== (a), (b)
def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def run_row(row: str, problem: dict, args) -> dict:
    """Fit ``--repeats`` times from the shared initial parameters, then score and decode."""
    kind, init, iters = problem["kind"], problem["init"], args.iters
    Xtr_h, len_tr = concat(problem, problem["train"], "hmmlearn")
    Xte_h, len_te = concat(problem, problem["test"], "hmmlearn")
    Xtr_g, _ = concat(problem, problem["train"], "genlab")
    Xte_g, _ = concat(problem, problem["test"], "genlab")
    res: dict = {"fit_s": [], "viterbi_s": []}
    if row.startswith("hmmlearn"):
        impl = row.split("-")[1]
        res["dtype"] = "float64"
        for _ in range(args.repeats):
            m = hmmlearn_model(kind, init, iters, impl)
            dt, _ = _timed(lambda m=m: m.fit(Xtr_h, len_tr))
            res["fit_s"].append(dt)
        res["n_iter"] = int(m.monitor_.iter)
        res["train_ll"] = float(m.score(Xtr_h, len_tr))
        res["test_ll"] = float(m.score(Xte_h, len_te))
        for _ in range(args.viterbi_repeats):
            dt, (_, paths) = _timed(lambda: m.decode(Xte_h, len_te, algorithm="viterbi"))
            res["viterbi_s"].append(dt)
        res["_paths"] = np.asarray(paths).reshape(len(len_te), -1)
        res["_params"] = hmmlearn_params(m)
    elif row.startswith("genlab"):
        backend = row.split("-")[1]
        res["dtype"] = "float64"
        for _ in range(args.repeats):
            m = genlab_model(kind, init, iters, backend)
            dt, _ = _timed(lambda m=m: genlab_fit(m, Xtr_g, len_tr))
            res["fit_s"].append(dt)
        res["n_iter"] = int(m.n_iter_)
        res["train_ll"] = float(m.lower_bound_)
        res["train_ll_score"] = float(m.score(Xtr_g, len_tr))
        res["test_ll"] = float(m.score(Xte_g, len_te))
        for _ in range(args.viterbi_repeats):
            dt, paths = _timed(lambda: m.predict(Xte_g, len_te))
            res["viterbi_s"].append(dt)
        res["_paths"] = torch.stack(paths).numpy()
        res["_params"] = genlab_params(m)
    elif row == "pomegranate":
        dtype = getattr(torch, args.pomegranate_dtype)
        res["dtype"], res["torch_threads"] = args.pomegranate_dtype, args.pomegranate_threads
        Xtr_p, Xte_p = pomegranate_data(problem, problem["train"], dtype), pomegranate_data(problem, problem["test"], dtype)
        with torch_threads(args.pomegranate_threads):
            for _ in range(args.repeats):
                m = pomegranate_model(kind, init, iters, dtype)
                dt, _ = _timed(lambda m=m: m.fit(Xtr_p))
                res["fit_s"].append(dt)
            with torch.no_grad():
                for _ in range(args.viterbi_repeats):
                    dt, paths = _timed(lambda: m.viterbi(Xte_p))
                    res["viterbi_s"].append(dt)
                res["train_ll_own_with_end"] = float(m.log_probability(Xtr_p).double().sum())
        res["n_iter"] = iters  # pomegranate does not report it; with tol=-inf it runs max_iter iterations
        params = pomegranate_params(m)
        res["p_end"] = params.pop("p_end").tolist()
        res["_params"] = params
        res["_paths"] = paths.numpy()
        if hl is not None:  # scored without the end state, by hmmlearn (see the docstring)
            res["train_ll"] = hmmlearn_score(kind, params, Xtr_h, len_tr)
            res["test_ll"] = hmmlearn_score(kind, params, Xte_h, len_te)
    res["fit_s_median"] = statistics.median(res["fit_s"])
    res["fit_s_min"] = min(res["fit_s"])
    res["viterbi_s_median"] = statistics.median(res["viterbi_s"])
    return res


def warm_up(rows: list[str], args) -> dict:
    """Fit a tiny problem twice per library; returns seconds of (first call, second call)."""
    out = {}
    for kind in ("gaussian", "categorical"):
        tiny = make_problem(kind, 20, 0, 50, args.seed + 100)
        tiny["test"] = tiny["train"][:4]  # scored too, so every code path runs once
        a = argparse.Namespace(**{**vars(args), "iters": 3, "repeats": 1, "viterbi_repeats": 1})
        for row in rows:
            first = run_row(row, tiny, a)["fit_s"][0]
            second = run_row(row, tiny, a)["fit_s"][0]
            out.setdefault(row, [0.0, 0.0])
            out[row][0] += first
            out[row][1] += second
    return out


def _f(v, spec):
    return "-" if v is None else format(v, spec)


def compare(kind: str, rows: list[str], args) -> dict:
    p = make_problem(kind, args.n_train, args.n_test, args.seq_len, args.seed)
    desc = (f"Gaussian, {p['K']} states, {p['D']}-D, diagonal covariance" if kind == "gaussian"
            else f"categorical, {p['K']} states, {p['M']} symbols")
    print(f"\n## ({'a' if kind == 'gaussian' else 'b'}) {desc}: {args.n_train} train / {args.n_test} held-out "
          f"sequences of {args.seq_len} steps, {args.iters} EM iterations, fit time median of {args.repeats}, "
          f"Viterbi median of {args.viterbi_repeats}\n", flush=True)
    res = {}
    for row in rows:
        print(f"[{kind}] {LABELS[row]}...", flush=True)
        res[row] = run_row(row, p, args)
    true_train = hmmlearn_score(kind, p["true"], *concat(p, p["train"], "hmmlearn")) if hl else None
    true_test = hmmlearn_score(kind, p["true"], *concat(p, p["test"], "hmmlearn")) if hl else None
    ref = res.get(REF)
    print()
    print(f"| library | dtype | fit s (median) | fit s (min) | x hl-scaling | EM it | train LL | rel diff vs hl-scaling "
          f"| Viterbi s ({args.n_test} seqs) | held-out LL | Viterbi = hl-scaling |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row, r in res.items():
        if ref is not None:
            r["time_vs_hmmlearn_scaling"] = r["fit_s_median"] / ref["fit_s_median"]
            if r.get("train_ll") is not None:
                r["train_ll_rel_diff"] = (r["train_ll"] - ref["train_ll"]) / abs(ref["train_ll"])
                r["test_ll_rel_diff"] = (r["test_ll"] - ref["test_ll"]) / abs(ref["test_ll"])
            r["viterbi_agreement"] = float((r["_paths"] == ref["_paths"]).mean())
        print(f"| {LABELS[row]} | {r['dtype']} | {r['fit_s_median']:.3f} | {r['fit_s_min']:.3f} "
              f"| {_f(r.get('time_vs_hmmlearn_scaling'), '.2f')} | {r['n_iter']} | {_f(r.get('train_ll'), '.3f')} "
              f"| {_f(r.get('train_ll_rel_diff'), '+.1e')} | {r['viterbi_s_median']:.4f} "
              f"| {_f(r.get('test_ll'), '.3f')} | {_f(r.get('viterbi_agreement'), '.4f')} |")
    if true_train is not None:
        print(f"\ntrue (generating) parameters: train LL {true_train:.3f}, held-out LL {true_test:.3f}")
    if "pomegranate" in res:
        r = res["pomegranate"]
        print(f"pomegranate: train LL with its learned end state (its own log_probability) "
              f"{r['train_ll_own_with_end']:.3f}; p(end) per state {np.round(r['p_end'], 5).tolist()}")
    short = [LABELS[k] for k, r in res.items() if r["n_iter"] != args.iters]
    if short:
        print(f"warning: {', '.join(short)} stopped before {args.iters} iterations (a step lost log-likelihood "
              "or the library ignored tol=-inf); their times are not comparable.")
    return {"problem": {"kind": kind, "n_states": p["K"], "n_features": p["D"], "n_symbols": p["M"],
                        "n_train": args.n_train, "n_test": args.n_test, "seq_len": args.seq_len, "iters": args.iters,
                        "seed": args.seed, "true_train_ll": true_train, "true_test_ll": true_test},
            "rows": {k: {kk: vv for kk, vv in r.items() if not kk.startswith("_")} for k, r in res.items()}}


# ======================================================================== (c) scale
def scale_child(args) -> None:
    """One size, one library, in this (fresh) process: prints one JSON line."""
    lib, n = args.scale_lib, args.scale_n
    p = make_problem("gaussian", n, 0, args.seq_len, args.seed)
    if lib == "genlab":
        X, lengths = concat(p, p["train"], "genlab")
        make = lambda iters: genlab_model("gaussian", p["init"], iters, args.scale_backend)
        fit = genlab_fit
    else:
        X, lengths = concat(p, p["train"], "hmmlearn")
        make = lambda iters: hmmlearn_model("gaussian", p["init"], iters, "scaling")
        fit = lambda m, X, lengths: m.fit(X, lengths)
    del p["train"]
    w = max(1, min(n, 20))
    fit(make(2), X[: w * args.seq_len], lengths[:w])  # warm-up: numba kernels load / compile here
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    m = make(args.scale_iters)
    t0 = time.perf_counter()
    fit(m, X, lengths)
    dt = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_iter = int(m.n_iter_) if lib == "genlab" else int(m.monitor_.iter)
    print(json.dumps({"lib": lib, "n_seq": n, "steps": n * args.seq_len, "fit_s": dt, "n_iter": n_iter,
                      "rss_before_fit_mb": rss_before / 1024, "rss_peak_mb": rss_after / 1024}))


def run_scale(args) -> dict:
    print(f"\n## (c) scaling: the (a) Gaussian problem (5 states, 3-D diag) on "
          f"{', '.join(map(str, args.scale_sizes))} sequences of {args.seq_len} steps, {args.scale_iters} EM "
          f"iterations each, one fresh subprocess per size and library (warm-up fit first), {args.threads} threads\n",
          flush=True)
    out = []
    for n in args.scale_sizes:
        for lib in args.scale_libs:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--_scale-child", "--scale-lib", lib,
                   "--scale-n", str(n), "--threads", str(args.threads), "--seq-len", str(args.seq_len),
                   "--seed", str(args.seed), "--scale-iters", str(args.scale_iters),
                   "--scale-backend", args.scale_backend]
            print(f"[scale] {lib} {n} sequences...", flush=True)
            try:
                proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=args.scale_timeout)
            except subprocess.TimeoutExpired:
                print(f"  {lib} {n}: over --scale-timeout {args.scale_timeout} s, skipped", flush=True)
                out.append({"lib": lib, "n_seq": n, "timed_out": True})
                continue
            if proc.returncode != 0:
                print(f"  {lib} {n}: failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}", flush=True)
                out.append({"lib": lib, "n_seq": n, "error": proc.stderr[-2000:]})
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["s_per_iter"] = r["fit_s"] / r["n_iter"]
            r["s_per_iter_per_million_steps"] = r["s_per_iter"] / (r["steps"] / 1e6)
            out.append(r)
    label = {"genlab": f"genlab {args.scale_backend}", "hmmlearn": "hmmlearn scaling"}
    print("\n| library | sequences | steps | EM it | fit s | s / iteration | s / iteration / 10^6 steps "
          "| peak RSS before fit (MB) | peak RSS after fit (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in out:
        if "fit_s" not in r:
            print(f"| {label[r['lib']]} | {r['n_seq']} | - | - | {'timeout' if r.get('timed_out') else 'error'} "
                  f"| - | - | - | - |")
            continue
        print(f"| {label[r['lib']]} | {r['n_seq']} | {r['steps']:,} | {r['n_iter']} | {r['fit_s']:.2f} "
              f"| {r['s_per_iter']:.3f} | {r['s_per_iter_per_million_steps']:.3f} | {r['rss_before_fit_mb']:.0f} "
              f"| {r['rss_peak_mb']:.0f} |")
    linear = {}
    for lib in args.scale_libs:
        per = [r["s_per_iter_per_million_steps"] for r in out if r["lib"] == lib and "fit_s" in r]
        if len(per) > 1:
            linear[lib] = max(per) / min(per)
            print(f"{label[lib]}: s/iteration per million steps ranges {min(per):.3f}-{max(per):.3f} "
                  f"(max/min {linear[lib]:.2f}; 1.00 = exactly linear growth)")
    print("(s / iteration = fit s / EM iterations; genlab's fit runs one E-step more than its M-steps, hmmlearn's "
          "as many E-steps as M-steps.)")
    return {"iters": args.scale_iters, "seq_len": args.seq_len, "backend": args.scale_backend, "runs": out,
            "max_over_min_s_per_million_steps": linear}


# ======================================================================== (d) text
def load_text(path: str, max_chars: int | None):
    raw = Path(path).read_bytes()
    if max_chars:
        raw = raw[:max_chars]
    data = np.frombuffer(raw, dtype=np.uint8)
    vocab = np.unique(data)
    lut = np.full(256, -1, dtype=np.int64)
    lut[vocab] = np.arange(len(vocab))
    return lut[data], len(vocab)


def cut(codes: np.ndarray, L: int) -> tuple[np.ndarray, list[int]]:
    lengths = [L] * (len(codes) // L) + ([len(codes) % L] if len(codes) % L else [])
    return codes, lengths


def run_text(args) -> dict:
    codes, V = load_text(args.text, args.text_max_chars)
    n90 = int(0.9 * len(codes))
    train, test = codes[:n90], codes[n90:]
    L = args.text_seq_len
    Xtr, len_tr = cut(train, L)
    Xte, len_te = cut(test, L)
    print(f"\n## (d) Tiny Shakespeare ({args.text}): {len(codes):,} characters, vocabulary {V}; train the first "
          f"{len(train):,} ({len(len_tr)} sequences of <= {L}), held-out the last {len(test):,}; genlab backend "
          f"{args.text_backend}, pseudocount {args.text_pseudocount}, {args.threads} threads\n", flush=True)
    if args.text_iters is None:  # 30 up to 64 states, measured ("auto") above
        iters_spec = ["30" if K <= 64 else "auto" for K in args.text_states]
    else:
        iters_spec = list(args.text_iters) + [args.text_iters[-1]] * (len(args.text_states) - len(args.text_iters))
    cap = next((int(s) for s in iters_spec if s != "auto"), 30)
    # warm-up: the numba kernels load (or compile) here, not inside the probe or the first fit
    genlab_fit(genlab_model("categorical", {"startprob": np.full(2, 0.5), "transmat": np.full((2, 2), 0.5),
                                            "emissionprob": np.full((2, V), 1.0 / V)}, 2, args.text_backend,
                            pseudocount=args.text_pseudocount, n_symbols=V), Xtr[:100], [50, 50])
    rows = []
    for K, spec in zip(args.text_states, iters_spec):
        r = np.random.RandomState(args.seed + 2)
        init = {"startprob": r.dirichlet(np.ones(K)), "transmat": r.dirichlet(np.ones(K), size=K),
                "emissionprob": r.dirichlet(np.ones(V), size=K)}
        rec = {"n_states": K}
        if spec == "auto":
            n_probe = max(1, len(len_tr) // 10)
            probe = genlab_model("categorical", init, 1, args.text_backend, pseudocount=args.text_pseudocount,
                                 n_symbols=V)
            n_steps = sum(len_tr[:n_probe])
            dt, _ = _timed(lambda probe=probe, n_steps=n_steps, n_probe=n_probe:
                           genlab_fit(probe, Xtr[:n_steps], len_tr[:n_probe]))
            per_iter = dt / 2 * (len(len_tr) / n_probe)  # fit(max_iter=1) = 2 E-steps + 1 M-step
            iters = int(max(1, min(cap, args.text_budget // per_iter - 1)))
            rec.update({"probe_sequences": n_probe, "probe_s": dt, "est_s_per_iter": per_iter})
            print(f"{K} states: one EM iteration estimated at {per_iter:.1f} s (probe: max_iter=1 on {n_probe} of "
                  f"{len(len_tr)} sequences took {dt:.1f} s), so max_iter = {iters} to finish within "
                  f"~{args.text_budget:.0f} s (--text-budget; cap {cap})", flush=True)
        else:
            iters = int(spec)
            print(f"{K} states: max_iter = {iters}", flush=True)
        libs = ["genlab"] + (["hmmlearn"] if args.text_hmmlearn and hl is not None and K <= 64 else [])
        for lib in libs:
            print(f"[text] {lib}, {K} states, {iters} EM iterations...", flush=True)
            if lib == "genlab":
                m = genlab_model("categorical", init, iters, args.text_backend, pseudocount=args.text_pseudocount,
                                 n_symbols=V)
                dt, _ = _timed(lambda m=m: genlab_fit(m, Xtr, len_tr))
                n_iter, train_ll = int(m.n_iter_), float(m.lower_bound_)
                test_chunks = float(m.score(Xte, len_te))
                test_one = float(m.score(Xte, [len(Xte)]))
            else:
                m = hmmlearn_model("categorical", init, iters, "scaling", prior=1.0 + args.text_pseudocount)
                dt, _ = _timed(lambda m=m: m.fit(Xtr[:, None], len_tr))
                n_iter = int(m.monitor_.iter)
                train_ll = float(m.score(Xtr[:, None], len_tr))
                test_chunks = float(m.score(Xte[:, None], len_te))
                test_one = float(m.score(Xte[:, None], [len(Xte)]))
            row = {**rec, "lib": lib, "max_iter": iters, "n_iter": n_iter, "fit_s": dt, "s_per_iter": dt / n_iter,
                   "train_bits_per_char": -train_ll / (len(train) * math.log(2)),
                   "test_bits_per_char": -test_chunks / (len(test) * math.log(2)),
                   "test_bits_per_char_one_sequence": -test_one / (len(test) * math.log(2))}
            rows.append(row)
    print(f"\n| library | states | EM it | fit s | s / iteration | train bits/char | held-out bits/char "
          f"({L}-char sequences) | held-out bits/char (one sequence) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['lib']} | {r['n_states']} | {r['n_iter']} | {r['fit_s']:.1f} | {r['s_per_iter']:.2f} "
              f"| {r['train_bits_per_char']:.4f} | {r['test_bits_per_char']:.4f} "
              f"| {r['test_bits_per_char_one_sequence']:.4f} |")
    print("(s / iteration = fit s / EM iterations; genlab's fit runs one E-step more than its M-steps.)")
    return {"path": args.text, "n_chars": len(codes), "vocab": V, "n_train_chars": len(train),
            "n_test_chars": len(test), "seq_len": L, "pseudocount": args.text_pseudocount,
            "backend": args.text_backend, "rows": rows}


# ======================================================================== main
def _csv(cast):
    return lambda s: [cast(v) for v in s.split(",") if v]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads of genlab (torch, numba) and numpy")
    p.add_argument("--only", type=_csv(str), default=None,
                   help="comma list of parts to run: gaussian, categorical, scale, text (default: gaussian and "
                        "categorical, plus scale with --scale and text with --text)")
    p.add_argument("--rows", type=_csv(str), default=list(ROWS), help=f"rows of (a) and (b), from {','.join(ROWS)}")
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--n-test", type=int, default=50)
    p.add_argument("--seq-len", type=int, default=500)
    p.add_argument("--iters", type=int, default=50, help="EM iterations in (a) and (b)")
    p.add_argument("--repeats", type=int, default=3, help="fits per row; the table shows the median")
    p.add_argument("--viterbi-repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pomegranate-dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--pomegranate-threads", type=int, default=1)
    p.add_argument("--scale", action="store_true", help="run (c)")
    p.add_argument("--scale-sizes", type=_csv(int), default=[1000, 3000, 10000])
    p.add_argument("--scale-iters", type=int, default=5)
    p.add_argument("--scale-libs", type=_csv(str), default=["genlab", "hmmlearn"])
    p.add_argument("--scale-backend", choices=["numba", "torch"], default="numba")
    p.add_argument("--scale-timeout", type=float, default=1800, help="seconds per subprocess")
    p.add_argument("--text", default=None, metavar="PATH", help="run (d) on this text file (Tiny Shakespeare)")
    p.add_argument("--text-states", type=_csv(int), default=[64, 256])
    p.add_argument("--text-iters", type=_csv(str), default=None,
                   help="EM iterations per entry of --text-states, or 'auto' (fit --text-budget); "
                        "default 30 up to 64 states, auto above")
    p.add_argument("--text-budget", type=float, default=600, help="seconds for an 'auto' fit")
    p.add_argument("--text-seq-len", type=int, default=200)
    p.add_argument("--text-pseudocount", type=float, default=0.01)
    p.add_argument("--text-backend", choices=["numba", "torch"], default="numba")
    p.add_argument("--text-hmmlearn", action="store_true", help="add an hmmlearn row for <= 64 states")
    p.add_argument("--text-max-chars", type=int, default=None, help="use only the first N characters (tests)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the JSON result here")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 20 train / 10 held-out sequences, 5 iterations, 1 repeat, 3 Viterbi repeats")
    p.add_argument("--_scale-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--scale-lib", default="genlab", help=argparse.SUPPRESS)
    p.add_argument("--scale-n", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:  # explicit options win over --quick's values
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]) if a.startswith("--")}
        for name, value in (("n_train", 20), ("n_test", 10), ("iters", 5), ("repeats", 1), ("viterbi_repeats", 3)):
            if "--" + name.replace("_", "-") not in given:
                setattr(args, name, value)
    bad = [r for r in args.rows if r not in ROWS]
    if bad:
        p.error(f"unknown rows {bad}; choose from {ROWS}")
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    import numba
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    if args._scale_child:
        return scale_child(args)
    parts = args.only or (["gaussian", "categorical"] + (["scale"] if args.scale else [])
                          + (["text"] if args.text else []))
    if "text" in parts and not args.text:
        sys.exit("--only text needs --text PATH (e.g. ../shared/data/tinyshakespeare/input.txt)")
    rows = [r for r in args.rows if not ((r.startswith("hmmlearn") and hl is None)
                                         or (r == "pomegranate" and pomegranate is None))]
    if len(rows) < len(args.rows):
        print(f"warning: skipping {sorted(set(args.rows) - set(rows))} (library not installed: pip install -e .[bench])")
    load_before = os.getloadavg()
    if load_before[0] >= 1.0:
        print(f"warning: load average {load_before[0]:.2f} before the run: other processes compete for the cores; "
              "compare the min column, or rerun on an idle machine.", flush=True)
    t_start = time.perf_counter()
    report: dict = {"benchmark": "hmm", "torch": torch.__version__, "numba": numba.__version__,
                    "hmmlearn": getattr(hmmlearn, "__version__", None),
                    "pomegranate": getattr(pomegranate, "__version__", None), "threads": args.threads,
                    "pomegranate_threads": args.pomegranate_threads, "pomegranate_dtype": args.pomegranate_dtype,
                    "quick": args.quick, "loadavg_before": load_before,
                    "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                           "NUMBA_NUM_THREADS", "OMP_WAIT_POLICY",
                                                           "NUMBA_THREADING_LAYER", "GENLAB_HMM_BACKEND")},
                    "numba_threading_layer": None}
    if "gaussian" in parts or "categorical" in parts:
        warm = warm_up(rows, args)
        print("first-call overhead (tiny Gaussian + categorical fits, first call - second call): "
              + ", ".join(f"{LABELS[r]} {a - b:.2f} s ({a:.2f} then {b:.2f})" for r, (a, b) in warm.items()),
              flush=True)
        report["first_call"] = {r: {"first_s": a, "second_s": b} for r, (a, b) in warm.items()}
        for kind in ("gaussian", "categorical"):
            if kind in parts:
                report[kind] = compare(kind, rows, args)
    if "scale" in parts:
        report["scale"] = run_scale(args)
    if "text" in parts:
        report["text"] = run_text(args)
    try:
        report["numba_threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel kernel ran
        pass
    report["loadavg_after"] = os.getloadavg()
    report["total_s"] = time.perf_counter() - t_start
    print(f"\nload average before {tuple(round(v, 2) for v in load_before)}, after "
          f"{tuple(round(v, 2) for v in report['loadavg_after'])}; threads {args.threads} (pomegranate "
          f"{args.pomegranate_threads}); total {report['total_s']:.0f} s")
    line = json.dumps(report, default=float)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
