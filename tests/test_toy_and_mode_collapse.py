"""2D-ring / 2D-grid mixtures (genlab.data.toy) and the mode-collapse metrics and callback
(genlab.metrics.mode_collapse), against closed forms and the published protocol
(2,500 samples, 3 standard deviations; VEEGAN and PacGAN)."""

from __future__ import annotations

import itertools
import json
import math
import warnings

import numpy as np
import pytest
import torch

import genlab.data as datasets
from genlab.data.codecs import TabularCodec
from genlab.data.toy import grid_of_gaussians, load_grid, load_ring, mode_centres, ring_of_gaussians
from genlab.exceptions import DataError, InvalidParameterError
from genlab.metrics.mode_collapse import ModeCollapseWarning, ModeCoverageCallback, class_coverage, mode_coverage

P_WITHIN_3_STD_2D = 1 - math.exp(-9 / 2)          # chi-square with 2 dof: P(|z| < 3) = 0.98889


# ----------------------------------------------------------------------------- centres


def test_ring_centres_are_pacgans():
    c = mode_centres("ring")
    assert c.dtype == torch.float64 and c.shape == (8, 2)
    expected = [[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)]
    assert torch.allclose(c, torch.tensor(expected, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(c.norm(dim=1), torch.ones(8, dtype=torch.float64))
    c3 = mode_centres("ring", n_modes=3, radius=2.5)
    assert torch.allclose(c3.norm(dim=1), torch.full((3,), 2.5, dtype=torch.float64))


def test_grid_centres_are_pacgans_in_itertools_order():
    c = mode_centres("grid")
    expected = [[i, j] for i, j in itertools.product(range(-4, 5, 2), range(-4, 5, 2))]   # PacGAN's config
    assert c.tolist() == expected
    assert mode_centres("grid", side=2, spacing=1.0).tolist() == [[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]]


@pytest.mark.parametrize("kwargs", [
    {"kind": "circle"},
    {"kind": "ring", "side": 5},
    {"kind": "grid", "radius": 1.0},
    {"kind": "ring", "n_modes": 0},
    {"kind": "grid", "spacing": -1.0},
    {"kind": "ring", "radius": float("nan")},
    {"kind": "grid", "side": 2.5},
])
def test_mode_centres_rejects_bad_options(kwargs):
    with pytest.raises(InvalidParameterError):
        mode_centres(**kwargs)


# ----------------------------------------------------------------------------- draws


@pytest.mark.parametrize("draw, kind, std", [(ring_of_gaussians, "ring", 0.01), (grid_of_gaussians, "grid", 0.05)])
def test_draws_have_the_stated_means_stds_and_uniform_modes(draw, kind, std):
    n = 40_000
    x, mode = draw(n, seed=1)
    assert x.shape == (n, 2) and x.dtype == torch.float32
    assert mode.shape == (n,) and mode.dtype == torch.int64
    centres = mode_centres(kind)
    k = len(centres)
    counts = torch.bincount(mode, minlength=k).double()
    sd = math.sqrt(n * (1 / k) * (1 - 1 / k))                      # binomial sd of one mode's count
    assert ((counts - n / k).abs() < 5 * sd).all()
    xd = x.double()
    for j in range(k):
        pts = xd[mode == j]
        m = len(pts)
        # sample mean within 5 standard errors of the centre; sample std within 5 of its standard errors
        assert ((pts.mean(0) - centres[j]).abs() < 5 * std / math.sqrt(m)).all(), j
        assert ((pts.std(0) - std).abs() < 5 * std / math.sqrt(2 * (m - 1))).all(), j
    # pooled over all modes: the residuals are N(0, std^2 I), the coordinates uncorrelated
    resid = xd - centres[mode]
    assert resid.std(0).tolist() == pytest.approx([std, std], rel=0.02)
    assert abs(float(torch.corrcoef(resid.T)[0, 1])) < 0.02


def test_draws_are_reproducible_and_seeded():
    a = ring_of_gaussians(500, seed=7)
    b = ring_of_gaussians(500, seed=7)
    c = ring_of_gaussians(500, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    g1, g2 = grid_of_gaussians(300, seed=np.random.default_rng(3)), grid_of_gaussians(300, seed=3)
    assert torch.equal(g1[0], g2[0])                                  # a numpy Generator is used as is
    before = torch.get_rng_state()
    grid_of_gaussians(10, seed=0)
    assert torch.equal(before, torch.get_rng_state())                  # torch's global RNG untouched


def test_draws_with_other_shapes():
    x, mode = ring_of_gaussians(2000, n_modes=5, radius=3.0, std=0.1, seed=0)
    assert int(mode.max()) == 4
    assert float((x.double().norm(dim=1) - 3).abs().mean()) < 0.2
    x, mode = grid_of_gaussians(1000, side=3, spacing=1.0, std=0.01, seed=0)
    assert set(mode.tolist()) == set(range(9))
    assert torch.allclose(x.double(), mode_centres("grid", side=3, spacing=1.0)[mode], atol=0.06)


@pytest.mark.parametrize("call", [
    lambda: ring_of_gaussians(0),
    lambda: ring_of_gaussians(10, std=0.0),
    lambda: ring_of_gaussians(10, std=-1.0),
    lambda: ring_of_gaussians(10, n_modes=True),
    lambda: grid_of_gaussians(10, side=0),
    lambda: grid_of_gaussians(10, spacing=float("inf")),
    lambda: grid_of_gaussians(10, seed=-1),
    lambda: grid_of_gaussians(10, seed=1.5),
    lambda: grid_of_gaussians("10"),
])
def test_draws_reject_bad_parameters(call):
    with pytest.raises(InvalidParameterError):
        call()


# ----------------------------------------------------------------------------- loaders


def test_ring_and_grid_are_registered_loaders():
    assert datasets.LOADERS["ring"] is load_ring and datasets.LOADERS["grid"] is load_grid
    assert {"ring", "grid"} <= set(datasets.available())
    data = datasets.load("grid", n=1000, seed=2, val_fraction=0.2, test_fraction=0.1)
    assert (len(data.train), len(data.val), len(data.test)) == (700, 200, 100)
    with pytest.raises(InvalidParameterError, match="unknown option"):
        datasets.load("ring", sides=3)
    assert datasets.LOADERS["ring8"] is load_ring and datasets.LOADERS["grid25"] is load_grid   # aliases
    assert torch.equal(datasets.load("grid25", n=500).train.x, datasets.load("grid", n=500).train.x)


@pytest.mark.parametrize("load, kind, std", [(load_ring, "ring", 0.01), (load_grid, "grid", 0.05)])
def test_loader_dataset_is_raw_coordinates_with_identity_codec(load, kind, std):
    data = load(3000, seed=1)
    assert data.name == kind and data.modality == "tabular"
    assert data.codec == TabularCodec(["x0", "x1"], [0.0, 0.0], [1.0, 1.0])
    assert data.train.codec is data.codec
    x = data.train.x
    assert torch.equal(data.codec.encode(x), x) and torch.equal(data.codec.decode(x), x)   # identity
    centres = torch.tensor(data.info["centres"], dtype=torch.float64)
    assert torch.equal(centres, mode_centres(kind)) and data.info["std"] == std
    assert len(data.classes) == len(centres)
    for split in (data.train, data.val, data.test):
        assert split.y.dtype == torch.int64
        nearest = torch.cdist(split.x.double(), centres).argmin(1)
        assert torch.equal(nearest, split.y)                           # labels are the modes
    assert sum(len(i) for i in data.info["indices"].values()) == 3000
    json.dumps(data.info["centres"])                                    # plain lists


def test_loader_split_seed_splits_the_same_points():
    a, b = load_ring(1000, seed=0), load_ring(1000, seed=1)
    pts = lambda d: sorted(map(tuple, torch.cat([d.train.x, d.val.x, d.test.x]).tolist()))
    assert pts(a) == pts(b)
    assert not torch.equal(a.train.x, b.train.x)
    c = load_ring(1000, seed=0, draw_seed=1)
    assert pts(c) != pts(a)
    assert torch.equal(load_ring(1000, seed=0).train.x, a.train.x)     # reproducible


def test_loader_rejects_bad_parameters():
    with pytest.raises(InvalidParameterError):
        load_ring(0)
    with pytest.raises(InvalidParameterError):
        load_grid(100, std=0)
    with pytest.raises(InvalidParameterError):
        load_grid(100, draw_seed=-2)
    with pytest.raises(DataError):
        load_ring(2)                                                    # too few points to split


# ----------------------------------------------------------------------------- mode_coverage


def test_true_grid_samples_capture_all_25_modes():
    x, _ = grid_of_gaussians(2500, seed=11)
    out = mode_coverage(x, mode_centres("grid"), 0.05)
    assert out["modes_captured"] == 25 and out["n_modes"] == 25 and out["n"] == 2500
    sd = math.sqrt(P_WITHIN_3_STD_2D * (1 - P_WITHIN_3_STD_2D) / 2500)
    assert out["high_quality_fraction"] == pytest.approx(P_WITHIN_3_STD_2D, abs=5 * sd)
    assert 0 <= out["reverse_kl"] < 0.02                                # E ~ (K - 1) / 2N = 0.005
    assert sum(out["histogram"]) == pytest.approx(1.0)
    assert sum(out["counts"]) == round(out["high_quality_fraction"] * 2500)


def test_true_ring_samples_capture_all_8_modes():
    x, _ = ring_of_gaussians(2500, seed=12)
    out = mode_coverage(x.numpy(), mode_centres("ring").numpy(), 0.01)
    assert out["modes_captured"] == 8
    assert out["high_quality_fraction"] > 0.97
    assert out["reverse_kl"] < 0.01


def test_one_mode_gives_one_captured_and_log_k():
    centres = mode_centres("grid")
    x = centres[7] + 0.05 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = mode_coverage(x, centres, 0.05)
    assert out["modes_captured"] == 1
    assert out["counts"][7] == sum(out["counts"])
    assert out["histogram"][7] == 1.0
    assert out["reverse_kl"] == pytest.approx(math.log(25), abs=1e-12)


def test_exactly_uniform_histogram_gives_zero_kl():
    centres = mode_centres("ring")
    x = centres.repeat(10, 1)                                           # 10 samples exactly at each centre
    out = mode_coverage(x, centres, 0.01)
    assert out["reverse_kl"] == 0.0 and out["high_quality_fraction"] == 1.0 and out["counts"] == [10] * 8


def test_reverse_kl_matches_pacgans_entropy_and_brute_force():
    rng = np.random.default_rng(5)
    centres = mode_centres("grid").numpy()
    weights = rng.dirichlet(np.ones(25) * 0.5)
    mode = rng.choice(25, size=2500, p=weights)
    x = centres[mode] + 0.05 * rng.standard_normal((2500, 2)) * rng.choice([1, 5], size=(2500, 1), p=[0.8, 0.2])
    out = mode_coverage(x, centres, 0.05)
    # brute force as PacGAN's MetricLogger: normalised distance to each mode, count if the minimum < 3
    z = np.sqrt((((x[:, None, :] - centres[None]) ** 2) / 0.05**2).sum(-1))
    hq = z.min(1) < 3
    counts = np.bincount(z.argmin(1)[hq], minlength=25)
    assert out["counts"] == counts.tolist()
    assert out["modes_captured"] == int((counts > 0).sum())
    assert out["high_quality_fraction"] == hq.mean()
    q = counts / counts.sum()
    entropy = -(q[q > 0] * np.log(q[q > 0])).sum()                      # the code's "entropy of coverage"
    assert out["reverse_kl"] == pytest.approx(math.log(25) - entropy, abs=1e-12)


def test_threshold_and_min_count():
    centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]
    x = [[0.29, 0.0], [10.31, 0.0], [0.0, 10.0], [0.0, 10.1]]           # 2.9 std, 3.1 std, 0, 1 std (std 0.1)
    out = mode_coverage(x, centres, 0.1)
    assert out["counts"] == [1, 0, 2] and out["modes_captured"] == 2 and out["high_quality_fraction"] == 0.75
    assert mode_coverage(x, centres, 0.1, threshold_stds=3.5)["counts"] == [1, 1, 2]
    assert mode_coverage(x, centres, 0.1, min_count=2)["modes_captured"] == 1
    assert mode_coverage(x, centres, [0.1, 0.2, 0.1])["counts"] == [1, 1, 2]          # one std per mode


def test_no_high_quality_sample():
    out = mode_coverage([[5.0, 5.0], [6.0, 6.0]], mode_centres("ring"), 0.01)
    assert out["modes_captured"] == 0 and out["high_quality_fraction"] == 0.0
    assert math.isnan(out["reverse_kl"]) and out["histogram"] == [0.0] * 8


def test_mode_coverage_large_input_in_blocks():
    x, _ = grid_of_gaussians(200_000, seed=3)
    out = mode_coverage(x, mode_centres("grid"), 0.05)
    assert out["modes_captured"] == 25 and out["n"] == 200_000
    assert out["high_quality_fraction"] == pytest.approx(P_WITHIN_3_STD_2D, abs=0.002)


@pytest.mark.parametrize("samples, centres, std, kwargs, error", [
    ([[0.0, 0.0, 0.0]], [[0.0, 0.0]], 1.0, {}, DataError),            # D differs
    ([0.0, 0.0], [[0.0, 0.0]], 1.0, {}, DataError),                   # not (N, D)
    ([[float("nan"), 0.0]], [[0.0, 0.0]], 1.0, {}, DataError),
    (np.zeros((0, 2)), [[0.0, 0.0]], 1.0, {}, DataError),             # no samples
    ([[0.0, 0.0]], np.zeros((0, 2)), 1.0, {}, DataError),             # no centres
    ([["a", "b"]], [[0.0, 0.0]], 1.0, {}, DataError),
    ([[0.0, 0.0]], [[0.0, 0.0]], 0.0, {}, InvalidParameterError),
    ([[0.0, 0.0]], [[0.0, 0.0]], -1.0, {}, InvalidParameterError),
    ([[0.0, 0.0]], [[0.0, 0.0]], [1.0, 1.0], {}, InvalidParameterError),   # 2 stds for 1 mode
    ([[0.0, 0.0]], [[0.0, 0.0]], [-1.0], {}, InvalidParameterError),
    ([[0.0, 0.0]], [[0.0, 0.0]], "wide", {}, InvalidParameterError),
    ([[0.0, 0.0]], [[0.0, 0.0]], 1.0, {"threshold_stds": 0}, InvalidParameterError),
    ([[0.0, 0.0]], [[0.0, 0.0]], 1.0, {"min_count": 0}, InvalidParameterError),
    ([[0.0, 0.0]], [[0.0, 0.0]], 1.0, {"min_count": 1.5}, InvalidParameterError),
])
def test_mode_coverage_rejects_bad_input(samples, centres, std, kwargs, error):
    with pytest.raises(error):
        mode_coverage(samples, centres, std, **kwargs)


# ----------------------------------------------------------------------------- class_coverage


def test_class_coverage_uniform_and_one_class():
    out = class_coverage(torch.arange(1000) % 10, 10)
    assert out["modes_captured"] == 10 and out["reverse_kl"] == 0.0
    assert out["entropy"] == pytest.approx(math.log(10)) and out["histogram"] == [0.1] * 10
    one = class_coverage(np.full(50, 3), 10)
    assert one["modes_captured"] == 1 and one["entropy"] == 0.0
    assert one["reverse_kl"] == pytest.approx(math.log(10), abs=1e-12)


def test_class_coverage_closed_form_scores_and_min_count():
    labels = [0, 0, 0, 1, 1, 2]                                         # q = (1/2, 1/3, 1/6, 0)
    out = class_coverage(labels, 4, min_count=2)
    q = np.array([1 / 2, 1 / 3, 1 / 6])
    assert out["modes_captured"] == 2 and out["counts"] == [3, 2, 1, 0] and out["n"] == 6
    assert out["entropy"] == pytest.approx(-(q * np.log(q)).sum())
    assert out["reverse_kl"] == pytest.approx((q * np.log(4 * q)).sum())
    scores = torch.nn.functional.one_hot(torch.tensor(labels), 4).float()
    assert class_coverage(scores, 4)["counts"] == [3, 2, 1, 0]


@pytest.mark.parametrize("labels, n_classes, kwargs, error", [
    ([], 3, {}, DataError),
    ([0, 3], 3, {}, DataError),
    ([-1], 3, {}, DataError),
    ([0.5], 3, {}, DataError),
    ([0, 1], 1, {}, InvalidParameterError),
    ([0, 1], 2, {"min_count": 0}, InvalidParameterError),
])
def test_class_coverage_rejects_bad_input(labels, n_classes, kwargs, error):
    with pytest.raises(error):
        class_coverage(labels, n_classes, **kwargs)


# ----------------------------------------------------------------------------- callback


class FakeTrainer:
    """The parts of genlab.training.Trainer the callback uses: step, module, history, _log."""

    def __init__(self, module=None):
        self.step = 0
        self.module = module
        self.history: list[dict] = []
        self.logged: list[dict] = []

    def _log(self, row):
        self.history.append(row)
        self.logged.append(row)


class FakeGenerator(torch.nn.Module):
    """Samples the 2D-grid, all of it (healthy) or only its first ``n_live`` modes (collapsing)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)
        self.n_live = 25
        self.modes_seen_in_eval: list[bool] = []

    def sample(self, n):
        self.modes_seen_in_eval.append(not self.training)
        centres = mode_centres("grid")[: self.n_live]
        mode = torch.randint(self.n_live, (n,))                          # the forked, seeded global RNG
        return centres[mode] + 0.05 * torch.randn(n, 2, dtype=torch.float64)


def test_callback_logs_every_n_steps_and_warns_on_lost_modes():
    gen = FakeGenerator()
    trainer = FakeTrainer(gen)
    cb = ModeCoverageCallback(lambda module, n: module.sample(n), mode_centres("grid"), 0.05, every=3)
    for trainer.step in range(1, 7):                                    # checks at steps 3 and 6
        cb.on_batch_end(trainer)
    assert [r["step"] for r in trainer.logged] == [3, 6]
    assert all(r["modes_captured"] == 25 and r["modes_captured_best"] == 25 for r in trainer.logged)
    assert cb.best == 25 and cb.best_step == 3
    row = trainer.logged[0]
    assert set(row) == {"step", "modes_captured", "modes_captured_best", "n_modes", "high_quality_fraction",
                        "reverse_kl", "mode_counts"}
    assert sum(row["mode_counts"]) == round(row["high_quality_fraction"] * 2500)
    json.dumps(trainer.logged)                                          # rows fit metrics.jsonl
    gen.n_live = 20                                                      # the generator drops 5 modes
    trainer.step = 9
    with pytest.warns(ModeCollapseWarning, match=r"step 9: 20 of 25 modes captured, down from 25 at step 3"):
        cb.on_batch_end(trainer)
    assert trainer.logged[-1]["modes_captured"] == 20 and trainer.logged[-1]["modes_captured_best"] == 25
    assert trainer.history == trainer.logged and cb.results == trainer.logged
    assert all(gen.modes_seen_in_eval) and gen.training                 # sampled in eval mode, mode restored
    # the end of training measures the last step once, unless it was just measured
    trainer.step = 10
    with pytest.warns(ModeCollapseWarning):
        cb.on_train_end(trainer)
    assert trainer.logged[-1]["step"] == 10
    trainer.step = 12
    with pytest.warns(ModeCollapseWarning):
        cb.on_batch_end(trainer)                                         # 12 is a multiple of every=3
    n_rows = len(trainer.logged)
    cb.on_train_end(trainer)                                             # step 12 was just measured
    assert len(trainer.logged) == n_rows and trainer.logged[-1]["step"] == 12


def test_callback_margin_and_no_warning_within_it():
    gen = FakeGenerator()
    trainer = FakeTrainer(gen)
    cb = ModeCoverageCallback(lambda m, n: m.sample(n), mode_centres("grid"), 0.05, every=1, warn_below=3)
    trainer.step = 1
    cb.on_batch_end(trainer)
    gen.n_live = 23                                                      # 2 lost: within the margin of 3
    trainer.step = 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cb.on_batch_end(trainer)
    gen.n_live = 22
    trainer.step = 3
    with pytest.warns(ModeCollapseWarning):
        cb.on_batch_end(trainer)
    silent = ModeCoverageCallback(lambda m, n: m.sample(n), mode_centres("grid"), 0.05, every=1, warn_below=None)
    gen.n_live = 25
    silent.on_batch_end(trainer)
    gen.n_live = 1
    trainer.step = 4
    silent.on_batch_end(trainer)                                         # no warning: warn_below=None
    assert silent.results[-1]["modes_captured"] == 1


def test_callback_fixed_draws_and_untouched_rng():
    gen = FakeGenerator()
    trainer = FakeTrainer(gen)
    cb = ModeCoverageCallback(lambda m, n: m.sample(n), mode_centres("grid"), 0.05, every=1, n_samples=500)
    state = torch.get_rng_state()
    for trainer.step in (1, 2):
        cb.on_batch_end(trainer)
    assert torch.equal(state, torch.get_rng_state())                     # training randomness untouched
    assert trainer.logged[0]["mode_counts"] == trainer.logged[1]["mode_counts"]   # same seeded draws
    other = ModeCoverageCallback(lambda m, n: m.sample(n), mode_centres("grid"), 0.05, every=1, n_samples=500,
                                 seed=1)
    other.on_batch_end(trainer)
    assert other.results[0]["mode_counts"] != trainer.logged[0]["mode_counts"]


def test_callback_with_closure_and_a_trainer_without_log():
    class Bare:                                                          # no _log: rows go to history
        step, module, history = 4, None, []

    trainer = Bare()
    cb = ModeCoverageCallback(lambda n: ring_of_gaussians(n)[0], mode_centres("ring"), 0.01, every=2)
    cb.on_batch_end(trainer)
    assert trainer.history[0]["modes_captured"] == 8 and trainer.history[0]["n_modes"] == 8
    collapsed = ModeCoverageCallback(lambda n: torch.zeros(n, 2), mode_centres("ring"), 0.01, every=2)
    collapsed.on_batch_end(trainer)                                      # every sample far from every mode
    assert trainer.history[-1]["modes_captured"] == 0 and trainer.history[-1]["reverse_kl"] is None


def test_callback_in_the_real_trainer_writes_metrics_jsonl(tmp_path):
    from genlab.training import TrainConfig, Trainer

    class Toy(torch.nn.Module):                                          # a "generator": shift of fixed noise
        def __init__(self):
            super().__init__()
            self.shift = torch.nn.Parameter(torch.zeros(2))

        def forward(self, x, generator=None):
            return ((x - self.shift) ** 2).mean()

    x, _ = ring_of_gaussians(256, seed=0)
    cb = ModeCoverageCallback(lambda m, n: m.shift + 0.01 * torch.randn(n, 2), mode_centres("ring"), 0.01,
                              every=2, n_samples=100, warn_below=None)
    cfg = TrainConfig(max_steps=5, batch_size=64, device="cpu", out=str(tmp_path), progress=False, log_every=100)
    trainer = Trainer(Toy(), cfg, [cb]).fit([x])
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    mode_rows = [r for r in rows if "modes_captured" in r]
    assert [r["step"] for r in mode_rows] == [2, 4, 5]                  # every 2 steps, and the end
    assert mode_rows == [r for r in trainer.history if "modes_captured" in r] == cb.results
    assert all(r["n_modes"] == 8 for r in mode_rows)


@pytest.mark.parametrize("kwargs", [
    {"sample_fn": "not callable"},
    {"sample_fn": lambda a, b, c: None},
    {"sample_fn": lambda: None},
    {"every": 0},
    {"n_samples": 0},
    {"std": 0.0},
    {"std": [0.05] * 3},
    {"centres": [[0.0, 0.0, 0.0, 0.0]], "std": 1.0, "every": 1.5},
    {"warn_below": 0},
    {"threshold_stds": -3},
    {"min_count": 0},
    {"seed": -1},
])
def test_callback_rejects_bad_parameters(kwargs):
    args = {"sample_fn": lambda m, n: None, "centres": mode_centres("grid"), "std": 0.05, **kwargs}
    with pytest.raises(InvalidParameterError):
        ModeCoverageCallback(args.pop("sample_fn"), args.pop("centres"), args.pop("std"), **args)


def test_callback_rejects_wrong_samples():
    trainer = FakeTrainer()
    trainer.step = 1
    short = ModeCoverageCallback(lambda n: torch.zeros(n - 1, 2), mode_centres("grid"), 0.05, every=1)
    with pytest.raises(DataError, match="returned 2499 samples"):
        short.on_batch_end(trainer)
    wrong_dim = ModeCoverageCallback(lambda n: torch.zeros(n, 3), mode_centres("grid"), 0.05, every=1)
    with pytest.raises(DataError, match="3 coordinates"):
        wrong_dim.on_batch_end(trainer)


def test_evaluate_reports_mode_coverage_on_known_mixtures():
    """evaluate() on the ring or grid adds PacGAN's mode metrics from the model's samples."""
    import genlab

    class Oracle(genlab.models.get_class("gan")):   # samples from the true mixture: every mode, ~all HQ
        def sample(self, n, *, seed=None, condition=None):
            return grid_of_gaussians(n, seed=0 if seed is None else seed)[0]

    data = datasets.load("grid", n=2000)
    gan = Oracle(latent_dim=2, architecture="mlp", hidden_dims=(8,)).fit(data.train, max_steps=2, progress=False)
    rep = genlab.evaluate(gan, data)
    assert rep["n_modes"] == 25 and rep["modes_captured"] == 25
    assert rep["high_quality_fraction"] > 0.97 and rep["reverse_kl"] < 0.02
    assert "log_prob_error" in rep and "mode" in rep["log_prob_error"]
