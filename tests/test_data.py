"""Tests of genlab.data: the loaders on real shared files and on tiny files made here.

Every bad input must raise DataError whose message names the file; downloads are
tested with file:// URLs only (no network).
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import genlab.data as datasets
from genlab.data import mnist as mnist_module
from genlab.data.codecs import CharCodec, ImageCodec, TabularCodec
from genlab.exceptions import DataError, InvalidParameterError, UnknownNameError

# sha256 from the SOURCE.md beside each shared file.
SHA256 = {
    "mnist/t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "mnist/t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "mnist/train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "mnist/train-subset-first2243-images-idx3-ubyte.gz": (
        "eebe222345d889f5165d618cf909ce903853a9ad2b64cb8da150e09f556bd9da"
    ),
    "mnist/train-subset-first2243-labels-idx1-ubyte.gz": (
        "b5a4e1b90da98540c6d0134438042bbb576c6d58392e2a0dea099ab6e10b9c62"
    ),
    "medmnist/breastmnist.npz": "5e68d79723fb3a63a399b0a66b66451799fc2eb3651f469cec0b679cfd743b68",
    "tinyshakespeare/input.txt": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
}
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names_file(path: Path):
    """pytest.raises(DataError) whose message must contain the file's name."""
    return pytest.raises(DataError, match=re.escape(path.name))


