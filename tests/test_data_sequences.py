"""Tests of the sequence datasets: Split.lengths, TokenCodec, and the lines / SMILES /
JSB chorales / CSV-sequence loaders, on the real shared files and on tiny files made here.

Every bad input must raise DataError whose message names the file and the problem.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import genlab.data as datasets
from genlab.data import CharCodec, Split, TabularCodec, TokenCodec, codec_from_json
from genlab.data.sequences import chord_pitches, chord_token
from genlab.exceptions import DataError, InvalidParameterError

# sha256 and counts from the SOURCE.md beside each shared file.
MOSES_TRAIN = "moses/train_200k.csv.gz"
JSB_QUARTER = "jsb_chorales/jsb-chorales-quarter.json"
SHA256 = {
    MOSES_TRAIN: "7229571f6a8a5442357a43b7f6c20e79619d5dbab58ad4c1d7b9d4b21a7330b3",
    JSB_QUARTER: "2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91",
}
MOSES_CHARS = "#()-123456=BCFHNOS[]clnors"


def names_file(path: Path, pattern: str = ""):
    """pytest.raises(DataError) whose message must contain the file's name (then ``pattern``)."""
    return pytest.raises(DataError, match=re.escape(path.name) + (".*" + pattern if pattern else ""))


def sequences_of(split: Split) -> list[list]:
    return [s.tolist() for s in split.sequences()]


# -- Split with lengths --------------------------------------------------------------------
def padded_split(y: bool = False) -> Split:
    x = torch.tensor([[1, 2, 3], [4, 0, 0], [5, 6, 0]])
    return Split(x, torch.tensor([0, 1, 2]) if y else None, CharCodec("abcdefg"), torch.tensor([3, 1, 2]))


def test_split_lengths_sequences_and_repr():
    s = padded_split()
    assert s.lengths.dtype == torch.int64 and len(s) == 3
    assert sequences_of(s) == [[1, 2, 3], [4], [5, 6]]
    assert repr(s) == "Split(n=3 sequences, length 1..3, shape=(3,))"
    plain = Split(torch.zeros(4, 2), None, TabularCodec(["a", "b"], [0, 0], [1, 1]))
    assert plain.lengths is None and repr(plain) == "Split(n=4, shape=(2,))"  # unchanged without lengths


def test_split_lengths_of_other_int_dtype_become_int64():
    s = Split(torch.tensor([[1, 0]]), None, CharCodec("ab"), torch.tensor([1], dtype=torch.int32))
    assert s.lengths.dtype == torch.int64


