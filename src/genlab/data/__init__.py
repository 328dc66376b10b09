"""Datasets and codecs (``genlab.datasets`` is this module).

>>> import genlab.data as datasets
>>> data = datasets.load("digits", seed=0)     # Dataset: .train / .val / .test, .codec
>>> data.train.x.shape[1:], data.codec.levels
(torch.Size([1, 8, 8]), 17)

:func:`load` takes a registered name (see :func:`available`) or a path:

===================  ===============================================================
name                 data
===================  ===============================================================
``"digits"``         scikit-learn's 8x8 digits, 17 grey levels (no download)
``"mnist"``          MNIST IDX files from ``root=``, or downloaded and cached
``"npz"``            images in a ``.npz`` (MedMNIST layout, or ``x``/``y`` arrays)
``"image_folder"``   a folder of images, one subfolder per class
``"csv"``            a numeric CSV table, optional integer ``label_column``; with a
                     ``sequence_column`` (or a column named ``sequence``), numeric
                     sequences, one row per time step
``"text"``           a UTF-8 text file for character-level models (one stream)
``"tinyshakespeare"`` Tiny Shakespeare (``root=`` a folder, or downloaded and cached, sha256)
``"lines"``          a UTF-8 text file, one character sequence per line
``"smiles"``         SMILES molecules (MOSES CSV or ``.smi``), character sequences
``"jsb_chorales"``   JSB Bach chorales, one chord token per time step
``"ring"``           2D-ring: 8 Gaussians on the unit circle, std 0.01 (PacGAN/VEEGAN;
                     synthetic, ``y`` = mode, identity codec)
``"grid"``           2D-grid: 25 Gaussians at ``{-4, -2, 0, 2, 4}^2``, std 0.05 (PacGAN/VEEGAN);
                     ``"ring8"`` and ``"grid25"`` are aliases of ``"ring"`` and ``"grid"``
===================  ===============================================================

The toy mixtures (``ring``, ``grid``; :mod:`genlab.data.toy`) keep raw coordinates so
that :func:`genlab.metrics.mode_collapse.mode_coverage` can score samples against
``data.info["centres"]`` and ``data.info["std"]``.

Sequence datasets (``lines``, ``smiles``, ``jsb_chorales``, ``csv`` with a
sequence column) hold zero-padded sequences with their lengths: see
:class:`Split` (``split.lengths``, ``split.sequences()``) and
:mod:`genlab.data.sequences`.

A path is recognised by its form: ``*.npz`` -> npz, ``*.csv`` -> csv,
``*.txt`` -> text, ``*.smi`` -> smiles, a folder with ``*idx3-ubyte*`` files ->
mnist, any other folder -> image_folder (``.csv``, ``.txt`` and ``.smi`` may be
gzipped, ``.gz``).
"""

from __future__ import annotations

import inspect
import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genlab.data.base import Dataset, Split, split_indices
from genlab.data.bpe import BPECodec
from genlab.data.codecs import (
    CategoricalCodec,
    CharCodec,
    Codec,
    ImageCodec,
    TabularCodec,
    TokenCodec,
    codec_from_json,
    infer_codec,
)
from genlab.data.download import download
from genlab.data.images import load_digits, load_image_folder, load_npz
from genlab.data.mnist import load_mnist, read_idx
from genlab.data.sequences import chord_pitches, chord_token, load_jsb_chorales, load_lines, load_smiles
from genlab.data.tabular import load_csv
from genlab.data.text import load_text, load_tinyshakespeare
from genlab.data.toy import grid_of_gaussians, load_grid, load_ring, mode_centres, ring_of_gaussians
from genlab.data.translation import Pairs, ParallelCorpus, load_parallel
from genlab.exceptions import DataError, InvalidParameterError, UnknownNameError

__all__ = [
    "BPECodec",
    "CategoricalCodec",
    "CharCodec",
    "Codec",
    "Dataset",
    "ImageCodec",
    "Pairs",
    "ParallelCorpus",
    "Split",
    "TabularCodec",
    "TokenCodec",
    "available",
    "chord_pitches",
    "chord_token",
    "codec_from_json",
    "download",
    "grid_of_gaussians",
    "infer_codec",
    "load",
    "load_csv",
    "load_digits",
    "load_grid",
    "load_image_folder",
    "load_jsb_chorales",
    "load_lines",
    "load_mnist",
    "load_npz",
    "load_parallel",
    "load_ring",
    "load_smiles",
    "load_text",
    "load_tinyshakespeare",
    "mode_centres",
    "read_idx",
    "ring_of_gaussians",
    "split_indices",
]

_SPLIT_ARGS = ("seed", "val_fraction", "test_fraction")

LOADERS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "npz": load_npz,
    "image_folder": load_image_folder,
    "csv": load_csv,
    "text": load_text,
    "tinyshakespeare": load_tinyshakespeare,
    "lines": load_lines,
    "smiles": load_smiles,
    "jsb_chorales": load_jsb_chorales,
    "ring": load_ring,
    "grid": load_grid,
    "ring8": load_ring,                  # the names of the GAN issue and papers (8 and 25 modes)
    "grid25": load_grid,
}


def available() -> list[str]:
    """Names of the registered datasets, sorted.

    Examples
    --------
    >>> "digits" in available()
    True
    """
    return sorted(LOADERS)


