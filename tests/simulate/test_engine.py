"""A simulation run end to end: same seed same bytes, ingested through the real readers with zero
quarantine, published to a real Mosquitto and written to a real InfluxDB; bad options named."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import polars as pl
import pytest

from observatory.cli import main
from observatory.errors import ParameterError, ServiceError
from observatory.simulate.citizens import INGEST_OPTIONS
from observatory.simulate.engine import Options, simulate
from observatory.simulate.fleet import build_fleet
from observatory.sources.influxdb1 import Influx1Client
from observatory.sources.mqtt import MqttSubscriber, wait_until
from observatory.warehouse.ingest import ingest_paths
from observatory.warehouse.store import Warehouse
from tests.simulate.runs import run


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def day_with_everything(tmp_path_factory, data_settings):
    """One day with every scenario and many faults."""
    return run(
        tmp_path_factory.mktemp("all"), start="2026-09-10", days=1, scenarios=["all"], faults_per_month=400
    )


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, day_with_everything) -> None:
    again = run(tmp_path / "again", start="2026-09-10", days=1, scenarios=["all"], faults_per_month=400)
    reference = folder_digest(day_with_everything.folder)
    assert folder_digest(again.folder) == reference
    assert set(reference) == {
        "simulation.json",
        "field/sensors.csv",
        "field/lp/2026-09-10.lp",
        "field/odk/citizen_reports.csv",
        "truth/faults.csv",
        "truth/events.csv",
    }
    other = run(
        tmp_path / "other", start="2026-09-10", days=1, scenarios=["all"], faults_per_month=400, seed=973
    )
    changed = folder_digest(other.folder)
    assert changed["field/lp/2026-09-10.lp"] != reference["field/lp/2026-09-10.lp"]
    assert (
        changed["field/sensors.csv"] == reference["field/sensors.csv"]
    )  # the fleet does not depend on the seed


def test_worker_processes_do_not_change_the_bytes(tmp_path) -> None:
    options = {"start": "2026-03-02", "days": 2, "seed": 4, "faults_per_month": 300, "scenarios": ["dust"]}
    alone = run(tmp_path / "one", **options)
    shared = run(tmp_path / "two", workers=2, **options)
    assert any(f.needs_magnitude_beyond_its_day() for f in alone.summary.faults)  # a drift across days
    assert folder_digest(shared.folder) == folder_digest(alone.folder)


def test_a_day_is_the_same_whatever_window_it_is_simulated_in(tmp_path, calm) -> None:
    alone = run(tmp_path / "thursday", start="2026-05-21", days=1, faults=False)
    name = "field/lp/2026-05-21.lp"
    assert folder_digest(alone.folder)[name] == folder_digest(calm.folder)[name]


def test_a_partial_day_and_a_coarser_step(tmp_path) -> None:
    part = run(tmp_path / "part", start="2026-05-21T22:00:00Z", days=0.25, step="15m", faults=False)
    files = sorted(p.name for p in (part.folder / "field" / "lp").glob("*.lp"))
    assert files == ["2026-05-21.lp", "2026-05-22.lp"]  # 22:00 to 04:00 UTC
    times = part.readings["time"].unique().sort()
    assert times.len() == 24 and (times.diff().drop_nulls() == dt.timedelta(minutes=15)).all()
    assert times[0] == dt.datetime(2026, 5, 21, 22, tzinfo=dt.UTC)
    # Counts "in the minute" become counts in the 15 minutes.
    minute = run(tmp_path / "minute", start="2026-05-21T22:00:00Z", days=0.25, faults=False)
    fine = (
        minute.series("traffic-97213-01", "vehicles")
        .group_by_dynamic("time", every="15m")
        .agg(pl.col("value").sum())
    )
    coarse = part.series("traffic-97213-01", "vehicles")
    assert coarse["value"].to_list() == fine["value"].to_list()


def test_the_field_folder_ingests_through_the_real_readers_with_zero_quarantine(
    tmp_path, day_with_everything
) -> None:
    field = day_with_everything.folder / "field"
    summary = day_with_everything.summary
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        warehouse.load_communes()
        reports = list(ingest_paths(warehouse, [field], **INGEST_OPTIONS))
        assert {r.format for r in reports} == {"line-protocol", "odk-csv", "sensors-csv"}
        assert warehouse.quarantine().height == 0 and sum(r.rejected for r in reports) == 0
        sensors = warehouse.sql("SELECT * FROM sensors ORDER BY sensor_id")
        assert sensors["sensor_id"].to_list() == sorted(s.sensor_id for s in build_fleet().sensors)
        # Every field of every line, less the lines of the gaps.
        fields = {s.sensor_id: len(s.kind.fields) for s in build_fleet().sensors}
        lp = (field / "lp" / "2026-09-10.lp").read_text().splitlines()
        expected = sum(
            fields[line.split("sensor_id=", 1)[1].split(",", 1)[0].split(" ", 1)[0]] for line in lp
        )
        assert warehouse.counts()["readings"] == expected == summary.readings
        silent = {
            (f.sensor_id, minute)
            for f in summary.faults
            if f.fault == "gap"
            for minute in range(f.start_ns // 60_000_000_000, f.end_ns // 60_000_000_000)
        }
        assert silent and summary.lines == len(lp) == 1440 * len(fields) - len(silent)
        odk = warehouse.sql("SELECT * FROM reports")
        assert odk.height > 50 and odk["insee"].null_count() == 0
        assert odk["reporter"].drop_nulls().str.contains(r"\d{2}").any()  # phone numbers: personal data
        # Ingest is idempotent: the same files again change nothing.
        again = list(ingest_paths(warehouse, [field], **INGEST_OPTIONS))
        assert all(r.skipped for r in again)


@pytest.mark.parametrize(
    ("options", "parameter", "message"),
    [
        ({"days": 0}, "--days", "positive number"),
        ({"days": -3}, "--days", "positive number"),
        ({"days": 100_000}, "--days", "more than"),
        ({"start": "2026-02-30"}, "--start", "not an ISO 8601"),
        ({"start": "yesterday"}, "--start", "not an ISO 8601"),
        ({"start": "1990-01-01"}, "--start", "outside"),
        ({"step": "10m"}, "--step", "unknown step"),
        ({"scenarios": ["dusst"]}, "--scenario", "Did you mean 'dust'"),
        ({"seed": -1}, "--seed", "seed"),
        ({"workers": 0}, "--workers", "workers"),
    ],
)
def test_bad_options_name_the_parameter(options, parameter, message) -> None:
    with pytest.raises(ParameterError, match=message) as error:
        Options.parse(**options)
    assert error.value.parameter == parameter


def test_default_window_ends_now(tmp_path) -> None:
    now = dt.datetime(2026, 11, 26, 10, 17, 42, tzinfo=dt.UTC)
    options = Options.parse(days=30, now=now)
    assert options.end_ns == int(dt.datetime(2026, 11, 26, 10, 17, tzinfo=dt.UTC).timestamp()) * 10**9
    assert options.end_ns - options.start_ns == 30 * 86_400 * 10**9


def test_an_used_folder_is_not_overwritten_by_accident(tmp_path, capsys) -> None:
    out = tmp_path / "sim"
    args = ["simulate", "--start", "2026-05-21", "--days", "0.01", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "observatory ingest" in printed and "--option category_field=signalement-categorie" in printed
    assert main(args) == 2
    assert "already holds a simulation" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_cli_simulates_then_ingests(tmp_path, capsys) -> None:
    out = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                "--start",
                "2026-05-21",
                "--days",
                "0.1",
                "--scenario",
                "grid_outage",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "simulate [" in captured.err and "1/1 days" in captured.err
    options = [
        f"--option={k}={','.join(v) if isinstance(v, tuple) else v}" for k, v in INGEST_OPTIONS.items()
    ]
    warehouse = tmp_path / "w.duckdb"
    assert main(["ingest", str(out / "field"), "--warehouse", str(warehouse), "--quiet", *options]) == 0
    assert " rejected=0 " in capsys.readouterr().out


def test_mqtt_publishes_every_line_on_its_topic(mosquitto, data_settings) -> None:
    options = Options.parse(
        start="2026-05-21T06:00:00Z", days=0.02, step="5m", faults=False, mqtt=mosquitto.url
    )
    received = []
    subscriber = MqttSubscriber(
        mosquitto.url,
        ["observatory/#"],
        lambda messages, batch: received.append((list(messages), batch)),
        client_id=f"obs-{uuid.uuid4().hex[:6]}",
        batch_seconds=0.05,
    )
    with subscriber:
        summary = simulate(options, data_settings)
        assert wait_until(lambda: subscriber.stored_messages == summary.lines, 60), subscriber.errors
    fleet = build_fleet()
    assert summary.mqtt_messages == summary.lines == 6 * len(fleet)
    readings = pl.concat([batch.readings for _, batch in received])
    assert readings.height == summary.readings and sum(b.rejects.height for _, b in received) == 0
    assert readings["sensor_id"].n_unique() == len(fleet)
    domains = {s.sensor_id: s.kind.domain for s in fleet.sensors}
    for message in (m for messages, _ in received for m in messages):
        sensor_id = message.topic.rsplit("/", 1)[1]
        assert message.topic == f"observatory/{domains[sensor_id]}/{sensor_id}"
        assert f"sensor_id={sensor_id}".encode() in message.payload and message.payload.count(b"\n") == 1


def test_mqtt_broker_unreachable_is_a_service_error(data_settings) -> None:
    from tests.services import free_port

    options = Options.parse(start="2026-05-21", days=0.01, mqtt=f"mqtt://127.0.0.1:{free_port()}")
    with pytest.raises(ServiceError, match="cannot reach the MQTT broker") as error:
        simulate(options, data_settings)
    assert error.value.parameter == "--mqtt"


def test_influx_receives_the_lines_and_answers_queries(influxdb, data_settings) -> None:
    url = f"{influxdb.url}/simulated"
    options = Options.parse(start="2026-05-21T06:00:00Z", days=0.05, faults=False, influx=url)
    summary = simulate(options, data_settings)
    assert summary.influx_lines == summary.lines == 72 * len(build_fleet())
    with Influx1Client(influxdb.url, "simulated") as client:
        batch = client.read_series(
            "feeder", "2026-05-21T06:00:00Z", "2026-05-21T08:00:00Z", sensor_ids=["feeder-97209-01"]
        )
        readings = batch.readings
        assert readings.height == 72 * 2  # load_mw and energized each minute
        assert set(readings["field"]) == {"load_mw", "energized"}
        weather = client.query('SELECT count("temperature_c") FROM "weather"')
        assert weather.readings["value"][0] == 72 * len(build_fleet().of_kind("weather_station"))


def test_influx_url_must_name_a_database(data_settings) -> None:
    options = Options.parse(start="2026-05-21", days=0.01, influx="http://127.0.0.1:8086")
    with pytest.raises(ParameterError, match="database") as error:
        simulate(options, data_settings)
    assert error.value.parameter == "--influx"
