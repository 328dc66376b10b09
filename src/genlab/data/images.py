"""Image datasets: scikit-learn digits, ``.npz`` arrays, image folders (MNIST: mnist.py).

Every loader returns a :class:`~genlab.data.Dataset` whose splits hold float32
images of shape (N, C, H, W) in [0, 1] and an :class:`ImageCodec` that records
the number of grey levels (17 for digits, 256 for 8-bit images), so that models
can report exact discrete likelihoods.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import Dataset, Split, split_indices
from genlab.data.codecs import ImageCodec
from genlab.exceptions import DataError, InvalidParameterError, MissingDependencyError

__all__ = ["load_digits", "load_image_folder", "load_npz"]

DIGIT_CLASSES = [str(d) for d in range(10)]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


# -- scikit-learn digits ------------------------------------------------------------
def load_digits(*, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1) -> Dataset:
    """scikit-learn's bundled 8x8 digits: 1,797 images with 17 grey levels.

    Parameters
    ----------
    seed : int
        Seed of the random train/val/test split.
    val_fraction, test_fraction : float
        Fractions of the 1,797 images put in ``val`` and ``test``.

    Returns
    -------
    Dataset
        ``x`` float32 (N, 1, 8, 8) with values v / 16, v = 0..16;
        ``y`` int64 (N,) digit labels; codec ``ImageCodec((1, 8, 8), levels=17)``.
        ``info["indices"]`` maps each split to rows of ``sklearn.datasets.load_digits``.

    Examples
    --------
    >>> data = load_digits(seed=0)
    >>> data.train.x.shape[1:], data.codec.levels
    (torch.Size([1, 8, 8]), 17)
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        raise MissingDependencyError("the digits dataset needs scikit-learn: pip install scikit-learn") from None
    bunch = sk_load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)  # (N, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    codec = ImageCodec((1, 8, 8), levels=17)
    parts = split_indices(len(x), (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    return _dataset("digits", x, y, codec, parts, DIGIT_CLASSES, "sklearn.datasets.load_digits")



# -- .npz arrays ----------------------------------------------------------------------
def load_npz(
    path: str | os.PathLike, *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.1
) -> Dataset:
    """Images stored in a numpy ``.npz`` archive (never unpickled).

    Two layouts are read:

    - MedMNIST: ``train_images``, ``val_images``, ``test_images`` (and optionally
      ``train_labels``, ``val_labels``, ``test_labels``), used as given;
    - one array ``x`` (or ``images``), optionally with ``y`` (or ``labels``),
      split at random with ``seed``.

    Parameters
    ----------
    path : str or PathLike
        The ``.npz`` file.
    seed : int
        Seed of the random split (single-array layout only).
    val_fraction, test_fraction : float
        Split fractions (single-array layout only).

    Returns
    -------
    Dataset
        ``x`` float32 (N, C, H, W) in [0, 1]. uint8 images (N, H, W) or
        (N, H, W, C) are divided by 255 (``levels=256``); float images must
        already lie in [0, 1] (``levels=None``). ``y`` int64 (N,) or None.
    """
    path = _require_file(path, "npz file")
    arrays = _read_npz(path)
    if all(f"{s}_images" in arrays for s in ("train", "val", "test")):
        splits, indices = _npz_given_splits(path, arrays), None
    else:
        fractions = (1 - val_fraction - test_fraction, val_fraction, test_fraction)
        splits, indices = _npz_single_array(path, arrays, seed, fractions)
    levels = {lv for _, _, lv in splits.values()}
    shapes = {split: tuple(x.shape[1:]) for split, (x, _, _) in splits.items()}
    if len(set(shapes.values())) > 1 or len(levels) > 1:
        raise DataError(f"{path}: the splits differ in image shape {shapes} or pixel type; they must match.")
    codec = ImageCodec(shapes["train"], levels=levels.pop())
    ys = [y for _, y, _ in splits.values() if y is not None and len(y)]
    classes = [str(c) for c in range(int(max(y.max() for y in ys)) + 1)] if ys else None
    return Dataset(
        name=path.stem,
        modality="image",
        train=Split(splits["train"][0], splits["train"][1], codec),
        val=Split(splits["val"][0], splits["val"][1], codec),
        test=Split(splits["test"][0], splits["test"][1], codec),
        codec=codec,
        classes=classes,
        source=str(path),
        info={} if indices is None else {"indices": indices},
    )


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` archive, with pickles refused."""
    try:
        with open(path, "rb") as f:  # our own handle: np.load leaks it when the zip is corrupt
            if f.read(6)[:2] not in (b"PK", b"\x93N"):  # zip (.npz) or .npy signature
                raise DataError(f"{path} is not an .npz archive (no zip signature); save arrays with np.savez.")
            f.seek(0)
            archive = np.load(f, allow_pickle=False)
            if isinstance(archive, np.lib.npyio.NpzFile):
                with archive:
                    return {key: archive[key] for key in archive.files}
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise DataError(
            f"cannot read {path} as an .npz archive ({type(err).__name__}: {err}). The file is corrupt or not "
            "made by np.savez; arrays of Python objects (pickles) are refused."
        ) from None
    raise DataError(f"{path} is a single .npy array, not an .npz archive; save it with np.savez(path, x=...).")


def _npz_given_splits(path: Path, arrays: dict[str, np.ndarray]) -> dict:
    """MedMNIST layout: ``{split: (x, y or None, levels)}`` as stored."""
    with_labels = [f"{s}_labels" in arrays for s in ("train", "val", "test")]
    if any(with_labels) and not all(with_labels):
        raise DataError(f"{path} has labels for some splits only; give train_labels, val_labels and test_labels.")
    out = {}
    for split in ("train", "val", "test"):
        key = f"{split}_images"
        x, levels = images_to_tensor(arrays[key], f"{path} [{key}]")
        y = _labels(arrays[f"{split}_labels"], len(x), f"{path} [{split}_labels]") if all(with_labels) else None
        out[split] = (x, y, levels)
    return out


def _npz_single_array(path: Path, arrays: dict[str, np.ndarray], seed: int, fractions: tuple) -> tuple[dict, dict]:
    """Single-array layout, split with ``seed``: ``({split: (x, y, levels)}, {split: indices})``."""
    x_key = next((k for k in ("x", "images") if k in arrays), None)
    if x_key is None:
        raise DataError(
            f"{path} holds the arrays {sorted(arrays)}; expected train_images/val_images/test_images "
            "(MedMNIST layout) or one array named 'x' or 'images' (with optional 'y' or 'labels')."
        )
    x, levels = images_to_tensor(arrays[x_key], f"{path} [{x_key}]")
    y_key = next((k for k in ("y", "labels") if k in arrays), None)
    y = None if y_key is None else _labels(arrays[y_key], len(x), f"{path} [{y_key}]")
    parts = split_indices(len(x), fractions, seed)
    names = ("train", "val", "test")
    splits = {n: (x[i], None if y is None else y[i], levels) for n, i in zip(names, parts)}
    return splits, dict(zip(names, parts))


def images_to_tensor(arr: np.ndarray, where: str) -> tuple[torch.Tensor, int | None]:
    """Images (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [0, 1] and their levels.

    uint8 (or other integers within 0..255) are divided by 255 and have 256 levels;
    floats must be finite and in [0, 1] and are continuous (``levels=None``).
    ``where`` names the source in error messages.
    """
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, 1, H, W)
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    elif not (arr.ndim == 4 and arr.shape[1] in (1, 3, 4)):
        raise DataError(f"{where}: images must have shape (N, H, W) or (N, H, W, C); got {arr.shape}.")
    if len(arr) == 0:
        raise DataError(f"{where} holds no images (shape {arr.shape}).")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise DataError(f"{where}: images contain NaN or infinite values; fix or drop those images.")
        if arr.min() < 0 or arr.max() > 1:
            raise DataError(
                f"{where}: float images must lie in [0, 1]; got [{arr.min():.4g}, {arr.max():.4g}]. "
                "Divide 8-bit values by 255 or store them as uint8."
            )
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), None
    if arr.dtype.kind not in "ui" or arr.min() < 0 or arr.max() > 255:
        raise DataError(f"{where}: images must be uint8 (0..255) or float in [0, 1]; got dtype {arr.dtype}.")
    x = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.uint8)).to(torch.float32).div_(255.0)
    return x, 256


def _labels(arr: np.ndarray, n: int, where: str) -> torch.Tensor:
    """Class labels flattened to int64 (n,), checked against the number of examples."""
    flat = arr.reshape(-1)
    if flat.size != n:
        raise DataError(
            f"{where} holds {flat.size} labels (shape {arr.shape}) for {n} images; give one integer label "
            "per image (multi-label targets are not supported)."
        )
    if flat.dtype.kind == "f" and not (np.isfinite(flat).all() and (flat == np.round(flat)).all()):
        raise DataError(f"{where}: labels must be integer class ids; got non-integer values.")
    if flat.dtype.kind not in "uif" or (flat.size and flat.min() < 0):
        raise DataError(f"{where}: labels must be non-negative integer class ids; got dtype {arr.dtype}.")
    return torch.from_numpy(flat.astype(np.int64))


# -- image folders --------------------------------------------------------------------
def load_image_folder(
    path: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    mode: str | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Images in a folder, one subfolder per class (as torchvision's ``ImageFolder``).

    Parameters
    ----------
    path : str or PathLike
        Folder with class subfolders of ``.png``, ``.jpg``, ``.jpeg``, ``.bmp`` or
        ``.gif`` files (labels follow the sorted folder names), or with the
        images directly inside (then unlabelled).
    size : (int, int), optional
        Resize every image to ``(H, W)`` (bilinear). Without it all images must
        have the same size.
    mode : {"L", "RGB"}, optional
        Convert to grey (1 channel) or colour (3 channels). By default grey if
        every image is grey, else RGB.
    seed : int
        Seed of the random train/val/test split.
    val_fraction, test_fraction : float
        Split fractions.

    Returns
    -------
    Dataset
        ``x`` float32 (N, C, H, W) = uint8 / 255, ``y`` int64 (N,) or None,
        codec ``ImageCodec((C, H, W), levels=256)``.
    """
    if mode not in (None, "L", "RGB"):
        raise InvalidParameterError(f"The 'mode' parameter must be 'L', 'RGB' or None; got {mode!r}.")
    if size is not None and not (
        isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size)
    ):
        raise InvalidParameterError(f"The 'size' parameter must be (height, width) in pixels or None; got {size!r}.")
    root = _require_dir(path, "image folder")
    files, labels, classes = _scan_image_folder(root)
    from PIL import Image  # Pillow is a core dependency; imported here to keep `import genlab` light

    headers = [_image_header(Image, f) for f in files]  # (mode, (W, H)) without decoding pixels
    if mode is None:
        mode = "L" if all(m in _GREY_MODES for m, _ in headers) else "RGB"
    if size is None:
        _check_same_size(files, [s for _, s in headers])
    arrays = np.stack([_read_image(Image, f, mode, size) for f in files])  # (N, H, W) or (N, H, W, 3)
    x, levels = images_to_tensor(arrays, str(root))
    y = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    codec = ImageCodec(tuple(x.shape[1:]), levels=levels)
    parts = split_indices(len(x), (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    data = _dataset(root.name, x, y, codec, parts, classes, str(root))
    data.info["files"] = [str(f) for f in files]
    return data


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _scan_image_folder(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Image files, their labels and the class names (labels None if no subfolders)."""
    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    loose = _image_files(root)
    if not subdirs:
        if not loose:
            raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {root}; add images or class subfolders.")
        return loose, None, None
    if loose:
        raise DataError(
            f"{root} has class subfolders and also images outside them (e.g. {loose[0].name}); "
            "move every image into the folder of its class."
        )
    files, labels = [], []
    for label, folder in enumerate(subdirs):
        found = _image_files(folder)
        if not found:
            raise DataError(
                f"the class folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}); add some or remove it."
            )
        files += found
        labels += [label] * len(found)
    return files, labels, [d.name for d in subdirs]


def _image_header(image_module, path: Path) -> tuple[str, tuple[int, int]]:
    """Mode and (W, H) size of an image, reading only its header."""
    try:
        with image_module.open(path) as im:
            return im.mode, im.size
    except (OSError, ValueError) as err:
        raise DataError(f"Pillow cannot open the image {path} ({err}); remove or replace the file.") from None


def _read_image(image_module, path: Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """Decode one image to uint8 (H, W) or (H, W, 3), converted and resized."""
    try:
        with image_module.open(path) as im:
            im = im.convert(mode)
            if size is not None:
                im = im.resize((size[1], size[0]), image_module.Resampling.BILINEAR)
            return np.array(im, dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise DataError(f"Pillow cannot decode the image {path} ({err}); remove or replace the file.") from None


def _check_same_size(files: list[Path], sizes: list[tuple[int, int]]) -> None:
    for f, s in zip(files, sizes):
        if s != sizes[0]:
            raise DataError(
                f"images differ in size: {files[0]} is {sizes[0][0]}x{sizes[0][1]} (WxH) but {f} is {s[0]}x{s[1]}; "
                "pass size=(H, W) to resize them all."
            )


# -- shared helpers -------------------------------------------------------------------
def _dataset(name, x, y, codec, parts, classes, source) -> Dataset:
    """A Dataset from tensors and the three index tensors of a split."""
    names = ("train", "val", "test")
    splits = {n: Split(x[i], None if y is None else y[i], codec) for n, i in zip(names, parts)}
    return Dataset(
        name=name,
        modality="image",
        codec=codec,
        classes=classes,
        source=source,
        info={"indices": dict(zip(names, parts))},
        **splits,
    )


def _require_file(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} not found: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if not path.is_file():
        raise DataError(f"{path} is a folder, not a file; give the path of the {what}.")
    return path


def _require_dir(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} not found: {path}. Check the path (relative paths start at {Path.cwd()}).")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder; give the path of the {what}.")
    return path


def _read_bytes(path: Path) -> bytes:
    """File content, gunzipped when the name ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(
            f"{path} is not a valid gzip file ({err}); it is corrupt or truncated. Download it again, "
            "or drop the .gz suffix if it is not compressed."
        ) from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err}.") from None
