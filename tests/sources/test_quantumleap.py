"""QuantumLeap's CrateDB tables: COPY TO exports with md_ets_metadata, and /_sql through a local stand-in."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from observatory.errors import ParameterError, ServiceError
from observatory.sources.base import READINGS_SCHEMA, REJECTS_SCHEMA, SENSORS_SCHEMA, TEXT_READINGS_SCHEMA
from observatory.sources.quantumleap import (
    CrateQueryError,
    Metadata,
    fetch_entities,
    iter_export,
    query_crate,
    read_directory,
    read_file,
    read_metadata,
    table_name,
)
from tests.http_stand_in import QuietHandler, serving

T0_MS = 1_795_168_800_000  # 2026-11-20T10:00:00Z in epoch milliseconds, as CrateDB writes timestamps
SAVANE = [-61.0676, 14.6012]
LAMENTIN = [-61.0030, 14.5910]
AQ = "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane"
AQ_TABLE = '"mtopenmartinique"."etairqualityobserved"'

# QuantumLeap's own layout: column -> [original attribute name, NGSI type] (sql_translator.original_attrs).
AQ_ATTRS = {
    "entity_id": ["id", "Text"],
    "entity_type": ["type", "Text"],
    "time_index": ["time_index", "DateTime"],
    "no2": ["NO2", "Number"],
    "pm10": ["PM10", "Number"],
    "airqualitylevel": ["airQualityLevel", "Text"],
    "dateobserved": ["dateObserved", "DateTime"],
    "iscalibrated": ["isCalibrated", "Boolean"],
    "refdevice": ["refDevice", "Relationship"],
    "address": ["address", "StructuredValue"],
    "location": ["location", "geo:point"],
}
# The {"name", "type"} spelling is read too.
WEATHER_ATTRS = {
    "temperature": {"name": "temperature", "type": "Number"},
    "weathertype": {"name": "weatherType", "type": "Text"},
    "location": {"name": "location", "type": "geo:json"},
}


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def jsonl(rows: list[Any], newline: str = "\n") -> bytes:
    return (
        newline.join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows).encode()
        + b"\n"
    )


def metadata_rows() -> list[Any]:
    return [
        {"table_name": AQ_TABLE, "entity_attrs": AQ_ATTRS},
        {"table_name": '"mtopenmartinique"."etweatherobserved"', "entity_attrs": WEATHER_ATTRS},
        {"table_name": '"mtcacem"."etairqualityobserved"', "entity_attrs": {"no2": ["no2", "Number"]}},
        {"table_name": '"etparkingspot"', "entity_attrs": {"status": ["status", "Text"]}},
    ]


def aq_row(minutes: int = 0, **values: Any) -> dict[str, Any]:
    row = {
        "entity_id": AQ,
        "entity_type": "AirQualityObserved",
        "time_index": T0_MS + minutes * 60_000,
        "fiware_servicepath": "/madininair",
        "no2": 22.5,
        "pm10": 31.0,
        "airqualitylevel": "modéré",
        "dateobserved": T0_MS + minutes * 60_000,
        "iscalibrated": True,
        "refdevice": "urn:ngsi-ld:Device:capteur-042",
        "address": {"addressLocality": "Fort-de-France", "streetAddress": "Place de la Savane"},
        "location": SAVANE,
    }
    row.update(values)
    return {k: v for k, v in row.items() if v is not None}  # NULL columns are absent from the line


@pytest.fixture
def metadata(tmp_path: Path) -> Metadata:
    path = tmp_path / "md_ets_metadata_0_.json"
    path.write_bytes(jsonl([*metadata_rows(), "{pas du json", {"table_name": "x", "entity_attrs": {"a": 3}}]))
    return read_metadata(path)


def test_metadata_export_in_both_spellings(metadata: Metadata) -> None:
    assert metadata.tables["mtopenmartinique.etairqualityobserved"]["no2"] == ("NO2", "Number")
    assert metadata.tables["mtopenmartinique.etweatherobserved"]["weathertype"] == ("weatherType", "Text")
    assert metadata.rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert metadata.rejects["line"].to_list() == [5, 6]
    assert "not JSON" in metadata.rejects["reason"][0]
    assert "neither [name, type]" in metadata.rejects["reason"][1]
    assert metadata.for_type("ParkingSpot", None) == {"status": ("status", "Text")}
    assert metadata.for_type("WeatherObserved", None) is not None
    assert metadata.for_type("AirQualityObserved", "cacem") == {"no2": ("no2", "Number")}
    with pytest.raises(ParameterError, match="cacem, openmartinique") as caught:
        metadata.for_type("AirQualityObserved", None)
    assert caught.value.parameter == "service"


@pytest.mark.parametrize("compress", [False, True])
def test_export_to_canonical_tables(tmp_path: Path, metadata: Metadata, compress: bool) -> None:
    data = jsonl([aq_row(0), aq_row(15, no2=24.0, pm10=None, airqualitylevel=None, location=None)], "\r\n")
    path = tmp_path / ("etairqualityobserved_0_.json" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    (batch,) = iter_export(path, metadata, service="openmartinique")
    assert batch.rejects.height == 0
    assert batch.readings.schema == pl.Schema(READINGS_SCHEMA)
    assert batch.readings.sort("time", "field").rows() == [
        (utc(2026, 11, 20, 10), AQ, "AirQualityObserved", "NO2", 22.5),
        (utc(2026, 11, 20, 10), AQ, "AirQualityObserved", "PM10", 31.0),
        (utc(2026, 11, 20, 10), AQ, "AirQualityObserved", "isCalibrated", 1.0),
        (utc(2026, 11, 20, 10, 15), AQ, "AirQualityObserved", "NO2", 24.0),
        (utc(2026, 11, 20, 10, 15), AQ, "AirQualityObserved", "isCalibrated", 1.0),
    ]
    assert batch.text_readings.schema == pl.Schema(TEXT_READINGS_SCHEMA)
    first = batch.text_readings.filter(pl.col("time") == utc(2026, 11, 20, 10))
    assert dict(zip(first["field"], first["value"], strict=True)) == {
        "airQualityLevel": "modéré",
        "dateObserved": "2026-11-20T10:00:00.000Z",
        "refDevice": "urn:ngsi-ld:Device:capteur-042",
        "address": '{"addressLocality":"Fort-de-France","streetAddress":"Place de la Savane"}',
    }
    assert batch.sensors.schema == pl.Schema(SENSORS_SCHEMA)
    assert batch.sensors.rows() == [
        (AQ, "air", "AirQualityObserved", None, "97209", *SAVANE, None, "quantumleap"),
    ]
    assert batch.series.rows() == [(AQ, "AirQualityObserved", '{"fiware_servicepath":"/madininair"}')]


def test_entities_quantumleap_failed_to_insert_are_quarantined(tmp_path: Path, metadata: Metadata) -> None:
    raw = {"id": AQ, "type": "AirQualityObserved", "no2": {"type": "Number", "value": "vingt"}}
    failed = {
        "entity_id": AQ,
        "entity_type": "AirQualityObserved",
        "time_index": T0_MS,
        "__original_ngsi_entity__": {
            "data": json.dumps(raw),
            "failedBatchID": "b1",
            "error": "ColumnValidationException",
        },
    }
    path = tmp_path / "etairqualityobserved_0_.json"
    path.write_bytes(jsonl([aq_row(0), failed]))
    (batch,) = iter_export(path, metadata, service="openmartinique")
    assert batch.readings.height == 3
    assert batch.rejects.select("line").to_series().to_list() == [2]
    assert "ColumnValidationException" in batch.rejects["reason"][0]
    assert json.loads(batch.rejects["text"][0]) == raw


def test_bad_lines_and_values_are_rejected_with_their_line(tmp_path: Path, metadata: Metadata) -> None:
    path = tmp_path / "etairqualityobserved_0_.json"
    path.write_bytes(
        jsonl(
            [
                aq_row(0),
                '{"entity_id": "urn:ngsi-ld:AirQualityObserved:X", ',
                {"entity_type": "AirQualityObserved", "time_index": T0_MS, "no2": 3.0},
                aq_row(0, entity_id="urn:ngsi-ld:AirQualityObserved:Y", time_index="hier"),
                aq_row(5, no2="n/a"),
                aq_row(10, location=[200.0, 14.6]),
                [1, 2, 3],
                aq_row(20),
            ]
        )
    )
    (batch,) = iter_export(path, metadata, service="openmartinique")
    assert batch.rejects["line"].to_list() == [2, 3, 4, 5, 6, 7]
    reasons = batch.rejects["reason"].to_list()
    assert "not JSON" in reasons[0]
    assert "no entity_id" in reasons[1]
    assert "'hier'" in reasons[2]
    assert "NO2 (Number): 'n/a' is not a finite number" in reasons[3]
    assert "location (geo:point)" in reasons[4] and "[200.0,14.6]" in reasons[4]
    assert "JSON object" in reasons[5]
    # Line 5 loses NO2 only; line 6 keeps its readings but not its impossible position.
    at = batch.readings.group_by("time").len().sort("time")["len"].to_list()
    assert at == [3, 2, 3, 3]
    assert batch.sensors.select("lon", "lat").rows() == [tuple(SAVANE)]


def test_a_moving_entity_keeps_its_latest_position(tmp_path: Path, metadata: Metadata) -> None:
    path = tmp_path / "etairqualityobserved_0_.json"
    path.write_bytes(jsonl([aq_row(30, location=LAMENTIN), aq_row(0, location=SAVANE)]))
    (batch,) = iter_export(path, metadata, service="openmartinique")
    assert batch.sensors.select("insee", "lon", "lat").rows() == [("97213", *LAMENTIN)]


def test_without_metadata_names_stay_lower_cased_and_types_are_guessed(tmp_path: Path) -> None:
    path = tmp_path / "etairqualityobserved_0_.json"
    path.write_bytes(jsonl([aq_row(0)]))
    (batch,) = read_file(path)
    # Without its DateTime type, dateobserved is a bare number (epoch ms) and counts as a reading.
    assert sorted(batch.readings["field"]) == ["dateobserved", "iscalibrated", "no2", "pm10"]
    assert sorted(batch.text_readings["field"]) == ["address", "airqualitylevel", "refdevice"]
    assert batch.sensors["lon"].to_list() == [SAVANE[0]]


def test_truncated_gzip_export_keeps_the_lines_before(tmp_path: Path, metadata: Metadata) -> None:
    data = gzip.compress(jsonl([aq_row(i) for i in range(300)]))
    path = tmp_path / "etairqualityobserved_1_.json.gz"
    path.write_bytes(data[: len(data) // 2])
    batches = list(iter_export(path, metadata, service="openmartinique", batch_lines=100))
    readings = pl.concat([b.readings for b in batches])
    rejects = pl.concat([b.rejects for b in batches])
    assert 0 < readings.height < 300 * 3
    assert rejects.height == 1 and "truncated" in rejects["reason"][0]


def test_read_directory_reads_metadata_first(tmp_path: Path) -> None:
    (tmp_path / "md_ets_metadata_0_.json").write_bytes(jsonl(metadata_rows()[:2] + ["oops"]))
    (tmp_path / "etairqualityobserved_0_.json").write_bytes(jsonl([aq_row(0)]))
    (tmp_path / "etairqualityobserved_1_.json.gz").write_bytes(gzip.compress(jsonl([aq_row(15)])))
    weather = {
        "entity_id": "urn:ngsi-ld:WeatherObserved:MF-97213001",
        "entity_type": "WeatherObserved",
        "time_index": T0_MS,
        "temperature": 27.4,
        "weathertype": "averse orageuse",
        "location": {"type": "Point", "coordinates": LAMENTIN},
    }
    (tmp_path / "etweatherobserved_0_.json").write_bytes(jsonl([weather]))
    (tmp_path / "notes.txt").write_text("not an export")
    batches = list(read_directory(tmp_path))
    assert batches[0].rejects["line"].to_list() == [3] and batches[0].readings.height == 0
    readings = pl.concat([b.readings for b in batches[1:]])
    assert sorted(set(readings["field"])) == ["NO2", "PM10", "isCalibrated", "temperature"]
    sensors = pl.concat([b.sensors for b in batches[1:]]).unique("sensor_id").sort("sensor_id")
    assert sensors.select("sensor_id", "domain", "insee").rows() == [
        (AQ, "air", "97209"),
        ("urn:ngsi-ld:WeatherObserved:MF-97213001", "weather", "97213"),
    ]


# --- identifiers ----------------------------------------------------------------------------------


def test_table_names_are_checked_and_quoted() -> None:
    assert table_name("AirQualityObserved", "openmartinique") == AQ_TABLE
    assert table_name("ParkingSpot") == '"etparkingspot"'
    for bad in ('AirQuality"; DROP TABLE doc.md_ets_metadata; --', "", "type with space", "é"):
        with pytest.raises(ParameterError) as caught:
            table_name(bad, "openmartinique")
        assert caught.value.parameter == "entity_type"
    for bad in ("open-martinique", "x" * 51, 'a"b'):
        with pytest.raises(ParameterError) as caught:
            table_name("AirQualityObserved", bad)
        assert caught.value.parameter == "service"


# --- live CrateDB, played by a local HTTP server ----------------------------------------------------


class FakeCrate:
    """Answers POST /_sql like CrateDB: metadata and data from memory, errors in CrateDB's format."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.attrs: dict[str, Any] = AQ_ATTRS
        self.requests: list[dict[str, Any]] = []
        self.fail: tuple[int, dict] | None = None
        self.url = ""

    def answer(self, stmt: str, args: list[Any]) -> tuple[int, dict]:
        if self.fail is not None:
            return self.fail
        if "md_ets_metadata" in stmt:
            hits = [[args[0], self.attrs]] if args == [AQ_TABLE] else []
            return 200, {"cols": ["table_name", "entity_attrs"], "rows": hits, "rowcount": len(hits)}
        if not stmt.startswith(f"SELECT * FROM {AQ_TABLE}"):
            return 404, {"error": {"message": "RelationUnknown[Relation 'x' unknown]", "code": 4041}}
        *bounds, limit, offset = args
        rows = [r for r in self.rows if ("time_index >= ?" not in stmt or r["time_index"] >= bounds[0])]
        if "time_index < ?" in stmt:
            rows = [r for r in rows if r["time_index"] < bounds[-1]]
        cols = sorted({c for r in self.rows for c in r})
        page = [[r.get(c) for c in cols] for r in rows[offset : offset + limit]]
        return 200, {"cols": cols, "rows": page, "rowcount": len(page), "duration": 1.2}


