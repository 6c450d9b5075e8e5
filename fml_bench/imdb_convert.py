"""The raw Large Movie Review Dataset (aclImdb) converted to keras' IMDB format.

Keras' `imdb.npz` holds each review as word ranks (1 = most frequent word of the training
reviews); `keras.datasets.imdb.load_data` then shuffles with seed 113 and applies
`start_char=1`, `oov_char=2`, `index_from=3` and `num_words`. This module builds the same
ranks from the raw text (lower-cased; a token is a run of letters and digits with inner
apostrophes, so `<br />` becomes "br" as in keras' data; ties in frequency broken
alphabetically), caches them, and applies keras' post-processing line for line.

Closeness to keras' own file: the top-12 words come out in keras' order (the, and, a, of,
to, is, br, in, it, i, this, that); keras' tokenizer is not published, so punctuation
handling may differ in rare words. Measured on the full data: mean training-review length
238.71 tokens (keras documents 238.71 for its own file); 81,098 distinct training words
(keras: 88,584 words over train and test).
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np

from fml_bench import atomic, paths
from fml_bench.errors import DatasetCorruptError

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
REVIEWS_PER_CLASS = 12_500
TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
KERAS_SHUFFLE_SEED = 113
KERAS_IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"  # keras' imdb.load_data
Split = tuple[np.ndarray, np.ndarray]


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of one review."""
    return TOKEN.findall(text.lower())


def find_raw_source(root: Path) -> Path | None:
    """An `aclImdb/` folder or an aclImdb tarball inside `root`, if there is one."""
    if (root / "aclImdb" / "train").is_dir():
        return root / "aclImdb"
    for name in ("aclImdb_v1_labeled.tar.gz", "aclImdb_v1.tar.gz"):
        if (root / name).is_file():
            return root / name
    return None


def _read_reviews(source: Path) -> dict[tuple[str, str], list[tuple[int, str]]]:
    """{(split, label): [(review id, text), ...]} from a folder or a tarball."""
    reviews: dict[tuple[str, str], list[tuple[int, str]]] = {
        (s, c): [] for s in ("train", "test") for c in ("neg", "pos")
    }
    pattern = re.compile(r"aclImdb/(train|test)/(neg|pos)/(\d+)_\d+\.txt$")

    def add(name: str, payload: bytes) -> None:
        match = pattern.search(name)
        if match:
            split, label, rid = match.groups()
            reviews[(split, label)].append((int(rid), payload.decode("utf-8", "replace")))

    try:
        if source.is_dir():
            for file in source.glob("*/*/*.txt"):
                add(file.as_posix(), file.read_bytes())
        else:
            with tarfile.open(source, "r:gz") as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".txt"):
                        add(member.name, tar.extractfile(member).read())  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetCorruptError(
            f"{source} cannot be read ({exc}); delete it and fetch aclImdb_v1.tar.gz again."
        ) from exc
    for key, items in reviews.items():
        if len(items) != REVIEWS_PER_CLASS:
            raise DatasetCorruptError(
                f"{source}: {key[0]}/{key[1]} holds {len(items)} reviews, expected "
                f"{REVIEWS_PER_CLASS}; the copy is incomplete. Fetch aclImdb_v1.tar.gz again."
            )
        items.sort()
    return reviews


