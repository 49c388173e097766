"""Hostile input for the fuzz tests: strings a hostile user types, mutations of valid lines, and
valid field files in the real shapes (the simulator's day, re-written as each upstream exports it)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
from hypothesis import strategies as st

# What a hostile user puts in a parameter: SQL, markup, control characters, 10 kB, odd unicode,
# paths and numbers that overflow.
HOSTILE_STRINGS = (
    "'; DROP TABLE readings; --",
    "97209' OR '1'='1",
    '97209" OR "1"="1',
    "97209; DELETE FROM sensors",
    "<script>alert('xss')</script>",
    "'><img src=x onerror=alert(1)>",
    "\x00",
    "97209\x00",
    "x" * 10_240,
    "\u202e90279",  # right-to-left override
    "٩٧٢٠٩",  # Arabic-Indic digits: int() reads them as 97209
    "𝟗𝟕𝟐𝟎𝟗",
    "Fort-de-France 🌋",
    "../../../etc/passwd",
    "%2e%2e%2f",
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "NaN",
    "-inf",
    "1e309",
    "9" * 400,
    "-1",
    "",
    " ",
    "\r\n",
    "\\",
    "'",
    '"',
    "2026-06-01T00:00:00+99:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
)


def hostile_text() -> st.SearchStrategy[str]:
    """A hostile string: one of HOSTILE_STRINGS, or any text (surrogates and NUL included)."""
    return st.one_of(
        st.sampled_from(HOSTILE_STRINGS),
        st.text(max_size=40),
        st.binary(max_size=24).map(lambda raw: raw.decode("latin-1")),
    )


# --- mutations of valid lines ----------------------------------------------------------------------

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")
HUGE_NUMBERS = (
    b"1e309",
    b"-1e309",
    b"9" * 400,
    b"18446744073709551616u",
    b"9223372036854775808i",
    b"4.9e-324",
)
NOT_NUMBERS = (b"NaN", b"nan", b"inf", b"-Infinity", b"+inf", b"0x1p3", b"1_000")
ODD_UNICODE = ("é", "🌋", "\u202e", "\ufeff", "\u2028", "\u0085", "ﬁ")
INVALID_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80")
QUOTES = (b'"', b"'", b"\\", b'\\"', b'""', b'","', b"\\\n")
MUTATIONS = ("truncate", "flip", "nul", "huge", "not_number", "long_text", "unicode", "newline", "quote")


@st.composite
def mutated(draw: st.DrawFn, line: bytes) -> bytes:
    """``line`` damaged one way: truncated, a byte flipped, NUL, a huge or non-finite number, 10 kB
    of text, odd or invalid unicode, CR/CRLF inside, quotes and backslashes."""
    kind = draw(st.sampled_from(MUTATIONS))
    at = draw(st.integers(0, len(line)))
    if kind == "truncate":
        return line[:at]
    if kind == "flip":
        return line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1 :]
    if kind in ("huge", "not_number"):
        numbers = list(_NUMBER.finditer(line))
        if not numbers:
            return line + b"\x00"
        number = draw(st.sampled_from(numbers))
        new = draw(st.sampled_from(HUGE_NUMBERS if kind == "huge" else NOT_NUMBERS))
        return line[: number.start()] + new + line[number.end() :]
    insert = {
        "nul": st.just(b"\x00"),
        "long_text": st.just(b"x" * 10_240),
        "unicode": st.one_of(st.sampled_from(ODD_UNICODE).map(str.encode), st.sampled_from(INVALID_UTF8)),
        "newline": st.sampled_from((b"\r", b"\r\n", b"\n")),
        "quote": st.sampled_from(QUOTES),
    }[kind]
    return line[:at] + draw(insert) + line[at:]


def nested_json() -> st.SearchStrategy[bytes]:
    """JSON nested deep enough to exhaust a recursive reader (Python's recursion stops near 1000)."""
    return st.builds(
        lambda depth, kind: (b'{"a":' * depth + b"1" + b"}" * depth) if kind else b"[" * depth + b"]" * depth,
        st.sampled_from((200, 990, 1_500, 100_000)),
        st.booleans(),
    )


@dataclass(frozen=True)
class Spliced:
    """A file's lines, valid and hostile, in order; ``hostile`` flags the hostile ones."""

    lines: tuple[bytes, ...]
    hostile: tuple[bool, ...]

    def data(self, head: bytes = b"", newline: bytes = b"\n") -> bytes:
        return head + b"".join(line + newline for line in self.lines)

    def valid(self) -> list[bytes]:
        return [line for line, bad in zip(self.lines, self.hostile, strict=True) if not bad]

    def __repr__(self) -> str:  # the hostile lines and where they are; the valid ones are known
        bad = {
            i: line[:300]
            for i, (line, hostile) in enumerate(zip(self.lines, self.hostile, strict=True))
            if hostile
        }
        return f"Spliced({len(self.lines)} lines, hostile at index: {bad!r})"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


@st.composite
def spliced(draw: st.DrawFn, valid: list[bytes], donors: list[bytes], most: int = 4) -> Spliced:
    """``valid`` lines with 1..``most`` mutated copies of ``donors`` lines inserted anywhere."""
    lines, hostile = list(valid), [False] * len(valid)
    for _ in range(draw(st.integers(1, most))):
        bad = draw(mutated(draw(st.sampled_from(donors))))
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, bad)
        hostile.insert(at, True)
    return Spliced(tuple(lines), tuple(hostile))


