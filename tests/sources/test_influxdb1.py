"""Tests of the live InfluxDB 1.x source against a real influxd 1.6: write, chunked query, quoting, errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from observatory.errors import ParameterError, ServiceError
from observatory.sources.base import READINGS_SCHEMA, TEXT_READINGS_SCHEMA
from observatory.sources.influxdb1 import (
    Influx1Client,
    quote_identifier,
    quote_string,
    time_ns,
    to_line_protocol,
)
from tests.services import free_port

DATABASE = "test_influxdb1"  # the influxdb fixture is shared by the session: own database
MEASUREMENT = "air_quality"
SEED = 972
START = dt.datetime(2024, 9, 1, tzinfo=dt.UTC)
DURATION_S = 2 * 86_400
STEP_S = 52  # ~3,323 points per sensor over two days, ~10,000 lines for three sensors
NS_PER_S = 1_000_000_000
# sensor_id -> (commune, site): tag values with spaces, commas, '=' and accents to escape.
SENSORS = {
    "air-fdf-01": ("Fort-de-France", "Bd Général de Gaulle"),
    "air-lam-02": ("Le Lamentin", "Acajou, zone=industrielle"),
    "air-rob-03": ("Le Robert", "Pointe Lynch"),
}
STATUSES = [
    "ok",
    'maintenance "planifiée"',
    "C:\\capteurs\\air, log",
    "erreur = surchauffe",
    "ligne 1\nligne 2",
]


def sensor_data() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Numeric and text readings of three air-quality stations over two days (ns times, seeded)."""
    rng = np.random.default_rng(SEED)
    numeric, text = [], []
    steps = np.arange(0, DURATION_S, STEP_S, dtype=np.int64)
    for sensor_id, (commune, site) in SENSORS.items():
        times_ns = (
            int(START.timestamp()) * NS_PER_S + steps * NS_PER_S + rng.integers(0, NS_PER_S, len(steps))
        )
        pm10 = np.round(rng.gamma(4.0, 6.0, len(steps)), 3)
        pm10[rng.random(len(steps)) < 0.01] = np.nan  # a missed sample: no field written
        fields = {
            "pm10_ugm3": pm10,
            "no2_ugm3": rng.normal(18.0, 5.0, len(steps)),  # full float64 precision
            "samples": rng.integers(0, 5_000_000, len(steps)).astype(np.float64),
        }
        tags = {"sensor_id": sensor_id, "measurement": MEASUREMENT, "commune": commune, "site": site}
        for field, values in fields.items():
            numeric.append(pl.DataFrame({"time": times_ns, "field": field, "value": values, **tags}))
        every = slice(None, None, 7)
        statuses = rng.choice(STATUSES, len(steps))[every]
        text.append(pl.DataFrame({"time": times_ns[every], "field": "status", "value": statuses, **tags}))
    as_time = pl.col("time").cast(pl.Datetime("ns", "UTC"))
    return (
        pl.concat(numeric).with_columns(as_time, pl.col("value").fill_nan(None)),
        pl.concat(text).with_columns(as_time),
    )


