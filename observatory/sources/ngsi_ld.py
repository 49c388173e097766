"""NGSI-LD entities (Orion-LD, Stellio: ``GET /ngsi-ld/v1/entities``) to readings, sensors and reports.

Forms read, per ETSI GS CIM 009 as the brokers answer it:

- normalized: ``"no2": {"type": "Property", "value": 22.5, "unitCode": "GQ", "observedAt": "…Z"}``,
  ``"location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}``,
  ``"refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:…"}``; also
  LanguageProperty (``languageMap``), VocabProperty (``vocab``), ListProperty (``valueList``),
  JsonProperty (``json``) and ListRelationship (``objectList``) of the 1.6+ specs, and the NGSI-v2
  style types (``Number``, ``Text``, ``geo:json``…) of Smart Data Models' "normalized" examples;
- concise: the same without ``"type"`` (``{"value": 22.5, "observedAt": …}``, ``{"object": …}``,
  a bare GeoJSON geometry for a GeoProperty);
- keyValues (``options=keyValues``): ``"no2": 22.5``, ``"location": {"type": "Point", …}``,
  a Relationship as its target URN;
- a multi-attribute is a list of instances, told apart by ``datasetId``; the datasetId is kept in
  the field name as ``no2[urn:ngsi-ld:Dataset:…]`` (the instance without one keeps ``no2``).

Mapping. ``sensor_id`` is the entity id, ``measurement`` its type, ``field`` the attribute name
(expanded IRIs are compacted: the NGSI-LD default-context prefix is dropped, any other IRI keeps
its last segment). Numbers (and booleans, as 1.0/0.0) go to ``readings``; text, date-times
(``{"@type": "DateTime", "@value": …}``), relationships (the target URN), vocabularies, language
maps (one field per language, ``name@fr``) and structured values (compact JSON) go to
``text_readings``. Relationships are kept as text readings rather than sensor metadata because the
sensors table has no column for them. A ``location`` Point gives the sensor's lon/lat and commune
(``territory.communes.communes_at``, nearest commune within 2 km for coastal points, null farther out); any other
geometry is kept as GeoJSON text. ``unitCode`` goes to the sensor's ``unit`` (one code, or
``field=code;…`` when the attributes differ). An entity's ``scope`` is kept as its series' tag.

Time of a value: its ``observedAt``; else the entity's ``observedAt``; else the attribute's, then
the entity's ``modifiedAt`` (present with ``options=sysAttrs``); else ``default_time``; else the
value is rejected with the reason. Entities of the citizen-report types (REPORT_TYPES) become
REPORTS_SCHEMA rows instead (attribute names in REPORT_ATTRIBUTES, after Smart Data Models' Alert,
IssueReporting and Open311 ServiceRequest); their other attributes are not read.

``fetch_entities`` pages through a live broker with ``limit``/``offset`` and ``count=true``: it
follows a ``Link: <…>; rel="next"`` header when the broker sends one (Stellio), else advances the
offset until ``NGSILD-Results-Count`` is reached or a page comes back short (Orion-LD). Tested
against a local HTTP stand-in that checks the request and answers both ways; no real broker runs
here, so authentication, real ProblemDetails bodies and brokers' own page limits are not covered.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import polars as pl

from observatory.config import Settings
from observatory.errors import DataFormatError, ParameterError, ServiceError
from observatory.sources.base import (
    READINGS_SCHEMA,
    REPORTS_SCHEMA,
    SENSORS_SCHEMA,
    SERIES_SCHEMA,
    TEXT_READINGS_SCHEMA,
    Batch,
    empty,
    rejects_frame,
)
from observatory.territory.communes import communes_at

SOURCE_SYSTEM = "ngsi-ld"
ENTITIES_PATH = "/ngsi-ld/v1/entities"
CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
JSONLD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
PAGE_SIZE = 100  # entities per request; Stellio's default ceiling (Orion-LD allows 1000)
FETCH_TIMEOUT_S = 30.0  # HTTP timeout per page, seconds
MAX_LINE_BYTES = 16 * 1024 * 1024  # longest JSON line read, bytes
GZIP_MAGIC = b"\x1f\x8b"
MAX_JSON_DEPTH = 100  # nesting levels accepted; entities nest a few, Python's recursion stops near 1000
TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
# Stored times are int64 ns since the epoch; DuckDB keeps +-(2**63 - 1) for +-infinity.
TIME_NS_MIN, TIME_NS_MAX = -(2**63) + 2, 2**63 - 2

REPORT_TYPES = ("Issue", "Alert", "ServiceRequest")
# Where each report column is looked for, first match wins (Smart Data Models attribute names).
REPORT_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "time": ("dateIssued", "dateCreated", "requested_datetime", "observationDateTime", "dateObserved"),
    "resolved_time": ("dateResolved", "closed_datetime"),
    "category": ("category", "issueCategory", "service_name", "service_code"),
    "status": ("status", "issueStatus", "resolutionStatus"),
    "text": ("description", "issueDescription", "comments"),
    "reporter": ("reporter", "email", "phone", "first_name", "last_name", "contactPoint"),
}
# Smart Data Models entity types and the observatory's domains; other types leave domain null.
DOMAIN_BY_TYPE = {
    "AirQualityObserved": "air",
    "WeatherObserved": "weather",
    "WeatherForecast": "weather",
    "WaterQualityObserved": "water",
    "WaterConsumptionObserved": "water",
    "WaterObserved": "hydrology",
    "FloodMonitoring": "hydrology",
    "TrafficFlowObserved": "mobility",
    "ParkingSpot": "mobility",
    "OffStreetParking": "mobility",
    "Streetlight": "energy",
    "SolarEnergy": "energy",
}

ENTITY_KEYS = frozenset(
    {"id", "type", "@context", "scope", "createdAt", "modifiedAt", "observedAt", "deletedAt"}
)
GEOJSON_TYPES = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "GeometryCollection"}
)
# Keys that make a dict an attribute (normalized or concise) rather than a keyValues JSON value.
ATTRIBUTE_KEYS = frozenset({"value", "object", "objectList", "languageMap", "vocab", "valueList", "json"})
ATTRIBUTE_TYPES = frozenset(
    {
        "Property",
        "GeoProperty",
        "Relationship",
        "LanguageProperty",
        "VocabProperty",
        "ListProperty",
        "JsonProperty",
        "ListRelationship",
    }
)

_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:[.,](\d{1,9})\d*)?(Z|z|[+-]\d{2}(?::?\d{2})?)"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


# --- small shared pieces ------------------------------------------------------------------------


def parse_time_ns(text: Any) -> int:
    """ISO 8601 date-time with a zone (``Z`` or ``±hh:mm``), to ns since the epoch; ValueError else.

    Fractions keep up to nanoseconds (digits beyond the ninth are dropped).
    """
    match = _TIME_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"{str(text)[:60]!r} is not an ISO 8601 date-time with a zone, e.g. 2026-11-20T10:00:00Z"
        )
    date, clock, fraction, zone = match.groups()
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        moment = dt.datetime.fromisoformat(f"{date}T{clock}{zone}")
    except ValueError as exc:
        raise ValueError(f"{text[:60]!r}: {exc}") from None
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return checked_time_ns(seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0")), text)


def checked_time_ns(value: int, text: Any) -> int:
    """``value`` (ns since the epoch) when a nanosecond timestamp holds it (1677-09-21 to
    2262-04-11, int64 as the warehouse and Polars store it); ValueError naming ``text`` else."""
    if not TIME_NS_MIN <= value <= TIME_NS_MAX:
        raise ValueError(f"{str(text)[:60]!r} is outside 1677-09-21 .. 2262-04-11, the range of stored times")
    return value


def time_parameter(value: dt.datetime | str | None, name: str) -> int | None:
    """A user-given instant (aware datetime or ISO 8601 text) as ns, or None; ParameterError if unusable."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ParameterError(
                "a naive datetime has no time zone",
                parameter=name,
                hint="pass e.g. datetime(..., tzinfo=UTC)",
            )
        delta = value - _EPOCH
        ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    try:
        return checked_time_ns(ns, value) if isinstance(value, dt.datetime) else parse_time_ns(value)
    except ValueError as exc:
        raise ParameterError(str(exc), parameter=name) from None


