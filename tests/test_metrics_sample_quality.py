"""Sample-quality metrics (genlab.metrics.sample_quality) against closed forms and brute force."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from genlab.exceptions import DataError, InvalidParameterError
from genlab.metrics.sample_quality import (
    class_histogram,
    classifier_two_sample_test,
    frechet_distance,
    frechet_distance_gaussians,
    kernel_distance,
    memorization,
    ngram_novelty,
    precision_recall_density_coverage,
)


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def _with_moments(rng: np.random.Generator, n: int, mu: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """n points whose sample mean is exactly mu and unbiased sample covariance exactly cov."""
    z = rng.normal(size=(n, len(mu)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T     # sample cov = I
    return mu + z @ np.linalg.cholesky(cov).T


# ----------------------------------------------------------------------------- Fréchet


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(1000, 16)) * np.linspace(0.1, 3, 16)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(torch.as_tensor(x, dtype=torch.float32), x.astype(np.float32)) == pytest.approx(0, abs=1e-6)


def test_fd_gaussians_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    for d in (1, 3, 10):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = _spd(rng, d), _spd(rng, d)
        ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
        assert frechet_distance_gaussians(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9, abs=1e-10)


def test_fd_gaussians_diagonal_closed_form_and_singular_covariance():
    # diagonal covariances: ||mu1 - mu2||^2 + sum (sigma1_i - sigma2_i)^2
    sd1, sd2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 0.0])      # sd2 has a zero: singular
    got = frechet_distance_gaussians([0, 0, 0], np.diag(sd1**2), [1, 2, 2], np.diag(sd2**2))
    assert got == pytest.approx(9.0 + 4.0 + 0.0 + 0.25, abs=1e-12)


def test_fd_of_samples_equals_closed_form_of_their_moments():
    """Samples with exactly prescribed mean and N-1 covariance: FD = closed form (checks N-1)."""
    rng = np.random.default_rng(2)
    d = 5
    mu1, mu2, s1, s2 = rng.normal(size=d), rng.normal(size=d), _spd(rng, d), _spd(rng, d)
    x, y = _with_moments(rng, 400, mu1, s1), _with_moments(rng, 300, mu2, s2)
    assert frechet_distance(x, y) == pytest.approx(frechet_distance_gaussians(mu1, s1, mu2, s2), rel=1e-9)


def test_fd_sample_estimate_within_sampling_error():
    rng = np.random.default_rng(3)
    mu2, sd2 = np.array([1.0, -0.5]), np.array([2.0, 0.5])
    truth = 1.25 + 1.0 + 0.25                                     # |mu|^2 + sum (1 - sd2)^2
    x = rng.normal(size=(100_000, 2))
    y = mu2 + sd2 * rng.normal(size=(100_000, 2))
    assert frechet_distance(x, y) == pytest.approx(truth, abs=0.05)   # s.e. about 0.01


# ----------------------------------------------------------------------------- KID


def test_kid_same_distribution_is_zero_within_error():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 8))
    out = kernel_distance(x, y, subsets=100, subset_size=100, seed=0)
    assert out["subset_size"] == 100 and out["kid_sem"] > 0
    assert abs(out["kid"]) < 3 * out["kid_sem"]
    assert kernel_distance(x, y, subsets=100, subset_size=100, seed=0) == out          # deterministic


def test_kid_shifted_distribution_is_clearly_positive():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8)) + 0.5
    out = kernel_distance(x, y, subsets=50, subset_size=200, seed=1)
    assert out["kid"] > 20 * out["kid_sem"] > 0


def test_kid_single_subset_matches_explicit_double_sum_and_cap():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(9, 3)) + 1
    out = kernel_distance(x, y, subsets=3, subset_size=1000)
    assert out["subset_size"] == 6                                  # capped at min(n_real, n_fake)
    # 6 of 6 real vectors: the subsets differ only in the fake draw, so recompute one of them
    def k(a, b):
        return (a @ b / 3 + 1) ** 3
    def mmd(a, b):
        m = len(a)
        kxx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        kyy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        kxy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / m**2
        return kxx + kyy - 2 * kxy
    same = kernel_distance(x, y[:6], subsets=2, subset_size=6)       # both sets whole: every subset equal
    assert same["kid"] == pytest.approx(mmd(x, y[:6]), rel=1e-12)
    assert same["kid_sem"] == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- PRDC


def _prdc_brute(real, fake, k):
    """Definitions of the papers with explicit loops (closed balls)."""
    def dist(a, b):
        return math.dist(a, b)
    def radii(s):
        return [sorted(dist(p, q) for j, q in enumerate(s) if j != i)[k - 1] for i, p in enumerate(s)]
    rr, fr = radii(real), radii(fake)
    precision = np.mean([any(dist(y, x) <= r for x, r in zip(real, rr)) for y in fake])
    recall = np.mean([any(dist(x, y) <= s for y, s in zip(fake, fr)) for x in real])
    density = np.mean([sum(dist(y, x) <= r for x, r in zip(real, rr)) for y in fake]) / k
    coverage = np.mean([min(dist(x, y) for y in fake) <= r for x, r in zip(real, rr)])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


REAL = [(0.0, 0.0), (1.0, 0.0), (0.0, 2.0), (4.0, 0.0)]
FAKE = [(0.0, 1.0), (5.0, 5.0), (4.0, 2.0)]


def test_prdc_tiny_example_by_hand():
    # k=1 radii: real 1, 1, 2, 3; fake sqrt17, sqrt10, sqrt10.
    # precision: (0,1) in ball of (0,0) [1 <= 1] and (0,2); (5,5) in none; (4,2) in (4,0)'s -> 2/3
    # recall: every real point lies in the ball of (0,1) (radius sqrt17; (4,0) on its edge) -> 1
    # density: (0,1) in 2 real balls, (5,5) in 0, (4,2) in 1 -> (2 + 0 + 1) / 3 / k = 1
    # coverage: (0,0) [nearest fake at 1 <= 1], (0,2) [1 <= 2], (4,0) [2 <= 3]; not (1,0) -> 3/4
    out = precision_recall_density_coverage(np.array(REAL), torch.tensor(FAKE), k=1)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["recall"] == 1.0
    assert out["density"] == pytest.approx(1.0)
    assert out["coverage"] == 0.75
    assert (out["k"], out["n_real"], out["n_fake"]) == (1, 4, 3)
    brute = _prdc_brute(REAL, FAKE, 1)
    assert all(out[key] == pytest.approx(v) for key, v in brute.items())


@pytest.mark.parametrize("k", [1, 2, 3])
def test_prdc_matches_brute_force_and_chunking(k):
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(30, 2)), rng.normal(size=(25, 2)) * 1.5 + 0.5
    brute = _prdc_brute([tuple(p) for p in real], [tuple(p) for p in fake], k)
    for chunk in (None, 1, 7):
        out = precision_recall_density_coverage(real, fake, k=k, chunk_size=chunk)
        for key, v in brute.items():
            assert out[key] == pytest.approx(v, abs=1e-12), (key, chunk)


def test_prdc_identical_sets():
    x = np.random.default_rng(8).normal(size=(300, 8))
    out = precision_recall_density_coverage(x, x, k=5)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] >= 1.0                # each point in its own ball plus >= k others' on average


# ----------------------------------------------------------------------------- C2ST


def test_c2st_same_distribution_near_chance():
    rng = np.random.default_rng(9)
    out = classifier_two_sample_test(rng.normal(size=(600, 4)), rng.normal(size=(800, 4)), seed=0)
    assert out["n_test"] == 600 and out["n_train"] == 600           # balanced: 600 per class, half held out
    assert abs(out["accuracy"] - 0.5) < 0.07 and out["p_value"] > 0.01
    assert classifier_two_sample_test(rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), classifier="logistic")[
        "n_test"] == 50


def test_c2st_separated_sets_near_one():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(400, 4)), rng.normal(size=(400, 4)) + 3.0
    for clf in ("mlp", "logistic"):
        out = classifier_two_sample_test(real, fake, seed=1, classifier=clf)
        assert out["accuracy"] > 0.97 and out["p_value"] < 1e-40
    # a difference of spread only: the MLP sees it, a linear classifier hardly
    wide = 4.0 * rng.normal(size=(400, 4))
    for seed in range(3):
        assert classifier_two_sample_test(real, wide, seed=seed)["accuracy"] > 0.85
    assert classifier_two_sample_test(real, wide, seed=0, classifier="logistic")["accuracy"] < 0.65


# ----------------------------------------------------------------------------- memorization


def test_memorization_flags_copies_not_fresh_draws():
    rng = np.random.default_rng(11)
    train, test = rng.normal(size=(500, 10)), rng.normal(size=(500, 10))
    fresh = rng.normal(size=(200, 10))
    samples = np.concatenate([fresh, train[:50]])                  # 50 of 250 are exact copies
    out = memorization(samples, train, test)
    assert set(range(200, 250)) <= set(out["near_copy_indices"])
    assert out["near_copy_fraction"] == pytest.approx(0.2, abs=0.02)
    clean = memorization(fresh, train, test)
    assert clean["near_copy_fraction"] <= 0.03
    assert 0.8 < clean["median_ratio"] < 1.25 and 0.35 < clean["fraction_closer_to_train"] < 0.65
    # raw "images" (uint8, 3-D) are flattened; copies have ratio 0
    imgs = rng.integers(0, 256, size=(100, 4, 4), dtype=np.uint8)
    img_out = memorization(imgs[:10], imgs[:60], imgs[60:], threshold=0.0)
    assert img_out["near_copy_fraction"] == 1.0 and img_out["median_ratio"] == 0.0


def test_memorization_reference_subsample_is_deterministic():
    rng = np.random.default_rng(12)
    train, test, samples = rng.normal(size=(300, 3)), rng.normal(size=(300, 3)), rng.normal(size=(50, 3))
    a = memorization(samples, train, test, max_reference=100, seed=3)
    assert a == memorization(samples, train, test, max_reference=100, seed=3)
    assert a["threshold"] > 0


# ----------------------------------------------------------------------------- class histogram, n-grams


def test_class_histogram_entropy():
    k = 10
    out = class_histogram(np.repeat(np.arange(k), 7), k)
    assert out["entropy_bits"] == pytest.approx(math.log2(k))
    assert out["normalized_entropy"] == pytest.approx(1.0)
    assert out["histogram"] == pytest.approx([0.1] * k) and out["counts"] == [7] * k
    collapsed = class_histogram(torch.tensor([3, 3, 3, 4]), k)
    assert collapsed["n_missing"] == 8 and collapsed["max_share"] == 0.75
    assert collapsed["entropy_bits"] == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    logits = torch.eye(k)[[0, 1, 1]] * 5.0                          # scores -> argmax
    assert class_histogram(logits, k)["counts"][:2] == [1, 2]


def test_ngram_novelty():
    train = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    subs = [train[i : i + 12] for i in range(0, 40, 5)]
    seen = ngram_novelty(subs, train, n=(4, 8))
    assert seen["novelty_4"] == 0.0 and seen["novelty_8"] == 0.0 and seen["n_ngrams_4"] == 8 * 9
    unseen = ngram_novelty(["zzzzqqqqxxxx", "QWERTYUIOP"], train)
    assert unseen["novelty_4"] == 1.0 and unseen["novelty_8"] == 1.0
    assert math.isnan(ngram_novelty(["abc"], train, n=8)["novelty_8"])
    # documents are separate: 'hear' is seen, 'ear ', 'ar m', 'r me' would only span the two
    assert ngram_novelty(["hear me"], ["hear", " me"], n=4)["novelty_4"] == 0.75


def test_ngram_novelty_tiny_shakespeare_fast(shared_data):
    path = shared_data / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    text = path.read_text()
    import time
    t0 = time.perf_counter()
    out = ngram_novelty([text[1000:1500], text[-600:], "Xq7#Zj!!kW"], text, n=(4, 8))
    assert time.perf_counter() - t0 < 5
    assert out["novelty_8"] == pytest.approx(3 / (500 - 7 + 600 - 7 + 3))


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call",
    [
        lambda x, y: frechet_distance(x, y),
        lambda x, y: kernel_distance(x, y, subsets=2),
        lambda x, y: precision_recall_density_coverage(x, y, k=2),
        lambda x, y: classifier_two_sample_test(x, y),
        lambda x, y: memorization(x, y, y),
    ],
)
def test_bad_inputs_raise_data_error(call):
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 3))
    with pytest.raises(DataError, match="feature dimensions differ"):
        call(x, rng.normal(size=(20, 4)))
    nan = x.copy()
    nan[2, 1] = np.nan
    with pytest.raises(DataError, match=r"NaN or infinite values \(first at index \(2, 1\)\)"):
        call(nan, y)
    with pytest.raises(DataError, match=r"\(N, D\)"):
        call(x[:, 0], y)
    with pytest.raises(DataError, match="has 0 vectors; this metric needs at least"):
        call(np.zeros((0, 3)), y)


def test_too_few_points_for_k():
    x = np.zeros((3, 2)) + np.arange(3)[:, None]
    with pytest.raises(DataError, match="has 3 vectors; this metric needs at least 4"):
        precision_recall_density_coverage(x, x, k=3)
    with pytest.raises(DataError, match="at least 2"):
        frechet_distance(x[:1], x)
    with pytest.raises(DataError, match="mu1 and mu2 differ in length"):
        frechet_distance_gaussians(np.zeros(2), np.eye(2), np.zeros(3), np.eye(2))
    with pytest.raises(DataError, match="must have shape"):
        frechet_distance_gaussians(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(DataError, match="labels must lie in 0..2"):
        class_histogram([0, 3], 3)
    with pytest.raises(DataError, match="list of strings"):
        ngram_novelty("not a list", "train")
    with pytest.raises(InvalidParameterError, match="k must be an int >= 1"):
        precision_recall_density_coverage(x, x, k=0)
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        classifier_two_sample_test(x, x, test_fraction=1.0)


def test_results_are_plain_python():
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    results = [
        frechet_distance(x, y),
        kernel_distance(x, y, subsets=3, subset_size=10),
        precision_recall_density_coverage(x, y, k=2),
        classifier_two_sample_test(x, y, classifier="logistic"),
        memorization(x, y, y),
        class_histogram([0, 1], 2),
        ngram_novelty(["ab"], "abc", n=2),
    ]
    for value in itertools.chain.from_iterable(r.values() if isinstance(r, dict) else [r] for r in results):
        assert isinstance(value, (float, int, list, str)) and not isinstance(value, (np.generic, torch.Tensor))