def test_split_float_sequences():
    x = torch.zeros(2, 3, 2)
    x[0, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x[1, :3] = 5.0
    s = Split(x, None, TabularCodec(["a", "b"], [0, 0], [1, 1]), torch.tensor([2, 3]))
    assert [t.shape for t in s.sequences()] == [(2, 2), (3, 2)]
    assert torch.equal(s.sequences()[0], torch.tensor([[1.0, 2.0], [3.0, 4.0]]))


@pytest.mark.parametrize(
    ("x", "lengths", "pattern"),
    [
        (torch.zeros(3, 4, dtype=torch.long), torch.tensor([1, 2]), r"shape \(3,\)"),
        (torch.zeros(3, 4, dtype=torch.long), torch.tensor([[1, 2, 3]]), r"shape \(3,\)"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([1, 0]), "sequence 1 has length 0.*1..T_max = 4"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([5, 1]), "sequence 0 has length 5.*1..T_max = 4"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([1.0, 2.0]), "integers.*float"),
        (torch.zeros(2, 4, dtype=torch.long), torch.tensor([True, True]), "integers.*bool"),
        (torch.zeros(4, dtype=torch.long), torch.tensor([4]), r"\(N, T_max\)"),
        (torch.tensor([[1, 2, 0], [1, 2, 3]]), torch.tensor([2, 2]), "sequence 1 .*length 2.*must be 0"),
        (torch.tensor([[[1.0], [float("nan")]]]), torch.tensor([1]), "sequence 0 .*must be 0"),
    ],
)
def test_split_raises_bad_lengths(x, lengths, pattern):
    with pytest.raises(DataError, match=pattern):
        Split(x, None, CharCodec("abcd"), lengths)


def test_split_indexing_keeps_lengths_and_labels():
    s = padded_split(y=True)
    one = s[1]
    assert one.x.shape == (1, 3) and one.lengths.tolist() == [1] and one.y.tolist() == [1]
    assert s[-1].lengths.tolist() == [2] and sequences_of(s[-1]) == [[5, 6]]
    assert s[torch.tensor(0)].lengths.tolist() == [3]
    part = s[1:]
    assert part.lengths.tolist() == [1, 2] and part.y.tolist() == [1, 2] and part.x.shape == (2, 3)
    picked = s[torch.tensor([2, 0])]
    assert sequences_of(picked) == [[5, 6], [1, 2, 3]] and picked.y.tolist() == [2, 0]
    masked = s[torch.tensor([True, False, True])]
    assert masked.lengths.tolist() == [3, 2]
    assert len(s[2:2]) == 0 and repr(s[2:2]) == "Split(n=0 sequences, length -, shape=(3,), labelled)"
    with pytest.raises(DataError, match="first dimension"):
        s[:, :2]


def test_split_int_index_of_plain_split_is_a_batch_of_one():
    s = Split(torch.arange(12.0).reshape(4, 3), torch.tensor([0, 1, 0, 1]), TabularCodec.fit(torch.randn(5, 3)))
    assert s[2].x.shape == (1, 3) and s[2].y.tolist() == [0] and s[2].lengths is None


def test_split_from_sequences():
    codec = TokenCodec(["a", "b", "c"])
    s = Split.from_sequences([codec.encode(["a", "b"]), codec.encode(["c"])], codec)
    assert s.x.tolist() == [[0, 1], [2, 0]] and s.lengths.tolist() == [2, 1]
    assert codec.decode(s.x, s.lengths) == [["a", "b"], ["c"]]
    empty = Split.from_sequences([], codec)
    assert empty.x.shape == (0, 0) and empty.sequences() == []
    with pytest.raises(DataError, match="sequence 1 is empty"):
        Split.from_sequences([torch.tensor([1]), torch.tensor([], dtype=torch.long)], codec)
    with pytest.raises(DataError, match="same shape per time step"):
        Split.from_sequences([torch.zeros(2, 3), torch.zeros(2, 4)], codec)


def test_split_sequences_of_stream_and_of_fixed_size_examples():
    stream = Split(torch.arange(5), None, CharCodec("abcde"))
    assert sequences_of(stream) == [[0, 1, 2, 3, 4]]
    with pytest.raises(DataError, match=r"fixed-size examples of shape \(2,\)"):
        Split(torch.zeros(3, 2), None, TabularCodec.fit(torch.randn(4, 2))).sequences()


# -- codecs ----------------------------------------------------------------------------------
def test_token_codec_round_trip_and_json():
    codec = TokenCodec(["rest", "60.64.67", "62.65.69"])
    assert codec.kind == "tokens" and codec.modality == "sequence" and codec.vocab_size == 3
    ids = codec.encode(["62.65.69", "rest", "60.64.67"])
    assert ids.dtype == torch.int64 and ids.tolist() == [2, 0, 1]
    assert codec.decode(ids) == ["62.65.69", "rest", "60.64.67"]
    batch = codec.encode([["rest"], ["60.64.67", "62.65.69", "rest"]])
    assert batch.tolist() == [[0, 0, 0], [1, 2, 0]]
    assert codec.decode(batch, lengths=torch.tensor([1, 3])) == [["rest"], ["60.64.67", "62.65.69", "rest"]]
    assert codec.decode(batch)[0] == ["rest", "rest", "rest"]  # without lengths, the padding too
    again = codec_from_json(json.loads(json.dumps(codec.to_json())))
    assert again == codec and isinstance(again, TokenCodec) and again.unk is None
    assert codec.encode([]).shape == (0,)


def test_token_codec_raises_unknown_tokens():
    codec = TokenCodec(["a", "b"])
    with pytest.raises(DataError, match=r"2 token\(s\) outside the vocabulary of 2: 'x', 'y'\. .*unk"):
        codec.encode(["a", "x", "y", "x"])
    with pytest.raises(DataError, match="7 token.*'t0', 't1', 't2', 't3', 't4' and 2 more"):
        codec.encode([["a"], [f"t{i}" for i in range(7)]])
    with pytest.raises(DataError, match="not a string"):
        codec.encode("a b")


def test_token_codec_unk_maps_unknown_tokens():
    codec = TokenCodec(["<unk>", "a", "b"], unk="<unk>")
    assert codec.encode(["a", "zzz", "b"]).tolist() == [1, 0, 2]
    assert codec_from_json(codec.to_json()).unk == "<unk>"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (([],), "non-empty list of strings"),
        (("abc",), "non-empty list of strings"),
        ((["a", 1],), "non-empty list of strings"),
        ((["a", "b", "a"],), r"repeated tokens: \['a'\]"),
        ((["a"], "<unk>"), "unk token '<unk>' is not in the vocabulary"),
    ],
)
def test_token_codec_raises_bad_vocabulary(args, pattern):
    with pytest.raises(DataError, match=pattern):
        TokenCodec(*args)


