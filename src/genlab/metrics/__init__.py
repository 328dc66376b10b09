"""Metrics: likelihood on one protocol (nats, bits/dim), and ``evaluate``.

``genlab.evaluate(model, data.test)`` returns the metrics that apply to the model
and the data. Today: the test log-likelihood (exact or bound, with its kind).
Sample-quality metrics (FID/KID, precision/recall) join here with the families
that need them.
"""

from __future__ import annotations

from typing import Any

from genlab.base import GenerativeModel
from genlab.data.base import Split
from genlab.exceptions import DataError, LikelihoodNotAvailableError
from genlab.metrics.likelihood import bits_per_dim, perplexity, summarize_log_prob

__all__ = ["evaluate", "bits_per_dim", "perplexity", "summarize_log_prob"]


def _dims_per_example(split: Split, n: int, default: int) -> float:
    """Dimensions (tokens, pixels, features) per scored example: for sequences of varying
    length the mean, so that bits/dim is total bits over total tokens."""
    lengths = getattr(split, "lengths", None)
    if lengths is not None:
        return float(lengths.sum()) / n
    if split.x.ndim == 1:                      # a token stream, scored in chunks
        return len(split.x) / n
    return default


def evaluate(model: GenerativeModel, data: Any, **log_prob_kwargs: Any) -> dict[str, Any]:
    """Score a fitted model on held-out data.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model.
    data : Split or Dataset
        Held-out examples (a Dataset means its ``test`` split).
    **log_prob_kwargs
        Passed to ``model.log_prob`` (e.g. ``n_samples=1000`` for a VAE).

    Returns
    -------
    dict
        ``model``, ``likelihood`` (``"exact"``, ``"lower_bound"`` or None), ``units``
        (``"discrete"`` when log_prob is the log of a probability of the discrete data,
        ``"density"`` otherwise: bits/dim is comparable across families only for
        ``"discrete"``), and ``n``, ``log_prob_nats``, ``nll_nats``, ``nll_nats_sem``,
        ``bits_per_dim``, ``n_dims`` (see :mod:`genlab.metrics.likelihood`).
    """
    model._check_fitted()
    split = getattr(data, "test", data)
    if not isinstance(split, Split):
        raise DataError("evaluate() needs a Split or a Dataset (e.g. genlab.datasets.load('digits').test).")
    report: dict[str, Any] = {"model": model.name, "likelihood": model.likelihood, "units": model.likelihood_units()}
    try:
        lp = model.log_prob(split, **log_prob_kwargs)
    except LikelihoodNotAvailableError as err:
        report["log_prob_error"] = str(err)
        return report
    report.update(summarize_log_prob(lp, _dims_per_example(split, len(lp), model.codec_.n_dims)))
    report.update({k: v for k, v in log_prob_kwargs.items() if isinstance(v, (int, float, str))})
    return report
