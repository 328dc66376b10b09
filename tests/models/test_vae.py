"""VAE maths against independent references: quadrature over a 1-D latent,
normalisation of the discrete decoders, the conditional marginal, architectures."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.data import ImageCodec, Split
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.vae.likelihoods import log_likelihood, sample_observation


@pytest.fixture(scope="module")
def digits():
    return genlab.datasets.load("digits", seed=0)


@pytest.fixture(scope="module")
def vae_1d(digits):
    """A VAE with a 1-D latent, trained briefly so that q(z|x) is imperfect (a visible gap)."""
    return genlab.create("vae", latent_dim=1, hidden_dims=(64,)).fit(
        digits.train, max_steps=150, batch_size=128, lr=3e-3, progress=False)


def _log_marginal_by_quadrature(model, x, n_grid=4001, span=8.0):
    """log p(x) = log int p(x|z) N(z; 0, 1) dz by the trapezoid rule on [-span, span]."""
    z = torch.linspace(-span, span, n_grid).unsqueeze(1)                  # (G, 1)
    params = model.module_.decode(z)                                      # (G, 1, 8, 8, L)
    log_prior = -0.5 * z.squeeze(1) ** 2 - 0.5 * math.log(2 * math.pi)
    out = []
    for xi in x:
        log_px_z = model.module_.log_px(params, xi.expand(n_grid, *xi.shape))   # (G,)
        f = log_px_z + log_prior
        w = torch.full((n_grid,), math.log(2 * span / (n_grid - 1)))
        w[0] = w[-1] = w[0] - math.log(2)                                 # trapezoid end weights
        out.append(torch.logsumexp(f + w, dim=0))
    return torch.stack(out)


def test_iwae_bound_below_quadrature_and_rising_with_k(vae_1d, digits):
    x = digits.test.x[:16]
    with torch.no_grad():
        exact = _log_marginal_by_quadrature(vae_1d, x)
    bounds = {k: vae_1d.log_prob(x, n_samples=k, seed=0).mean().item() for k in (1, 10, 100, 3000)}
    truth = exact.mean().item()
    assert bounds[1] < bounds[10] < bounds[100] < bounds[3000]
    assert bounds[3000] <= truth + 0.05
    assert truth - bounds[1] > 0.2                 # the ELBO gap is real...
    assert truth - bounds[3000] < 0.1              # ...and the IWAE bound closes it


def test_log_prob_k1_is_an_elbo_estimate(vae_1d, digits):
    """At k = 1 the bound is a single-sample ELBO; averaged over seeds it matches the analytic-KL ELBO."""
    x = digits.test.x[:8]
    est = torch.stack([vae_1d.log_prob(x, n_samples=1, seed=s) for s in range(400)]).mean(0)
    with torch.no_grad():
        mu, logvar = vae_1d.module_.encode(x)
        eps = torch.randn((2000, *mu.shape), generator=torch.Generator().manual_seed(1))
        z = (mu + (0.5 * logvar).exp() * eps).reshape(-1, 1)
        rec = vae_1d.module_.log_px(vae_1d.module_.decode(z), x.repeat(2000, 1, 1, 1)).view(2000, -1).mean(0)
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)
    assert torch.allclose(est, rec - kl, atol=1.0)


@pytest.mark.parametrize("decoder,levels", [("categorical", 17), ("logistic", 17), ("logistic", 256), ("bernoulli", 2)])
def test_discrete_decoders_sum_to_one(decoder, levels):
    """Summing P(x = k / (L-1)) over all L levels of one pixel gives 1."""
    g = torch.Generator().manual_seed(0)
    P = {"categorical": levels, "logistic": 2, "bernoulli": 1}[decoder]
    params = torch.randn(3, 1, 1, 1, P, generator=g).squeeze(-1) if P == 1 else torch.randn(3, 1, 1, 1, P, generator=g)
    grid = torch.arange(levels).float() / (levels - 1)
    logp = torch.stack([log_likelihood(decoder, params, torch.full((3, 1, 1, 1), v.item()), levels) for v in grid])
    assert torch.allclose(logp.exp().sum(0), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("decoder", ["categorical", "logistic"])
def test_decoder_samples_follow_log_likelihood(decoder):
    """Frequencies of sampled levels match exp(log_likelihood) (goodness of fit)."""
    levels, n = 5, 40_000
    params = torch.tensor([[0.3, -1.0, 2.0, 0.0, 0.5]]) if decoder == "categorical" else torch.tensor([[0.1, -1.2]])
    params = params.view(1, 1, 1, 1, -1).expand(n, 1, 1, 1, -1)
    draws = sample_observation(decoder, params, levels, torch.Generator().manual_seed(0))
    freq = torch.bincount(torch.round(draws.flatten() * (levels - 1)).long(), minlength=levels).float() / n
    probs = torch.stack([log_likelihood(decoder, params[:1], torch.full((1, 1, 1, 1), k / (levels - 1)), levels)
                         for k in range(levels)]).exp().squeeze(1)
    assert torch.allclose(freq, probs, atol=0.01)


def test_conditional_vae(digits):
    model = genlab.create("vae", latent_dim=4, hidden_dims=(64,), conditional=True).fit(
        digits.train, max_steps=40, progress=False)
    assert model.sample(6, seed=0, condition=3).shape == (6, 1, 8, 8)
    assert model.sample(3, seed=0, condition=[0, 1, 2]).shape == (3, 1, 8, 8)
    with pytest.raises(InvalidParameterError, match="condition"):
        model.sample(2, condition=[10, 11])
    x, y = digits.test.x[:5], digits.test.y[:5]
    # log p(x) without labels = log sum_c p(c) p(x | c), each term from the conditional bound
    marginal = model.log_prob(x, n_samples=20, seed=0)
    manual = torch.logsumexp(torch.stack([
        model.log_prob(x, torch.full((5,), c), n_samples=20, seed=0) + model.class_prior_[c].log()
        for c in range(10)]), 0)
    assert torch.allclose(marginal, manual, atol=1e-4)
    assert model.log_prob(x, y, n_samples=20).shape == (5,)
    with pytest.raises(DataError, match="labels"):
        genlab.create("vae", conditional=True).fit(digits.train.x[:50], max_steps=1, progress=False)
    unconditional = genlab.create("vae", latent_dim=2, hidden_dims=(8,)).fit(digits.train[:64], max_steps=2,
                                                                             progress=False)
    with pytest.raises(InvalidParameterError, match="not conditional"):
        unconditional.sample(2, condition=1)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 7, 5)])
def test_conv_architecture_shapes(shape):
    codec = ImageCodec(shape, levels=256)
    x = torch.randint(0, 256, (12, *shape)).float() / 255
    model = genlab.create("vae", architecture="conv", latent_dim=3, hidden_dims=(32,), conv_channels=(8, 16),
                          decoder="logistic").fit(Split(x, None, codec), max_steps=3, progress=False)
    assert model.sample(2, seed=0).shape == (2, *shape)
    assert model.log_prob(Split(x, None, codec), n_samples=2).shape == (12,)


def test_categorical_head_factorised_for_256_levels():
    codec = ImageCodec((1, 28, 28), levels=256)
    x = torch.randint(0, 256, (8, 1, 28, 28)).float() / 255
    model = genlab.create("vae", latent_dim=2, hidden_dims=(32,), decoder="categorical").fit(
        Split(x, None, codec), max_steps=2, progress=False)
    n_params = sum(p.numel() for p in model.module_.parameters())
    assert n_params < 2_000_000                       # a dense 784*256 head would need 6.4M for width 32
    lp = model.log_prob(Split(x, None, codec), n_samples=2)
    assert torch.isfinite(lp).all() and (lp < 0).all()


def test_reconstruct_and_interpolate(digits):
    model = genlab.create("vae", latent_dim=4, hidden_dims=(32,)).fit(digits.train, max_steps=20, progress=False)
    assert model.reconstruct(digits.test[:3]).shape == (3, 1, 8, 8)
    path = model.interpolate(digits.test.x[:1], digits.test.x[1:2], steps=5)
    assert path.shape == (5, 1, 8, 8)
    mu, sd = model.encode(digits.test[:3])
    assert mu.shape == sd.shape == (3, 4) and (sd > 0).all()


def test_gaussian_decoder_on_a_table():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1]) + torch.tensor([0.0, 10.0, -2.0])
    model = genlab.create("vae", latent_dim=2, hidden_dims=(32,)).fit(x, max_steps=150, lr=3e-3, progress=False)
    assert model.likelihood_units() == "density"
    s = model.sample(2000, seed=0)
    assert s.shape == (2000, 3)
    assert torch.allclose(s.mean(0), x.mean(0), atol=torch.tensor([0.3, 1.5, 0.05]).max().item())
    assert torch.isfinite(model.log_prob(x[:10])).all()
    with pytest.raises(InvalidParameterError, match="discrete"):
        genlab.create("vae", decoder="categorical").fit(x, max_steps=1, progress=False)


def test_log_prob_reencodes_a_table_split_with_other_statistics():
    from genlab.data import TabularCodec

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g) * 3 + 5
    model = genlab.create("vae", latent_dim=1, hidden_dims=(8,)).fit(x, max_steps=5, progress=False)
    other = TabularCodec.fit(x[:50])                      # another split's own standardisation
    split = Split(other.encode(x[:10]), None, other)
    assert torch.allclose(model.log_prob(split), model.log_prob(x[:10]), atol=1e-4)