def test_token_codec_decode_raises_bad_ids():
    codec = TokenCodec(["a", "b"])
    with pytest.raises(DataError, match=r"\[0, 2\)"):
        codec.decode(torch.tensor([0, 2]))
    with pytest.raises(DataError, match="do not fit"):
        codec.decode(torch.tensor([[0, 1]]), lengths=[3])


def test_char_codec_batches_and_keeps_single_strings():
    codec = CharCodec.fit("hello world")
    assert codec.encode("hello").tolist() == [3, 2, 4, 4, 5] and codec.decode(codec.encode("hello")) == "hello"
    batch = codec.encode(["he", "world", ""])
    assert batch.shape == (3, 5) and batch[0, 2:].tolist() == [0, 0, 0]
    assert codec.decode(batch, lengths=[2, 5, 0]) == ["he", "world", ""]
    assert codec_from_json(codec.to_json()) == codec
    with pytest.raises(DataError, match="outside the vocabulary: 'xz'"):
        codec.encode("zox")
    big = CharCodec("aé€😀")  # code points of 1 to 4 UTF-8 bytes
    assert big.decode(big.encode("😀€éa")) == "😀€éa"


# -- load_lines ------------------------------------------------------------------------------
def write_lines(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


LINES = [f"{'ab' * (i % 4 + 1)}c{i % 7}" for i in range(40)]


def test_load_lines_vocab_lengths_and_exact_text(tmp_path):
    path = write_lines(tmp_path / "seqs.txt", LINES[:20] + ["", "   "] + LINES[20:], newline="\r\n")
    data = datasets.load("lines", path=path, seed=3)
    assert data.modality == "sequence" and data.name == "seqs" and isinstance(data.codec, CharCodec)
    assert data.codec.vocab == "0123456abc"
    assert (len(data.train), len(data.val), len(data.test)) == (32, 4, 4)
    for name in ("train", "val", "test"):
        split, idx = getattr(data, name), data.info["indices"][name]
        assert split.x.dtype == torch.int64 and split.y is None
        assert split.lengths.tolist() == [len(LINES[i]) for i in idx.tolist()]
        assert split.x.shape[1] == max(split.lengths)  # T_max of the split itself
        assert data.codec.decode(split.x, split.lengths) == [LINES[i] for i in idx.tolist()]
    # line numbers in the file skip the two blank lines
    assert data.info["line_numbers"][:21].tolist() == list(range(1, 21)) + [23]
    assert data.info["n_dropped"] == 0


def test_load_lines_split_is_seeded_disjoint_and_covering(tmp_path):
    path = write_lines(tmp_path / "seqs.txt", LINES)
    a, b, c = (datasets.load("lines", path=path, seed=s).info["indices"] for s in (5, 5, 6))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["train"], c["train"])
    assert torch.equal(torch.cat(list(a.values())).sort().values, torch.arange(len(LINES)))


def test_load_lines_max_length_drops_longer_lines(tmp_path):
    path = write_lines(tmp_path / "seqs.txt", LINES)
    data = datasets.load("lines", path=path, max_length=5, val_fraction=0.0, test_fraction=0.0)
    kept = [line for line in LINES if len(line) <= 5]
    assert data.info["n_dropped"] == len(LINES) - len(kept) == 30
    assert sorted(data.codec.decode(data.train.x, data.train.lengths)) == sorted(kept)
    assert data.codec.vocab == "".join(sorted(set("".join(kept))))
    with names_file(path, "all 40 lines are longer than max_length=1"):
        datasets.load("lines", path=path, max_length=1)
    with pytest.raises(InvalidParameterError, match="max_length"):
        datasets.load("lines", path=path, max_length=0)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"", "no non-empty lines"),
        (b"\n \n\r\n", "no non-empty lines"),
        (b"ok\n\xff\xfe\n", "not UTF-8"),
        (b"a\nb\n", "2 lines, too few"),
    ],
)
def test_load_lines_raises_bad_file(tmp_path, content, pattern):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with names_file(path, pattern):
        datasets.load("lines", path=path)


