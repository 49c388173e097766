"""InfluxDB line protocol (files, streams, gzip) to canonical readings, bad lines quarantined.

Syntax follows InfluxData's `line-protocol/v2` decoder (github.com/influxdata/line-protocol,
``lineprotocol/decoder.go``). Where it and InfluxDB's own ``models`` parser disagree (the 16
implementation-defined cases of ``shared/conformance/line_protocol_cases.json``) this module
follows line-protocol/v2 throughout:

- timestamps span the whole int64 range, -2**63 included (InfluxDB stops at +-(2**63 - 2));
- CRLF ends a line like LF; a bare CR outside a string field value is an error, in a comment too;
- control characters (0x00-0x1f, 0x7f) are refused in measurements, tag keys and values and field
  keys, NUL included; only spaces may indent a line, so a TAB before ``#`` is an error;
- in string field values ``\\n``, ``\\r``, ``\\t`` decode to LF, CR, TAB besides ``\\"`` and ``\\\\``
  (any other backslash is kept); a raw newline inside quotes belongs to the value;
- ``\\=`` in a measurement keeps its backslash (``=`` needs no escape there);
- tag keys named ``_measurement``, ``_field`` or ``time`` are ordinary tags (a 2.x server rule);
- a line that repeats a tag key is rejected, as line-protocol/v2's corpus harness does.

Beyond the conformance cases, by choice: a line that repeats a field key is rejected (keeping
either value would hide the other); hexadecimal floats, which Go's ParseFloat would take, are
refused; an entry (a line, or the lines a quoted string spans) longer than ``max_line_bytes`` is
rejected on its first line and reading resumes on the next one, which bounds memory.

A missing timestamp takes ``default_time_ns``: by default the ingest time (when parsing starts)
truncated to the precision (line-protocol/v2's ``Decoder.Time`` truncates it too). Readings are long and canonical
(ARCHITECTURE.md): float, int, uint and bool fields go to ``readings`` as float64 (true 1.0,
false 0.0; integers beyond 2**53 round to the nearest float64), string fields to
``text_readings``; ``series`` keeps each series' full tag set as JSON. Exact typed values come
from ``iter_entries`` / ``parse_line``.

Speed: lines without a quote (nearly all sensor data) go through a compiled pass
(``_lineproto.c``, built by ``pip install -e .``), which hands back every line it cannot vouch
for (escapes, control bytes, bad values, repeated field keys, out-of-range numbers); those, and
lines holding a quote, go through the byte-level parser, the reference for both. Without the
compiled module (a source tree never built), every line takes the byte-level parser: the same
answers, some sixty times slower (``COMPILED`` says which; CI requires the compiled one). The
column-wise Polars pass that preceded it is gone rather than kept as a fallback: it took 3.5
times as long (benchmarks/bench_line_protocol_parse.py, a million lines: 1.39 s against 0.40 s)
and was a second set of number rules to keep in step with the reference.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import re
import time as _time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import polars as pl

from observatory.errors import DataFormatError, ParameterError, did_you_mean
from observatory.sources import base

try:
    from observatory.sources import _lineproto
except ImportError:  # a source tree not built with `pip install -e .`: see the module docstring
    _lineproto = None
if getattr(_lineproto, "VERSION", None) != 2:  # a stale build of an older _lineproto.c
    _lineproto = None
COMPILED = _lineproto is not None  # the compiled pass is in use (tests require it under CI)

PRECISION_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}  # ns per timestamp unit
DEFAULT_BATCH_LINES = 100_000  # lines per batch when streaming
MAX_LINE_BYTES = 1 << 20  # longest entry accepted, bytes; sensor lines are ~100 bytes
CHUNK_BYTES = 1 << 20  # read size, bytes
# The stream is read into one buffer, of this size at first, doubled as windows need.
READ_BUFFER_BYTES = 1 << 16
Buffer = bytes | memoryview  # a window of the stream: bytes in memory, a view of the read buffer
GZIP_MAGIC = b"\x1f\x8b"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT64_MAX = 2**64 - 1
REJECT_TEXT_CHARS = 4096  # quarantined text kept per rejected entry, characters

FIELD_KINDS = ("float", "int", "uint", "bool", "string")
KIND = pl.Enum(FIELD_KINDS)
POINTS_SCHEMA = {
    "line_no": pl.Int64,
    "time": pl.Datetime("ns", "UTC"),
    "sensor_id": pl.String,
    "measurement": pl.String,
    "field": pl.String,
    "kind": KIND,
    "value": pl.Float64,
    "text": pl.String,
}
READINGS_SCHEMA = base.READINGS_SCHEMA
TEXT_READINGS_SCHEMA = base.TEXT_READINGS_SCHEMA
SERIES_SCHEMA = base.SERIES_SCHEMA
REJECTS_SCHEMA = {"line_no": pl.Int64, "reason": pl.String, "text": pl.String}


class Point(NamedTuple):
    """One decoded entry. ``fields`` maps a name to (kind, value), kind one of ``FIELD_KINDS``;
    int/uint values are exact Python ints. ``time_ns`` is None when the line has no timestamp."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, tuple[str, Any]]
    time_ns: int | None = None


class Reject(NamedTuple):
    """A rejected entry: its first line (1-based in the file or stream), why, and its text."""

    line_no: int
    reason: str
    text: str


def _first_reject_error(rejects: list[Reject], source: str | None) -> DataFormatError:
    first = rejects[0]
    more = f" ({len(rejects)} rejected entries in all)" if len(rejects) > 1 else ""
    return DataFormatError(
        f"{first.reason}{more}: {first.text[:120]!r}",
        path=source,
        line=first.line_no,
        hint="Fix or remove the line, or ingest with quarantine to keep the good lines.",
    )


@dataclass(frozen=True)
class Batch:
    """Canonical tables for a run of lines ``first_line``..``last_line`` of ``source``.

    ``readings``: time, sensor_id, measurement, field, value (float64); ``text_readings``: the
    same with a string value; ``series``: sensor_id, measurement, tags (JSON object, sorted
    keys); ``rejects``: line_no, reason, text.
    """

    readings: pl.DataFrame
    text_readings: pl.DataFrame
    series: pl.DataFrame
    rejects: pl.DataFrame
    first_line: int
    last_line: int
    source: str | None = None

    def raise_for_rejects(self) -> None:
        """Raise DataFormatError naming the source and the first rejected line, if any."""
        if self.rejects.height:
            rejects = [Reject(*row) for row in self.rejects.iter_rows()]
            raise _first_reject_error(rejects, self.source)


