"""Codecs: the map between a user's own data and the tensors a model trains on.

A codec is saved with every model (``codec.json``) so that ``sample`` returns data
in the form it was trained on. Each codec is plain JSON; nothing is pickled.

=============  ==========================================  ==========================
codec          model tensor                                user form
=============  ==========================================  ==========================
ImageCodec     float32 (N, C, H, W) in [0, 1]; with         float32 (N, C, H, W) in
               ``levels`` L the values are k / (L - 1)      [0, 1]
TabularCodec   float32 (N, D), standardised per column      float32 (N, D), original units
CharCodec      int64 token ids: (T,) for one string, (N,       str, or a list of str
               T_max) zero-padded for a batch
TokenCodec     int64 token ids: (T,) for one sequence, (N,     list of str tokens, or a
               T_max) zero-padded for a batch                  list of such lists
=============  ==========================================  ==========================

A batch of variable-length sequences travels as a zero-padded id tensor plus the
true lengths (see :class:`~genlab.data.Split`); ``decode(x, lengths)`` trims the
padding off again.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from genlab.exceptions import CheckpointError, DataError

__all__ = ["CharCodec", "Codec", "ImageCodec", "TabularCodec", "TokenCodec", "codec_from_json", "infer_codec"]


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
    """Characters <-> token ids over a fixed vocabulary (a string of unique characters).

    ``encode`` takes one string -> int64 (T,), or a list of strings -> int64
    (N, T_max) padded with id 0 (the lengths are ``[len(s) for s in strings]``).
    ``decode`` inverts both; give ``lengths`` to cut the padding off a batch.

    Examples
    --------
    >>> codec = CharCodec.fit("abracadabra")
    >>> codec.vocab, codec.encode("cab").tolist()
    ('abcdr', [2, 0, 1])
    >>> x = codec.encode(["ab", "rad"])
    >>> x.tolist(), codec.decode(x, lengths=[2, 3])
    ([[0, 1, 0], [4, 0, 3]], ['ab', 'rad'])
    """

    kind = "char"
    modality = "text"

    def __init__(self, vocab: str):
        if not isinstance(vocab, str) or len(set(vocab)) != len(vocab) or not vocab:
            raise DataError("CharCodec vocabulary must be a non-empty string of unique characters.")
        self.vocab = vocab
        points = _code_points(vocab)
        # id of every code point up to the largest in the vocabulary, -1 if not in it; the last entry
        # (-1) stands for every larger code point
        self._table = np.full(int(points.max()) + 2, -1, dtype=np.int64)
        self._table[points] = np.arange(len(vocab))

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

    def encode(self, data: str | Sequence[str]) -> torch.Tensor:
        """One string -> int64 (T,); a list of strings -> int64 (N, T_max), zero-padded."""
        if isinstance(data, str):
            return torch.from_numpy(self._ids(data))
        strings = list(data)
        if not all(isinstance(t, str) for t in strings):
            raise DataError("CharCodec.encode takes a string or a list of strings.")
        return _pad(torch.from_numpy(self._ids("".join(strings))), [len(t) for t in strings])

    def _ids(self, text: str) -> np.ndarray:
        """int64 ids (T,) of ``text``, by a vectorised look-up of its code points."""
        points = _code_points(text)
        ids = self._table[np.minimum(points, len(self._table) - 1)]
        bad = ids < 0
        if bad.any():
            unknown = sorted({chr(p) for p in points[bad].tolist()})
            raise DataError(f"text has characters outside the vocabulary: {''.join(unknown[:20])!r}.")
        return ids

    def decode(self, x: torch.Tensor, lengths: Any = None) -> str | list[str]:
        """ids (T,) -> str; ids (N, T_max) -> list of N str, each cut to ``lengths[i]`` if given."""
        rows = _rows(x, lengths, len(self.vocab))
        vocab = self.vocab
        if _is_batch(x):
            return ["".join([vocab[i] for i in r]) for r in rows]
        return "".join([vocab[i] for i in rows])


class TokenCodec(Codec):
    """Tokens (any strings: words, chords, ...) <-> int64 ids over a fixed vocabulary.

    Parameters
    ----------
    vocab : list of str
        The tokens, unique; the id of a token is its position.
    unk : str, optional
        A token of ``vocab`` that unknown tokens are mapped to. Without it (the
        default) an unknown token raises :class:`DataError`.

    ``encode`` takes one sequence (a list of tokens) -> int64 (T,), or a list
    of sequences -> int64 (N, T_max) padded with id 0 (the lengths are
    ``[len(s) for s in seqs]``). ``decode`` inverts both; give ``lengths`` to
    cut the padding off a batch.

    Examples
    --------
    >>> codec = TokenCodec(["rest", "60.64.67", "<unk>"], unk="<unk>")
    >>> codec.encode(["60.64.67", "rest"]).tolist()
    [1, 0]
    >>> x = codec.encode([["rest"], ["60.64.67", "62.65"]])
    >>> x.tolist(), codec.decode(x, lengths=[1, 2])
    ([[0, 0], [1, 2]], [['rest'], ['60.64.67', '<unk>']])
    """

    kind = "tokens"
    modality = "sequence"

    def __init__(self, vocab: Sequence[str], unk: str | None = None):
        self.vocab = list(vocab) if not isinstance(vocab, str) else []
        if not self.vocab or not all(isinstance(t, str) for t in self.vocab):
            raise DataError(f"TokenCodec vocabulary must be a non-empty list of strings; got {vocab!r:.80}.")
        self._index = {t: i for i, t in enumerate(self.vocab)}
        if len(self._index) != len(self.vocab):
            dup = sorted({t for t in self.vocab if self.vocab.count(t) > 1})
            raise DataError(f"TokenCodec vocabulary has repeated tokens: {dup[:5]}.")
        if unk is not None and unk not in self._index:
            raise DataError(f"TokenCodec unk token {unk!r} is not in the vocabulary; add it to vocab.")
        self.unk = unk

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (1,)

    def _fields(self) -> dict[str, Any]:
        return {"vocab": self.vocab, "unk": self.unk}

    def __repr__(self) -> str:
        head = ", ".join(map(repr, self.vocab[:5])) + (", ..." if len(self.vocab) > 5 else "")
        return f"TokenCodec(vocab_size={len(self.vocab)}, vocab=[{head}], unk={self.unk!r})"

    def encode(self, data: Sequence[str] | Sequence[Sequence[str]]) -> torch.Tensor:
        """A list of tokens -> int64 (T,); a list of lists of tokens -> int64 (N, T_max), zero-padded."""
        if isinstance(data, str):
            raise DataError(
                f"TokenCodec.encode takes a list of tokens, not a string ({data!r:.40}); "
                "split it into tokens first, e.g. text.split()."
            )
        items = list(data)
        if all(isinstance(t, str) for t in items):
            return torch.tensor(self._ids(items), dtype=torch.long)
        seqs = [list(s) if not isinstance(s, str) else None for s in items]
        if any(s is None or not all(isinstance(t, str) for t in s) for s in seqs):
            raise DataError("TokenCodec.encode takes a list of str tokens, or a list of such lists.")
        flat = self._ids([t for s in seqs for t in s])
        return _pad(torch.tensor(flat, dtype=torch.long), [len(s) for s in seqs])

    def _ids(self, tokens: list[str]) -> list[int]:
        index = self._index
        if self.unk is not None:
            unk = index[self.unk]
            return [index.get(t, unk) for t in tokens]
        try:
            return [index[t] for t in tokens]
        except KeyError:
            unknown = list(dict.fromkeys(t for t in tokens if t not in index))
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise DataError(
                f"{len(unknown)} token(s) outside the vocabulary of {len(self.vocab)}: "
                f"{', '.join(map(repr, unknown[:5]))}{more}. Add them to the vocabulary or give the codec an unk token."
            ) from None

    def decode(self, x: torch.Tensor, lengths: Any = None) -> list[str] | list[list[str]]:
        """ids (T,) -> list of tokens; ids (N, T_max) -> N lists, each cut to ``lengths[i]`` if given."""
        rows = _rows(x, lengths, len(self.vocab))
        vocab = self.vocab
        if _is_batch(x):
            return [[vocab[i] for i in r] for r in rows]
        return [vocab[i] for i in rows]


def _is_batch(x: Any) -> bool:
    return np.ndim(x) == 2


def _code_points(text: str) -> np.ndarray:
    """Unicode code points of ``text`` as uint32 (T,)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _pad(flat: torch.Tensor, lengths: Any) -> torch.Tensor:
    """Concatenated sequences (sum(lengths), ...) -> (N, T_max, ...), zero after each sequence's end."""
    lens = torch.as_tensor(lengths, dtype=torch.long)
    t_max = int(lens.max()) if len(lens) else 0
    out = torch.zeros(len(lens), t_max, *flat.shape[1:], dtype=flat.dtype)
    out[torch.arange(t_max) < lens[:, None]] = flat
    return out


