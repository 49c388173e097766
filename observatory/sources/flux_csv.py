"""Flux annotated CSV, as InfluxDB 2.x answers queries and `influx query --raw` exports, to typed tables.

The decoding rules are those of the Flux SPEC, "Response format / CSV": annotation rows (`#datatype`,
`#group`, `#default`; other `#...` rows are ignored) and a header start a block, an empty line ends
it, a new table starts when (result, table) changes, a block without rows is one empty table whose
key comes from `#default`, an empty cell takes its column's non-empty `#default` and is null
otherwise, and a block headed `error,reference` is the server reporting a failed query
(`FluxQueryError`). Input is read line by line, so large exports stream: `iter_tables` yields each
table as soon as it is complete. `to_readings` turns tables into the canonical long readings.
`read_file`, the warehouse's entry point, quarantines a record row it cannot read (its line and
why) and keeps the rows beside it; broken annotations or headers still refuse the whole file.

Tested against a live server: nothing. No InfluxDB 2.x runs where this was written, so
`query_flux` is tested against a local HTTP stand-in that checks the request (token header, org,
dialect) and answers with the upstream conformance responses. Not covered: a real server's
authentication and org-name resolution, the exact JSON error bodies it sends, gzip, TLS, and
chunked responses of real size with an error table emitted mid-stream by a running engine.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import functools
import gzip
import math
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple
from urllib.parse import urlsplit

import polars as pl

from observatory.errors import DataFormatError, ParameterError, ServiceError, did_you_mean
from observatory.sources.base import READINGS_SCHEMA, TEXT_READINGS_SCHEMA, Batch, rejects_frame
from observatory.sources.csv_records import CsvRecords

CHUNK_BYTES = 1 << 16  # read size for files and HTTP responses, bytes
READINGS_BATCH_ROWS = 100_000  # rows buffered as Python objects before they become a DataFrame
QUERY_TIMEOUT_S = 60.0  # default HTTP timeout of query_flux, seconds

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # Flux long, and time as ns since the epoch
UINT64_MAX = 2**64 - 1  # Flux unsignedLong
NS_PER_S = 1_000_000_000

# Columns that every Flux table carries besides its data, kept on FluxTable rather than in records.
RESULT_COLUMN, TABLE_COLUMN = "result", "table"
ERROR_HEADER = ["error", "reference"]
ANNOTATIONS = ("#datatype", "#group", "#default")

NUMERIC_DATATYPES = frozenset({"double", "long", "unsignedLong", "boolean"})

_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


class FluxQueryError(ServiceError):
    """InfluxDB reported that the query failed (an `error,reference` table or an HTTP 400).

    ``flux_message`` and ``reference`` are the server's own words; ``tables`` holds the tables
    that arrived before the error, when the decoder collected them.
    """

    def __init__(
        self,
        flux_message: str,
        reference: str = "",
        *,
        path: str | Path | None = None,
        line: int | None = None,
        tables: Iterable[FluxTable] = (),
    ) -> None:
        self.flux_message = flux_message
        self.reference = reference
        self.tables = list(tables)
        detail = flux_message.rstrip(".") or "(the server gave no message)"
        ref = f" (reference {reference})" if reference else ""
        super().__init__(
            f"InfluxDB reported a query error: {detail}{ref}",
            path=path,
            line=line,
            hint="Fix the Flux query (or the data it reads) and run it again",
        )


@dataclass(frozen=True, slots=True, order=True)
class FluxTime:
    """A Flux `dateTime`: nanoseconds since 1970-01-01T00:00:00Z, exact (Python datetimes stop at µs)."""

    ns: int

    def to_datetime(self) -> dt.datetime:
        """The instant as an aware UTC datetime, truncated to microseconds."""
        return (_EPOCH + dt.timedelta(microseconds=self.ns // 1000)).replace(tzinfo=dt.UTC)

    def isoformat(self) -> str:
        """RFC 3339 text in UTC with trailing fractional zeros removed, as Go's RFC3339Nano writes it."""
        seconds, frac_ns = divmod(self.ns, NS_PER_S)
        d = _EPOCH + dt.timedelta(seconds=seconds)
        text = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        if frac_ns:
            text += "." + f"{frac_ns:09d}".rstrip("0")
        return text + "Z"

    __str__ = isoformat


