"""Dataset and Split: data with its codec, split deterministically."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import torch

from genlab.data.codecs import Codec, _pad
from genlab.exceptions import DataError

__all__ = ["Dataset", "Split", "split_indices"]


@dataclass
class Split:
    """One split of a dataset, in model space.

    Attributes
    ----------
    x : Tensor
        Examples encoded by ``codec``: (N, C, H, W) images, (N, D) rows, or (T,)
        tokens of one text stream; with ``lengths``, N zero-padded sequences:
        (N, T_max) int64 token ids or (N, T_max, D) float32 feature vectors.
    y : Tensor or None
        int64 labels of shape (N,), or None.
    codec : Codec
        Maps ``x`` to and from the user's form of the data (one time step of a
        sequence for numeric sequences).
    lengths : Tensor or None
        For variable-length sequences, int64 (N,): sequence ``i`` is
        ``x[i, :lengths[i]]``, with ``1 <= lengths[i] <= T_max``, and every
        padded position ``x[i, lengths[i]:]`` is 0. Positions are padding
        exactly where ``torch.arange(T_max) >= lengths[:, None]``. ``None`` (the
        default) for data that are not sequences.

    Indexing (``split[idx]``) selects examples (sequences) along the first
    dimension, with their labels and lengths; an int index keeps a batch of one.
    Sequences keep the parent's ``T_max``.

    Examples
    --------
    >>> from genlab.data.codecs import CharCodec
    >>> codec = CharCodec("abc")
    >>> s = Split.from_sequences([codec.encode("ab"), codec.encode("cab")], codec)
    >>> s
    Split(n=2 sequences, length 2..3, shape=(3,))
    >>> s.x.tolist(), s.lengths.tolist()
    ([[0, 1, 0], [2, 0, 1]], [2, 3])
    >>> [codec.decode(seq) for seq in s[1].sequences()]
    ['cab']
    """

    x: torch.Tensor
    y: torch.Tensor | None
    codec: Codec
    lengths: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.y is not None and len(self.y) != len(self.x):
            raise DataError(f"{len(self.y)} labels do not match {len(self.x)} examples.")
        if self.lengths is not None:
            self.lengths = _check_lengths(self.x, self.lengths)

    @classmethod
    def from_sequences(cls, sequences: list[torch.Tensor], codec: Codec, y: torch.Tensor | None = None) -> Split:
        """Pad sequences (each (T_i,) or (T_i, D), T_i >= 1) into a Split with ``lengths``.

        ``T_max`` is the longest ``T_i`` (0 for no sequences).
        """
        seqs = [torch.as_tensor(s) for s in sequences]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        if not seqs:
            return cls(torch.zeros(0, 0, dtype=torch.long), y, codec, lengths)
        if any(s.ndim == 0 or s.shape[1:] != seqs[0].shape[1:] for s in seqs):
            raise DataError("all sequences must have the same shape per time step to be padded together.")
        if (lengths == 0).any():
            raise DataError(f"sequence {int((lengths == 0).nonzero()[0])} is empty; every sequence needs a step.")
        return cls(_pad(torch.cat(seqs), lengths), y, codec, lengths)

    def sequences(self) -> list[torch.Tensor]:
        """The N sequences without padding: ``x[i, :lengths[i]]``, each (T_i,) or (T_i, D).

        A text stream (``x`` of shape (T,), no ``lengths``) is one sequence.

        Raises
        ------
        DataError
            For a split of fixed-size examples (images, table rows).
        """
        if self.lengths is None:
            if self.x.ndim == 1:
                return [self.x]
            raise DataError(
                f"this split holds fixed-size examples of shape {tuple(self.x.shape[1:])}, not sequences; "
                "load a sequence dataset (e.g. load('lines', ...) or a CSV with a sequence column)."
            )
        mask = torch.arange(self.x.shape[1], device=self.x.device) < self.lengths.to(self.x.device)[:, None]
        return list(torch.split(self.x[mask], self.lengths.tolist()))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, idx: Any) -> Split:
        if isinstance(idx, numbers.Integral) or (isinstance(idx, torch.Tensor) and idx.ndim == 0):
            idx = [int(idx)]  # a batch of one
        elif isinstance(idx, tuple) and self.lengths is not None:
            raise DataError("index a split of sequences along its first dimension only (split[i], split[a:b]).")
        y = None if self.y is None else self.y[idx]
        lengths = None if self.lengths is None else self.lengths[idx]
        return Split(self.x[idx], y, self.codec, lengths)

    def __repr__(self) -> str:
        lab = "" if self.y is None else ", labelled"
        if self.lengths is None:
            return f"Split(n={len(self)}, shape={tuple(self.x.shape[1:])}{lab})"
        span = f"{int(self.lengths.min())}..{int(self.lengths.max())}" if len(self) else "-"
        return f"Split(n={len(self)} sequences, length {span}, shape={tuple(self.x.shape[1:])}{lab})"


def _check_lengths(x: torch.Tensor, lengths: Any) -> torch.Tensor:
    """``lengths`` as int64 (N,) after checking it against the padded ``x``."""
    lengths = torch.as_tensor(lengths)
    if lengths.dtype == torch.bool or lengths.is_floating_point() or lengths.is_complex():
        raise DataError(f"lengths must be integers; got dtype {lengths.dtype}.")
    lengths = lengths.to(torch.long)
    if x.ndim < 2:
        raise DataError(f"sequences with lengths need x of shape (N, T_max) or (N, T_max, D); got {tuple(x.shape)}.")
    if lengths.shape != (len(x),):
        raise DataError(f"lengths must have shape ({len(x)},), one per sequence; got {tuple(lengths.shape)}.")
    if len(x) == 0:
        return lengths
    t_max = x.shape[1]
    if int(lengths.min()) < 1 or int(lengths.max()) > t_max:
        bad = int(((lengths < 1) | (lengths > t_max)).nonzero()[0])
        raise DataError(f"sequence {bad} has length {int(lengths[bad])}; every length must lie in 1..T_max = {t_max}.")
    padding = torch.arange(t_max, device=x.device) >= lengths.to(x.device)[:, None]  # (N, T_max)
    nonzero = x != 0  # NaN counts as non-zero
    if nonzero.ndim > 2:
        nonzero = nonzero.flatten(2).any(-1)
    stray = (nonzero & padding).any(1)
    if stray.any():
        bad = int(stray.nonzero()[0])
        raise DataError(
            f"sequence {bad} (length {int(lengths[bad])}) has non-zero values after its end; "
            "padded positions of x must be 0."
        )
    return lengths


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
