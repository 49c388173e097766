"""Tests of the Flux annotated-CSV decoder: upstream conformance corpus, streaming, errors, readings, HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from observatory.errors import DataFormatError, ObservatoryError, ParameterError, ServiceError
from observatory.sources.flux_csv import (
    READINGS_SCHEMA,
    TEXT_READINGS_SCHEMA,
    FluxDuration,
    FluxQueryError,
    FluxTable,
    FluxTime,
    decode_annotated_csv,
    iter_tables,
    query_flux,
    to_readings,
)
from tests.http_stand_in import QuietHandler, serving

CONFORMANCE_DIR = Path(
    os.environ.get("OBSERVATORY_CONFORMANCE_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "conformance"
)
CORPUS = CONFORMANCE_DIR / "flux_annotated_csv"
CASES = sorted(CORPUS.glob("*.csv"))
EXPECTED_CASES = 17

# The corpus' own convention for "tags" (its README): group-key columns minus these.
NOT_TAGS = {"result", "table", "_start", "_stop", "_measurement", "_field"}


def corpus_bytes(stem: str) -> bytes:
    return (CORPUS / f"{stem}.csv").read_bytes()


def decode_all(data: Any, source: str = "<bytes>") -> tuple[list[FluxTable], dict | None]:
    """Tables and the error (as the sidecars write it), whether or not the response ends in error."""
    try:
        return decode_annotated_csv(data, source), None
    except FluxQueryError as exc:
        return exc.tables, {"message": exc.flux_message, "reference": exc.reference}


# --- the sidecars' JSON representation ------------------------------------------------------------


def as_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, FluxTime):
        return value.isoformat()
    if isinstance(value, FluxDuration):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def table_json(table: FluxTable) -> dict:
    return {
        "result": table.result,
        "table": table.table,
        "columns": [
            {"label": c.name, "datatype": c.datatype, "group": c.group, "default": c.default}
            for c in table.columns
        ],
        "group_key": {name: as_json(v) for name, v in table.group_key.items()},
        "row_count": len(table.records),
    }


def records_json(table: FluxTable) -> Iterator[dict]:
    value_column = table.column("_value")
    tags = [c.name for c in table.columns if c.group and c.name not in NOT_TAGS]
    for record in table.records:
        time = record.get("_time")
        yield {
            "result": table.result,
            "table": table.table,
            "time": as_json(time),
            "time_ns": None if time is None else time.ns,
            "measurement": record.get("_measurement"),
            "field": record.get("_field"),
            "value": as_json(record.get("_value")),
            "value_datatype": None if value_column is None else value_column.datatype,
            "tags": {name: as_json(record[name]) for name in tags},
            "values": {name: as_json(v) for name, v in record.items()},
        }


def snapshot(data: Any) -> str:
    """The decoded response as JSON text, with line numbers (NaN compares equal this way)."""
    tables, error = decode_all(data)
    content = [(table_json(t), t.line, list(records_json(t))) for t in tables]
    return json.dumps({"error": error, "tables": content}, sort_keys=True)


# --- conformance --------------------------------------------------------------------------------


def test_corpus_is_present() -> None:
    assert len(CASES) == EXPECTED_CASES, (
        f"expected {EXPECTED_CASES} Flux CSV files in {CORPUS}; set OBSERVATORY_CONFORMANCE_DIR"
    )


@pytest.mark.conformance
@pytest.mark.parametrize("csv_path", CASES, ids=[p.stem for p in CASES])
def test_conformance(csv_path: Path) -> None:
    expected = json.loads(csv_path.with_name(f"{csv_path.stem}.expected.json").read_text("utf-8"))
    data = csv_path.read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == (expected["bytes"], expected["sha256"])

    tables, error = decode_all(data, source=str(csv_path))
    actual = {
        "error": error,
        "tables": [table_json(t) for t in tables],
        "records": [r for t in tables for r in records_json(t)],
    }
    wanted = {key: expected[key] for key in actual}
    assert actual == wanted
    # == takes 2 == 2.0; the JSON text does not, so types (long vs double) are checked too.
    assert json.dumps(actual, sort_keys=True) == json.dumps(wanted, sort_keys=True)


@pytest.mark.parametrize("csv_path", CASES, ids=[p.stem for p in CASES])
def test_lf_and_crlf_decode_alike(csv_path: Path) -> None:
    data = csv_path.read_bytes()
    assert decode_all(data.replace(b"\r\n", b"\n")) == decode_all(data)
    assert decode_all(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")) == decode_all(data)


# --- every datatype -----------------------------------------------------------------------------

ALL_TYPES_CSV = (
    "#datatype,string,long,dateTime:RFC3339Nano,string,long,unsignedLong,double,boolean,duration,"
    "base64Binary,dateTime:RFC3339\n"
    "#group,false,false,false,true,false,false,false,false,false,false,false\n"
    "#default,_result,,,,,,,,,,\n"
    ",result,table,_time,sensor_id,l,u,d,b,dur,bin,t\n"
    ',,0,2024-09-01T08:00:00.123456789-04:00,"FDF-01, ""nord""",-9223372036854775808,'
    "18446744073709551615,-Inf,false,1h30m,aGVsbG8=,1754-06-26T11:30:27.613654848Z\n"
    ',,0,2024-09-01T12:00:00Z,"multi\nline",9223372036854775807,0,NaN,T,-1mo2d,,\n'
    ",,0,2024-09-01T12:00:01Z,é,+5,7,1.5e-3,True,1y2w3d4h5m6s7ms8us9ns,,\n"
)


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_all_datatypes(newline: str) -> None:
    (table,) = decode_annotated_csv(ALL_TYPES_CSV.replace("\n", newline).encode())
    first, second, third = table.records
    assert first["_time"] == FluxTime(1725192000123456789)
    assert first["_time"].isoformat() == "2024-09-01T12:00:00.123456789Z"
    assert first["_time"].to_datetime() == dt.datetime(2024, 9, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    assert first["sensor_id"] == 'FDF-01, "nord"'
    assert (first["l"], first["u"]) == (-(2**63), 2**64 - 1)
    assert first["d"] == -math.inf and first["b"] is False
    assert first["dur"] == FluxDuration(0, 90 * 60 * 10**9, "1h30m")
    assert first["bin"] == b"hello"
    assert first["t"].isoformat() == "1754-06-26T11:30:27.613654848Z"
    # Go's CSV writer turns a newline inside a quoted cell into CRLF; the reader gives LF back.
    assert second["sensor_id"] == "multi\nline"
    assert math.isnan(second["d"]) and second["b"] is True and second["l"] == 2**63 - 1
    assert second["dur"] == FluxDuration(-1, -2 * 86_400 * 10**9, "-1mo2d")
    assert second["bin"] is None and second["t"] is None
    assert (third["sensor_id"], third["l"], third["d"], third["b"]) == ("é", 5, 0.0015, True)
    week, day, hour = 7 * 86_400, 86_400, 3_600
    assert third["dur"].months == 12
    assert third["dur"].ns == (2 * week + 3 * day + 4 * hour + 5 * 60 + 6) * 10**9 + 7_008_009
    assert table.group_key == {"sensor_id": 'FDF-01, "nord"'}


def test_empty_responses_have_no_tables() -> None:
    # InfluxDB answers a query that matches nothing with an empty body (or bare line ends).
    assert decode_annotated_csv(b"") == []
    assert decode_annotated_csv(b"\r\n\r\n") == []


def test_time_extremes() -> None:
    assert FluxTime(-(2**63)).isoformat() == "1677-09-21T00:12:43.145224192Z"
    assert FluxTime(0).isoformat() == "1970-01-01T00:00:00Z"
    assert FluxTime(1_500_000_000).isoformat() == "1970-01-01T00:00:01.5Z"
    head = HEAD.replace("long,long", "long,dateTime:RFC3339")
    (table,) = decode_annotated_csv(f"{head},,0,1677-09-21T00:12:43.145224192Z\n".encode())
    assert table.records[0]["x"] == FluxTime(-(2**63))


# --- malformed input ----------------------------------------------------------------------------

MALFORMED_IDS = [
    "bad-long",
    "long-overflow",
    "cell-count",
    "no-table-id",
    "annotation-cell",
    "open-quote",
    "underscore",
    "unknown-datatype",
    "group-cell",
    "bad-default",
    "annotation-length",
    "no-table-column",
    "no-datatype",
    "plain-csv",
    "no-header",
    "double-overflow",
    "bad-date",
    "time-range",
    "bad-duration",
    "bad-base64",
]
HEAD = "#datatype,string,long,long\n#group,false,false,false\n#default,_result,,\n,result,table,x\n"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (HEAD + ",,0,1\n,,0,12a\n", 6, "'x' (long): '12a'"),
        (HEAD + ",,0,9223372036854775808\n", 5, "64-bit signed range"),
        (HEAD + ",,0,1,2\n", 5, "row has 5 cells"),
        (HEAD + ",,,1\n", 5, "no table id"),
        (HEAD + "x,,0,1\n", 5, "annotation column empty"),
        (HEAD + ',,0,"12\n', 5, "malformed CSV"),
        (HEAD + ",,0,1_000\n", 5, "'1_000'"),
        (HEAD.replace("long,long", "long,dobule"), 1, "Did you mean 'double'?"),
        (HEAD.replace("false,false,false", "false,false,yes"), 2, "'true' or 'false'"),
        (HEAD.replace("_result,,", "_result,zero,"), 3, "'table' (long): 'zero'"),
        (HEAD.replace("#default,_result,,\n", "#default,_result,\n"), 3, "#default has 2 cells"),
        (HEAD.replace(",result,table,x", ",result,x,y"), 4, "no 'table' column"),
        (HEAD.split("\n", 1)[1], 3, "no #datatype annotation"),
        ("result,table,x\n,,0,1\n", 1, "empty annotation cell"),
        (HEAD[: HEAD.index(",result")] + "\n", 1, "without a header row"),
        (HEAD.replace("long,long", "long,double") + ",,0,1e999\n", 5, "range of a 64-bit float"),
        (
            HEAD.replace("long,long", "long,dateTime:RFC3339") + ",,0,2024-02-30T00:00:00Z\n",
            5,
            "2024-02-30",
        ),
        (
            HEAD.replace("long,long", "long,dateTime:RFC3339") + ",,0,2262-04-12T00:00:00Z\n",
            5,
            "1677 to 2262",
        ),
        (HEAD.replace("long,long", "long,duration") + ",,0,1h30\n", 5, "Flux duration"),
        (HEAD.replace("long,long", "long,base64Binary") + ",,0,@@@\n", 5, "base64"),
    ],
    ids=MALFORMED_IDS,
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_malformed_input_names_file_and_line(text: str, line: int, fragment: str, newline: str) -> None:
    with pytest.raises(DataFormatError) as caught:
        decode_annotated_csv(text.replace("\n", newline).encode(), source="export.csv")
    assert caught.value.line == line
    assert caught.value.path == Path("export.csv")
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"export.csv:{line}: ")


