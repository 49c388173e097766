"""Live InfluxDB 1.x over its HTTP API: write line protocol, query InfluxQL into canonical readings.

`Influx1Client.write_lines` posts line protocol to ``/write`` in batches; `Influx1Client.query`
streams ``/query`` with ``chunked=true`` (one JSON object per chunk, newline-separated) and melts
every series into the canonical long readings; `Influx1Client.read_series` builds the InfluxQL
itself, quoting every name and value. `to_line_protocol` serialises canonical readings back.

Tested against Debian's influxd 1.6.7 (tests/sources/test_influxdb1.py). What that server does:
a batch with a bad line is a *partial* write (HTTP 400 ``partial write: ... dropped=N``; the
good lines of the batch are kept); a type conflict names the field and measurement but not the
line, so the client finds the first line that carries them; an unknown database on ``/query``
is HTTP 200 with an error in the results; ``GROUP BY *`` reports an absent tag as ``""``.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
import polars as pl
import requests

from observatory.config import Settings, settings
from observatory.errors import ParameterError, ServiceError, did_you_mean
from observatory.sources.base import READINGS_SCHEMA, TEXT_READINGS_SCHEMA, UTC_NS, Batch, empty

TIMEOUT_S = 30.0  # default HTTP timeout (connect and each read), seconds
BATCH_LINES = 5000  # lines per /write request (InfluxData recommends 5,000-10,000)
CHUNK_SIZE = 10_000  # points per chunk of a chunked /query answer
BAD_LINE_CHARS = 200  # how much of a refused line an error message quotes

# Unit of a /write precision or a /query epoch -> nanoseconds per unit.
NS_PER_UNIT = {
    "ns": 1,
    "n": 1,
    "u": 1_000,
    "µ": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
SENSOR_TAG = "sensor_id"

_TYPE_CONFLICT = re.compile(
    r'input field "((?:[^"\\]|\\.)*)" on measurement "((?:[^"\\]|\\.)*)" is type (\w+)'
)
_UNPARSABLE = re.compile(r"unable to parse '(.*?)': ", re.DOTALL)
_DROPPED = re.compile(r"dropped=(\d+)")


# -- InfluxQL quoting -----------------------------------------------------------------------------
# InfluxQL's scanner reads `\\`, `\"`, `\'` and `\n` inside quotes; any other escape is an error.
def quote_identifier(name: str) -> str:
    """``name`` as a double-quoted InfluxQL identifier (measurement, field, tag key, database)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_string(text: str) -> str:
    """``text`` as a single-quoted InfluxQL string literal (tag values in WHERE)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def time_ns(value: object, parameter: str) -> int:
    """A point in time as ns since the epoch: int (ns), or a timezone-aware datetime / ISO 8601 text."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{value!r} is not a time", parameter=parameter) from exc
    if stamp is pd.NaT or stamp.tzinfo is None:
        raise ParameterError(
            f"{value!r} has no time zone",
            parameter=parameter,
            hint="Give an aware time (e.g. '2024-09-01T00:00:00Z'); readings are stored in UTC.",
        )
    return int(stamp.value)


# -- the client -----------------------------------------------------------------------------------
def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _check_unit(unit: str, parameter: str) -> str:
    if unit not in NS_PER_UNIT:
        raise ParameterError(
            f"unknown time unit {unit!r}", parameter=parameter, hint=did_you_mean(unit, NS_PER_UNIT)
        )
    return unit


