"""The one training loop of every neural family (minGPT's trainer: it knows no model).

The trainer takes a ``torch.nn.Module`` whose ``forward(*batch, generator=g)``
returns the scalar loss to minimise (or ``(loss, {"name": value, ...})``), and
tensors of training data. It owns the optimiser (AdamW with weight-decay groups),
the warmup + cosine schedule, gradient clipping, EMA, bf16 autocast, evaluation,
``metrics.jsonl``, checkpoints, exact resume and the NaN/Inf guard.

Determinism: batch order is a function of ``(seed, epoch)``; the loss's noise comes
from one ``torch.Generator`` whose state is checkpointed; the schedule is a pure
function of the step. So a run stopped at step k and resumed reaches bit-identical
weights to an uninterrupted run (on the CPU).

Distributed: under ``torchrun`` each rank takes its slice of every global batch,
the module is wrapped in DistributedDataParallel, and only rank 0 writes files.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from genlab.exceptions import CheckpointError, InvalidParameterError, NonFiniteLossError
from genlab.training.checkpoint import (
    find_checkpoint,
    load_checkpoint,
    optimizer_from_flat,
    optimizer_to_flat,
    save_checkpoint,
)
from genlab.training.distributed import is_main_process, rank, world_size
from genlab.training.ema import EMA
from genlab.training.optim import build_optimizer, lr_factor
from genlab.utils.device import resolve_device
from genlab.utils.validation import Interval, Options, check_params

__all__ = ["TrainConfig", "Trainer"]


@dataclass
class TrainConfig:
    """Options of a training run; ``fit(**training)`` and the CLI take the same names.

    Attributes
    ----------
    max_steps : int or None
        Number of optimiser steps. If None, ``epochs`` passes over the data.
    epochs : int or None
        Used when ``max_steps`` is None (default 10 then).
    batch_size : int
        Examples per optimiser step (the global batch, split across DDP ranks).
    lr : float
        Peak learning rate of AdamW.
    weight_decay : float
        Decoupled weight decay for matrices and kernels (not biases or norms).
    warmup_steps : int
        Linear warmup length in steps.
    lr_schedule : {"cosine", "constant"}
        Shape of the learning rate after warmup.
    min_lr_ratio : float
        Final learning rate of the cosine schedule, as a fraction of ``lr``.
    grad_clip : float or None
        Clip the global gradient norm to this value (None: no clipping).
    ema_decay : float or None
        Keep an exponential moving average of the weights; the model ends with them.
    eval_every : int or None
        Evaluate on ``val`` every this many steps (and at the end). None: at the end only.
        With ``ema_decay`` the EMA weights are the ones evaluated.
    keep_best : bool
        End with the evaluated weights that had the lowest validation loss (early
        stopping without stopping); needs ``val``.
    checkpoint_every : int or None
        Write ``out/train_state`` every this many steps (and at the end). Needs ``out``.
    log_every : int
        Append a row to ``out/metrics.jsonl`` every this many steps.
    precision : {"fp32", "bf16"}
        ``"bf16"`` runs the forward pass under bfloat16 autocast (weights stay fp32).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``...
    seed : int
        Seeds the batch order and the training noise.
    out : str or None
        Run folder for ``metrics.jsonl`` and checkpoints.
    resume : bool
        Continue from the checkpoint in ``out`` if there is one.
    progress : bool
        Show a progress bar with loss and throughput.
    """

    max_steps: int | None = None
    epochs: int | None = None
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    grad_clip: float | None = 1.0
    ema_decay: float | None = None
    eval_every: int | None = None
    keep_best: bool = False
    checkpoint_every: int | None = None
    log_every: int = 20
    precision: str = "fp32"
    device: str = "auto"
    seed: int = 0
    out: str | None = None
    resume: bool = False
    progress: bool = True

    _constraints = {
        "max_steps": [Interval(int, 1, None), None],
        "epochs": [Interval(int, 1, None), None],
        "batch_size": [Interval(int, 1, None)],
        "lr": [Interval(float, 0, None, closed="neither")],
        "weight_decay": [Interval(float, 0, None)],
        "warmup_steps": [Interval(int, 0, None)],
        "lr_schedule": [Options("cosine", "constant")],
        "min_lr_ratio": [Interval(float, 0, 1)],
        "grad_clip": [Interval(float, 0, None, closed="neither"), None],
        "ema_decay": [Interval(float, 0, 1, closed="left"), None],
        "eval_every": [Interval(int, 1, None), None],
        "keep_best": [bool],
        "checkpoint_every": [Interval(int, 1, None), None],
        "log_every": [Interval(int, 1, None)],
        "precision": [Options("fp32", "bf16")],
        "device": [str],
        "seed": [Interval(int, 0, None)],
        "out": [str, Path, None],
        "resume": [bool],
        "progress": [bool],
    }

    @classmethod
    def from_kwargs(cls, owner: str = "fit()", **kwargs: Any) -> TrainConfig:
        """Build from keyword arguments, rejecting unknown names and bad values."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise InvalidParameterError(
                f"{owner} got unknown training option(s) {', '.join(map(repr, unknown))}; "
                f"valid options: {', '.join(names)}."
            )
        check_params(kwargs, cls._constraints, owner)
        cfg = cls(**kwargs)
        if cfg.resume and cfg.out is None:
            raise InvalidParameterError(f"{owner}: resume=True needs out=<run folder> holding the checkpoint.")
        if cfg.checkpoint_every is not None and cfg.out is None:
            raise InvalidParameterError(f"{owner}: checkpoint_every needs out=<run folder> to write to.")
        return cfg


