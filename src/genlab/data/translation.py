"""Parallel corpora for translation: aligned sentence files, one sentence per line.

:func:`load_parallel` reads a folder of ``<split>.<lang>`` files (optionally gzipped),
the layout of Multi30k (``train``, ``val``, ``test_2016_flickr`` in ``en``, ``de``,
``fr``). Line *i* of ``train.en`` translates line *i* of ``train.de``.

In a Multi30k folder (one with ``test_2016_flickr.*`` files), the files of Multi30k
task 1 (commit ``a3d2e0d`` of ``multi30k/dataset``) are recognised by name and their
sha256 is checked, so a corrupted or different copy is reported instead of silently
scored as Multi30k.

Examples
--------
>>> corpus = load_parallel("../shared/data/multi30k", "en", "de")   # doctest: +SKIP
>>> len(corpus.train), corpus.train.source[0]                       # doctest: +SKIP
(29000, 'Two young, White males are outside near many bushes.')
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

from genlab.exceptions import DataError, InvalidParameterError
from genlab.utils.serialization import sha256_file

__all__ = ["MULTI30K_SHA256", "Pairs", "ParallelCorpus", "load_parallel"]

# sha256 of the Multi30k task-1 raw files (see shared/data/multi30k/SOURCE.md)
MULTI30K_SHA256 = {
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
}


@dataclass
class Pairs:
    """Aligned sentences of one split: ``target[i]`` translates ``source[i]``."""

    source: list[str]
    target: list[str]

    def __post_init__(self) -> None:
        if len(self.source) != len(self.target):
            raise DataError(f"{len(self.source)} source and {len(self.target)} target sentences; "
                            "a parallel split needs one target per source.")

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: slice) -> Pairs:
        """``pairs[:100]``: the first 100 pairs (a slice gives a new ``Pairs``)."""
        if not isinstance(index, slice):
            raise InvalidParameterError("Pairs takes a slice, e.g. pairs[:100]; use pairs.source[i] for one sentence.")
        return Pairs(self.source[index], self.target[index])


@dataclass
class ParallelCorpus:
    """``train`` / ``val`` / ``test`` splits of a parallel corpus (``val``, ``test``: None if absent)."""

    train: Pairs
    val: Pairs | None
    test: Pairs | None
    source_lang: str
    target_lang: str
    root: str
    test_split: str | None = None


def _read_lines(path: Path) -> list[str]:
    """UTF-8 lines of a (possibly gzipped) file, without their line ends."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text ({err}).") from None
    except (OSError, EOFError) as err:
        raise DataError(f"could not read {path} ({err}).") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _find(root: Path, split: str, lang: str) -> Path | None:
    for name in (f"{split}.{lang}.gz", f"{split}.{lang}"):
        if (root / name).is_file():
            return root / name
    return None


def _languages(root: Path, split: str) -> list[str]:
    langs = set()
    for p in root.glob(f"{split}.*"):
        rest = p.name[len(split) + 1:]
        langs.add(rest.removesuffix(".gz"))
    return sorted(langs)


def _test_split(root: Path, source: str) -> str | None:
    if _find(root, "test", source):
        return "test"
    names = sorted({p.name.split(".")[0] for p in root.glob("test*") if p.is_file()})
    names = [n for n in names if _find(root, n, source)]
    if not names:
        return None
    return "test_2016_flickr" if "test_2016_flickr" in names else names[0]


def _read_split(root: Path, split: str, source: str, target: str, verify: bool) -> Pairs:
    verify = verify and any(root.glob("test_2016_flickr.*"))   # a Multi30k folder, not just any train.en.gz
    sides = []
    for lang in (source, target):
        path = _find(root, split, lang)
        if path is None:
            have = _languages(root, split)
            raise DataError(
                f"{root} has no {split}.{lang} or {split}.{lang}.gz; languages of the {split!r} split there: "
                f"{', '.join(have) or 'none'}.")
        if verify and path.name in MULTI30K_SHA256 and sha256_file(path) != MULTI30K_SHA256[path.name]:
            raise DataError(
                f"{path} does not match the sha256 of Multi30k's {path.name} (multi30k/dataset, data/task1/raw): "
                "the file is corrupted or is other data under the same name. Fetch it again, or pass verify=False.")
        sides.append(_read_lines(path))
    if len(sides[0]) != len(sides[1]):
        raise DataError(f"{split}.{source} has {len(sides[0])} lines but {split}.{target} has {len(sides[1])}; "
                        "the files of a split must be aligned line by line.")
    if not sides[0]:
        raise DataError(f"the {split!r} split in {root} is empty.")
    return Pairs(sides[0], sides[1])


def load_parallel(root: str | os.PathLike, source: str = "en", target: str = "de", *,
                  verify: bool = True, test_split: str | None = None) -> ParallelCorpus:
    """Read a parallel corpus from a folder of ``<split>.<lang>[.gz]`` files.

    Parameters
    ----------
    root : str or PathLike
        Folder holding ``train.<lang>`` (required), ``val.<lang>`` and a test split,
        each plain or gzipped UTF-8 with one sentence per line (Multi30k's layout:
        ``../shared/data/multi30k``).
    source, target : str
        Language suffixes, e.g. ``"en"`` and ``"de"``.
    verify : bool
        In a folder with ``test_2016_flickr.*`` files, check the sha256 of files named
        like Multi30k's against the published files.
    test_split : str, optional
        Name of the test split; by default ``test`` if present, else
        ``test_2016_flickr``, else the first ``test*`` split with the source language.

    Returns
    -------
    ParallelCorpus
        ``train``, ``val`` and ``test`` :class:`Pairs` (``val`` / ``test`` None when the
        folder has no such files).

    Raises
    ------
    DataError
        For a missing folder or language, files of different line counts, a
        checksum mismatch, or text that is not UTF-8.
    """
    for name, lang in (("source", source), ("target", target)):
        if not isinstance(lang, str) or not lang or "/" in lang or "." in lang:
            raise InvalidParameterError(f"{name} must be a language suffix like 'en'; got {lang!r}.")
    if source == target:
        raise InvalidParameterError(f"source and target are both {source!r}; translation needs two languages.")
    folder = Path(root)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder (relative paths start at {Path.cwd()}).")
    train = _read_split(folder, "train", source, target, verify)
    val = _read_split(folder, "val", source, target, verify) if _find(folder, "val", source) else None
    test_name = test_split if test_split is not None else _test_split(folder, source)
    test = _read_split(folder, test_name, source, target, verify) if test_name is not None else None
    return ParallelCorpus(train, val, test, source, target, str(folder), test_name)