class Influx1Client:
    """An InfluxDB 1.x server at ``url``, database ``database`` (HTTP basic auth when a user is given)."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = TIMEOUT_S,
        gzip_writes: bool = False,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ParameterError(f"{url!r} is not an http(s) URL with a host", parameter="url")
        if not database:
            raise ParameterError("no database named", parameter="database")
        self.url = url.rstrip("/")
        self.database = database
        self.timeout_s = timeout_s
        self.gzip_writes = gzip_writes
        self._session = requests.Session()
        if username is not None:
            self._session.auth = (username, password or "")

    @classmethod
    def from_settings(cls, config: Settings | None = None, **kwargs: Any) -> Influx1Client:
        """The client of the settings' ``influx_url`` and ``influx_db``."""
        config = config or settings()
        return cls(config.influx_url, config.influx_db, **kwargs)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Influx1Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Influx1Client({_redact_url(self.url)!r}, {self.database!r})"

    # -- HTTP ------------------------------------------------------------------------------------
    def _post(self, path: str, **kwargs: Any) -> requests.Response:
        where = f"InfluxDB at {_redact_url(self.url)}"
        try:
            response = self._session.post(f"{self.url}{path}", timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise ServiceError(
                f"{where} cannot be reached: {type(exc).__name__}",
                parameter="url",
                hint="Check that influxd runs and the URL (setting OBSERVATORY_INFLUX_URL) is right.",
            ) from exc
        if response.status_code in (401, 403):
            response.close()
            raise ServiceError(
                f"{where} refused the credentials: {_error_text(response)}",
                parameter="username",
                hint="Give a user with access to the database.",
            )
        if response.status_code == 404 and path == "/write":
            response.close()
            raise ServiceError(
                f"{where}: {_error_text(response)}",
                parameter="database",
                hint="Create it first (Influx1Client.create_database()).",
            )
        if response.status_code >= 500 or response.status_code == 413:
            response.close()
            raise ServiceError(
                f"{where} answered HTTP {response.status_code}: {_error_text(response)}",
                hint="Lower batch_lines if the body was too large; otherwise see the server's log.",
            )
        return response

    def execute(self, influxql: str) -> list[dict[str, Any]]:
        """Run statements that return no readings (CREATE, DROP, SHOW...) and return their results."""
        response = self._post("/query", params={"db": self.database}, data={"q": influxql})
        with response:
            answer = _json_answer(response, self.url, influxql)
        return _checked_results(answer, influxql)

    def create_database(self) -> None:
        """Create the client's database (nothing happens when it exists)."""
        self.execute(f"CREATE DATABASE {quote_identifier(self.database)}")

    # -- writing ---------------------------------------------------------------------------------
    def write_lines(
        self, lines: Iterable[str] | str, precision: str = "ns", batch_lines: int = BATCH_LINES
    ) -> int:
        """Post line protocol in batches of ``batch_lines``; return the number of lines sent.

        A ``str`` is split at newlines (pass an iterable of lines when string fields hold
        newlines). On HTTP 400 the ServiceError carries InfluxDB's words and the number (``line``,
        1-based over ``lines``) and text of the first refused line. Batches before it are written,
        and InfluxDB keeps the good lines of the failing batch (a "partial write"); later batches
        are not sent.
        """
        _check_unit(precision, "precision")
        if batch_lines < 1:
            raise ParameterError(
                f"batch_lines={batch_lines}", parameter="batch_lines", hint="Give at least 1."
            )
        if isinstance(lines, str):
            lines = lines.split("\n")
        sent = 0
        batch: list[str] = []
        numbers: list[int] = []  # 1-based position in ``lines`` of each line of the batch
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            batch.append(line)
            numbers.append(number)
            if len(batch) >= batch_lines:
                sent += self._write_batch(batch, numbers, precision)
                batch, numbers = [], []
        if batch:
            sent += self._write_batch(batch, numbers, precision)
        return sent

    def _write_batch(self, batch: list[str], numbers: list[int], precision: str) -> int:
        body = "\n".join(batch).encode("utf-8")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip_writes:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        params = {"db": self.database, "precision": precision}
        with self._post("/write", params=params, data=body, headers=headers) as response:
            if response.status_code == 204:
                return len(batch)
            message = _error_text(response)
        index = _first_bad_line(message, batch)
        where = f"InfluxDB at {_redact_url(self.url)}, database {self.database!r}"
        text = f"{where} refused line protocol: {message}"
        if index is not None:
            text += f"; first refused line: {batch[index][:BAD_LINE_CHARS]!r}"
        dropped = _DROPPED.search(message)
        kept = (
            f"InfluxDB kept the other lines of this batch (dropped={dropped.group(1)})"
            if message.startswith("partial write") and dropped
            else "nothing of this batch was written"
        )
        hint = f"Lines before {numbers[0]} were written; {kept}. Fix the line and write again."
        raise ServiceError(text, line=None if index is None else numbers[index], hint=hint)

    # -- querying --------------------------------------------------------------------------------
    def iter_chunks(
        self, influxql: str, chunked: bool = True, chunk_size: int = CHUNK_SIZE, epoch: str = "ns"
    ) -> Iterator[dict[str, Any]]:
        """The JSON objects of a ``/query`` answer, one per chunk as they arrive; errors raise."""
        _check_unit(epoch, "epoch")
        if chunk_size < 1:
            raise ParameterError(f"chunk_size={chunk_size}", parameter="chunk_size", hint="Give at least 1.")
        params: dict[str, Any] = {"db": self.database, "epoch": epoch}
        if chunked:
            params |= {"chunked": "true", "chunk_size": str(chunk_size)}
        response = self._post("/query", params=params, data={"q": influxql}, stream=True)
        with response:
            if response.status_code != 200:
                raise _query_error(_error_text(response), influxql)
            try:
                for raw in response.iter_lines(chunk_size=1 << 16):
                    if raw.strip():
                        answer = json.loads(raw)
                        _checked_results(answer, influxql)
                        yield answer
            except requests.RequestException as exc:
                raise ServiceError(
                    f"InfluxDB at {_redact_url(self.url)} broke off the answer: {type(exc).__name__}",
                    hint="Retry; see the server's log if it keeps happening.",
                ) from exc
            except json.JSONDecodeError as exc:
                raise ServiceError(
                    f"InfluxDB at {_redact_url(self.url)} sent a chunk that is not JSON: {exc}"
                ) from exc

    def query(
        self,
        influxql: str,
        chunked: bool = True,
        chunk_size: int = CHUNK_SIZE,
        epoch: str = "ns",
        tag_keys: Collection[str] | None = None,
    ) -> Batch:
        """Run a SELECT and return its points as canonical readings (strings in ``text_readings``).

        Each series is melted to ``time, sensor_id, measurement, field, value``; ``sensor_id`` is
        the ``sensor_id`` tag (from ``GROUP BY *`` or a column), else ``measurement,k=v,...`` of
        the series' tags. Without ``GROUP BY``, tags come as columns: they are told from string
        fields with ``SHOW TAG KEYS`` on the client's database (or ``tag_keys`` when given). Booleans become 1.0 / 0.0.
        """
        ns_per_unit = NS_PER_UNIT[_check_unit(epoch, "epoch")]
        known_tags: dict[str, frozenset[str]] = {}
        numeric: list[pl.DataFrame] = []
        text: list[pl.DataFrame] = []
        for answer in self.iter_chunks(influxql, chunked, chunk_size, epoch):
            for result in answer.get("results", []):
                for series in result.get("series", []):
                    name = series.get("name", "")
                    if tag_keys is not None:
                        tags = frozenset(tag_keys)
                    elif name in known_tags:
                        tags = known_tags[name]
                    else:  # one small request per measurement: tags not grouped by come as columns
                        tags = known_tags[name] = self._tag_keys(name)
                    got_numeric, got_text = _melt_series(series, tags, ns_per_unit)
                    numeric.extend(got_numeric)
                    text.extend(got_text)
        return Batch(
            readings=_concat(numeric, READINGS_SCHEMA), text_readings=_concat(text, TEXT_READINGS_SCHEMA)
        )

    def _tag_keys(self, measurement: str) -> frozenset[str]:
        results = self.execute(f"SHOW TAG KEYS FROM {quote_identifier(measurement)}")
        return frozenset(
            row[0]
            for result in results
            for series in result.get("series", [])
            for row in series.get("values", [])
        )

    def read_series(
        self,
        measurement: str,
        start: object,
        end: object,
        sensor_ids: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> Batch:
        """Readings of ``measurement`` in [start, end), optionally of some sensors and fields.

        ``start``/``end`` are aware datetimes, ISO 8601 text with an offset, or ns since the epoch.
        Names are quoted as InfluxQL identifiers and sensor ids as string literals: nothing the
        caller gives is pasted into the query as is.
        """
        start_ns, end_ns = time_ns(start, "start"), time_ns(end, "end")
        if end_ns <= start_ns:
            raise ParameterError("end is not after start", parameter="end")
        select = ", ".join(quote_identifier(f) for f in fields) if fields else "*"
        where = [f"time >= {start_ns}", f"time < {end_ns}"]
        if sensor_ids is not None:
            if isinstance(sensor_ids, str):
                sensor_ids = [sensor_ids]
            if not sensor_ids:
                return Batch()
            tag = quote_identifier(SENSOR_TAG)
            where.append("(" + " OR ".join(f"{tag} = {quote_string(s)}" for s in sensor_ids) + ")")
        influxql = (
            f"SELECT {select} FROM {quote_identifier(measurement)} WHERE {' AND '.join(where)} GROUP BY *"
        )
        return self.query(influxql, chunk_size=chunk_size)


# -- answers --------------------------------------------------------------------------------------
def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:BAD_LINE_CHARS] or f"HTTP {response.status_code}"
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]).strip()
    return response.text.strip()[:BAD_LINE_CHARS]


