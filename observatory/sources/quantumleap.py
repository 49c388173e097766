"""FIWARE QuantumLeap's CrateDB tables (``COPY … TO DIRECTORY`` exports, or live over HTTP) to readings.

How QuantumLeap stores entities, read in orchestracities/ngsi-timeseries-api
(``src/translators/sql_translator.py`` and ``crate.py``; ``src/utils/common.py``):

- one table per entity type and tenant, ``"mt<service>"."et<entitytype>"``, both lower-cased
  (``_et2tn``; without a Fiware-Service the table is ``"et<entitytype>"`` in schema ``doc``);
- columns ``entity_id``, ``entity_type`` (the type as sent), ``time_index`` (timestamptz),
  ``fiware_servicepath``, ``__original_ngsi_entity__`` (an entity that could not be inserted, as
  an object) and, in recent versions, ``instanceid``; one column per attribute, named by the
  attribute lower-cased (``_ea2cn``);
- attribute types: Number → real, Integer → bigint, Boolean → boolean, Text → text,
  DateTime/ISO8601 → timestamptz, geo:point → geo_point stored ``[lon, lat]``, geo:json and
  NGSI-LD GeoProperty → geo_shape (GeoJSON), StructuredValue → object, Array → array;
- ``md_ets_metadata`` (``table_name`` text primary key, ``entity_attrs`` object) maps each table
  (``"mtopenmartinique"."etairqualityobserved"``) to ``{column: [original name, NGSI type]}``
  (``original_attrs`` tuples, which CrateDB keeps as arrays). ``{"name": …, "type": …}`` objects
  are read too.

``COPY table TO DIRECTORY '…' [WITH (compression='gzip')]`` (CrateDB reference, "COPY TO")
writes one JSON object per row per line. Timestamps are taken as epoch milliseconds, the form in
which CrateDB returns them (HTTP endpoint docs, "Column types"; QuantumLeap's
``crate._get_isoformat``); ISO 8601 text is read too. A NULL column may be absent from its line
or null, both read as missing. gzip is detected by its magic bytes, not the file name.

Mapping: ``sensor_id`` = entity_id, ``measurement`` = entity_type, ``field`` = the original
attribute name from the metadata, ``time`` = time_index. Number, Integer and Boolean (1.0/0.0)
go to ``readings``; Text, DateTime (as ISO 8601 UTC), relationships and structured values
(compact JSON) to ``text_readings``. The ``location`` point gives the sensor's lon/lat (the
latest in the file for a moving entity) and its commune (``territory.communes.communes_at``); other geometries
are kept as GeoJSON text. ``fiware_servicepath`` is kept as the series' tag (``series`` table).
A column missing from the metadata keeps its lower-cased name and a type guessed from its JSON
value. A line that is not JSON, or lacks entity_id, entity_type or a readable time_index, is
rejected with its line; a value that does not fit its NGSI type is rejected alone, the rest of
its line kept. A row whose ``__original_ngsi_entity__`` carries an ``error`` (QuantumLeap failed
to insert the entity and stored it raw) is quarantined too, with the entity as received.

No CrateDB server runs where this was written: the export reader is tested on files built to
the rules above, and `query_crate` / `fetch_entities` against a local HTTP stand-in that checks
each request and answers in the documented ``/_sql`` format (``{"cols", "rows", "rowcount"}``,
``{"error": {"message", "code"}}``). Not covered: authentication of a real cluster, partitioned
tables' exports, and exports written by CrateDB versions that format timestamps otherwise.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import polars as pl

from observatory.config import Settings
from observatory.errors import ParameterError, ServiceError
from observatory.sources.base import (
    READINGS_SCHEMA,
    REJECTS_SCHEMA,
    TEXT_READINGS_SCHEMA,
    Batch,
    empty,
    rejects_frame,
)
from observatory.sources.ngsi_ld import (
    as_float,
    checked_time_ns,
    geojson_point,
    iter_json_lines,
    json_text,
    lonlat,
    parse_time_ns,
    sensors_frame,
    series_frame,
    time_parameter,
)

SOURCE_SYSTEM = "quantumleap"
METADATA_TABLE = "md_ets_metadata"
TENANT_PREFIX, TYPE_PREFIX = "mt", "et"
TIME_INDEX = "time_index"
SERVICE_PATH = "fiware_servicepath"
ORIGINAL_ENTITY = "__original_ngsi_entity__"  # the entity as received, when its insert failed
LOCATION = "location"
BOOKKEEPING_COLUMNS = frozenset(
    {"entity_id", "entity_type", TIME_INDEX, SERVICE_PATH, ORIGINAL_ENTITY, "instanceid"}
)
NUMERIC_TYPES = frozenset({"Number", "Integer", "Float", "Boolean"})
TIME_TYPES = frozenset({"DateTime", "ISO8601"})
GEO_TYPES = frozenset({"geo:point", "geo:json", "GeoProperty", "geo:line", "geo:polygon", "geo:box"})
NS_PER_MS = 1_000_000
BATCH_LINES = 100_000  # lines per Batch when reading an export
PAGE_ROWS = 10_000  # rows per live query page (QuantumLeap's own default limit)
QUERY_TIMEOUT_S = 60.0  # HTTP timeout of one /_sql request, seconds

# Fiware-Service names: letters, digits and underscores, at most 50 (Orion's rule, which
# QuantumLeap inherits). Entity types: kept to what can sit in a quoted identifier safely.
SERVICE_RE = re.compile(r"[A-Za-z0-9_]{1,50}")
ENTITY_TYPE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,255}")

AttributeTypes = dict[str, tuple[str, str | None]]  # column -> (original attribute name, NGSI type)


# --- metadata -----------------------------------------------------------------------------------


def normalise_table_name(name: str) -> str:
    """``"mtX"."etY"`` → ``mtx.ety``: quotes dropped, lower-cased, as keys of the metadata."""
    return name.replace('"', "").strip().lower()


def table_key(entity_type: str, service: str | None = None) -> str:
    """The metadata key of an entity type's table (``mt<service>.et<type>``, lower-cased)."""
    name = f"{TYPE_PREFIX}{entity_type.lower()}"
    return f"{TENANT_PREFIX}{service.lower()}.{name}" if service else name


