"""Exception types of fml-bench; each message says what happened and what to do next."""


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