@dataclass(frozen=True, slots=True)
class FluxDuration:
    """A Flux `duration`: calendar months plus nanoseconds (both carry the sign), and its text."""

    months: int
    ns: int
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class FluxColumn:
    """One column of a Flux table: its label, `#datatype`, `#group` flag and raw `#default` text."""

    name: str
    datatype: str
    group: bool
    default: str


@dataclass(slots=True)
class FluxTable:
    """One table of a Flux result: the group key and typed records (dicts keyed by column name).

    Records hold every column except `result` and `table`, which are the table's own attributes.
    ``source`` and ``line`` say where the table starts, for error messages downstream.
    """

    result: str | None
    table: int | None
    columns: tuple[FluxColumn, ...]
    group_key: dict[str, Any]
    records: list[dict[str, Any]]
    source: str = "<bytes>"
    line: int | None = None

    def column(self, name: str) -> FluxColumn | None:
        """The column called ``name``, or None when the table has none."""
        return next((c for c in self.columns if c.name == name), None)


class FluxReadings(NamedTuple):
    """Canonical long readings: numeric values, and the non-numeric ones in their own frame."""

    readings: pl.DataFrame
    text_readings: pl.DataFrame


# --- values -------------------------------------------------------------------------------------

_LONG_RE = re.compile(r"[+-]?[0-9]+")
_ULONG_RE = re.compile(r"[0-9]+")
_DOUBLE_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DOUBLE_SPECIAL_RE = re.compile(r"[+-]?(?:inf|infinity)|nan", re.IGNORECASE)
_BOOLEANS = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}  # the spellings Go's strconv.ParseBool accepts, which Flux uses
_TIME_RE = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:Z|([+-])(\d{2}):(\d{2}))")
_DURATION_UNIT_NS = {
    "w": 7 * 86_400 * NS_PER_S,
    "d": 86_400 * NS_PER_S,
    "h": 3_600 * NS_PER_S,
    "m": 60 * NS_PER_S,
    "s": NS_PER_S,
    "ms": 1_000_000,
    "us": 1_000,
    "µs": 1_000,
    "ns": 1,
}
_DURATION_UNIT_MONTHS = {"y": 12, "mo": 1}
_DURATION_PART = r"([0-9]+)(y|mo|ms|m|w|d|h|s|us|µs|ns)"
_DURATION_RE = re.compile(rf"-?(?:{_DURATION_PART})+")
_DURATION_PART_RE = re.compile(_DURATION_PART)


def _parse_string(text: str) -> str:
    return text


def _parse_long(text: str) -> int:
    if not _LONG_RE.fullmatch(text):
        raise ValueError("not a base-10 integer")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("outside the 64-bit signed range")
    return value


def _parse_unsigned(text: str) -> int:
    if not _ULONG_RE.fullmatch(text):
        raise ValueError("not an unsigned base-10 integer")
    value = int(text)
    if value > UINT64_MAX:
        raise ValueError("outside the 64-bit unsigned range")
    return value


def _parse_double(text: str) -> float:
    if _DOUBLE_RE.fullmatch(text):
        value = float(text)
        if math.isinf(value):
            raise ValueError("outside the range of a 64-bit float")
        return value
    if _DOUBLE_SPECIAL_RE.fullmatch(text):
        return float(text)
    raise ValueError("not a decimal number, +Inf, -Inf or NaN")


def _parse_boolean(text: str) -> bool:
    try:
        return _BOOLEANS[text]
    except KeyError:
        raise ValueError("not true or false") from None


def _parse_time(text: str) -> FluxTime:
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 date-time such as 2024-09-01T12:00:00Z")
    date, hour, minute, second, frac, sign, off_h, off_m = match.groups()
    hour, minute, second = int(hour), int(minute), int(second)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("a time of day out of range")
    seconds = _epoch_day(date) * 86_400 + hour * 3_600 + minute * 60 + second
    if sign is not None:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError("a UTC offset out of range")
        offset_s = int(off_h) * 3_600 + int(off_m) * 60
        seconds -= offset_s if sign == "+" else -offset_s
    # Go keeps the first nine fractional digits and drops the rest; so does this.
    ns = seconds * NS_PER_S + (int(frac[:9].ljust(9, "0")) if frac else 0)
    if not INT64_MIN <= ns <= INT64_MAX:
        raise ValueError("outside the range of Flux time (years 1677 to 2262)")
    return FluxTime(ns)