@dataclass(frozen=True)
class ParseResult:
    """Points of a run of lines, one row per field (``POINTS_SCHEMA``), and the rejected entries.

    ``points`` keeps each field's kind; ``value`` is float64 for numbers and bools, ``text`` the
    string value. ``lines`` is the number of physical lines read.
    """

    points: pl.DataFrame
    rejects: list[Reject]
    series: pl.DataFrame
    lines: int
    first_line: int = 1
    source: str | None = None

    @property
    def readings(self) -> pl.DataFrame:
        """Numeric and bool fields in the canonical long format (value float64)."""
        return self._split()[0]

    @property
    def text_readings(self) -> pl.DataFrame:
        """String fields in the canonical long format (value Utf8)."""
        return self._split()[1]

    def _split(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        strings = self.points.get_column("kind") == "string"
        if not strings.any():  # sensor data: no copy, no filter
            return self.points.select(list(READINGS_SCHEMA)), pl.DataFrame(schema=TEXT_READINGS_SCHEMA)
        text = self.points.filter(strings)
        return (
            self.points.filter(~strings).select(list(READINGS_SCHEMA)),
            text.select(*list(READINGS_SCHEMA)[:-1], pl.col("text").alias("value")),
        )

    def rejects_frame(self) -> pl.DataFrame:
        """The rejected entries as a DataFrame (line_no, reason, text)."""
        return pl.DataFrame(self.rejects, schema=REJECTS_SCHEMA, orient="row")

    def to_batch(self) -> Batch:
        """The canonical tables of this result."""
        return Batch(
            readings=self.readings,
            text_readings=self.text_readings,
            series=self.series,
            rejects=self.rejects_frame(),
            first_line=self.first_line,
            last_line=self.first_line + self.lines - 1,
            source=self.source,
        )

    def raise_for_rejects(self) -> None:
        """Raise DataFormatError naming the source and the first rejected line, if any."""
        if self.rejects:
            raise _first_reject_error(self.rejects, self.source)


# ---------------------------------------------------------------------------------------------
# The byte-level parser: the reference, used for every line the column-wise pass does not take.

_SPACE, _COMMA, _EQUALS, _QUOTE, _BACKSLASH, _HASH, _LF, _CR = b' ,="\\#\n\r'
_WHITESPACE = (_SPACE, _CR, _LF)
_BOOL_START = frozenset(b"tTfF")
_NUMBER_START = frozenset(b"-0123456789.")
_BOOLS = {
    **dict.fromkeys((b"t", b"T", b"true", b"True", b"TRUE"), True),
    **dict.fromkeys((b"f", b"F", b"false", b"False", b"FALSE"), False),
}
# Token scanners. A backslash pairs with the next byte only when that byte is escapable there;
# otherwise it is an ordinary byte, as in line-protocol/v2's takeEsc.
_MEASUREMENT_RE = re.compile(rb"(?:\\[ ,]|[^, \x00-\x1f\x7f])*")
_KEY_RE = re.compile(rb"(?:\\[,= ]|[^,= \x00-\x1f\x7f])*")  # tag keys, tag values, field keys
_STRING_RE = re.compile(rb'(?:\\[\\"nrt]|\\(?![\\"nrt])|[^"\\])*+')
_FIELD_VALUE_RE = re.compile(rb"[^, \r\n]*")
_TIME_RE = re.compile(rb"[-0-9]*")
_COMMENT_RE = re.compile(rb"[^\x00-\x1f\x7f]*")
_SPACES_RE = re.compile(rb" *")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_INT_RE = re.compile(rb"-?[0-9]+")
_UINT_RE = re.compile(rb"[0-9]+")
_FLOAT_RE = re.compile(rb"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UNESCAPE_MEASUREMENT = re.compile(rb"\\([ ,])")
_UNESCAPE_KEY = re.compile(rb"\\([,= ])")
_UNESCAPE_STRING = re.compile(rb'\\([\\"nrt])')
_STRING_ESCAPES = {b"\\": b"\\", b'"': b'"', b"n": b"\n", b"r": b"\r", b"t": b"\t"}


class _Syntax(Exception):
    """A syntax error at byte ``pos``; the entry is abandoned up to the end of that line."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


class _Truncated(Exception):
    """The entry runs past the bytes available (window end or end of the buffer); ``pos`` is
    where the unfinished token started."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


class _Failure(NamedTuple):
    pos: int
    message: str


_NEED_MORE = object()  # the entry's end lies beyond the data read so far
_TOO_LONG = object()  # the entry is longer than max_line_bytes


def _at(buf: bytes, pos: int, end: int) -> int:
    if pos >= end:
        raise _Truncated(pos)
    return buf[pos]


def _show(raw: bytes) -> str:
    """``raw`` quoted for a reject reason: control bytes and invalid UTF-8 as \\xNN escapes."""
    text = raw.decode("utf-8", "backslashreplace")
    return "'" + _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text) + "'"


def _decode(raw: bytes, pos: int, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Syntax(pos, f"invalid UTF-8 in {what} {_show(raw)}") from None


def _token(
    pattern: re.Pattern[bytes], unescape: re.Pattern[bytes], buf: bytes, pos: int, end: int
) -> tuple[bytes, int]:
    stop = pattern.match(buf, pos, end).end()
    raw = buf[pos:stop]
    if _BACKSLASH in raw:
        raw = unescape.sub(rb"\1", raw)
    return raw, stop


def _describe(byte: int) -> str:
    if byte in (_LF, _CR):
        return "end of line"
    return repr(chr(byte)) if byte < 0x80 else f"byte 0x{byte:02x}"


def _parse_tags(buf: bytes, pos: int, end: int) -> tuple[dict[str, str], int]:
    tags: dict[str, str] = {}
    while _at(buf, pos, end) == _COMMA:
        pos += 1
        if _at(buf, pos, end) in _WHITESPACE:
            raise _Syntax(pos, "expected a tag key after the comma")
        raw_key, stop = _token(_KEY_RE, _UNESCAPE_KEY, buf, pos, end)
        if not raw_key:
            raise _Syntax(pos, f"expected a tag key, found {_describe(buf[pos])}")
        key = _decode(raw_key, pos, "tag key")
        if _at(buf, stop, end) != _EQUALS:
            raise _Syntax(stop, f"expected '=' after tag key {key!r}, found {_describe(buf[stop])}")
        raw_value, after = _token(_KEY_RE, _UNESCAPE_KEY, buf, stop + 1, end)
        if not raw_value:
            raise _Syntax(stop + 1, f"missing value of tag {key!r}")
        if key in tags:
            raise _Syntax(pos, f"duplicate tag key {key!r}")
        tags[key] = _decode(raw_value, stop + 1, "tag value")
        pos = after
    return tags, pos


def _number(raw: bytes, pos: int) -> tuple[str, Any]:
    if raw.endswith(b"i"):
        if not _INT_RE.fullmatch(raw, 0, len(raw) - 1):
            raise _Syntax(pos, f"invalid integer {_show(raw)}")
        value = int(raw[:-1])
        if not INT64_MIN <= value <= INT64_MAX:
            raise _Syntax(pos, f"integer {_show(raw)} out of the int64 range")
        return "int", value
    if raw.endswith(b"u"):
        if not _UINT_RE.fullmatch(raw, 0, len(raw) - 1):
            raise _Syntax(pos, f"invalid unsigned integer {_show(raw)}")
        value = int(raw[:-1])
        if value > UINT64_MAX:
            raise _Syntax(pos, f"unsigned integer {_show(raw)} out of the uint64 range")
        return "uint", value
    if not _FLOAT_RE.fullmatch(raw):
        raise _Syntax(pos, f"invalid number {_show(raw)}")
    number = float(raw)
    if number in (float("inf"), float("-inf")):
        raise _Syntax(pos, f"float {_show(raw)} out of the float64 range")
    return "float", number


def _field_value(buf: bytes, pos: int, end: int) -> tuple[tuple[str, Any], int]:
    first = _at(buf, pos, end)
    if first == _QUOTE:
        stop = _STRING_RE.match(buf, pos + 1, end).end()
        if stop >= end:
            raise _Truncated(pos)
        raw = buf[pos + 1 : stop]
        if _BACKSLASH in raw:
            raw = _UNESCAPE_STRING.sub(lambda m: _STRING_ESCAPES[m.group(1)], raw)
        return ("string", _decode(raw, pos, "string field value")), stop + 1
    stop = _FIELD_VALUE_RE.match(buf, pos, end).end()
    raw = buf[pos:stop]
    if first in _BOOL_START:
        if raw not in _BOOLS:
            raise _Syntax(pos, f"invalid boolean {_show(raw)}")
        return ("bool", _BOOLS[raw]), stop
    if first in _NUMBER_START:
        return _number(raw, pos), stop
    if first in _WHITESPACE or first == _COMMA:
        raise _Syntax(pos, "missing field value")
    raise _Syntax(pos, f"field value {_show(raw)} has no recognised type (quote strings)")


def _parse_fields(buf: bytes, pos: int, end: int) -> tuple[dict[str, tuple[str, Any]], int]:
    fields: dict[str, tuple[str, Any]] = {}
    while True:
        raw_key, stop = _token(_KEY_RE, _UNESCAPE_KEY, buf, pos, end)
        if not raw_key:
            found = _at(buf, pos, end)
            raise _Syntax(
                pos,
                "missing fields" if found in _WHITESPACE else f"invalid field key start {_describe(found)}",
            )
        key = _decode(raw_key, pos, "field key")
        if _at(buf, stop, end) != _EQUALS:
            raise _Syntax(stop, f"expected '=' after field key {key!r}, found {_describe(buf[stop])}")
        value, pos = _field_value(buf, stop + 1, end)
        if key in fields:
            raise _Syntax(stop + 1, f"duplicate field key {key!r}")
        fields[key] = value
        after = _at(buf, pos, end)
        if after == _COMMA:
            pos += 1
        elif after in _WHITESPACE:
            return fields, pos
        else:
            raise _Syntax(pos, f"unexpected {_describe(after)} after the value of field {key!r}")


def _line_end(buf: bytes, pos: int, end: int) -> int | None:
    """Index of the LF ending the line at ``pos`` (LF or CRLF), None if something else is there."""
    byte = _at(buf, pos, end)
    if byte == _LF:
        return pos
    if byte == _CR and _at(buf, pos + 1, end) == _LF:
        return pos + 1
    return None


def _parse_time(buf: bytes, pos: int, end: int, unit_ns: int) -> tuple[int, int]:
    stop = _TIME_RE.match(buf, pos, end).end()
    raw = buf[pos:stop]
    if _at(buf, stop, end) not in _WHITESPACE:
        lf = buf.find(b"\n", pos, end)
        raise _Syntax(pos, f"invalid timestamp {_show(buf[pos : lf if lf >= 0 else end])}")
    lf = _line_end(buf, _SPACES_RE.match(buf, stop, end).end(), end)
    if lf is None:
        raise _Syntax(stop, "unexpected text after the timestamp")
    if not _INT_RE.fullmatch(raw):
        raise _Syntax(pos, f"invalid timestamp {_show(raw)}")
    value = int(raw)
    if not INT64_MIN <= value * unit_ns <= INT64_MAX:
        raise _Syntax(pos, f"timestamp {raw.decode()} out of range")
    return value * unit_ns, lf


def _entry(buf: bytes, pos: int, end: int, unit_ns: int) -> tuple[Point | None, int]:
    """Parse one entry starting at ``pos``; return it (None for a blank or comment line) and the
    index of the LF that ends it."""
    pos = _SPACES_RE.match(buf, pos, end).end()
    first = _at(buf, pos, end)
    if first == _HASH:
        lf = _line_end(buf, _COMMENT_RE.match(buf, pos, end).end(), end)
        if lf is None:
            raise _Syntax(pos, "invalid character in comment line")
        return None, lf
    lf = _line_end(buf, pos, end)
    if lf is not None:
        return None, lf
    raw, stop = _token(_MEASUREMENT_RE, _UNESCAPE_MEASUREMENT, buf, pos, end)
    if not raw:
        raise _Syntax(pos, f"invalid character {_describe(first)} at start of measurement name")
    measurement = _decode(raw, pos, "measurement")
    tags, pos = _parse_tags(buf, stop, end)
    after = _at(buf, pos, end)
    if after != _SPACE:
        raise _Syntax(pos, "missing fields" if after in _WHITESPACE else f"unexpected {_describe(after)}")
    fields, pos = _parse_fields(buf, _SPACES_RE.match(buf, pos, end).end(), end)
    pos = _SPACES_RE.match(buf, pos, end).end()
    lf = _line_end(buf, pos, end)
    if lf is not None:
        return Point(measurement, tags, fields, None), lf
    time_ns, lf = _parse_time(buf, pos, end, unit_ns)
    return Point(measurement, tags, fields, time_ns), lf


def _parse_entry(buf: bytes, start: int, unit_ns: int, limit: int, eof: bool) -> tuple[object, int]:
    """Parse the entry at line start ``start``: (outcome, index after it). The outcome is a Point,
    None (blank or comment), a _Failure, _TOO_LONG or _NEED_MORE."""
    window = min(len(buf), start + limit + 1)
    try:
        point, lf = _entry(buf, start, window, unit_ns)
        return point, lf + 1
    except _Syntax as err:
        lf = buf.find(b"\n", err.pos, window)
        if lf >= 0:
            return _Failure(err.pos, err.message), lf + 1
        failure: object = _Failure(err.pos, err.message)
    except _Truncated as err:
        failure = _Failure(err.pos, "unterminated string field value (no closing quote)")
    if window == start + limit + 1:  # limit+1 bytes read and the entry goes on
        first_lf = buf.find(b"\n", start)
        return _TOO_LONG, first_lf + 1 if first_lf >= 0 else len(buf)
    return (failure, len(buf)) if eof else (_NEED_MORE, start)


def _precision_ns(precision: str) -> int:
    try:
        return PRECISION_NS[precision]
    except (KeyError, TypeError):
        raise ParameterError(
            f"unknown timestamp precision {precision!r}",
            parameter="precision",
            hint=did_you_mean(str(precision), list(PRECISION_NS)),
        ) from None


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8
    return bytes(data)


def _check_limit(max_line_bytes: int) -> int:
    if not isinstance(max_line_bytes, int) or max_line_bytes < 1:
        raise ParameterError(
            f"max_line_bytes must be a positive integer, got {max_line_bytes!r}",
            parameter="max_line_bytes",
            hint=f"The default is {MAX_LINE_BYTES}.",
        )
    return max_line_bytes


def iter_entries(
    data: bytes | str, precision: str = "ns", first_line: int = 1, max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Point | Reject]:
    """Decode ``data`` entry by entry with the byte-level parser, in input order: a Point per
    entry (time_ns None when absent, in nanoseconds otherwise) or a Reject. Blank and comment
    lines yield nothing. Slow but exact: the reference ``parse_lines`` is checked against."""
    unit_ns = _precision_ns(precision)
    limit = _check_limit(max_line_bytes)
    buf = _as_bytes(data)
    if buf and not buf.endswith(b"\n"):
        buf += b"\n"
    pos, line_no = 0, first_line
    while pos < len(buf):
        outcome, after = _parse_entry(buf, pos, unit_ns, limit, eof=True)
        if outcome is _TOO_LONG:
            yield Reject(line_no, _too_long_reason(limit), _long_text(buf, pos, limit))
        elif isinstance(outcome, _Failure):
            yield Reject(line_no, _reason(buf, pos, outcome, line_no), _reject_text(buf, pos, after))
        elif outcome is not None:
            yield outcome
        line_no += buf.count(b"\n", pos, after)
        pos = after


def parse_line(text: str | bytes, precision: str = "ns") -> Point:
    """Decode a single entry exactly; raise DataFormatError with the reason if it is invalid."""
    outcomes = list(iter_entries(text, precision))
    if len(outcomes) != 1:
        raise DataFormatError(f"expected one entry, found {len(outcomes)}", line=1)
    if isinstance(outcomes[0], Reject):
        raise DataFormatError(outcomes[0].reason, line=outcomes[0].line_no)
    return outcomes[0]


def _reason(buf: bytes, start: int, failure: _Failure, line_no: int) -> str:
    pos = min(failure.pos, len(buf))
    line_start = buf.rfind(b"\n", start, pos) + 1 or start
    column = pos - max(line_start, start) + 1
    offset = buf.count(b"\n", start, pos)
    where = f"line {line_no + offset}, column {column}" if offset else f"column {column}"
    return f"{failure.message} ({where})"


def _too_long_reason(limit: int) -> str:
    return f"entry longer than {limit} bytes (max_line_bytes); an unclosed quote makes one"


def _long_text(buf: bytes, start: int, limit: int) -> str:
    """The quarantined text of an over-long entry: its first bytes, the same whether the entry
    was met in memory or while streaming."""
    raw = buf[start : start + min(limit, REJECT_TEXT_CHARS)]
    lf = raw.find(b"\n")
    return raw[: lf if lf >= 0 else len(raw)].decode("utf-8", "backslashreplace") + " [...]"


def _reject_text(buf: bytes, start: int, after: int) -> str:
    raw = buf[start:after]
    raw = raw[:-2] if raw.endswith(b"\r\n") else raw.removesuffix(b"\n")
    text = raw[: REJECT_TEXT_CHARS * 4].decode("utf-8", "backslashreplace")
    return text if len(text) <= REJECT_TEXT_CHARS else text[:REJECT_TEXT_CHARS] + " [...]"


# ---------------------------------------------------------------------------------------------
# Series keys: measurement and tags, identified by the tag named sensor_tag.


def escape_measurement(name: str) -> str:
    """``name`` escaped for the measurement position (comma and space)."""
    return name.replace(",", "\\,").replace(" ", "\\ ")


def escape_key(name: str) -> str:
    """A tag key, tag value or field key escaped (comma, equals sign and space)."""
    return name.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def series_key(measurement: str, tags: dict[str, str]) -> str:
    """The InfluxDB series key: escaped measurement then tags sorted by key, e.g. ``weather,site=x``."""
    pairs = "".join(f",{escape_key(k)}={escape_key(tags[k])}" for k in sorted(tags))
    return escape_measurement(measurement) + pairs


def _representable(text: str, what: str) -> str:
    if not text:
        raise ParameterError(f"empty {what}", parameter="point", hint="Line protocol has no empty names.")
    if _CONTROL_RE.search(text):
        raise ParameterError(f"{what} {text!r} holds a control character", parameter="point")
    if text.endswith("\\"):
        raise ParameterError(
            f"{what} {text!r} ends with a backslash, which line protocol cannot write", parameter="point"
        )
    return text


def _format_value(name: str, kind: str, value: Any) -> str:
    if kind == "string":
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind == "bool":
        return "true" if value else "false"
    if (
        kind == "float"
        and isinstance(value, (int, float))
        and abs(float(value)) != float("inf")
        and value == value
    ):
        return repr(float(value))
    if kind == "int" and isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return f"{value}i"
    if kind == "uint" and isinstance(value, int) and 0 <= value <= UINT64_MAX:
        return f"{value}u"
    raise ParameterError(f"field {name!r}: {kind} value {value!r} cannot be written", parameter="point")


def format_point(point: Point) -> str:
    """``point`` as one line of line protocol, timestamp in ns: the inverse of ``parse_line``.

    Raises ParameterError for what the syntax cannot carry: empty names, control characters,
    a trailing backslash, a measurement starting with ``#``, non-finite floats, out-of-range ints.
    """
    name = _representable(point.measurement, "measurement")
    if name.startswith("#"):
        raise ParameterError(f"measurement {name!r} would read as a comment", parameter="point")
    tags = "".join(
        f",{escape_key(_representable(k, 'tag key'))}={escape_key(_representable(v, 'tag value'))}"
        for k, v in point.tags.items()
    )
    if not point.fields:
        raise ParameterError("a point needs at least one field", parameter="point")
    fields = ",".join(
        f"{escape_key(_representable(k, 'field key'))}={_format_value(k, kind, value)}"
        for k, (kind, value) in point.fields.items()
    )
    stamp = "" if point.time_ns is None else f" {point.time_ns}"
    return f"{escape_measurement(name)}{tags} {fields}{stamp}"


@dataclass
class _SeriesTable:
    """Distinct series met so far: sensor_id, measurement, tags JSON, in first-seen order."""

    sensor_tag: str | None
    index: dict[tuple[str, str], int] = field(default_factory=dict)
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, measurement: str, tags: dict[str, str]) -> int:
        tags_json = json.dumps(tags, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        found = self.index.get((measurement, tags_json))
        if found is not None:
            return found
        sensor = tags.get(self.sensor_tag) if self.sensor_tag is not None else None
        sensor_id = sensor if sensor is not None else series_key(measurement, tags)
        self.index[(measurement, tags_json)] = len(self.rows)
        self.rows.append((sensor_id, measurement, tags_json))
        return len(self.rows) - 1

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.rows, schema=SERIES_SCHEMA, orient="row")


# ---------------------------------------------------------------------------------------------
# The compiled pass over plain lines (_lineproto.c): fields as columns, the series key of each
# line delimited there and checked here once per distinct key.


def _series_of(raw_key: bytes, series: _SeriesTable) -> int:
    """The series index of a plain line's measurement and tags (the bytes before its first
    space), or -1 when they are not valid: the byte-level parser then words the reason."""
    raw = raw_key + b" "
    try:
        raw_name, stop = _token(_MEASUREMENT_RE, _UNESCAPE_MEASUREMENT, raw, 0, len(raw))
        tags, stop = _parse_tags(raw, stop, len(raw))
        measurement = _decode(raw_name, 0, "measurement")
    except (_Syntax, _Truncated):
        return -1
    if not raw_name or stop != len(raw) - 1 or raw.startswith(b"#"):
        return -1
    return series.add(measurement, tags)


def _field_of(raw_name: bytes, names: dict[bytes, int], texts: list[str]) -> int:
    """The index of a field key in ``texts`` (added when new), -1 if it is not UTF-8."""
    found = names.get(raw_name)
    if found is None:
        try:
            texts.append(raw_name.decode("utf-8"))
        except UnicodeDecodeError:
            return -1
        found = names[raw_name] = len(texts) - 1
    return found


# ---------------------------------------------------------------------------------------------
# One window of the stream: lines starting before `complete`, with lookahead for quoted strings.


@dataclass
class _Pairs:
    """Distinct (series, field key) pairs of the numeric readings met so far, numbered in
    first-seen order: what a reading is of, coded for the warehouse (``base.CodedReadings``) so that it
    hashes no string per row."""

    index: dict[tuple[int, int], int] = field(default_factory=dict)
    keys: list[tuple[str, str, str]] = field(default_factory=list)  # sensor_id, measurement, field

    def codes(self, series: np.ndarray, field_id: np.ndarray, ctx: _Context) -> np.ndarray:
        """The pair index (int32) of every (series, field_id) row."""
        n_fields = max(len(ctx.field_names), 1)
        dense = series.astype(np.int64) * n_fields + field_id
        size = len(ctx.series.rows) * n_fields
        if size > max(4 * len(dense), 1 << 16):  # sparse: sort instead of a table
            distinct, inverse = np.unique(dense, return_inverse=True)
            return self._ids(distinct, n_fields, ctx)[inverse]
        present = np.flatnonzero(np.bincount(dense, minlength=size))
        lookup = np.zeros(size, np.int32)
        lookup[present] = self._ids(present, n_fields, ctx)
        return lookup[dense]

    def _ids(self, dense: np.ndarray, n_fields: int, ctx: _Context) -> np.ndarray:
        ids = []
        for code in dense.tolist():
            pair = divmod(code, n_fields)
            found = self.index.get(pair)
            if found is None:
                sensor_id, measurement, _ = ctx.series.rows[pair[0]]
                found = self.index[pair] = len(self.keys)
                self.keys.append((sensor_id, measurement, ctx.field_names[pair[1]]))
            ids.append(found)
        return np.array(ids, np.int32)


@dataclass
class _Context:
    unit_ns: int
    default_ns: int
    limit: int
    series: _SeriesTable
    fast_path: bool = True
    field_ids: dict[bytes, int] = field(default_factory=dict)  # UTF-8 of a field key -> index
    field_names: list[str] = field(default_factory=list)
    pairs: _Pairs = field(default_factory=lambda: _Pairs())
    key_series: dict[bytes, int] = field(default_factory=dict)  # a plain line's key -> series

    def field_id(self, name: str) -> int:
        return _field_of(name.encode("utf-8"), self.field_ids, self.field_names)

    def series_of(self, raw_key: bytes) -> int:
        found = self.key_series.get(raw_key)
        if found is None:
            found = self.key_series[raw_key] = _series_of(raw_key, self.series)
        return found


@dataclass
class _Collected:
    """Entries parsed by the byte-level parser, as columns, plus rejects."""

    line_no: list[int] = field(default_factory=list)
    time_ns: list[int] = field(default_factory=list)
    series: list[int] = field(default_factory=list)
    field_id: list[int] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)
    text: list[str | None] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)

    def record(
        self, line_no: int, buf: bytes, start: int, outcome: object, after: int, ctx: _Context
    ) -> None:
        """Keep the outcome of ``_parse_entry`` for the entry at ``start`` (line ``line_no``)."""
        if outcome is _TOO_LONG:
            self.rejects.append(
                Reject(line_no, _too_long_reason(ctx.limit), _long_text(buf, start, ctx.limit))
            )
        elif isinstance(outcome, _Failure):
            reason = _reason(buf, start, outcome, line_no)
            self.rejects.append(Reject(line_no, reason, _reject_text(buf, start, after)))
        elif isinstance(outcome, Point):
            self.add(line_no, outcome, ctx)

    def add(self, line_no: int, point: Point, ctx: _Context) -> None:
        series = ctx.series.add(point.measurement, point.tags)
        time_ns = point.time_ns if point.time_ns is not None else ctx.default_ns
        for name, (kind, value) in point.fields.items():
            self.line_no.append(line_no)
            self.time_ns.append(time_ns)
            self.series.append(series)
            self.field_id.append(ctx.field_id(name))
            self.name.append(name)
            self.kind.append(kind)
            self.value.append(None if kind == "string" else float(value))
            self.text.append(value if kind == "string" else None)

    def fields(self) -> _Fields:
        return _Fields(
            np.array(self.line_no, np.int64),
            np.array(self.time_ns, np.int64),
            np.array(self.series, np.int64),
            np.array(self.field_id, np.int64),
            np.array([FIELD_KINDS.index(kind) for kind in self.kind], np.uint8),
            np.array([np.nan if value is None else value for value in self.value], np.float64),
            self.text if any(text is not None for text in self.text) else None,
        )