@dataclass
class Metadata:
    """QuantumLeap's ``md_ets_metadata``: original attribute names and NGSI types per table."""

    tables: dict[str, AttributeTypes] = field(default_factory=dict)
    rejects: pl.DataFrame = field(default_factory=lambda: empty(REJECTS_SCHEMA))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int | None, Any]], source: str = "<metadata>") -> Metadata:
        """From ``(line, {"table_name", "entity_attrs"})`` rows; unreadable rows go to ``rejects``."""
        tables: dict[str, AttributeTypes] = {}
        bad: list[tuple[int | None, str, str]] = []
        for line, row in rows:
            try:
                name, attrs = _metadata_row(row)
            except ValueError as exc:
                bad.append((line, f"md_ets_metadata: {exc}", row if isinstance(row, str) else json_text(row)))
                continue
            tables.setdefault(name, {}).update(attrs)
        return cls(tables, rejects_frame(source, bad))

    def for_type(self, entity_type: str, service: str | None) -> AttributeTypes | None:
        """The attribute types of ``entity_type``'s table; ParameterError when several tenants have one."""
        if service is not None:
            return self.tables.get(table_key(entity_type, service))
        suffix = table_key(entity_type)
        matches = [key for key in self.tables if key == suffix or key.endswith("." + suffix)]
        if len(matches) > 1:
            tenants = sorted(key.split(".")[0].removeprefix(TENANT_PREFIX) for key in matches)
            raise ParameterError(
                f"entity type {entity_type!r} has tables in several services ({', '.join(tenants)})",
                parameter="service",
                hint="name the Fiware-Service the export comes from",
            )
        return self.tables[matches[0]] if matches else None


