"""Dataset and Split: data with its codec, split deterministically."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from genlab.data.codecs import Codec
from genlab.exceptions import DataError

__all__ = ["Split", "Dataset", "split_indices"]


@dataclass
class Split:
    """One split of a dataset, in model space.

    Attributes
    ----------
    x : Tensor
        Examples encoded by ``codec``: (N, C, H, W) images, (N, D) rows, or (T,) tokens.
    y : Tensor or None
        int64 labels of shape (N,), or None.
    codec : Codec
        Maps ``x`` to and from the user's form of the data.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    codec: Codec

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{len(self.y)} labels do not match {len(self.x)} examples.")

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: Any) -> Split:
        return Split(self.x[idx], None if self.y is None else self.y[idx], self.codec)

    def __repr__(self) -> str:
        lab = "" if self.y is None else ", labelled"
        return f"Split(n={len(self)}, shape={tuple(self.x.shape[1:])}{lab})"


@dataclass
class Dataset:
    """A named dataset: ``train`` / ``val`` / ``test`` splits sharing one codec.

    Attributes
    ----------
    name : str
        e.g. ``"digits"``.
    modality : str
        ``"image"``, ``"tabular"``, ``"text"``, ...
    classes : list of str or None
        Label names, index = label value.
    source : str
        Where the data came from (path or URL).
    """

    name: str
    modality: str
    train: Split
    val: Split
    test: Split
    codec: Codec
    classes: list[str] | None = None
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, modality={self.modality!r}, train={len(self.train)}, "
            f"val={len(self.val)}, test={len(self.test)}, codec={self.codec!r})"
        )


def split_indices(n: int, fractions: tuple[float, ...], seed: int) -> list[torch.Tensor]:
    """Shuffle ``range(n)`` with ``seed`` and cut it into parts of the given fractions.

    The last part takes what is left. The same ``(n, fractions, seed)`` always gives
    the same parts, on every machine. A fraction of exactly 0 gives an empty part
    (e.g. no validation split); every positive fraction must get at least one example.
    """
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    sizes = [int(round(f * n)) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))
    if any(s < 0 or (s == 0 and f > 0) for s, f in zip(sizes, fractions)):
        raise DataError(f"{n} examples are too few to split into fractions {fractions}.")
    return list(torch.split(perm, sizes))
