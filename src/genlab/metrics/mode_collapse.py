"""Mode-collapse metrics of the GAN literature (VEEGAN, PacGAN) and a training callback.

On a mixture whose modes are known (the 2D-ring and 2D-grid of :mod:`genlab.data.toy`),
:func:`mode_coverage` gives the three figures of PacGAN's Table 1 (Lin et al. 2018,
"PacGAN: The power of two samples in generative adversarial networks"), after VEEGAN
(Srivastava et al. 2017):

- a generated sample is **high quality** when it lies within ``threshold_stds = 3``
  standard deviations of its nearest mode centre;
- the **number of modes captured** is the number of modes that are the nearest centre
  of at least one high-quality sample (``min_count = 1``);
- the **reverse KL** is ``KL(q || uniform) = sum_k q_k log(K q_k)`` in nats, where ``q``
  is the histogram of the high-quality samples over their nearest modes and the true
  mixture's weights are uniform.

Sources. VEEGAN's project page (github.com/akashgit/VEEGAN, ``index.md``): "count a
sample as high quality, if it is within three standard deviations of the nearest mode
[...] we report the number of modes captured as the number of mixture components whose
mean is nearest to at least one high quality sample"; 2,500 samples per model. PacGAN's
code (github.com/fjxmlzn/PacGAN, ``synthetic_data_experiments/PacGAN/pacgan/extensions.py``,
``MetricLogger`` with ``dis_thre=3``) does exactly this: the distance to mode j is
``sqrt(sum((x - mu_j)**2 / var_j))``, a sample counts for its nearest mode when that
distance is ``< 3``, "mode coverage" is the number of non-empty bins and "good points
percentage" the share of samples counted. The histogram is of the counted (high-quality)
samples only; its entropy is the code's "entropy of coverage", and the reverse KL to the
uniform distribution is ``log K - entropy``.

For 2-D Gaussian samples the probability of lying within 3 standard deviations of the
own centre is ``1 - exp(-9/2) = 0.9889``, so samples of the true mixture score about
98.9 % high quality, not 100 %.

:func:`class_coverage` gives the same figures for labelled images (Stacked MNIST's 1,000
modes, read off a classifier's predictions), and :class:`ModeCoverageCallback` tracks
:func:`mode_coverage` during training and warns (:class:`ModeCollapseWarning`) when modes
are lost.
"""

from __future__ import annotations

import inspect
import math
import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from genlab.exceptions import DataError, InvalidParameterError
from genlab.metrics.sample_quality import _as_features, _check_int, class_histogram
from genlab.training.callbacks import Callback

__all__ = ["ModeCollapseWarning", "ModeCoverageCallback", "class_coverage", "mode_coverage"]

# Entries of one block of the (N, K, D) difference array (float64): 2**21 = 16 MiB.
_BLOCK_ELEMENTS = 2**21


class ModeCollapseWarning(UserWarning):
    """Fewer modes are captured than earlier in training: the generator may be collapsing."""


# --------------------------------------------------------------------------- checks


