"""Diffusion maths against independent references: the forward process by iteration and
by Gaussian conditioning, the samplers with an exact (oracle) denoiser for Gaussian data
by moments, and the variational bound against the exact likelihood of the oracle model,
computed by propagating the linear-Gaussian reverse chain."""

from __future__ import annotations

import math

import pytest
import torch

from genlab.models.diffusion.bound import discretized_gaussian_log_prob, variational_bound
from genlab.models.diffusion.samplers import (
    DDIMSampler,
    DDPMSampler,
    make_sampler,
    predictions,
    sample_loop,
    visited_timesteps,
)
from genlab.models.diffusion.schedules import Schedule, make_schedule

MEAN = torch.tensor([0.5, -1.0], dtype=torch.float64)
COV = torch.tensor([[1.0, 0.6], [0.6, 0.8]], dtype=torch.float64)


def gaussian_oracle(schedule: Schedule, mean: torch.Tensor, cov: torch.Tensor, kind: str = "eps"):
    """The exact denoiser for data N(mean, cov):
    x0_hat = E[x0 | x_t] = mean + a cov (a^2 cov + (1 - a^2) I)^-1 (x_t - a mean)."""
    abar = schedule.alphas_cumprod
    eye = torch.eye(len(mean), dtype=torch.float64)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        xd = x.double().reshape(len(x), -1)
        out = torch.empty_like(xd)
        for tt in (t.reshape(1) if t.ndim == 0 else t.unique()):
            rows = slice(None) if t.ndim == 0 else t == tt
            a = float(abar[tt].sqrt())
            gain = a * cov @ torch.linalg.inv(a * a * cov + (1 - a * a) * eye)
            x0 = mean + (xd[rows] - a * mean) @ gain.T
            eps = (xd[rows] - a * x0) / math.sqrt(1 - a * a)
            out[rows] = {"eps": eps, "x0": x0, "v": a * eps - math.sqrt(1 - a * a) * x0}[kind]
        return out.reshape(x.shape).to(x.dtype)
    return denoise


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_closed_form_q_xt_matches_iterating_the_forward_process(name):
    sched = make_schedule(name, 200)
    # exact moments of x_t | x0 by iterating x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps
    mean, var = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64)
    x0 = 0.7
    means, variances = [], []
    for beta in sched.betas:
        mean, var = (1 - beta).sqrt() * mean, (1 - beta) * var + beta
        means.append(mean * x0)
        variances.append(var)
    torch.testing.assert_close(torch.stack(means), sched.alphas_cumprod.sqrt() * x0)
    torch.testing.assert_close(torch.stack(variances), 1 - sched.alphas_cumprod)
    # and by simulation: 20,000 chains, checked at four steps within 5 standard errors
    g = torch.Generator().manual_seed(0)
    x = torch.full((20000,), x0, dtype=torch.float64)
    for t, beta in enumerate(sched.betas):
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
        if t in (0, 20, 100, 199):
            abar = sched.alphas_cumprod[t]
            assert abs(x.mean() - abar.sqrt() * x0) < 5 * math.sqrt((1 - abar) / len(x))
            assert abs(x.var() - (1 - abar)) < 5 * (1 - abar) * math.sqrt(2 / len(x))


def test_posterior_matches_gaussian_conditioning():
    sched = make_schedule("cosine", 100)
    abar, prev = sched.alphas_cumprod, sched.alphas_cumprod_prev
    for t in (1, 10, 50, 99):
        # (x_{t-1}, x_t) | x0 is jointly Gaussian; condition x_{t-1} on x_t
        v_prev, v_t = 1 - prev[t], 1 - abar[t]
        cov = (1 - sched.betas[t]).sqrt() * v_prev
        gain = cov / v_t                           # E[x_{t-1} | x_t, x0] = m_prev + gain (x_t - m_t)
        torch.testing.assert_close(sched.coef_xt[t], gain)
        torch.testing.assert_close(sched.coef_x0[t], prev[t].sqrt() - gain * abar[t].sqrt())
        torch.testing.assert_close(sched.posterior_var[t], v_prev - cov**2 / v_t)
    assert sched.posterior_var[0] == 0