def _rows(x: Any, lengths: Any, vocab_size: int) -> list[int] | list[list[int]]:
    """ids (T,) as one list of ints, or ids (N, T_max) as N lists cut to ``lengths``."""
    ids = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x)
    if ids.ndim not in (1, 2) or (ids.ndim == 1 and lengths is not None):
        what = "one sequence (T,) without lengths, or a batch (N, T_max)"
        raise DataError(f"token ids must be {what}; got shape {ids.shape}.")
    if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= vocab_size):
        raise DataError(
            f"token ids must be integers in [0, {vocab_size}); got {ids.dtype} ids in [{ids.min()}, {ids.max()}]."
        )
    if ids.ndim == 1:
        return ids.tolist()
    if lengths is None:
        return ids.tolist()
    lens = np.asarray(lengths.detach().cpu() if isinstance(lengths, torch.Tensor) else lengths).reshape(-1)
    if len(lens) != len(ids) or (len(lens) and (lens.min() < 0 or lens.max() > ids.shape[1])):
        raise DataError(f"lengths {lens.tolist()[:10]} do not fit token ids of shape {ids.shape}.")
    return [row[: int(n)] for row, n in zip(ids.tolist(), lens.tolist())]


_CODECS: dict[str, type[Codec]] = {c.kind: c for c in (ImageCodec, TabularCodec, CharCodec, TokenCodec)}