@functools.lru_cache(maxsize=4096)  # a response holds few distinct dates and many times on each
def _epoch_day(date: str) -> int:
    """Days from 1970-01-01 to a YYYY-MM-DD date; ValueError on a date not in the calendar."""
    try:
        day = dt.date(int(date[:4]), int(date[5:7]), int(date[8:10]))
    except ValueError:
        raise ValueError(f"not a calendar date ({date})") from None
    return day.toordinal() - _EPOCH_ORDINAL


def _parse_duration(text: str) -> FluxDuration:
    if not _DURATION_RE.fullmatch(text):
        raise ValueError("not a Flux duration such as 1h30m or 1mo2d")
    months = ns = 0
    for magnitude, unit in _DURATION_PART_RE.findall(text):
        if unit in _DURATION_UNIT_MONTHS:
            months += int(magnitude) * _DURATION_UNIT_MONTHS[unit]
        else:
            ns += int(magnitude) * _DURATION_UNIT_NS[unit]
    sign = -1 if text.startswith("-") else 1
    return FluxDuration(sign * months, sign * ns, text)


def _parse_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not standard base64 ({exc})") from None


PARSERS: dict[str, Callable[[str], Any]] = {
    "string": _parse_string,
    "long": _parse_long,
    "unsignedLong": _parse_unsigned,
    "double": _parse_double,
    "boolean": _parse_boolean,
    "dateTime:RFC3339": _parse_time,
    "dateTime:RFC3339Nano": _parse_time,
    "dateTime": _parse_time,  # older Flux encoders wrote the datatype without its format
    "duration": _parse_duration,
    "base64Binary": _parse_base64,
}


# --- bytes to rows ------------------------------------------------------------------------------

ByteSource = bytes | bytearray | memoryview | BinaryIO | Iterable[bytes]


def _chunks(data: ByteSource) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
        return
    if isinstance(data, str):
        raise TypeError("annotated CSV is read as bytes: pass bytes, a binary file or byte chunks")
    read = getattr(data, "read", None)
    chunks = iter(lambda: read(CHUNK_BYTES), b"") if read is not None else iter(data)
    for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"expected bytes chunks, got {type(chunk).__name__}: open files in 'rb' mode")
        yield bytes(chunk)


def _byte_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split byte chunks into lines, each with its LF (the last one may have none)."""
    parts: list[bytes] = []
    for chunk in chunks:
        if b"\n" not in chunk:
            parts.append(chunk)
            continue
        pieces = (b"".join(parts) + chunk).split(b"\n")
        parts = [pieces.pop()]
        for raw in pieces:
            yield raw + b"\n"
    tail = b"".join(parts)
    if tail:
        yield tail


def _text_lines(chunks: Iterable[bytes], source: str) -> Iterator[str]:
    """Split byte chunks at LF and decode each line, so a bad byte is reported with its line."""
    for number, raw in enumerate(_byte_lines(chunks), start=1):
        yield _decode_line(raw, number, source)


def _decode_line(raw: bytes, number: int, source: str) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"invalid UTF-8 at byte {exc.start + 1} of the line",
            path=source,
            line=number,
            hint="Flux annotated CSV is UTF-8; re-export the data without converting its encoding",
        ) from None
    return text.removeprefix("\ufeff") if number == 1 else text


def _rows(lines: Iterable[str], source: str) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the number of the line each starts on; a blank line is an empty row."""
    reader = csv.reader(lines, strict=True)
    consumed = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DataFormatError(
                f"malformed CSV ({exc})",
                path=source,
                line=reader.line_num,
                hint="check the quoting of that row; a quoted cell must close its quote",
            ) from None
        if reader.line_num - consumed > 1:
            # A quoted cell spanning lines keeps CRLF inside; Go's reader (and so Flux) gives LF.
            row = [cell.replace("\r\n", "\n") for cell in row]
        yield consumed + 1, row
        consumed = reader.line_num


