"""Sample-quality metrics on 10,000 vs 10,000 feature vectors: seconds and values, against peers.

Run from the repository root::

    .venv/bin/python benchmarks/metrics.py                 # about 30 s on 2 idle cores with the peers
    .venv/bin/python benchmarks/metrics.py --no-peers      # genlab only
    .venv/bin/python benchmarks/metrics.py --n 50000 --dim 2048 --repeats 1 --json fid.json

Data: ``--n`` (10,000) "real" and ``--n`` "fake" random ``--dim``-D (64) float32 feature
vectors, seed 0: real = z A with z standard normal and A a fixed random matrix (correlated
features), fake = 1.1 (z' A) + 0.05 (a slightly wider, shifted copy), so that every metric is
away from its trivial value.

genlab rows (``genlab.metrics.sample_quality``): ``frechet_distance``, ``kernel_distance``
(100 subsets of 1,000, cubic kernel) and ``precision_recall_density_coverage`` (k=5), each
timed ``--repeats`` (3) times after one untimed warm-up call; median and min seconds, and the
sum of the medians against the issue's target (10 s for the three on 2 threads).

Peer rows, when the library is installed (none is a dependency of genlab; each keeps the
installed torch: ``pip install --dry-run torchmetrics prdc`` lists only ``torchmetrics``,
``lightning-utilities`` and ``prdc``):

- ``scipy sqrtm``: the pytorch-fid / clean-fid formula (``np.cov``, ``scipy.linalg.sqrtm`` of
  ``S1 S2``, real part), always available;
- ``torchmetrics``: ``FrechetInceptionDistance`` and ``KernelInceptionDistance`` with an
  identity feature module (the features go in as they are; its KID computes in the input's
  float32 and reports the std with ddof=0);
- ``prdc``: ``compute_prdc`` (Naeem et al.'s package: full ``sklearn.pairwise_distances``
  matrices, ``n_jobs=8`` hard-coded, strict ``<`` balls).

The value columns show each peer's figure and its difference from genlab's. torchmetrics' KID
draws its subsets with ``torch.randperm`` from the global generator, seeded here with
``torch.manual_seed(0)``: the same draws as genlab's ``seed=0`` generator, so the two KIDs
must agree to float32 rounding (``diff_in_sem``: the difference over genlab's ``kid_sem``).

Threads: ``--threads`` (2) sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` before numpy and torch load, and ``torch.set_num_threads``. The load
average is printed before and after; ``peak RSS`` is ``ru_maxrss`` after the genlab rows (before
any peer runs). The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _set_thread_env(argv: list[str]) -> int:
    """Read --threads before numpy/torch load and pin their pools through the environment."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=2)
    threads = pre.parse_known_args(argv)[0].threads
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    return threads


_set_thread_env(sys.argv[1:])

import numpy as np
import torch

try:
    import genlab  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO / "src"))
from genlab.metrics.sample_quality import (
    frechet_distance,
    kernel_distance,
    precision_recall_density_coverage,
)

TARGET_S = 10.0