def _special_lines(buf: Buffer, complete: int, lfs: np.ndarray) -> np.ndarray:
    """Indices of the lines that hold a quote (a string may span lines) or, when the window is
    not valid UTF-8, a non-ASCII byte: the byte-level parser reads those first. The compiled
    pass hands back by itself the lines with a backslash or a control byte."""
    view = np.frombuffer(buf, np.uint8, count=complete)
    quote, non_ascii = _lineproto.specials(buf, complete)  # no copy of the window
    found = []
    if quote:
        found.append(np.flatnonzero(view == _QUOTE))
    if non_ascii:
        try:
            bytes(buf[:complete]).decode("utf-8")
        except UnicodeDecodeError:
            found.append(np.flatnonzero(view >= 0x80))
    if not found:
        return np.empty(0, np.int64)
    return np.unique(np.searchsorted(lfs, np.concatenate(found)))


def _careful(
    buf: bytes,
    lines: np.ndarray,
    starts: np.ndarray,
    lfs: np.ndarray,
    first_line: int,
    eof: bool,
    ctx: _Context,
) -> tuple[_Collected, np.ndarray, int | None]:
    """Run the byte-level parser on the entries starting at ``lines`` (ascending). Returns what it
    found, the mask of lines consumed by its entries, and the line where it needs more data."""
    out = _Collected()
    consumed = np.zeros(len(starts), bool)
    resume = 0
    for line in lines.tolist():
        if line < resume:
            continue
        start = int(starts[line])
        outcome, after = _parse_entry(buf, start, ctx.unit_ns, ctx.limit, eof)
        if outcome is _NEED_MORE:
            return out, consumed, line
        out.record(first_line + line, buf, start, outcome, after, ctx)
        resume = int(np.searchsorted(lfs, after - 1)) + 1
        consumed[line:resume] = True
    return out, consumed, None


