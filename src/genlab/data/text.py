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

__all__ = ["load_text", "load_tinyshakespeare", "read_text"]


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


TINYSHAKESPEARE_URLS = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"


def load_tinyshakespeare(
    root: str | os.PathLike | None = None,
    *,
    download: bool = True,
    urls: tuple[str, ...] = TINYSHAKESPEARE_URLS,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Tiny Shakespeare (karpathy/char-rnn, 1,115,394 characters) as a character stream.

    Parameters
    ----------
    root : str or PathLike, optional
        A folder holding ``input.txt`` (e.g. ``../shared/data/tinyshakespeare``). ``None``
        uses ``$GENLAB_DATA/tinyshakespeare`` (default ``~/.cache/genlab``), downloading
        the file there if missing; its sha256 is checked either way.
    download : bool
        With ``root=None``, download a missing file; if False it must be there.
    urls : tuple of str
        Mirrors tried in order.

    Returns
    -------
    Dataset
        As :func:`load_text` (contiguous train / val / test).
    """
    from genlab.data.download import download as fetch
    from genlab.data.download import file_digest

    if root is not None:
        path = Path(root) / "input.txt" if Path(root).is_dir() else Path(root)
    else:
        cache = Path(os.environ.get("GENLAB_DATA") or Path.home() / ".cache" / "genlab")
        path = cache / "tinyshakespeare" / "input.txt"
        if not path.exists():
            if not download:
                raise DataError(f"{path} is missing and download=False; pass root= a folder with input.txt.")
            fetch(list(urls), path, sha256=TINYSHAKESPEARE_SHA256)
    if not path.is_file():
        raise DataError(f"Tiny Shakespeare not found at {path}; pass root= the folder holding input.txt.")
    if file_digest(path) != TINYSHAKESPEARE_SHA256:
        raise DataError(f"{path} is not the Tiny Shakespeare file (sha256 differs); it is corrupt or another text.")
    data = load_text(path, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction)
    data.name = "tinyshakespeare"
    return data