def test_invalid_utf8_names_its_line() -> None:
    with pytest.raises(DataFormatError) as caught:
        decode_annotated_csv(HEAD.encode() + b",,0,1\n,,0,\xff\n")
    assert caught.value.line == 6
    assert "UTF-8" in str(caught.value)


def test_text_input_is_refused() -> None:
    with pytest.raises(TypeError, match="bytes"):
        decode_annotated_csv(HEAD)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'rb'"):
        decode_annotated_csv(io.StringIO(HEAD))  # type: ignore[arg-type]


# --- error tables -------------------------------------------------------------------------------


def test_error_table_raises_a_project_error_with_message_and_reference() -> None:
    data = corpus_bytes("client_python_response_with_error")
    with pytest.raises(FluxQueryError) as caught:
        decode_annotated_csv(data, source="response.csv")
    error = caught.value
    assert isinstance(error, ServiceError) and isinstance(error, ObservatoryError)
    assert error.flux_message == "engine: unknown field type for value: xyz"
    assert error.reference == ""
    assert error.line == 14
    assert "engine: unknown field type for value: xyz" in str(error)
    assert [(t.result, t.table, len(t.records)) for t in error.tables] == [("t1", 0, 4)]


def test_error_table_with_a_reference() -> None:
    data = b"#datatype,string,string\n#group,true,true\n#default,,\n,error,reference\n,quota exceeded,897\n"
    with pytest.raises(FluxQueryError) as caught:
        decode_annotated_csv(data)
    assert (caught.value.flux_message, caught.value.reference) == ("quota exceeded", "897")
    assert "reference 897" in str(caught.value)