# --- rows to tables -----------------------------------------------------------------------------


class _Block:
    """One annotation block: its annotations, then its header, then its rows."""

    def __init__(self) -> None:
        self.annotations: dict[str, tuple[int, list[str]]] = {}
        self.first_line: int | None = None
        self.header_line: int | None = None
        self.columns: tuple[FluxColumn, ...] = ()
        self.parsers: list[Callable[[str], Any]] = []
        self.defaults: list[Any] = []
        self.is_error = False
        self.has_rows = False
        self.result_index = self.table_index = 0
        self.last_cells: list[str | None] = []  # the previous record row, to reuse its parsed values
        self.last_values: list[Any] = []
        self.kept: list[tuple[int, str]] = []  # (index, name) of columns that go into records
        self.group: list[tuple[int, str]] = []  # (index, name) of group-key columns


class _Decoder:
    def __init__(self, source: str, lenient: bool = False) -> None:
        self.source = source
        self.lenient = lenient  # amid records, stray blank lines and unknown '#' rows are the row's fault
        self.block = _Block()
        self.table: FluxTable | None = None

    def amid_records(self) -> bool:
        """True once the block's header is read: what comes is records (of a data table)."""
        return self.block.header_line is not None and not self.block.is_error

    def error(self, message: str, line: int | None, hint: str | None = None) -> DataFormatError:
        return DataFormatError(message, path=self.source, line=line, hint=hint)

    def feed(self, line: int, row: list[str]) -> Iterator[FluxTable]:
        if self.lenient and self.amid_records() and not (row and row[0] in ANNOTATIONS):
            if not row:
                return  # a table ends where annotations start; a blank line before a record is stray
            if row[0].startswith("#"):
                raise self.error(f"{row[0][:40]!r} row amid the records of a table", line)
            yield from self.record(line, row)
            return
        if not row:
            yield from self.end_block()
        elif row[0].startswith("#"):
            if self.block.header_line is not None:
                yield from self.end_block()
            self.annotate(line, row)
        elif self.block.header_line is None:
            self.header(line, row)
        else:
            yield from self.record(line, row)

    def end_block(self) -> Iterator[FluxTable]:
        block, self.block = self.block, _Block()
        if block.header_line is None:
            if block.annotations:
                raise self.error("annotation rows without a header row after them", block.first_line)
            return
        if block.is_error:
            raise FluxQueryError("", path=self.source, line=block.header_line)
        if self.table is not None:
            yield self.table
            self.table = None
        elif not block.has_rows:
            yield self.new_table(block, block.defaults, block.header_line)

    def annotate(self, line: int, row: list[str]) -> None:
        name = row[0]
        if self.block.first_line is None:
            self.block.first_line = line
        if name not in ANNOTATIONS:
            return  # the SPEC lets encoders add annotations (e.g. #null); they carry nothing we use
        if name in self.block.annotations:
            raise self.error(f"second {name} annotation in one block", line)
        self.block.annotations[name] = (line, row[1:])

    def header(self, line: int, row: list[str]) -> None:
        block = self.block
        if row[0] != "":
            raise self.error(
                f"expected a header row starting with an empty annotation cell, found {row[0]!r}",
                line,
                hint="this does not look like Flux annotated CSV; export with `influx query --raw`",
            )
        labels = row[1:]
        block.header_line = line
        if labels == ERROR_HEADER:
            block.is_error = True
            return
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise self.error(f"column label(s) repeated in the header: {', '.join(duplicates)}", line)
        for required in (RESULT_COLUMN, TABLE_COLUMN):
            if required not in labels:
                raise self.error(f"the header has no {required!r} column", line)
        if "#datatype" not in block.annotations:
            raise self.error(
                "the header has no #datatype annotation above it",
                line,
                hint="request the annotations datatype, group and default (`influx query --raw` does)",
            )
        datatypes = self.annotation("#datatype", labels, None)
        groups = self.annotation("#group", labels, "false")
        defaults = self.annotation("#default", labels, "")
        block.columns = tuple(
            self.column(*spec) for spec in zip(labels, datatypes, groups, defaults, strict=True)
        )
        block.parsers = [PARSERS[c.datatype] for c in block.columns]
        default_line = block.annotations.get("#default", (line, []))[0]
        block.defaults = [
            self.parse(c, p, c.default, default_line)
            for c, p in zip(block.columns, block.parsers, strict=True)
        ]
        block.last_cells, block.last_values = [None] * len(labels), [None] * len(labels)
        block.result_index, block.table_index = labels.index(RESULT_COLUMN), labels.index(TABLE_COLUMN)
        skip = {RESULT_COLUMN, TABLE_COLUMN}
        block.kept = [(i, c.name) for i, c in enumerate(block.columns) if c.name not in skip]
        block.group = [(i, c.name) for i, c in enumerate(block.columns) if c.group and c.name not in skip]

    def annotation(self, name: str, labels: list[str], missing: str | None) -> list[str]:
        if name not in self.block.annotations:
            return [missing or ""] * len(labels)
        line, cells = self.block.annotations[name]
        if len(cells) != len(labels):
            raise self.error(f"{name} has {len(cells)} cells but the header below has {len(labels)}", line)
        if name == "#group":
            for cell in cells:
                if cell not in ("true", "false"):
                    raise self.error(f"#group cells are 'true' or 'false', found {cell!r}", line)
        return cells

    def column(self, label: str, datatype: str, group: str, default: str) -> FluxColumn:
        if datatype not in PARSERS:
            line = self.block.annotations["#datatype"][0]
            raise self.error(
                f"unknown datatype {datatype!r} for column {label!r}",
                line,
                hint=did_you_mean(datatype, PARSERS),
            )
        return FluxColumn(label, datatype, group == "true", default)

    def parse(self, column: FluxColumn, parser: Callable[[str], Any], text: str, line: int) -> Any:
        if text == "":
            return None
        try:
            return parser(text)
        except ValueError as exc:
            raise self.error(f"column {column.name!r} ({column.datatype}): {text!r} is {exc}", line) from None

    def record(self, line: int, row: list[str]) -> Iterator[FluxTable]:
        block = self.block
        if len(row) != len(block.columns) + 1 and not block.is_error:
            raise self.error(
                f"row has {len(row)} cells but the header at line {block.header_line} "
                f"has {len(block.columns) + 1}",
                line,
            )
        if row[0] != "":
            raise self.error(f"a record row must leave the annotation column empty, found {row[0]!r}", line)
        if block.is_error:
            raise FluxQueryError(
                row[1] if len(row) > 1 else "", row[2] if len(row) > 2 else "", path=self.source, line=line
            )
        block.has_rows = True
        values = self.values(block, row, line)
        if values[block.table_index] is None:
            raise self.error("record has no table id (empty 'table' cell and no #default for it)", line)
        key = (values[block.result_index], values[block.table_index])
        if self.table is None or (self.table.result, self.table.table) != key:
            if self.table is not None:
                yield self.table
            self.table = self.new_table(block, values, line)
        self.table.records.append({name: values[i] for i, name in block.kept})

    def values(self, block: _Block, row: list[str], line: int) -> list[Any]:
        """Typed cells of a record row, parsing only the cells that differ from the row above.

        Returns the block's own list, overwritten by the next row: callers copy what they keep.
        """
        values, last_cells = block.last_values, block.last_cells
        for i, cell in enumerate(row[1:]):
            if cell != last_cells[i]:
                values[i] = (
                    self.parse(block.columns[i], block.parsers[i], cell, line) if cell else block.defaults[i]
                )
                last_cells[i] = cell  # after the parse: a cell that failed is parsed again next time
        return values

    def new_table(self, block: _Block, values: list[Any], line: int) -> FluxTable:
        return FluxTable(
            result=values[block.result_index],
            table=values[block.table_index],
            columns=block.columns,
            group_key={name: values[i] for i, name in block.group},
            records=[],
            source=self.source,
            line=line,
        )


