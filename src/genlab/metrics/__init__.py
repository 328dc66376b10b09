"""Metrics on one protocol for every family, and ``evaluate``.

``genlab.evaluate(model, data)`` returns every metric that applies to the model and the
data, in one flat dict (``genlab evaluate`` writes it to ``eval.json``):

- **likelihood** (every family with one): ``nll_nats``, ``bits_per_dim`` (bits per
  character/token for sequences), ``likelihood`` ("exact" / "lower_bound" / None) and
  ``units`` ("discrete": comparable across families; "density");
- **sample quality on features** (labelled images): Fréchet distance ``fd``, ``kid`` and
  ``kid_sem``, ``precision``, ``recall``, ``density``, ``coverage``, the class histogram of
  the samples (``class_entropy_bits``), a classifier two-sample test (``c2st_accuracy``:
  0.5 is indistinguishable) and memorisation (``near_copy_fraction``,
  ``memorization_ratio``), all with the ``extractor`` id that made the features;
- **mode collapse** (known mixtures: ``load("ring")``, ``load("grid")``, whose ``info``
  holds the centres and std): ``modes_captured`` of ``n_modes``,
  ``high_quality_fraction`` (within 3 std of a centre) and ``reverse_kl`` of the mode
  histogram to uniform, on ``n_samples`` samples (default 2,500, PacGAN's protocol);
- **text**: n-gram novelty of samples against the training text;
- **cost**: ``sample_seconds_per_1000``.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from genlab.base import GenerativeModel
from genlab.data.base import Split
from genlab.exceptions import DataError, LikelihoodNotAvailableError
from genlab.metrics.likelihood import bits_per_dim, perplexity, summarize_log_prob

__all__ = ["bits_per_dim", "evaluate", "perplexity", "summarize_log_prob"]


def _dims_per_example(split: Split, n: int, default: int) -> float:
    """Dimensions (tokens, pixels, features) per scored example: for sequences of varying
    length the mean, so that bits/dim is total bits over total tokens."""
    lengths = getattr(split, "lengths", None)
    if lengths is not None:
        return float(lengths.sum()) / n
    if split.x.ndim == 1:                      # a token stream, scored in chunks
        return len(split.x) / n
    return default


def _image_quality(model: GenerativeModel, test: Split, train: Split | None, extractor: Any, n: int,
                   seed: int) -> dict[str, Any]:
    from genlab.metrics import sample_quality as sq

    t0 = time.perf_counter()
    fake = torch.as_tensor(model.sample(n, seed=seed)).float()
    seconds = time.perf_counter() - t0
    real = test.codec.decode(test.x).float() if hasattr(test.codec, "decode") else test.x.float()
    f_real, f_fake = extractor.features(real), extractor.features(fake)
    out: dict[str, Any] = {"extractor": extractor.id, "extractor_accuracy": extractor.accuracy,
                           "n_samples": n, "n_real": len(real),
                           "sample_seconds_per_1000": round(1000 * seconds / n, 4)}
    out["fd"] = sq.frechet_distance(f_real, f_fake)
    kid = sq.kernel_distance(f_real, f_fake, seed=seed)
    out["kid"], out["kid_sem"] = kid["kid"], kid["kid_sem"]
    prdc = sq.precision_recall_density_coverage(f_real, f_fake)
    out.update({k: prdc[k] for k in ("precision", "recall", "density", "coverage")})
    hist = sq.class_histogram(extractor.predict(fake), extractor.meta["n_classes"])
    out["class_entropy_bits"] = hist["entropy_bits"]
    out["class_histogram"] = [int(c) for c in hist["counts"]]
    out["c2st_accuracy"] = sq.classifier_two_sample_test(f_real, f_fake, seed=seed)["accuracy"]
    if train is not None:
        # as many training as test references, so that the median ratio d_train / d_test is 1 by chance
        g = torch.Generator().manual_seed(seed)
        ref = train.x[torch.randperm(len(train.x), generator=g)[:len(real)]].float()
        mem = sq.memorization(fake.reshape(len(fake), -1), ref.reshape(len(ref), -1), real.reshape(len(real), -1))
        out["near_copy_fraction"] = mem["near_copy_fraction"]
        out["memorization_ratio"] = mem["median_ratio"]
    return out


def evaluate(model: GenerativeModel, data: Any, *, train: Split | None = None, extractor: Any = None,
             n_samples: int | None = None, sample_metrics: bool = True, seed: int = 0,
             dataset: str | None = None, log_prob_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score a fitted model on held-out data.

    Parameters
    ----------
    model : GenerativeModel
        A fitted model.
    data : Split or Dataset
        Held-out examples. A Dataset means its ``test`` split, and also gives the training
        split (memorisation, n-gram novelty) and, for labelled images, the feature extractor
        (trained once per dataset and cached; see :mod:`genlab.metrics.features`).
    train : Split, optional
        The training split, when ``data`` is a Split.
    extractor : FeatureExtractor or path, optional
        The feature network for sample metrics (default: the dataset's own).
    n_samples : int, optional
        Samples drawn for the sample metrics (default: as many as test examples).
    sample_metrics : bool
        False skips everything that needs samples.
    seed : int
        Seed of the samples and of the metrics' random subsets.
    dataset : str, optional
        Name used for the cached feature extractor (default: the dataset's own name).
    log_prob_kwargs : dict, optional
        Passed to ``model.log_prob``, e.g. ``{"n_samples": 1000}`` importance samples for
        a VAE (``n_samples`` above counts generated samples, not these).

    Returns
    -------
    dict
        See the module docstring; keys that do not apply are absent.
    """
    model._check_fitted()
    split = getattr(data, "test", data)
    if not isinstance(split, Split):
        raise DataError("evaluate() needs a Split or a Dataset (e.g. genlab.datasets.load('digits').test).")
    train = train if train is not None else getattr(data, "train", None)
    report: dict[str, Any] = {"model": model.name, "likelihood": model.likelihood, "units": model.likelihood_units()}
    lp_kwargs = dict(log_prob_kwargs or {})
    try:
        lp = model.log_prob(split, **lp_kwargs)
    except LikelihoodNotAvailableError as err:
        report["log_prob_error"] = str(err)
    else:
        report.update(summarize_log_prob(lp, _dims_per_example(split, len(lp), model.codec_.n_dims)))
        report.update({k: v for k, v in lp_kwargs.items() if isinstance(v, (int, float, str))})
    if not sample_metrics:
        return report
    modality = getattr(split.codec, "modality", "")
    info = getattr(data, "info", None) or {}
    if "centres" in info and "std" in info:            # a known mixture (ring, grid): mode collapse
        from genlab.metrics.mode_collapse import mode_coverage

        cov = mode_coverage(model.sample(n_samples or 2500, seed=seed), info["centres"], info["std"])
        report.update({"modes_captured": cov["modes_captured"], "n_modes": cov["n_modes"],
                       "high_quality_fraction": cov["high_quality_fraction"], "reverse_kl": cov["reverse_kl"]})
    if modality == "image" and (extractor is not None or (split.y is not None and hasattr(data, "train"))):
        from genlab.metrics.features import FeatureExtractor, extractor_for

        if not isinstance(extractor, FeatureExtractor):
            extractor = extractor_for(data, dataset or getattr(data, "name", "data"), path=extractor)
        n = n_samples or len(split)
        report.update(_image_quality(model, split, train, extractor, n, seed))
    elif modality == "text" and train is not None and train.x.ndim == 1:
        from genlab.metrics.sample_quality import ngram_novelty

        t0 = time.perf_counter()
        samples = model.sample(n_samples or 20, seed=seed)
        report["sample_seconds_per_1000"] = round(1000 * (time.perf_counter() - t0) / len(samples), 4)
        novelty = ngram_novelty(list(samples), train.codec.decode(train.x))
        report.update({f"novel_{n}": novelty[f"novelty_{n}"] for n in (4, 8)})
    return report