def hostile_json() -> st.SearchStrategy[object]:
    """A JSON value a hostile sender could put anywhere: odd scalars, huge or non-finite numbers,
    hostile text, nested lists and objects."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.sampled_from((10**400, -(10**400), 2**63, -(2**63) - 1)),
        hostile_text(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text(), inner, max_size=3),
        max_leaves=8,
    )


def _places(value: object, path: tuple = ()) -> list[tuple]:
    """Every (container path, key) of a JSON value, for damage anywhere in it."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            found += [(path, key), *_places(child, (*path, key))]
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += [(path, index), *_places(child, (*path, index))]
    return found


@st.composite
def damaged_entity(draw: st.DrawFn, entity: dict) -> object:
    """``entity`` with one value replaced by hostile JSON (or a hostile time), one key dropped, or
    nothing of it left but a hostile value."""
    kind = draw(st.sampled_from(("replace", "drop", "whole")))
    if kind == "whole":
        return draw(hostile_json())
    damaged = copy.deepcopy(entity)
    path, key = draw(st.sampled_from(_places(damaged)))
    container = damaged
    for step in path:
        container = container[step]
    if kind == "drop":
        del container[key]
    else:
        container[key] = draw(st.one_of(hostile_json(), st.sampled_from(HOSTILE_STRINGS[-6:])))
    return damaged


# --- valid files in the upstream shapes, from the simulator's readings -------------------------------

QUANTUMLEAP_TYPES = {  # measurement -> Smart Data Models type, as the FIWARE side names it
    "air_quality": "AirQualityObserved",
    "weather": "WeatherObserved",
    "river": "WaterObserved",
    "traffic": "TrafficFlowObserved",
    "pv": "SolarEnergy",
}
FLUX_HEAD = (
    b"#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string\n"
    b"#group,false,false,true,true,false,false,true,true,true,true\n"
    b"#default,_result,,,,,,,,,\n"
    b",result,table,_start,_stop,_time,_value,_field,_measurement,insee,sensor_id\n"
)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def flux_lines(readings: pl.DataFrame, sensors: pl.DataFrame) -> list[bytes]:
    """Record rows of ``influx query --raw`` for the readings (one table per series), under FLUX_HEAD."""
    frame = readings.join(sensors.select("sensor_id", "insee"), on="sensor_id").sort(
        "measurement", "field", "sensor_id", "time"
    )
    start, stop = _iso(frame["time"].min()), _iso(frame["time"].max() + dt.timedelta(seconds=1))
    tables: dict[tuple, int] = {}
    lines = []
    for time, sensor_id, measurement, field, value, insee in frame.iter_rows():
        table = tables.setdefault((measurement, field, sensor_id), len(tables))
        lines.append(
            f",,{table},{start},{stop},{_iso(time)},{value!r},{field},{measurement},{insee},{sensor_id}".encode()
        )
    return lines


def _entities(readings: pl.DataFrame, sensors: pl.DataFrame) -> Iterable[tuple[dict, dict, str]]:
    """(row of values, the sensor, NGSI type) per sensor and time, for the FIWARE-typed measurements."""
    located = {row["sensor_id"]: row for row in sensors.iter_rows(named=True)}
    frame = readings.filter(pl.col("measurement").is_in(list(QUANTUMLEAP_TYPES)))
    for (sensor_id, time), group in frame.group_by("sensor_id", "time", maintain_order=True):
        values = dict(zip(group["field"], group["value"], strict=True))
        measurement = group["measurement"][0]
        yield {"time": time, **values}, located[sensor_id], QUANTUMLEAP_TYPES[measurement]


def quantumleap_lines(readings: pl.DataFrame, sensors: pl.DataFrame) -> list[bytes]:
    """A ``COPY "mtopenmartinique"."et<type>" TO DIRECTORY`` export: one JSON object a line."""
    lines = []
    for values, sensor, kind in _entities(readings, sensors):
        row = {
            "entity_id": f"urn:ngsi-ld:{kind}:{sensor['sensor_id']}",
            "entity_type": kind,
            "time_index": int(values.pop("time").timestamp() * 1000),
            "fiware_servicepath": "/martinique",
            "location": [sensor["lon"], sensor["lat"]],
            **values,
        }
        lines.append(json.dumps(row, ensure_ascii=False).encode())
    return lines


def ngsi_entities(readings: pl.DataFrame, sensors: pl.DataFrame) -> list[dict]:
    """Normalized NGSI-LD entities as a broker answers ``GET /ngsi-ld/v1/entities``."""
    entities = []
    for values, sensor, kind in _entities(readings, sensors):
        observed = values.pop("time").astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        entity = {
            "id": f"urn:ngsi-ld:{kind}:{sensor['sensor_id']}",
            "type": kind,
            "location": {
                "type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [sensor["lon"], sensor["lat"]]},
            },
        }
        for name, value in values.items():
            entity[name] = {"type": "Property", "value": value, "observedAt": observed}
        entities.append(entity)
    return entities