def test_schedules_reject_unknown_names_and_cosine_keeps_its_end_points():
    with pytest.raises(ValueError, match="cosine"):
        make_schedule("quadratic", 10)
    a, b = make_schedule("cosine", 100).alphas_cumprod, make_schedule("cosine", 1000).alphas_cumprod
    # the same curve sampled at T points (but for the last step, whose beta is capped at 0.999)
    assert (b[9:-1:10] - a[:-1]).abs().max() < 1e-12


# ----------------------------------------------------------------------------- samplers
def test_predictions_invert_the_parameterisations():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    abar = torch.tensor(0.3)
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    v = abar.sqrt() * eps - (1 - abar).sqrt() * x0
    for kind, out in (("eps", eps), ("x0", x0), ("v", v)):
        got_x0, got_eps = predictions(out, xt, abar, kind)
        torch.testing.assert_close(got_x0, x0, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(got_eps, eps, atol=1e-5, rtol=1e-5)
    clipped, _ = predictions(eps, xt, abar, "eps", clip=0.5)
    assert clipped.abs().max() <= 0.5


def test_visited_timesteps():
    assert visited_timesteps(1000, 1000).tolist() == list(range(999, -1, -1))
    ts = visited_timesteps(1000, 20)
    assert ts[0] == 999 and ts[-1] == 49 and len(set(ts.tolist())) == 20
    for T, steps in ((50, 49), (7, 3), (1000, 999)):
        ts = visited_timesteps(T, steps)
        assert len(set(ts.tolist())) == steps and ts.min() >= 0 and ts.max() == T - 1


@pytest.mark.parametrize(("sampler", "steps", "eta", "kind"), [
    ("ddpm", 1000, 0.0, "eps"), ("ddim", 200, 0.0, "eps"), ("ddim", 200, 1.0, "v"), ("dpm++2m", 20, 0.0, "x0"),
    ("dpm++2m", 25, 0.0, "v")])
def test_samplers_with_an_oracle_match_the_gaussian(sampler, steps, eta, kind):
    sched = make_schedule("cosine", 1000)
    n = 20000
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    out = sample_loop(gaussian_oracle(sched, MEAN, COV, kind), make_sampler(sampler, sched, steps, eta), x, kind,
                      None, g)
    se_mean = (COV.diagonal() / n).sqrt()
    assert ((out.mean(0) - MEAN).abs() < 4 * se_mean).all(), out.mean(0)
    se_cov = ((COV.diagonal()[:, None] * COV.diagonal()[None] + COV**2) / n).sqrt()
    assert ((torch.cov(out.T) - COV).abs() < 4 * se_cov).all(), torch.cov(out.T)


def test_ddim_eta0_is_deterministic_given_the_start():
    sched = make_schedule("cosine", 100)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    oracle = gaussian_oracle(sched, MEAN, COV)
    a = sample_loop(oracle, make_sampler("ddim", sched, 10, 0.0), x, "eps", None, torch.Generator().manual_seed(1))
    b = sample_loop(oracle, make_sampler("ddim", sched, 10, 0.0), x, "eps", None, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    c = sample_loop(oracle, make_sampler("ddim", sched, 10, 0.5), x, "eps", None, torch.Generator().manual_seed(1))
    assert not torch.equal(a, c)


def test_ddpm_step_equals_ddim_with_eta_one():
    sched = make_schedule("linear", 100)
    ddpm, ddim = DDPMSampler(sched, 10), DDIMSampler(sched, 10, eta=1.0)
    g = torch.Generator().manual_seed(0)
    x, x0 = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.randn(8, 3, generator=g, dtype=torch.float64)
    for i in range(10):
        eps = (x - ddpm.abar[i].sqrt() * x0) / (1 - ddpm.abar[i]).sqrt()
        a = ddpm.step(x0, eps, i, x, torch.Generator().manual_seed(i))
        b = ddim.step(x0, eps, i, x, torch.Generator().manual_seed(i))
        torch.testing.assert_close(a, b)


def test_sampler_rejects_too_many_steps():
    with pytest.raises(ValueError, match="steps"):
        make_sampler("ddim", make_schedule("cosine", 10), 11)


# ----------------------------------------------------------------------------- the bound
def _fixed_endpoint_schedule(T: int, log_snr_max: float = 10.0, log_snr_min: float = -10.0) -> Schedule:
    """log SNR linear in t between fixed end points: T = 1 + 10 * 2^k gives nested grids."""
    lam = log_snr_max + (log_snr_min - log_snr_max) * torch.arange(T, dtype=torch.float64) / (T - 1)
    abar = torch.sigmoid(lam)
    return Schedule(1 - abar / torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]]))