def make_features(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    real = rng.normal(size=(n, dim)) @ a
    fake = 1.1 * (rng.normal(size=(n, dim)) @ a) + 0.05
    return real.astype(np.float32), fake.astype(np.float32)


def timed(fn, repeats: int, warmup: bool = True):
    """(result of the last call, list of seconds per timed call)."""
    if warmup:
        fn()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


# ----------------------------------------------------------------------------- peers


def fd_scipy(real: np.ndarray, fake: np.ndarray) -> float:
    """pytorch-fid's calculate_frechet_distance on np.mean / np.cov (N-1), float64."""
    from scipy import linalg

    r, f = real.astype(np.float64), fake.astype(np.float64)
    mu1, mu2 = r.mean(0), f.mean(0)
    s1, s2 = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


class _Identity(torch.nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchmetrics_fns(dim: int, subsets: int, subset_size: int):
    try:
        import torchmetrics
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance
    except ImportError:
        return None, None, None

    def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
        m = FrechetInceptionDistance(feature=_Identity(dim))
        m.update(real, real=True)
        m.update(fake, real=False)
        return float(m.compute())

    def kid(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
        torch.manual_seed(0)
        m = KernelInceptionDistance(feature=_Identity(dim), subsets=subsets, subset_size=subset_size)
        m.update(real, real=True)
        m.update(fake, real=False)
        mean, std = m.compute()
        return float(mean), float(std)

    return torchmetrics.__version__, fid, kid


def prdc_fn():
    try:
        from importlib.metadata import version

        import prdc
    except ImportError:
        return None, None

    def run(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
        with contextlib.redirect_stdout(io.StringIO()):       # it prints "Num real: ..."
            return {key: float(v) for key, v in prdc.compute_prdc(real, fake, nearest_k=k).items()}

    return version("prdc"), run


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="vectors per set")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--subsets", type=int, default=100)
    ap.add_argument("--subset-size", type=int, default=1000)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--json", type=Path, help="also write the JSON line to this file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", module="torchmetrics")   # its KID warns that it buffers features
    load_before = os.getloadavg()
    print(f"n={args.n} vs {args.n}, dim={args.dim}, threads={args.threads} (torch {torch.get_num_threads()}), "
          f"torch {torch.__version__}, load average before {load_before[0]:.2f} {load_before[1]:.2f} "
          f"{load_before[2]:.2f}, cpus {os.cpu_count()}")
    real, fake = make_features(args.n, args.dim)
    real_t, fake_t = torch.from_numpy(real), torch.from_numpy(fake)

    rows = []

    def add(metric, impl, times, values):
        rows.append({"metric": metric, "impl": impl, "median_s": statistics.median(times), "min_s": min(times),
                     "values": values})
        r = rows[-1]
        shown = ", ".join(f"{k}={v:.6g}" for k, v in values.items())
        print(f"  {metric:<5} {impl:<22} {r['median_s']:8.3f} s  (min {r['min_s']:.3f})  {shown}", flush=True)

    print("genlab:")
    fd, t = timed(lambda: frechet_distance(real_t, fake_t), args.repeats)
    add("FD", "genlab", t, {"fd": fd})
    kid, t = timed(lambda: kernel_distance(real_t, fake_t, subsets=args.subsets, subset_size=args.subset_size,
                                           seed=0), args.repeats)
    add("KID", "genlab", t, {k: kid[k] for k in ("kid", "kid_std", "kid_sem")})
    prdc_out, t = timed(lambda: precision_recall_density_coverage(real_t, fake_t, k=args.k), args.repeats)
    add("PRDC", "genlab", t, {k: prdc_out[k] for k in ("precision", "recall", "density", "coverage")})
    total = sum(r["median_s"] for r in rows)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  total of medians {total:.2f} s (target < {TARGET_S:.0f} s: {'met' if total < TARGET_S else 'NOT met'}); "
          f"peak RSS {peak_rss_mb:.0f} MiB")

    skipped = []
    if not args.no_peers:
        print("peers:")
        v, t = timed(lambda: fd_scipy(real, fake), args.repeats, warmup=False)
        add("FD", "scipy sqrtm", t, {"fd": v, "diff": v - fd})
        tm_version, tm_fid, tm_kid = torchmetrics_fns(args.dim, args.subsets, args.subset_size)
        if tm_version is None:
            skipped.append("torchmetrics (not installed)")
        else:
            v, t = timed(lambda: tm_fid(real_t, fake_t), args.repeats, warmup=False)
            add("FD", f"torchmetrics {tm_version}", t, {"fd": v, "diff": v - fd})
            (m, s), t = timed(lambda: tm_kid(real_t, fake_t), args.repeats, warmup=False)
            add("KID", f"torchmetrics {tm_version}", t,
                {"kid": m, "kid_std_ddof0": s, "diff_in_sem": (m - kid["kid"]) / kid["kid_sem"]})
        p_version, p_run = prdc_fn()
        if p_version is None:
            skipped.append("prdc (not installed)")
        else:
            v, t = timed(lambda: p_run(real, fake, args.k), args.repeats, warmup=False)
            add("PRDC", f"prdc {p_version}", t,
                {**v, "max_abs_diff": max(abs(v[k] - prdc_out[k]) for k in v)})
        for name in skipped:
            print(f"  skipped: {name}")

    load_after = os.getloadavg()
    print()
    print("| metric | implementation | median s | min s | values |")
    print("| --- | --- | ---: | ---: | --- |")
    for r in rows:
        shown = ", ".join(f"{k} {v:.6g}" for k, v in r["values"].items())
        print(f"| {r['metric']} | {r['impl']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {shown} |")
    print(f"\ngenlab FD + KID + PRDC: {total:.2f} s (target < {TARGET_S:.0f} s). "
          f"Load average before {load_before[0]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}."
          + ("  Warning: load >= 1 before the run, timings may be inflated." if load_before[0] >= 1 else "")
          + " (The load after includes this run's own threads, and prdc's n_jobs=8.)")
    result = {"benchmark": "sample_quality_metrics", "n": args.n, "dim": args.dim, "threads": args.threads,
              "repeats": args.repeats, "torch": torch.__version__, "load_before": load_before,
              "load_after": load_after, "genlab_total_s": total, "target_s": TARGET_S,
              "peak_rss_mib_genlab": peak_rss_mb, "skipped": skipped, "rows": rows}
    line = json.dumps(result)
    print(line)
    if args.json:
        args.json.write_text(line + "\n")


if __name__ == "__main__":
    main()
