"""Sample-quality metrics: compare generated samples with real data, no likelihood needed.

Every function takes plain arrays (torch tensors or numpy arrays) and returns plain
Python floats, or a dict of them, so the results go straight into a JSON line.

Feature-based metrics take ``(N, D)`` float feature vectors of real and generated
examples (e.g. the 64-D features of a fixed feature network); arrays with more than
two dimensions, such as ``(N, C, H, W)`` images, are flattened to ``(N, C*H*W)``.
All arithmetic is in float64 on the CPU, whatever the input dtype or device. Units:
distances are in the units of the features (Euclidean), FD in squared feature units.

- :func:`frechet_distance`, :func:`frechet_distance_gaussians`: the Fréchet distance
  between Gaussians fitted to two feature sets (FID when the features are Inception's);
- :func:`kernel_distance`: kernel (MMD) distance with the cubic polynomial kernel (KID);
- :func:`precision_recall_density_coverage`: k-NN manifold precision / recall
  (Kynkäänniemi et al. 2019) and density / coverage (Naeem et al. 2020);
- :func:`classifier_two_sample_test`: held-out accuracy of a real-vs-fake classifier;
- :func:`memorization`: nearest-neighbour distances of samples to the training and
  test sets, and the share of near-copies of training examples;
- :func:`class_histogram`: spread of the predicted classes of samples (mode collapse);
- :func:`ngram_novelty`: share of character n-grams of text samples unseen in training.

Randomised metrics take ``seed`` and give the same figures for the same seed.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from genlab.exceptions import DataError, InvalidParameterError
from genlab.utils.random import as_generator

__all__ = [
    "class_histogram",
    "classifier_two_sample_test",
    "frechet_distance",
    "frechet_distance_gaussians",
    "kernel_distance",
    "memorization",
    "ngram_novelty",
    "precision_recall_density_coverage",
]

# Entries of one block of a pairwise-distance matrix (float64): 2**21 = 16 MiB. Blocks that stay
# near the caches are faster than larger ones (10,000 x 10,000 PRDC on 2 cores: 0.9 s against
# 1.6 s with 64 MiB blocks).
_BLOCK_ELEMENTS = 2**21


# --------------------------------------------------------------------------- input checks


_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _as_features(x: Any, what: str, min_n: int = 1) -> torch.Tensor:
    """``x`` as a float64 CPU tensor of shape ``(N, D)`` (trailing dimensions flattened)."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
    else:
        try:
            t = torch.as_tensor(np.asarray(x))
        except (TypeError, ValueError) as err:
            raise DataError(f"{what} could not be converted to a numeric array: {err}") from None
    if t.dtype == torch.bool or t.is_complex() or not (t.is_floating_point() or t.dtype in _INT_DTYPES):
        raise DataError(f"{what} must hold real numbers; got dtype {t.dtype}.")
    if t.ndim < 2:
        raise DataError(
            f"{what} must be an (N, D) array of N feature vectors; got shape {tuple(t.shape)} "
            "(reshape a single vector to (1, D), or N scalars to (N, 1))."
        )
    if t.shape[0] < min_n:
        raise DataError(f"{what} has {t.shape[0]} vectors; this metric needs at least {min_n}.")
    t = t.reshape(t.shape[0], -1).to(torch.float64)
    if t.shape[1] == 0:
        raise DataError(f"{what} has no features (shape {tuple(t.shape)}).")
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).nonzero()[0].tolist()
        raise DataError(f"{what} contains NaN or infinite values (first at index {tuple(bad)}).")
    return t


def _same_dim(*named: tuple[str, torch.Tensor]) -> None:
    dims = {name: t.shape[1] for name, t in named}
    if len(set(dims.values())) > 1:
        shown = ", ".join(f"{name} has {d}" for name, d in dims.items())
        raise DataError(f"The feature dimensions differ ({shown}); compare features of one extractor.")


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidParameterError(f"{name} must be an int >= {low}; got {value!r}.")
    return int(value)


def _check_fraction(value: Any, name: str, closed: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    ok = ok and (0.0 <= value <= 1.0 if closed else 0.0 < value < 1.0)
    if not ok:
        interval = "[0, 1]" if closed else "(0, 1)"
        raise InvalidParameterError(f"{name} must be a float in {interval}; got {value!r}.")
    return float(value)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}.")
    return int(seed)


# --------------------------------------------------------------------------- distances


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(1)


