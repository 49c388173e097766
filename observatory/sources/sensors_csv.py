"""Sensor metadata as CSV (``sensors.csv``): one row per sensor, the columns of the sensors table.

The header is exactly ``sensor_id,domain,kind,unit,insee,lon,lat,installed,source_system``
(SENSORS_SCHEMA, in that order; a UTF-8 BOM and CRLF line ends are read too). Empty cells are
missing values, except ``sensor_id``, ``domain`` and ``kind``, which every row needs. A row
that cannot be read (wrong number of cells, broken quoting, bytes that are not UTF-8, a
coordinate that is not a number or is off the globe, a date that is not ISO 8601, a malformed
INSEE code, a sensor id given twice) goes to ``rejects`` with its line and the reason; the rows
beside it are kept, those an unclosed quote ran into included (observatory.sources.csv_records).
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from observatory.errors import DataFormatError
from observatory.sources.base import SENSORS_SCHEMA, Batch, rejects_frame
from observatory.sources.csv_records import CsvRecords

COLUMNS = tuple(SENSORS_SCHEMA)
HEADER = ",".join(COLUMNS)
REQUIRED = ("sensor_id", "domain", "kind")
_INSEE = re.compile(r"^(?:\d{5}|2[AB]\d{3})$")  # French commune codes (Corsica: 2A, 2B)
_NAME = re.compile(r"^[^\s\x00-\x1f\x7f]+$")  # ids, domains and kinds: no spaces or control characters


def _coordinate(text: str, name: str, limit: float) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text[:40]!r} is not a number") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"{name} {text[:40]!r} is outside ±{limit:g}°")
    return value


def _row(cells: list[str]) -> dict[str, object]:
    """One sensors-table row from its cells; ValueError names what is wrong."""
    values = dict(zip(COLUMNS, (c.strip() for c in cells), strict=True))
    for name in REQUIRED:
        if not values[name]:
            raise ValueError(f"{name} is empty")
        if not _NAME.match(values[name]):
            raise ValueError(f"{name} {values[name][:60]!r} holds spaces or control characters")
    if values["insee"] and not _INSEE.match(values["insee"]):
        raise ValueError(f"insee {values['insee'][:20]!r} is not a commune code such as 97209")
    installed = None
    if values["installed"]:
        try:
            installed = dt.date.fromisoformat(values["installed"])
        except ValueError:
            raise ValueError(
                f"installed {values['installed'][:40]!r} is not an ISO date such as 2019-01-14"
            ) from None
    return {
        **{
            name: values[name] or None
            for name in ("sensor_id", "domain", "kind", "unit", "insee", "source_system")
        },
        "lon": _coordinate(values["lon"], "lon", 180.0),
        "lat": _coordinate(values["lat"], "lat", 90.0),
        "installed": installed,
    }


def read_sensors(path: str | Path) -> Batch:
    """The sensors of a ``sensors.csv`` file, and its unreadable rows, as one Batch.

    DataFormatError (file, line 1) when the header is not exactly the sensors table's columns.
    """
    path = Path(path)
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFormatError(f"cannot read: {exc.strerror}", path=path) from exc
    records = CsvRecords(io.BytesIO(data))
    found = iter(records)
    header = next(found, None)
    if header is None or header.cells is None or [h.strip() for h in header.cells] != list(COLUMNS):
        shown = header.text if header is not None else ""
        raise DataFormatError(
            f"the header is {shown[:200]!r}",
            path=path,
            line=1,
            hint=f"A sensors file starts with exactly: {HEADER}",
        )
    rows, rejects, seen = [], [], {}
    for record in found:
        if record.cells in ([], [""]):
            continue
        try:
            if record.cells is None:
                raise ValueError(record.error)
            if len(record.cells) != len(COLUMNS):
                raise ValueError(f"{len(record.cells)} cells where the header has {len(COLUMNS)}")
            row = _row(record.cells)
            first = seen.setdefault(row["sensor_id"], record.line)
            if first != record.line:
                raise ValueError(f"sensor_id {row['sensor_id']!r} already given on line {first}")
            rows.append(row)
        except ValueError as exc:
            records.refuse()
            rejects.append((record.line, str(exc), record.text))
    sensors = pl.DataFrame(rows, schema=SENSORS_SCHEMA) if rows else pl.DataFrame(schema=SENSORS_SCHEMA)
    return Batch(sensors=sensors, rejects=rejects_frame(source, rejects))


def read_file(path: str | Path) -> Iterator[Batch]:
    """The warehouse's entry point: a sensors CSV as one Batch (sensors, rejects)."""
    yield read_sensors(path)


def sniff(head: bytes) -> bool:  # the same test as observatory.warehouse.formats
    """Whether ``head`` (a file's first bytes) opens with the sensors table's exact header."""
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].rstrip(b"\r")
    return first == HEADER.encode("ascii")