def test_load_lines_raises_missing_file(tmp_path):
    with names_file(tmp_path / "gone.txt", "not found"):
        datasets.load("lines", path=tmp_path / "gone.txt")


# -- load_smiles -----------------------------------------------------------------------------
def test_load_smiles_moses_shared_file(shared_data):
    path = shared_data / MOSES_TRAIN
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[MOSES_TRAIN]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert lines[0] == "SMILES" and len(lines) == 200_001
    data = datasets.load("smiles", path=path)
    assert (len(data.train), len(data.val), len(data.test)) == (160_000, 20_000, 20_000)
    assert data.codec == CharCodec(MOSES_CHARS) and data.modality == "sequence" and data.name == "train_200k"
    lengths = torch.cat([data.train.lengths, data.val.lengths, data.test.lengths])
    assert (int(lengths.min()), int(lengths.max())) == (15, 56)  # SOURCE.md
    assert data.val.x.shape == (20_000, int(data.val.lengths.max())) and data.val.x.dtype == torch.int64
    # every val molecule and a sample of train decode to the exact SMILES string of the file
    line_numbers = data.info["line_numbers"]
    assert line_numbers[:3].tolist() == [2, 3, 4]
    for split, n in ((data.val, None), (data.train, 2000)):
        idx = data.info["indices"]["val" if split is data.val else "train"][:n]
        expected = [lines[i - 1] for i in line_numbers[idx].tolist()]
        assert data.codec.decode(split.x[:n], split.lengths[:n]) == expected


def test_load_smiles_smi_file_with_header_and_names(tmp_path):
    smiles = ["CCO", "c1ccccc1", "CC(=O)O", "N#N", "C[NH3+]"] * 4
    path = tmp_path / "mols.smi"
    path.write_text("smiles name\n" + "".join(f"{s}  mol{i}\n" for i, s in enumerate(smiles)) + "\n")
    data = datasets.load(path, seed=1)  # .smi -> smiles
    assert data.codec.vocab == "".join(sorted(set("".join(smiles))))
    every = torch.cat([data.info["indices"][k] for k in ("train", "val", "test")])
    decoded = [smi for s in (data.train, data.val, data.test) for smi in data.codec.decode(s.x, s.lengths)]
    assert decoded == [smiles[i] for i in every.tolist()]
    assert data.info["line_numbers"][:2].tolist() == [2, 3]