class Trainer:
    """Optimise ``module`` on tensors of data (see the module docstring).

    Parameters
    ----------
    module : torch.nn.Module
        ``forward(*batch, generator=g)`` returns the loss (or ``(loss, logs)``).
    config : TrainConfig
    callbacks : sequence
        Objects with ``on_batch_end`` / ``on_epoch_end`` / ``on_eval`` / ``on_train_end``.

    Attributes
    ----------
    step, epoch : int
        Optimiser steps done, and the current epoch.
    loss : float
        Loss of the last step.
    history : list of dict
        Rows also written to ``metrics.jsonl``.
    """

    def __init__(self, module: torch.nn.Module, config: TrainConfig, callbacks: Sequence[Any] = ()):
        self.module = module
        self.config = config
        self.callbacks = list(callbacks)
        self.device = resolve_device(config.device)
        self.step = 0
        self.epoch = 0
        self.loss = float("nan")
        self.history: list[dict[str, Any]] = []
        self.checkpoint_path: Path | None = None
        self.best_loss = float("inf")
        self.best_step: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None
        self._in_fit = False

    # ------------------------------------------------------------------ public
    def fit(self, train: Sequence[torch.Tensor], val: Sequence[torch.Tensor] | None = None) -> Trainer:
        """Train on the tensors ``train`` (all of the same length N); evaluate on ``val``."""
        cfg = self.config
        if cfg.keep_best and val is None:
            raise InvalidParameterError("keep_best=True needs validation data: fit(..., val=...).")
        n = len(train[0])
        self.module.to(self.device)
        self.steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
        self.total_steps = cfg.max_steps or (cfg.epochs or 10) * self.steps_per_epoch
        self.optimizer = build_optimizer(self.module, cfg.lr, cfg.weight_decay)
        self.ema = EMA(self.module, cfg.ema_decay) if cfg.ema_decay is not None else None
        self.generator = torch.Generator().manual_seed(cfg.seed + 7919 * rank())
        if cfg.resume:
            self._resume()
        net = self._wrap_ddp(self.module)
        self._in_fit = True
        self._log_file = self._open_log()
        # disable=None: tqdm stays quiet when stderr is not a terminal (CI logs, pipes)
        bar = tqdm(total=self.total_steps, initial=self.step, disable=None if cfg.progress and is_main_process() else True,
                   dynamic_ncols=True, leave=False)
        t_window, seen = time.perf_counter(), 0   # throughput over each logging window
        try:
            while self.step < self.total_steps:
                # 1. the batch: slice of this epoch's permutation (and of it, this rank's share)
                self.epoch, offset = divmod(self.step, self.steps_per_epoch)
                idx = self._batch_indices(n, offset)
                batch = [t[idx].to(self.device, non_blocking=True) for t in train]
                # 2. loss, with the NaN/Inf guard before the weights are touched
                self.module.train()
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
                    loss, logs = _split_loss(net(*batch, generator=self.generator))
                self._check_finite(loss, "loss")
                # 3. backward, clip, step, schedule, EMA
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.grad_clip or float("inf"))
                self._check_finite(grad_norm, "gradient norm")
                lr = cfg.lr * lr_factor(self.step, self.total_steps, cfg.warmup_steps, cfg.lr_schedule, cfg.min_lr_ratio)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                self.optimizer.step()
                if self.ema is not None:
                    self.ema.update(self.module)
                self.step += 1
                self.loss = float(loss.detach())
                seen += len(idx)
                # 4. bookkeeping: log, callbacks, evaluation, checkpoint
                if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                    now = time.perf_counter()
                    rate = seen * world_size() / max(now - t_window, 1e-9)
                    t_window, seen = now, 0
                    self._log({"step": self.step, "epoch": self.epoch, "loss": self.loss, "lr": lr,
                               "grad_norm": float(grad_norm), "examples_per_s": rate, **logs})
                    bar.set_postfix(loss=f"{self.loss:.4g}", ex_s=f"{rate:.0f}")
                bar.update(1)
                for cb in self.callbacks:
                    getattr(cb, "on_batch_end", _noop)(self)
                if self.step % self.steps_per_epoch == 0:
                    for cb in self.callbacks:
                        getattr(cb, "on_epoch_end", _noop)(self)
                if val is not None and (self.step == self.total_steps or (cfg.eval_every and self.step % cfg.eval_every == 0)):
                    self.evaluate(val)
                if cfg.out is not None and (self.step == self.total_steps or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0)):
                    self.save_checkpoint()
        finally:
            self._in_fit = False
            bar.close()
            if self._log_file is not None:
                self._log_file.close()
        for cb in self.callbacks:
            getattr(cb, "on_train_end", _noop)(self)
        if self._best_state is not None:
            self.module.load_state_dict(self._best_state)
        elif self.ema is not None:
            self.ema.copy_to(self.module)
        return self

    @torch.no_grad()
    def evaluate(self, val: Sequence[torch.Tensor]) -> dict[str, float]:
        """Mean loss on ``val`` (fixed noise seed, so the figure is comparable across steps).

        The EMA weights are evaluated when there are some; with ``keep_best`` the
        evaluated weights are kept if their loss is the lowest so far.
        """
        raw = None
        if self.ema is not None and self._in_fit:   # after fit the module already holds the final weights
            raw = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
            self.ema.copy_to(self.module)
        self.module.eval()
        gen = torch.Generator().manual_seed(12345)
        total, count = 0.0, 0
        for start in range(0, len(val[0]), self.config.batch_size):
            batch = [t[start:start + self.config.batch_size].to(self.device) for t in val]
            loss, _ = _split_loss(self.module(*batch, generator=gen))
            total += float(loss) * len(batch[0])
            count += len(batch[0])
        metrics = {"step": self.step, "val_loss": total / count}
        if self.config.keep_best and metrics["val_loss"] < self.best_loss:
            self.best_loss, self.best_step = metrics["val_loss"], self.step
            self._best_state = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        if raw is not None:
            self.module.load_state_dict(raw)
        self._log(metrics)
        for cb in self.callbacks:
            getattr(cb, "on_eval", _noop)(self, metrics)
        return metrics

    def save_checkpoint(self) -> Path | None:
        """Write ``out/train_state`` (rank 0 only); returns its path."""
        if self.config.out is None or not is_main_process():
            return None
        tensors = {f"module.{k}": v for k, v in self.module.state_dict().items()}
        opt_tensors, opt_meta = optimizer_to_flat(self.optimizer)
        tensors.update(opt_tensors)
        tensors["rng.generator"] = self.generator.get_state()
        if self.ema is not None:
            tensors.update({f"ema.{k}": v for k, v in self.ema.shadow.items()})
        if self._best_state is not None:
            tensors.update({f"best.{k}": v for k, v in self._best_state.items()})
        meta = {"step": self.step, "total_steps": self.total_steps, "optimizer": opt_meta,
                "best_loss": self.best_loss if self.best_step is not None else None, "best_step": self.best_step,
                "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self.config).items()}}
        self.checkpoint_path = save_checkpoint(self.config.out, tensors, meta)
        return self.checkpoint_path

    # ----------------------------------------------------------------- private
    def _batch_indices(self, n: int, offset: int) -> torch.Tensor:
        # the epoch's permutation is a pure function of (seed, epoch), so resuming needs no
        # state; it is drawn once per epoch (a randperm per step cost 3% of a small GAN's step)
        key = (n, self.epoch)
        if getattr(self, "_perm_key", None) != key:
            gen = torch.Generator().manual_seed(self.config.seed * 100_003 + self.epoch)
            self._perm, self._perm_key = torch.randperm(n, generator=gen), key
        perm = self._perm
        idx = perm[offset * self.config.batch_size:(offset + 1) * self.config.batch_size]
        return idx[rank()::world_size()]

    def _resume(self) -> None:
        folder = find_checkpoint(self.config.out)
        if folder is None:
            return  # nothing to resume from: start afresh
        tensors, meta = load_checkpoint(folder)
        try:
            self.module.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("module.")})
            optimizer_from_flat(self.optimizer, tensors, meta["optimizer"])
            self.generator.set_state(tensors["rng.generator"])
            if self.ema is not None:
                self.ema.shadow = {k[4:]: v.to(self.device) for k, v in tensors.items() if k.startswith("ema.")}
            if meta.get("best_step") is not None:
                self.best_loss, self.best_step = float(meta["best_loss"]), int(meta["best_step"])
                self._best_state = {k[5:]: v.to(self.device) for k, v in tensors.items() if k.startswith("best.")}
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(
                f"the checkpoint in {folder} does not match this model ({err}); "
                "resume with the same hyperparameters, or train into a new folder."
            ) from None
        self.step = int(meta["step"])
        self.checkpoint_path = folder

    def _wrap_ddp(self, module: torch.nn.Module) -> torch.nn.Module:
        if world_size() == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids)

    def _check_finite(self, value: torch.Tensor, what: str) -> None:
        if torch.isfinite(value).all():
            return
        where = str(self.checkpoint_path) if self.checkpoint_path else None
        kept = f"the last good checkpoint is {where}" if where else "no checkpoint had been written"
        raise NonFiniteLossError(
            f"the {what} became {float(value.detach())} at step {self.step + 1}; training stopped and {kept}. "
            "Lower lr, set grad_clip, or check the data for extreme values.",
            step=self.step + 1, checkpoint=where,
        )

    def _open_log(self):
        if self.config.out is None or not is_main_process():
            return None
        Path(self.config.out).mkdir(parents=True, exist_ok=True)
        path = Path(self.config.out) / "metrics.jsonl"
        if path.exists() and not self.config.resume:
            path.unlink()
        elif path.exists():  # drop rows logged after the checkpoint we resume from
            rows = [r for r in path.read_text().splitlines() if r and json.loads(r).get("step", 0) <= self.step]
            path.write_text("".join(r + "\n" for r in rows))
        return open(path, "a", encoding="utf-8")

    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        if getattr(self, "_log_file", None) is not None and not self._log_file.closed:
            self._log_file.write(json.dumps(row) + "\n")
            self._log_file.flush()


def _split_loss(out: Any) -> tuple[torch.Tensor, dict[str, float]]:
    if isinstance(out, tuple):
        loss, logs = out
        return loss, {k: float(v) for k, v in logs.items()}
    return out, {}


def _noop(*args: Any) -> None:
    pass