def _sq_dist_block(
    a: torch.Tensor, a_sq: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor, buf: torch.Tensor
) -> torch.Tensor:
    """Squared Euclidean distances ``(len(a), len(b))`` by ``|a|^2 + |b|^2 - 2 a.b`` (one GEMM), in ``buf``."""
    d2 = torch.addmm(b_sq.unsqueeze(0), a, b.T, alpha=-2.0, out=buf[: len(a)])
    d2 += a_sq.unsqueeze(1)
    return d2.clamp_min_(0.0)


def _row_blocks(n_rows: int, n_cols: int, chunk_size: int | None) -> tuple[Iterable[tuple[int, int]], torch.Tensor]:
    """Row ranges of the blocks, and one float64 buffer for a block (reused: repeated large
    allocations make glibc's per-thread arenas grow the resident memory by hundreds of MiB)."""
    step = min(chunk_size or max(1, _BLOCK_ELEMENTS // max(n_cols, 1)), max(n_rows, 1))
    blocks = [(i, min(i + step, n_rows)) for i in range(0, n_rows, step)]
    return blocks, torch.empty(step, n_cols, dtype=torch.float64)


def _knn_sq_radii(x: torch.Tensor, k: int, chunk_size: int | None = None) -> torch.Tensor:
    """Squared distance of each row of ``x`` to its k-th nearest other row (itself excluded)."""
    n = len(x)
    x_sq = _sq_norms(x)
    out = torch.empty(n, dtype=torch.float64)
    blocks, buf = _row_blocks(n, n, chunk_size)
    for i0, i1 in blocks:
        d2 = _sq_dist_block(x[i0:i1], x_sq[i0:i1], x, x_sq, buf)
        idx = torch.arange(i1 - i0)
        d2[idx, idx + i0] = math.inf                      # leave the point itself out
        out[i0:i1] = d2.topk(k, dim=1, largest=False).values[:, k - 1]
    return out


def _nearest(x: torch.Tensor, y: torch.Tensor, chunk_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance and index of the nearest row of ``y`` for each row of ``x``.

    The neighbour is found on GEMM distances; its distance is then recomputed from the
    difference vector, so an exact copy gives exactly 0 (the GEMM form
    ``|a|^2 + |b|^2 - 2 a.b`` can leave a rounding residue).
    """
    y_sq = _sq_norms(y)
    x_sq = _sq_norms(x)
    idx = torch.empty(len(x), dtype=torch.int64)
    blocks, buf = _row_blocks(len(x), len(y), chunk_size)
    for i0, i1 in blocks:
        d2 = _sq_dist_block(x[i0:i1], x_sq[i0:i1], y, y_sq, buf)
        idx[i0:i1] = d2.argmin(1)
    dist = (x - y[idx]).norm(dim=1)
    return dist, idx


def _nearest_other(rows: torch.Tensor, y: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
    """Distance from ``y[rows]`` to the nearest *other* row of ``y`` (leave-one-out)."""
    y_sq = _sq_norms(y)
    x = y[rows]
    x_sq = y_sq[rows]
    idx = torch.empty(len(rows), dtype=torch.int64)
    blocks, buf = _row_blocks(len(rows), len(y), chunk_size)
    for i0, i1 in blocks:
        d2 = _sq_dist_block(x[i0:i1], x_sq[i0:i1], y, y_sq, buf)
        d2[torch.arange(i1 - i0), rows[i0:i1]] = math.inf
        idx[i0:i1] = d2.argmin(1)
    return (x - y[idx]).norm(dim=1)


# --------------------------------------------------------------------------- Fréchet distance


def _mean_cov(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu = x.mean(0)
    xc = x - mu
    return mu, (xc.T @ xc) / (len(x) - 1)


def _sym_sqrt(s: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix (negative rounding eigenvalues -> 0)."""
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp_min(0.0).sqrt()) @ v.T


def _frechet(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    s1 = (s1 + s1.T) / 2
    s2 = (s2 + s2.T) / 2
    r1 = _sym_sqrt(s1)
    m = r1 @ s2 @ r1                                   # similar to S1 S2, symmetric PSD
    eig = torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0.0)
    tr_sqrt = eig.sqrt().sum()
    diff = mu1 - mu2
    fd = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2.0 * tr_sqrt
    return max(float(fd), 0.0)


def frechet_distance(real: Any, fake: Any) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    ``||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))`` with the sample means and the
    unbiased (``N - 1``) sample covariances, as pytorch-fid and clean-fid compute them.
    ``Tr (S_r S_f)^(1/2)`` is the sum of the square roots of the eigenvalues of the symmetric
    PSD matrix ``S_r^(1/2) S_f S_r^(1/2)`` (similar to ``S_r S_f``), with rounding-level
    negative eigenvalues clipped to 0: no complex parts, no ill-conditioned ``sqrtm``.

    Parameters
    ----------
    real, fake : array-like of shape (N_real, D) and (N_fake, D)
        Feature vectors (torch or numpy), at least 2 of each; more than D of each for a
        full-rank covariance (FID uses tens of thousands for D = 2048).

    Returns
    -------
    float
        The distance, in squared feature units, >= 0; 0 for identical sets.

    Raises
    ------
    DataError
        On fewer than 2 vectors, different D, or NaN/infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 3))
    >>> round(frechet_distance(x, x), 9)
    0.0
    >>> round(frechet_distance(x, x + [1.0, 2.0, 0.0]), 9)   # a shift adds its squared length
    5.0
    """
    r = _as_features(real, "real", min_n=2)
    f = _as_features(fake, "fake", min_n=2)
    _same_dim(("real", r), ("fake", f))
    mu1, s1 = _mean_cov(r)
    mu2, s2 = _mean_cov(f)
    return _frechet(mu1, s1, mu2, s2)


def frechet_distance_gaussians(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``, computed as in
    :func:`frechet_distance` (which applies it to sample means and covariances).

    Parameters
    ----------
    mu1, mu2 : array-like of shape (D,)
        Means.
    sigma1, sigma2 : array-like of shape (D, D)
        Covariances: symmetric positive semi-definite (the symmetric part is used).

    Returns
    -------
    float
        The distance, >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> frechet_distance_gaussians(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
    2.0
    >>> round(frechet_distance_gaussians([0.0], [[1.0]], [0.0], [[4.0]]), 12)   # (2 - 1)^2
    1.0
    """
    m1 = _as_features(np.atleast_2d(np.asarray(mu1, dtype=float)), "mu1")[0]
    m2 = _as_features(np.atleast_2d(np.asarray(mu2, dtype=float)), "mu2")[0]
    s1 = _as_features(sigma1, "sigma1")
    s2 = _as_features(sigma2, "sigma2")
    d = len(m1)
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if s.shape != (d, d):
            raise DataError(f"{name} must have shape ({d}, {d}) to match the means; got {tuple(s.shape)}.")
    if len(m2) != d:
        raise DataError(f"mu1 and mu2 differ in length ({d} and {len(m2)}).")
    return _frechet(m1, s1, m2, s2)