def _source_key(source: Path) -> str:
    digest = hashlib.sha256(f"v{CONVERTER_VERSION}".encode())
    if source.is_dir():  # the content, not names and sizes: a same-size edit of one review is a new source
        for file in sorted(source.glob("*/*/*.txt")):
            digest.update(f"{file.relative_to(source)}:{file.stat().st_size}:".encode())
            digest.update(file.read_bytes())
    else:
        with open(source, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def convert(source: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Word-rank sequences (as flat int32 + offsets) and the word index, from raw reviews."""
    reviews = _read_reviews(source)
    tokens = {key: [tokenize(text) for _, text in items] for key, items in reviews.items()}
    counts: Counter[str] = Counter()
    for label in ("neg", "pos"):
        for words in tokens[("train", label)]:
            counts.update(words)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    word_index = {word: rank for rank, (word, _) in enumerate(ranked, start=1)}
    arrays: dict[str, np.ndarray] = {}
    for split in ("train", "test"):
        seqs = [
            [word_index[w] for w in words if w in word_index]
            for label in ("neg", "pos")
            for words in tokens[(split, label)]
        ]
        arrays[f"{split}_flat"] = np.concatenate([np.asarray(s, np.int32) for s in seqs])
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
        arrays[f"{split}_labels"] = np.repeat(np.array([0, 1], np.int64), REVIEWS_PER_CLASS)
    return arrays, word_index


def _cached_conversion(source: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    key = _source_key(source)
    npz_path = paths.cache_dir() / f"imdb-ranks-{key}.npz"
    index_path = paths.cache_dir() / f"imdb-word-index-{key}.json"
    if npz_path.is_file() and index_path.is_file():
        try:
            with np.load(npz_path, allow_pickle=False) as f:
                arrays = {name: f[name] for name in f.files}
            return arrays, json.loads(index_path.read_text())
        except (OSError, ValueError, json.JSONDecodeError) as exc:
            log.warning("cached IMDB conversion %s is unreadable (%s); converting again", npz_path, exc)
    log.info("converting %s to keras' IMDB format (once; cached in %s)", source, npz_path)
    arrays, word_index = convert(source)
    atomic.write_with(npz_path, lambda tmp: np.savez(tmp, **arrays), suffix=".npz")  # type: ignore[arg-type]
    atomic.write_text(index_path, json.dumps(word_index))
    return arrays, word_index


def get_word_index(source: Path) -> dict[str, int]:
    """The converted data's word index, as `keras.datasets.imdb.get_word_index()` gives it."""
    return _cached_conversion(source)[1]


def load_from_raw(source: Path, num_words: int | None = 10000) -> tuple[Split, Split]:
    """IMDB from raw reviews, post-processed exactly as `keras.datasets.imdb.load_data`."""
    arrays, _ = _cached_conversion(source)
    splits = [(arrays[f"{split}_flat"], arrays[f"{split}_offsets"], arrays[f"{split}_labels"])
              for split in ("train", "test")]
    return _postprocess_flat(splits[0], splits[1], num_words=num_words)


def keras_postprocess(
    train: tuple[list[list[int]], np.ndarray],
    test: tuple[list[list[int]], np.ndarray],
    num_words: int | None = 10000,
    start_char: int = 1,
    oov_char: int = 2,
    index_from: int = 3,
) -> tuple[Split, Split]:
    """Keras 3's `imdb.load_data` steps after reading the file: shuffle (seed 113), shift."""

    def flat(split: tuple[list[list[int]], np.ndarray]) -> FlatSplit:
        lengths = np.fromiter((len(x) for x in split[0]), dtype=np.int64, count=len(split[0]))
        words = np.fromiter((w for x in split[0] for w in x), dtype=np.int64, count=int(lengths.sum()))
        return words, np.concatenate([[0], np.cumsum(lengths)]), np.asarray(split[1])

    return _postprocess_flat(flat(train), flat(test), num_words, start_char, oov_char, index_from)


#: A split as the conversion caches it: every review's word ranks end to end, where each review
#: starts (and the end), the labels.
FlatSplit = tuple[np.ndarray, np.ndarray, np.ndarray]


def _postprocess_flat(train: FlatSplit, test: FlatSplit, num_words: int | None = 10000, start_char: int = 1,
                      oov_char: int = 2, index_from: int = 3) -> tuple[Split, Split]:
    """`keras_postprocess` on flat arrays, in numpy: keras' loop over every word of 50,000
    reviews in Python took 5 s of every process that loads IMDB; the reviews come out the
    same, lists of ints in an object array (tests/test_data.py compares the two)."""
    rng = np.random.RandomState(KERAS_SHUFFLE_SEED)
    shuffled = []
    for words, offsets, labels in (train, test):  # keras shuffles train, then test, with one generator
        order = np.arange(len(offsets) - 1)
        rng.shuffle(order)
        shuffled.append((words, offsets, order, np.asarray(labels)[order]))
    pieces, lengths = [], []
    for words, offsets, order, _ in shuffled:
        starts, sizes = offsets[order], np.diff(offsets)[order]
        placed = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # where each review starts in the new order
        # each review's words in the new order, each after a start_char, shifted by index_from
        gather = np.repeat(starts - placed, sizes) + np.arange(sizes.sum())
        shifted = np.insert(words[gather] + index_from, placed, start_char)
        pieces.append(shifted)
        lengths.append(sizes + 1)
    every = np.concatenate(pieces)
    if not num_words:
        num_words = int(every.max())
    every = np.where(every < num_words, every, oov_char).tolist()
    ends = np.cumsum(np.concatenate(lengths)).tolist()
    xs = [every[start:end] for start, end in zip([0, *ends[:-1]], ends)]
    idx = len(lengths[0])
    return (
        (_object_array(xs[:idx]), shuffled[0][3]),
        (_object_array(xs[idx:]), shuffled[1][3]),
    )


def _object_array(lists: list[list[int]]) -> np.ndarray:
    """A 1-D object array of lists (np.array(lists, dtype=object) makes a 2-D one when the
    lists happen to have one length)."""
    out = np.empty(len(lists), dtype=object)
    for i, review in enumerate(lists):
        out[i] = review
    return out


def load_keras_npz(path: Path, num_words: int | None = 10000) -> tuple[Split, Split]:
    """Keras' own `imdb.npz` at `path`, post-processed as `keras.datasets.imdb.load_data` does.

    Keras 3.15 no longer accepts a path as the file name of its loader, so the file is read here
    and given keras' steps (`keras_postprocess`). Its reviews are object arrays, which numpy can
    only read by unpickling, and unpickling runs whatever code a file carries: only a file whose
    sha256 is keras' published one is unpickled. Any other file is read without pickle (a file of
    plain arrays), or refused."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    trusted = digest == KERAS_IMDB_SHA256
    if not trusted:
        log.warning("%s is not keras' published imdb.npz (sha256 %s...); reading it without pickle", path,
                    digest[:12])
    try:
        with np.load(path, allow_pickle=trusted) as f:
            train = (list(f["x_train"]), np.asarray(f["y_train"]))
            test = (list(f["x_test"]), np.asarray(f["y_test"]))
    except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as exc:
        why = "" if trusted else ", and it is not keras' published file, so it is not unpickled (that runs code)"
        raise DatasetCorruptError(
            f"{path} is not a readable keras imdb.npz ({exc}{why}); replace it with keras' file "
            f"(sha256 {KERAS_IMDB_SHA256}) or remove it to use the raw reviews"
        ) from exc
    return keras_postprocess(train, test, num_words=num_words)