def compact(name: str) -> str:
    """An attribute or type name as people write it: default-context prefix dropped, IRIs to their last segment."""
    if name.startswith(DEFAULT_VOCAB):
        return name[len(DEFAULT_VOCAB) :]
    if "://" in name:
        return re.split(r"[/#]", name.rstrip("/#"))[-1] or name
    return name


def domain_of(entity_type: str) -> str | None:
    """The observatory domain of a Smart Data Models entity type, or None."""
    return DOMAIN_BY_TYPE.get(entity_type)


def open_maybe_gzip(path: Path) -> IO[bytes]:
    """A binary handle on ``path``, decompressing when it starts with the gzip magic bytes."""
    with open(path, "rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


class JsonLine(NamedTuple):
    line: int
    value: Any  # the decoded JSON value, when error is None
    error: str | None
    text: str  # the line as read (for quarantine)


def iter_json_lines(path: Path, first_line: int = 1) -> Iterator[JsonLine]:
    """Decode a JSON-lines file (gzip or plain) line by line; bad lines come back with an error.

    Blank lines are skipped. A line longer than MAX_LINE_BYTES is reported and skipped; a gzip
    stream that is cut short ends the file with one error record after the lines read before it.
    """
    line = first_line - 1
    with open_maybe_gzip(path) as handle:
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                yield JsonLine(line + 1, None, f"the gzip stream is truncated or corrupt ({exc})", "")
                return
            if not raw:
                return
            line += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                yield JsonLine(
                    line,
                    None,
                    f"line longer than {MAX_LINE_BYTES} bytes",
                    raw[:4096].decode("utf-8", "replace"),
                )
                _skip_rest_of_line(handle)
                continue
            if not raw.strip():
                continue
            yield _decode_line(line, raw)


def _skip_rest_of_line(handle: IO[bytes]) -> None:
    while True:
        chunk = handle.readline(MAX_LINE_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def _decode_line(line: int, raw: bytes) -> JsonLine:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return JsonLine(
            line, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})", raw.decode("utf-8", "replace")
        )
    try:
        return JsonLine(line, load_json(text.lstrip("\ufeff")), None, text)
    except json.JSONDecodeError as exc:
        return JsonLine(line, None, f"not JSON: {exc.msg} at column {exc.colno}", text)
    except ValueError as exc:
        return JsonLine(line, None, str(exc), text)