class CategoricalCodec(Codec):
    """Rows of categorical values (a table of named columns) <-> int64 codes (N, V).

    ``states[v]`` lists column v's categories; code ``k`` is ``states[v][k]`` and ``-1``
    marks a missing value (an empty cell, ``None`` or a float NaN). Category names are kept
    as strings exactly (``"None"``, ``"TRUE"``, ``"01"`` stay what they are).

    Examples
    --------
    >>> codec = CategoricalCodec(["smoke", "lung"], [["no", "yes"], ["no", "yes"]])
    >>> codec.encode([["yes", "no"], ["no", ""]]).tolist()
    [[1, 0], [0, -1]]
    >>> codec.decode(torch.tensor([[1, 1]])).values.tolist()
    [['yes', 'yes']]
    """

    kind = "categorical"
    modality = "tabular"

    def __init__(self, columns: Sequence[str], states: Sequence[Sequence[str]]):
        self.columns = [str(c) for c in columns]
        self.states = [[str(s) for s in st] for st in states]
        if len(self.columns) != len(self.states) or not self.columns:
            raise DataError("CategoricalCodec needs one list of states per column (and at least one column).")
        if len(set(self.columns)) != len(self.columns):
            raise DataError(f"column names must be unique; got {self.columns}.")
        for c, st in zip(self.columns, self.states):
            if not st or len(set(st)) != len(st):
                raise DataError(f"column {c!r} needs at least one state and no repeated states; got {st}.")

    @classmethod
    def fit(cls, rows: Any, columns: Sequence[str] | None = None) -> CategoricalCodec:
        """Columns and sorted categories of a DataFrame or a 2-D array/list of strings (missing values skipped)."""
        import pandas as pd

        columns, cells = _table_cells(rows, columns)
        states = []
        for j in range(len(columns)):
            col = cells[:, j]
            seen = sorted({str(v) for v in pd.unique(col[~_missing_mask(col)])})
            if not seen:
                raise DataError(f"column {columns[j]!r} has no observed values.")
            states.append(seen)
        return cls(columns, states)

    @classmethod
    def fit_encode(cls, rows: Any, columns: Sequence[str] | None = None) -> tuple[CategoricalCodec, torch.Tensor]:
        """``fit`` and ``encode`` in one pass over the cells (one hash per cell instead of two):
        ``(codec, codes (N, V) int64)``, equal to ``(c := fit(rows), c.encode(rows))``."""
        import pandas as pd

        if hasattr(rows, "columns") and hasattr(rows, "iloc"):                      # a DataFrame: column by column
            columns = [str(c) for c in rows.columns]
            cols = [rows.iloc[:, j] for j in range(len(columns))]
        else:
            columns, cells = _table_cells(rows, columns)
            cols = [cells[:, j] for j in range(len(columns))]
        states, out = [], np.empty((len(cols[0]) if cols else 0, len(cols)), dtype=np.int64)
        for j, col in enumerate(cols):
            codes, uniques = pd.factorize(col)                          # -1 for None / NaN
            names = np.array([str(u) for u in uniques], dtype=object)
            keep = names != ""                                          # the empty string is missing too
            st = sorted(names[keep].tolist())
            if not st:
                raise DataError(f"column {columns[j]!r} has no observed values.")
            lookup = np.full(len(names) + 1, -1, dtype=np.int64)       # last slot: factorize's -1
            lookup[:-1][keep] = pd.Index(st).get_indexer(names[keep])
            out[:, j] = lookup[codes]
            states.append(st)
        return cls(columns, states), torch.from_numpy(out)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (len(self.columns),)

    @property
    def card(self) -> list[int]:
        return [len(s) for s in self.states]

    def _fields(self) -> dict[str, Any]:
        return {"columns": self.columns, "states": self.states}

    def encode(self, data: Any) -> torch.Tensor:
        """A DataFrame (columns by name, any order) or rows of values -> int64 (N, V), -1 = missing."""
        import pandas as pd

        if hasattr(data, "columns") and hasattr(data, "iloc"):                      # a DataFrame
            names = [str(c) for c in data.columns]
            missing = [c for c in self.columns if c not in names]
            if missing:
                raise DataError(f"the table lacks the column(s) {missing}; expected {self.columns}.")
            cols = [data.iloc[:, names.index(c)] for c in self.columns]
        else:
            columns, cells = _table_cells(data, self.columns)
            cols = [cells[:, j] for j in range(len(columns))]
        out = np.empty((len(cols[0]), len(cols)), dtype=np.int64)
        for j, (col, st) in enumerate(zip(cols, self.states)):
            codes, uniques = pd.factorize(col)                              # one hash per cell; NaN/None -> -1
            names = np.array([str(u) for u in uniques], dtype=object)
            idx = pd.Index(st).get_indexer(names).astype(np.int64)
            unknown = (idx < 0) & (names != "")                             # "" is a missing value, not a category
            if unknown.any():
                bad = int(np.flatnonzero(unknown)[0])
                row = int(np.flatnonzero(codes == bad)[0])
                raise DataError(f"column {self.columns[j]!r}, row {row}: unknown category {names[bad]!r}; "
                                f"known: {st}.")
            out[:, j] = np.append(idx, -1)[codes]
        return torch.from_numpy(out)

    def decode(self, x: torch.Tensor) -> Any:
        """int codes (N, V) -> a pandas DataFrame of category names (None where -1)."""
        import pandas as pd

        arr = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.int64)
        arr = arr.reshape(-1, len(self.columns))
        data = {}
        for j, c in enumerate(self.columns):
            names = np.array(self.states[j] + [None], dtype=object)
            data[c] = names[np.where(arr[:, j] < 0, len(self.states[j]), arr[:, j])]
        return pd.DataFrame(data, columns=self.columns)