# row, key, time_ns, field, kind, value, retry as _lineproto.parse returns them
_COMPILED_DTYPES = (np.int64, np.int32, np.int64, np.int32, np.uint8, np.float64, np.int64)
_KINDS = pl.Series(FIELD_KINDS, dtype=KIND)
_STRING = FIELD_KINDS.index("string")


@dataclass(frozen=True)
class _Fields:
    """The fields of a window's entries as columns, one row per field, in line order: ``series``
    and ``field_id`` index ``ctx.series`` and ``ctx.field_names``, ``kind`` FIELD_KINDS; ``value``
    is NaN for a string, whose value is in ``text`` (None when the window holds no string)."""

    line_no: np.ndarray  # int64
    time_ns: np.ndarray  # int64
    series: np.ndarray  # int64
    field_id: np.ndarray  # int64
    kind: np.ndarray  # uint8
    value: np.ndarray  # float64
    text: list[str | None] | None = None

    @classmethod
    def empty(cls) -> _Fields:
        return _Collected().fields()

    def __len__(self) -> int:
        return len(self.line_no)

    def then(self, other: _Fields) -> _Fields:
        """Both windows' rows, in line order (``other``: the byte-level parser's; stable)."""
        if not len(other):
            return self
        columns = [np.concatenate([a, b]) for a, b in zip(self._arrays(), other._arrays(), strict=True)]
        text = None
        if self.text is not None or other.text is not None:
            text = (self.text or [None] * len(self)) + (other.text or [None] * len(other))
        if not np.all(columns[0][1:] >= columns[0][:-1]):  # slow: quoted lines, then retried ones
            order = np.argsort(columns[0], kind="stable")
            columns = [column[order] for column in columns]
            text = [text[i] for i in order.tolist()] if text is not None else None
        return _Fields(*columns, text)

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.line_no, self.time_ns, self.series, self.field_id, self.kind, self.value

    def numeric(self) -> np.ndarray | None:
        """Mask of the rows that are not strings (None: all of them)."""
        return None if self.text is None else self.kind != _STRING


