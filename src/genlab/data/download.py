"""Download a file from a list of mirrors, check its checksum, write it atomically.

Only the standard library is used (``urllib``). The file is streamed to a
temporary file in the destination folder, its sha256 (or md5) is compared with
the published value, and only then is it renamed into place with
:func:`os.replace`, so an interrupted or corrupt download never leaves a file
under the final name. A file that is already there with the right checksum is
reused without touching the network.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from genlab.exceptions import DataError, InvalidParameterError

__all__ = ["download", "file_digest"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20  # bytes read per step while streaming


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Parameters
    ----------
    path : str or PathLike
        File to hash.
    algorithm : str
        A :mod:`hashlib` name, ``"sha256"`` or ``"md5"``.

    Returns
    -------
    str
        Lower-case hexadecimal digest.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"; _ = p.write_bytes(b"abc")
    >>> file_digest(p)[:16]
    'ba7816bf8f01cfea'
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download(
    url_or_urls: str | Sequence[str],
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    md5: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``dest`` from the first mirror that answers, checking its checksum.

    Parameters
    ----------
    url_or_urls : str or sequence of str
        Full URL of the file, or several mirrors tried in order (``file://``
        URLs work too).
    dest : str or PathLike
        Final path of the file; its folder is created if needed.
    sha256 : str, optional
        Expected sha256 hex digest.
    md5 : str, optional
        Expected md5 hex digest, for files whose publishers give only an md5.
        At least one of ``sha256`` and ``md5`` is required; both are checked
        when both are given.
    timeout : float
        Seconds to wait for a mirror to answer.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DataError
        If the downloaded bytes do not match the checksum (the partial file is
        deleted; the message gives the expected and the actual digest), or if
        every mirror fails (the message says how to fetch the file by hand).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "src.bin"; _ = src.write_bytes(b"abc")
    >>> sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    >>> download(src.as_uri(), src.with_name("copy.bin"), sha).read_bytes()
    b'abc'
    """
    if sha256 is None and md5 is None:
        raise InvalidParameterError("download needs an expected `sha256` or `md5` checksum; got neither.")
    urls = [url_or_urls] if isinstance(url_or_urls, str) else list(url_or_urls)
    if not urls:
        raise InvalidParameterError("download needs at least one URL; got an empty list.")
    dest = Path(dest)
    expected = {k: v.lower() for k, v in (("sha256", sha256), ("md5", md5)) if v is not None}

    if dest.is_file() and not _mismatches(dest, expected):
        return dest  # cached and verified: no network
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the download folder {dest.parent}: {err}.") from None

    failures = []
    for url in urls:
        try:
            tmp = _fetch(url, dest, timeout)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            failures.append(f"{url} ({err})")
            logger.info("mirror failed: %s (%s)", url, err)
            continue
        _verify_and_move(tmp, dest, url, expected)
        return dest
    raise DataError(
        f"could not download {dest.name} from any mirror: {'; '.join(failures)}. "
        f"Download the file by hand into {dest.parent} (and the other files of the "
        f"dataset with it), then pass root={str(dest.parent)!r} to genlab.datasets.load."
    )


def _fetch(url: str, dest: Path, timeout: float) -> Path:
    """Stream ``url`` to a hidden temporary file beside ``dest``; return its path."""
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _mismatches(path: Path, expected: dict[str, str]) -> list[str]:
    """``"sha256: expected ..., got ..."`` for each checksum that does not match."""
    out = []
    for algorithm, want in expected.items():
        got = file_digest(path, algorithm)
        if got != want:
            out.append(f"{algorithm}: expected {want}, got {got}")
    return out


def _verify_and_move(tmp: Path, dest: Path, url: str, expected: dict[str, str]) -> None:
    """Rename ``tmp`` to ``dest`` if its checksums match; otherwise delete it and raise."""
    bad = _mismatches(tmp, expected)
    if bad:
        tmp.unlink(missing_ok=True)
        raise DataError(
            f"checksum mismatch for {dest.name} downloaded from {url} ({'; '.join(bad)}). "
            "The file was deleted; the mirror may serve a corrupt or changed copy. "
            f"Try again later, or download it by hand into {dest.parent} and pass root=."
        )
    os.replace(tmp, dest)  # atomic on the same file system