def test_load_smiles_csv_with_other_column(tmp_path):
    path = tmp_path / "mols.csv.gz"
    path.write_bytes(gzip.compress(b"id,smiles_str\n" + b"".join(b"%d,C%s\n" % (i, b"C" * i) for i in range(20))))
    data = datasets.load("smiles", path=path, column="smiles_str", val_fraction=0.0, test_fraction=0.0)
    assert sorted(data.train.lengths.tolist()) == list(range(1, 21)) and data.codec.vocab == "C"


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("mols.csv", "smiles\nCCO\n", r"no column 'SMILES'; its columns are \['smiles'\]"),
        ("mols.csv", "SMILES,id\nCCO,1\n ,2\n", "line 3: the 'SMILES' cell is empty"),
        ("mols.csv", "", "empty"),
        ("mols.csv.gz", "not gzip", "not a valid gzip"),
        ("mols.smi", "\n\n", "no SMILES"),
        ("mols.smi", "SMILES\n", "no SMILES"),
    ],
)
def test_load_smiles_raises_bad_file(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_text(content)
    with names_file(path, pattern):
        datasets.load("smiles", path=path)


def test_load_smiles_raises_without_path(tmp_path):
    with pytest.raises(DataError, match="no default location; pass path="):
        datasets.load("smiles")
    with names_file(tmp_path / "gone.csv.gz", "not found"):
        datasets.load("smiles", path=tmp_path / "gone.csv.gz")


# -- load_jsb_chorales -----------------------------------------------------------------------
def test_load_jsb_chorales_shared_quarter(shared_data):
    file = shared_data / JSB_QUARTER
    assert hashlib.sha256(file.read_bytes()).hexdigest() == SHA256[JSB_QUARTER]
    raw = json.loads(file.read_text())
    data = datasets.load("jsb_chorales", path=shared_data / "jsb_chorales")
    assert (len(data.train), len(data.val), len(data.test)) == (229, 76, 77)
    assert data.modality == "sequence" and data.info["resolution"] == "quarter"
    assert data.info["n_steps"] == {"train": 13_807, "val": 4_602, "test": 4_725}  # SOURCE.md
    for split, lo, hi in ((data.train, 25, 129), (data.val, 32, 144), (data.test, 32, 160)):
        assert (int(split.lengths.min()), int(split.lengths.max())) == (lo, hi) and split.x.shape[1] == hi
    codec = data.codec
    assert isinstance(codec, TokenCodec) and codec.vocab[0] == "<unk>" and codec.unk == "<unk>"
    assert "rest" in codec.vocab and codec.vocab_size == 2421  # 2420 train chords + <unk>
    # the file's own split, in file order: the first train chorale, step by step
    first = codec.decode(data.train.sequences()[0])
    assert first[0] == "60.72.79.88" and chord_pitches(first[0]) == (60, 72, 79, 88)
    assert [chord_pitches(t) for t in first] == [tuple(step) for step in raw["train"][0]]
    assert sum(len(c) for c in raw["train"]) == int(data.train.lengths.sum())
    rest = codec.vocab.index("rest")
    assert sum(int((torch.cat(s.sequences()) == rest).sum()) for s in (data.train, data.val, data.test)) == 64


def test_load_jsb_chorales_unknown_chords(shared_data):
    raw = json.loads((shared_data / JSB_QUARTER).read_text())
    data = datasets.load("jsb_chorales", path=shared_data / JSB_QUARTER, seed=7, val_fraction=0.3)
    assert torch.equal(data.val.x, datasets.load("jsb_chorales", path=shared_data / "jsb_chorales").val.x)
    train_chords = {chord_token(step) for c in raw["train"] for step in c}
    assert set(data.codec.vocab) == train_chords | {"<unk>"}
    assert data.info["n_unknown"] == {"train": 0, "val": 532, "test": 473}
    for name, key in (("val", "valid"), ("test", "test")):
        split = getattr(data, name)
        assert int((torch.cat(split.sequences()) == 0).sum()) == data.info["n_unknown"][name]
        decoded = data.codec.decode(split.x, split.lengths)
        for chorale, tokens in zip(raw[key], decoded):
            assert tokens == [t if t in train_chords else "<unk>" for t in map(chord_token, chorale)]
    with pytest.raises(DataError, match="'<unk>' is not a chord token"):
        chord_pitches("<unk>")


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_load_jsb_chorales_separated_voices_and_whole_floats(tmp_path):
    path = write_json(
        tmp_path / "Jsb16thSeparated.json",
        {
            "train": [[[67, 64, 60, 48], [67, -1, 60, 60], [-1, -1, -1, -1]]],
            "valid": [[[67.0, 64.0, 60.0, 48.0], [70, 65, 62, 46]]],
            "test": [],
        },
    )
    data = datasets.load("jsb_chorales", path=path)
    assert data.codec.vocab == ["<unk>", "rest", "48.60.64.67", "60.67"]
    assert data.codec.decode(data.train.x, data.train.lengths) == [["48.60.64.67", "60.67", "rest"]]
    assert data.codec.decode(data.val.x, data.val.lengths) == [["48.60.64.67", "<unk>"]]
    assert len(data.test) == 0 and data.test.x.shape == (0, 0) and data.info["resolution"] == "16th"
    assert data.info["n_unknown"] == {"train": 0, "val": 1, "test": 0}


GOOD = {"train": [[[60, 64], []]], "valid": [[[60]]], "test": [[[62]]]}


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("", "not valid JSON"),
        ('{"train": [[[60, 64]]', "not valid JSON .*line 1"),
        ("[1, 2]", "JSON object with keys 'train', 'valid' and 'test'; got list"),
        ({"train": [], "valid": [], "test": []}, "'train' must be a non-empty list of chorales"),
        ({**GOOD, "test": None}, "'test' must be a non-empty list"),
        ({k: v for k, v in GOOD.items() if k != "valid"}, r"got \['test', 'train'\]"),
        ({**GOOD, "valid": [[[60]], []]}, r"valid\[1\] must be a non-empty list of time steps"),
        ({**GOOD, "valid": [[[60], 61]]}, r"valid\[0\]\[1\] is 61; a time step must be a list of MIDI pitches"),
        ({**GOOD, "train": [[[60, "C4"]]]}, r"train\[0\]\[0\] is \[60, 'C4'\]"),
        ({**GOOD, "train": [[[60, 200]]]}, r"train\[0\]\[0\] is \[60, 200\]"),
        ({**GOOD, "train": [[[60.5]]]}, r"train\[0\]\[0\] is \[60.5\]"),
        ({**GOOD, "train": [[[True]]]}, r"train\[0\]\[0\] is \[true\]|train\[0\]\[0\] is \[True\]"),
    ],
)
def test_load_jsb_chorales_raises_bad_file(tmp_path, content, pattern):
    path = tmp_path / "chorales.json"
    if isinstance(content, str):
        path.write_text(content)
    else:
        write_json(path, content)
    with names_file(path, pattern):
        datasets.load("jsb_chorales", path=path)