def _compiled_fields(
    buf: Buffer,
    starts: np.ndarray,
    lfs: np.ndarray,
    rows: np.ndarray,
    first_line: int,
    ctx: _Context,
    slow: _Collected,
) -> _Fields:
    """Fields of the plain lines ``rows`` from the compiled pass; the lines it hands back are
    parsed one by one into ``slow``."""
    if not len(rows):
        return _Fields.empty()
    out = _lineproto.parse(buf, starts[rows], lfs[rows], ctx.unit_ns, ctx.default_ns)
    row, key, time_ns, field_at, kind, value, retry = (
        np.frombuffer(column, dtype) for column, dtype in zip(out[:7], _COMPILED_DTYPES, strict=True)
    )
    series = np.array([ctx.series_of(raw) for raw in out[7]], np.int64)[key]
    names = [_field_of(raw, ctx.field_ids, ctx.field_names) for raw in out[8]]
    field_id = np.array(names, np.int64)[field_at]
    refused = (series < 0) | (field_id < 0)
    if refused.any():  # a key or field name the byte-level parser must word the reason for
        retry = np.union1d(retry, row[refused])
        keep = ~np.isin(row, retry)
        row, series, field_id, time_ns, kind, value = (
            column[keep] for column in (row, series, field_id, time_ns, kind, value)
        )
    if len(retry):
        buf = _exact(buf)
    for line in rows[retry].tolist():
        start = int(starts[line])
        slow.record(
            first_line + line, buf, start, *_parse_entry(buf, start, ctx.unit_ns, ctx.limit, True), ctx
        )
    return _Fields((rows + first_line)[row], time_ns, series, field_id, kind, value)


