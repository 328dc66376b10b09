"""GAN pieces against independent references: the WGAN-GP penalty against finite
differences, spectral norm against the top singular value, the losses against their
formulas; seeds, persistence and errors."""

from __future__ import annotations

import math

import pytest
import torch

import genlab
from genlab.exceptions import InvalidParameterError, LikelihoodNotAvailableError
from genlab.models.gan import GAN
from genlab.models.gan.networks import GANNetwork, d_loss, g_loss, gradient_penalty, r1_penalty


def _net(**kw) -> GANNetwork:
    cfg = {"shape": (3,), "latent_dim": 2, "architecture": "mlp", "hidden": (5,), "width": 4, "n_classes": 0,
           "loss": "wgan-gp", "sn": False, "pack": 1, "gp_weight": 10.0, "r1_gamma": 0.0, "d_lr_scale": 1.0,
           "betas": (0.5, 0.999), "image_output": False, **kw}
    torch.manual_seed(0)
    return GANNetwork(**cfg).double()


def _fd_grad_norm(net: GANNetwork, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """||d D(x_i) / d x_i|| for each row by central finite differences (float64)."""
    out = []
    for row in x:
        g = torch.zeros_like(row)
        for j in range(len(row)):
            e = torch.zeros_like(row)
            e[j] = h
            g[j] = (net.discriminate((row + e)[None], None) - net.discriminate((row - e)[None], None)).item() / (2 * h)
        out.append(g.norm())
    return torch.stack(out)


def test_gradient_penalty_equals_finite_differences():
    net = _net()
    real, fake = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    gp = gradient_penalty(net, real, fake, None, torch.Generator().manual_seed(3))
    eps = torch.rand((6, 1), generator=torch.Generator().manual_seed(3), dtype=torch.float32).double()
    x_hat = eps * real + (1 - eps) * fake
    ref = ((_fd_grad_norm(net, x_hat) - 1) ** 2).mean()
    torch.testing.assert_close(gp, ref, rtol=1e-5, atol=1e-8)
    r1 = r1_penalty(net, real, None)
    torch.testing.assert_close(r1, (_fd_grad_norm(net, real) ** 2).mean(), rtol=1e-5, atol=1e-8)


def test_packed_penalty_uses_the_packed_gradient():
    net = _net(pack=2, hidden=(4,))
    real, fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    gp = gradient_penalty(net, real, fake, None, torch.Generator().manual_seed(1))
    eps = torch.rand((4, 1), generator=torch.Generator().manual_seed(1)).double()
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(net.discriminate(x_hat, None).sum(), x_hat)
    ref = ((grad.reshape(2, 6).norm(dim=1) - 1) ** 2).mean()                   # one norm per packed pair
    torch.testing.assert_close(gp, ref)


@pytest.mark.parametrize("architecture, shape", [("mlp", (3,)), ("conv", (1, 8, 8))])
def test_spectral_norm_bounds_the_top_singular_value(architecture, shape):
    net = _net(architecture=architecture, shape=shape, sn=True, hidden=(16, 16), width=4,
               image_output=architecture == "conv").float()
    x = torch.randn(32, *shape)
    net.train()
    for _ in range(300):                                                        # power iterations
        net.discriminate(x, None)
    net.eval()
    checked = 0
    for module in net.D.modules():
        if hasattr(module, "parametrizations") and "weight" in module.parametrizations:
            w = module.weight.reshape(module.weight.shape[0], -1)
            assert torch.linalg.matrix_norm(w, 2) <= 1 + 1e-3
            checked += 1
    assert checked >= 3


def test_losses_match_their_formulas():
    r, f = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    torch.testing.assert_close(d_loss("ns", r, f), sp(-r).mean() + sp(f).mean())
    torch.testing.assert_close(d_loss("hinge", r, f), torch.relu(1 - r).mean() + torch.relu(1 + f).mean())
    torch.testing.assert_close(d_loss("wgan-gp", r, f), f.mean() - r.mean())
    torch.testing.assert_close(g_loss("ns", f), sp(-f).mean())
    torch.testing.assert_close(g_loss("hinge", f), -f.mean())


def test_generator_step_leaves_the_discriminator_alone():
    """One backward of the summed loss: D's gradient equals that of its own loss only."""
    net = _net(loss="ns").float()
    x = torch.randn(8, 3)
    loss, _ = net(x, generator=torch.Generator().manual_seed(0))
    loss.backward()
    grads = [p.grad.clone() for p in net.D.parameters()]
    net.zero_grad()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 2, generator=g)
    fake = net.generate(z)
    d_only = d_loss("ns", net.discriminate(x, None), net.discriminate(fake.detach(), None))
    d_only.backward()
    for a, p in zip(grads, net.D.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_two_time_scale_groups():
    net = _net(d_lr_scale=4.0)
    groups = net.optimizer_groups()
    assert groups[0]["lr_scale"] == 1.0 and groups[1]["lr_scale"] == 4.0
    assert groups[0]["betas"] == (0.5, 0.999)


def test_fit_seeds_persistence_and_errors(tmp_path):
    data = genlab.datasets.load("digits", seed=0)
    gan = GAN(width=8, latent_dim=8).fit(data.train, max_steps=10, batch_size=64, progress=False)
    a = gan.sample(6, seed=0)
    assert a.shape == (6, 1, 8, 8) and torch.equal(a, gan.sample(6, seed=0)) and not torch.equal(a, gan.sample(6, seed=1))
    assert torch.equal(a, data.codec.quantize(a))                               # on the data's grey levels
    again = genlab.load(gan.save(tmp_path / "g"))
    assert torch.equal(again.sample(6, seed=0), a)
    with pytest.raises(LikelihoodNotAvailableError, match="no density.*precision/recall"):
        gan.log_prob(data.test)
    with pytest.raises(InvalidParameterError, match="multiple of pack"):
        GAN(pack=3).fit(data.train, max_steps=1, batch_size=64, progress=False)
    with pytest.raises(InvalidParameterError, match="cannot be combined"):
        GAN(pack=2, conditional=True).fit(data.train, max_steps=1, progress=False)
    cond = GAN(width=8, conditional=True).fit(data.train, max_steps=5, batch_size=64, progress=False)
    assert cond.sample(3, seed=0, condition=7).shape == (3, 1, 8, 8)
    with pytest.raises(InvalidParameterError, match="condition"):
        cond.sample(2, condition=10)
    assert math.isfinite(gan.history_[-1]["loss_d"])
