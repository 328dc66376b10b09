"""Trainer: exact resume, NaN/Inf guard, crash-safe checkpoints, schedule, EMA, logs."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import genlab
from genlab.exceptions import InvalidParameterError, NonFiniteLossError
from genlab.training import StopAtStep, TrainConfig, Trainer
from genlab.training import checkpoint as ckpt
from genlab.training.checkpoint import find_checkpoint, load_checkpoint
from genlab.training.ema import EMA
from genlab.training.optim import build_optimizer, lr_factor


class NoisyRegression(nn.Module):
    """A small net whose loss uses the trainer's generator (like a VAE's reparameterisation)."""

    def __init__(self, nan_at_call: int | None = None):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
        self.calls, self.nan_at_call = 0, nan_at_call

    def forward(self, x, y, *, generator):
        self.calls += 1
        noise = torch.randn(x.shape, generator=generator) * 0.1
        loss = ((self.net(x + noise).squeeze(-1) - y) ** 2).mean()
        if self.nan_at_call is not None and self.calls >= self.nan_at_call:
            loss = loss * float("nan")
        return loss


def _data(n=100):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    return [x, x.sum(1).sin()]


def _module(**kw):
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return NoisyRegression(**kw)


def _config(tmp_path, **kw):
    base = dict(max_steps=24, batch_size=16, lr=1e-2, warmup_steps=3, ema_decay=0.9, progress=False,
                out=str(tmp_path), checkpoint_every=5, log_every=1, device="cpu")
    return TrainConfig.from_kwargs(**{**base, **kw})


def test_resume_is_bit_identical(tmp_path):
    full = Trainer(_module(), _config(tmp_path / "full")).fit(_data())
    # a run killed at step 13: its last checkpoint is at step 10
    with pytest.raises(KeyboardInterrupt):
        Trainer(_module(), _config(tmp_path / "cut"), [StopAtStep(13)]).fit(_data())
    _, meta = load_checkpoint(find_checkpoint(tmp_path / "cut"))
    assert meta["step"] == 10
    resumed = Trainer(_module(), _config(tmp_path / "cut", resume=True)).fit(_data())
    assert resumed.step == full.step == 24
    for (name, a), b in zip(full.module.state_dict().items(), resumed.module.state_dict().values()):
        assert torch.equal(a, b), name
    rows = [json.loads(r) for r in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 25))   # rows after the checkpoint were replaced


def test_resume_through_the_model_api(tmp_path):
    data = genlab.datasets.load("digits").train[:200]
    kw = dict(max_steps=12, batch_size=32, progress=False, checkpoint_every=4)
    full = genlab.create("vae", latent_dim=2, hidden_dims=(16,)).fit(data, out=str(tmp_path / "a"), **kw)
    with pytest.raises(KeyboardInterrupt):
        genlab.create("vae", latent_dim=2, hidden_dims=(16,)).fit(
            data, out=str(tmp_path / "b"), callbacks=[StopAtStep(6)], **kw)
    resumed = genlab.create("vae", latent_dim=2, hidden_dims=(16,)).fit(data, out=str(tmp_path / "b"),
                                                                        resume=True, **kw)
    for a, b in zip(full.module_.state_dict().values(), resumed.module_.state_dict().values()):
        assert torch.equal(a, b)


def test_keep_best_ends_with_the_best_evaluated_weights(tmp_path):
    x, y = _data(30)
    val = [x, -y]    # a validation target the training moves away from: the best is early
    trainer = Trainer(_module(), _config(tmp_path, eval_every=3, keep_best=True)).fit(_data(), val=val)
    vals = [(r["val_loss"], r["step"]) for r in trainer.history if "val_loss" in r]
    assert trainer.best_step == min(vals)[1] < 24
    again = trainer.evaluate(val)["val_loss"]           # the module now holds the weights evaluated then
    assert again == pytest.approx(min(vals)[0], abs=1e-6)
    with pytest.raises(InvalidParameterError, match="keep_best"):
        Trainer(_module(), _config(tmp_path, keep_best=True)).fit(_data())


def test_resume_with_keep_best_is_bit_identical(tmp_path):
    kw = {"eval_every": 4, "keep_best": True}
    x, y = _data(30)
    full = Trainer(_module(), _config(tmp_path / "full", **kw)).fit(_data(), val=[x, -y])
    assert full.best_step < 24
    with pytest.raises(KeyboardInterrupt):
        Trainer(_module(), _config(tmp_path / "cut", **kw), [StopAtStep(17)]).fit(_data(), val=[x, -y])
    resumed = Trainer(_module(), _config(tmp_path / "cut", resume=True, **kw)).fit(_data(), val=[x, -y])
    assert resumed.best_step == full.best_step
    for a, b in zip(full.module.state_dict().values(), resumed.module.state_dict().values()):
        assert torch.equal(a, b)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tmp_path):
    trainer = Trainer(_module(nan_at_call=8), _config(tmp_path, max_steps=20))
    with pytest.raises(NonFiniteLossError, match="step 8") as info:
        trainer.fit(_data())
    assert info.value.step == 8
    assert info.value.checkpoint is not None
    tensors, meta = load_checkpoint(find_checkpoint(tmp_path))
    assert meta["step"] == 5
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if t.is_floating_point())


def test_crash_during_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    real, calls = ckpt.save_tensors, {"n": 0}

    def flaky(path, tensors):
        calls["n"] += 1
        if calls["n"] == 2:
            path.write_bytes(b"half a file")
            raise OSError("disk full")
        real(path, tensors)

    monkeypatch.setattr(ckpt, "save_tensors", flaky)
    with pytest.raises(OSError, match="disk full"):
        Trainer(_module(), _config(tmp_path)).fit(_data())
    folder = find_checkpoint(tmp_path)
    tensors, meta = load_checkpoint(folder)
    assert meta["step"] == 5 and "module.net.0.weight" in tensors
    assert not list(tmp_path.glob(".train_state*"))    # no temporary folder left behind


def test_crash_between_renames_falls_back_to_old(tmp_path):
    Trainer(_module(), _config(tmp_path, max_steps=5)).fit(_data())
    (tmp_path / "train_state").rename(tmp_path / "train_state.old")
    assert find_checkpoint(tmp_path) == tmp_path / "train_state.old"


def test_lr_schedule_warmup_then_cosine():
    f = [lr_factor(s, 100, 10, "cosine", 0.1) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0)
    assert f[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert all(a >= b for a, b in zip(f[10:], f[11:]))
    assert lr_factor(50, 100, 0, "constant", 0.1) == 1.0


def test_weight_decay_groups():
    module = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    opt = build_optimizer(module, 1e-3, 0.1)
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    assert decayed == {id(module[0].weight)}
    assert opt.param_groups[1]["weight_decay"] == 0.0


def test_ema_matches_formula():
    module = nn.Linear(2, 1)
    ema = EMA(module, 0.9)
    start = module.weight.detach().clone()
    with torch.no_grad():
        module.weight.add_(1.0)
    ema.update(module)
    assert torch.allclose(ema.shadow["weight"], 0.9 * start + 0.1 * (start + 1.0))


def test_bf16_autocast_trains(tmp_path):
    trainer = Trainer(_module(), _config(tmp_path, precision="bf16", ema_decay=None)).fit(_data())
    assert math.isfinite(trainer.loss)


def test_evaluation_and_metrics_log(tmp_path):
    trainer = Trainer(_module(), _config(tmp_path, eval_every=8, log_every=4)).fit(_data(), val=_data(30))
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "val_loss" in r] == [8, 16, 24]
    assert {"loss", "lr", "grad_norm", "examples_per_s"} <= set(rows[0])
    assert trainer.history == rows


def test_config_rejects_bad_options():
    with pytest.raises(InvalidParameterError, match="batch_size"):
        TrainConfig.from_kwargs(batch_size=0)
    with pytest.raises(InvalidParameterError, match="precision"):
        TrainConfig.from_kwargs(precision="fp8")
    with pytest.raises(InvalidParameterError, match="needs out"):
        TrainConfig.from_kwargs(resume=True)