def test_streamed_tables_arrive_before_the_error() -> None:
    stream = iter_tables(corpus_bytes("flux_error_after_results"))
    assert next(stream).result == "mean"
    with pytest.raises(FluxQueryError, match="test error"):
        next(stream)


# --- streaming ----------------------------------------------------------------------------------


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_chunked_input_decodes_like_whole_bytes(size: int) -> None:
    for path in CASES:
        data = path.read_bytes()
        assert decode_all(chunked(data, size)) == decode_all(data), path.name
    data = ALL_TYPES_CSV.encode()  # holds NaN, which == never matches: compare the JSON form
    assert snapshot(chunked(data, size)) == snapshot(data)


def test_files_are_read_as_streams(tmp_path: Path) -> None:
    data = corpus_bytes("client_python_multiple_results")
    (tmp_path / "export.csv").write_bytes(data)
    with (tmp_path / "export.csv").open("rb") as stream:
        assert decode_annotated_csv(stream) == decode_annotated_csv(data)
    assert decode_annotated_csv(io.BytesIO(data)) == decode_annotated_csv(data)


def test_iter_tables_yields_before_reading_everything() -> None:
    data = corpus_bytes("client_python_multiple_results")
    read: list[int] = []

    def chunks() -> Iterator[bytes]:
        for chunk in chunked(data, 256):
            read.append(len(chunk))
            yield chunk

    first = next(iter_tables(chunks()))
    assert (first.result, first.table, len(first.records)) == ("t1", 0, 7)
    assert sum(read) < len(data) / 2