@dataclass(frozen=True)
class _Window:
    """What one window of the stream gave: its fields, its rejected entries, the physical lines
    it spans from ``first_line``."""

    fields: _Fields
    rejects: list[Reject]
    lines: int
    first_line: int
    source: str | None = None

    def _series(self, ctx: _Context, in_order: bool = True) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Every series known so far, and those of this window: in order of appearance, or
        (``in_order=False``, a counting pass instead of a sort) in the order first met in the stream."""
        known = ctx.series.frame()
        if in_order:
            distinct, first = np.unique(self.fields.series, return_index=True)
            distinct = distinct[np.argsort(first)]
        else:
            distinct = np.flatnonzero(np.bincount(self.fields.series, minlength=known.height))
        return known, known.select(pl.all().gather(pl.Series(distinct, dtype=pl.UInt32)))

    def _named(
        self, ctx: _Context, known: pl.DataFrame, rows: np.ndarray | None = None
    ) -> dict[str, pl.Series]:
        """time, sensor_id, measurement and field of the fields ``rows`` (None: all of them)."""
        fields = self.fields
        series, field_id, time_ns = (
            (fields.series, fields.field_id, fields.time_ns)
            if rows is None
            else (fields.series[rows], fields.field_id[rows], fields.time_ns[rows])
        )
        at = pl.Series(series, dtype=pl.UInt32)
        return {
            "time": pl.Series(time_ns, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC")),
            "sensor_id": known.get_column("sensor_id").gather(at),
            "measurement": known.get_column("measurement").gather(at),
            "field": pl.Series(ctx.field_names, dtype=pl.String).gather(field_id),
        }

    def result(self, ctx: _Context) -> ParseResult:
        """The window as points (``POINTS_SCHEMA``, in line order)."""
        fields = self.fields
        known, series = self._series(ctx)
        numeric = fields.numeric()
        value = pl.Series(fields.value, dtype=pl.Float64)
        points = pl.DataFrame(
            {
                "line_no": fields.line_no,
                **self._named(ctx, known),
                "kind": _KINDS.gather(fields.kind),
                "value": value if numeric is None else value.scatter(np.flatnonzero(~numeric), None),
                "text": pl.Series(
                    fields.text if fields.text is not None else [None] * len(fields), dtype=pl.String
                ),
            },
            schema=POINTS_SCHEMA,
        )
        return ParseResult(points, sorted(self.rejects), series, self.lines, self.first_line, self.source)

    def batch(self, ctx: _Context) -> base.Batch:
        """The window as the warehouse's Batch: numeric readings coded (no string built per
        row), string fields as text readings, rejects with the source and line."""
        fields = self.fields
        numeric = fields.numeric()
        pick = (lambda column: column) if numeric is None else (lambda column: column[numeric])
        codes = ctx.pairs.codes(pick(fields.series), pick(fields.field_id), ctx)
        coded = base.CodedReadings(codes, tuple(ctx.pairs.keys), pick(fields.time_ns), pick(fields.value))
        known, series = self._series(ctx, in_order=False)
        text_readings = base.empty(TEXT_READINGS_SCHEMA)
        if numeric is not None and not numeric.all():
            strings = np.flatnonzero(~numeric)
            text_readings = pl.DataFrame(
                {**self._named(ctx, known, strings), "value": [fields.text[i] for i in strings.tolist()]},
                schema=TEXT_READINGS_SCHEMA,
            )
        return base.Batch(
            coded=coded,
            text_readings=text_readings,
            series=series,
            rejects=base.rejects_frame(
                self.source, [(r.line_no, r.reason, r.text) for r in sorted(self.rejects)]
            ),
        )


def _exact(buf: Buffer) -> bytes:
    """The window as bytes, for the byte-level parser (a copy, made only when it has lines to read)."""
    return buf if isinstance(buf, bytes) else bytes(buf)


def _process(
    buf: Buffer, lfs: np.ndarray, complete: int, first_line: int, eof: bool, ctx: _Context
) -> tuple[_Window, int]:
    """Parse the entries starting in ``buf[:complete]`` (whole lines; what follows is lookahead
    for quoted strings spanning lines). Returns the window and the bytes consumed, which is 0
    when the first entry needs more data than ``buf`` holds."""
    n_lines = int(np.searchsorted(lfs, complete))  # lines starting before `complete`
    starts = np.empty(len(lfs), np.int64)
    starts[:1] = 0
    starts[1:] = lfs[:-1] + 1
    too_long = np.flatnonzero(lfs[:n_lines] - starts[:n_lines] > ctx.limit)
    special = _special_lines(buf, complete, lfs) if ctx.fast_path else np.arange(n_lines)
    careful_lines = np.union1d(special[special < n_lines], too_long)
    if len(careful_lines):  # the byte-level parser reads bytes: the window copied once, here
        buf = _exact(buf)
    slow, consumed, stop = _careful(buf, careful_lines, starts, lfs, first_line, eof, ctx)
    end_line = n_lines if stop is None else stop
    plain = np.zeros(len(starts), bool)
    plain[:end_line] = True
    plain[careful_lines] = False
    rows = np.flatnonzero(plain & ~consumed)
    fast = _compiled_fields(buf, starts, lfs, rows, first_line, ctx, slow)
    used = np.flatnonzero(consumed)
    lines = max(end_line, int(used[-1]) + 1 if len(used) else 0)
    window = _Window(fast.then(slow.fields()), slow.rejects, lines, first_line)
    return window, int(lfs[lines - 1]) + 1 if lines else 0


# ---------------------------------------------------------------------------------------------
# Streams: chunks of whole lines, gzip detected by its magic bytes.


class _Prefixed(io.RawIOBase):
    """A binary stream with some already-read bytes put back in front."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _binary(stream: IO[bytes], source: str) -> IO[bytes]:
    """``stream`` itself, or a gunzipping view of it when it starts with the gzip magic bytes."""
    head = stream.read(len(GZIP_MAGIC))
    while isinstance(head, bytes) and 0 < len(head) < len(GZIP_MAGIC):  # a pipe may give one byte
        more = stream.read(len(GZIP_MAGIC) - len(head))
        if not more:
            break
        head += more
    if isinstance(head, str):
        raise ParameterError(
            f"{source} is open in text mode", parameter="source", hint="Open the file with mode 'rb'."
        )
    if getattr(stream, "seekable", lambda: False)():  # put the sniffed bytes back
        stream.seek(-len(head), io.SEEK_CUR)
        rest = stream
    else:
        rest = io.BufferedReader(_Prefixed(head, stream), CHUNK_BYTES)
    return gzip.GzipFile(fileobj=rest, mode="rb") if head == GZIP_MAGIC else rest