def load(
    name_or_path: str | os.PathLike,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    **kwargs: Any,
) -> Dataset:
    """Load a dataset by name or path, split into train / val / test.

    Parameters
    ----------
    name_or_path : str or PathLike
        A name from :func:`available` or a path (see the module docstring for
        how a path's format is recognised).
    seed : int
        Seed of the random split; the same seed gives the same split on every
        machine. Text is split contiguously and MNIST's test set is the
        official one.
    val_fraction, test_fraction : float
        Fractions of the examples in ``val`` and ``test``; each in [0, 1) with
        a sum below 1. ``train`` gets the rest.
    **kwargs
        Options of the loader, e.g. ``path=``, ``root=``, ``label_column=``,
        ``size=``, ``mode=`` (see ``load_<name>``).

    Returns
    -------
    Dataset

    Raises
    ------
    UnknownNameError
        For a name that is neither registered nor a path.
    InvalidParameterError
        For an option the loader does not take, or bad split fractions.
    DataError
        For a missing, unreadable, empty, inconsistent or non-finite file.

    Examples
    --------
    >>> data = load("digits", seed=1, val_fraction=0.2, test_fraction=0.2)
    >>> len(data.train), len(data.val), len(data.test)
    (1078, 359, 360)
    """
    _check_split_args(seed, val_fraction, test_fraction)
    name, kwargs = _resolve(name_or_path, kwargs)
    loader = LOADERS[name]
    _check_kwargs(name, loader, kwargs)
    return loader(seed=seed, val_fraction=val_fraction, test_fraction=test_fraction, **kwargs)


def _resolve(name_or_path: str | os.PathLike, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Registered name and loader options for a name or a path."""
    if isinstance(name_or_path, str) and name_or_path in LOADERS:
        return name_or_path, kwargs
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise InvalidParameterError(
            f"load() takes a dataset name or a path; got {name_or_path!r} ({type(name_or_path).__name__})."
        )
    path = Path(name_or_path)
    if not _looks_like_path(name_or_path, path):
        raise UnknownNameError(
            f"unknown dataset {name_or_path!r}. Known datasets: {', '.join(available())}. A path also works: "
            "a .npz, .csv, .txt or .smi file, a folder of MNIST IDX files, or a folder of images."
        )
    if not path.exists():
        raise DataError(f"no such file or folder: {path} (relative paths start at {Path.cwd()}).")
    name, key = _detect(path)
    if key in kwargs:
        raise InvalidParameterError(f"load() got the path twice: as {str(path)!r} and as {key}={kwargs[key]!r}.")
    return name, {**kwargs, key: path}


def _looks_like_path(given: str | os.PathLike, path: Path) -> bool:
    text = str(given)
    return isinstance(given, os.PathLike) or "/" in text or os.sep in text or bool(path.suffix) or path.exists()


def _first_line(path: Path) -> str:
    """The first line of a (possibly gzipped) text file, '' if unreadable."""
    import gzip

    try:
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.readline()
    except (OSError, EOFError):
        return ""


def _detect(path: Path) -> tuple[str, str]:
    """``(loader name, name of its path argument)`` for an existing path."""
    if path.is_dir():
        if any(path.glob("*idx3-ubyte*")):
            return "mnist", "root"
        return "image_folder", "path"
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1] if suffixes[:-1] in ([".csv"], [".txt"], [".smi"]) else []
    kind = {".npz": "npz", ".csv": "csv", ".txt": "text", ".smi": "smiles", ".json": "jsb_chorales"}.get(
        suffixes[-1] if suffixes else "")
    if kind == "csv" and "smiles" in [c.strip().lower() for c in _first_line(path).split(",")]:
        kind = "smiles"                                  # a molecule table (MOSES layout), not numbers
    if kind is None:
        raise DataError(
            f"cannot tell the format of {path} from its name; expected .npz, .csv, .txt, .smi (or .csv.gz, "
            ".txt.gz, .smi.gz). Name the loader instead, e.g. load('text', path=...), load('lines', path=...) "
            "or load('jsb_chorales', path=...)."
        )
    return kind, "path"


def _check_split_args(seed: Any, val_fraction: Any, test_fraction: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidParameterError(f"The 'seed' parameter of load must be a non-negative int; got {seed!r}.")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise InvalidParameterError(f"The {name!r} parameter of load must be a float in [0, 1); got {value!r}.")
    if val_fraction + test_fraction >= 1:
        raise InvalidParameterError(
            f"val_fraction + test_fraction must be below 1 to leave a training split; "
            f"got {val_fraction} + {test_fraction}."
        )


def _check_kwargs(name: str, loader: Callable[..., Dataset], kwargs: dict[str, Any]) -> None:
    """Unknown or missing loader options -> InvalidParameterError naming them."""
    params = {n: p for n, p in inspect.signature(loader).parameters.items() if n not in _SPLIT_ARGS}
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        allowed = ", ".join(params) or "none besides seed, val_fraction, test_fraction"
        raise InvalidParameterError(f"load({name!r}) got unknown option(s) {unknown}; its options are: {allowed}.")
    missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in kwargs]
    if missing:
        raise InvalidParameterError(
            f"load({name!r}) needs {', '.join(f'{m}=...' for m in missing)}; e.g. load({name!r}, path='data/file')."
        )
