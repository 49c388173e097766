"""ODK Central submission exports (the root CSV, or the zip with repeat groups) to citizen reports.

The layout is ODK Central's own, read in getodk/central-backend: ``lib/data/briefcase.js``
(``streamBriefcaseCsvs``) and its tests ``test/unit/data/briefcase.js`` and
``test/integration/api/submissions.js``:

- the root table ``<xmlFormId>.csv`` opens with ``SubmissionDate`` (``Date.toISOString()``, UTC
  with milliseconds), then the form's fields in form order, group names joined to the field name
  by ``-`` (``meta-instanceID``, ``signalement-categorie``; ``groupPaths=false`` leaves bare
  names), then ``KEY, SubmitterID, SubmitterName, AttachmentsPresent, AttachmentsExpected, Status,
  ReviewState, DeviceID, Edits, FormVersion``;
- a geopoint becomes four columns ``<field>-Latitude, -Longitude, -Altitude, -Accuracy``, the
  XForm value ``"lat lon alt accuracy"`` split on white space, latitude first. Other tools
  (Briefcase, OData flattening, hand-made sheets) keep that value in one cell; both are read;
- each repeat group is its own file ``<xmlFormId>-<repeat>.csv`` in the zip (``~N`` appended when
  two repeats share a name): the repeat's fields, then ``PARENT_KEY`` (the submission's instance
  ID, or the enclosing repeat's KEY) and ``KEY`` (``uuid:…/photos[1]``);
- ``splitSelectMultiples`` adds ``<field>/<choice>`` 0/1 columns, kept as they are;
- csv-stringify writes LF line ends and quotes cells when needed; CRLF (a sheet saved again by a
  spreadsheet) and a UTF-8 BOM are read too;
- ``ReviewState`` is empty for a submission nobody reviewed yet (stored here as ``received``), else
  ``hasIssues``, ``edited``, ``approved`` or ``rejected`` (ODK Central API, "Submissions").

A submission becomes one REPORTS_SCHEMA row: ``report_id`` is KEY, ``time`` SubmissionDate,
``category`` the choice field the caller names, ``lon``/``lat`` the geopoint, ``insee`` the commune
holding it (``communes_at``), ``status`` ReviewState, ``resolved_time`` the date-time field the
caller names as the resolution time (ISO 8601 with ``Z`` or an offset, kept in UTC; empty while
the report is open), ``text`` the free-text field(s), ``reporter`` SubmitterName and any
phone/e-mail fields named. ``text`` and ``reporter`` are personal data
(PERSONAL_COLUMNS): kept in the warehouse, never published. A row whose dates or geopoint cannot be
read, or whose cells do not match the header, goes to ``rejects`` with its line; the rows beside it
are kept. Cell text is kept verbatim, including spreadsheet formulas (``=HYPERLINK(…)``), NUL and
very long text: whoever writes these strings to a spreadsheet must neutralise them.

Tested on files built to the layout above (no ODK Central server runs here): not covered are
encrypted forms (rows with ``Status`` "not decrypted" keep their metadata only) and exports with
``deletedFields=true`` from forms whose versions changed column order.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gzip
import logging
import math
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import polars as pl

from observatory.config import Settings
from observatory.errors import DataFormatError, ParameterError, did_you_mean
from observatory.sources.base import REJECTS_SCHEMA, REPORTS_SCHEMA, Batch, empty, rejects_frame
from observatory.sources.csv_records import CsvRecords, Record
from observatory.territory.communes import communes_at

log = logging.getLogger(__name__)


# The metadata columns ODK Central appends after the form's fields, in this order (Central's
# CSV export of the root table; see the module docstring).
CENTRAL_META_COLUMNS: tuple[str, ...] = (
    "KEY",
    "SubmitterID",
    "SubmitterName",
    "AttachmentsPresent",
    "AttachmentsExpected",
    "Status",
    "ReviewState",
    "DeviceID",
    "Edits",
    "FormVersion",
)

SOURCE_SYSTEM = "odk"
PERSONAL_COLUMNS = ("text", "reporter")  # REPORTS_SCHEMA columns the privacy gate keeps out of releases
MAX_FIELD_CHARS = 16 * 1024 * 1024  # longest cell read, characters; a longer one rejects its row
MAX_MEMBER_BYTES = 2 * 1024**3  # largest CSV accepted inside a zip export (uncompressed), bytes
ZIP_MAGIC, GZIP_MAGIC = b"PK\x03\x04", b"\x1f\x8b"
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # how Central's zip exports are packed

ROOT_COLUMNS = ("SubmissionDate", "KEY")  # every root table has these (briefcase.js)
REPEAT_COLUMNS = ("PARENT_KEY", "KEY")  # every repeat table ends with these
GEOPOINT_PARTS = ("Latitude", "Longitude", "Altitude", "Accuracy")
UNREVIEWED = "received"  # Central's null review state


@dataclass
class OdkExport:
    """One ODK Central export: reports and rejects, and each repeat group as its own frame.

    ``repeats`` maps the repeat name (``photos``) to its rows as text, with ``line`` (in its CSV)
    and ``submission_key`` (the KEY of the submission it belongs to, i.e. ``reports.report_id``).
    """

    reports: pl.DataFrame = field(default_factory=lambda: empty(REPORTS_SCHEMA))
    rejects: pl.DataFrame = field(default_factory=lambda: empty(REJECTS_SCHEMA))
    repeats: dict[str, pl.DataFrame] = field(default_factory=dict)

    @property
    def batch(self) -> Batch:
        """Reports and rejects as a canonical Batch (repeat frames are not part of it)."""
        return Batch(reports=self.reports, rejects=self.rejects)


# --- communes -----------------------------------------------------------------------------------


# --- CSV ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _field_limit(chars: int) -> Iterator[None]:
    """Raise the csv module's (process-wide) cell size limit while an export is read."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, chars))
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _records(stream: IO[bytes]) -> CsvRecords:
    """CSV records of a byte stream (UTF-8, BOM or not, LF or CRLF), each with its first line.

    Invalid UTF-8 and broken quoting are reported on their record, and a refused record gives
    back the lines it swallowed (observatory.sources.csv_records): one bad byte or quote does not
    cost the rows after it.
    """
    return CsvRecords(stream)


