"""Sequence datasets: variable-length sequences for sequence models (HMMs, RNNs, GPTs).

Every loader here returns a :class:`Dataset` whose splits hold N zero-padded
sequences with their true lengths: ``split.x`` is int64 (N, T_max) token ids,
``split.lengths`` int64 (N,), ``split.sequences()`` the unpadded list; T_max is
the longest sequence of that split. ``Dataset.modality`` is ``"sequence"``.

===========================  ========================================  ================
loader                       data                                      split
===========================  ========================================  ================
:func:`load_lines`           a UTF-8 text file, one sequence per       random, seeded
                             line; characters (:class:`CharCodec`)
:func:`load_smiles`          SMILES strings (MOSES CSV, or ``.smi``);  random, seeded
                             characters (:class:`CharCodec`)
:func:`load_jsb_chorales`    JSB chorales, one chord token per time    the file's own
                             step (:class:`TokenCodec`)                train/valid/test
===========================  ========================================  ================

Numeric sequences (one row per time step) come from a CSV with a sequence id
column: see :func:`genlab.data.tabular.load_csv` (``sequence_column=``).
"""

from __future__ import annotations

import json
import numbers
import os
from pathlib import Path
from typing import Any

import torch

from genlab.data.base import Dataset, Split, split_indices
from genlab.data.codecs import CharCodec, TokenCodec, _pad
from genlab.data.tabular import read_csv
from genlab.data.text import read_text
from genlab.exceptions import DataError, InvalidParameterError

__all__ = ["chord_pitches", "chord_token", "load_jsb_chorales", "load_lines", "load_smiles"]

_SPLITS = ("train", "val", "test")
JSB_RESOLUTIONS = ("quarter", "8th", "16th")
UNK = "<unk>"
REST = "rest"


# -- lines and SMILES -----------------------------------------------------------------------
def load_lines(
    path: str | os.PathLike,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    max_length: int | None = None,
) -> Dataset:
    """A text file with one sequence per line, as character-token sequences.

    Parameters
    ----------
    path : str or PathLike
        UTF-8 text file (gzipped if the name ends in ``.gz``). Each line, without
        its line break (``\\n`` or ``\\r\\n``), is one sequence; empty and
        whitespace-only lines are skipped. Other spaces are kept as characters.
    seed : int
        Seed of the random split of the lines (:func:`split_indices`).
    val_fraction, test_fraction : float
        Fractions of the lines in ``val`` and ``test``.
    max_length : int, optional
        Lines longer than this many characters are left out, before the split;
        ``Dataset.info["n_dropped"]`` says how many.

    Returns
    -------
    Dataset
        Splits with ``x`` int64 (N, T_max), ``lengths`` int64 (N,), ``y`` None;
        codec a :class:`CharCodec` whose vocabulary is the sorted set of the
        characters of all lines kept (all splits). ``info["indices"]`` holds each
        split's positions among the kept lines and ``info["line_numbers"]`` the
        1-based line number in the file of every kept line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "words.txt"
    >>> _ = p.write_text("".join(f"{w}\\n" for w in ["cab", "abba", "", "ba"] * 5))
    >>> data = load_lines(p)
    >>> data.codec.vocab, len(data.train), len(data.val), len(data.test)
    ('abc', 12, 2, 1)
    >>> data.train.x.shape, sorted(set(data.train.lengths.tolist()))
    (torch.Size([12, 4]), [2, 3, 4])
    """
    path = Path(path)
    text = read_text(path)
    lines, line_nos = [], []
    for i, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip():
            lines.append(line)
            line_nos.append(i)
    if not lines:
        raise DataError(f"{path} has no non-empty lines; give a text file with one sequence per line.")
    return _char_dataset(path, lines, line_nos, seed, val_fraction, test_fraction, max_length, what="lines")


