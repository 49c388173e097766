"""Ingest files and folders into the warehouse: detect, read, store all-or-nothing, report."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from observatory.errors import DataFormatError, ParameterError
from observatory.territory.registry import sha256_of
from observatory.warehouse.formats import Format, by_name, detect
from observatory.warehouse.store import IngestReport, Warehouse


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, and every file under named folders (sorted, hidden ones skipped)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise ParameterError(
                f"{path} does not exist", parameter="PATH", hint="Name files or folders to ingest."
            )
    return files


def ingest_file(warehouse: Warehouse, path: Path, fmt: str = "auto", **options: object) -> IngestReport:
    """Ingest one file: skipped when the same bytes were ingested before, else stored in one
    transaction. A file of a size no ingested file had cannot be one of them: it is hashed in a
    thread while it is read and stored (the 10 M-line benchmark file: 0.6 s no longer before
    reading starts), else first."""
    chosen: Format = detect(path) if fmt == "auto" else by_name(fmt)
    size = _size(path)
    if warehouse.may_hold(size):
        digest: str | concurrent.futures.Future = sha256_of(path)
        if warehouse.already_ingested(digest):
            return IngestReport(str(path), chosen.name, digest, skipped=True)
    else:
        hashing = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ingest-sha256")
        digest = hashing.submit(sha256_of, path)
        hashing.shutdown(wait=False)  # the thread ends with the hash
    try:
        batches = chosen.read(path, **options)
    except TypeError as exc:  # an option this reader does not take
        raise ParameterError(f"{chosen.name} reader: {exc}", parameter="--option") from exc
    return warehouse.ingest(str(path), digest, chosen.name, batches, size=size)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise DataFormatError(f"cannot read: {exc.strerror}", path=path, hint="Check the path.") from exc


def ingest_paths(
    warehouse: Warehouse,
    paths: Iterable[str | Path],
    fmt: str = "auto",
    progress: Callable[[Path], None] | None = None,
    **options: object,
) -> Iterator[IngestReport]:
    """Ingest every file under ``paths``, one transaction per file; yields one report per file."""
    for path in expand(paths):
        if progress is not None:
            progress(path)
        yield ingest_file(warehouse, path, fmt, **options)