def _line_ends(data: Buffer) -> np.ndarray:
    """The index of every LF in ``data``."""
    if COMPILED:
        return np.frombuffer(_lineproto.line_ends(data), np.int64)
    return np.flatnonzero(np.frombuffer(data, np.uint8) == _LF)


class _Reader:
    """Whole-line windows of a binary stream, holding at most a batch plus one entry in memory.

    The stream is read into one buffer, reused from window to window (the unread tail moved to
    its front when room is needed): a window is a view of it, not a new bytes object joined from
    the reads, whose fresh memory the system must map and zero page by page (with the store's
    threads faulting too, that took a fifth of the reader's time)."""

    def __init__(self, stream: IO[bytes], source: str, batch_lines: int, limit: int) -> None:
        self.stream, self.source, self.batch_lines, self.limit = stream, source, batch_lines, limit
        self.buf = bytearray(READ_BUFFER_BYTES)
        self.start = self.end = 0  # the bytes held: buf[start:end]
        self.lfs = np.empty(0, np.int64)  # the positions of their LFs, from start, found once per byte
        self.eof = False
        self._readinto = getattr(stream, "readinto", None)

    @property
    def carry(self) -> memoryview:
        """The bytes held (read, not consumed yet)."""
        return memoryview(self.buf)[self.start : self.end]

    def _room(self, size: int) -> None:
        """Make room for ``size`` more bytes after those held: move them to the front of the
        buffer when they fit before where they are (one copy, no overlap), else into a buffer
        twice as large."""
        if len(self.buf) - self.end >= size:
            return
        held = self.end - self.start
        if held + size <= len(self.buf) and held <= self.start:
            self._to_front()
        else:
            grown = bytearray(max(2 * len(self.buf), held + size))
            np.frombuffer(grown, np.uint8, held)[:] = np.frombuffer(self.buf, np.uint8, held, self.start)
            self.buf = grown
            self.start, self.end = 0, held

    def _to_front(self) -> None:
        """Move the bytes held to the front of the buffer (they must fit before where they are).
        One memmove through NumPy: a bytearray's slice assignment from a view of itself copies
        twice."""
        held = self.end - self.start
        view = np.frombuffer(self.buf, np.uint8)
        view[:held] = view[self.start : self.end]
        self.start, self.end = 0, held

    def read(self) -> int:
        """Read up to CHUNK_BYTES after the bytes held; how many, 0 at the end of the stream."""
        self._room(CHUNK_BYTES)
        target = memoryview(self.buf)[self.end : self.end + CHUNK_BYTES]
        try:
            if self._readinto is not None:
                n = self._readinto(target) or 0
            else:
                data = self.stream.read(CHUNK_BYTES)
                n = len(data)
                target[:n] = data
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(
                f"cannot read the stream: {exc}", path=self.source, hint="Check the file is complete (gzip?)."
            ) from exc
        self.end += n
        return n

    def fill(self, extra: bool) -> None:
        """Read until the carry holds batch_lines whole lines (one more chunk if ``extra``),
        an over-long line or the end of the stream."""
        # What is held past the last batch (at most a chunk) goes to the front now, while it is
        # small, not when the reads reach the buffer's end with most of a batch held: the
        # 10 M-line benchmark file moved 715 MiB, now ~50.
        if self.start and self.end - self.start <= self.start:
            self._to_front()
        ends = [self.lfs]
        lines = len(self.lfs)
        tail = self.end - self.start - (int(self.lfs[-1]) + 1 if lines else 0)
        while not self.eof and (lines < self.batch_lines or extra) and tail <= self.limit + 1:
            n = self.read()
            if not n:
                self.eof = True
                break
            piece = self.end - n - self.start  # where the new bytes start, from start
            found = _line_ends(memoryview(self.buf)[self.end - n : self.end])
            ends.append(found + piece)
            extra = False
            lines += len(found)
            tail = n - int(found[-1]) - 1 if len(found) else tail + n
        if self.eof and self.end > self.start and self.buf[self.end - 1] != _LF:
            self._room(1)  # the last line needs no newline; the parser wants one
            self.buf[self.end] = _LF
            ends.append(np.array([self.end - self.start], np.int64))
            self.end += 1
        self.lfs = np.concatenate(ends) if len(ends) > 1 else self.lfs

    def window(self) -> tuple[memoryview, np.ndarray, int]:
        """The buffered bytes, the positions of their LFs, and where the batch's lines end."""
        data, lfs = self.carry, self.lfs
        if len(lfs) > self.batch_lines:
            return data, lfs, int(lfs[self.batch_lines - 1]) + 1
        return data, lfs, int(lfs[-1]) + 1 if len(lfs) else 0

    def skip_line(self) -> str:
        """Drop the over-long line at the head of the carry; return its quarantined text."""
        head = _long_text(bytes(self.buf[self.start : self.start + REJECT_TEXT_CHARS]), 0, self.limit)
        lf = self.buf.find(b"\n", self.start, self.end)
        while lf < 0 and not self.eof:
            self.start = self.end  # what is held is all of that line
            if not self.read():
                self.eof = True
                break
            lf = self.buf.find(b"\n", self.start, self.end)
        self.start = lf + 1 if lf >= 0 else self.end
        self.lfs = _line_ends(self.carry)
        return head

    def consume(self, consumed: int) -> None:
        """Drop the first ``consumed`` bytes of the carry (whole lines)."""
        self.start += consumed
        self.lfs = self.lfs[np.searchsorted(self.lfs, consumed) :] - consumed