# --- canonical readings -------------------------------------------------------------------------


def test_to_readings_builds_canonical_long_readings() -> None:
    tables = decode_annotated_csv(corpus_bytes("client_python_multiple_results"))
    readings, text = to_readings(tables, sensor_tag="tag")
    assert readings.schema == pl.Schema(READINGS_SCHEMA)
    assert text.schema == pl.Schema(TEXT_READINGS_SCHEMA) and text.height == 0
    assert readings.height == 28
    assert readings.row(0) == (
        dt.datetime(2020, 2, 27, 16, 20, tzinfo=dt.UTC),
        "test1",
        "python_client_test",
        "value",
        2.0,
    )
    assert readings["sensor_id"].unique().sort().to_list() == ["test1", "test2"]


READINGS_CSV = (
    "#datatype,string,long,dateTime:RFC3339,string,string,string,{datatype}\n"
    "#group,false,false,false,true,true,true,false\n"
    "#default,_result,,,,,,\n"
    ",result,table,_time,_measurement,_field,sensor_id,_value\n"
    ",,0,2024-09-01T12:00:00.123456789Z,air,{field},FDF-AIR-01,{first}\n"
    ",,0,2024-09-01T12:10:00Z,air,{field},FDF-AIR-01,\n"
)


def readings_csv(datatype: str, field: str, first: str) -> bytes:
    return READINGS_CSV.format(datatype=datatype, field=field, first=first).encode()


def test_to_readings_keeps_nanoseconds_and_nulls() -> None:
    readings, _ = to_readings(iter_tables(readings_csv("double", "pm25_ugm3", "12.5")))
    assert readings["time"].cast(pl.Int64).to_list() == [1725192000123456789, 1725192600000000000]
    assert readings["value"].to_list() == [12.5, None]


@pytest.mark.parametrize(
    ("datatype", "cell", "numeric", "text"),
    [
        ("long", "-3", -3.0, None),
        ("unsignedLong", "18446744073709551615", float(2**64 - 1), None),
        ("boolean", "true", 1.0, None),
        ("string", "panne", None, "panne"),
        ("dateTime:RFC3339", "2024-09-01T00:00:00Z", None, "2024-09-01T00:00:00Z"),
        ("duration", "5m", None, "5m"),
        ("base64Binary", "aGVsbG8=", None, "aGVsbG8="),
    ],
)
def test_to_readings_splits_numeric_and_text(datatype: str, cell: str, numeric: Any, text: Any) -> None:
    readings, text_readings = to_readings(decode_annotated_csv(readings_csv(datatype, "state", cell)))
    target, other, value = (
        (readings, text_readings, numeric) if numeric is not None else (text_readings, readings, text)
    )
    assert other.height == 0
    assert target["value"].to_list() == [value, None]
    assert target["field"].to_list() == ["state", "state"]