def load_json(text: str | bytes) -> Any:
    """``json.loads``, refusing (ValueError) values nested deeper than MAX_JSON_DEPTH: readers walk
    and re-encode values recursively, which a hostile nesting would make fail anywhere later."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(TOO_DEEP)
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
    return value


def geojson_point(value: Any) -> tuple[float, float] | None:
    """(lon, lat) of a GeoJSON Point with WGS84 coordinates in range, else None."""
    if not (isinstance(value, dict) and value.get("type") == "Point"):
        return None
    coordinates = value.get("coordinates")
    if not (isinstance(coordinates, list) and len(coordinates) in (2, 3)):
        return None
    return lonlat(coordinates[0], coordinates[1])


def as_float(value: int | float) -> float:
    """A JSON number as a float; an integer beyond float64 becomes +-inf, which the callers refuse
    as not finite (``float`` itself raises OverflowError on it)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def lonlat(lon: Any, lat: Any) -> tuple[float, float] | None:
    """(lon, lat) as floats when both are finite numbers within ±180/±90, else None."""
    if isinstance(lon, bool) or isinstance(lat, bool):
        return None
    if not (isinstance(lon, int | float) and isinstance(lat, int | float)):
        return None
    lon, lat = as_float(lon), as_float(lat)
    if math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90:
        return lon, lat
    return None


