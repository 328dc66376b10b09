"""The Diffusion estimator: sampling arguments and their errors, classifier-free guidance
against the conditional and unconditional predictions, determinism, persistence of
conditional models, tables and the data layer's image formats, resume, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import genlab
from genlab.exceptions import DataError, InvalidParameterError
from genlab.models.diffusion import Diffusion
from genlab.models.diffusion.samplers import make_sampler, sample_loop

TINY = {"channels": (8, 16), "timesteps": 40}
FIT = {"max_steps": 3, "batch_size": 32, "progress": False}


@pytest.fixture(scope="module")
def digits():
    return genlab.datasets.load("digits", seed=0)


@pytest.fixture(scope="module")
def model(digits):
    return Diffusion(**TINY).fit(digits.train[:128], **FIT)


@pytest.fixture(scope="module")
def blobs():
    """Labelled 2-D table: class c is N((2c, -c), 0.3^2 I)."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(3).repeat_interleave(100)
    x = torch.stack([2.0 * y, -1.0 * y], 1) + 0.3 * torch.randn(300, 2, generator=g)
    return x, y


@pytest.fixture(scope="module")
def conditional(blobs):
    x, y = blobs
    return Diffusion(hidden_dims=(32, 32), timesteps=30, conditional=True).fit(x, y, max_steps=30, batch_size=100,
                                                                               progress=False)


# ----------------------------------------------------------------------------- sampling
def test_sample_images_on_the_codec_levels(model, digits):
    for sampler in ("dpm++2m", "ddim", "ddpm"):
        x = model.sample(6, seed=0, sampler=sampler, steps=8)
        assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
        assert torch.equal(x, torch.round(x * 16) / 16)            # digits' 17 levels
        assert torch.equal(x, model.sample(6, seed=0, sampler=sampler, steps=8))
    assert model.sample(2, seed=0, sampler="ddpm").shape == (2, 1, 8, 8)   # default: every timestep


def test_ddpm_and_stochastic_ddim_depend_on_the_seed_beyond_the_start(model):
    net = model.module_
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    predict = lambda xt, t: net.denoise(xt, t)
    with torch.no_grad():
        runs = {(name, eta, s): sample_loop(predict, make_sampler(name, net.schedule, 10, eta), x, "eps", 1.0,
                                            torch.Generator().manual_seed(s))
                for name, eta in (("ddim", 0.0), ("ddim", 1.0), ("ddpm", 0.0)) for s in (1, 2)}
    assert torch.equal(runs["ddim", 0.0, 1], runs["ddim", 0.0, 2])
    assert not torch.equal(runs["ddim", 1.0, 1], runs["ddim", 1.0, 2])
    assert not torch.equal(runs["ddpm", 0.0, 1], runs["ddpm", 0.0, 2])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"steps": 41}, "steps"), ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"),
    ({"sampler": "euler"}, "sampler"), ({"eta": 0.5}, "eta"), ({"sampler": "ddim", "eta": 2.0}, "eta"),
    ({"guidance": 3.0}, "conditional"), ({"guidance": float("nan")}, "guidance"), ({"condition": 1}, "conditional"),
])
def test_sample_rejects_bad_arguments(model, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        model.sample(2, seed=0, **kwargs)


def test_condition_must_name_known_labels(conditional):
    with pytest.raises(InvalidParameterError, match="0..2"):
        conditional.sample(2, seed=0, condition=3)
    with pytest.raises(InvalidParameterError, match="labels"):
        conditional.sample(3, seed=0, condition=[0, 1])


def _manual(model, n, label, seed, steps=10):
    """The sampling loop run by hand with one label (n_classes: the null label) for every sample."""
    net = model.module_
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, 2), generator=gen)
    y = torch.full((n,), label, dtype=torch.long)
    with torch.no_grad():
        out = sample_loop(lambda xt, t: net.denoise(xt, t, y), make_sampler("dpm++2m", net.schedule, steps), x,
                          "eps", None, gen)
    return model.codec_.decode(out)


def test_guidance_one_is_the_conditional_model_and_zero_the_unconditional(conditional):
    cond = conditional.sample(50, seed=3, condition=2, steps=10, guidance=1.0)
    torch.testing.assert_close(cond, _manual(conditional, 50, 2, 3))
    uncond = conditional.sample(50, seed=3, condition=2, steps=10, guidance=0.0)
    torch.testing.assert_close(uncond, _manual(conditional, 50, 3, 3))   # 3: the null label
    assert torch.equal(uncond, conditional.sample(50, seed=3, condition=0, steps=10, guidance=0.0))
    # w in between: the guided output is out_u + w (out_c - out_u), and w = 1 agrees with it
    net = conditional.module_
    x, t = torch.randn(5, 2, generator=torch.Generator().manual_seed(0)), torch.tensor(7)
    y = torch.full((5,), 1)
    with torch.no_grad():
        out_c, out_u = net.denoise(x, t, y), net.denoise(x, t, torch.full((5,), 3))
        for w in (0.0, 1.0, 2.5):
            torch.testing.assert_close(conditional._predictor(y, w)(x, t), out_u + w * (out_c - out_u))