def write_idx(path: Path, arr: np.ndarray, magic: int | None = None) -> Path:
    """Write ``arr`` (uint8) as an IDX file, gzipped if the name ends in .gz."""
    magic = 0x0800 + arr.ndim if magic is None else magic
    raw = struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def tiny_mnist(folder: Path, n_train: int = 30, n_test: int = 10, prefix: str = "train", seed: int = 0) -> Path:
    """A fake MNIST folder: random 28x28 uint8 images and labels 0..9, gzipped."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in ((prefix, n_train), ("t10k", n_test)):
        write_idx(folder / f"{name}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{name}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def write_png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)
    return path


# -- load / available ------------------------------------------------------------------
def test_available_lists_registered_names():
    assert datasets.available() == ["csv", "digits", "grid", "grid25", "image_folder", "jsb_chorales", "lines",
                                    "mnist", "npz", "ring", "ring8", "smiles", "text", "tinyshakespeare"]


def test_load_raises_unknown_name():
    with pytest.raises(UnknownNameError) as err:
        datasets.load("mnst")
    msg = str(err.value)
    assert "mnst" in msg and "digits" in msg and "image_folder" in msg and "path" in msg


@pytest.mark.parametrize(
    "kwargs",
    [{"colour": True}, {"seed": -1}, {"seed": 1.5}, {"val_fraction": 1.0}, {"val_fraction": 0.6, "test_fraction": 0.5}],
)
def test_load_raises_bad_option(kwargs):
    with pytest.raises(InvalidParameterError, match=next(iter(kwargs)) if "colour" in kwargs else "fraction|seed"):
        datasets.load("digits", **kwargs)


def test_load_raises_missing_required_option():
    with pytest.raises(InvalidParameterError, match="path="):
        datasets.load("csv")


# -- digits ----------------------------------------------------------------------------
def test_load_digits_shapes_levels_labels():
    data = datasets.load("digits")
    assert (len(data.train), len(data.val), len(data.test)) == (1438, 180, 179)
    assert data.codec == ImageCodec((1, 8, 8), levels=17) and data.modality == "image"
    assert data.classes == [str(d) for d in range(10)]
    for split in (data.train, data.val, data.test):
        assert split.x.dtype == torch.float32 and split.x.shape[1:] == (1, 8, 8)
        assert split.y.dtype == torch.int64 and set(split.y.tolist()) == set(range(10))
        levels = split.x * 16
        assert torch.equal(levels, levels.round()) and levels.min() == 0 and levels.max() == 16


def test_load_digits_matches_sklearn_rows():
    from sklearn.datasets import load_digits

    sk = load_digits()
    data = datasets.load("digits", seed=3)
    idx = data.info["indices"]["val"]
    assert torch.equal(data.val.x[:, 0], torch.from_numpy(sk.images[idx.numpy()] / 16).float())
    assert torch.equal(data.val.y, torch.from_numpy(sk.target[idx.numpy()]))


def test_load_digits_split_is_seeded_disjoint_and_covering():
    a, b, c = (datasets.load("digits", seed=s).info["indices"] for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["train"], c["train"])
    every = torch.cat([a["train"], a["val"], a["test"]])
    assert torch.equal(every.sort().values, torch.arange(1797))


# -- MNIST on the shared files ---------------------------------------------------------
@pytest.mark.parametrize("rel", sorted(SHA256))
def test_shared_files_match_source_sha256(shared_data, rel):
    assert sha256(shared_data / rel) == SHA256[rel]


def test_load_mnist_shared_folder(shared_data):
    data = datasets.load("mnist", root=shared_data / "mnist")
    assert len(data.train) + len(data.val) == 2243 and len(data.val) == 224
    assert len(data.test) == 10_000
    assert data.test.x.shape[1:] == (1, 28, 28) and data.codec == ImageCodec((1, 28, 28), levels=256)
    assert torch.bincount(data.test.y, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert data.test.x.mean().item() == pytest.approx(33.79 / 255, abs=1e-4)
    # the train images were paired with the 2243 subset labels, equal to the first full labels
    full = datasets.read_idx(shared_data / "mnist" / "train-labels-idx1-ubyte.gz")
    assert full.shape == (60_000,) and full[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    idx = data.info["indices"]["train"]
    assert torch.equal(data.train.y, torch.from_numpy(full[idx.numpy()]).long())


def test_load_mnist_val_split_is_seeded(shared_data):
    a, b = (datasets.load(shared_data / "mnist", seed=s, val_fraction=0.2) for s in (0, 1))
    assert len(a.val) == len(b.val) == round(0.2 * 2243)
    assert not torch.equal(a.info["indices"]["val"], b.info["indices"]["val"])
    assert torch.equal(a.test.x, b.test.x)


def test_load_mnist_raw_copies(shared_data, tmp_path):
    for src in (shared_data / "mnist").glob("*.gz"):
        (tmp_path / src.name.removesuffix(".gz")).write_bytes(gzip.decompress(src.read_bytes()))
    raw_sha = "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"  # SOURCE.md
    assert sha256(tmp_path / "t10k-images-idx3-ubyte") == raw_sha
    raw = datasets.load(tmp_path)  # a folder of idx3-ubyte files -> mnist
    gz = datasets.load("mnist", root=shared_data / "mnist")
    assert raw.name == "mnist"
    assert torch.equal(raw.test.x, gz.test.x) and torch.equal(raw.train.y, gz.train.y)


def test_load_mnist_prefers_standard_name(tmp_path):
    tiny_mnist(tmp_path, n_train=30)
    tiny_mnist(tmp_path, n_train=12, prefix="train-subset-first12", seed=1)
    data = datasets.load("mnist", root=tmp_path, val_fraction=0.0)
    assert len(data.train) == 30 and len(data.val) == 0


def test_load_mnist_raises_ambiguous_images(tmp_path):
    tiny_mnist(tmp_path, prefix="train-a")
    tiny_mnist(tmp_path, prefix="train-b")
    with pytest.raises(DataError, match="train-a-images.*train-b-images"):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_downloads_into_cache(tmp_path, monkeypatch):
    mirror = tiny_mnist(tmp_path / "mirror")
    files = {p.name: {"sha256": sha256(p)} for p in mirror.iterdir()}
    monkeypatch.setattr(mnist_module, "MNIST_FILES", files)
    monkeypatch.setattr(mnist_module, "MNIST_MIRRORS", ((tmp_path / "down").as_uri() + "/", mirror.as_uri() + "/"))
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "cache"))
    data = datasets.load("mnist")
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(files)
    assert (len(data.train), len(data.val), len(data.test)) == (27, 3, 10)
    shutil.rmtree(mirror)  # cached files are reused without a mirror
    assert torch.equal(datasets.load("mnist", download=False).test.x, data.test.x)


def test_load_mnist_raises_not_cached_without_download(tmp_path, monkeypatch):
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="download=True"):
        datasets.load("mnist", download=False)


# -- MNIST / IDX bad files -------------------------------------------------------------
def test_load_mnist_raises_bad_gzip(tmp_path):
    bad = tiny_mnist(tmp_path) / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"this is not gzip")
    with names_file(bad):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_raises_truncated_gzip(tmp_path):
    bad = tiny_mnist(tmp_path) / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-20])
    with names_file(bad):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_raises_wrong_magic(tmp_path):
    tiny_mnist(tmp_path)
    swapped = write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros(10))  # a labels file
    with pytest.raises(DataError, match=re.escape(swapped.name) + ".*0x00000801.*0x00000803"):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_raises_truncated_payload(tmp_path):
    tiny_mnist(tmp_path)
    raw = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=re.escape(bad.name) + ".*truncated"):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_raises_label_count_mismatch(tmp_path):
    tiny_mnist(tmp_path)
    labels = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(9))
    with pytest.raises(DataError, match="10 images.*" + re.escape(labels.name) + ".*9 labels"):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_raises_missing_labels_file(tmp_path):
    tiny_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.load("mnist", root=tmp_path)


def test_load_mnist_raises_missing_root(tmp_path):
    with names_file(tmp_path / "nowhere"):
        datasets.load("mnist", root=tmp_path / "nowhere")


def test_read_idx_other_dtypes(tmp_path):
    arr = np.arange(12, dtype=">i4").reshape(3, 4)
    path = tmp_path / "a.idx"
    path.write_bytes(struct.pack(">I", 0x0C02) + struct.pack(">2I", 3, 4) + arr.tobytes())
    out = datasets.read_idx(path)
    assert out.dtype == np.int32 and out.tolist() == arr.tolist()


# -- npz -------------------------------------------------------------------------------
def test_load_npz_breastmnist(shared_data):
    data = datasets.load(shared_data / "medmnist" / "breastmnist.npz")
    assert (len(data.train), len(data.val), len(data.test)) == (546, 78, 156)
    assert data.name == "breastmnist" and data.codec == ImageCodec((1, 28, 28), levels=256)
    assert data.classes == ["0", "1"]
    assert torch.bincount(data.train.y).tolist() == [147, 399]
    assert torch.bincount(data.test.y).tolist() == [42, 114]
    raw = np.load(shared_data / "medmnist" / "breastmnist.npz")["val_images"]
    assert torch.equal(data.val.x[:, 0] * 255, torch.from_numpy(raw).float())


def test_load_npz_single_array_channels_last(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (20, 5, 6, 3), dtype=np.uint8)
    path = tmp_path / "pics.npz"
    np.savez(path, x=x, y=np.arange(20) % 4)
    data = datasets.load(path, seed=2)
    assert data.codec == ImageCodec((3, 5, 6), levels=256) and data.classes == ["0", "1", "2", "3"]
    assert (len(data.train), len(data.val), len(data.test)) == (16, 2, 2)
    idx = data.info["indices"]["train"]
    assert torch.equal(data.train.x * 255, torch.from_numpy(x[idx.numpy()].transpose(0, 3, 1, 2)).float())
    assert torch.equal(data.train.y, idx % 4)
    assert len(datasets.load(path, val_fraction=0.0).val) == 0  # an empty split is allowed


def test_load_npz_float_images_are_continuous(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, images=np.random.default_rng(0).random((10, 4, 4)).astype(np.float32))
    data = datasets.load("npz", path=path, val_fraction=0.0)
    assert len(data.val) == 0 and data.codec.levels is None and data.train.y is None and data.classes is None


def bad_npz(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"bad-{kind}.npz"
    x = np.zeros((10, 4, 4), np.uint8)
    if kind == "garbage":
        path.write_bytes(b"not a zip file at all")
    elif kind == "truncated":
        np.savez(path, x=x)
        path.write_bytes(path.read_bytes()[:100])
    elif kind == "nan":
        np.savez(path, x=np.full((10, 4, 4), np.nan, np.float32))
    elif kind == "out_of_range":
        np.savez(path, x=np.full((10, 4, 4), 2.0))
    elif kind == "label_count":
        np.savez(path, x=x, y=np.zeros(9, np.int64))
    elif kind == "no_keys":
        np.savez(path, pixels=x)
    elif kind == "empty":
        np.savez(path, x=np.zeros((0, 4, 4), np.uint8))
    elif kind == "split_shapes":
        np.savez(path, train_images=x, val_images=x, test_images=np.zeros((3, 5, 5), np.uint8))
    elif kind == "object":
        np.savez(path, x=np.array([{"a": 1}], dtype=object))
    return path


@pytest.mark.parametrize(
    "kind", ["garbage", "truncated", "nan", "out_of_range", "label_count", "no_keys", "empty", "split_shapes", "object"]
)
def test_load_npz_raises_bad_file(tmp_path, kind):
    path = bad_npz(tmp_path, kind)
    with names_file(path):
        datasets.load(path)


def test_load_npz_raises_missing_file(tmp_path):
    with names_file(tmp_path / "gone.npz"):
        datasets.load("npz", path=tmp_path / "gone.npz")


# -- image folders ---------------------------------------------------------------------
def test_load_image_folder_grey_classes(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for cls, n in (("cat", 3), ("dog", 5)):
        for i in range(n):
            arr = rng.integers(0, 256, (5, 6))
            written[str(write_png(tmp_path / cls / f"{i}.png", arr))] = (arr, cls)
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    data = datasets.load(tmp_path, val_fraction=0.25, test_fraction=0.0)
    assert data.classes == ["cat", "dog"] and data.codec == ImageCodec((1, 5, 6), levels=256)
    assert (len(data.train), len(data.val), len(data.test)) == (6, 2, 0)
    files, idx = data.info["files"], data.info["indices"]["train"]
    for x, y, i in zip(data.train.x, data.train.y, idx.tolist()):
        arr, cls = written[files[i]]
        assert torch.equal(x[0] * 255, torch.from_numpy(arr).float()) and data.classes[y] == cls


def test_load_image_folder_rgb_and_resize(tmp_path):
    for i, size in enumerate([(4, 4), (8, 6), (5, 7)]):
        write_png(tmp_path / "a" / f"{i}.png", np.full((*size, 3), 40 * i))
    data = datasets.load("image_folder", path=tmp_path, size=(3, 2), val_fraction=0.0, test_fraction=0.0)
    assert data.codec == ImageCodec((3, 3, 2), levels=256) and len(data.train) == 3
    grey = datasets.load("image_folder", path=tmp_path, size=(3, 2), mode="L", val_fraction=0.0, test_fraction=0.0)
    assert grey.codec.shape == (1, 3, 2)


def test_load_image_folder_raises_different_sizes(tmp_path):
    a = write_png(tmp_path / "a" / "small.png", np.zeros((4, 4)))
    b = write_png(tmp_path / "a" / "wide.png", np.zeros((4, 9)))
    with pytest.raises(DataError, match=f"{re.escape(a.name)} is 4x4.*{re.escape(b.name)} is 9x4.*size="):
        datasets.load(tmp_path)


def test_load_image_folder_raises_corrupt_image(tmp_path):
    write_png(tmp_path / "a" / "ok.png", np.zeros((4, 4)))
    bad = tmp_path / "a" / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    with names_file(bad):
        datasets.load(tmp_path)


def test_load_image_folder_raises_truncated_image(tmp_path):
    good = write_png(tmp_path / "a" / "ok.png", np.random.default_rng(0).integers(0, 256, (32, 32)))
    bad = tmp_path / "a" / "cut.png"
    bad.write_bytes(good.read_bytes()[:200])
    with names_file(bad):
        datasets.load(tmp_path)


def test_load_image_folder_raises_no_images(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "readme.txt").write_text("no images here")
    with names_file(tmp_path / "imgs"):
        datasets.load(tmp_path / "imgs")


def test_load_image_folder_raises_empty_class_folder(tmp_path):
    write_png(tmp_path / "a" / "ok.png", np.zeros((4, 4)))
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "b"))):
        datasets.load(tmp_path)


# -- csv -------------------------------------------------------------------------------
def write_table(path: Path, n: int = 50) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.normal(5, 2, n), rng.uniform(-1, 1, n), np.arange(n) % 3])
    lines = ["height,weight,kind"] + [f"{float(a)!r},{float(b)!r},{int(c)}" for a, b, c in table]
    path.write_text("\n".join(lines) + "\n")
    return path, table


def test_load_csv_with_label_column(tmp_path):
    path, table = write_table(tmp_path / "t.csv")
    data = datasets.load(path, label_column="kind")
    assert isinstance(data.codec, TabularCodec) and data.codec.columns == ["height", "weight"]
    assert data.classes == ["0", "1", "2"] and data.train.y.dtype == torch.int64
    assert data.train.x.dtype == torch.float32 and data.train.x.shape == (40, 2)
    # standardised with train statistics only
    assert torch.allclose(data.train.x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(data.train.x.std(0, unbiased=False), torch.ones(2), atol=1e-5)
    idx = data.info["indices"]["test"].numpy()
    assert np.allclose(data.codec.decode(data.test.x).numpy(), table[idx, :2], atol=1e-5)
    assert data.test.y.tolist() == table[idx, 2].astype(int).tolist()


def test_load_csv_without_label_column(tmp_path):
    path, table = write_table(tmp_path / "t.csv")
    data = datasets.load("csv", path=path, seed=4)
    assert data.codec.columns == ["height", "weight", "kind"] and data.train.y is None and data.classes is None
    assert data.modality == "tabular"
    every = torch.cat([data.codec.decode(s.x) for s in (data.train, data.val, data.test)])
    order = torch.cat([data.info["indices"][k] for k in ("train", "val", "test")])
    assert np.allclose(every.numpy(), table[order.numpy()], atol=1e-5)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("a,b\n1,2\n3,oops\n", "line 3, column 'b'.*'oops' is not a number"),
        ("a,b\n1,2\nnan,4\n", "line 3, column 'a'.*NaN or infinite"),
        ("a,b\n1,2\n3,-inf\n", "line 3, column 'b'.*NaN or infinite"),
        ("a,b\n1,2\n3\n", "line 3: 1 values but the header has 2"),
        ("", "empty"),
        ("a,b\n", "no data rows"),
        ("a,b,label\n1,2,0\n3,4,1.5\n", "line 3, label column 'label'.*'1.5'"),
        ("a,b\n1,2\n", "no column 'label'"),
        ("a,b\n1,1e300\n", "line 2, column 'b'.*too large"),
    ],
)
def test_load_csv_raises_bad_file(tmp_path, content, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=re.escape(path.name) + ".*" + pattern):
        datasets.load(path, label_column="label" if "label" in pattern else None)


# -- text ------------------------------------------------------------------------------
def test_load_text_tinyshakespeare(shared_data):
    data = datasets.load(shared_data / "tinyshakespeare" / "input.txt", val_fraction=0.1, test_fraction=0.0)
    assert isinstance(data.codec, CharCodec) and data.codec.vocab_size == 65
    assert (len(data.train), len(data.val), len(data.test)) == (1_003_854, 111_540, 0)  # nanoGPT's split
    assert data.train.x.dtype == torch.int64 and data.train.y is None and data.modality == "text"
    assert data.codec.decode(data.train.x[:13]) == "First Citizen"


def test_load_text_contiguous_split(tmp_path):
    text = "".join(f"line {i}: héllo\n" for i in range(100))
    path = tmp_path / "small.txt"
    path.write_text(text, encoding="utf-8")
    data = datasets.load("text", path=path)
    n = len(text)
    assert (len(data.train), len(data.val)) == (int(0.8 * n), int(0.1 * n))
    parts = torch.cat([data.train.x, data.val.x, data.test.x])
    assert data.codec.decode(parts) == text


@pytest.mark.parametrize(("content", "pattern"), [(b"", "empty"), (b"ok \xff\xfe bad", "not UTF-8")])
def test_load_text_raises_bad_file(tmp_path, content, pattern):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(path.name) + ".*" + pattern):
        datasets.load(path)


# -- path detection --------------------------------------------------------------------
def test_load_detects_format_from_path(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((10, 3, 3), np.uint8))
    write_table(tmp_path / "b.csv")
    (tmp_path / "c.txt").write_text("some text " * 20)
    tiny_mnist(tmp_path / "mnist")
    write_png(tmp_path / "pics" / "k" / "0.png", np.zeros((3, 3)))
    write_png(tmp_path / "pics" / "k" / "1.png", np.zeros((3, 3)))
    (tmp_path / "d.txt.gz").write_bytes(gzip.compress(b"zipped text " * 20))
    expected = {
        "a.npz": "image",
        "b.csv": "tabular",
        "c.txt": "text",
        "d.txt.gz": "text",
        "mnist": "image",
        "pics": "image",
    }
    for name, modality in expected.items():
        kw = {"val_fraction": 0.0, "test_fraction": 0.0} if name == "pics" else {}
        data = datasets.load(tmp_path / name, **kw)
        assert data.modality == modality, name
    assert datasets.load(str(tmp_path / "mnist")).name == "mnist"
    assert datasets.load(tmp_path / "pics", val_fraction=0.0, test_fraction=0.0).classes == ["k"]


def test_load_raises_missing_path(tmp_path):
    with names_file(tmp_path / "missing.csv"):
        datasets.load(tmp_path / "missing.csv")
    with names_file(tmp_path / "missing.csv"):
        datasets.load(str(tmp_path / "missing.csv"))


def test_load_raises_unknown_suffix(tmp_path):
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"PK")
    with names_file(path):
        datasets.load(path)


# -- download --------------------------------------------------------------------------
@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "src" / "payload.bin"
    path.parent.mkdir()
    path.write_bytes(b"genlab payload " * 1000)
    return path


def test_download_verifies_sha256(source, tmp_path):
    dest = tmp_path / "out" / "payload.bin"
    assert datasets.download(source.as_uri(), dest, sha256(source)) == dest
    assert dest.read_bytes() == source.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["payload.bin"]  # no temp file left


def test_download_accepts_md5(source, tmp_path):
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    dest = datasets.download([source.as_uri()], tmp_path / "out" / "p.bin", md5=md5)
    assert dest.read_bytes() == source.read_bytes()


def test_download_raises_checksum_mismatch(source, tmp_path):
    dest = tmp_path / "out" / "payload.bin"
    wrong = "0" * 64
    with pytest.raises(DataError, match=f"payload.bin.*expected {wrong}, got {sha256(source)}"):
        datasets.download(source.as_uri(), dest, wrong)
    assert list(dest.parent.iterdir()) == []  # the temporary file was deleted


def test_download_reuses_cached_file(source, tmp_path):
    dest, digest = tmp_path / "out" / "payload.bin", sha256(source)
    datasets.download(source.as_uri(), dest, digest)
    mtime = dest.stat().st_mtime_ns
    source.unlink()  # the mirror is gone: the cached, verified file is used
    assert datasets.download(source.as_uri(), dest, digest) == dest
    assert dest.stat().st_mtime_ns == mtime


def test_download_replaces_corrupt_cached_file(source, tmp_path):
    dest = tmp_path / "out" / "payload.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"stale")
    datasets.download(source.as_uri(), dest, sha256(source))
    assert dest.read_bytes() == source.read_bytes()


def test_download_tries_mirrors_in_order(source, tmp_path):
    dest = tmp_path / "out" / "payload.bin"
    urls = [(tmp_path / "nope" / "payload.bin").as_uri(), source.as_uri()]
    assert datasets.download(urls, dest, sha256(source)).read_bytes() == source.read_bytes()


def test_download_raises_when_all_mirrors_fail(tmp_path):
    dest = tmp_path / "out" / "payload.bin"
    urls = [(tmp_path / m / "payload.bin").as_uri() for m in ("m1", "m2")]
    with pytest.raises(DataError, match=r"payload.bin.*m1.*m2.*by hand into .*out.*root="):
        datasets.download(urls, dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_infer_codec_detects_levels_of_raw_tensors():
    from genlab.data import infer_codec

    assert infer_codec(torch.randint(0, 256, (4, 1, 5, 5), dtype=torch.uint8)).levels == 256
    assert infer_codec(torch.randint(0, 2, (4, 1, 5, 5)).float()).levels == 2
    assert infer_codec(torch.randint(0, 256, (4, 5, 5)).float() / 255).levels == 256
    assert infer_codec(torch.rand(4, 3, 5, 5)).levels is None
    assert infer_codec(torch.randn(10, 3)).kind == "tabular"


def test_load_csv_categorical_keeps_state_names_and_missing(tmp_path):
    p = tmp_path / "cat.csv"
    p.write_text("flow,flag,level\n" + "None,TRUE,low\nLt,FALSE,\nNone,FALSE,high\n" * 10)
    data = datasets.load(p, seed=0)
    codec = data.codec
    assert isinstance(codec, datasets.CategoricalCodec) and codec.columns == ["flow", "flag", "level"]
    assert codec.states == [["Lt", "None"], ["FALSE", "TRUE"], ["high", "low"]]
    x = torch.cat([data.train.x, data.val.x, data.test.x])
    assert x.dtype == torch.int64 and int((x[:, 2] == -1).sum()) == 10          # empty cells are missing
    df = codec.decode(data.train.x[:3])
    assert list(df.columns) == codec.columns and set(df["flow"]) <= {"None", "Lt"}
    assert torch.equal(codec.encode(df), data.train.x[:3])
    coded = tmp_path / "codes.csv"
    coded.write_text("a,b\n" + "0,1\n1,2\n2,0\n" * 5)
    assert isinstance(datasets.load(coded).codec, datasets.TabularCodec)         # numbers stay numbers
    as_cat = datasets.load("csv", path=coded, categorical=True)
    assert as_cat.codec.states == [["0", "1", "2"], ["0", "1", "2"]]
    with pytest.raises(DataError, match="unknown category 'maybe'"):
        codec.encode([["None", "maybe", "low"]])


def test_categorical_fit_encode_equals_fit_then_encode():
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.choice(["x", "None", "", "TRUE"], 200), "b": rng.choice(["1", "02", "z"], 200)},
                      dtype=object)
    df.loc[3, "b"] = None
    df.loc[5, "a"] = float("nan")
    codec, codes = datasets.CategoricalCodec.fit_encode(df)
    ref = datasets.CategoricalCodec.fit(df)
    assert codec == ref and torch.equal(codes, ref.encode(df))
    assert codes[3, 1] == -1 and codes[5, 0] == -1 and codec.states[0] == ["None", "TRUE", "x"]


def test_tinyshakespeare_from_a_folder_and_by_download(shared_data, tmp_path, monkeypatch):
    folder = shared_data / "tinyshakespeare"
    data = datasets.load("tinyshakespeare", root=folder)
    assert data.name == "tinyshakespeare" and data.codec.vocab_size == 65
    assert len(data.train.x) + len(data.val.x) + len(data.test.x) == 1_115_394
    monkeypatch.setenv("GENLAB_DATA", str(tmp_path / "cache"))            # the download path, from a file:// mirror
    got = datasets.load("tinyshakespeare", urls=((folder / "input.txt").as_uri(),))
    assert torch.equal(got.test.x, data.test.x)
    assert (tmp_path / "cache" / "tinyshakespeare" / "input.txt").exists()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "input.txt").write_text("not shakespeare")
    with pytest.raises(DataError, match="sha256 differs"):
        datasets.load("tinyshakespeare", root=bad)
