"""The contract every registered model keeps (scikit-learn's parametrize_with_checks idea).

Each family gets the same checks with tiny hyperparameters: construction stores
only parameters, validation errors name the parameter, NotFittedError, fit returns
self, shapes, finite log-probabilities, seeds, and save/load round trips.
"""

from __future__ import annotations

import json

import pytest
import torch

import genlab
from genlab.exceptions import (
    CheckpointError,
    DataError,
    InvalidParameterError,
    LikelihoodNotAvailableError,
    NotFittedError,
    UnknownNameError,
)

# Tiny settings per family: (constructor params, fit options). A new family adds a row.
TINY = {
    "bayesnet": ({"max_indegree": 2}, {"max_steps": 20}),
    "diffusion": ({"channels": (8, 16), "timesteps": 50}, {"max_steps": 5, "batch_size": 64}),
    "gan": ({"width": 8, "latent_dim": 8}, {"max_steps": 5, "batch_size": 64}),
    "gpt": ({"n_layer": 1, "n_head": 2, "n_embd": 16, "context_length": 64}, {"max_steps": 5, "batch_size": 64}),
    "hmm": ({"n_states": 3, "max_iter": 3}, {"max_steps": 3}),
    "vae": ({"latent_dim": 2, "hidden_dims": (32,)}, {"max_steps": 15, "batch_size": 64}),
}
FIT = {"progress": False}


@pytest.fixture(scope="module")
def digits():
    return genlab.datasets.load("digits", seed=0)


def _fitted(name, digits):
    params, fit = TINY[name]
    return genlab.create(name, **params).fit(digits.train[:256], **fit, **FIT)


@pytest.fixture(scope="module", params=genlab.available())
def fitted(request, digits):
    return _fitted(request.param, digits)


def test_every_family_has_tiny_settings():
    assert set(TINY) == set(genlab.available())


@pytest.mark.parametrize("name", genlab.available())
def test_init_stores_only_parameters(name):
    params, _ = TINY[name]
    model = genlab.create(name, **params)
    assert set(vars(model)) == set(model.get_params())
    assert model.get_params() == {**type(model).param_defaults(), **params}
    assert not any(k.endswith("_") for k in vars(model))
    clone = model.clone()
    assert clone.get_params() == model.get_params() and clone is not model
    assert repr(model).startswith(type(model).__name__ + "(")


@pytest.mark.parametrize("name", genlab.available())
def test_create_rejects_unknown_parameter(name):
    with pytest.raises(InvalidParameterError, match="no_such_param"):
        genlab.create(name, no_such_param=1)


def test_create_rejects_unknown_model():
    with pytest.raises(UnknownNameError, match="available models"):
        genlab.create("no-such-model")


@pytest.mark.parametrize("name", genlab.available())
def test_fit_raises_on_ill_typed_parameter(name, digits):
    for param in genlab.models.get_class(name).param_defaults():
        model = genlab.create(name, **TINY[name][0])
        model.set_params(**{param: object()})
        with pytest.raises(InvalidParameterError, match=param):
            model.fit(digits.train[:64], max_steps=1, progress=False)


@pytest.mark.parametrize("name", genlab.available())
def test_fit_raises_on_unknown_training_option(name, digits):
    with pytest.raises(InvalidParameterError, match="max_stepz"):
        genlab.create(name, **TINY[name][0]).fit(digits.train[:64], max_stepz=3)


@pytest.mark.parametrize("name", genlab.available())
def test_methods_raise_not_fitted(name, digits, tmp_path):
    model = genlab.create(name, **TINY[name][0])
    with pytest.raises(NotFittedError, match="fit"):
        model.sample(2)
    if model.likelihood is not None:
        with pytest.raises(NotFittedError):
            model.log_prob(digits.test)
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("name", genlab.available())
def test_fit_raises_on_bad_data(name):
    model = genlab.create(name, **TINY[name][0])
    with pytest.raises(DataError, match="empty"):
        model.fit(torch.zeros(0, 1, 8, 8), max_steps=1, progress=False)
    bad = torch.rand(16, 1, 8, 8)
    bad[3, 0, 2, 2] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        model.fit(bad, max_steps=1, progress=False)
    with pytest.raises(DataError, match="labels"):
        model.fit(torch.rand(16, 1, 8, 8), y=torch.zeros(5), max_steps=1, progress=False)
    with pytest.raises(NotFittedError):   # a fit that failed leaves the model unfitted
        model.sample(2)


def test_fit_returns_self_and_sets_learned_state(digits):
    for name in genlab.available():
        params, fit = TINY[name]
        model = genlab.create(name, **params)
        assert model.fit(digits.train[:128], **fit, **FIT) is model
        assert any(k.endswith("_") for k in vars(model))


def test_fit_leaves_global_rng_alone(digits):
    for name in genlab.available():
        state = torch.get_rng_state()
        _fitted(name, digits)
        assert torch.equal(state, torch.get_rng_state())


def test_sample_shape_and_seeds(fitted, digits):
    a = fitted.sample(5, seed=0)
    assert a.shape == (5, *digits.codec.event_shape)
    assert torch.equal(a, fitted.sample(5, seed=0))
    assert not torch.equal(a, fitted.sample(5, seed=1))
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(fitted.sample(5, seed=gen), a)
    assert not torch.equal(fitted.sample(5, seed=gen), a)  # a Generator advances
    assert a.min() >= 0 and a.max() <= 1
    with pytest.raises(InvalidParameterError):
        fitted.sample(0)
    with pytest.raises(InvalidParameterError, match="seed"):
        fitted.sample(2, seed="zero")


def test_log_prob_shape_and_finite(fitted, digits):
    if fitted.likelihood is None:
        with pytest.raises(LikelihoodNotAvailableError, match="genlab.evaluate"):
            fitted.log_prob(digits.test)
        return
    assert fitted.likelihood in ("exact", "lower_bound")
    lp = fitted.log_prob(digits.test[:20])
    assert lp.shape == (20,) and torch.isfinite(lp).all()
    if fitted.likelihood_units() == "discrete":
        assert (lp <= 0).all()  # log of a probability
    assert torch.equal(lp, fitted.log_prob(digits.test[:20]))
    with pytest.raises(DataError):
        fitted.log_prob(torch.rand(3, 1, 5, 5))  # wrong shape for this model


def test_save_load_round_trip(fitted, digits, tmp_path):
    folder = fitted.save(tmp_path / "model")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "codec.json"}
    loaded = genlab.load(folder)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    assert torch.equal(loaded.sample(6, seed=3), fitted.sample(6, seed=3))
    if fitted.likelihood is not None:
        assert torch.equal(loaded.log_prob(digits.test[:10]), fitted.log_prob(digits.test[:10]))
    assert type(fitted).load(folder).get_params() == fitted.get_params()


def test_load_rejects_broken_folders(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    with pytest.raises(CheckpointError, match="does not exist"):
        genlab.load(tmp_path / "missing")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        genlab.load(folder)
    folder = fitted.save(tmp_path / "m2")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(CheckpointError, match="Upgrade genlab"):
        genlab.load(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        genlab.load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        genlab.load(folder)