_CODECS[CategoricalCodec.kind] = CategoricalCodec


class IntegerCodec(Codec):
    """Raw integer tokens 0..vocab_size-1 (already tokenised data): the identity map.

    ``encode`` takes one sequence of ints -> int64 (T,), or a list of sequences ->
    int64 (N, T_max) padded with 0. ``decode`` gives lists of ints back (cut to
    ``lengths`` for a batch).

    Examples
    --------
    >>> codec = IntegerCodec(5)
    >>> codec.encode([[1, 2], [4]]).tolist(), codec.decode(codec.encode([[1, 2], [4]]), lengths=[2, 1])
    ([[1, 2], [4, 0]], [[1, 2], [4]])
    """

    kind = "integers"
    modality = "sequence"

    def __init__(self, vocab_size: int):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise DataError(f"IntegerCodec vocab_size must be a positive int; got {vocab_size!r}.")
        self.vocab_size = vocab_size

    @classmethod
    def fit(cls, sequences: Sequence[Sequence[int]]) -> IntegerCodec:
        """The smallest vocabulary holding every token of ``sequences``."""
        top = max((max(s) for s in sequences if len(s)), default=0)
        return cls(int(top) + 1)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (1,)

    def _fields(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size}

    def encode(self, data: Any) -> torch.Tensor:
        """One sequence -> int64 (T,); a list of sequences -> int64 (N, T_max), zero-padded."""
        if len(data) and not isinstance(data[0], numbers.Integral) and not (
                isinstance(data[0], torch.Tensor) and data[0].ndim == 0):
            seqs = [self._check(torch.as_tensor(s, dtype=torch.long).reshape(-1)) for s in data]
            return _pad(torch.cat(seqs) if seqs else torch.zeros(0, dtype=torch.long), [len(s) for s in seqs])
        return self._check(torch.as_tensor(data, dtype=torch.long).reshape(-1))

    def _check(self, ids: torch.Tensor) -> torch.Tensor:
        if len(ids) and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise DataError(f"tokens must be integers in 0..{self.vocab_size - 1}; got [{int(ids.min())}, "
                            f"{int(ids.max())}].")
        return ids

    def decode(self, x: torch.Tensor, lengths: Any = None) -> list[int] | list[list[int]]:
        return _rows(x, lengths, self.vocab_size)


