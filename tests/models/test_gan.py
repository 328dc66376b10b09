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


def test_vectors_are_standardised_so_fits_are_equivariant_to_units(tmp_path):
    """With standardisation the players see the same numbers whatever the data's units:
    fitting on 100 x + 50 gives 100 * samples + 50 (up to float rounding)."""
    from genlab.data import Split

    ring = genlab.datasets.load("ring", n=2000)                                  # identity codec: raw units
    x = ring.train.x
    kw = {"latent_dim": 2, "hidden_dims": (16, 16), "r1_gamma": 0.1}
    fit = {"max_steps": 25, "batch_size": 64, "progress": False, "lr": 1e-3}
    a = GAN(**kw).fit(ring.train, **fit)
    b = GAN(**kw).fit(Split(x * 100 + 50, None, ring.codec), **fit)
    net = b.module_
    torch.testing.assert_close(net.shift, (x * 100 + 50).double().mean(0).float())
    torch.testing.assert_close(net.scale, (x * 100 + 50).double().std(0).float())
    torch.testing.assert_close(b.sample(200, seed=0), a.sample(200, seed=0) * 100 + 50, rtol=1e-3, atol=1e-2)
    z = torch.randn(5, 2)
    torch.testing.assert_close(net.generate(z), net.G(z, None) * net.scale + net.shift)
    off = GAN(**kw, standardize=False).fit(ring.train, **fit)
    assert torch.equal(off.module_.shift, torch.zeros(2)) and torch.equal(off.module_.scale, torch.ones(2))
    again = genlab.load(b.save(tmp_path / "g"))                                # the statistics are saved
    assert torch.equal(again.sample(7, seed=1), b.sample(7, seed=1))
    tensors, state = b._get_state()                                             # a model saved before they existed
    old = GAN(**kw)
    old._set_state({k: v for k, v in tensors.items() if k not in ("shift", "scale")}, state)
    torch.testing.assert_close(old.module_.generate(z), net.G(z, None))


def test_penalty_is_measured_in_the_standardised_space():
    net = _net(loss="ns", r1_gamma=2.0).float()
    x = torch.randn(16, 3) * 7 + 3
    net.set_standardization(x)
    _, logs = net(x, generator=torch.Generator().manual_seed(0))
    assert logs["r1"] == pytest.approx(float(r1_penalty(net, (x - net.shift) / net.scale, None).detach()), rel=1e-5)


def test_images_are_not_standardised():
    net = _net(architecture="conv", shape=(1, 8, 8), width=4, image_output=True).float()
    net.set_standardization(torch.rand(10, 1, 8, 8) * 0.2)
    assert torch.equal(net.shift, torch.zeros(1)) and torch.equal(net.scale, torch.ones(1))


def test_toy_recipe_is_valid_and_documented():
    from genlab.training import TrainConfig

    recipe = GAN.toy_recipe
    gan = GAN(**recipe["params"])
    gan._validate_params()
    TrainConfig.from_kwargs("toy_recipe", **recipe["fit"])
    assert recipe["params"]["r1_gamma"] > 0 and recipe["fit"]["ema_decay"] == 0.999
    assert "toy_recipe" in (gan.__doc__ or "")


def test_r1_from_the_d_loss_logits_equals_a_fresh_pass():
    """The training step reuses D's logits on the real batch for R1 (one forward less)."""
    net = _net(loss="ns", r1_gamma=1.0).float()
    x = torch.randn(8, 3)
    leaf = x.clone().requires_grad_(True)
    torch.testing.assert_close(r1_penalty(net, leaf, None, logits=net.discriminate(leaf, None)),
                               r1_penalty(net, x, None))
    loss, logs = net(x, generator=torch.Generator().manual_seed(0))
    assert logs["r1"] == pytest.approx(float(r1_penalty(net, x, None).detach()))
    loss.backward()                                                             # the graph holds together
    assert all(p.grad is not None for p in net.D.parameters())


def test_lazy_r1_every_k_steps_with_k_times_the_weight():
    net = _net(loss="ns", r1_gamma=0.5, r1_every=3).float()
    x = torch.randn(8, 3)
    seen = []
    for _ in range(7):
        loss, logs = net(x, generator=torch.Generator().manual_seed(0))
        seen.append("r1" in logs)
        if "r1" in logs:                                                        # loss_d + 3 * gamma / 2 * r1 + loss_g
            assert float(loss.detach()) == pytest.approx(logs["loss_d"] + 0.75 * logs["r1"] + logs["loss_g"], rel=1e-5)
        else:
            assert float(loss.detach()) == pytest.approx(logs["loss_d"] + logs["loss_g"], rel=1e-5)
    assert seen == [True, False, False, True, False, False, True] and int(net.r1_step) == 7
    net.eval()
    net(x, generator=torch.Generator().manual_seed(0))                          # evaluation does not count
    assert int(net.r1_step) == 7