def json_text(value: Any) -> str:
    """A structured value as compact JSON text, non-ASCII kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def series_frame(series: Mapping[tuple[str, str], dict[str, Any]]) -> pl.DataFrame:
    """SERIES_SCHEMA rows from ``{(sensor_id, measurement): tags}``, tags as JSON with sorted keys."""
    if not series:
        return empty(SERIES_SCHEMA)
    return pl.DataFrame(
        [
            (
                sensor_id,
                measurement,
                json.dumps(tags, sort_keys=True, ensure_ascii=False, separators=(",", ":")),
            )
            for (sensor_id, measurement), tags in series.items()
        ],
        schema=SERIES_SCHEMA,
        orient="row",
    )


# --- attributes ---------------------------------------------------------------------------------


class Instance(NamedTuple):
    """One value of one attribute, sorted into what it becomes."""

    field: str
    kind: str  # "number", "text", "location" or "null"
    value: Any  # float, str or (lon, lat)
    observed_at: Any
    modified_at: Any
    unit: str | None


def _is_attribute(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    return bool(ATTRIBUTE_KEYS & value.keys()) or value.get("type") in ATTRIBUTE_TYPES


def attribute_instances(name: str, raw: Any) -> Iterator[Instance]:
    """Every value an attribute holds (several for a multi-attribute), in any of the three forms."""
    if isinstance(raw, list) and raw and all(_is_attribute(item) for item in raw):
        for item in raw:
            yield from _instances_of(name, item)
    else:
        yield from _instances_of(name, raw)


def _instances_of(name: str, raw: Any) -> Iterator[Instance]:
    if not isinstance(raw, dict) or not _is_attribute(raw):
        yield _plain_value(name, raw, None, None, None)  # keyValues, or a concise GeoProperty
        return
    dataset = raw.get("datasetId")
    field_name = f"{name}[{dataset}]" if isinstance(dataset, str) and dataset else name
    observed, modified, unit = raw.get("observedAt"), raw.get("modifiedAt"), raw.get("unitCode")
    unit = unit if isinstance(unit, str) else None
    kind = raw.get("type")
    if "object" in raw or kind == "Relationship":
        yield Instance(field_name, *_text_of(raw.get("object")), observed, modified, None)
    elif "objectList" in raw or "valueList" in raw or "json" in raw:
        key = next(k for k in ("objectList", "valueList", "json") if k in raw)
        yield Instance(field_name, *_text_of(raw[key]), observed, modified, unit)
    elif "languageMap" in raw:
        yield from _language_map(field_name, raw["languageMap"], observed, modified)
    elif "vocab" in raw:
        yield Instance(field_name, *_text_of(raw["vocab"]), observed, modified, None)
    elif kind == "geo:point" and isinstance(raw.get("value"), str):
        yield _v2_geo_point(field_name, raw["value"], observed, modified)
    else:
        yield _plain_value(field_name, raw.get("value"), observed, modified, unit)


def _text_of(value: Any) -> tuple[str, Any]:
    if value is None:
        return "null", None
    return "text", value if isinstance(value, str) else json_text(value)


def _language_map(name: str, languages: Any, observed: Any, modified: Any) -> Iterator[Instance]:
    if not isinstance(languages, dict):
        yield Instance(name, *_text_of(languages), observed, modified, None)
        return
    for language, text in languages.items():
        yield Instance(f"{name}@{language}", *_text_of(text), observed, modified, None)


def _v2_geo_point(name: str, text: str, observed: Any, modified: Any) -> Instance:
    """NGSI-v2 ``geo:point`` text ``"lat, lon"``."""
    parts = text.split(",")
    try:
        point = lonlat(float(parts[1]), float(parts[0])) if len(parts) == 2 else None
    except ValueError:
        point = None
    if point is not None and name == "location":
        return Instance(name, "location", point, observed, modified, None)
    return Instance(name, "text", text, observed, modified, None)


def _plain_value(name: str, value: Any, observed: Any, modified: Any, unit: str | None) -> Instance:
    if value is None:
        return Instance(name, "null", None, observed, modified, unit)
    if isinstance(value, bool):
        return Instance(name, "number", 1.0 if value else 0.0, observed, modified, unit)
    if isinstance(value, int | float):
        return Instance(name, "number", as_float(value), observed, modified, unit)
    if isinstance(value, str):
        return Instance(name, "text", value, observed, modified, unit)
    if isinstance(value, dict) and "@value" in value:
        return Instance(name, *_text_of(value["@value"]), observed, modified, unit)
    if name == "location" and (point := geojson_point(value)) is not None:
        return Instance(name, "location", point, observed, modified, None)
    return Instance(name, "text", json_text(value), observed, modified, unit)


def plain(raw: Any) -> Any:
    """The bare value of an attribute in any form (first instance of a multi-attribute)."""
    if isinstance(raw, list) and raw and all(_is_attribute(item) for item in raw):
        raw = raw[0]
    if not _is_attribute(raw):
        return raw
    for key in ("value", "object", "vocab", "languageMap", "valueList", "objectList", "json"):
        if key in raw:
            value = raw[key]
            return value.get("@value") if isinstance(value, dict) and "@value" in value else value
    return None


# --- entities -----------------------------------------------------------------------------------


@dataclass
class _Collector:
    """Rows gathered from entities, turned into a Batch at the end."""

    source: str
    default_time_ns: int | None
    report_types: frozenset[str]
    readings: list[tuple] = field(default_factory=list)
    text: list[tuple] = field(default_factory=list)
    rejects: list[tuple[int | None, str, str]] = field(default_factory=list)
    sensors: dict[str, dict] = field(default_factory=dict)
    series: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    reports: list[dict] = field(default_factory=list)

    def reject(self, record: int | None, reason: str, text: Any) -> None:
        self.rejects.append((record, reason, text if isinstance(text, str) else json_text(text)))

    def entity(self, record: int | None, entity: Any) -> None:
        if not isinstance(entity, dict):
            self.reject(record, f"an entity is a JSON object, not {type(entity).__name__}", entity)
            return
        entity_id, entity_type = entity.get("id"), entity.get("type")
        if isinstance(entity_type, list) and entity_type and all(isinstance(t, str) for t in entity_type):
            entity_type = entity_type[0]  # NGSI-LD 1.5+ multi-typing: the first type names the measurement
        if not (isinstance(entity_id, str) and entity_id and isinstance(entity_type, str) and entity_type):
            self.reject(record, "the entity has no string 'id' and 'type'", entity)
            return
        entity_type = compact(entity_type)
        if entity_type in self.report_types:
            self.report(record, entity_id, entity)
        else:
            self.observations(record, entity_id, entity_type, entity)

    def times(self, entity: dict, instance: Instance) -> int:
        for candidate in (
            instance.observed_at,
            entity.get("observedAt"),
            instance.modified_at,
            entity.get("modifiedAt"),
        ):
            if candidate is not None:
                return parse_time_ns(candidate)
        if self.default_time_ns is not None:
            return self.default_time_ns
        raise ValueError(
            "no observedAt on the attribute nor the entity, no modifiedAt, and no default_time given"
        )

    def observations(self, record: int | None, entity_id: str, entity_type: str, entity: dict) -> None:
        sensor = {"kind": entity_type, "lonlat": None, "units": {}}
        for key, raw in entity.items():
            if key in ENTITY_KEYS:
                continue
            for instance in attribute_instances(compact(key), raw):
                self.instance(record, entity_id, entity_type, entity, instance, sensor)
        if entity.get("scope") is not None:
            self.series[(entity_id, entity_type)] = {"scope": entity["scope"]}
        known = self.sensors.get(entity_id)
        if known is not None:  # the same entity twice (two pages, two lines): keep what each one told
            sensor["lonlat"] = sensor["lonlat"] or known["lonlat"]
            sensor["units"] = {**known["units"], **sensor["units"]}
        self.sensors[entity_id] = sensor

    def instance(
        self,
        record: int | None,
        entity_id: str,
        entity_type: str,
        entity: dict,
        instance: Instance,
        sensor: dict,
    ) -> None:
        if instance.kind == "null":
            return
        if instance.kind == "location":
            sensor["lonlat"] = instance.value
            return
        if instance.unit is not None:
            sensor["units"][instance.field] = instance.unit
        try:
            if instance.kind == "number" and not math.isfinite(instance.value):
                raise ValueError(f"{instance.value} is not a finite number")
            time_ns = self.times(entity, instance)
        except ValueError as exc:
            self.reject(
                record,
                f"{entity_id} {instance.field}: {exc}",
                {"id": entity_id, instance.field: instance.value},
            )
            return
        row = (time_ns, entity_id, entity_type, instance.field, instance.value)
        (self.readings if instance.kind == "number" else self.text).append(row)

    def report(self, record: int | None, entity_id: str, entity: dict) -> None:
        attrs = {compact(k): v for k, v in entity.items() if k not in ENTITY_KEYS}
        try:
            row = self.report_row(entity_id, entity, attrs)
        except ValueError as exc:
            self.reject(record, f"report {entity_id}: {exc}", entity)
            return
        self.reports.append(row)

    def report_row(self, entity_id: str, entity: dict, attrs: dict) -> dict:
        found = {column: _first(attrs, names) for column, names in REPORT_ATTRIBUTES.items()}
        time = (
            found["time"] or entity.get("observedAt") or entity.get("createdAt") or entity.get("modifiedAt")
        )
        if time is not None:
            time_ns = parse_time_ns(time)
        elif self.default_time_ns is not None:
            time_ns = self.default_time_ns
        else:
            raise ValueError(
                "no date (dateIssued, dateCreated, …, observedAt, createdAt) and no default_time given"
            )
        resolved = found["resolved_time"]
        point = geojson_point(plain(attrs.get("location")))
        reporter = [
            _as_text(plain(attrs[name])) for name in REPORT_ATTRIBUTES["reporter"] if plain(attrs.get(name))
        ]
        return {
            "report_id": entity_id,
            "time": time_ns,
            "category": _as_text(found["category"]),
            "insee": None,
            "lon": point[0] if point else None,
            "lat": point[1] if point else None,
            "status": _as_text(found["status"]),
            "resolved_time": parse_time_ns(resolved) if resolved is not None else None,
            "text": _as_text(found["text"]),
            "reporter": "; ".join(reporter) or None,
            "source_system": SOURCE_SYSTEM,
        }

    def batch(self, config: Settings | None) -> Batch:
        readings = _frame(self.readings, READINGS_SCHEMA)
        text = _frame(self.text, TEXT_READINGS_SCHEMA)
        reports = pl.DataFrame(self.reports, schema=REPORTS_SCHEMA) if self.reports else empty(REPORTS_SCHEMA)
        if reports.height:
            insee = communes_at(reports["lon"].to_list(), reports["lat"].to_list(), config)
            reports = reports.with_columns(pl.Series("insee", insee, dtype=pl.String))
        return Batch(
            readings=readings,
            text_readings=text,
            rejects=rejects_frame(self.source, self.rejects),
            sensors=sensors_frame(self.sensors, SOURCE_SYSTEM, config),
            reports=reports,
            series=series_frame(self.series),
        )


def _first(attrs: dict, names: Sequence[str]) -> Any:
    for name in names:
        value = plain(attrs.get(name))
        if value not in (None, ""):
            return value
    return None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json_text(value)


def _frame(rows: list[tuple], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not rows:
        return empty(schema)
    return pl.DataFrame(rows, schema=schema, orient="row")


def sensors_frame(sensors: Mapping[str, dict], source_system: str, config: Settings | None) -> pl.DataFrame:
    """SENSORS_SCHEMA rows from ``{sensor_id: {"kind", "lonlat", "units"}}``, communes assigned."""
    if not sensors:
        return empty(SENSORS_SCHEMA)
    ids = list(sensors)
    lon = [s["lonlat"][0] if s["lonlat"] else None for s in sensors.values()]
    lat = [s["lonlat"][1] if s["lonlat"] else None for s in sensors.values()]
    return pl.DataFrame(
        {
            "sensor_id": ids,
            "domain": [domain_of(s["kind"]) for s in sensors.values()],
            "kind": [s["kind"] for s in sensors.values()],
            "unit": [_unit(s["units"]) for s in sensors.values()],
            "insee": communes_at(lon, lat, config),
            "lon": lon,
            "lat": lat,
            "installed": [None] * len(ids),
            "source_system": [source_system] * len(ids),
        },
        schema=SENSORS_SCHEMA,
    )


def _unit(units: dict[str, str]) -> str | None:
    codes = set(units.values())
    if not codes:
        return None
    if len(codes) == 1:
        return codes.pop()
    return ";".join(f"{name}={code}" for name, code in sorted(units.items()))


def entities_to_batch(
    entities: Iterable[Any],
    source: str = "<entities>",
    *,
    default_time: dt.datetime | str | None = None,
    report_types: Sequence[str] = REPORT_TYPES,
    first_record: int = 1,
    config: Settings | None = None,
) -> Batch:
    """Canonical tables from NGSI-LD entities (any form); see the module docstring for the mapping.

    Rejected values name ``source`` and the entity's record number (``first_record`` for the first).
    """
    collector = _Collector(source, time_parameter(default_time, "default_time"), frozenset(report_types))
    for record, entity in enumerate(entities, start=first_record):
        collector.entity(record, entity)
    return collector.batch(config)


# --- files --------------------------------------------------------------------------------------


def read_file(
    path: str | Path,
    *,
    default_time: dt.datetime | str | None = None,
    report_types: Sequence[str] = REPORT_TYPES,
    config: Settings | None = None,
) -> Iterator[Batch]:
    """The warehouse's entry point: a saved broker answer (JSON array), one entity, or JSON lines.

    gzip is detected by its magic bytes. In an array, ``line`` in rejects is the entity's position
    (1-based); in JSON lines it is the line. A JSON document that does not parse raises
    DataFormatError with its line, unless some of its lines are whole entities: then it is JSON
    lines whose first line is broken, each line kept or rejected alone.
    """
    path = Path(path)
    default_ns = time_parameter(default_time, "default_time")
    collector = _Collector(str(path), default_ns, frozenset(report_types))
    entities = None if _is_json_lines(path) else _document_entities(path)
    if entities is None:
        for item in iter_json_lines(path):
            if item.error is not None:
                collector.reject(item.line, item.error, item.text)
            else:
                collector.entity(item.line, item.value)
    else:
        for record, entity in enumerate(entities, start=1):
            collector.entity(record, entity)
    yield collector.batch(config)


def _document_entities(path: Path) -> list | None:
    """The entities of a one-document file; None when it is JSON lines after all."""
    try:
        document = _whole_document(path)
    except DataFormatError:
        if any(isinstance(item.value, dict) for item in iter_json_lines(path)):
            return None
        raise
    return document if isinstance(document, list) else [document]


def _is_json_lines(path: Path) -> bool:
    """True when the file holds one JSON value per line rather than one (pretty-printed) document.

    A document opens with ``[``, or with a ``{`` alone on its line; anything else is read line by
    line, so a first line too broken to parse (or blank) is rejected alone, not with the file.
    """
    try:
        with open_maybe_gzip(path) as handle:
            for raw in iter(lambda: handle.readline(MAX_LINE_BYTES), b""):
                first = raw.lstrip(b"\xef\xbb\xbf").strip()
                if first:
                    return not (first.startswith(b"[") or first == b"{")
    except (EOFError, zlib.error, gzip.BadGzipFile):
        pass  # read line by line, which keeps what precedes the damage
    return True


def _whole_document(path: Path) -> Any:
    """The file's one JSON value (an array of entities or one entity); DataFormatError when unreadable."""
    try:
        with open_maybe_gzip(path) as handle:
            data = handle.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(
            f"the gzip stream is truncated or corrupt ({exc})", path=path, hint="save the broker answer again"
        ) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataFormatError(f"not valid UTF-8 ({exc.reason})", path=path, line=line) from None
    if not text.strip():
        return []
    try:
        return load_json(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(
            f"not JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno
        ) from None
    except ValueError as exc:
        raise DataFormatError(str(exc), path=path, line=1) from None


# --- live broker --------------------------------------------------------------------------------


class Page(NamedTuple):
    first_record: int  # 1-based position of the page's first entity in the whole answer
    entities: list[Any]
    total: int | None  # NGSILD-Results-Count, when the broker sent it


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ParameterError(
            f"{url!r} is not an http(s) URL", parameter="url", hint="e.g. http://127.0.0.1:1026 (Orion-LD)"
        )
    return url.rstrip("/")


def _headers(context: str | None, tenant: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if context:
        headers["Link"] = f'<{context}>; rel="{JSONLD_CONTEXT_REL}"; type="application/ld+json"'
    if tenant:
        headers["NGSILD-Tenant"] = tenant
    return headers


def iter_pages(
    url: str,
    *,
    entity_type: str | None = None,
    params: Mapping[str, str] | None = None,
    context: str | None = None,
    tenant: str | None = None,
    key_values: bool = False,
    page_size: int = PAGE_SIZE,
    timeout_s: float = FETCH_TIMEOUT_S,
) -> Iterator[Page]:
    """Pages of ``GET <url>/ngsi-ld/v1/entities`` until the broker has sent every entity.

    ``params`` adds query parameters (``q``, ``attrs``, ``georel``…); ``context`` is sent as the
    JSON-LD ``Link`` header, ``tenant`` as ``NGSILD-Tenant``. Unreachable or refusing brokers raise
    ServiceError naming the URL.
    """
    import requests

    base = _check_url(url) + ENTITIES_PATH
    if not 1 <= page_size <= 1000:
        raise ParameterError(f"page_size {page_size} is outside 1..1000", parameter="page_size")
    query: dict[str, str] = {**(params or {}), "limit": str(page_size), "offset": "0", "count": "true"}
    if entity_type:
        query["type"] = entity_type
    if key_values:
        query["options"] = "keyValues"
    headers = _headers(context, tenant)
    request_url: str = base
    request_params: dict[str, str] | None = query
    seen: set[str] = set()
    position = 0
    with requests.Session() as session:
        while True:
            response = _get(session, request_url, request_params, headers, timeout_s, url)
            entities, total = _page(response, url)
            yield Page(position + 1, entities, total)
            position += len(entities)
            next_link = response.links.get("next", {}).get("url")
            if not entities:
                return
            if next_link:
                request_url, request_params = urljoin(base, next_link), None
                if request_url in seen:
                    raise ServiceError(
                        f"the broker at {url} sent the same next page twice ({request_url})", parameter="url"
                    )
                seen.add(request_url)
                continue
            if (total is not None and position >= total) or (total is None and len(entities) < page_size):
                return
            request_url, request_params = base, {**query, "offset": str(position)}


def _get(session, request_url: str, params, headers, timeout_s: float, url: str):
    import requests

    try:
        response = session.get(request_url, params=params, headers=headers, timeout=timeout_s)
    except requests.RequestException as exc:
        raise ServiceError(
            f"cannot reach the NGSI-LD broker at {url}: {exc}",
            parameter="url",
            hint="check that the broker runs and the URL (scheme, host, port) is right",
        ) from None
    if response.status_code >= 400:
        raise _broker_error(response, url)
    return response


def _broker_error(response, url: str) -> ServiceError:
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    problem = problem if isinstance(problem, dict) else {}
    words = ": ".join(str(problem[k]) for k in ("title", "detail") if problem.get(k)) or response.reason
    hints = {
        400: "check the query parameters (type, q, attrs) against the broker's NGSI-LD version",
        401: "the broker wants credentials",
        403: "the credentials may not read these entities",
        404: "check the URL and the tenant (NGSILD-Tenant)",
    }
    return ServiceError(
        f"the NGSI-LD broker at {url} refused the query (HTTP {response.status_code}: {words})",
        parameter="url",
        hint=hints.get(response.status_code, "see the broker's log"),
    )


def _page(response, url: str) -> tuple[list[Any], int | None]:
    try:
        entities = response.json()
    except ValueError:
        raise ServiceError(f"the NGSI-LD broker at {url} answered with no JSON", parameter="url") from None
    if not isinstance(entities, list):
        raise ServiceError(
            f"the NGSI-LD broker at {url} answered a {type(entities).__name__}, not a list of entities"
        )
    count = response.headers.get("NGSILD-Results-Count")
    try:
        total = int(count) if count is not None else None
    except ValueError:
        total = None
    return entities, total


def fetch_entities(
    url: str,
    *,
    entity_type: str | None = None,
    params: Mapping[str, str] | None = None,
    context: str | None = None,
    tenant: str | None = None,
    key_values: bool = False,
    page_size: int = PAGE_SIZE,
    timeout_s: float = FETCH_TIMEOUT_S,
    default_time: dt.datetime | str | None = None,
    report_types: Sequence[str] = REPORT_TYPES,
    config: Settings | None = None,
) -> Batch:
    """Every entity a live broker answers (all pages, see `iter_pages`) as one canonical Batch."""
    source = _check_url(url) + ENTITIES_PATH
    collector = _Collector(source, time_parameter(default_time, "default_time"), frozenset(report_types))
    pages = iter_pages(
        url,
        entity_type=entity_type,
        params=params,
        context=context,
        tenant=tenant,
        key_values=key_values,
        page_size=page_size,
        timeout_s=timeout_s,
    )
    for page in pages:
        for record, entity in enumerate(page.entities, start=page.first_record):
            collector.entity(record, entity)
    return collector.batch(config)
