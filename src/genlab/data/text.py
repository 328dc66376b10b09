"""Plain-text datasets for character-level language models.

The whole file becomes one stream of token ids through a :class:`CharCodec`
whose vocabulary is the sorted set of characters (as nanoGPT's
``shakespeare_char``). The stream is cut contiguously, never shuffled, so that
validation text is unseen text rather than interleaved lines.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import torch

from genlab.data.base import Dataset, Split
from genlab.data.codecs import CharCodec
from genlab.exceptions import DataError

__all__ = ["load_text", "read_text"]


def read_text(path: str | os.PathLike) -> str:
    """Read a UTF-8 text file (gzipped when its name ends in ``.gz``).

    A leading byte-order mark is dropped; line endings are kept as they are.

    Raises
    ------
    DataError
        If the file is missing, unreadable, not valid gzip or not UTF-8.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "not found"
        raise DataError(f"text file {path} {what}. Give the path of a UTF-8 .txt file.")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path} is not a valid gzip file ({err}); it is corrupt or truncated.") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text (byte {err.start} is {raw[err.start : err.start + 1]!r}); "
            "convert it to UTF-8 first, e.g. with iconv."
        ) from None


def load_text(
    path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> Dataset:
    """A text file as one stream of character ids, split contiguously.

    Parameters
    ----------
    path : str or PathLike
        UTF-8 text file (``.txt``, or ``.txt.gz``).
    seed : int
        Unused (the split is contiguous); accepted so every loader takes it.
    val_fraction, test_fraction : float
        The first ``floor((1 - val_fraction - test_fraction) * T)`` characters
        are ``train`` (as nanoGPT), the next ``floor(val_fraction * T)`` are
        ``val`` and the rest ``test``; with ``test_fraction=0``, ``val`` takes
        the rest.

    Returns
    -------
    Dataset
        ``x`` int64 of shape (T,) per split, ``y`` None, codec
        ``CharCodec`` over the sorted set of characters of the whole file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_text("abracadabra" * 10)
    >>> data = load_text(p)
    >>> data.codec.vocab, len(data.train), len(data.val), len(data.test)
    ('abcdr', 88, 11, 11)
    """
    del seed  # contiguous split
    path = Path(path)
    text = read_text(path)
    if not text:
        raise DataError(f"{path} is empty; a text dataset needs at least a few characters.")
    codec = CharCodec.fit(text)
    tokens = codec.encode(text)  # (T,) int64
    n = len(tokens)
    fractions = (1 - val_fraction - test_fraction, val_fraction, test_fraction)
    n_train = _floor(n * fractions[0])
    n_val = _floor(n * val_fraction) if test_fraction > 0 else n - n_train  # the last split takes the rest
    sizes = (n_train, n_val, n - n_train - n_val)
    names = ("train", "val", "test")
    for split, size, fraction in zip(names, sizes, fractions):
        if fraction > 0 and size <= 0:
            raise DataError(f"{path} has {n} characters, too few for a {split} fraction of {fraction}.")
    splits = {split: Split(part, None, codec) for split, part in zip(names, torch.split(tokens, sizes))}
    return Dataset(name=path.name.split(".")[0], modality="text", codec=codec, source=str(path), **splits)


def _floor(v: float) -> int:
    """floor, forgiving float error (0.8 * 110 = 88.00000000000001, 0.7 * 10 = 6.999999999999999)."""
    return math.floor(v + 1e-6)