def _json_answer(response: requests.Response, url: str, influxql: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise _query_error(_error_text(response), influxql)
    try:
        return response.json()
    except ValueError as exc:
        raise ServiceError(f"InfluxDB at {_redact_url(url)} answered something that is not JSON") from exc


def _query_error(message: str, influxql: str) -> ServiceError:
    return ServiceError(
        f"InfluxDB refused the query: {message}",
        parameter="influxql",
        hint=f"The query was: {influxql[:BAD_LINE_CHARS]}",
    )


def _checked_results(answer: dict[str, Any], influxql: str) -> list[dict[str, Any]]:
    """``answer['results']``; ServiceError with InfluxDB's message when it reports an error."""
    if "error" in answer:
        raise _query_error(str(answer["error"]), influxql)
    results = answer.get("results", [])
    for result in results:
        if "error" in result:
            raise _query_error(str(result["error"]), influxql)
    return results


def _first_bad_line(message: str, batch: list[str]) -> int | None:
    """Index in ``batch`` of the first line InfluxDB's ``message`` is about, when it can be told."""
    if "unable to parse '" in message:
        # InfluxDB quotes each refused line as is (no escaping): match whole lines against it.
        quoted = set(_UNPARSABLE.findall(message))
        for index, line in enumerate(batch):
            if line.strip() in quoted:
                return index
        for index, line in enumerate(batch):
            if f"unable to parse '{line.strip()}': " in message:
                return index
    if message == "field type conflict":
        # 1.6 says only this when the batch itself gives a new field two types (and writes none of it).
        return _first_type_change(batch)
    conflict = _TYPE_CONFLICT.search(message)
    if conflict:
        field_key, measurement = (json.loads(f'"{g}"') for g in conflict.groups()[:2])
        for index, line in enumerate(batch):
            found = _measurement_and_fields(line)
            if found is not None and found[0] == measurement and found[1].get(field_key) == conflict.group(3):
                return index
    return None


def _first_type_change(batch: list[str]) -> int | None:
    """Index of the first line giving a field another type than an earlier line of ``batch`` did."""
    seen: dict[tuple[str, str], str] = {}
    for index, line in enumerate(batch):
        found = _measurement_and_fields(line)
        if found is None:
            continue
        for key, kind in found[1].items():
            if seen.setdefault((found[0], key), kind) != kind:
                return index
    return None


def _measurement_and_fields(line: str) -> tuple[str, dict[str, str]] | None:
    """The measurement and the fields' types (InfluxDB's names) of a line (None if it cannot be split)."""
    end = _scan_unescaped(line, 0, ", ")
    measurement = _unescape(line[:end])
    position = _scan_unescaped(line, end, " ") + 1  # skip the tag set
    fields: dict[str, str] = {}
    while position < len(line):
        equals = _scan_unescaped(line, position, "=")
        if equals >= len(line):
            return None
        key = _unescape(line[position:equals])
        position = equals + 1
        if line[position : position + 1] == '"':
            position += 1
            while position < len(line) and line[position] != '"':
                position += 2 if line[position] == "\\" else 1
            position += 1
            fields[key] = "string"
        else:
            stop = _scan_unescaped(line, position, ", ")
            fields[key] = _value_type(line[position:stop])
            position = stop
        if line[position : position + 1] != ",":
            break
        position += 1
    return measurement, fields


def _value_type(text: str) -> str:
    if text in ("t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"):
        return "boolean"
    if text.endswith("i"):
        return "integer"
    if text.endswith("u"):
        return "unsigned"
    return "float"


def _scan_unescaped(line: str, position: int, stops: str) -> int:
    while position < len(line) and line[position] not in stops:
        position += 2 if line[position] == "\\" else 1
    return min(position, len(line))


def _unescape(text: str) -> str:
    return re.sub(r"\\([, =])", r"\1", text)


def _series_key(measurement: str, tags: Mapping[str, str]) -> str:
    return ",".join([measurement, *(f"{k}={tags[k]}" for k in sorted(tags))])


def _melt_series(
    series: dict[str, Any], tag_keys: frozenset[str], ns_per_unit: int
) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """One series of an answer as canonical numeric and text readings frames."""
    name = series.get("name", "")
    columns: list[str] = series.get("columns", [])
    rows = series.get("values") or []
    if not rows:
        return [], []
    if not columns or columns[0] != "time":
        raise ParameterError(
            f"the statement returns no time column (columns {columns})",
            parameter="influxql",
            hint="query() is for SELECT; run SHOW and other statements with execute().",
        )
    cells = list(zip(*rows, strict=True))
    times = pl.Series("time", cells[0], dtype=pl.Int64)
    if ns_per_unit != 1:
        times = times * ns_per_unit
    times = times.cast(UTC_NS)
    series_tags = {k: v for k, v in (series.get("tags") or {}).items() if v not in ("", None)}
    row_tags = {c: cells[i] for i, c in enumerate(columns) if i and c in tag_keys}
    sensor_ids = _sensor_ids(name, series_tags, row_tags, len(rows))
    numeric, text = [], []
    for index, field in enumerate(columns):
        if index == 0 or field in row_tags:
            continue
        got_numeric, got_text = _field_frames(cells[index], times, sensor_ids, name, field)
        if got_numeric is not None:
            numeric.append(got_numeric)
        if got_text is not None:
            text.append(got_text)
    return numeric, text


def _sensor_ids(
    measurement: str, series_tags: dict[str, str], row_tags: dict[str, tuple[Any, ...]], count: int
) -> pl.Series:
    if SENSOR_TAG in series_tags or not row_tags:
        constant = series_tags.get(SENSOR_TAG) or _series_key(measurement, series_tags)
        return pl.Series("sensor_id", [constant], dtype=pl.String).extend_constant(constant, count - 1)
    ids = []
    names = list(row_tags)
    for values in zip(*row_tags.values(), strict=True):
        tags = dict(series_tags)
        tags.update({k: v for k, v in zip(names, values, strict=True) if v not in ("", None)})
        ids.append(tags.get(SENSOR_TAG) or _series_key(measurement, tags))
    return pl.Series("sensor_id", ids, dtype=pl.String)


def _field_frames(
    values: tuple[Any, ...], times: pl.Series, sensor_ids: pl.Series, measurement: str, field: str
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    kinds = {type(v) for v in values}
    frame = pl.DataFrame({"time": times, "sensor_id": sensor_ids})
    frame = frame.with_columns(measurement=pl.lit(measurement, pl.String), field=pl.lit(field, pl.String))
    if str not in kinds:
        numbers = pl.Series("value", [None if v is None else float(v) for v in values], dtype=pl.Float64)
        return frame.with_columns(numbers).filter(numbers.is_not_null()), None
    is_text = pl.Series([isinstance(v, str) for v in values])
    strings = pl.Series("value", [v if isinstance(v, str) else None for v in values], dtype=pl.String)
    numbers = pl.Series(
        "value", [None if v is None or isinstance(v, str) else float(v) for v in values], dtype=pl.Float64
    )
    numeric = frame.with_columns(numbers).filter(numbers.is_not_null())
    text = frame.with_columns(strings).filter(is_text)
    return (numeric if len(numeric) else None), text


def _concat(frames: list[pl.DataFrame], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not frames:
        return empty(schema)
    return pl.concat([f.select(list(schema)) for f in frames], how="vertical").cast(schema)


# -- the way back: canonical readings to line protocol --------------------------------------------
_KEY_SPECIALS = (",", "=", " ")
_MEASUREMENT_SPECIALS = (",", " ")
_UNWRITABLE_NAME = r"[\n\r]|\\([, =]|$)"  # newline, or a backslash that would escape a separator


def _escaped(column: pl.Expr, specials: tuple[str, ...]) -> pl.Expr:
    for char in specials:
        column = column.str.replace_all(char, "\\" + char, literal=True)
    return column


def _check_names(frame: pl.DataFrame, column: str, parameter: str, allow_null: bool = False) -> None:
    values = frame.get_column(column)
    if not allow_null and (values.null_count() or (values == "").any()):
        raise ParameterError(f"column {column!r} has empty values", parameter=parameter)
    bad = values.drop_nulls().filter(values.drop_nulls().str.contains(_UNWRITABLE_NAME))
    if len(bad):
        raise ParameterError(
            f"{bad[0]!r} in column {column!r} cannot be written as line protocol",
            parameter=parameter,
            hint="Names and tag values cannot hold newlines, or a backslash before ',', '=', ' ' or at the end.",
        )


def _field_values(
    frame: pl.DataFrame, value_col: str, field_col: str, integer_fields: Collection[str]
) -> pl.Expr:
    """``key=value`` text of each row, typed as line protocol wants (floats, ``i`` integers, strings)."""
    values = frame.get_column(value_col)
    dtype = values.dtype
    key = _escaped(pl.col(field_col), _KEY_SPECIALS)
    column = pl.col(value_col)
    if dtype == pl.String:
        quoted = (
            pl.lit('"')
            + column.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
            + pl.lit('"')
        )
        return key + pl.lit("=") + quoted
    if dtype == pl.Boolean:
        return key + pl.lit("=") + pl.when(column).then(pl.lit("true")).otherwise(pl.lit("false"))
    if dtype.is_integer():
        return key + pl.lit("=") + column.cast(pl.String) + pl.lit("i")
    if dtype.is_float():
        finite = values.drop_nulls().drop_nans()
        if not finite.is_finite().all():
            raise ParameterError(f"column {value_col!r} holds infinite values", parameter="readings")
        is_int = pl.col(field_col).is_in(list(integer_fields))
        if integer_fields:
            chosen = frame.filter(is_int & column.is_not_null() & column.is_not_nan())
            whole = chosen.get_column(value_col)
            if len(whole) and ((whole % 1 != 0) | (whole.abs() >= 2.0**63)).any():
                raise ParameterError(
                    f"integer_fields {sorted(integer_fields)} hold values with a fraction or beyond int64",
                    parameter="integer_fields",
                )
        as_int = column.cast(pl.Int64, strict=False).cast(pl.String) + pl.lit("i")
        return key + pl.lit("=") + pl.when(is_int).then(as_int).otherwise(column.cast(pl.String))
    raise ParameterError(
        f"column {value_col!r} has type {dtype}, not numbers, text or booleans", parameter="readings"
    )


def to_line_protocol(
    readings: pl.DataFrame | Sequence[pl.DataFrame],
    *,
    measurement_col: str = "measurement",
    field_col: str = "field",
    value_col: str = "value",
    time_col: str = "time",
    tag_cols: Sequence[str] = (SENSOR_TAG,),
    integer_fields: Collection[str] = (),
    precision: str = "ns",
) -> list[str]:
    """Line protocol for canonical readings: one line per (measurement, tags, time), fields joined.

    ``readings`` is one frame or several (e.g. readings and text_readings, whose fields then
    share lines). Float values are written as floats except for ``integer_fields`` (written
    ``<n>i``; they must be whole); Int64 columns as integers, strings quoted, booleans as
    true/false. Null and NaN values are missing: not written. Null or empty tags are left out.
    Times are floored to ``precision``. Escaping: measurement ``,`` and space; tag keys, tag
    values and field keys ``,`` ``=`` and space; string values ``"`` and ``\\``.
    """
    unit = NS_PER_UNIT[_check_unit(precision, "precision")]
    frames = [readings] if isinstance(readings, pl.DataFrame) else list(readings)
    tags = sorted(tag_cols)
    for tag in tags:
        _check_names(pl.DataFrame({"tag": [tag]}), "tag", "tag_cols")
    parts = []
    for frame in frames:
        needed = [measurement_col, field_col, value_col, time_col, *tags]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ParameterError(
                f"readings lack columns {missing}",
                parameter="readings",
                hint=did_you_mean(missing[0], frame.columns),
            )
        frame = frame.filter(pl.col(value_col).is_not_null())
        if frame.get_column(time_col).null_count():
            raise ParameterError(f"column {time_col!r} has empty times", parameter="readings")
        if frame.get_column(measurement_col).str.starts_with("#").any():
            raise ParameterError(
                "a measurement starts with '#': InfluxDB reads the line as a comment", parameter="readings"
            )
        if (frame.get_column(field_col) == "time").any() or "time" in tags:
            raise ParameterError("InfluxDB 1.x refuses a field or tag named 'time'", parameter="readings")
        if frame.schema[value_col].is_float():
            frame = frame.filter(pl.col(value_col).is_not_nan())
        _check_names(frame, measurement_col, "readings")
        _check_names(frame, field_col, "readings")
        for tag in tags:
            _check_names(frame, tag, "readings", allow_null=True)
        parts.append(
            frame.select(
                pl.col(measurement_col).alias("_m"),
                *(pl.col(t).cast(pl.String).alias(f"_t{i}") for i, t in enumerate(tags)),
                (_epoch_ns(frame, time_col) // unit).alias("_time"),
                pl.col(field_col).alias("_field"),
                _field_values(frame, value_col, field_col, integer_fields).alias("_fv"),
            )
        )
    if not parts:
        return []
    keys = ["_m", *(f"_t{i}" for i in range(len(tags))), "_time"]
    points = (
        pl.concat(parts, how="vertical")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.col("_fv").str.join(","), pl.col("_field").n_unique().alias("_fields"), pl.len().alias("_rows")
        )
    )
    doubled = points.filter(pl.col("_fields") != pl.col("_rows"))
    if len(doubled):
        raise ParameterError(
            f"a field appears twice at one time: {doubled.row(0)[: len(keys)]}",
            parameter="readings",
            hint="Drop duplicate readings first (one value per sensor, field and time).",
        )
    tag_text = [
        pl.when(pl.col(f"_t{i}").is_not_null() & (pl.col(f"_t{i}") != ""))
        .then(
            pl.lit("," + _escape_text(tag, _KEY_SPECIALS) + "=") + _escaped(pl.col(f"_t{i}"), _KEY_SPECIALS)
        )
        .otherwise(pl.lit(""))
        for i, tag in enumerate(tags)
    ]
    line = pl.concat_str(
        [
            _escaped(pl.col("_m"), _MEASUREMENT_SPECIALS),
            *tag_text,
            pl.lit(" "),
            pl.col("_fv"),
            pl.lit(" "),
            pl.col("_time").cast(pl.String),
        ]
    )
    return points.select(line.alias("line")).get_column("line").to_list()


def _epoch_ns(frame: pl.DataFrame, time_col: str) -> pl.Expr:
    dtype = frame.schema[time_col]
    if isinstance(dtype, pl.Datetime):
        return pl.col(time_col).dt.epoch("ns")
    if dtype.is_integer():
        return pl.col(time_col).cast(pl.Int64)  # already ns since the epoch
    raise ParameterError(f"column {time_col!r} has type {dtype}, not a time", parameter="readings")


def _escape_text(text: str, specials: tuple[str, ...]) -> str:
    for char in specials:
        text = text.replace(char, "\\" + char)
    return text
