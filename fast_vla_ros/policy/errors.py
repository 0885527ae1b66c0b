"""The two ways a policy refuses to work, each a ``ValueError`` a caller can catch and report in one line."""


class ObservationError(ValueError):
    """The observation cannot be fed to the model (missing camera, wrong image shape, NaN state, empty or
    oversized instruction). The caller drops this observation and keeps running."""


class CheckpointError(ValueError):
    """A checkpoint directory is incomplete or disagrees with itself (missing file, wrong tensor shapes)."""