def _exact_log_prob_1d(sched: Schedule, x: torch.Tensor, m: float, s: float) -> torch.Tensor:
    """log p_theta(x) of the oracle model: its reverse chain is linear-Gaussian, so x is Gaussian.

    x_{t-1} = coef_x0 x0_hat(x_t) + coef_xt x_t + N(0, posterior_var), x0_hat affine in x_t;
    the decoder adds N(0, 1 / SNR(0)) to x0_hat(x_0).
    """
    abar = sched.alphas_cumprod
    mu, var = 0.0, 1.0                                      # x_{T-1} ~ N(0, 1)
    for t in range(sched.T - 1, 0, -1):
        a = float(abar[t].sqrt())
        g = s * a / (a * a * s + 1 - a * a)                 # x0_hat = g x_t + m (1 - g a)
        A = float(sched.coef_x0[t]) * g + float(sched.coef_xt[t])
        b = float(sched.coef_x0[t]) * m * (1 - g * a)
        mu, var = A * mu + b, A * A * var + float(sched.posterior_var[t])
    a = float(abar[0].sqrt())
    g = s * a / (a * a * s + 1 - a * a)
    mean, var = g * mu + m * (1 - g * a), g * g * var + (1 - a * a) / (a * a)
    return -0.5 * (x - mean) ** 2 / var - 0.5 * math.log(2 * math.pi * var)


def test_bound_is_below_the_exact_log_likelihood_and_tightens_with_T():
    m, s = 0.3, 0.5
    xs = torch.linspace(-1.0, 1.6, 6, dtype=torch.float64)
    reps = 400
    x = xs.repeat_interleave(reps)[:, None]                # each point scored with 400 noise draws
    means = []
    for T in (21, 81, 321):
        sched = _fixed_endpoint_schedule(T)
        bound = variational_bound(gaussian_oracle(sched, torch.tensor([m]), torch.tensor([[s]]).double()), x, sched,
                                  "eps", generator=torch.Generator().manual_seed(T)).view(6, reps)
        exact = _exact_log_prob_1d(sched, xs, m, s)
        se = bound.std(1) / math.sqrt(reps)
        assert (bound.mean(1) < exact + 3 * se).all(), (bound.mean(1), exact)
        means.append(bound.mean())
    assert means[0] < means[1] < means[2]
    # and the library's own cosine schedule: on average below log p_theta
    sched = make_schedule("cosine", 1000)
    bound = variational_bound(gaussian_oracle(sched, torch.tensor([m]), torch.tensor([[s]]).double()), x[::8],
                              sched, "eps", n_terms=200, generator=torch.Generator().manual_seed(0))
    assert bound.mean() < _exact_log_prob_1d(sched, x[::8, 0], m, s).mean()


def test_stratified_bound_is_unbiased():
    m, s = 0.0, 1.0
    sched = make_schedule("cosine", 200)
    oracle = gaussian_oracle(sched, torch.tensor([m]), torch.tensor([[s]]).double())
    x = torch.full((3000, 1), 0.8, dtype=torch.float64)
    full = variational_bound(oracle, x, sched, "eps", generator=torch.Generator().manual_seed(0))
    strat = variational_bound(oracle, x, sched, "eps", n_terms=10, generator=torch.Generator().manual_seed(1))
    se = math.sqrt(full.var() / len(x) + strat.var() / len(x))
    assert abs(full.mean() - strat.mean()) < 4 * se


def test_discretized_gaussian_sums_to_one_over_the_levels():
    levels = 17
    grid = torch.linspace(-1, 1, levels, dtype=torch.float64)
    for mean, std in ((0.0, 0.1), (0.93, 0.01), (-3.0, 0.5), (0.2, 5.0)):
        lp = discretized_gaussian_log_prob(grid, torch.full_like(grid, mean), std, levels)
        torch.testing.assert_close(lp.exp().sum(), torch.tensor(1.0, dtype=torch.float64))
    # far in the upper tail the reflected form stays finite
    lp = discretized_gaussian_log_prob(torch.tensor([0.5]), torch.tensor([-0.9]), 0.01, levels)
    assert torch.isfinite(lp).all() and lp < -1000