def test_to_readings_names_a_missing_sensor_tag() -> None:
    tables = decode_annotated_csv(corpus_bytes("client_python_multiple_results"), source="export.csv")
    with pytest.raises(DataFormatError, match="'tags'.*Did you mean 'tag'") as caught:
        to_readings(tables, sensor_tag="tags")
    assert caught.value.line == 5


def test_to_readings_refuses_bookkeeping_columns_as_sensor_tag() -> None:
    with pytest.raises(ParameterError, match="sensor_tag"):
        to_readings([], sensor_tag="table")


def test_to_readings_refuses_tables_without_fields() -> None:
    tables = decode_annotated_csv(corpus_bytes("flux_defaults_group_key_lf"))
    with pytest.raises(DataFormatError, match="_measurement"):
        to_readings(tables, sensor_tag="host")


def test_to_readings_skips_empty_tables() -> None:
    readings, text = to_readings(decode_annotated_csv(corpus_bytes("flux_two_empty_results")))
    assert (readings.height, text.height) == (0, 0)
    assert readings.schema == pl.Schema(READINGS_SCHEMA)


# --- live InfluxDB 2.x, played by a local HTTP server -------------------------------------------


class FakeInflux:
    """What the stand-in server answers, and the requests it received."""

    def __init__(self) -> None:
        self.status = 200
        self.content_type = "text/csv; charset=utf-8"
        self.body = b""
        self.requests: list[dict[str, Any]] = []
        self.url = ""


@pytest.fixture
def fake_influx() -> Iterator[FakeInflux]:
    state = FakeInflux()

    class Handler(QuietHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
            )
            self.send_response(state.status)
            self.send_header("Content-Type", state.content_type)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

    with serving(Handler) as url:
        state.url = url
        yield state


QUERY = 'from(bucket: "capteurs") |> range(start: -1h)'


def test_query_flux_sends_token_and_org_and_decodes(fake_influx: FakeInflux) -> None:
    fake_influx.body = corpus_bytes("client_python_multiple_results")
    tables = query_flux(fake_influx.url, "secret-token", "observatoire", QUERY)
    assert [(t.result, t.table, len(t.records)) for t in tables] == [
        ("t1", 0, 7),
        ("t1", 1, 7),
        ("t2", 0, 7),
        ("t2", 1, 7),
    ]
    assert [t.records for t in tables] == [t.records for t in decode_annotated_csv(fake_influx.body)]
    (request,) = fake_influx.requests
    url = urlsplit(request["path"])
    assert url.path == "/api/v2/query"
    assert parse_qs(url.query)["org"] == ["observatoire"]
    assert request["headers"]["Authorization"] == "Token secret-token"
    assert request["body"]["query"] == QUERY
    assert request["body"]["dialect"]["annotations"] == ["datatype", "group", "default"]


def test_query_flux_surfaces_an_error_table(fake_influx: FakeInflux) -> None:
    fake_influx.body = corpus_bytes("flux_error_after_results")
    with pytest.raises(FluxQueryError, match="test error") as caught:
        query_flux(fake_influx.url, "secret-token", "observatoire", QUERY)
    assert [t.result for t in caught.value.tables] == ["mean"]


def test_query_flux_http_400_is_a_query_error(fake_influx: FakeInflux) -> None:
    fake_influx.status, fake_influx.content_type = 400, "application/json"
    fake_influx.body = json.dumps({"code": "invalid", "message": "compilation failed: bad"}).encode()
    with pytest.raises(FluxQueryError) as caught:
        query_flux(fake_influx.url, "secret-token", "observatoire", QUERY)
    assert caught.value.flux_message == "compilation failed: bad"


def test_query_flux_refused_token_is_a_service_error(fake_influx: FakeInflux) -> None:
    fake_influx.status, fake_influx.content_type = 401, "application/json"
    fake_influx.body = json.dumps({"code": "unauthorized", "message": "unauthorized access"}).encode()
    with pytest.raises(ServiceError) as caught:
        query_flux(fake_influx.url, "wrong-token", "observatoire", QUERY)
    assert not isinstance(caught.value, FluxQueryError)
    assert fake_influx.url in str(caught.value)
    assert "HTTP 401" in str(caught.value) and "token" in str(caught.value)


def test_query_flux_unreachable_server_names_the_url() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServiceError, match="cannot reach InfluxDB") as caught:
        query_flux(url, "secret-token", "observatoire", QUERY, timeout_s=5)
    assert url in str(caught.value)
