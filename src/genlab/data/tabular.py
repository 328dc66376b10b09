"""Numeric tables from CSV files, read with the standard ``csv`` module (no pandas).

The first row is the header. Every other cell must be a finite number; the
optional label column must hold non-negative integer class ids. The features
are standardised with a :class:`TabularCodec` fitted on the training split
only, so no statistic of the validation or test rows leaks into training.

With a sequence id column (``sequence_column=``, or a column named exactly
``sequence``) the rows are time steps of numeric sequences: each distinct id
is one sequence, and whole sequences are split.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
import torch

from genlab.data.base import Dataset, Split, split_indices
from genlab.data.codecs import CategoricalCodec, TabularCodec, _pad
from genlab.data.text import read_text
from genlab.exceptions import DataError

__all__ = ["load_csv", "read_csv"]


def read_csv(path: str | os.PathLike) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and data rows of a CSV file (gzipped when its name ends in ``.gz``).

    Returns
    -------
    header : list of str
        Column names, stripped of surrounding spaces.
    rows : list of (int, list of str)
        Each data row with its line number in the file (1-based); blank lines
        are skipped.

    Raises
    ------
    DataError
        If the file is missing, unreadable or has no header, no rows, or a row
        whose number of cells differs from the header's.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    header, rows = None, []
    try:
        for cells in reader:
            if not cells or not "".join(cells).strip():
                continue  # blank line
            if header is None:
                header = [c.strip() for c in cells]
                continue
            if len(cells) != len(header):
                raise DataError(
                    f"{path}, line {reader.line_num}: {len(cells)} values but the header has {len(header)} "
                    "columns; every row needs one value per column."
                )
            rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise DataError(f"{path}, line {reader.line_num}: not valid CSV ({err}).") from None
    if header is None:
        raise DataError(f"{path} is empty; a CSV file needs a header row and at least one data row.")
    if not rows:
        raise DataError(f"{path} has a header but no data rows.")
    return header, rows


def load_csv(
    path: str | os.PathLike,
    *,
    label_column: str | None = None,
    sequence_column: str | None = None,
    categorical: bool | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """A numeric or categorical table from a CSV file with a header row.

    Parameters
    ----------
    path : str or PathLike
        The CSV file (comma separated, UTF-8; ``.csv.gz`` also works).
    label_column : str, optional
        Name of a column of integer class ids to use as ``y``; the other
        columns are the features. With sequences, every row of a sequence must
        have the same label, which becomes the sequence's label.
    sequence_column : str, optional
        Name of a column of sequence ids (any text, e.g. ``run7``): rows with the
        same id form one sequence, ordered as in the file (the rows of one id need
        not be adjacent); sequences are ordered by their first row. Whole
        sequences are split at random. If not given, a column named exactly
        ``sequence`` is used (unless it is the ``label_column``); rename it to
        load such a file as a plain table.
    categorical : bool or None
        Read every feature column as categories (strings kept exactly, e.g. ``"None"``
        and ``"TRUE"``; an empty cell is a missing value), coded by a
        ``CategoricalCodec`` whose states are the sorted categories seen in the whole
        file. None (default): categorical when every feature column holds some text
        (a mostly numeric column with a stray word is reported as an error instead).
    seed : int
        Seed of the random train/val/test split of the rows (of the sequences).
    val_fraction, test_fraction : float
        Split fractions.

    Returns
    -------
    Dataset
        ``x`` float32 (N, D) standardised by ``codec`` (a ``TabularCodec`` fitted
        on the train rows; ``codec.decode(x)`` gives the original units),
        ``y`` int64 (N,) or None. With sequences, ``modality`` is ``"sequence"``
        and each split holds N sequences: ``x`` float32 (N, T_max, D), zero after
        each sequence's end, and ``lengths`` int64 (N,); the codec is fitted on
        every time step of the train sequences and standardises one step (D,).
        ``info["sequence_ids"]`` lists the ids in sequence order, and
        ``info["indices"]`` indexes into it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("a,b\\n" + "".join(f"{i},{i % 3}\\n" for i in range(20)))
    >>> data = load_csv(p, label_column="b")
    >>> data.train.x.shape, data.codec.columns, data.classes
    (torch.Size([16, 1]), ['a'], ['0', '1', '2'])
    """
    path = Path(path)
    header, rows = read_csv(path)
    label_idx = _label_index(path, header, label_column)
    if sequence_column is None and "sequence" in header and label_column != "sequence":
        sequence_column = "sequence"
    seq_idx = _label_index(path, header, sequence_column, "sequence column")
    if seq_idx is not None and seq_idx == label_idx:
        raise DataError(f"{path}: the column {label_column!r} cannot be both the label and the sequence column.")
    features = [j for j in range(len(header)) if j not in (label_idx, seq_idx)]
    if not features:
        others = " and ".join(
            f"the {r} column {c!r}"
            for r, c in (("label", label_column), ("sequence", sequence_column))
            if c is not None
        )
        raise DataError(f"{path} has no feature columns besides {others}.")
    if seq_idx is not None:
        return _load_sequences(path, header, rows, features, label_idx, seq_idx, seed, val_fraction, test_fraction)

    if categorical is None:       # categories only when no feature column is numeric (a typo stays an error)
        categorical = all(not _all_numeric(rows, [j]) for j in features)
    if categorical:
        return _load_categorical(path, header, rows, features, label_idx, seed, val_fraction, test_fraction)
    x = torch.from_numpy(_parse_features(path, header, rows, features))  # (N, D) float32
    y = None if label_idx is None else torch.from_numpy(_parse_labels(path, header, rows, label_idx))
    parts = split_indices(len(x), (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    codec = TabularCodec.fit(x[parts[0]], columns=[header[j] for j in features])
    names = ("train", "val", "test")
    splits = {n: Split(codec.encode(x[i]), None if y is None else y[i], codec) for n, i in zip(names, parts)}
    classes = None if y is None else [str(c) for c in range(int(y.max()) + 1)]
    return Dataset(
        name=path.name.split(".")[0],
        modality="tabular",
        codec=codec,
        classes=classes,
        source=str(path),
        info={"indices": dict(zip(names, parts))},
        **splits,
    )


def _all_numeric(rows: list, columns: list[int]) -> bool:
    """Whether every cell of ``columns`` parses as a float."""
    for _, cells in rows:
        for j in columns:
            try:
                float(cells[j])
            except ValueError:
                return False
    return True


def _load_categorical(path: Path, header: list[str], rows: list, features: list[int], label_idx: int | None,
                      seed: int, val_fraction: float, test_fraction: float) -> Dataset:
    """Every feature column as categories (strings, stripped; an empty cell is missing)."""
    cells = np.array([[cells[j].strip() for j in features] for _, cells in rows], dtype=object)
    columns = [header[j] for j in features]
    codec, x = CategoricalCodec.fit_encode(cells, columns=columns)            # (N, V) int64, -1 = missing
    y = None if label_idx is None else torch.from_numpy(_parse_labels(path, header, rows, label_idx))
    parts = split_indices(len(x), (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    names = ("train", "val", "test")
    splits = {n: Split(x[i], None if y is None else y[i], codec) for n, i in zip(names, parts)}
    classes = None if y is None else [str(c) for c in range(int(y.max()) + 1)]
    return Dataset(name=path.name.split(".")[0], modality="tabular", codec=codec, classes=classes,
                   source=str(path), info={"indices": dict(zip(names, parts)), "categorical": True}, **splits)


def _load_sequences(
    path: Path,
    header: list[str],
    rows: list,
    features: list[int],
    label_idx: int | None,
    seq_idx: int,
    seed: int,
    val_fraction: float,
    test_fraction: float,
) -> Dataset:
    """Rows grouped into sequences by the id in column ``seq_idx``; whole sequences split."""
    groups: dict[str, list[int]] = {}
    for i, (line, cells) in enumerate(rows):
        key = cells[seq_idx].strip()
        if not key:
            raise DataError(
                f"{path}, line {line}: the sequence column {header[seq_idx]!r} is empty; every row needs the id "
                "of its sequence."
            )
        groups.setdefault(key, []).append(i)
    ids = list(groups)
    members = [torch.tensor(groups[k], dtype=torch.long) for k in ids]
    lengths = torch.tensor([len(m) for m in members], dtype=torch.long)
    x = torch.from_numpy(_parse_features(path, header, rows, features))  # (rows, D)
    y = None
    if label_idx is not None:
        row_y = _parse_labels(path, header, rows, label_idx)
        for k, m in zip(ids, members):
            if len(set(row_y[m.numpy()].tolist())) > 1:
                raise DataError(
                    f"{path}: sequence {k!r} has rows with different labels in column {header[label_idx]!r}; "
                    "a sequence's rows must share one label."
                )
        y = torch.tensor([int(row_y[m[0]]) for m in members], dtype=torch.long)
    fractions = (1 - val_fraction - test_fraction, val_fraction, test_fraction)
    try:
        parts = split_indices(len(ids), fractions, seed)
    except DataError:
        raise DataError(
            f"{path} has {len(ids)} sequences (distinct values of {header[seq_idx]!r}), too few for "
            f"val_fraction={val_fraction} and test_fraction={test_fraction}."
        ) from None

    def rows_of(idx: torch.Tensor) -> torch.Tensor:
        return torch.cat([members[i] for i in idx.tolist()]) if len(idx) else torch.zeros(0, dtype=torch.long)

    codec = TabularCodec.fit(x[rows_of(parts[0])], columns=[header[j] for j in features])
    names = ("train", "val", "test")
    splits = {
        n: Split(_pad(codec.encode(x[rows_of(i)]), lengths[i]), None if y is None else y[i], codec, lengths[i])
        for n, i in zip(names, parts)
    }
    return Dataset(
        name=path.name.split(".")[0],
        modality="sequence",
        codec=codec,
        classes=None if y is None else [str(c) for c in range(int(y.max()) + 1)],
        source=str(path),
        info={"indices": dict(zip(names, parts)), "sequence_ids": ids, "sequence_column": header[seq_idx]},
        **splits,
    )


def _label_index(path: Path, header: list[str], column: str | None, role: str = "label column") -> int | None:
    if column is None:
        return None
    if column not in header:
        raise DataError(f"{path} has no column {column!r} (the {role}); its columns are {header}.")
    return header.index(column)


def _parse_features(path: Path, header: list[str], rows: list, columns: list[int]) -> np.ndarray:
    """Cells of ``columns`` as float32 (N, D); names file, line and column of a bad cell."""
    out = np.empty((len(rows), len(columns)), dtype=np.float64)
    for i, (line, cells) in enumerate(rows):
        for k, j in enumerate(columns):
            try:
                value = float(cells[j])
            except ValueError:
                raise DataError(
                    f"{path}, line {line}, column {header[j]!r}: {cells[j]!r} is not a number. "
                    "A table mixing numeric and text columns: encode the categories as numbers, or read "
                    "every column as categories with load('csv', path=..., categorical=True)."
                ) from None
            if not math.isfinite(value):
                raise DataError(
                    f"{path}, line {line}, column {header[j]!r}: {cells[j].strip()!r} is NaN or infinite; "
                    "impute or drop that row."
                )
            out[i, k] = value
    with np.errstate(over="ignore"):
        x = out.astype(np.float32)
    if not np.isfinite(x).all():
        i, k = np.argwhere(~np.isfinite(x))[0]
        raise DataError(
            f"{path}, line {rows[i][0]}, column {header[columns[k]]!r}: {rows[i][1][columns[k]].strip()!r} "
            "is too large for float32; rescale that column."
        )
    return x


def _parse_labels(path: Path, header: list[str], rows: list, j: int) -> np.ndarray:
    """The label column as int64 (N,) of non-negative integers."""
    out = np.empty(len(rows), dtype=np.int64)
    for i, (line, cells) in enumerate(rows):
        try:
            out[i] = int(cells[j])
        except (ValueError, OverflowError):
            out[i] = -1
        if out[i] < 0:
            raise DataError(
                f"{path}, line {line}, label column {header[j]!r}: {cells[j]!r} is not a class id; "
                "labels must be non-negative integers (0, 1, 2, ...)."
            )
    return out