def load_smiles(
    path: str | os.PathLike | None = None,
    *,
    column: str = "SMILES",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    max_length: int | None = None,
) -> Dataset:
    """SMILES strings of molecules as character-token sequences (no RDKit needed).

    Parameters
    ----------
    path : str or PathLike
        A CSV file (``.csv`` or ``.csv.gz``, e.g. MOSES's ``train.csv.gz``) with a
        header row that has ``column``; or any other text file (``.smi``,
        ``.txt``, gzipped or not) with one molecule per line, whose first
        whitespace-separated field is the SMILES (the ``.smi`` layout
        ``SMILES [name]``); a first line whose first field is ``column`` (any
        case) is taken as a header and skipped. There is no default location:
        ``None`` raises :class:`DataError`.
    column : str
        The SMILES column of a CSV file.
    seed : int
        Seed of the random split of the molecules.
    val_fraction, test_fraction : float
        Fractions of the molecules in ``val`` and ``test``.
    max_length : int, optional
        SMILES longer than this many characters are left out, before the split;
        ``Dataset.info["n_dropped"]`` says how many.

    Returns
    -------
    Dataset
        As :func:`load_lines`: int64 (N, T_max) ids with ``lengths``, codec a
        :class:`CharCodec` over the sorted characters of all SMILES kept.

    Raises
    ------
    DataError
        If ``path`` is None, missing or unreadable, if a CSV file has no column
        ``column`` or an empty SMILES cell, or if no SMILES is found.
    """
    if path is None:
        raise DataError(
            "load_smiles has no default location; pass path= a MOSES CSV (e.g. "
            "'data/moses/train_200k.csv.gz', with a 'SMILES' header) or a .smi file with one SMILES per line."
        )
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes[-1:] == [".csv"] or suffixes == [".csv", ".gz"]:
        header, rows = read_csv(path)
        if column not in header:
            raise DataError(
                f"{path} has no column {column!r}; its columns are {header}. Pass column= the name of the "
                "SMILES column."
            )
        j = header.index(column)
        smiles = [cells[j].strip() for _, cells in rows]
        lines = [line for line, _ in rows]
        empty = next((k for k, s in enumerate(smiles) if not s), None)
        if empty is not None:
            raise DataError(f"{path}, line {lines[empty]}: the {column!r} cell is empty; remove that row.")
    else:
        smiles, lines = [], []
        for i, line in enumerate(read_text(path).split("\n"), start=1):
            fields = line.split(None, 1)
            if not fields:
                continue  # blank line
            if not smiles and fields[0].lower() == column.lower():
                continue  # a header line
            smiles.append(fields[0])
            lines.append(i)
        if not smiles:
            raise DataError(f"{path} has no SMILES; give a file with one SMILES per line, or a CSV with a header.")
    return _char_dataset(path, smiles, lines, seed, val_fraction, test_fraction, max_length, what="SMILES")


def _char_dataset(
    path: Path,
    strings: list[str],
    line_numbers: list[int],
    seed: int,
    val_fraction: float,
    test_fraction: float,
    max_length: int | None,
    what: str,
) -> Dataset:
    """Character-token Dataset of ``strings`` split at random."""
    n_all = len(strings)
    if max_length is not None:
        if isinstance(max_length, bool) or not isinstance(max_length, numbers.Integral) or max_length < 1:
            raise InvalidParameterError(f"max_length must be a positive int or None; got {max_length!r}.")
        keep = [i for i, s in enumerate(strings) if len(s) <= max_length]
        if not keep:
            raise DataError(f"{path}: all {n_all} {what} are longer than max_length={max_length}.")
        strings = [strings[i] for i in keep]
        line_numbers = [line_numbers[i] for i in keep]
    joined = "".join(strings)
    codec = CharCodec("".join(sorted(set(joined))))
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.long)
    x = _pad(codec.encode(joined), lengths)  # (N, T_max) int64
    parts = _split(path, len(strings), val_fraction, test_fraction, seed, what)
    return Dataset(
        name=path.name.split(".")[0],
        modality="sequence",
        codec=codec,
        source=str(path),
        info={
            "indices": dict(zip(_SPLITS, parts)),
            "line_numbers": torch.tensor(line_numbers, dtype=torch.long),
            "n_dropped": n_all - len(strings),
            "max_length": max_length,
        },
        **{name: _padded_split(x[idx], lengths[idx], codec) for name, idx in zip(_SPLITS, parts)},
    )