def canonical(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return (
        frame.filter(pl.col("value").is_not_null())
        .select(list(schema))
        .cast(schema)
        .sort("sensor_id", "field", "time")
    )


@pytest.fixture(scope="module")
def client(influxdb) -> Iterator[Influx1Client]:
    with Influx1Client(influxdb.url, DATABASE, timeout_s=30) as client:
        client.create_database()
        yield client


@pytest.fixture(scope="module")
def written(client: Influx1Client) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    numeric, text = sensor_data()
    lines = to_line_protocol(
        [numeric, text], tag_cols=("sensor_id", "commune", "site"), integer_fields={"samples"}
    )
    assert client.write_lines(lines, batch_lines=2_000) == len(lines)
    return numeric, text, lines


# -- the round trip -------------------------------------------------------------------------------
def test_about_ten_thousand_lines_written(written) -> None:
    numeric, text, lines = written
    assert 9_900 <= len(lines) <= 10_100
    assert numeric["time"].n_unique() == len(lines)  # one line per (sensor, time), fields joined


def test_chunked_query_gives_back_exactly_what_was_written(client: Influx1Client, written) -> None:
    numeric, text, _ = written
    query = f"SELECT * FROM {quote_identifier(MEASUREMENT)} GROUP BY *"
    chunks = list(client.iter_chunks(query, chunk_size=500))
    assert len(chunks) > 10
    assert any(r.get("partial") for c in chunks for r in c["results"])
    batch = client.query(query, chunk_size=500)
    assert_frame_equal(canonical(batch.readings, READINGS_SCHEMA), canonical(numeric, READINGS_SCHEMA))
    assert_frame_equal(
        canonical(batch.text_readings, TEXT_READINGS_SCHEMA), canonical(text, TEXT_READINGS_SCHEMA)
    )
    assert batch.readings.schema == READINGS_SCHEMA
    assert batch.rejects.is_empty()


def test_tags_as_columns_are_told_from_string_fields(client: Influx1Client, written) -> None:
    numeric, text, _ = written
    # Without GROUP BY, tags come as columns beside the string field `status`.
    batch = client.query(f"SELECT * FROM {quote_identifier(MEASUREMENT)}", chunk_size=2_000)
    assert_frame_equal(canonical(batch.readings, READINGS_SCHEMA), canonical(numeric, READINGS_SCHEMA))
    assert set(batch.text_readings["field"]) == {"status"}
    assert len(batch.text_readings) == len(text)
    # Grouped by one tag: the others still come as columns.
    batch = client.query(f'SELECT * FROM {quote_identifier(MEASUREMENT)} GROUP BY "commune"')
    assert_frame_equal(canonical(batch.readings, READINGS_SCHEMA), canonical(numeric, READINGS_SCHEMA))
    assert_frame_equal(
        canonical(batch.text_readings, TEXT_READINGS_SCHEMA), canonical(text, TEXT_READINGS_SCHEMA)
    )


def test_field_types_are_kept(client: Influx1Client, written) -> None:
    (result,) = client.execute(f"SHOW FIELD KEYS FROM {quote_identifier(MEASUREMENT)}")
    types = dict(result["series"][0]["values"])
    assert types == {"no2_ugm3": "float", "pm10_ugm3": "float", "samples": "integer", "status": "string"}
    (result,) = client.execute(f'SHOW TAG VALUES FROM {quote_identifier(MEASUREMENT)} WITH KEY = "site"')
    assert {v for _, v in result["series"][0]["values"]} == {site for _, site in SENSORS.values()}


def test_read_series_window_sensor_and_fields(client: Influx1Client, written) -> None:
    numeric, _, _ = written
    start, end = START + dt.timedelta(hours=6), START + dt.timedelta(hours=12)
    batch = client.read_series(
        MEASUREMENT, start, end, sensor_ids=["air-lam-02"], fields=["pm10_ugm3", "samples"]
    )
    expected = numeric.filter(
        (pl.col("sensor_id") == "air-lam-02")
        & pl.col("field").is_in(["pm10_ugm3", "samples"])
        & (pl.col("time") >= start)
        & (pl.col("time") < end)
    )
    assert len(expected) > 600
    assert_frame_equal(canonical(batch.readings, READINGS_SCHEMA), canonical(expected, READINGS_SCHEMA))
    assert batch.text_readings.is_empty()


def test_aggregates_and_sensor_id_from_series_key(client: Influx1Client, written) -> None:
    numeric, _, _ = written
    end_ns = time_ns(START + dt.timedelta(days=2), "end")
    batch = client.query(
        f'SELECT max("samples") FROM {MEASUREMENT} WHERE time >= {time_ns(START, "start")}'
        f' AND time < {end_ns} GROUP BY time(1d), "commune"'
    )
    assert set(batch.readings["sensor_id"]) == {f"{MEASUREMENT},commune={c}" for c, _ in SENSORS.values()}
    assert set(batch.readings["field"]) == {"max"}
    expected = numeric.filter(pl.col("field") == "samples")["value"].max()
    assert batch.readings["value"].max() == expected


# -- errors -------------------------------------------------------------------------------------------
def test_type_conflict_names_it_and_the_first_bad_line(client: Influx1Client, written) -> None:
    stamp = time_ns(START, "start") + 7
    lines = [
        f"{MEASUREMENT},sensor_id=air-fdf-01 pm10_ugm3=12.5 {stamp}",
        "",
        f"{MEASUREMENT},sensor_id=air-fdf-01 no2_ugm3=3.25 {stamp + 1}",
        f'{MEASUREMENT},sensor_id=air-fdf-01,commune=Le\\ Robert no2_ugm3=1,pm10_ugm3="high" {stamp + 2}',
    ]
    with pytest.raises(ServiceError, match="field type conflict") as caught:
        client.write_lines(lines)
    assert caught.value.line == 4
    assert 'pm10_ugm3=\\"high\\"' in str(caught.value) or 'pm10_ugm3="high"' in str(caught.value)
    assert "dropped=1" in str(caught.value)


def test_gzip_writes_and_coarser_epochs(influxdb) -> None:
    stamp = time_ns(START, "start") + 123_456_789
    with Influx1Client(influxdb.url, "test_influxdb1_gzip", gzip_writes=True) as client:
        client.create_database()
        assert client.write_lines(f"m,sensor_id=s v=1.25 {stamp}\nm,sensor_id=s v=2.0 {stamp + 1}\n") == 1 + 1
        batch = client.query("SELECT * FROM m GROUP BY *", epoch="ms")
    assert batch.readings["time"].dt.epoch("ns").to_list() == [stamp // 10**6 * 10**6] * 2
    assert batch.readings["value"].to_list() == [1.25, 2.0]


def test_type_conflict_inside_one_batch_writes_nothing(client: Influx1Client) -> None:
    lines = ["new_field_m,sensor_id=a v=1.25 1", "other_m w=1 5", "new_field_m,sensor_id=a v=2i 2"]
    with pytest.raises(ServiceError, match="field type conflict") as caught:
        client.write_lines(lines)
    assert caught.value.line == 3
    assert "nothing of this batch was written" in str(caught.value)
    assert client.query("SELECT * FROM new_field_m, other_m").readings.is_empty()


def test_unparsable_line_is_named(client: Influx1Client) -> None:
    lines = [
        f"{MEASUREMENT},sensor_id=x no2_ugm3=1 1725148800000000000",
        f"{MEASUREMENT},site=l'anse\\ d'Arlet no2_ugm3=1 17x",
    ]
    with pytest.raises(ServiceError, match="unable to parse") as caught:
        client.write_lines(lines)
    assert caught.value.line == 2


def test_query_errors_are_service_errors(client: Influx1Client, influxdb) -> None:
    with pytest.raises(ServiceError, match="error parsing query"):
        client.query("SELEC * FROM air_quality")
    with Influx1Client(influxdb.url, "no_such_database") as other:
        with pytest.raises(ServiceError, match="database not found"):
            other.query("SELECT * FROM air_quality")
        with pytest.raises(ServiceError, match="database not found") as caught:
            other.write_lines(["m v=1 1"])
        assert "create_database" in str(caught.value)
    with pytest.raises(ParameterError, match="no time column"):
        client.query("SHOW MEASUREMENTS")


def test_hostile_measurement_is_quoted_not_run(client: Influx1Client, written) -> None:
    hostile = f'{MEASUREMENT}" WHERE 1=1; DROP DATABASE "{DATABASE}'
    start, end = START, START + dt.timedelta(days=2)
    assert client.read_series(hostile, start, end).readings.is_empty()
    assert client.read_series(
        MEASUREMENT, start, end, sensor_ids=["air-fdf-01' OR '1'='1"]
    ).readings.is_empty()
    (result,) = client.execute("SHOW DATABASES")
    assert [DATABASE] in result["series"][0]["values"]
    assert len(client.read_series(MEASUREMENT, start, end, fields=["no2_ugm3"]).readings) > 9_900


def test_measurement_with_quotes_round_trips(client: Influx1Client) -> None:
    name = "salle \"B\", niveau 2 'est' C:\\sondes"
    frame = pl.DataFrame(
        {
            "time": [START],
            "sensor_id": ['temp-"b"-01'],
            "measurement": [name],
            "field": ["temp c"],
            "value": [27.5],
        }
    )
    client.write_lines(to_line_protocol(frame))
    batch = client.read_series(name, START, START + dt.timedelta(seconds=1), sensor_ids=['temp-"b"-01'])
    assert_frame_equal(batch.readings, frame.cast(READINGS_SCHEMA))


def test_dead_server_is_a_service_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = Influx1Client(url, DATABASE, username="u", password="s3cret", timeout_s=5)
    for call in (lambda: client.write_lines(["m v=1 1"]), lambda: client.query("SELECT * FROM m")):
        with pytest.raises(ServiceError) as caught:
            call()
        assert url in str(caught.value)
        assert "s3cret" not in str(caught.value)


# -- serialising and quoting ----------------------------------------------------------------------
def test_to_line_protocol_escapes_and_types() -> None:
    numeric = pl.DataFrame(
        {
            "time": [1, 1, 2],
            "sensor_id": ["s 1", "s 1", "a,b=c"],
            "measurement": ["air quality,v2", "air quality,v2", "m"],
            "field": ["pm 10", "count", "x=y"],
            "value": [1.5, 3.0, 1e20],
        }
    ).with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    text = pl.DataFrame(
        {
            "time": [1],
            "sensor_id": ["s 1"],
            "measurement": ["air quality,v2"],
            "field": ["note"],
            "value": ['a "b" \\ c'],
        }
    ).with_columns(pl.col("time").cast(pl.Datetime("ns", "UTC")))
    lines = to_line_protocol([numeric, text], integer_fields={"count"})
    assert lines == [
        'air\\ quality\\,v2,sensor_id=s\\ 1 pm\\ 10=1.5,count=3i,note="a \\"b\\" \\\\ c" 1',
        "m,sensor_id=a\\,b\\=c x\\=y=1e+20 2",
    ]


def test_to_line_protocol_refuses_what_it_cannot_write() -> None:
    base = {"time": [0], "sensor_id": ["s"], "measurement": ["m"], "field": ["f"], "value": [1.0]}
    with pytest.raises(ParameterError, match="newline"):
        to_line_protocol(pl.DataFrame({**base, "sensor_id": ["a\nb"]}))
    with pytest.raises(ParameterError, match="backslash"):
        to_line_protocol(pl.DataFrame({**base, "sensor_id": ["trailing\\"]}))
    with pytest.raises(ParameterError, match="fraction"):
        to_line_protocol(pl.DataFrame({**base, "value": [1.5]}), integer_fields={"f"})
    with pytest.raises(ParameterError, match="int64"):
        to_line_protocol(pl.DataFrame({**base, "value": [2.0**63]}), integer_fields={"f"})
    with pytest.raises(ParameterError, match="comment"):
        to_line_protocol(pl.DataFrame({**base, "measurement": ["#m"]}))
    with pytest.raises(ParameterError, match="'time'"):
        to_line_protocol(pl.DataFrame({**base, "field": ["time"]}))
    with pytest.raises(ParameterError, match="twice"):
        to_line_protocol(pl.concat([pl.DataFrame(base)] * 2))
    with pytest.raises(ParameterError, match="infinite"):
        to_line_protocol(pl.DataFrame({**base, "value": [float("inf")]}))
    assert to_line_protocol(pl.DataFrame({**base, "value": [float("nan")]})) == []


def test_quoting_helpers() -> None:
    assert quote_identifier('a"b\\c') == '"a\\"b\\\\c"'
    assert quote_string("it's \\ ok\n") == "'it\\'s \\\\ ok\\n'"


def test_time_ns() -> None:
    assert time_ns(START, "start") == 1_725_148_800 * NS_PER_S
    assert time_ns("2024-09-01T00:00:00.000000001Z", "start") == 1_725_148_800 * NS_PER_S + 1
    assert time_ns(5, "start") == 5
    with pytest.raises(ParameterError, match="time zone"):
        time_ns(dt.datetime(2024, 9, 1), "start")
    with pytest.raises(ParameterError, match="not a time"):
        time_ns("hier", "start")
