"""Two-dimensional Gaussian mixtures for mode-collapse benchmarks (2D-ring, 2D-grid).

The GAN literature measures mode collapse on mixtures of well separated spherical
Gaussians whose modes are known (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al.
2018). The defaults here are those of PacGAN's code (``fjxmlzn/PacGAN``,
``synthetic_data_experiments/2DRing_GAN&PacGAN/config.py`` and
``2DGrid_GAN&PacGAN/config.py``), which reuses VEEGAN's datasets:

==========  =====  ===================================================  ==========
dataset     modes  centres                                              std
==========  =====  ===================================================  ==========
2D-ring     8      ``(cos(2 pi k / 8), sin(2 pi k / 8))``, k = 0..7       0.01
                   (radius 1)
2D-grid     25     ``(-4 + 2 i, -4 + 2 j)``, i, j = 0..4, i.e.            0.05
                   ``{-4, -2, 0, 2, 4}^2``; mode index ``5 i + j``
==========  =====  ===================================================  ==========

Every mode has the same weight and the same isotropic standard deviation (PacGAN's
configs give the variances ``0.01**2 * I`` and ``0.05**2 * I``); each point's mode is
drawn uniformly and independently. PacGAN trains on 100,000 such points and scores
2,500 generated samples with :func:`genlab.metrics.mode_collapse.mode_coverage`.

:func:`load_ring` and :func:`load_grid` wrap the draws in a :class:`Dataset`
(``load("ring")``, ``load("grid")``) with an *identity* :class:`TabularCodec`, so that
models train and sample in the raw coordinates the metrics compare with the centres.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from genlab.data.base import Dataset, Split, split_indices
from genlab.data.codecs import TabularCodec
from genlab.exceptions import InvalidParameterError

__all__ = ["grid_of_gaussians", "load_grid", "load_ring", "mode_centres", "ring_of_gaussians"]

RING_DEFAULTS = {"n_modes": 8, "radius": 1.0, "std": 0.01}
GRID_DEFAULTS = {"side": 5, "spacing": 2.0, "std": 0.05}
PACGAN_N_TRAIN = 100_000                     # "num_sample" in PacGAN's synthetic-data configs

_SOURCE = ("synthetic {what} mixture of Gaussians as in PacGAN (Lin et al. 2018, github.com/fjxmlzn/PacGAN, "
           "synthetic_data_experiments) and VEEGAN (Srivastava et al. 2017)")


# --------------------------------------------------------------------------- checks


def _check_int(value: Any, name: str, low: int, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidParameterError(f"The {name!r} parameter of {owner} must be an int >= {low}; got {value!r}.")
    return int(value)


def _check_positive(value: Any, name: str, owner: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if not ok or value <= 0:
        raise InvalidParameterError(f"The {name!r} parameter of {owner} must be a finite float > 0; got {value!r}.")
    return float(value)


def _rng(seed: Any, owner: str) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidParameterError(
            f"The 'seed' parameter of {owner} must be a non-negative int or a numpy Generator; got {seed!r}."
        )
    return np.random.default_rng(int(seed))


# --------------------------------------------------------------------------- centres


def _ring_centres(n_modes: int, radius: float) -> torch.Tensor:
    angles = 2.0 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def _grid_centres(side: int, spacing: float) -> torch.Tensor:
    axis = (torch.arange(side, dtype=torch.float64) - (side - 1) / 2.0) * spacing
    return torch.cartesian_prod(axis, axis).reshape(side * side, 2)   # row 5 i + j = (axis[i], axis[j])


def mode_centres(
    kind: str,
    *,
    n_modes: int | None = None,
    radius: float | None = None,
    side: int | None = None,
    spacing: float | None = None,
) -> torch.Tensor:
    """Centres of the modes of the 2D-ring or the 2D-grid, in mode-index order.

    Parameters
    ----------
    kind : {"ring", "grid"}
        Which mixture.
    n_modes, radius : int, float
        Ring only: number of modes (default 8) and radius (default 1.0). Mode ``k``
        is at angle ``2 pi k / n_modes`` (mode 0 at ``(radius, 0)``).
    side, spacing : int, float
        Grid only: modes per side (default 5) and distance between neighbours
        (default 2.0). The grid is centred on the origin; mode ``side * i + j`` is at
        ``((i - (side-1)/2) spacing, (j - (side-1)/2) spacing)``, the order of
        ``itertools.product`` in PacGAN's config.

    Returns
    -------
    Tensor
        float64 (K, 2).

    Raises
    ------
    InvalidParameterError
        For an unknown ``kind``, an option of the other kind, or a bad value.

    Examples
    --------
    >>> mode_centres("grid")[[0, 1, 24]].tolist()
    [[-4.0, -4.0], [-4.0, -2.0], [4.0, 4.0]]
    >>> (mode_centres("ring", n_modes=4, radius=2.0).round(decimals=6) + 0.0).tolist()
    [[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]]
    """
    owner = "mode_centres"
    if kind == "ring":
        if side is not None or spacing is not None:
            raise InvalidParameterError("mode_centres('ring') takes n_modes= and radius=, not side= or spacing=.")
        n = _check_int(RING_DEFAULTS["n_modes"] if n_modes is None else n_modes, "n_modes", 1, owner)
        r = _check_positive(RING_DEFAULTS["radius"] if radius is None else radius, "radius", owner)
        return _ring_centres(n, r)
    if kind == "grid":
        if n_modes is not None or radius is not None:
            raise InvalidParameterError("mode_centres('grid') takes side= and spacing=, not n_modes= or radius=.")
        s = _check_int(GRID_DEFAULTS["side"] if side is None else side, "side", 1, owner)
        d = _check_positive(GRID_DEFAULTS["spacing"] if spacing is None else spacing, "spacing", owner)
        return _grid_centres(s, d)
    raise InvalidParameterError(f"mode_centres: kind must be 'ring' or 'grid'; got {kind!r}.")


# --------------------------------------------------------------------------- draws


def _draw(centres: torch.Tensor, n: int, std: float, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points: a uniform mode each, plus isotropic Gaussian noise of ``std``."""
    labels = rng.integers(0, len(centres), size=n)
    noise = rng.standard_normal((n, 2))
    x = centres.numpy()[labels] + std * noise
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels.astype(np.int64))


