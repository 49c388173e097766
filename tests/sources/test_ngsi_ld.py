"""NGSI-LD entities to canonical tables: the three forms, multi-attributes, reports, files and a paged broker."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from observatory.errors import DataFormatError, ParameterError, ServiceError
from observatory.sources.base import READINGS_SCHEMA, REPORTS_SCHEMA, SENSORS_SCHEMA, TEXT_READINGS_SCHEMA
from observatory.sources.ngsi_ld import (
    CORE_CONTEXT,
    compact,
    entities_to_batch,
    fetch_entities,
    iter_pages,
    parse_time_ns,
    read_file,
)
from tests.http_stand_in import QuietHandler, serving

CONTEXT = [CORE_CONTEXT, "https://smartdatamodels.org/context.jsonld"]
SAVANE = [-61.0676, 14.6012]  # Fort-de-France, la Savane
LAMENTIN = [-61.0030, 14.5910]  # aéroport Aimé-Césaire


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def normalized_station() -> dict[str, Any]:
    return {
        "id": "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane",
        "type": "AirQualityObserved",
        "no2": {"type": "Property", "value": 22.5, "unitCode": "GQ", "observedAt": "2026-11-20T10:00:00Z"},
        "pm10": {"type": "Property", "value": 31, "unitCode": "GQ", "observedAt": "2026-11-20T10:00:00.250Z"},
        "airQualityLevel": {"type": "Property", "value": "modéré", "observedAt": "2026-11-20T10:00:00Z"},
        "dateObserved": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": "2026-11-20T10:00:00Z"},
            "observedAt": "2026-11-20T10:00:00Z",
        },
        "isCalibrated": {"type": "Property", "value": True, "observedAt": "2026-11-20T10:00:00Z"},
        "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:capteur-042"},
        "address": {
            "type": "Property",
            "value": {"addressLocality": "Fort-de-France", "streetAddress": "Place de la Savane"},
        },
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": SAVANE}},
        "modifiedAt": "2026-11-20T10:00:05Z",
        "@context": CONTEXT,
    }


def test_time_parsing_keeps_nanoseconds_and_offsets() -> None:
    assert parse_time_ns("2026-11-20T10:00:00Z") == 1_795_168_800 * 10**9
    assert parse_time_ns("2026-11-20T10:00:00.123456789Z") == 1_795_168_800_123_456_789
    assert parse_time_ns("2026-11-20T06:00:00-04:00") == parse_time_ns("2026-11-20T10:00:00Z")
    for bad in ("2026-11-20T10:00:00", "20/11/2026", "2026-13-01T00:00:00Z", 1795168800):
        with pytest.raises(ValueError):
            parse_time_ns(bad)


def test_compact_names() -> None:
    assert compact("https://uri.etsi.org/ngsi-ld/default-context/no2") == "no2"
    assert (
        compact("https://smartdatamodels.org/dataModel.Environment/AirQualityObserved")
        == "AirQualityObserved"
    )
    assert compact("no2") == "no2"


def test_normalized_entity(caplog) -> None:
    batch = entities_to_batch([normalized_station()], "broker")
    assert batch.rejects.height == 0
    assert batch.readings.schema == pl.Schema(READINGS_SCHEMA)
    assert batch.readings.sort("field").rows() == [
        (
            utc(2026, 11, 20, 10),
            "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane",
            "AirQualityObserved",
            "isCalibrated",
            1.0,
        ),
        (
            utc(2026, 11, 20, 10),
            "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane",
            "AirQualityObserved",
            "no2",
            22.5,
        ),
        (
            utc(2026, 11, 20, 10, 0, 0, 250000),
            "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane",
            "AirQualityObserved",
            "pm10",
            31.0,
        ),
    ]
    assert batch.text_readings.schema == pl.Schema(TEXT_READINGS_SCHEMA)
    text = dict(zip(batch.text_readings["field"], batch.text_readings["value"], strict=True))
    assert text == {
        "airQualityLevel": "modéré",
        "dateObserved": "2026-11-20T10:00:00Z",
        "refDevice": "urn:ngsi-ld:Device:capteur-042",
        "address": '{"addressLocality":"Fort-de-France","streetAddress":"Place de la Savane"}',
    }
    # The relationship and the address have no observedAt: they take the entity's modifiedAt.
    times = dict(zip(batch.text_readings["field"], batch.text_readings["time"], strict=True))
    assert times["refDevice"] == utc(2026, 11, 20, 10, 0, 5)
    assert batch.sensors.schema == pl.Schema(SENSORS_SCHEMA)
    assert batch.sensors.rows() == [
        (
            "urn:ngsi-ld:AirQualityObserved:Madininair-FDF-Savane",
            "air",
            "AirQualityObserved",
            "GQ",
            "97209",
            SAVANE[0],
            SAVANE[1],
            None,
            "ngsi-ld",
        )
    ]
    assert batch.reports.height == 0


def test_key_values_and_concise_forms_give_the_same_readings() -> None:
    key_values = {
        "id": "urn:ngsi-ld:WeatherObserved:MF-97213001",
        "type": "WeatherObserved",
        "temperature": 27.4,
        "relativeHumidity": 0.78,
        "weatherType": "averse orageuse",
        "refDevice": "urn:ngsi-ld:Device:station-lamentin",
        "location": {"type": "Point", "coordinates": LAMENTIN},
        "observedAt": "2026-11-20T10:00:00Z",
    }
    concise = {
        "id": "urn:ngsi-ld:WeatherObserved:MF-97213001",
        "type": "WeatherObserved",
        "temperature": {"value": 27.4, "observedAt": "2026-11-20T10:00:00Z"},
        "relativeHumidity": {"value": 0.78, "observedAt": "2026-11-20T10:00:00Z"},
        "weatherType": {"value": "averse orageuse", "observedAt": "2026-11-20T10:00:00Z"},
        "refDevice": {"object": "urn:ngsi-ld:Device:station-lamentin", "observedAt": "2026-11-20T10:00:00Z"},
        "location": {"type": "Point", "coordinates": LAMENTIN},
    }
    one, two = (
        entities_to_batch([key_values]),
        entities_to_batch([{**concise, "scope": "/Martinique/Lamentin"}]),
    )
    assert one.series.height == 0
    assert two.series.rows() == [
        ("urn:ngsi-ld:WeatherObserved:MF-97213001", "WeatherObserved", '{"scope":"/Martinique/Lamentin"}')
    ]
    for batch in (one, two):
        assert batch.rejects.height == 0
        assert batch.sensors.select("domain", "insee", "lon", "lat").rows() == [
            ("weather", "97213", *LAMENTIN)
        ]
    assert one.readings.sort("field").equals(two.readings.sort("field"))
    assert one.text_readings.sort("field").equals(two.text_readings.sort("field"))
    assert one.readings.sort("field")["value"].to_list() == [0.78, 27.4]


def test_multi_attribute_keeps_the_dataset_id_in_the_field() -> None:
    entity = {
        "id": "urn:ngsi-ld:AirQualityObserved:Lamentin-Bas-Mission",
        "type": "AirQualityObserved",
        "no2": [
            {"type": "Property", "value": 18.0, "observedAt": "2026-11-20T10:00:00Z"},
            {
                "type": "Property",
                "value": 19.5,
                "datasetId": "urn:ngsi-ld:Dataset:capteur-low-cost",
                "observedAt": "2026-11-20T10:05:00Z",
            },
        ],
    }
    batch = entities_to_batch([entity])
    assert batch.readings.select("field", "value").sort("field").rows() == [
        ("no2", 18.0),
        ("no2[urn:ngsi-ld:Dataset:capteur-low-cost]", 19.5),
    ]


def test_language_vocab_list_and_json_properties_are_text() -> None:
    entity = {
        "id": "urn:ngsi-ld:PointOfInterest:plage-salines",
        "type": "PointOfInterest",
        "observedAt": "2026-11-20T10:00:00Z",
        "name": {
            "type": "LanguageProperty",
            "languageMap": {"fr": "Plage des Salines", "en": "Salines beach"},
        },
        "category": {"type": "VocabProperty", "vocab": "beach"},
        "tags": {"type": "ListProperty", "valueList": ["sable", "baignade"]},
        "sargasses": {"type": "JsonProperty", "json": {"niveau": "faible", "échouage": False}},
        "owners": {
            "type": "ListRelationship",
            "objectList": [{"object": "urn:ngsi-ld:Organization:sainte-anne"}],
        },
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-60.8820, 14.4340]}},
        "operationSpace": {
            "type": "GeoProperty",
            "value": {
                "type": "Polygon",
                "coordinates": [[[-60.88, 14.43], [-60.87, 14.43], [-60.87, 14.44], [-60.88, 14.43]]],
            },
        },
    }
    batch = entities_to_batch([entity])
    text = dict(zip(batch.text_readings["field"], batch.text_readings["value"], strict=True))
    assert text["name@fr"] == "Plage des Salines" and text["name@en"] == "Salines beach"
    assert text["category"] == "beach"
    assert json.loads(text["tags"]) == ["sable", "baignade"]
    assert json.loads(text["sargasses"]) == {"niveau": "faible", "échouage": False}
    assert json.loads(text["owners"])[0]["object"].endswith("sainte-anne")
    assert json.loads(text["operationSpace"])["type"] == "Polygon"
    assert batch.sensors["insee"].to_list() == ["97226"]  # Sainte-Anne
    assert batch.sensors["domain"].to_list() == [None]


def test_missing_time_uses_default_or_is_rejected() -> None:
    entity = {
        "id": "urn:ngsi-ld:WaterObserved:riviere-lezarde",
        "type": "WaterObserved",
        "flow": 3.2,
        "level": 0.84,
    }
    rejected = entities_to_batch([entity], "export.json")
    assert rejected.readings.height == 0
    assert rejected.rejects["line"].to_list() == [1, 1]
    assert "no default_time" in rejected.rejects["reason"][0]
    assert rejected.sensors["domain"].to_list() == ["hydrology"]  # the sensor is still known
    kept = entities_to_batch([entity], default_time="2026-11-20T10:00:00-04:00")
    assert kept.readings["time"].to_list() == [utc(2026, 11, 20, 14)] * 2
    assert entities_to_batch([entity], default_time=utc(2026, 11, 20)).readings.height == 2
    with pytest.raises(ParameterError, match="naive"):
        entities_to_batch([entity], default_time=dt.datetime(2026, 11, 20))
    with pytest.raises(ParameterError) as caught:
        entities_to_batch([entity], default_time="hier")
    assert caught.value.parameter == "default_time"


def test_bad_entities_and_values_are_rejected_beside_good_ones() -> None:
    good = normalized_station()
    bad_time = {
        "id": "urn:ngsi-ld:AirQualityObserved:Schoelcher",
        "type": "AirQualityObserved",
        "no2": {"type": "Property", "value": 12.0, "observedAt": "20/11/2026 10h"},
        "o3": {"type": "Property", "value": 40.0, "observedAt": "2026-11-20T10:00:00Z"},
        "so2": {"type": "Property", "value": float("nan"), "observedAt": "2026-11-20T10:00:00Z"},
    }
    batch = entities_to_batch([good, "pas une entité", {"type": "AirQualityObserved"}, bad_time], "page")
    assert batch.rejects.select("line").to_series().to_list() == [2, 3, 4, 4]
    reasons = batch.rejects["reason"].to_list()
    assert "JSON object" in reasons[0] and "'id' and 'type'" in reasons[1]
    assert "Schoelcher no2" in reasons[2] and "20/11/2026" in reasons[2]
    assert "Schoelcher so2: nan is not a finite number" in reasons[3]
    assert batch.readings.filter(pl.col("sensor_id").str.ends_with("Schoelcher"))["field"].to_list() == ["o3"]
    assert batch.readings.height == 4


def test_citizen_reports_map_to_the_reports_table() -> None:
    issue = {
        "id": "urn:ngsi-ld:Issue:fdf-2026-0042",
        "type": "Issue",
        "category": {"type": "Property", "value": "voirie"},
        "description": {"type": "Property", "value": "Trou dangereux, boulevard du Général-de-Gaulle"},
        "status": {"type": "Property", "value": "open"},
        "dateCreated": {"type": "Property", "value": {"@type": "DateTime", "@value": "2026-11-19T16:20:00Z"}},
        "email": {"type": "Property", "value": "riverain@example.org"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": SAVANE}},
    }
    alert = {
        "id": "urn:ngsi-ld:Alert:vigilance-crue-lezarde",
        "type": "Alert",
        "category": "naturalDisaster",
        "subCategory": "flood",
        "description": "Crue de la Lézarde",
        "dateIssued": "2026-11-20T05:00:00Z",
        "location": {"type": "Point", "coordinates": LAMENTIN},
    }
    request = {
        "id": "urn:ngsi-ld:ServiceRequest:311-778",
        "type": "ServiceRequest",
        "service_name": "Éclairage public",
        "status": "closed",
        "requested_datetime": "2026-11-18T08:00:00-04:00",
        "closed_datetime": "2026-11-19T12:00:00-04:00",
        "first_name": "Aimé",
        "phone": "0596 00 00 00",
    }
    undated = {"id": "urn:ngsi-ld:Issue:sans-date", "type": "Issue", "category": "bruit"}
    batch = entities_to_batch([issue, alert, request, undated], "reports.json")
    assert batch.readings.height == batch.text_readings.height == batch.sensors.height == 0
    reports = batch.reports
    assert reports.schema == pl.Schema(REPORTS_SCHEMA)
    assert reports.select("report_id", "category", "status", "insee").rows() == [
        ("urn:ngsi-ld:Issue:fdf-2026-0042", "voirie", "open", "97209"),
        ("urn:ngsi-ld:Alert:vigilance-crue-lezarde", "naturalDisaster", None, "97213"),
        ("urn:ngsi-ld:ServiceRequest:311-778", "Éclairage public", "closed", None),
    ]
    assert reports["time"].to_list() == [
        utc(2026, 11, 19, 16, 20),
        utc(2026, 11, 20, 5),
        utc(2026, 11, 18, 12),
    ]
    assert reports["resolved_time"].to_list() == [None, None, utc(2026, 11, 19, 16)]
    assert reports["reporter"].to_list() == ["riverain@example.org", None, "0596 00 00 00; Aimé"]
    assert reports["text"][0].startswith("Trou dangereux")
    assert set(reports["source_system"]) == {"ngsi-ld"}
    assert batch.rejects.select("line").to_series().to_list() == [4]
    assert "no date" in batch.rejects["reason"][0]


# --- files --------------------------------------------------------------------------------------


def test_read_file_array_gzip_and_json_lines(tmp_path: Path) -> None:
    entities = [normalized_station(), {**normalized_station(), "id": "urn:ngsi-ld:AirQualityObserved:B"}]
    array = tmp_path / "entities.json"
    array.write_text(json.dumps(entities, ensure_ascii=False, indent=2), encoding="utf-8")
    (batch,) = read_file(array)
    assert batch.readings.height == 6 and batch.sensors.height == 2
    packed = tmp_path / "entities.json.bin"
    packed.write_bytes(gzip.compress(array.read_bytes()))
    assert next(read_file(packed)).readings.equals(batch.readings)
    single = tmp_path / "one.json"
    single.write_text(json.dumps(normalized_station(), indent=2), encoding="utf-8")
    assert next(read_file(single)).readings.height == 3
    lines = tmp_path / "notifications.jsonl"
    lines.write_bytes(
        b"\r\n".join(
            [
                json.dumps(entities[0], ensure_ascii=False).encode("utf-8"),
                b'{"id": "urn:ngsi-ld:X", "type": ',
                b"",
                b"\xff\xfe not utf-8",
                json.dumps(entities[1]).encode("utf-8"),
            ]
        )
        + b"\r\n"
    )
    (batch,) = read_file(lines)
    assert batch.readings.height == 6
    assert batch.rejects.select("line").to_series().to_list() == [2, 4]
    assert batch.rejects["source"].to_list() == [str(lines)] * 2


def test_read_file_broken_document_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"id": "urn:ngsi-ld:A", "type": "T"},\n  {"id": \n]\n', encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        next(read_file(path))
    assert caught.value.line == 4


def test_read_file_truncated_gzip_keeps_the_lines_before(tmp_path: Path) -> None:
    lines = (
        "\n".join(json.dumps({**normalized_station(), "id": f"urn:ngsi-ld:S:{i}"}) for i in range(50)) + "\n"
    )
    data = gzip.compress(lines.encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    (batch,) = read_file(path)
    assert 0 < batch.sensors.height < 50
    assert "truncated" in batch.rejects["reason"][-1]


# --- a live broker, played by a local HTTP server -------------------------------------------------


class FakeBroker:
    """Answers GET /ngsi-ld/v1/entities from ``entities`` by limit/offset, Stellio or Orion-LD style."""

    def __init__(self, entities: list[dict], style: str) -> None:
        self.entities = entities
        self.style = style  # "stellio": Link rel=next; "orion": NGSILD-Results-Count only
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.url = ""


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    state = FakeBroker([], "stellio")

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            state.requests.append({"path": parts.path, "query": query, "headers": dict(self.headers)})
            if state.status != 200:
                self.answer(
                    state.status,
                    {
                        "type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData",
                        "title": "Bad request",
                        "detail": "invalid type",
                    },
                )
                return
            limit, offset = int(query["limit"]), int(query.get("offset", "0"))
            wanted = [e for e in state.entities if e["type"] == query.get("type", e["type"])]
            headers = {"NGSILD-Results-Count": str(len(wanted))} if query.get("count") == "true" else {}
            if state.style == "stellio" and offset + limit < len(wanted):
                nxt = f"{parts.path}?type={query['type']}&limit={limit}&offset={offset + limit}&count=true"
                headers["Link"] = f'<{nxt}>;rel="next";type="application/ld+json"'
            self.answer(200, wanted[offset : offset + limit], headers)

        def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    with serving(Handler) as url:
        state.url = url
        yield state


def stations(n: int) -> list[dict]:
    return [{**normalized_station(), "id": f"urn:ngsi-ld:AirQualityObserved:{i:03d}"} for i in range(n)]


@pytest.mark.parametrize("style", ["stellio", "orion"])
def test_fetch_entities_pages_through_the_broker(broker: FakeBroker, style: str) -> None:
    broker.style = style
    broker.entities = [*stations(7), {"id": "urn:ngsi-ld:Issue:1", "type": "Issue"}]
    batch = fetch_entities(
        broker.url,
        entity_type="AirQualityObserved",
        page_size=3,
        context="https://smartdatamodels.org/context.jsonld",
        tenant="openmartinique",
    )
    assert batch.sensors.height == 7 and batch.readings.height == 21
    assert [r["query"]["offset"] for r in broker.requests] == ["0", "3", "6"]
    first = broker.requests[0]
    assert first["path"] == "/ngsi-ld/v1/entities"
    assert first["query"] == {"type": "AirQualityObserved", "limit": "3", "offset": "0", "count": "true"}
    assert first["headers"]["NGSILD-Tenant"] == "openmartinique"
    assert first["headers"]["Link"].startswith("<https://smartdatamodels.org/context.jsonld>;")
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in first["headers"]["Link"]


def test_iter_pages_numbers_records_across_pages(broker: FakeBroker) -> None:
    broker.entities = stations(5)
    pages = list(iter_pages(broker.url, entity_type="AirQualityObserved", page_size=2, key_values=True))
    assert [(p.first_record, len(p.entities), p.total) for p in pages] == [(1, 2, 5), (3, 2, 5), (5, 1, 5)]
    assert broker.requests[0]["query"]["options"] == "keyValues"


def test_iter_pages_stops_on_a_short_page_without_a_count(broker: FakeBroker) -> None:
    broker.style, broker.entities = "orion", stations(0)
    assert [len(p.entities) for p in iter_pages(broker.url, entity_type="AirQualityObserved")] == [0]
    assert len(broker.requests) == 1


def test_broker_errors_are_service_errors(broker: FakeBroker) -> None:
    broker.status = 400
    with pytest.raises(ServiceError, match="HTTP 400: Bad request: invalid type") as caught:
        fetch_entities(broker.url, entity_type="AirQualityObserved")
    assert broker.url in str(caught.value)
    with pytest.raises(ParameterError, match="http"):
        fetch_entities("ftp://broker", entity_type="AirQualityObserved")
    with pytest.raises(ParameterError):
        list(iter_pages(broker.url, page_size=0))


def test_unreachable_broker_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServiceError, match="cannot reach the NGSI-LD broker") as caught:
        fetch_entities(url, entity_type="AirQualityObserved", timeout_s=5)
    assert url in str(caught.value)
