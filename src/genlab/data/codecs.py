"""Codecs: the map between a user's own data and the tensors a model trains on.

A codec is saved with every model (``codec.json``) so that ``sample`` returns data
in the form it was trained on. Each codec is plain JSON; nothing is pickled.

=============  ==========================================  ==========================
codec          model tensor                                user form
=============  ==========================================  ==========================
ImageCodec     float32 (N, C, H, W) in [0, 1]; with         float32 (N, C, H, W) in
               ``levels`` L the values are k / (L - 1)      [0, 1]
TabularCodec   float32 (N, D), standardised per column      float32 (N, D), original units
CharCodec      int64 token ids                              str
=============  ==========================================  ==========================
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from genlab.exceptions import CheckpointError, DataError

__all__ = ["Codec", "ImageCodec", "TabularCodec", "CharCodec", "codec_from_json", "infer_codec"]


class Codec:
    """Base class: ``encode`` user data to model tensors, ``decode`` back."""

    kind: ClassVar[str] = ""
    modality: ClassVar[str] = ""

    def encode(self, data: Any) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def decode(self, x: torch.Tensor) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one example in model space (e.g. ``(1, 8, 8)``)."""
        raise NotImplementedError  # pragma: no cover

    @property
    def n_dims(self) -> int:
        """Number of scalar dimensions D of one example (the D in bits/dim)."""
        return int(np.prod(self.event_shape))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **self._fields()}

    def _fields(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Codec) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._fields().items())
        return f"{type(self).__name__}({args})"


class ImageCodec(Codec):
    """Images of shape ``(channels, height, width)`` with values in [0, 1].

    Parameters
    ----------
    shape : tuple of int
        ``(C, H, W)`` of one image.
    levels : int or None
        Number of discrete intensity levels L (17 for scikit-learn digits, 256 for
        8-bit images). Pixel values are then exactly ``k / (L - 1)``, k = 0..L-1,
        which lets a model report an exact discrete likelihood. ``None`` means
        continuous intensities.
    """

    kind = "image"
    modality = "image"

    def __init__(self, shape: tuple[int, int, int], levels: int | None = 256):
        self.shape = tuple(int(s) for s in shape)
        self.levels = None if levels is None else int(levels)
        if len(self.shape) != 3:
            raise DataError(f"ImageCodec shape must be (C, H, W); got {self.shape}.")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self.shape

    def _fields(self) -> dict[str, Any]:
        return {"shape": list(self.shape), "levels": self.levels}

    def encode(self, data: Any) -> torch.Tensor:
        """Validate images in [0, 1] (or integer levels 0..L-1) and return float32 (N, C, H, W)."""
        x = torch.as_tensor(np.asarray(data)) if not isinstance(data, torch.Tensor) else data
        if not x.is_floating_point():
            if self.levels is None:
                raise DataError("Integer images need a codec with `levels`; scale them to [0, 1] first.")
            x = x.to(torch.float32) / (self.levels - 1)
        x = x.to(torch.float32)
        if x.ndim == len(self.shape) - 1 and self.shape[0] == 1:
            x = x.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        if x.ndim == len(self.shape):
            x = x.unsqueeze(0)  # a single image
        if tuple(x.shape[1:]) != self.shape:
            raise DataError(
                f"images must have shape (N, {', '.join(map(str, self.shape))}); got {tuple(x.shape)}."
            )
        if not torch.isfinite(x).all():
            raise DataError("images contain NaN or infinite values.")
        if x.min() < 0 or x.max() > 1:
            raise DataError(
                f"image values must lie in [0, 1]; got range [{x.min():.3g}, {x.max():.3g}]. "
                "Divide 8-bit images by 255."
            )
        return self.quantize(x)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Round to the nearest of the L levels (identity for continuous images)."""
        x = x.clamp(0, 1)
        if self.levels is None:
            return x
        return torch.round(x * (self.levels - 1)) / (self.levels - 1)

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """Integer levels ``k`` in 0..L-1 (int64) of images in [0, 1]."""
        if self.levels is None:
            raise DataError("continuous images have no discrete levels.")
        return torch.round(x.clamp(0, 1) * (self.levels - 1)).long()

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Model output -> images in [0, 1], quantised to the codec's levels."""
        return self.quantize(x.detach().to(torch.float32).cpu())


