"""Writing files so that a reader never sees half of one (simulated field files, cached KPI results)
and so that what a commit refers to is on disk first (the warehouse's Parquet parts)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

FILE_MODE = 0o644  # readable by all, like the files a collector writes (a server may run as another user)


def write_atomic(path: Path, data: bytes | np.ndarray, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file renamed at the end, so that a
    killed run never leaves half a file for a reader (``observatory ingest``, the dashboard)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fsync(path: Path) -> None:
    """A file's data, or a folder's entries, to disk (before a commit that refers to them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
