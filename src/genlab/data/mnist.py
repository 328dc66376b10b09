"""MNIST: the IDX file format, download-and-cache with checksums, and the loader.

IDX is the format LeCun published (http://yann.lecun.com/exdb/mnist/): a big-endian
magic number ``0x000008dd`` (``08`` = uint8, ``dd`` = number of dimensions), one
big-endian uint32 per dimension, then the raw C-order payload.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import Dataset, Split, split_indices
from genlab.data.codecs import ImageCodec
from genlab.data.download import download as _download
from genlab.data.images import DIGIT_CLASSES, _read_bytes, _require_dir, _require_file
from genlab.exceptions import DataError

__all__ = ["MNIST_FILES", "load_mnist", "mnist_cache_dir", "read_idx"]

# Mirrors of the four standard MNIST files (torchvision's and TensorFlow's).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
# Checksums of the published files. md5 as listed by torchvision's MNIST.resources;
# sha256 as used by TensorFlow Datasets and checked in /shared/data/mnist/SOURCE.md.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": {
        "sha256": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "md5": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    },
    "train-labels-idx1-ubyte.gz": {"sha256": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
    "t10k-images-idx3-ubyte.gz": {"sha256": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
    "t10k-labels-idx1-ubyte.gz": {"sha256": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
}
_IDX_IMAGES, _IDX_LABELS = 0x00000803, 0x00000801  # uint8 with 3 dims / 1 dim
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# -- IDX / MNIST ----------------------------------------------------------------------
def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (raw, or gzipped when its name ends in ``.gz``).

    Parameters
    ----------
    path : str or PathLike
        The file.
    magic : int, optional
        Expected magic number, e.g. ``0x00000803`` for uint8 images (N, H, W).

    Returns
    -------
    ndarray
        Array of the shape and type given by the header, in native byte order.

    Raises
    ------
    DataError
        If the file is missing, not valid gzip, has a wrong magic number, or its
        payload does not match the header (truncated or corrupt).
    """
    path = _require_file(path, "IDX file")
    raw = _read_bytes(path)
    got = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if got is None or raw[0] or raw[1] or raw[2] not in _IDX_DTYPES or (magic is not None and got != magic):
        want = f"0x{magic:08x}" if magic is not None else "0x000008..-0x00000e.."
        shown = "none (file shorter than 4 bytes)" if got is None else f"0x{got:08x}"
        raise DataError(
            f"{path} is not the IDX file expected: magic number {shown}, expected {want}. "
            "Check that images and labels files are not swapped, or download the file again."
        )
    ndim, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise DataError(f"{path} is truncated: its IDX header needs {header} bytes, the file has {len(raw)}.")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    need, have = int(np.prod(dims)) * dtype.itemsize, len(raw) - header
    if have != need:
        raise DataError(
            f"{path} is truncated or corrupt: its header announces shape {dims} ({need} bytes of data) "
            f"but the file holds {have} bytes after the header. Download it again."
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def mnist_cache_dir() -> Path:
    """Folder MNIST is downloaded to: ``$GENLAB_DATA/mnist``, else ``~/.cache/genlab/mnist``."""
    base = os.environ.get("GENLAB_DATA")
    return (Path(base) if base else Path.home() / ".cache" / "genlab") / "mnist"


def load_mnist(
    *,
    root: str | os.PathLike | None = None,
    download: bool = True,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """MNIST handwritten digits, 28x28 with 256 grey levels, from IDX files.

    Parameters
    ----------
    root : str or PathLike, optional
        Folder holding the IDX files, gzipped or raw. The training images are the
        file matching ``train*images*idx3*`` (the standard name wins if several
        match), the test images ``t10k*images*idx3*``; each is paired with the
        labels file of the same name with ``images-idx3`` replaced by
        ``labels-idx1``. ``None`` uses :func:`mnist_cache_dir`, downloading the
        four standard files (checked by sha256) if needed.
    download : bool
        With ``root=None``, download missing files; if ``False`` they must be there.
    seed : int
        Seed of the split of the training file into ``train`` and ``val``.
    val_fraction : float
        Fraction of the training file held out as ``val``.
    test_fraction : float
        Ignored: ``test`` is the official 10,000-image test set.

    Returns
    -------
    Dataset
        ``x`` float32 (N, 1, 28, 28) = uint8 / 255, ``y`` int64 (N,),
        codec ``ImageCodec((1, 28, 28), levels=256)``.
    """
    del test_fraction  # the official test split is used
    if root is None:
        root = _fetch_mnist(download)
    root = _require_dir(root, "MNIST folder")
    train_images = _find_idx_images(root, "train*images*idx3*", "train")
    test_images = _find_idx_images(root, "t10k*images*idx3*", "t10k")
    x_train, y_train = _read_mnist_pair(train_images)
    x_test, y_test = _read_mnist_pair(test_images)

    codec = ImageCodec((1, 28, 28), levels=256)
    train_idx, val_idx = split_indices(len(x_train), (1 - val_fraction, val_fraction), seed)
    files = {"train": str(train_images), "test": str(test_images)}
    return Dataset(
        name="mnist",
        modality="image",
        train=Split(x_train[train_idx], y_train[train_idx], codec),
        val=Split(x_train[val_idx], y_train[val_idx], codec),
        test=Split(x_test, y_test, codec),
        codec=codec,
        classes=DIGIT_CLASSES,
        source=str(root),
        info={"files": files, "indices": {"train": train_idx, "val": val_idx, "test": torch.arange(len(x_test))}},
    )


def _fetch_mnist(download: bool) -> Path:
    """The cache folder, with the four standard files downloaded if allowed."""
    cache = mnist_cache_dir()
    missing = [name for name in MNIST_FILES if not (cache / name).is_file()]
    if missing and not download:
        raise DataError(
            f"MNIST is not in {cache} (missing {', '.join(missing)}). Pass download=True, "
            "or root='folder with the IDX files'."
        )
    for name, checksums in MNIST_FILES.items():
        _download([base + name for base in MNIST_MIRRORS], cache / name, **checksums)
    return cache


def _find_idx_images(root: Path, pattern: str, prefix: str) -> Path:
    """The one images file matching ``pattern``; standard names win over others."""
    found = sorted(p for p in root.glob(pattern) if p.is_file())
    if not found:
        raise DataError(
            f"no MNIST images file matching {pattern!r} in {root}. Put {prefix}-images-idx3-ubyte(.gz) "
            "and its labels file there, or pass root=None to download them."
        )
    standard = {f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"}
    preferred = [p for p in found if p.name.removesuffix(".gz") in standard]
    if preferred:
        return preferred[0]  # raw before gzipped: sorted names
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise DataError(
            f"several files in {root} match {pattern!r} ({names}); keep one, or rename the one "
            f"to use to {prefix}-images-idx3-ubyte.gz."
        )
    return found[0]


def _labels_file_for(images: Path) -> Path:
    """The labels file beside ``images``: ``images-idx3`` -> ``labels-idx1`` in the name."""
    for old, new in (("images-idx3", "labels-idx1"), ("images.idx3", "labels.idx1")):
        if old in images.name:
            name = images.name.replace(old, new)
            break
    else:
        raise DataError(f"cannot tell the labels file of {images}: its name has no 'images-idx3'.")
    other = name.removesuffix(".gz") if name.endswith(".gz") else name + ".gz"
    for candidate in (images.parent / name, images.parent / other):
        if candidate.is_file():
            return candidate
    raise DataError(f"no labels file {name} beside the images file {images}; put it in the same folder.")


def _read_mnist_pair(images_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images float32 (N, 1, H, W) in [0, 1] and labels int64 (N,) of one IDX pair."""
    labels_path = _labels_file_for(images_path)
    images = read_idx(images_path, magic=_IDX_IMAGES)  # (N, H, W) uint8
    labels = read_idx(labels_path, magic=_IDX_LABELS)  # (N,) uint8
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
            "use the labels file that belongs to these images."
        )
    if len(images) == 0:
        raise DataError(f"{images_path} holds no images.")
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path} holds images of shape {images.shape[1:]}; MNIST images are 28x28.")
    if labels.max() > 9:
        raise DataError(f"{labels_path} holds label {labels.max()}; MNIST labels are 0..9.")
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    return x, torch.from_numpy(labels.astype(np.int64))