def ring_of_gaussians(
    n: int, *, n_modes: int = 8, radius: float = 1.0, std: float = 0.01, seed: int | np.random.Generator = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from the 2D-ring: ``n_modes`` equally weighted Gaussians on a circle.

    Defaults: PacGAN's 2D-ring (github.com/fjxmlzn/PacGAN,
    ``synthetic_data_experiments/2DRing_GAN&PacGAN/config.py``): 8 modes at
    ``(cos(2 pi k / 8), sin(2 pi k / 8))`` (radius 1), covariance ``0.01**2 * I``.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    n_modes : int, default 8
        Number of modes K; mode ``k`` is centred at angle ``2 pi k / K``.
    radius : float, default 1.0
        Radius of the circle of centres.
    std : float, default 0.01
        Standard deviation of each coordinate around its centre.
    seed : int or numpy.random.Generator, default 0
        Seed of the draws (numpy's PCG64); the same seed gives the same points.

    Returns
    -------
    x : Tensor
        float32 (n, 2) points.
    mode : Tensor
        int64 (n,) index of each point's mode in ``mode_centres("ring", ...)``, drawn
        uniformly over the K modes.

    Examples
    --------
    >>> x, mode = ring_of_gaussians(1000, seed=0)
    >>> x.shape, x.dtype, mode.dtype, int(mode.max())
    (torch.Size([1000, 2]), torch.float32, torch.int64, 7)
    >>> bool(((x.norm(dim=1) - 1).abs() < 0.1).all())      # every point near the unit circle
    True
    """
    owner = "ring_of_gaussians"
    n = _check_int(n, "n", 1, owner)
    centres = _ring_centres(_check_int(n_modes, "n_modes", 1, owner), _check_positive(radius, "radius", owner))
    return _draw(centres, n, _check_positive(std, "std", owner), _rng(seed, owner))


def grid_of_gaussians(
    n: int, *, side: int = 5, spacing: float = 2.0, std: float = 0.05, seed: int | np.random.Generator = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Points from the 2D-grid: ``side**2`` equally weighted Gaussians on a square grid.

    Defaults: PacGAN's 2D-grid (github.com/fjxmlzn/PacGAN,
    ``synthetic_data_experiments/2DGrid_GAN&PacGAN/config.py``): 25 modes at
    ``{-4, -2, 0, 2, 4}^2``, covariance ``0.05**2 * I``.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    side : int, default 5
        Modes per side; K = side**2 modes.
    spacing : float, default 2.0
        Distance between neighbouring centres; the grid is centred on the origin.
    std : float, default 0.05
        Standard deviation of each coordinate around its centre.
    seed : int or numpy.random.Generator, default 0
        Seed of the draws.

    Returns
    -------
    x : Tensor
        float32 (n, 2) points.
    mode : Tensor
        int64 (n,) index of each point's mode in ``mode_centres("grid", ...)``
        (``side * i + j`` for the centre ``(axis[i], axis[j])``), drawn uniformly.

    Examples
    --------
    >>> x, mode = grid_of_gaussians(5, seed=1)
    >>> x.shape, mode.shape
    (torch.Size([5, 2]), torch.Size([5]))
    >>> centres = mode_centres("grid")
    >>> bool(((x.double() - centres[mode]).abs() < 0.5).all())
    True
    """
    owner = "grid_of_gaussians"
    n = _check_int(n, "n", 1, owner)
    centres = _grid_centres(_check_int(side, "side", 1, owner), _check_positive(spacing, "spacing", owner))
    return _draw(centres, n, _check_positive(std, "std", owner), _rng(seed, owner))


# --------------------------------------------------------------------------- loaders


def _identity_codec() -> TabularCodec:
    return TabularCodec(["x0", "x1"], [0.0, 0.0], [1.0, 1.0])


def _toy_dataset(name: str, x: torch.Tensor, y: torch.Tensor, centres: torch.Tensor, info: dict[str, Any],
                 seed: int, val_fraction: float, test_fraction: float) -> Dataset:
    codec = _identity_codec()
    parts = split_indices(len(x), (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    names = ("train", "val", "test")
    splits = {s: Split(x[i], y[i], codec) for s, i in zip(names, parts)}
    classes = [f"({cx:.6g}, {cy:.6g})" for cx, cy in centres.tolist()]
    info = {**info, "centres": centres.tolist(), "indices": dict(zip(names, parts))}
    return Dataset(name=name, modality="tabular", codec=codec, classes=classes,
                   source=_SOURCE.format(what=f"2D-{name}"), info=info, **splits)


def load_ring(
    n: int = PACGAN_N_TRAIN,
    *,
    n_modes: int = 8,
    radius: float = 1.0,
    std: float = 0.01,
    draw_seed: int = 0,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """The 2D-ring of PacGAN / VEEGAN as a Dataset (``load("ring")``).

    Parameters
    ----------
    n : int, default 100,000
        Points in all (PacGAN trains on 100,000).
    n_modes, radius, std : int, float, float
        As in :func:`ring_of_gaussians` (defaults: PacGAN's 8 modes, radius 1, std 0.01).
    draw_seed : int, default 0
        Seed of the points themselves, fixed by default so that every split ``seed``
        splits the same points (as every other dataset).
    seed : int
        Seed of the random train/val/test split.
    val_fraction, test_fraction : float
        Split fractions.

    Returns
    -------
    Dataset
        ``modality="tabular"``; ``x`` float32 (N, 2) raw coordinates; ``y`` int64 (N,)
        mode indices; ``classes`` the centres as text. The codec is the *identity*
        ``TabularCodec(["x0", "x1"], mean=[0, 0], std=[1, 1])``, not one fitted to the
        data: standardising would change the units in which the model samples, while
        the mode-collapse metrics compare samples with the centres and the standard
        deviation in raw coordinates. ``info`` holds ``centres`` (K lists of 2 floats),
        ``std``, ``n_modes``, ``radius``, ``draw_seed`` and ``indices`` (each split's
        rows among the n draws), ready for
        ``mode_coverage(samples, info["centres"], info["std"])``.

    Examples
    --------
    >>> data = load_ring(1000)
    >>> data.train.x.shape, data.codec.mean, data.codec.std, len(data.classes)
    (torch.Size([800, 2]), [0.0, 0.0], [1.0, 1.0], 8)
    """
    owner = "load_ring"
    n = _check_int(n, "n", 1, owner)
    n_modes = _check_int(n_modes, "n_modes", 1, owner)
    radius = _check_positive(radius, "radius", owner)
    std = _check_positive(std, "std", owner)
    draw_seed = _check_int(draw_seed, "draw_seed", 0, owner)
    centres = _ring_centres(n_modes, radius)
    x, y = _draw(centres, n, std, _rng(draw_seed, owner))
    info = {"std": std, "n_modes": n_modes, "radius": radius, "draw_seed": draw_seed}
    return _toy_dataset("ring", x, y, centres, info, seed, val_fraction, test_fraction)


def load_grid(
    n: int = PACGAN_N_TRAIN,
    *,
    side: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    draw_seed: int = 0,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """The 2D-grid of PacGAN / VEEGAN as a Dataset (``load("grid")``).

    Parameters
    ----------
    n : int, default 100,000
        Points in all (PacGAN trains on 100,000).
    side, spacing, std : int, float, float
        As in :func:`grid_of_gaussians` (defaults: PacGAN's 5 x 5 modes at
        ``{-4, -2, 0, 2, 4}^2``, std 0.05).
    draw_seed : int, default 0
        Seed of the points themselves (fixed by default; ``seed`` only splits them).
    seed : int
        Seed of the random train/val/test split.
    val_fraction, test_fraction : float
        Split fractions.

    Returns
    -------
    Dataset
        As :func:`load_ring`: raw float32 (N, 2) coordinates with an identity
        ``TabularCodec``, ``y`` the mode indices, and ``info`` with ``centres``,
        ``std``, ``side``, ``spacing``, ``draw_seed`` and ``indices``.

    Examples
    --------
    >>> data = load_grid(2000, seed=3)
    >>> len(data.train), len(data.val), len(data.test), len(data.info["centres"]), data.info["std"]
    (1600, 200, 200, 25, 0.05)
    """
    owner = "load_grid"
    n = _check_int(n, "n", 1, owner)
    side = _check_int(side, "side", 1, owner)
    spacing = _check_positive(spacing, "spacing", owner)
    std = _check_positive(std, "std", owner)
    draw_seed = _check_int(draw_seed, "draw_seed", 0, owner)
    centres = _grid_centres(side, spacing)
    x, y = _draw(centres, n, std, _rng(draw_seed, owner))
    info = {"std": std, "side": side, "spacing": spacing, "draw_seed": draw_seed}
    return _toy_dataset("grid", x, y, centres, info, seed, val_fraction, test_fraction)