def iter_tables(
    data: ByteSource, source: str = "<bytes>", rejects: list[tuple[int | None, str, str]] | None = None
) -> Iterator[FluxTable]:
    """Decode Flux annotated CSV lazily, yielding each table once it is complete.

    ``data`` is bytes, a binary file or an iterable of byte chunks (CRLF or LF line ends);
    ``source`` names it in error messages. Malformed input raises DataFormatError with the line;
    an error table raises FluxQueryError after the tables before it were yielded.

    With a ``rejects`` list (a file being ingested), a record row that cannot be read is added to
    it as ``(line, reason, text)`` and the rows beside it are kept, those an unclosed quote ran
    into included (observatory.sources.csv_records); annotations and headers stay strict.
    """
    if rejects is None:
        decoder = _Decoder(source)
        for line, row in _rows(_text_lines(_chunks(data), source), source):
            yield from decoder.feed(line, row)
    else:
        decoder = _Decoder(source, lenient=True)
        records = CsvRecords(_byte_lines(_chunks(data)))
        for record in records:
            amid = decoder.amid_records()
            try:
                if record.cells is None:
                    raise decoder.error(record.error or "unreadable row", record.line)
                cells = [c.replace("\r\n", "\n") for c in record.cells]  # as _rows: LF inside cells
                yield from decoder.feed(record.line, cells)
            except DataFormatError as exc:
                if not amid:  # annotations or a header: the file's structure is broken
                    raise
                records.refuse()
                rejects.append((record.line, exc.message, record.text))
    yield from decoder.end_block()