def _default_time(default_time_ns: int | None, unit_ns: int) -> int:
    if default_time_ns is None:
        now = _time.time_ns()
        return now - now % unit_ns
    if not isinstance(default_time_ns, int) or not INT64_MIN <= default_time_ns <= INT64_MAX:
        raise ParameterError(
            f"default_time_ns must be an int64 count of nanoseconds, got {default_time_ns!r}",
            parameter="default_time_ns",
            hint="Pass e.g. time.time_ns(), or None for the ingest time.",
        )
    return default_time_ns


def _parse_stream(
    stream: IO[bytes], source: str, ctx: _Context, batch_lines: int, first_line: int
) -> Iterator[_Window]:
    reader = _Reader(stream, source, batch_lines, ctx.limit)
    line_no, extra = first_line, False
    while True:
        reader.fill(extra)
        if not reader.carry:
            return
        data, lfs, complete = reader.window()
        if complete == 0:  # an over-long line with no end in sight
            text = reader.skip_line()
            reject = Reject(line_no, _too_long_reason(ctx.limit), text)
            yield _Window(_Fields.empty(), [reject], 1, line_no, source)
            line_no += 1
            continue
        window, consumed = _process(data, lfs, complete, line_no, reader.eof, ctx)
        extra = consumed == 0
        if extra:
            continue
        reader.consume(consumed)
        line_no += window.lines
        yield dataclasses.replace(window, source=source)


def _check_batch_lines(batch_lines: int) -> int:
    if not isinstance(batch_lines, int) or batch_lines < 1:
        raise ParameterError(
            f"batch_lines must be a positive integer, got {batch_lines!r}",
            parameter="batch_lines",
            hint=f"The default is {DEFAULT_BATCH_LINES}.",
        )
    return batch_lines


def _context(
    precision: str, default_time_ns: int | None, sensor_tag: str | None, max_line_bytes: int, fast_path: bool
) -> _Context:
    unit_ns = _precision_ns(precision)
    return _Context(
        unit_ns=unit_ns,
        default_ns=_default_time(default_time_ns, unit_ns),
        limit=_check_limit(max_line_bytes),
        series=_SeriesTable(sensor_tag),
        fast_path=fast_path and COMPILED,
    )


def _concat(results: list[ParseResult], first_line: int, source: str | None) -> ParseResult:
    if not results:
        empty = pl.DataFrame(schema=POINTS_SCHEMA)
        return ParseResult(empty, [], pl.DataFrame(schema=SERIES_SCHEMA), 0, first_line, source)
    return ParseResult(
        points=pl.concat([r.points for r in results]),
        rejects=[reject for r in results for reject in r.rejects],
        series=pl.concat([r.series for r in results]).unique(maintain_order=True),
        lines=sum(r.lines for r in results),
        first_line=first_line,
        source=source,
    )


def parse_lines(
    data: bytes | str,
    precision: str = "ns",
    first_line: int = 1,
    default_time_ns: int | None = None,
    sensor_tag: str | None = "sensor_id",
    max_line_bytes: int = MAX_LINE_BYTES,
    *,
    fast_path: bool = True,
) -> ParseResult:
    """Parse line protocol held in memory (gzip bytes included) into one ParseResult.

    ``precision`` is the unit of the timestamps written (ns, us, ms, s); times come out in ns.
    Lines are numbered from ``first_line``. Entries without a timestamp take ``default_time_ns``
    (ns since the epoch; None: the time of this call, truncated to ``precision``). ``sensor_tag``
    names the tag giving ``sensor_id`` (None, or the tag missing: the series key
    ``measurement,tag=value,...``). ``fast_path=False`` uses the byte-level parser for every line
    (slow; it exists to cross-check the two).
    """
    ctx = _context(precision, default_time_ns, sensor_tag, max_line_bytes, fast_path)
    stream = _binary(io.BytesIO(_as_bytes(data)), "<data>")
    windows = _parse_stream(stream, "<data>", ctx, DEFAULT_BATCH_LINES, first_line)
    return _concat([dataclasses.replace(w, source=None).result(ctx) for w in windows], first_line, None)


def read_line_protocol(
    source: str | Path | IO[bytes],
    precision: str = "ns",
    batch_lines: int = DEFAULT_BATCH_LINES,
    sensor_tag: str | None = "sensor_id",
    default_time_ns: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[Batch]:
    """Stream a line-protocol file (path or binary file object; gzip detected by its magic bytes)
    as Batches of canonical tables, about ``batch_lines`` lines each, in bounded memory.

    Bad entries land in each batch's ``rejects`` with their line number; the good lines beside
    them are kept. Parameters as for ``parse_lines``; a missing timestamp takes the time the
    reading started (or ``default_time_ns``), the same for every batch.
    """
    ctx = _context(precision, default_time_ns, sensor_tag, max_line_bytes, True)
    return (
        window.result(ctx).to_batch() for window in _windows(source, ctx, _check_batch_lines(batch_lines))
    )


def _windows(source: str | Path | IO[bytes], ctx: _Context, batch_lines: int) -> Iterator[_Window]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            handle: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise DataFormatError(f"cannot open: {exc.strerror}", path=path, hint="Check the path.") from exc
        name = str(path)
    else:
        handle, name = source, getattr(source, "name", None) or "<stream>"
    try:
        yield from _parse_stream(_binary(handle, name), name, ctx, batch_lines, 1)
    finally:
        if isinstance(source, (str, Path)):
            handle.close()


def read_file(
    path: str | Path, precision: str = "ns", sensor_tag: str | None = "sensor_id"
) -> Iterator[base.Batch]:
    """The warehouse's entry point: a line-protocol file (plain or gzip) as canonical Batches
    (numeric readings coded: ``Batch.coded``), every rejected line in ``rejects`` with the file
    and its line number."""
    ctx = _context(precision, None, sensor_tag, MAX_LINE_BYTES, True)
    for window in _windows(path, ctx, DEFAULT_BATCH_LINES):
        yield window.batch(ctx)