class TabularCodec(Codec):
    """Numeric tables: columns standardised to zero mean and unit variance.

    Parameters
    ----------
    columns : list of str
        Column names (D of them).
    mean, std : list of float
        Per-column statistics of the training split, used to standardise.
    """

    kind = "tabular"
    modality = "tabular"

    def __init__(self, columns: list[str], mean: list[float], std: list[float]):
        self.columns = list(columns)
        self.mean = [float(m) for m in mean]
        self.std = [float(s) if s > 0 else 1.0 for s in std]
        if not (len(self.columns) == len(self.mean) == len(self.std)):
            raise DataError("TabularCodec needs as many means and stds as columns.")

    @classmethod
    def fit(cls, x: torch.Tensor, columns: list[str] | None = None) -> TabularCodec:
        """Codec whose statistics are those of the float tensor ``x`` (N, D)."""
        cols = columns if columns is not None else [f"x{i}" for i in range(x.shape[1])]
        std = x.std(dim=0, unbiased=False) if len(x) > 1 else torch.ones(x.shape[1])
        return cls(cols, x.mean(dim=0).tolist(), std.tolist())

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (len(self.columns),)

    def _fields(self) -> dict[str, Any]:
        return {"columns": self.columns, "mean": self.mean, "std": self.std}

    def encode(self, data: Any) -> torch.Tensor:
        x = data if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data, dtype=np.float32))
        x = x.to(torch.float32)
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[1] != len(self.columns):
            raise DataError(f"table must have shape (N, {len(self.columns)}); got {tuple(x.shape)}.")
        if not torch.isfinite(x).all():
            raise DataError("table contains NaN or infinite values; impute or drop those rows.")
        return (x - torch.tensor(self.mean)) / torch.tensor(self.std)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return x.detach().to(torch.float32).cpu() * torch.tensor(self.std) + torch.tensor(self.mean)


class CharCodec(Codec):
    """Characters <-> token ids over a fixed vocabulary (a string of unique characters)."""

    kind = "char"
    modality = "text"

    def __init__(self, vocab: str):
        if len(set(vocab)) != len(vocab) or not vocab:
            raise DataError("CharCodec vocabulary must be a non-empty string of unique characters.")
        self.vocab = vocab
        self._index = {c: i for i, c in enumerate(vocab)}

    @classmethod
    def fit(cls, text: str) -> CharCodec:
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (1,)

    def _fields(self) -> dict[str, Any]:
        return {"vocab": self.vocab}

    def encode(self, data: str) -> torch.Tensor:
        unknown = sorted(set(data) - self._index.keys())
        if unknown:
            raise DataError(f"text has characters outside the vocabulary: {''.join(unknown[:20])!r}.")
        return torch.tensor([self._index[c] for c in data], dtype=torch.long)

    def decode(self, x: torch.Tensor) -> str:
        return "".join(self.vocab[i] for i in x.tolist())


_CODECS: dict[str, type[Codec]] = {c.kind: c for c in (ImageCodec, TabularCodec, CharCodec)}


def codec_from_json(d: dict[str, Any]) -> Codec:
    """Rebuild a codec from :meth:`Codec.to_json` output."""
    try:
        fields = dict(d)
        cls = _CODECS[fields.pop("kind")]
        if cls is ImageCodec:
            return ImageCodec(tuple(fields["shape"]), fields["levels"])
        return cls(**fields)
    except (KeyError, TypeError, DataError) as err:
        raise CheckpointError(f"codec.json is not a valid genlab codec ({err}).") from None


def infer_codec(x: torch.Tensor) -> Codec:
    """Guess a codec for a raw tensor: 3-D/4-D -> images, 2-D -> table.

    Integer images are taken to have 256 levels. Float images in [0, 1] get 2 levels
    if every value is 0 or 1 (binary images), 256 if every value is a multiple of
    1/255 (8-bit images scaled to [0, 1]), and are continuous otherwise. Prefer
    passing a :class:`~genlab.data.Split`, which carries its codec.
    """
    if x.ndim in (3, 4):
        shape = (1, *x.shape[1:]) if x.ndim == 3 else tuple(x.shape[1:])
        return ImageCodec(shape, levels=_image_levels(x))
    if x.ndim == 2:
        return TabularCodec.fit(x.to(torch.float32))
    raise DataError(
        f"cannot tell what kind of data a tensor of shape {tuple(x.shape)} is; "
        "give images as (N, C, H, W) or tables as (N, D), or load it with genlab.datasets.load."
    )


def _image_levels(x: torch.Tensor) -> int | None:
    if not x.is_floating_point():
        return 256
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        return None  # encode() will say what is wrong
    if ((x == 0) | (x == 1)).all():
        return 2
    scaled = x.double() * 255
    return 256 if torch.allclose(scaled, scaled.round(), atol=1e-4, rtol=0) else None