_CODECS[IntegerCodec.kind] = IntegerCodec


def _missing_mask(col: np.ndarray) -> np.ndarray:
    """Which cells of a column are missing: None, NaN or the empty string."""
    import pandas as pd

    mask = pd.isna(col)
    if col.dtype == object:
        mask |= col == ""
    return np.asarray(mask, dtype=bool)


def _table_cells(data: Any, columns: Sequence[str] | None) -> tuple[list[str], np.ndarray]:
    """(column names, object array (N, V) of cell values) from a DataFrame or rows."""
    if hasattr(data, "columns") and hasattr(data, "to_numpy"):          # a pandas DataFrame
        return [str(c) for c in data.columns], data.to_numpy(dtype=object)
    if isinstance(data, torch.Tensor):
        data = data.numpy()
    cells = np.asarray(data, dtype=object)
    if cells.ndim == 1:
        cells = cells[None, :]
    if cells.ndim != 2 or cells.shape[0] == 0:
        raise DataError(f"a categorical table must be 2-D (rows x columns) and non-empty; got shape {cells.shape}.")
    if columns is None:
        columns = [f"x{j}" for j in range(cells.shape[1])]
    if cells.shape[1] != len(columns):
        raise DataError(f"rows have {cells.shape[1]} values; expected {len(columns)} ({list(columns)}).")
    return list(columns), cells


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