# --------------------------------------------------------------------------- KID


def _kernel_sums(a: torch.Tensor, b: torch.Tensor, off_diagonal: bool, buf: torch.Tensor) -> torch.Tensor:
    """Per batch, the sum of ``(a_i . b_j / D + 1)^3`` over all ``i, j`` (``i != j`` if ``off_diagonal``)."""
    one = torch.ones((), dtype=a.dtype)
    k = torch.baddbmm(one, a, b.transpose(1, 2), alpha=1.0 / a.shape[2], out=buf[: len(a)]).pow_(3)
    sums = k.sum((1, 2))
    if off_diagonal:
        sums -= k.diagonal(dim1=1, dim2=2).sum(1)
    return sums


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """Unbiased MMD^2, cubic polynomial kernel (Binkowski et al.; torch-fidelity's form), per batch.

    ``x``, ``y``: ``(B, m, D)``, B subsets of m vectors; ``buf``: ``(>= B, m, m)`` scratch;
    returns ``(B,)``.
    """
    m = x.shape[1]
    within = _kernel_sums(x, x, True, buf) + _kernel_sums(y, y, True, buf)
    return within / (m * (m - 1)) - 2.0 * _kernel_sums(x, y, False, buf) / (m * m)


def kernel_distance(
    real: Any, fake: Any, *, subsets: int = 100, subset_size: int = 1000, seed: int | torch.Generator = 0
) -> dict[str, float]:
    """Kernel distance (KID, Binkowski et al. 2018): MMD^2 with a cubic polynomial kernel.

    The kernel is ``k(x, y) = (x . y / D + 1)^3``. For each of ``subsets`` random subsets of
    ``m = subset_size`` real and ``m`` fake vectors (each drawn without replacement), the
    unbiased estimator

        ``MMD^2 = sum_{i!=j} k(x_i, x_j) / (m (m-1)) + sum_{i!=j} k(y_i, y_j) / (m (m-1))
        - 2 sum_{i,j} k(x_i, y_j) / m^2``

    is computed; KID is its mean over the subsets, as in torch-fidelity and the authors'
    code. It is unbiased, so it can be slightly negative when both sets come from one
    distribution. Each subset takes the first m of ``torch.randperm`` of the real set, then of
    the fake set, from the seeded generator: the draws of torchmetrics'
    ``KernelInceptionDistance`` after ``torch.manual_seed(seed)``. Defaults on 10,000 + 10,000
    64-D vectors: about 0.5 s on 2 cores.

    Parameters
    ----------
    real, fake : array-like of shape (N_real, D) and (N_fake, D)
        Feature vectors, at least 2 of each.
    subsets : int, default 100
        Number of random subsets.
    subset_size : int, default 1000
        Vectors per subset from each set, capped at ``min(N_real, N_fake)``.
    seed : int or torch.Generator, default 0
        Draws of the subsets.

    Returns
    -------
    dict
        ``kid``: mean MMD^2 over subsets (squared kernel units; Inception-feature KIDs are
        often quoted x1000); ``kid_std``: standard deviation over subsets (ddof=1;
        torch-fidelity's ``kernel_inception_distance_std`` uses ddof=0); ``kid_sem``:
        ``kid_std / sqrt(subsets)``, the standard error over subsets; ``subsets``,
        ``subset_size`` (after the cap).

        ``kid_sem`` measures the noise of the subset draws only. The subsets overlap and
        are drawn from one finite sample each, so it leaves out the sampling noise of the
        sets themselves, which is of the order of the s.e. of one estimate on all
        ``min(N_real, N_fake)`` vectors: treat it as a lower bound when comparing models,
        and ``kid_sem`` is 0 when ``subset_size`` covers both sets whole.

    Raises
    ------
    DataError
        On fewer than 2 vectors, different D, or NaN/infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> out = kernel_distance(rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) + 1.0, subset_size=200)
    >>> out["kid"] > 10 * out["kid_sem"]
    True
    """
    subsets = _check_int(subsets, "subsets", 1)
    subset_size = _check_int(subset_size, "subset_size", 2)
    r = _as_features(real, "real", min_n=2)
    f = _as_features(fake, "fake", min_n=2)
    _same_dim(("real", r), ("fake", f))
    gen = as_generator(seed)
    m = min(subset_size, len(r), len(f))
    draws = [(torch.randperm(len(r), generator=gen)[:m], torch.randperm(len(f), generator=gen)[:m])
             for _ in range(subsets)]
    batch = min(subsets, max(1, 2**20 // (m * m)))   # subsets per batched GEMM: <= 8 MiB, cache-sized
    buf = torch.empty(batch, m, m, dtype=torch.float64)
    values = torch.cat([
        _mmd2_unbiased(r[torch.stack([ir for ir, _ in draws[b : b + batch]])],
                       f[torch.stack([jf for _, jf in draws[b : b + batch]])], buf)
        for b in range(0, subsets, batch)
    ])
    std = float(values.std(unbiased=True)) if subsets > 1 else float("nan")
    return {
        "kid": float(values.mean()),
        "kid_std": std,
        "kid_sem": std / math.sqrt(subsets),
        "subsets": subsets,
        "subset_size": m,
    }


# --------------------------------------------------------------------------- PRDC


def precision_recall_density_coverage(
    real: Any, fake: Any, *, k: int = 5, chunk_size: int | None = None
) -> dict[str, float]:
    """k-NN precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020).

    Each real vector ``x_i`` gets the ball ``B(x_i, r_i)`` whose radius ``r_i`` is the distance
    to its k-th nearest neighbour among the *other* real vectors; each fake vector ``y_j``
    likewise gets ``B(y_j, s_j)`` from the fake set. Balls are closed (``<=``, as in
    Kynkäänniemi et al.; Naeem et al.'s ``prdc`` package uses ``<``, which differs only on
    exact ties). With ``N`` real and ``M`` fake vectors:

    - ``precision`` = share of fake vectors inside at least one real ball (fidelity);
    - ``recall`` = share of real vectors inside at least one fake ball (diversity);
    - ``density`` = ``(1 / (k M)) * sum_j #{i : y_j in B(x_i, r_i)}``: like precision but
      counting the real balls, ~1 when the fake set follows the real distribution, can exceed 1;
    - ``coverage`` = share of real vectors whose ball holds at least one fake vector.

    Distances are computed in float64 in blocks of rows (16 MiB each, or ``chunk_size`` rows
    if given), so 10,000 x 10,000 vectors take three passes of 10^8 distances, little memory
    and about 1 s on 2 cores for D = 64.

    Parameters
    ----------
    real, fake : array-like of shape (N, D) and (M, D)
        Feature vectors, at least ``k + 1`` of each.
    k : int, default 5
        Neighbour defining the radii (Naeem et al. recommend 5).
    chunk_size : int, optional
        Rows per block of the distance matrices (memory control; results do not depend on it).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``density``, ``coverage`` (floats), and ``k``, ``n_real``,
        ``n_fake``.

    Raises
    ------
    DataError
        On fewer than ``k + 1`` vectors in a set, different D, or NaN/infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 2))
    >>> out = precision_recall_density_coverage(x, x, k=3)
    >>> out["precision"], out["recall"], out["coverage"]
    (1.0, 1.0, 1.0)
    """
    k = _check_int(k, "k", 1)
    if chunk_size is not None:
        chunk_size = _check_int(chunk_size, "chunk_size", 1)
    r = _as_features(real, "real", min_n=k + 1)
    f = _as_features(fake, "fake", min_n=k + 1)
    _same_dim(("real", r), ("fake", f))
    r_rad2 = _knn_sq_radii(r, k, chunk_size)
    f_rad2 = _knn_sq_radii(f, k, chunk_size)
    r_sq, f_sq = _sq_norms(r), _sq_norms(f)
    fake_in_count = torch.zeros(len(f), dtype=torch.int64)     # real balls holding each fake
    real_in_fake = torch.zeros(len(r), dtype=torch.bool)       # real inside some fake ball
    real_covered = torch.zeros(len(r), dtype=torch.bool)       # real ball holds some fake
    blocks, buf = _row_blocks(len(r), len(f), chunk_size)
    for i0, i1 in blocks:
        d2 = _sq_dist_block(r[i0:i1], r_sq[i0:i1], f, f_sq, buf)
        inside_real = d2 <= r_rad2[i0:i1].unsqueeze(1)
        fake_in_count += inside_real.sum(0, dtype=torch.int32)     # int32: 10x faster than bool -> int64
        real_covered[i0:i1] = inside_real.any(1)
        real_in_fake[i0:i1] = (d2 <= f_rad2.unsqueeze(0)).any(1)
    return {
        "precision": float((fake_in_count > 0).double().mean()),
        "recall": float(real_in_fake.double().mean()),
        "density": float(fake_in_count.double().mean()) / k,
        "coverage": float(real_covered.double().mean()),
        "k": k,
        "n_real": len(r),
        "n_fake": len(f),
    }


# --------------------------------------------------------------------------- C2ST


def classifier_two_sample_test(
    real: Any,
    fake: Any,
    *,
    seed: int = 0,
    test_fraction: float = 0.5,
    classifier: str = "mlp",
) -> dict[str, Any]:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017): can a classifier tell fake from real?

    The larger set is subsampled to the size ``n`` of the smaller one (balanced classes),
    each class is split at random into ``test_fraction`` held-out and the rest for training,
    features are standardised on the training part, and a classifier is trained on it. Its
    accuracy on the held-out part is ~0.5 when the two sets are indistinguishable and up to 1
    when they are separated. ``p_value`` is the one-sided binomial test of that accuracy
    against chance: ``P(X >= correct)`` for ``X ~ Binomial(n_test, 1/2)``.

    Parameters
    ----------
    real, fake : array-like of shape (N_real, D) and (N_fake, D)
        Feature vectors (or flattened examples), at least 4 of each.
    seed : int, default 0
        Subsampling, split and classifier initialisation.
    test_fraction : float in (0, 1), default 0.5
        Share of each class held out for the accuracy.
    classifier : {"mlp", "logistic"}, default "mlp"
        ``"mlp"``: scikit-learn ``MLPClassifier`` with one hidden layer of 64 ReLU units, L2
        penalty 1e-3, Adam until the training loss stops improving (at most 300 epochs; no
        early stopping, which on small sets can stop at chance); it detects differences in
        spread and shape too (about 1-2 s for 10,000 + 10,000 64-D vectors); ``"logistic"``: ``LogisticRegression`` (a linear boundary: sees mainly a
        difference of means).

    Returns
    -------
    dict
        ``accuracy`` (held-out, in [0, 1]), ``n_test``, ``n_train``, ``p_value``,
        ``classifier``.

    Raises
    ------
    DataError
        On fewer than 4 vectors in a set, different D, or NaN/infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> out = classifier_two_sample_test(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 5,
    ...                                  classifier="logistic")
    >>> out["accuracy"], out["n_test"], out["p_value"] < 1e-30
    (1.0, 200, True)
    """
    seed = _check_seed(seed)
    test_fraction = _check_fraction(test_fraction, "test_fraction")
    if classifier not in ("mlp", "logistic"):
        raise InvalidParameterError(f"classifier must be one of 'mlp', 'logistic'; got {classifier!r}.")
    r = _as_features(real, "real", min_n=4)
    f = _as_features(fake, "fake", min_n=4)
    _same_dim(("real", r), ("fake", f))
    from scipy.stats import binomtest
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(r), len(f))
    n_test = round(test_fraction * n)
    if n_test < 1 or n - n_test < 2:
        raise DataError(
            f"test_fraction={test_fraction} of {n} vectors per class leaves {n_test} to test and "
            f"{n - n_test} to train; give more vectors or a test_fraction nearer 0.5."
        )
    parts = []
    for x in (r.numpy(), f.numpy()):
        perm = rng.permutation(len(x))[:n]
        parts.append((x[perm[:n_test]], x[perm[n_test:]]))
    x_test = np.concatenate([parts[0][0], parts[1][0]])
    x_train = np.concatenate([parts[0][1], parts[1][1]])
    y_test = np.repeat([1, 0], n_test)
    y_train = np.repeat([1, 0], n - n_test)
    scaler = StandardScaler().fit(x_train)
    if classifier == "mlp":
        model = MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=300, random_state=seed)
    else:
        model = LogisticRegression(max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(scaler.transform(x_train), y_train)
    correct = int((model.predict(scaler.transform(x_test)) == y_test).sum())
    n_total = 2 * n_test
    return {
        "accuracy": correct / n_total,
        "n_test": n_total,
        "n_train": 2 * (n - n_test),
        "p_value": float(binomtest(correct, n_total, 0.5, alternative="greater").pvalue),
        "classifier": classifier,
    }


# --------------------------------------------------------------------------- memorization


def memorization(
    samples: Any,
    train: Any,
    test: Any,
    *,
    quantile: float = 0.01,
    threshold: float | None = None,
    max_reference: int = 5000,
    seed: int | torch.Generator = 0,
) -> dict[str, Any]:
    """Does the model copy its training data? Nearest-neighbour distances of the samples.

    For each sample ``s`` (Euclidean distance, on raw pixels or on features):

    - ``d_train(s)`` = distance to the nearest training example;
    - ``d_test(s)`` = distance to the nearest test (held-out) example;
    - ``ratio(s) = d_train(s) / d_test(s)`` (``inf`` when only ``d_test`` is 0, 1 when both are).

    A model that generalises places its samples no closer to the training examples than to
    unseen ones from the same distribution, so with **train and test sets of equal size** the
    median ratio is about 1 and about half of the samples are closer to the training set;
    a median well below 1 means samples sit near training examples. (With a larger training
    set the nearest training example is closer by chance: subsample it to the test size.)

    A sample is a **near-copy** when ``d_train(s) <= threshold``: by default ``threshold`` is
    the ``quantile`` (1%) quantile of the leave-one-out nearest-neighbour distances *within*
    the training set (each training example to the nearest *other* one), i.e. the sample is
    closer to a training example than all but 1% of training examples are to each other.
    Exact copies (``d_train = 0``) always count. Fresh draws from the data distribution are
    near-copies at about the rate ``quantile`` (a little more or less with the set sizes).

    Parameters
    ----------
    samples : array-like of shape (M, D) or (M, ...)
        Generated examples; images are flattened.
    train, test : array-like of shape (N_train, D) and (N_test, D)
        Training and held-out examples in the same representation; ``train`` needs 2 or more.
    quantile : float in [0, 1], default 0.01
        Quantile of the training set's leave-one-out NN distances used as ``threshold``.
    threshold : float, optional
        Absolute distance to use instead (``quantile`` is then ignored).
    max_reference : int, default 5000
        Training examples (drawn at random) whose leave-one-out NN distance (to the whole
        training set) estimates the quantile; all of them when there are fewer. Bounds the
        cost at ``max_reference x N_train`` distances.
    seed : int or torch.Generator, default 0
        Draw of those reference examples.

    Returns
    -------
    dict
        ``median_ratio``, ``fraction_closer_to_train`` (share with ``ratio < 1``),
        ``near_copy_fraction``, ``n_near_copies``, ``near_copy_indices`` (list of sample
        indices), ``threshold``, ``median_d_train``, ``median_d_test``, ``n_samples``.

    Raises
    ------
    DataError
        On empty sets, fewer than 2 training examples, different D, or NaN/infinite values.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train, test = rng.normal(size=(300, 5)), rng.normal(size=(300, 5))
    >>> out = memorization(train[:20], train, test)     # 20 copies of training examples
    >>> out["near_copy_fraction"], out["median_ratio"]
    (1.0, 0.0)
    """
    quantile = _check_fraction(quantile, "quantile", closed=True)
    max_reference = _check_int(max_reference, "max_reference", 1)
    if threshold is not None and not (
        isinstance(threshold, numbers.Real) and not isinstance(threshold, bool) and threshold >= 0
    ):
        raise InvalidParameterError(f"threshold must be a float >= 0 or None; got {threshold!r}.")
    s = _as_features(samples, "samples")
    tr = _as_features(train, "train", min_n=2)
    te = _as_features(test, "test")
    _same_dim(("samples", s), ("train", tr), ("test", te))
    d_train, _ = _nearest(s, tr)
    d_test, _ = _nearest(s, te)
    if threshold is None:
        if len(tr) > max_reference:
            rows = torch.randperm(len(tr), generator=as_generator(seed))[:max_reference]
        else:
            rows = torch.arange(len(tr))
        loo = _nearest_other(rows, tr)
        threshold = float(torch.quantile(loo, quantile))
    threshold = float(threshold)
    safe = torch.where(d_test > 0, d_test, torch.ones_like(d_test))
    ratio = torch.where(d_test > 0, d_train / safe, torch.where(d_train > 0, math.inf, 1.0))
    near = d_train <= threshold
    return {
        "median_ratio": float(np.median(ratio.numpy())),
        "fraction_closer_to_train": float((ratio < 1).double().mean()),
        "near_copy_fraction": float(near.double().mean()),
        "n_near_copies": int(near.sum()),
        "near_copy_indices": near.nonzero().flatten().tolist(),
        "threshold": threshold,
        "median_d_train": float(d_train.median()),
        "median_d_test": float(d_test.median()),
        "n_samples": len(s),
    }


# --------------------------------------------------------------------------- class histogram


def class_histogram(labels: Any, n_classes: int) -> dict[str, Any]:
    """Histogram and entropy of the predicted classes of samples (mode collapse / coverage).

    Parameters
    ----------
    labels : array-like of shape (N,) of ints, or (N, n_classes) of scores
        Predicted class of each sample in ``0 .. n_classes - 1``, or class scores
        (probabilities or logits) whose argmax is taken.
    n_classes : int
        Number of classes K (>= 2); classes never predicted count as 0.

    Returns
    -------
    dict
        ``histogram`` (list of K shares summing to 1), ``counts`` (list of K ints),
        ``entropy_bits`` (``-sum p log2 p``, 0 log 0 = 0; ``log2 K`` when uniform),
        ``normalized_entropy`` (``entropy_bits / log2 K`` in [0, 1]), ``n_missing``
        (classes never predicted), ``max_share``, ``n``.

    Raises
    ------
    DataError
        On an empty input, non-integer labels or labels outside ``0 .. n_classes - 1``.

    Examples
    --------
    >>> out = class_histogram([0, 1, 2, 3, 0, 1, 2, 3], 4)
    >>> out["entropy_bits"], out["normalized_entropy"], out["n_missing"]
    (2.0, 1.0, 0)
    >>> class_histogram([1, 1, 1], 3)["entropy_bits"]
    0.0
    """
    n_classes = _check_int(n_classes, "n_classes", 2)
    t = labels.detach().cpu() if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    if t.ndim == 2:
        if t.shape[1] != n_classes:
            raise DataError(f"labels of shape {tuple(t.shape)} must have n_classes={n_classes} columns of scores.")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise DataError("labels (class scores) contain NaN or infinite values.")
        t = t.argmax(1)
    if t.ndim != 1 or len(t) == 0:
        raise DataError(f"labels must be a non-empty (N,) array of class indices; got shape {tuple(t.shape)}.")
    if t.is_floating_point():
        if not torch.isfinite(t).all() or (t != t.round()).any():
            raise DataError("labels must be integer class indices; got non-integer values.")
        t = t.long()
    elif t.dtype == torch.bool or t.dtype not in _INT_DTYPES:
        raise DataError(f"labels must be integer class indices; got dtype {t.dtype}.")
    t = t.long()
    if int(t.min()) < 0 or int(t.max()) >= n_classes:
        raise DataError(f"labels must lie in 0..{n_classes - 1}; got values from {int(t.min())} to {int(t.max())}.")
    counts = torch.bincount(t, minlength=n_classes)
    p = counts.double() / len(t)
    nz = p[p > 0]
    entropy = float(-(nz * nz.log2()).sum()) + 0.0        # + 0.0 turns -0.0 into 0.0
    return {
        "histogram": p.tolist(),
        "counts": counts.tolist(),
        "entropy_bits": entropy,
        "normalized_entropy": entropy / math.log2(n_classes),
        "n_missing": int((counts == 0).sum()),
        "max_share": float(p.max()),
        "n": len(t),
    }


# --------------------------------------------------------------------------- n-gram novelty


def ngram_novelty(
    samples: Sequence[str], train_text: str | Sequence[str], n: int | Sequence[int] = (4, 8)
) -> dict[str, Any]:
    """Share of the character n-grams of text samples that never occur in the training text.

    For each ``n``: the set of all character n-grams of the training text (every position,
    across line breaks; a list of documents is taken one by one, no n-gram spans two) is
    built once, and the samples' n-grams (every position within each sample, counted with
    multiplicity) are looked up in it. 0 means every n-gram was seen in training (a sample
    may still be a new combination of them); 1 means none was. Long n-grams (8+) that are
    novel indicate text not copied from training; at small n novelty mostly means misspelling.

    A 1 MB text (Tiny Shakespeare) gives about 1.1 million n-grams per n; building the set
    takes a few tenths of a second per n.

    Parameters
    ----------
    samples : list of str
        Generated texts.
    train_text : str or list of str
        The training text (or documents).
    n : int or sequence of int, default (4, 8)
        N-gram lengths in characters.

    Returns
    -------
    dict
        For each n: ``novelty_{n}`` (float in [0, 1]; NaN when no sample is n characters
        long) and ``n_ngrams_{n}`` (number of sample n-grams looked up); and ``n_samples``.

    Raises
    ------
    DataError
        If ``samples`` or ``train_text`` are not strings.

    Examples
    --------
    >>> text = "to be or not to be"
    >>> ngram_novelty(["to be", "xyzzy"], text, n=4)["novelty_4"]   # 'to b', 'o be' seen; 2 of 'xyzzy' not
    0.5
    """
    sizes = [n] if isinstance(n, numbers.Integral) and not isinstance(n, bool) else list(n)
    if not sizes:
        raise InvalidParameterError("n must be an int >= 1 or a non-empty sequence of them; got an empty one.")
    sizes = [_check_int(v, "n", 1) for v in sizes]
    if isinstance(samples, str):
        raise DataError("samples must be a list of strings, not one string (wrap it: [text]).")
    samples = list(samples)
    if not all(isinstance(x, str) for x in samples):
        raise DataError("samples must be a list of strings (decode token samples to text first).")
    docs = [train_text] if isinstance(train_text, str) else list(train_text)
    if not all(isinstance(x, str) for x in docs):
        raise DataError("train_text must be a string or a list of strings.")
    out: dict[str, Any] = {}
    for size in sizes:
        seen: set[str] = set()
        for doc in docs:
            seen.update(doc[i : i + size] for i in range(len(doc) - size + 1))
        total = novel = 0
        for text in samples:
            grams = [text[i : i + size] for i in range(len(text) - size + 1)]
            total += len(grams)
            novel += sum(1 for g in grams if g not in seen)
        out[f"novelty_{size}"] = novel / total if total else float("nan")
        out[f"n_ngrams_{size}"] = total
    out["n_samples"] = len(samples)
    return out