def decode_annotated_csv(data: ByteSource, source: str = "<bytes>") -> list[FluxTable]:
    """Decode a whole Flux annotated CSV response into its tables (see `iter_tables`).

    On an error table, the FluxQueryError raised carries the tables decoded before it in ``tables``.
    """
    tables: list[FluxTable] = []
    try:
        for table in iter_tables(data, source):
            tables.append(table)
    except FluxQueryError as exc:
        exc.tables = tables
        raise
    return tables


# --- tables to canonical readings ---------------------------------------------------------------


class _Buffer:
    """Columns of readings gathered in Python lists and turned into DataFrames a batch at a time."""

    def __init__(self, schema: dict[str, pl.DataType]) -> None:
        self.schema = schema
        self.columns: list[list[Any]] = [[] for _ in schema]
        self.frames: list[pl.DataFrame] = []

    def append(self, *row: Any) -> None:
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        if len(self.columns[0]) >= READINGS_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.columns[0]:
            data = dict(zip(self.schema, self.columns, strict=True))
            self.frames.append(pl.DataFrame(data, schema=self.schema))
            self.columns = [[] for _ in self.schema]

    def frame(self) -> pl.DataFrame:
        self.flush()
        return pl.concat(self.frames) if self.frames else pl.DataFrame(schema=self.schema)


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _check_reading_columns(table: FluxTable, sensor_tag: str) -> None:
    expected = {
        "_time": ("dateTime",),
        "_measurement": ("string",),
        "_field": ("string",),
        sensor_tag: ("string",),
    }
    names = [c.name for c in table.columns]
    for name, datatypes in {**expected, "_value": tuple(PARSERS)}.items():
        column = table.column(name)
        if column is None:
            hint = did_you_mean(name, names) if name == sensor_tag else None
            raise DataFormatError(
                f"table {table.table} of result {table.result!r} has no {name!r} column, "
                "which canonical readings need",
                path=table.source,
                line=table.line,
                hint=hint or "query raw series (no pivot), keeping _time, _measurement, _field and _value",
            )
        if not column.datatype.startswith(datatypes):
            raise DataFormatError(
                f"column {name!r} is {column.datatype}, readings need {datatypes[0]}",
                path=table.source,
                line=table.line,
            )