def _metadata_row(row: Any) -> tuple[str, AttributeTypes]:
    if not isinstance(row, dict):
        raise ValueError("a row is a JSON object with table_name and entity_attrs")
    name, attrs = row.get("table_name"), row.get("entity_attrs")
    if not isinstance(name, str) or not name.strip():
        raise ValueError("no table_name")
    if not isinstance(attrs, dict):
        raise ValueError(f"entity_attrs of {name} is not an object")
    types: AttributeTypes = {}
    for column, spec in attrs.items():
        if isinstance(spec, list | tuple) and len(spec) == 2:
            original, ngsi_type = spec
        elif isinstance(spec, dict) and "name" in spec:
            original, ngsi_type = spec.get("name"), spec.get("type")
        else:
            raise ValueError(f"entity_attrs[{column!r}] of {name} is neither [name, type] nor {{name, type}}")
        if not isinstance(original, str) or not (ngsi_type is None or isinstance(ngsi_type, str)):
            raise ValueError(f"entity_attrs[{column!r}] of {name} has a non-text name or type")
        types[column.lower()] = (original, ngsi_type)
    return normalise_table_name(name), types


def read_metadata(path: str | Path) -> Metadata:
    """The ``md_ets_metadata`` table as exported by ``COPY md_ets_metadata TO DIRECTORY`` (gzip or not)."""
    path = Path(path)
    rows: list[tuple[int | None, Any]] = []
    bad: list[tuple[int | None, str, str]] = []
    for item in iter_json_lines(path):
        if item.error is None:
            rows.append((item.line, item.value))
        else:
            bad.append((item.line, item.error, item.text))
    metadata = Metadata.from_rows(rows, str(path))
    metadata.rejects = pl.concat([rejects_frame(str(path), bad), metadata.rejects])
    return metadata


# --- rows to canonical tables -------------------------------------------------------------------


def _guess_type(column: str, value: Any) -> str:
    """The NGSI type a column without metadata most likely had, from its JSON value."""
    if isinstance(value, bool | int | float):
        return "Number"
    if column == LOCATION and (isinstance(value, list) or geojson_point(value) is not None):
        return "geo:point"
    if isinstance(value, dict | list):
        return "StructuredValue"
    return "Text"