@pytest.fixture
def crate() -> Iterator[FakeCrate]:
    state = FakeCrate()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            if self.path != "/_sql" or set(body) != {"stmt", "args"}:
                status, answer = 400, {"error": {"message": "SQLParseException[bad request]", "code": 4000}}
            else:
                status, answer = state.answer(body["stmt"], body["args"])
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    with serving(Handler) as url:
        state.url = url
        yield state


def test_query_crate_sends_statement_and_args(crate: FakeCrate) -> None:
    result = query_crate(
        crate.url,
        "SELECT table_name, entity_attrs FROM md_ets_metadata WHERE table_name = ?",
        [AQ_TABLE],
        username="observatoire",
        password="secret",
    )
    assert result.cols == ["table_name", "entity_attrs"] and result.rowcount == 1
    (request,) = crate.requests
    assert request["body"]["args"] == [AQ_TABLE]
    expected = base64.b64encode(b"observatoire:secret").decode()
    assert request["headers"]["Authorization"] == f"Basic {expected}"


def test_fetch_entities_pages_with_parameters_only(crate: FakeCrate) -> None:
    crate.rows = [aq_row(15 * i) for i in range(7)]
    batches = list(
        fetch_entities(
            crate.url,
            "AirQualityObserved",
            service="openmartinique",
            start="2026-11-20T10:15:00Z",
            end=utc(2026, 11, 20, 11, 30),
            page_rows=2,
        )
    )
    readings = pl.concat([b.readings for b in batches])
    assert readings.filter(pl.col("field") == "NO2")["time"].to_list() == [
        utc(2026, 11, 20, 10) + dt.timedelta(minutes=15 * i) for i in range(1, 6)
    ]
    assert batches[0].sensors["insee"].to_list() == ["97209"]
    statements = [r["body"] for r in crate.requests]
    assert statements[0]["args"] == [AQ_TABLE]
    data = statements[1:]
    assert [d["args"][-2:] for d in data] == [[2, 0], [2, 2], [2, 4]]
    assert data[0]["args"][:2] == [T0_MS + 15 * 60_000, T0_MS + 90 * 60_000]
    for d in data:  # values travel as args, never inside the statement
        assert not re.search(r"\d{6,}|'", d["stmt"])
        assert d["stmt"].startswith(f"SELECT * FROM {AQ_TABLE} WHERE time_index >= ? AND time_index < ?")


def test_crate_errors_carry_code_and_message(crate: FakeCrate) -> None:
    with pytest.raises(CrateQueryError) as caught:
        list(fetch_entities(crate.url, "TrafficFlowObserved", service="openmartinique"))
    assert caught.value.code == 4041 and "RelationUnknown" in caught.value.crate_message
    assert "QuantumLeap has no table" in str(caught.value)
    crate.fail = (401, {"message": "trust authentication failed"})
    with pytest.raises(ServiceError, match="HTTP 401") as caught:
        query_crate(crate.url, "SELECT 1")
    assert "password" in str(caught.value)
    with pytest.raises(ParameterError):
        query_crate("localhost:4200", "SELECT 1")


def test_unreachable_crate_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServiceError, match="cannot reach CrateDB") as caught:
        query_crate(url, "SELECT 1", timeout_s=5)
    assert url in str(caught.value)