def to_readings(tables: Iterable[FluxTable], sensor_tag: str = "sensor_id") -> FluxReadings:
    """Canonical long readings `time, sensor_id, measurement, field, value` from Flux tables.

    ``time`` is Datetime(ns, UTC) from `_time`; ``sensor_id`` is the ``sensor_tag`` column;
    ``measurement``/``field`` come from `_measurement`/`_field`. Numeric `_value`s (double, long,
    unsignedLong; boolean as 1.0/0.0) go to ``readings`` as Float64; all others (string, and
    dateTime/duration/base64Binary as their text) to ``text_readings``, never dropped. Null cells
    stay null for the warehouse to quarantine. ``tables`` may be a lazy `iter_tables` stream.
    """
    if sensor_tag in (RESULT_COLUMN, TABLE_COLUMN):
        raise ParameterError(
            f"{sensor_tag!r} is a Flux bookkeeping column, not a tag",
            parameter="sensor_tag",
            hint="name the tag that identifies the sensor, e.g. 'sensor_id'",
        )
    numeric, text = _Buffer(READINGS_SCHEMA), _Buffer(TEXT_READINGS_SCHEMA)
    for table in tables:
        if not table.records:
            continue
        _check_reading_columns(table, sensor_tag)
        value_type = table.column("_value").datatype
        buffer, convert = (numeric, _as_float) if value_type in NUMERIC_DATATYPES else (text, _as_text)
        for record in table.records:
            time = record["_time"]
            buffer.append(
                None if time is None else time.ns,
                record[sensor_tag],
                record["_measurement"],
                record["_field"],
                convert(record["_value"]),
            )
    return FluxReadings(numeric.frame(), text.frame())


# --- live InfluxDB 2.x --------------------------------------------------------------------------


def query_flux(
    url: str, token: str, org: str, query: str, *, timeout_s: float = QUERY_TIMEOUT_S
) -> list[FluxTable]:
    """Run a Flux query on InfluxDB 2.x at ``url`` and decode the annotated CSV it streams back.

    An unreachable server or a refused request raises ServiceError naming ``url``; a query the
    server rejects (HTTP 400 or an error table) raises FluxQueryError. ``timeout_s`` in seconds.
    """
    # Imported here: the client pulls in a large dependency tree that file decoding never needs.
    import urllib3
    from influxdb_client import InfluxDBClient
    from influxdb_client.rest import ApiException

    source = _response_name(url)
    try:
        with InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout_s * 1000)) as client:
            response = client.query_api().query_raw(query, org=org)
            try:
                return decode_annotated_csv(response.stream(CHUNK_BYTES), source=source)
            finally:
                response.release_conn()
    except ApiException as exc:
        raise _http_error(url, exc) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ServiceError(
            f"cannot reach InfluxDB at {url}: {exc}",
            parameter="url",
            hint="check that the server is running and the URL (scheme, host, port) is right",
        ) from None


def _response_name(url: str) -> str:
    """How error messages name a query response: host and path (a URL's '//' would not survive Path)."""
    parts = urlsplit(url)
    return f"{parts.netloc or url}{parts.path.rstrip('/')}/api/v2/query"


def _http_error(url: str, exc: Any) -> ServiceError:
    message = exc.message.decode("utf-8", "replace") if isinstance(exc.message, bytes) else str(exc.message)
    if exc.status == 400:
        return FluxQueryError(message, path=_response_name(url))
    hints = {
        401: "check the API token",
        403: "give the token read access to the bucket the query reads",
        404: "check the organization name or ID",
    }
    return ServiceError(
        f"InfluxDB at {url} refused the query (HTTP {exc.status}: {message})",
        parameter="url",
        hint=hints.get(exc.status, "see the InfluxDB server log"),
    )


def read_file(path: str | Path, sensor_tag: str = "sensor_id") -> Iterator[Batch]:
    """The warehouse's entry point: a Flux CSV export (gzip or plain) as one canonical Batch;
    record rows that cannot be read are in its ``rejects`` with their line, the others kept."""
    path = Path(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    rejects: list[tuple[int | None, str, str]] = []
    try:
        with opener(path, "rb") as handle:
            tables = iter_tables(handle, source=str(path), rejects=rejects)
            decoded = to_readings(tables, sensor_tag=sensor_tag)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(
            f"the gzip stream is truncated or corrupt ({exc})",
            path=path,
            hint="export the query result again (`influx query --raw`)",
        ) from None
    yield Batch(
        readings=decoded.readings,
        text_readings=decoded.text_readings,
        rejects=rejects_frame(str(path), rejects),
    )