def _epoch_ms_text(value: Any) -> str:
    """A CrateDB timestamp (epoch ms) as ISO 8601 UTC text; ISO text passes through."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a timestamp in epoch milliseconds")
    try:
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=value)
    except OverflowError:
        raise ValueError(f"{value!r} epoch milliseconds is beyond the years 1 .. 9999") from None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time_index_ns(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return checked_time_ns(value * NS_PER_MS, value)
    if isinstance(value, float) and math.isfinite(value):
        return checked_time_ns(round(value * NS_PER_MS), value)
    if isinstance(value, str):
        return parse_time_ns(value)
    raise ValueError(f"time_index {value!r} is neither epoch milliseconds nor ISO 8601 text")


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value)


def _point(value: Any) -> tuple[float, float] | None:
    """(lon, lat) of a geo_point ``[lon, lat]`` or a GeoJSON Point."""
    if isinstance(value, list) and len(value) == 2:
        return lonlat(value[0], value[1])
    return geojson_point(value)


@dataclass
class _Collector:
    source: str
    readings: list[tuple] = field(default_factory=list)
    text: list[tuple] = field(default_factory=list)
    rejects: list[tuple[int | None, str, str]] = field(default_factory=list)
    sensors: dict[str, dict] = field(default_factory=dict)
    series: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    located_at: dict[str, int] = field(default_factory=dict)  # time of each sensor's position, ns

    def row(self, line: int | None, row: Any, attributes: AttributeTypes | None) -> None:
        if not isinstance(row, dict):
            self.rejects.append((line, "a row is a JSON object", json_text(row)))
            return
        entity_id, entity_type = row.get("entity_id"), row.get("entity_type")
        if not (isinstance(entity_id, str) and entity_id and isinstance(entity_type, str) and entity_type):
            self.rejects.append((line, "the row has no entity_id or entity_type", json_text(row)))
            return
        try:
            time_ns = _time_index_ns(row.get(TIME_INDEX))
        except ValueError as exc:
            self.rejects.append((line, str(exc), json_text(row)))
            return
        sensor = self.sensors.setdefault(entity_id, {"kind": entity_type, "lonlat": None, "units": {}})
        original = row.get(ORIGINAL_ENTITY)
        if isinstance(original, dict) and original.get("error"):
            reason = (
                f"QuantumLeap could not insert this entity and kept it raw: {str(original['error'])[:200]}"
            )
            self.rejects.append((line, reason, _as_text(original.get("data"))))
        if isinstance(row.get(SERVICE_PATH), str):
            self.series[(entity_id, entity_type)] = {SERVICE_PATH: row[SERVICE_PATH]}
        for column, value in row.items():
            if column in BOOKKEEPING_COLUMNS or value is None:
                continue
            name, ngsi_type = (attributes or {}).get(column, (column, None))
            try:
                self.value(
                    entity_id,
                    entity_type,
                    time_ns,
                    name,
                    ngsi_type or _guess_type(column, value),
                    value,
                    sensor,
                )
            except ValueError as exc:
                self.rejects.append(
                    (line, f"{entity_id} {name} ({ngsi_type}): {exc}", json_text({column: value}))
                )

    def value(self, entity_id, entity_type, time_ns, name, ngsi_type, value, sensor) -> None:
        if ngsi_type in NUMERIC_TYPES:
            if not isinstance(value, bool | int | float) or not math.isfinite(as_float(value)):
                raise ValueError(f"{str(value)[:60]!r} is not a finite number")
            self.readings.append((time_ns, entity_id, entity_type, name, as_float(value)))
        elif ngsi_type == "geo:point" or (ngsi_type in GEO_TYPES and name == LOCATION and _point(value)):
            point = _point(value)
            if point is None:
                raise ValueError(f"{json_text(value)[:80]} is not a WGS84 [lon, lat] point")
            if name != LOCATION:
                self.text.append((time_ns, entity_id, entity_type, name, json_text(list(point))))
            elif time_ns >= self.located_at.get(entity_id, time_ns):
                sensor["lonlat"], self.located_at[entity_id] = point, time_ns
        elif ngsi_type in TIME_TYPES:
            self.text.append((time_ns, entity_id, entity_type, name, _epoch_ms_text(value)))
        else:
            self.text.append((time_ns, entity_id, entity_type, name, _as_text(value)))

    def batch(self, config: Settings | None) -> Batch:
        return Batch(
            readings=_frame(self.readings, READINGS_SCHEMA),
            text_readings=_frame(self.text, TEXT_READINGS_SCHEMA),
            rejects=rejects_frame(self.source, self.rejects),
            sensors=sensors_frame(self.sensors, SOURCE_SYSTEM, config),
            series=series_frame(self.series),
        )


def _frame(rows: list[tuple], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else empty(schema)


def rows_to_batch(
    rows: Iterable[tuple[int | None, Any]],
    metadata: Metadata | None = None,
    *,
    service: str | None = None,
    source: str = "<rows>",
    config: Settings | None = None,
) -> Batch:
    """Canonical tables from QuantumLeap rows ``(line, {column: value})`` (see the module docstring)."""
    collector = _Collector(source)
    cache: dict[str, AttributeTypes | None] = {}
    for line, row in rows:
        entity_type = row.get("entity_type") if isinstance(row, dict) else None
        attributes = None
        if metadata is not None and isinstance(entity_type, str):
            if entity_type not in cache:
                cache[entity_type] = metadata.for_type(entity_type, service)
            attributes = cache[entity_type]
        collector.row(line, row, attributes)
    return collector.batch(config)


# --- COPY TO exports ----------------------------------------------------------------------------


def iter_export(
    path: str | Path,
    metadata: Metadata | None = None,
    *,
    service: str | None = None,
    batch_lines: int = BATCH_LINES,
    config: Settings | None = None,
) -> Iterator[Batch]:
    """Batches of one ``COPY … TO DIRECTORY`` file (JSON lines, gzip or not), ``batch_lines`` at a time.

    ``metadata`` (from `read_metadata`) restores attribute names and types; ``service`` picks the
    tenant when several have a table for the same entity type.
    """
    path = Path(path)
    pending: list[tuple[int | None, Any]] = []
    errors: list[tuple[int | None, str, str]] = []
    for item in iter_json_lines(path):
        if item.error is not None:
            errors.append((item.line, item.error, item.text))
        else:
            pending.append((item.line, item.value))
        if len(pending) + len(errors) >= batch_lines:
            yield _with_rejects(
                rows_to_batch(pending, metadata, service=service, source=str(path), config=config),
                path,
                errors,
            )
            pending, errors = [], []
    if pending or errors:
        yield _with_rejects(
            rows_to_batch(pending, metadata, service=service, source=str(path), config=config), path, errors
        )


def _with_rejects(batch: Batch, path: Path, errors: list[tuple[int | None, str, str]]) -> Batch:
    if errors:
        batch.rejects = pl.concat([rejects_frame(str(path), errors), batch.rejects]).sort(
            "line", nulls_last=True
        )
    return batch


def read_directory(
    directory: str | Path, *, service: str | None = None, config: Settings | None = None
) -> Iterator[Batch]:
    """Every export file of a ``COPY … TO DIRECTORY`` folder, metadata first.

    Files whose name starts with ``md_ets_metadata`` hold the metadata; every other ``*.json`` or
    ``*.json.gz`` file holds rows. A batch of metadata rejects comes first when there are any.
    """
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith((".json", ".json.gz")))
    meta_files = [p for p in files if p.name.startswith(METADATA_TABLE)]
    metadata = Metadata()
    for path in meta_files:
        part = read_metadata(path)
        for key, attrs in part.tables.items():
            metadata.tables.setdefault(key, {}).update(attrs)
        metadata.rejects = pl.concat([metadata.rejects, part.rejects])
    if metadata.rejects.height:
        yield Batch(rejects=metadata.rejects)
    for path in files:
        if path not in meta_files:
            yield from iter_export(path, metadata, service=service, config=config)


def read_file(
    path: str | Path,
    metadata: str | Path | Metadata | None = None,
    *,
    service: str | None = None,
    batch_lines: int = BATCH_LINES,
) -> Iterator[Batch]:
    """The warehouse's entry point: one export file, with the metadata export beside it if given."""
    if isinstance(metadata, str | Path):
        metadata = read_metadata(metadata)
    yield from iter_export(path, metadata, service=service, batch_lines=batch_lines)


