"""Files replaced whole or not at all: what keeps a data set readable when the process dies mid-write.

Each file is written under a temporary name beside its destination, flushed to the disk, then renamed over
it (``os.replace`` is atomic on POSIX file systems), and the directory entry is flushed too. A crash leaves
either the old file or the new one, plus at worst a ``*.tmp`` file that readers never open.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


def temporary_path(path: Path) -> Path:
    return path.with_name(path.name + TEMPORARY_SUFFIX)


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temporary)`` then rename the result onto ``path``; on any error the temporary file is
    removed, ``path`` keeps its previous content, and the error propagates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        write(temporary)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text))