def test_conditional_samples_follow_their_label(conditional):
    x = conditional.sample(200, seed=0, condition=2, steps=20)
    assert x.shape == (200, 2) and torch.isfinite(x).all()
    assert x[:, 0].mean() > 2.5        # class 2 sits at (4, -2); classes 0 and 1 at x < 2.5


def test_conditional_log_prob_and_persistence(conditional, blobs, tmp_path):
    x, y = blobs
    given = conditional.log_prob(x[:20], y[:20], n_terms=10)
    per_class = torch.stack([conditional.log_prob(x[:20], torch.full((20,), c), n_terms=10)
                             + math.log(conditional.class_prior_[c]) for c in range(3)])
    torch.testing.assert_close(conditional.log_prob(x[:20], n_terms=10), torch.logsumexp(per_class, 0))
    assert given.shape == (20,) and torch.isfinite(given).all()
    assert conditional.likelihood_units() == "density"
    loaded = genlab.load(conditional.save(tmp_path / "m"))
    assert torch.equal(loaded.sample(8, seed=1, condition=1, guidance=2.0),
                       conditional.sample(8, seed=1, condition=1, guidance=2.0))
    assert torch.equal(loaded.log_prob(x[:5], y[:5], n_terms=5), conditional.log_prob(x[:5], y[:5], n_terms=5))
    torch.testing.assert_close(loaded.class_prior_, conditional.class_prior_)


# ----------------------------------------------------------------------------- likelihood
def test_log_prob_is_a_discrete_bound_and_reproducible(model, digits):
    lp = model.log_prob(digits.test[:10], n_terms=8)
    assert lp.shape == (10,) and (lp <= 0).all() and model.likelihood_units() == "discrete"
    assert torch.equal(lp, model.log_prob(digits.test[:10], n_terms=8))
    assert not torch.equal(lp, model.log_prob(digits.test[:10], n_terms=8, seed=1))
    full = model.log_prob(digits.test[:10], n_terms=None)         # every one of the 39 terms
    assert torch.isfinite(full).all()
    with pytest.raises(InvalidParameterError, match="n_terms"):
        model.log_prob(digits.test[:2], n_terms=0)


# ----------------------------------------------------------------------------- fit
@pytest.mark.parametrize(("params", "match"), [
    ({"architecture": "unet", "channels": (8, 8, 8, 8, 8)}, "divide"),
    ({"attention_levels": (2,)}, "attention_levels"),
    ({"channels": (8, 20), "head_dim": 6}, "head_dim"),
])
def test_fit_rejects_networks_that_do_not_fit_the_data(digits, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        Diffusion(**{**TINY, **params}).fit(digits.train[:32], **FIT)


def test_levels_posterior_with_a_flat_prior_is_bayes_rule(digits):
    model = Diffusion(channels=(8, 16), prediction="levels").fit(digits.train[:32], **FIT)
    net = model.module_
    torch.nn.init.zeros_(net.denoiser.conv_out.weight)
    torch.nn.init.zeros_(net.denoiser.conv_out.bias)                # network logits 0: a flat prior over levels
    g = torch.Generator().manual_seed(0)
    x_t = torch.randn(3, 1, 8, 8, generator=g)
    grid = torch.linspace(-1, 1, 17, dtype=torch.float64)
    for t in (0, 5, 500, 999):
        abar = net.schedule.alphas_cumprod[t]
        with torch.no_grad():
            got = net.denoise(x_t, torch.tensor(t))
        # p(level | x_t) proportional to N(x_t; sqrt(abar) level, 1 - abar), pixel by pixel
        logw = -(x_t.double()[..., None] - abar.sqrt() * grid) ** 2 / (2 * (1 - abar))
        torch.testing.assert_close(got.double(), (logw.softmax(-1) * grid).sum(-1), atol=1e-5, rtol=1e-5)
    # at the lowest noise (std 0.006, a tenth of half a level) the clean image comes back exactly
    x0 = net.to_model(digits.test.x[:4])
    a, s = net.sqrt_abar[0], net.sqrt_1m_abar[0]
    with torch.no_grad():
        est = net.denoise(a * x0 + s * torch.randn(x0.shape, generator=g), torch.tensor(0))
    assert (est - x0).abs().max() < 1e-4


def test_levels_prediction_needs_discrete_images():
    with pytest.raises(InvalidParameterError, match="levels"):
        Diffusion(prediction="levels", hidden_dims=(8,)).fit(torch.randn(20, 3), max_steps=1, progress=False)


def test_conditional_fit_needs_labels():
    with pytest.raises(DataError, match="labels"):
        Diffusion(conditional=True, hidden_dims=(8,)).fit(torch.randn(20, 3), max_steps=1, progress=False)


@pytest.mark.parametrize("params", [
    {"prediction": "x0", "loss_weighting": "min-snr"}, {"prediction": "v", "schedule": "linear", "timesteps": 100},
    {"architecture": "mlp", "hidden_dims": (16, 16)}, {"conditional": True, "dropout": 0.1},
    {"prediction": "levels"}, {"prediction": "levels", "architecture": "mlp", "hidden_dims": (16,)},
])
def test_fit_variants_train_and_sample(digits, params):
    model = Diffusion(**{**TINY, **params}).fit(digits.train[:64], **FIT, precision="bf16")
    assert model.sample(3, seed=0, steps=4).shape == (3, 1, 8, 8)
    assert torch.isfinite(model.history_[-1]["loss"] * torch.ones(1)).all()


def test_tables_come_back_in_original_units():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 3, generator=g) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([0.0, 100.0, -5.0])
    model = Diffusion(hidden_dims=(32,), timesteps=20).fit(x, max_steps=2, batch_size=50, progress=False)
    s = model.sample(4, seed=0)
    assert s.shape == (4, 3) and model.module_.cfg.architecture == "mlp"
    assert model.likelihood_units() == "density" and torch.isfinite(model.log_prob(x[:4])).all()