def test_load_jsb_chorales_raises_without_path_or_file(tmp_path):
    with pytest.raises(DataError, match="no default location; pass path= the folder"):
        datasets.load("jsb_chorales")
    write_json(tmp_path / "jsb-chorales-quarter.json", GOOD)
    with pytest.raises(DataError, match=r"jsb-chorales-8th.json not found.*\['jsb-chorales-quarter.json'\]"):
        datasets.load("jsb_chorales", path=tmp_path, resolution="8th")
    with pytest.raises(InvalidParameterError, match="resolution must be one of"):
        datasets.load("jsb_chorales", path=tmp_path, resolution="half")
    with names_file(tmp_path / "gone.json", "not found"):
        datasets.load("jsb_chorales", path=tmp_path / "gone.json")
    assert len(datasets.load("jsb_chorales", path=tmp_path).train) == 1


# -- CSV with a sequence column ----------------------------------------------------------------
def write_series(path: Path, n_seq: int = 10, id_column: str = "sequence", label: bool = False):
    """Sequences s0..s{n-1} of 1..4 steps, rows interleaved; returns the path and {id: (steps (T, 2), label)}."""
    rng = np.random.default_rng(0)
    seqs = {f"s{k}": (rng.normal(10 * k, 1 + k, (k % 4 + 1, 2)), k % 2) for k in range(n_seq)}
    rows, pos = [], dict.fromkeys(seqs, 0)
    while any(pos[k] < len(v[0]) for k, v in seqs.items()):  # round-robin: the rows of one id are not adjacent
        for k, (steps, y) in seqs.items():
            if pos[k] < len(steps):
                a, b = steps[pos[k]]
                rows.append(f"{float(a)!r},{k},{float(b)!r}" + (f",{y}" if label else ""))
                pos[k] += 1
    path.write_text(f"a,{id_column},b" + (",y" if label else "") + "\n" + "\n".join(rows) + "\n")
    return path, seqs


def test_load_csv_sequence_column_groups_in_file_order(tmp_path):
    path, seqs = write_series(tmp_path / "series.csv")
    data = datasets.load(path, seed=2)  # the column named 'sequence' is used automatically
    assert data.modality == "sequence" and isinstance(data.codec, TabularCodec)
    assert data.codec.columns == ["a", "b"] and data.info["sequence_column"] == "sequence"
    assert data.info["sequence_ids"] == list(seqs)  # sequences in order of their first row
    assert (len(data.train), len(data.val), len(data.test)) == (8, 1, 1)
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        ids = [data.info["sequence_ids"][i] for i in data.info["indices"][name].tolist()]
        assert split.x.dtype == torch.float32 and split.x.shape[2] == 2 and split.y is None
        assert split.lengths.tolist() == [len(seqs[k][0]) for k in ids]
        for seq, k in zip(split.sequences(), ids):  # each sequence's rows in file order, original units back
            assert np.allclose(data.codec.decode(seq).numpy(), seqs[k][0], atol=1e-4)
        assert torch.equal(
            split.x[torch.arange(split.x.shape[1]) >= split.lengths[:, None]].abs().sum(), torch.tensor(0.0)
        )