# --- live CrateDB -------------------------------------------------------------------------------


class CrateResult(NamedTuple):
    """A ``/_sql`` answer: column names, rows (lists, in column order) and the row count."""

    cols: list[str]
    rows: list[list[Any]]
    rowcount: int


class CrateQueryError(ServiceError):
    """CrateDB refused a statement: ``code`` and ``crate_message`` are the server's own."""

    def __init__(self, url: str, code: int | None, crate_message: str, hint: str | None = None) -> None:
        self.code = code
        self.crate_message = crate_message
        super().__init__(
            f"CrateDB at {url} refused the statement (error {code}: {crate_message})",
            parameter="url",
            hint=hint or "see the CrateDB error code list (HTTP endpoint, Error handling)",
        )


_ERROR_HINTS = {
    4041: "check the entity type and the Fiware-Service: QuantumLeap has no table for them",
    4045: "check the Fiware-Service: QuantumLeap creates schema mt<service> on the first notification",
    4010: "give the CrateDB user the DQL privilege on the table",
    4011: "give the CrateDB user the DQL privilege on the table",
}


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError(
            f"{url!r} is not an http(s) URL", parameter="url", hint="e.g. http://127.0.0.1:4200"
        )
    return url.rstrip("/")


def query_crate(
    url: str,
    stmt: str,
    args: Sequence[Any] = (),
    *,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = QUERY_TIMEOUT_S,
) -> CrateResult:
    """Run one SQL statement on CrateDB's HTTP endpoint ``<url>/_sql``, values always as ``args``.

    ``stmt`` takes values through ``?`` or ``$1`` placeholders only; identifiers built from user
    input go through `table_name`. Unreachable servers raise ServiceError; refused statements
    CrateQueryError with CrateDB's code and message.
    """
    import requests

    base = _check_url(url)
    auth = (username, password or "") if username else None
    try:
        response = requests.post(
            f"{base}/_sql",
            json={"stmt": stmt, "args": list(args)},
            headers={"Accept": "application/json"},
            auth=auth,
            timeout=timeout_s,
        )
    except requests.RequestException as exc:
        raise ServiceError(
            f"cannot reach CrateDB at {url}: {exc}",
            parameter="url",
            hint="check that CrateDB runs and the URL (scheme, host, port 4200) is right",
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = error.get("code") if isinstance(error.get("code"), int) else None
        raise CrateQueryError(url, code, str(error.get("message", "")), _ERROR_HINTS.get(code or 0))
    if response.status_code >= 400 or not isinstance(body, dict):
        hint = "check the user name and password" if response.status_code in (401, 403) else None
        raise ServiceError(
            f"CrateDB at {url} answered HTTP {response.status_code} without a result",
            parameter="url",
            hint=hint,
        )
    cols, rows = body.get("cols"), body.get("rows")
    if not isinstance(cols, list) or not isinstance(rows, list):
        raise ServiceError(f"CrateDB at {url} answered without 'cols' and 'rows'", parameter="url")
    rowcount = body.get("rowcount")
    return CrateResult(cols, rows, rowcount if isinstance(rowcount, int) else len(rows))


def table_name(entity_type: str, service: str | None = None) -> str:
    """QuantumLeap's quoted table for ``entity_type`` (and tenant), after checking both names."""
    if not isinstance(entity_type, str) or not ENTITY_TYPE_RE.fullmatch(entity_type):
        raise ParameterError(
            f"{entity_type!r} is not an entity type this reader accepts",
            parameter="entity_type",
            hint="use letters, digits, '_' or '-' (e.g. AirQualityObserved)",
        )
    if service is not None and not SERVICE_RE.fullmatch(service):
        raise ParameterError(
            f"{service!r} is not a Fiware-Service name",
            parameter="service",
            hint="a service is 1 to 50 letters, digits or '_' (e.g. openmartinique)",
        )
    name = f'"{TYPE_PREFIX}{entity_type.lower()}"'
    return f'"{TENANT_PREFIX}{service.lower()}".{name}' if service else name


def _time_ms(value: dt.datetime | str | None, name: str) -> int | None:
    ns = time_parameter(value, name)
    return None if ns is None else ns // NS_PER_MS


def fetch_metadata(url: str, entity_type: str, service: str | None = None, **http: Any) -> Metadata:
    """The ``md_ets_metadata`` row of one entity type's table, from a live CrateDB."""
    table = table_name(entity_type, service)
    result = query_crate(
        url, f"SELECT table_name, entity_attrs FROM {METADATA_TABLE} WHERE table_name = ?", [table], **http
    )
    rows = [(None, dict(zip(result.cols, row, strict=False))) for row in result.rows]
    return Metadata.from_rows(rows, f"{_check_url(url)}/_sql {METADATA_TABLE}")


def fetch_entities(
    url: str,
    entity_type: str,
    *,
    service: str | None = None,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
    entity_ids: Sequence[str] | None = None,
    page_rows: int = PAGE_ROWS,
    config: Settings | None = None,
    **http: Any,
) -> Iterator[Batch]:
    """One Batch per page of an entity type's QuantumLeap table, ``start`` <= time_index < ``end``.

    Pages are ``LIMIT``/``OFFSET`` over ``ORDER BY time_index, entity_id``: rows inserted while
    paging may be missed or read twice, which the warehouse's idempotent ingest absorbs. ``http``
    passes ``username``, ``password`` and ``timeout_s`` to `query_crate`.
    """
    if not 1 <= page_rows <= 100_000:
        raise ParameterError(f"page_rows {page_rows} is outside 1..100000", parameter="page_rows")
    table = table_name(entity_type, service)
    metadata = fetch_metadata(url, entity_type, service, **http)
    clauses, args = [], []
    for bound, op, name in ((start, ">=", "start"), (end, "<", "end")):
        ms = _time_ms(bound, name)
        if ms is not None:
            clauses.append(f"{TIME_INDEX} {op} ?")
            args.append(ms)
    if entity_ids:
        clauses.append("entity_id = ANY(?)")
        args.append(list(entity_ids))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    stmt = f"SELECT * FROM {table}{where} ORDER BY {TIME_INDEX}, entity_id LIMIT ? OFFSET ?"
    source = f"{_check_url(url)}/_sql {table}"
    offset = 0
    if metadata.rejects.height:
        yield Batch(rejects=metadata.rejects)
    while True:
        result = query_crate(url, stmt, [*args, page_rows, offset], **http)
        rows = [
            (offset + i + 1, {c: v for c, v in zip(result.cols, row, strict=False) if v is not None})
            for i, row in enumerate(result.rows)
        ]
        if rows:
            yield rows_to_batch(rows, metadata, service=service, source=source, config=config)
        if len(rows) < page_rows:
            return
        offset += len(rows)