def test_vectors_are_standardised_inside_the_model():
    from genlab.data import Split, TabularCodec

    identity = TabularCodec(["a", "b"], [0.0, 0.0], [1.0, 1.0])          # the toy datasets' raw coordinates
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, generator=g) * torch.tensor([0.5, 2.0]) + torch.tensor([1.0, -3.0])
    fits = [Diffusion(hidden_dims=(16,), timesteps=20).fit(Split(c * x, None, identity), max_steps=3, batch_size=50,
                                                           progress=False) for c in (1.0, 10.0)]
    # the model sees the same standardised data, so samples scale with the data and densities by 10^-D
    torch.testing.assert_close(fits[1].sample(5, seed=0), 10 * fits[0].sample(5, seed=0), rtol=1e-4, atol=1e-4)
    lp = [m.log_prob(c * x[:10], n_terms=5) for m, c in zip(fits, (1.0, 10.0))]
    torch.testing.assert_close(lp[1], lp[0] - 2 * math.log(10.0), rtol=1e-6, atol=1e-6)


def test_resume_reaches_the_same_weights(digits, tmp_path):
    data = digits.train[:64]
    full = Diffusion(**TINY).fit(data, max_steps=4, batch_size=16, progress=False, out=str(tmp_path / "a"))
    Diffusion(**TINY).fit(data, max_steps=2, batch_size=16, progress=False, out=str(tmp_path / "b"),
                          checkpoint_every=2)
    resumed = Diffusion(**TINY).fit(data, max_steps=4, batch_size=16, progress=False, out=str(tmp_path / "b"),
                                    resume=True)
    for (k, a), b in zip(full.module_.state_dict().items(), resumed.module_.state_dict().values()):
        assert torch.equal(a, b), k


# ----------------------------------------------------------------------------- data and CLI
def test_npz_images_and_image_folders(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(40, 12, 12), dtype=np.uint8)
    np.savez(tmp_path / "imgs.npz", x=imgs, y=np.arange(40) % 2)
    for c in range(2):
        (tmp_path / "folder" / str(c)).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(imgs[i]).save(tmp_path / "folder" / str(c) / f"{i}.png")
    for path in (tmp_path / "imgs.npz", tmp_path / "folder"):
        data = genlab.datasets.load(str(path))
        model = Diffusion(**TINY).fit(data.train, **FIT)
        s = model.sample(2, seed=0, steps=3)
        assert s.shape == (2, 1, 12, 12) and torch.equal(s, torch.round(s * 255) / 255)
        assert torch.isfinite(model.log_prob(data.test, n_terms=4)).all()


def test_mnist_files(shared_data):
    data = genlab.datasets.load("mnist", root=str(shared_data / "mnist"))
    model = Diffusion(**TINY).fit(data.train[:64], **FIT)
    assert model.sample(2, seed=0, steps=3).shape == (2, 1, 28, 28)
    assert (model.log_prob(data.test[:4], n_terms=4) <= 0).all()


def test_cli_train_and_sample(tmp_path, capsys):
    from genlab.cli import main

    run = tmp_path / "run"
    assert main(["train", "diffusion", "--data", "digits", "--out", str(run), "--channels", "8,16",
                 "--timesteps", "20", "--max-steps", "2", "--batch-size", "16", "--progress", "false"]) == 0
    assert main(["sample", str(run), "-n", "4", "--seed", "0", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 1, 8, 8)
    assert main(["sample", str(run), "-n", "3", "--steps", "5", "--sampler", "ddim", "--eta", "0.5",
                 "--out", str(tmp_path / "d.npy")]) == 0
    assert np.load(tmp_path / "d.npy").shape == (3, 1, 8, 8)