def test_load_csv_sequence_standardised_with_train_steps_only(tmp_path):
    path, seqs = write_series(tmp_path / "series.csv", n_seq=20)
    data = datasets.load("csv", path=path, seed=1)
    train_ids = [data.info["sequence_ids"][i] for i in data.info["indices"]["train"].tolist()]
    steps = np.concatenate([seqs[k][0] for k in train_ids])
    every = np.concatenate([v[0] for v in seqs.values()])
    assert np.allclose(data.codec.mean, steps.mean(0), rtol=1e-5) and np.allclose(
        data.codec.std, steps.std(0), rtol=1e-4
    )
    assert not np.allclose(data.codec.mean, every.mean(0), rtol=1e-3)  # the held-out steps did not count
    train_steps = torch.cat(data.train.sequences())
    assert torch.allclose(train_steps.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(train_steps.std(0, unbiased=False), torch.ones(2), atol=1e-5)


def test_load_csv_explicit_sequence_column_with_labels(tmp_path):
    path, seqs = write_series(tmp_path / "runs.csv", id_column="run", label=True)
    with pytest.raises(DataError, match=re.escape(path.name) + ".*line 2, column 'run'.*'s0' is not a number"):
        datasets.load(path)
    data = datasets.load(path, sequence_column="run", label_column="y", seed=4)
    assert data.codec.columns == ["a", "b"] and data.classes == ["0", "1"]
    for name in ("train", "val", "test"):
        ids = [data.info["sequence_ids"][i] for i in data.info["indices"][name].tolist()]
        assert getattr(data, name).y.tolist() == [seqs[k][1] for k in ids]


def test_load_csv_sequence_column_named_sequence_as_label_stays_a_table(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,sequence\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    data = datasets.load(path, label_column="sequence")
    assert data.modality == "tabular" and data.classes == ["0", "1"]


@pytest.mark.parametrize(
    ("content", "kwargs", "pattern"),
    [
        ("a,b\n1,2\n3,4\n", {"sequence_column": "run"}, r"no column 'run' \(the sequence column\)"),
        ("sequence,a\ns1,1\n,2\n", {}, "line 3: the sequence column 'sequence' is empty"),
        ("sequence,a\ns1,1\ns2,x\n", {}, "line 3, column 'a'.*'x' is not a number"),
        ("sequence\ns1\ns2\n", {}, "no feature columns besides the sequence column 'sequence'"),
        ("sequence,a\ns1,1\ns1,2\n", {}, "1 sequences.*too few"),
        (
            "sequence,a,y\ns1,1,0\ns1,2,1\ns2,1,0\n",
            {"label_column": "y"},
            "sequence 's1' has rows with different labels",
        ),
        ("a,b\n1,2\n", {"sequence_column": "a", "label_column": "a"}, "both the label and the sequence column"),
    ],
)
def test_load_csv_sequence_raises_bad_file(tmp_path, content, kwargs, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with names_file(path, pattern):
        datasets.load(path, **kwargs)


# -- registry and path detection ----------------------------------------------------------------
def test_registry_lists_and_checks_sequence_loaders(tmp_path):
    assert {"lines", "smiles", "jsb_chorales", "text", "csv"} <= set(datasets.available())
    with pytest.raises(InvalidParameterError, match=r"load\('jsb_chorales'\) got unknown option\(s\) \['colour'\]"):
        datasets.load("jsb_chorales", colour=True)
    with pytest.raises(InvalidParameterError, match="resolution"):
        datasets.load("smiles", resolution="quarter")
    with pytest.raises(InvalidParameterError, match="path="):
        datasets.load("lines")
    write_lines(tmp_path / "a.txt", LINES)
    assert datasets.load(tmp_path / "a.txt").modality == "text"  # .txt stays a character stream
    (tmp_path / "b.smi.gz").write_bytes(gzip.compress("\n".join(LINES).encode()))
    assert datasets.load(tmp_path / "b.smi.gz").modality == "sequence"
    (tmp_path / "c.json").write_text("[]")                 # .json is read as JSB chorales
    with pytest.raises(DataError, match=r"c\.json must be a JSON object with keys 'train'"):
        datasets.load(tmp_path / "c.json")
    (tmp_path / "d.dat").write_text("x")
    with pytest.raises(DataError, match=r"cannot tell the format of .*d\.dat.*load\('jsb_chorales', path=...\)"):
        datasets.load(tmp_path / "d.dat")
    mol = tmp_path / "m.csv"
    mol.write_text("SMILES,SPLIT\nCCO,train\nc1ccccc1,train\nCC(=O)O,train\nCCN,train\nCCC,train\n")
    assert isinstance(datasets.load(mol, val_fraction=0.2, test_fraction=0.2).codec, CharCodec)  # a molecule table