def _header(records: Iterator[Record], source: str, required: Sequence[str]) -> list[str]:
    first = next(records, None)
    if first is None or first.cells == []:
        raise DataFormatError(
            "the file is empty; an ODK export starts with a header row", path=source, line=1
        )
    if first.cells is None:
        raise DataFormatError(f"unreadable header ({first.error})", path=source, line=first.line)
    header = first.cells
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise DataFormatError(
            f"column(s) repeated in the header: {', '.join(duplicates)}", path=source, line=1
        )
    missing = [name for name in required if name not in header]
    if missing:
        raise DataFormatError(
            f"the header has no {', '.join(missing)} column",
            path=source,
            line=1,
            hint="export the submissions from ODK Central (Submissions › Download, or submissions.csv.zip)",
        )
    return header


def _row_cells(record: Record, width: int) -> tuple[list[str] | None, str | None]:
    if record.cells is None:
        return None, record.error
    if len(record.cells) != width:
        return None, f"{len(record.cells)} cells where the header has {width}"
    return record.cells, None


# --- values -------------------------------------------------------------------------------------


def _parse_time(text: str) -> int:
    """ISO 8601 date-time (``Z`` or an offset) as ns since the epoch, UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text[:60]!r} is not an ISO 8601 date-time such as 2026-11-20T14:03:11.123Z"
        ) from None
    if value.tzinfo is None:
        raise ValueError(f"{text[:60]!r} has no time zone (ODK Central writes UTC with a trailing Z)")
    delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _coordinate(text: str, name: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text[:40]!r} is not a number") from None
    if not (math.isfinite(value) and -limit <= value <= limit):
        raise ValueError(f"{name} {text[:40]!r} is outside ±{limit:g}°")
    return value


def parse_geopoint(text: str) -> tuple[float | None, float | None]:
    """(lon, lat) in degrees from an XForm geopoint ``"lat lon [alt [accuracy]]"`` — latitude first.

    An empty value gives (None, None); anything else that is not two numbers in range raises ValueError.
    """
    parts = text.split()
    if not parts:
        return None, None
    if not 2 <= len(parts) <= 4:
        raise ValueError(f"geopoint {text[:60]!r} is not 'latitude longitude [altitude [accuracy]]'")
    lat = _coordinate(parts[0], "latitude", 90.0)
    lon = _coordinate(parts[1], "longitude", 180.0)
    for extra in parts[2:]:
        try:
            float(extra)
        except ValueError:
            raise ValueError(f"geopoint {text[:60]!r} has a non-numeric altitude or accuracy") from None
    return lon, lat


# --- the root table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """Where each report column comes from, as positions in the root header."""

    key: int
    instance_id: int | None
    time: int
    category: int
    resolved: int | None  # the resolution date-time, when the caller names one
    review_state: int | None
    text: tuple[int, ...]
    reporter: tuple[int, ...]
    geopoint: int | None  # one-cell "lat lon alt acc"
    latitude: int | None  # split columns
    longitude: int | None


def _find_geopoint(header: list[str], name: str | None) -> tuple[int | None, int | None, int | None]:
    """(one-cell, latitude, longitude) column positions of the geopoint ``name`` (auto when None)."""
    if name is None:
        bases = [c[: -len("-Latitude")] for c in header if c.endswith("-Latitude")]
        bases = [b for b in bases if f"{b}-Longitude" in header]
        if len(bases) > 1:
            raise ParameterError(
                f"the export has several geopoints ({', '.join(bases)})",
                parameter="geopoint_field",
                hint="name the one that locates the report",
            )
        if not bases:
            return None, None, None
        name = bases[0]
    if f"{name}-Latitude" in header and f"{name}-Longitude" in header:
        return None, header.index(f"{name}-Latitude"), header.index(f"{name}-Longitude")
    if name in header:
        return header.index(name), None, None
    raise ParameterError(
        f"no geopoint column {name!r} (nor {name}-Latitude/-Longitude) in the export",
        parameter="geopoint_field",
        hint=did_you_mean(name, [c for c in header if not c.endswith(GEOPOINT_PARTS[1:])]),
    )


def _column(header: list[str], name: str, parameter: str) -> int:
    if name not in header:
        raise ParameterError(
            f"no column {name!r} in the export", parameter=parameter, hint=did_you_mean(name, header)
        )
    return header.index(name)


def _columns(
    header: list[str],
    category_field: str,
    text_fields: Sequence[str],
    reporter_fields: Sequence[str],
    geopoint_field: str | None,
    time_field: str,
    resolved_time_field: str | None,
) -> _Columns:
    geopoint, latitude, longitude = _find_geopoint(header, geopoint_field)
    return _Columns(
        key=header.index("KEY"),
        instance_id=header.index("meta-instanceID") if "meta-instanceID" in header else None,
        time=_column(header, time_field, "time_field"),
        category=_column(header, category_field, "category_field"),
        resolved=(
            _column(header, resolved_time_field, "resolved_time_field")
            if resolved_time_field is not None
            else None
        ),
        review_state=header.index("ReviewState") if "ReviewState" in header else None,
        text=tuple(_column(header, name, "text_fields") for name in text_fields),
        reporter=tuple(_column(header, name, "reporter_fields") for name in reporter_fields),
        geopoint=geopoint,
        latitude=latitude,
        longitude=longitude,
    )


def _location(cells: list[str], columns: _Columns) -> tuple[float | None, float | None]:
    if columns.geopoint is not None:
        return parse_geopoint(cells[columns.geopoint])
    if columns.latitude is None or columns.longitude is None:
        return None, None
    lat_text, lon_text = cells[columns.latitude].strip(), cells[columns.longitude].strip()
    if not lat_text and not lon_text:
        return None, None
    if not lat_text or not lon_text:
        raise ValueError("the geopoint has a latitude or a longitude but not both")
    return _coordinate(lon_text, "longitude", 180.0), _coordinate(lat_text, "latitude", 90.0)


def _joined(cells: list[str], positions: tuple[int, ...], separator: str) -> str | None:
    parts = [cells[i] for i in positions if cells[i].strip()]
    return separator.join(parts) if parts else None


def _resolved_time(cells: list[str], columns: _Columns, header: list[str]) -> int | None:
    """The resolution time (ns since the epoch, UTC), None when the cell is empty or not asked for."""
    if columns.resolved is None or not cells[columns.resolved].strip():
        return None
    try:
        return _parse_time(cells[columns.resolved])
    except ValueError as exc:
        raise ValueError(f"{header[columns.resolved]}: {exc}") from None


def _report(cells: list[str], columns: _Columns, header: list[str]) -> dict:
    """One report from a root row; ValueError names what cannot be read."""
    key = cells[columns.key].strip() or (cells[columns.instance_id].strip() if columns.instance_id else "")
    if not key:
        raise ValueError("the row has neither a KEY nor a meta-instanceID")
    lon, lat = _location(cells, columns)
    resolved = _resolved_time(cells, columns, header)
    review = cells[columns.review_state].strip() if columns.review_state is not None else ""
    return {
        "report_id": key,
        "time": _parse_time(cells[columns.time]),
        "category": cells[columns.category].strip() or None,
        "insee": None,
        "lon": lon,
        "lat": lat,
        "status": review or UNREVIEWED,
        "resolved_time": resolved,
        "text": _joined(cells, columns.text, "\n\n"),
        "reporter": _joined(cells, columns.reporter, "; "),
        "source_system": SOURCE_SYSTEM,
    }


ColumnsFor = Callable[[list[str]], _Columns]


def _read_root(
    stream: IO[bytes], source: str, columns_for: ColumnsFor, config: Settings | None
) -> tuple[pl.DataFrame, list[tuple[int | None, str, str]], set[str]]:
    """Reports, reject rows and every KEY seen (rejected rows included) of the root table."""
    records = _records(stream)
    rows = iter(records)
    header = _header(rows, source, ROOT_COLUMNS)
    try:
        columns = columns_for(header)
    except ParameterError as exc:  # a column named by an option is missing: say in which file
        raise ParameterError(
            exc.message, path=source, line=1, parameter=exc.parameter, hint=exc.hint
        ) from None
    reports: list[dict] = []
    rejects: list[tuple[int | None, str, str]] = []
    keys: set[str] = set()
    for record in rows:
        cells, error = _row_cells(record, len(header))
        if cells is not None:
            keys.add(cells[columns.key].strip())
            try:
                reports.append(_report(cells, columns, header))
                continue
            except ValueError as exc:
                error = str(exc)
        records.refuse()
        rejects.append((record.line, error or "unreadable row", record.text))
    frame = pl.DataFrame(reports, schema=REPORTS_SCHEMA) if reports else empty(REPORTS_SCHEMA)
    if frame.height:
        insee = communes_at(frame["lon"].to_list(), frame["lat"].to_list(), config)
        frame = frame.with_columns(pl.Series("insee", insee, dtype=pl.String))
    return frame, rejects, keys


# --- repeat groups ------------------------------------------------------------------------------


def _read_repeat(
    stream: IO[bytes], source: str
) -> tuple[pl.DataFrame | None, list[tuple[int | None, str, str]]]:
    """A repeat table as text columns plus ``line``; (None, [reject]) when it is no repeat table."""
    records = _records(stream)
    found = iter(records)
    try:
        header = _header(found, source, REPEAT_COLUMNS)
    except DataFormatError as exc:
        return None, [(exc.line, exc.message, "")]
    rows: list[list[str]] = []
    lines: list[int] = []
    rejects: list[tuple[int | None, str, str]] = []
    for record in found:
        cells, error = _row_cells(record, len(header))
        if cells is None:
            records.refuse()
            rejects.append((record.line, error or "unreadable row", record.text))
            continue
        rows.append(cells)
        lines.append(record.line)
    data = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    frame = pl.DataFrame(
        {"line": lines, **data}, schema={"line": pl.Int64, **dict.fromkeys(header, pl.String)}
    )
    return frame, rejects


def _link_repeats(
    tables: dict[str, tuple[str, pl.DataFrame]], root_keys: set[str]
) -> tuple[dict[str, pl.DataFrame], list[tuple[str, list[tuple[int | None, str, str]]]]]:
    """Drop repeat rows whose PARENT_KEY matches no submission or repeat row; add ``submission_key``."""
    known = set(root_keys)
    for _, frame in tables.values():
        known.update(frame["KEY"].to_list())
    frames: dict[str, pl.DataFrame] = {}
    rejects = []
    for name, (source, frame) in tables.items():
        orphan = ~frame["PARENT_KEY"].is_in(list(known))
        bad = frame.filter(orphan)
        rejects.append(
            (
                source,
                [
                    (line, f"PARENT_KEY {parent!r} matches no submission or repeat in this export", parent)
                    for line, parent in zip(bad["line"], bad["PARENT_KEY"], strict=True)
                ],
            )
        )
        kept = frame.filter(~orphan)
        # KEY is "<instance ID>/group/repeat[n]…": its first segment is the submission's KEY.
        frames[name] = kept.with_columns(pl.col("KEY").str.split("/").list.first().alias("submission_key"))
    return frames, rejects


# --- files --------------------------------------------------------------------------------------


def _magic(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(4)


def _main_member(archive: zipfile.ZipFile, path: Path) -> tuple[zipfile.ZipInfo, list[zipfile.ZipInfo]]:
    """The root CSV of a Central zip and the repeat CSVs beside it (media/ is ignored)."""
    tables = [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and info.filename.lower().endswith(".csv")
        and "/" not in info.filename.strip("/")
    ]
    for info in tables:
        if info.file_size > MAX_MEMBER_BYTES:
            raise DataFormatError(
                f"{info.filename} would unpack to {info.file_size} bytes, more than {MAX_MEMBER_BYTES}",
                path=path,
                hint="unpack it yourself and read the CSV files one by one",
            )
        if info.flag_bits & 0x1 or info.compress_type not in ZIP_METHODS:
            # zipfile raises RuntimeError or NotImplementedError on these: said here instead
            raise DataFormatError(
                f"{info.filename} is encrypted or packed in a way Central never uses",
                path=path,
                hint="download the export from ODK Central again (an encrypted form exports as text)",
            )
    by_stem = {PurePosixPath(info.filename).stem: info for info in tables}
    roots = [
        stem for stem in by_stem if all(other == stem or other.startswith(stem + "-") for other in by_stem)
    ]
    if path.stem in by_stem:
        roots = [path.stem]
    if len(roots) != 1:
        raise DataFormatError(
            f"cannot tell the root table among {sorted(by_stem) or 'no CSV files'}",
            path=path,
            hint="an ODK Central export holds <form>.csv and <form>-<repeat>.csv files",
        )
    root = by_stem[roots[0]]
    return root, [info for info in tables if info is not root]


def read_export(
    path: str | Path,
    *,
    category_field: str,
    text_fields: Sequence[str] = (),
    reporter_fields: Sequence[str] = ("SubmitterName",),
    geopoint_field: str | None = None,
    time_field: str = "SubmissionDate",
    resolved_time_field: str | None = None,
    config: Settings | None = None,
) -> OdkExport:
    """Read an ODK Central export: ``<form>.csv`` (gzip too) or ``<form>.zip`` with repeat groups.

    ``category_field`` is the choice column giving the report's category (``signalement-categorie``);
    ``text_fields`` the free-text column(s), ``reporter_fields`` the columns naming the reporter
    (SubmitterName by default; add phone or e-mail fields). ``geopoint_field`` names the geopoint
    (the one-cell column, or the prefix of the ``-Latitude``/``-Longitude`` columns); when None the
    only split geopoint of the export is used, if there is one. ``resolved_time_field`` names the
    date-time column saying when the report was resolved (``suivi-date_resolution``; empty cells
    leave ``resolved_time`` null, a value that is no ISO 8601 date-time with a zone rejects its row);
    without it ``resolved_time`` stays null. A column that is not in the export raises
    ParameterError; a file that is no ODK export raises DataFormatError.
    """
    path = Path(path)
    source = str(path)

    def columns_for(header: list[str]) -> _Columns:
        return _columns(
            header,
            category_field,
            text_fields,
            reporter_fields,
            geopoint_field,
            time_field,
            resolved_time_field,
        )

    magic = _magic(path)
    try:
        with _field_limit(MAX_FIELD_CHARS):
            if magic == ZIP_MAGIC:
                return _read_zip(path, columns_for, config)
            opener = gzip.open if magic.startswith(GZIP_MAGIC) else open
            with opener(path, "rb") as stream:
                reports, rejects, _ = _read_root(stream, source, columns_for, config)
            return OdkExport(reports=reports, rejects=rejects_frame(source, rejects))
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:  # BadGzipFile is an OSError
        raise DataFormatError(
            f"the compressed export is truncated or corrupt ({exc})",
            path=path,
            hint="download the export from ODK Central again",
        ) from None


def _open_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> IO[bytes]:
    try:
        return archive.open(info)
    except (NotImplementedError, RuntimeError) as exc:  # zipfile's words for encrypted or patched members
        raise DataFormatError(
            f"{info.filename} cannot be unpacked ({exc})",
            path=path,
            hint="download the export from ODK Central again (an encrypted form exports as text)",
        ) from None


def _read_zip(path: Path, columns_for: ColumnsFor, config: Settings | None) -> OdkExport:
    with zipfile.ZipFile(path) as archive:
        root, others = _main_member(archive, path)
        root_source = f"{path}!{root.filename}"
        with _open_member(archive, root, path) as stream:
            reports, root_rejects, keys = _read_root(stream, root_source, columns_for, config)
        rejects = [rejects_frame(root_source, root_rejects)]
        prefix = PurePosixPath(root.filename).stem + "-"
        tables: dict[str, tuple[str, pl.DataFrame]] = {}
        for info in others:
            source = f"{path}!{info.filename}"
            with _open_member(archive, info, path) as stream:
                frame, bad = _read_repeat(stream, source)
            rejects.append(rejects_frame(source, bad))
            if frame is not None:
                tables[PurePosixPath(info.filename).stem.removeprefix(prefix)] = (source, frame)
    repeats, orphans = _link_repeats(tables, keys)
    rejects.extend(rejects_frame(source, rows) for source, rows in orphans)
    return OdkExport(reports=reports, rejects=pl.concat(rejects), repeats=repeats)


def read_file(
    path: str | Path,
    *,
    category_field: str,
    text_fields: Sequence[str] = (),
    reporter_fields: Sequence[str] = ("SubmitterName",),
    geopoint_field: str | None = None,
    time_field: str = "SubmissionDate",
    resolved_time_field: str | None = None,
) -> Iterator[Batch]:
    """The warehouse's entry point: an ODK export as one Batch (options as for `read_export`)."""
    yield read_export(
        path,
        category_field=category_field,
        text_fields=text_fields,
        reporter_fields=reporter_fields,
        geopoint_field=geopoint_field,
        time_field=time_field,
        resolved_time_field=resolved_time_field,
    ).batch