def _split(path: Path, n: int, val_fraction: float, test_fraction: float, seed: int, what: str) -> list[torch.Tensor]:
    """:func:`split_indices` whose error names the file."""
    try:
        return split_indices(n, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    except DataError:
        raise DataError(
            f"{path} has {n} {what}, too few for val_fraction={val_fraction} and test_fraction={test_fraction}."
        ) from None


def _padded_split(x: torch.Tensor, lengths: torch.Tensor, codec: Any, y: torch.Tensor | None = None) -> Split:
    """Split of padded sequences, trimmed to its own longest sequence."""
    t_max = int(lengths.max()) if len(lengths) else 0
    return Split(x[:, :t_max].contiguous(), y, codec, lengths)


# -- JSB chorales ---------------------------------------------------------------------------
def chord_token(pitches: Any) -> str:
    """The token of a chord: its distinct MIDI pitches, sorted, joined by dots.

    Examples
    --------
    >>> chord_token([67, 60, 64]), chord_token([])
    ('60.64.67', 'rest')
    """
    distinct = sorted({int(p) for p in pitches})
    return ".".join(map(str, distinct)) if distinct else REST


def chord_pitches(token: str) -> tuple[int, ...]:
    """The MIDI pitches of a chord token (:func:`chord_token` inverted).

    Examples
    --------
    >>> chord_pitches("60.64.67"), chord_pitches("rest")
    ((60, 64, 67), ())

    Raises
    ------
    DataError
        For ``"<unk>"`` (a chord not seen in training has no known pitches) or
        a token that is not a chord.
    """
    if token == REST:
        return ()
    try:
        return tuple(int(p) for p in token.split("."))
    except ValueError:
        raise DataError(f"{token!r} is not a chord token (dot-joined MIDI pitches, or 'rest').") from None


def load_jsb_chorales(
    path: str | os.PathLike | None = None,
    *,
    resolution: str = "quarter",
    seed: int = 0,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
) -> Dataset:
    """Bach chorales (JSB, Boulanger-Lewandowski et al. 2012) as sequences of chord tokens.

    Each time step is the chord sounding then: the sorted distinct MIDI pitches
    (0 to 4 of them), written as one token, e.g. ``"60.64.67"``, or ``"rest"``
    for silence (see :func:`chord_token`, :func:`chord_pitches`).

    Parameters
    ----------
    path : str or PathLike
        The folder holding ``jsb-chorales-{resolution}.json`` (from
        github.com/czhuang/JSB-Chorales-dataset), or one such JSON file: an
        object with ``"train"``, ``"valid"`` and ``"test"`` lists of chorales,
        each a list of time steps, each a list of MIDI pitches (whole numbers;
        ``67.0`` is read as 67). In the
        voice-separated Coconet file (``Jsb16thSeparated.json``) a pitch of -1
        (a resting voice) is left out. There is no default location: ``None``
        raises :class:`DataError`.
    resolution : {"quarter", "8th", "16th"}
        The time grid; picks the file when ``path`` is a folder. For a file it is
        ignored, and ``info["resolution"]`` is read from the file's name (None if
        the name does not tell).
    seed, val_fraction, test_fraction
        Ignored: the file's own train / valid / test split (229 / 76 / 77
        chorales) is used, as in the literature. Accepted so that every loader
        takes them.

    Returns
    -------
    Dataset
        ``train`` / ``val`` / ``test`` from the file's ``train`` / ``valid`` /
        ``test``, with ``x`` int64 (N, T_max) and ``lengths``. The codec is a
        :class:`TokenCodec` whose vocabulary is ``"<unk>"`` (id 0) followed by
        every chord of the train split, sorted by pitches (``"rest"`` first, if
        seen). A val or test chord never seen in train is encoded as ``"<unk>"``;
        ``info["n_unknown"]`` counts those time steps per split (train: 0).
        ``info["n_steps"]`` holds the number of time steps per split.
    """
    del seed, val_fraction, test_fraction  # the file's own split
    if resolution not in JSB_RESOLUTIONS:
        raise InvalidParameterError(f"resolution must be one of {list(JSB_RESOLUTIONS)}; got {resolution!r}.")
    if path is None:
        raise DataError(
            "load_jsb_chorales has no default location; pass path= the folder holding "
            "jsb-chorales-quarter.json (from github.com/czhuang/JSB-Chorales-dataset) or the JSON file itself."
        )
    path = Path(path)
    if path.is_dir():
        folder, path = path, path / f"jsb-chorales-{resolution}.json"
        if not path.is_file():
            found = sorted(p.name for p in folder.glob("*.json"))
            raise DataError(f"{path} not found; the folder {folder} holds {found or 'no JSON files'}.")
    else:  # the grid of a given file, as far as its name tells
        resolution = next((r for r in JSB_RESOLUTIONS if r in path.name.lower()), None)
    chorales = _read_chorales(path)
    tokens = {split: [[chord_token(step) for step in c] for c in chorales[split]] for split in _SPLITS}

    seen = {t for chorale in tokens["train"] for t in chorale}
    vocab = [UNK] + sorted(seen, key=chord_pitches)
    codec = TokenCodec(vocab, unk=UNK)
    splits, n_unknown, n_steps = {}, {}, {}
    for split in _SPLITS:
        flat = [t for chorale in tokens[split] for t in chorale]
        lengths = torch.tensor([len(c) for c in tokens[split]], dtype=torch.long)
        splits[split] = _padded_split(_pad(codec.encode(flat), lengths), lengths, codec)
        n_unknown[split] = sum(t not in seen for t in flat)
        n_steps[split] = len(flat)
    return Dataset(
        name="jsb_chorales",
        modality="sequence",
        codec=codec,
        source=str(path),
        info={"resolution": resolution, "n_unknown": n_unknown, "n_steps": n_steps},
        **splits,
    )


def _read_chorales(path: Path) -> dict[str, list[list[list[int]]]]:
    """The file's chorales as ``{"train", "val", "test"}`` -> lists of lists of pitches, validated."""
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); it is corrupt or "
            "not a JSB chorales file."
        ) from None
    keys = {"train": "train", "val": "valid", "test": "test"}
    if not isinstance(data, dict) or any(k not in data for k in keys.values()):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{path} must be a JSON object with keys 'train', 'valid' and 'test'; got {got}.")
    out = {}
    for split, key in keys.items():
        chorales = data[key]
        if not isinstance(chorales, list) or (split == "train" and not chorales):
            raise DataError(f"{path}: {key!r} must be a non-empty list of chorales.")
        for i, chorale in enumerate(chorales):
            if not isinstance(chorale, list) or not chorale:
                raise DataError(f"{path}: {key}[{i}] must be a non-empty list of time steps; got {chorale!r:.60}.")
            for t, step in enumerate(chorale):
                if not isinstance(step, list) or not all(_is_pitch(p) for p in step):
                    raise DataError(
                        f"{path}: {key}[{i}][{t}] is {step!r:.60}; a time step must be a list of MIDI pitches "
                        "(whole numbers 0..127, or -1 for a resting voice)."
                    )
        out[split] = [[[int(p) for p in step if p >= 0] for step in chorale] for chorale in chorales]
    return out


def _is_pitch(p: Any) -> bool:
    """An int -1..127 (a whole float such as 67.0 counts: the 8th/16th files have some)."""
    if isinstance(p, float) and p.is_integer():
        p = int(p)
    return isinstance(p, int) and not isinstance(p, bool) and -1 <= p <= 127