def _check_positive(value: Any, name: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if not ok or value <= 0:
        raise InvalidParameterError(f"{name} must be a finite float > 0; got {value!r}.")
    return float(value)


def _check_min_count(min_count: Any) -> int:
    return 1 if min_count is None else _check_int(min_count, "min_count", 1)


def _as_stds(std: Any, k: int) -> torch.Tensor:
    """``std`` (one float, or one per mode) as a float64 tensor (K,) of positive values."""
    if isinstance(std, numbers.Real) and not isinstance(std, bool):
        return torch.full((k,), _check_positive(std, "std"), dtype=torch.float64)
    try:
        s = torch.as_tensor(np.asarray(std.detach().cpu() if isinstance(std, torch.Tensor) else std, dtype=np.float64))
    except (TypeError, ValueError):
        raise InvalidParameterError(f"std must be a float > 0 or K = {k} of them; got {std!r:.80}.") from None
    if s.ndim == 0:
        return torch.full((k,), _check_positive(float(s), "std"), dtype=torch.float64)
    if s.shape != (k,):
        raise InvalidParameterError(f"std must be one float or one per mode, shape ({k},); got shape {tuple(s.shape)}.")
    if not torch.isfinite(s).all() or (s <= 0).any():
        raise InvalidParameterError(f"every std must be finite and > 0; got {s.tolist()[:10]}.")
    return s


def _nearest_modes(x: torch.Tensor, centres: torch.Tensor, stds: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``x`` (N, D): the mode with the smallest ``||x - mu_k|| / std_k`` and that distance."""
    n, k, d = len(x), len(centres), x.shape[1]
    step = max(1, _BLOCK_ELEMENTS // max(k * d, 1))
    idx = torch.empty(n, dtype=torch.int64)
    dist = torch.empty(n, dtype=torch.float64)
    for i0 in range(0, n, step):
        diff = x[i0:i0 + step, None, :] - centres[None, :, :]           # (b, K, D)
        z = diff.pow(2).sum(-1).sqrt() / stds                           # (b, K) in standard deviations
        dist[i0:i0 + step], idx[i0:i0 + step] = z.min(1)
    return idx, dist


def _reverse_kl_uniform(p: torch.Tensor) -> float:
    """``KL(p || uniform over len(p))`` in nats, 0 log 0 = 0."""
    nz = p[p > 0]
    return max(float((nz * (nz * len(p)).log()).sum()), 0.0)


# --------------------------------------------------------------------------- metrics


def mode_coverage(
    samples: Any,
    centres: Any,
    std: Any,
    *,
    threshold_stds: float = 3.0,
    min_count: int | None = None,
) -> dict[str, Any]:
    """Modes captured, share of high-quality samples and reverse KL (VEEGAN / PacGAN).

    Each sample is assigned to the mode ``k`` that minimises ``||x - mu_k|| / std_k`` (the
    nearest centre when every mode has the same std). It is *high quality* when that
    distance is below ``threshold_stds``. With ``counts[k]`` the number of high-quality
    samples assigned to mode k and ``q = counts / counts.sum()``:

    - ``modes_captured = #{k : counts[k] >= min_count}``;
    - ``high_quality_fraction = counts.sum() / N``;
    - ``reverse_kl = KL(q || uniform) = sum_k q_k log(K q_k)`` (nats): 0 when the
      high-quality samples spread evenly over the K modes, ``log K`` when they all fall
      in one mode.

    These are the definitions of VEEGAN and of PacGAN's code (``MetricLogger``,
    threshold 3, a mode counts when its bin is non-empty); see the module docstring.
    The published protocol scores 2,500 samples.

    Parameters
    ----------
    samples : array-like of shape (N, D)
        Generated samples in the coordinates of ``centres`` (D = 2 for the toy
        mixtures), torch or numpy, N >= 1.
    centres : array-like of shape (K, D)
        Mode centres, e.g. ``genlab.data.toy.mode_centres("grid")`` or
        ``data.info["centres"]``.
    std : float or array-like of shape (K,)
        Standard deviation of each mode (isotropic), e.g. ``data.info["std"]``.
    threshold_stds : float, default 3.0
        Radius of the high-quality ball, in standard deviations.
    min_count : int or None, default None
        High-quality samples a mode needs to count as captured; None means 1 (the
        published rule). Larger values make the count robust to stray samples.

    Returns
    -------
    dict
        ``modes_captured`` (int), ``n_modes`` (K), ``high_quality_fraction`` (float in
        [0, 1]), ``reverse_kl`` (float >= 0, nats; NaN when no sample is high quality),
        ``histogram`` (list of K shares q_k, all 0 when no sample is high quality),
        ``counts`` (list of K ints) and ``n`` (N).

    Raises
    ------
    DataError
        On samples or centres that are not 2-D, differ in D, are empty or not finite.
    InvalidParameterError
        On a std, threshold or min_count that is not positive, or K stds for a different K.

    Examples
    --------
    >>> centres = [[0.0, 0.0], [10.0, 0.0]]
    >>> out = mode_coverage([[0.0, 0.1], [0.05, 0.0], [5.0, 5.0]], centres, std=0.1)
    >>> out["modes_captured"], out["counts"], round(out["high_quality_fraction"], 4)
    (1, [2, 0], 0.6667)
    >>> round(out["reverse_kl"], 6) == round(math.log(2), 6)      # all in one of two modes
    True
    """
    x = _as_features(samples, "samples")
    c = _as_features(centres, "centres")
    if x.shape[1] != c.shape[1]:
        raise DataError(
            f"samples have {x.shape[1]} coordinates but centres have {c.shape[1]}; "
            "give both in the same space (decode model samples with the data's codec)."
        )
    k = len(c)
    stds = _as_stds(std, k)
    threshold = _check_positive(threshold_stds, "threshold_stds")
    need = _check_min_count(min_count)
    idx, dist = _nearest_modes(x, c, stds)
    good = dist < threshold
    counts = torch.bincount(idx[good], minlength=k)
    total = int(counts.sum())
    q = counts.double() / total if total else torch.zeros(k, dtype=torch.float64)
    return {
        "modes_captured": int((counts >= need).sum()),
        "n_modes": k,
        "high_quality_fraction": total / len(x),
        "reverse_kl": _reverse_kl_uniform(q) if total else float("nan"),
        "histogram": q.tolist(),
        "counts": counts.tolist(),
        "n": len(x),
    }


def class_coverage(predicted_labels: Any, n_classes: int, *, min_count: int | None = None) -> dict[str, Any]:
    """Classes (modes) covered by labelled samples, with entropy and reverse KL to uniform.

    The image counterpart of :func:`mode_coverage` (e.g. Stacked MNIST's 1,000 modes read
    off a classifier in VEEGAN and PacGAN): with ``counts[k]`` the samples predicted as
    class k and ``q = counts / N``, ``modes_captured = #{k : counts[k] >= min_count}``,
    ``entropy = -sum q_k log q_k`` and ``reverse_kl = KL(q || uniform) = log K - entropy``,
    both in nats. (:func:`genlab.metrics.sample_quality.class_histogram` gives the entropy
    in bits.)

    Parameters
    ----------
    predicted_labels : array-like of shape (N,) of ints, or (N, n_classes) of scores
        Predicted class of each sample in ``0 .. n_classes - 1`` (the argmax of scores).
    n_classes : int
        Number of classes K (>= 2).
    min_count : int or None, default None
        Samples a class needs to count as captured; None means 1.

    Returns
    -------
    dict
        ``modes_captured``, ``n_modes`` (K), ``histogram`` (K shares), ``counts`` (K ints),
        ``entropy`` (nats), ``reverse_kl`` (nats, in [0, log K]) and ``n``.

    Raises
    ------
    DataError
        On empty input, non-integer labels or labels outside ``0 .. n_classes - 1``.
    InvalidParameterError
        On ``n_classes < 2`` or ``min_count < 1``.

    Examples
    --------
    >>> out = class_coverage([0, 1, 2, 3] * 5, 4)
    >>> out["modes_captured"], out["reverse_kl"]
    (4, 0.0)
    >>> round(class_coverage([2, 2, 2], 4)["reverse_kl"], 6) == round(math.log(4), 6)
    True
    """
    need = _check_min_count(min_count)
    hist = class_histogram(predicted_labels, n_classes)
    counts = torch.tensor(hist["counts"], dtype=torch.int64)
    q = counts.double() / int(counts.sum())
    nz = q[q > 0]
    entropy = float(-(nz * nz.log()).sum()) + 0.0
    return {
        "modes_captured": int((counts >= need).sum()),
        "n_modes": int(n_classes),
        "histogram": q.tolist(),
        "counts": counts.tolist(),
        "entropy": entropy,
        "reverse_kl": _reverse_kl_uniform(q),
        "n": hist["n"],
    }


# --------------------------------------------------------------------------- callback


def _takes_module(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` is called as ``fn(module, n)``, False for ``fn(n)``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):                     # some builtins: assume the documented form
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(p.default is p.empty for p in positional)
    if required == 2 or (required == 0 and len(positional) >= 2):
        return True
    if required == 1 or (required == 0 and len(positional) == 1):
        return False
    raise InvalidParameterError(
        "sample_fn must take (module, n) or (n) and return n samples of shape (n, D); "
        f"got a callable with signature {inspect.signature(fn)}."
    )


class ModeCoverageCallback(Callback):
    """Track :func:`mode_coverage` of a generator during training; warn when modes are lost.

    Every ``every`` optimiser steps and at the last step (``trainer.total_steps``) the
    callback draws ``n_samples`` samples with
    ``sample_fn``, scores them with :func:`mode_coverage` and records a row

        ``{"step", "modes_captured", "modes_captured_best", "n_modes",
        "high_quality_fraction", "reverse_kl", "mode_counts"}``

    in ``self.results`` and through ``trainer._log(row)`` (which appends it to
    ``trainer.history`` and writes it to ``out/metrics.jsonl``), or straight into
    ``trainer.history`` for a trainer without ``_log``. ``reverse_kl`` is None in the row
    when no sample was high quality (JSON has no NaN). Should training end at a step not
    yet measured (e.g. cut short by another callback), ``on_train_end`` measures it too;
    the trainer has closed ``metrics.jsonl`` by then, so that row reaches
    ``trainer.history`` and ``self.results`` only.

    When ``modes_captured`` falls ``warn_below`` or more modes below the best count seen
    so far, it warns with :class:`ModeCollapseWarning` (after logging the row).

    Sampling runs under ``torch.no_grad()`` with the module in eval mode (its mode is
    restored afterwards) and in a forked RNG seeded with ``seed``: every check uses the
    same latent draws (as PacGAN's ``GraphLogger`` does), and training randomness is
    left untouched.

    Parameters
    ----------
    sample_fn : callable
        ``sample_fn(module, n)`` with ``module = trainer.module`` (the network being
        trained, e.g. a GAN's ``GANNetwork``: ``lambda m, n: m.generate(torch.randn(n,
        latent_dim, device=...))``), or ``sample_fn(n)`` for a closure. It returns n
        samples (N, D) in the coordinates of ``centres`` -- decode them with the data's
        codec unless it is the identity one of ``load("ring")`` / ``load("grid")``.
    centres : array-like of shape (K, D)
        Mode centres (``data.info["centres"]``).
    std : float or array-like of shape (K,)
        Standard deviation of the modes (``data.info["std"]``).
    every : int, default 500
        Steps between checks.
    n_samples : int, default 2500
        Samples per check (the published protocol's 2,500).
    threshold_stds : float, default 3.0
        As in :func:`mode_coverage`.
    min_count : int or None, default None
        As in :func:`mode_coverage` (None: 1).
    warn_below : int or None, default 1
        Warn when ``modes_captured <= best - warn_below``; 1 warns on any lost mode,
        larger values tolerate sampling noise; None never warns.
    seed : int, default 0
        Seed of the forked RNG in which ``sample_fn`` runs.

    Attributes
    ----------
    results : list of dict
        The rows, one per check.
    best, best_step : int or None
        Most modes captured so far, and the step of its first occurrence.

    Examples
    --------
    >>> import torch
    >>> from genlab.data.toy import grid_of_gaussians, mode_centres
    >>> class FakeTrainer:                       # what the callback needs of a Trainer
    ...     step, module, history = 0, None, []
    ...     def _log(self, row): self.history.append(row)
    >>> cb = ModeCoverageCallback(lambda n: grid_of_gaussians(n)[0], mode_centres("grid"), 0.05, every=2)
    >>> trainer = FakeTrainer()
    >>> for trainer.step in (1, 2):
    ...     cb.on_batch_end(trainer)
    >>> [(r["step"], r["modes_captured"]) for r in trainer.history]
    [(2, 25)]
    """

    def __init__(
        self,
        sample_fn: Callable[..., Any],
        centres: Any,
        std: Any,
        *,
        every: int = 500,
        n_samples: int = 2500,
        threshold_stds: float = 3.0,
        min_count: int | None = None,
        warn_below: int | None = 1,
        seed: int = 0,
    ):
        if not callable(sample_fn):
            raise InvalidParameterError(f"sample_fn must be callable, (module, n) -> samples; got {sample_fn!r:.80}.")
        self.sample_fn = sample_fn
        self._with_module = _takes_module(sample_fn)
        self.centres = _as_features(centres, "centres")
        self.std = _as_stds(std, len(self.centres))
        self.every = _check_int(every, "every", 1)
        self.n_samples = _check_int(n_samples, "n_samples", 1)
        self.threshold_stds = _check_positive(threshold_stds, "threshold_stds")
        self.min_count = _check_min_count(min_count)
        self.warn_below = None if warn_below is None else _check_int(warn_below, "warn_below", 1)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise InvalidParameterError(f"seed must be a non-negative int; got {seed!r}.")
        self.seed = int(seed)
        self.results: list[dict[str, Any]] = []
        self.best: int | None = None
        self.best_step: int | None = None
        self._last_step: int | None = None

    # hooks
    def on_batch_end(self, trainer: Any) -> None:
        if trainer.step % self.every == 0 or trainer.step == getattr(trainer, "total_steps", None):
            self.check(trainer)

    def on_train_end(self, trainer: Any) -> None:
        if self._last_step != trainer.step:
            self.check(trainer)

    # work
    def check(self, trainer: Any) -> dict[str, Any]:
        """Measure now (at ``trainer.step``), log the row, warn if modes were lost; return the row."""
        step = int(trainer.step)
        samples = self._draw(getattr(trainer, "module", None))
        out = mode_coverage(samples, self.centres, self.std, threshold_stds=self.threshold_stds,
                            min_count=self.min_count)
        captured = out["modes_captured"]
        lost = (self.best is not None and self.warn_below is not None and captured <= self.best - self.warn_below)
        previous_best, previous_step = self.best, self.best_step
        if self.best is None or captured > self.best:
            self.best, self.best_step = captured, step
        kl = out["reverse_kl"]
        row = {"step": step, "modes_captured": captured, "modes_captured_best": self.best, "n_modes": out["n_modes"],
               "high_quality_fraction": out["high_quality_fraction"],
               "reverse_kl": kl if math.isfinite(kl) else None, "mode_counts": out["counts"]}
        self.results.append(row)
        self._last_step = step
        log = getattr(trainer, "_log", None)
        if callable(log):
            log(row)
        elif isinstance(getattr(trainer, "history", None), list):
            trainer.history.append(row)
        if lost:
            warnings.warn(
                f"step {step}: {captured} of {out['n_modes']} modes captured, down from {previous_best} at step "
                f"{previous_step}; the generator may be collapsing onto fewer modes (try packing, pack=2..4, a lower "
                "learning rate, or keep the checkpoint of the best step).",
                ModeCollapseWarning,
                stacklevel=2,
            )
        return row

    def _draw(self, module: Any) -> Any:
        devices: list[int] = []
        was_training = None
        if isinstance(module, torch.nn.Module):
            was_training = module.training
            p = next(module.parameters(), None)
            if p is not None and p.device.type == "cuda":
                devices = [p.device.index if p.device.index is not None else torch.cuda.current_device()]
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(self.seed)
            if was_training is not None:
                module.eval()
            try:
                samples = (self.sample_fn(module, self.n_samples) if self._with_module
                           else self.sample_fn(self.n_samples))
            finally:
                if was_training is not None:
                    module.train(was_training)
        if isinstance(samples, torch.Tensor):
            samples = samples.detach().to("cpu", torch.float64)
        if len(samples) != self.n_samples:
            raise DataError(f"sample_fn returned {len(samples)} samples; it was asked for n = {self.n_samples}.")
        return samples
