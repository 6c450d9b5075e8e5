"""Exception types of fml-bench; each message says what happened and what to do next."""

import errno


class FmlBenchError(Exception):
    """Base class of every error fml-bench raises on purpose."""


class DatasetUnavailableError(FmlBenchError):
    """A dataset file is neither in the data directory, the keras cache, nor downloadable."""


class DatasetCorruptError(FmlBenchError):
    """A dataset file exists but its content fails its checksum or structure check."""


class UnknownNameError(FmlBenchError, KeyError):
    """An experiment, claim, tier or engine name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class CorruptRecordError(FmlBenchError):
    """A stored run record cannot be read back intact."""


class ShapeError(FmlBenchError, ValueError):
    """Input arrays do not have the shape a recipe or engine expects."""


class MisplacedRecordError(CorruptRecordError):
    """A record file is intact but is not the record its place in the store promises (another
    spec, seed, engine or fingerprint): copied or renamed by hand."""


class EngineBackendError(FmlBenchError):
    """An engine asked to train under a Keras backend it does not support."""


class StoreWriteError(FmlBenchError):
    """The run store cannot be written (read-only, full, permissions)."""


class MissingRunsError(FmlBenchError):
    """An aggregate step (`check --no-train`) found runs that no shard has stored yet."""


class ReportWriteError(FmlBenchError):
    """The reports folder cannot be written."""


_ADVICE = {
    errno.ENOSPC: "the disk is full: free space, or choose a folder on another disk",
    errno.EDQUOT: "the disk quota is used up: free space, or choose a folder on another disk",
    errno.EROFS: "the file system is read-only: choose a writable folder",
    errno.EACCES: "permission denied: give write permission, or choose another folder",
    errno.EPERM: "not permitted: give write permission, or choose another folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EISDIR: "the path is a folder where a file was expected: choose another path",
    errno.ENOENT: "a folder on the path does not exist",
}


def os_error_line(exc: OSError, what: str = "") -> str:
    """One line for an OS error: what failed, where, and what to do (no traceback)."""
    where = f" {exc.filename}" if exc.filename else ""
    advice = _ADVICE.get(exc.errno or -1, exc.strerror or str(exc))
    return f"{what + ': ' if what else ''}{exc.strerror or type(exc).__name__}{where} ({advice})"
