"""Refresh from a live InfluxDB 1.x and PostGIS: what is new comes in once and equal to what was
written; a source that is down (stopped, stopped mid-query, HTTP 5xx, timeout) is recorded with
its address redacted and leaves the warehouse as it was, while the other source still refreshes;
the next refresh catches up without a duplicate."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import geopandas as gpd
import pandas as pd
import polars as pl
import psycopg
import pytest
import shapely
from polars.testing import assert_frame_equal

from observatory.cli import main
from observatory.config import Settings
from observatory.errors import ParameterError, ServiceError
from observatory.simulate.engine import Options, simulate
from observatory.sources.influxdb1 import Influx1Client
from observatory.sources.postgis import write_layer
from observatory.warehouse.ingest import ingest_file
from observatory.warehouse.refresh import last_attempts, refresh
from observatory.warehouse.store import Warehouse
from tests.http_stand_in import QuietHandler, serving
from tests.services import free_port

DATABASE = "test_refresh"  # the influxdb fixture is shared by the session: own database
LAYER = "test_refresh_sensors"  # ... and so is PostGIS: own tables
SLOW_LAYER = "test_refresh_sensors_slow"  # LAYER through a view that sleeps: a read to stop midway
SLOW_READ_S = 8  # how long a read of SLOW_LAYER takes, unless the server goes first
WATCH_S = 120  # how long the read of SLOW_LAYER is waited for (InfluxDB is refreshed before it)
STOP_AT_WINDOW = 3  # InfluxDB is stopped before the third request for readings of a refresh
DAYS = {"day1": "2025-03-01T00:00:00Z", "day2": "2025-03-02T00:00:00Z"}
STEP = "15m"  # 11,520 lines a day for the fleet's 120 sensors
PASSWORD = "s3cret-refresh"  # in the URL and DSN: must never reach source_status
# Free-text notes of the field teams (text readings), a few a day, at fixed times of each day.
NOTES = {"feeder-97201-01": "poste contrôlé, RAS", "water-dma-97209-01": 'vanne "V2" fermée'}


@dataclass(frozen=True)
class Simulated:
    """Line protocol of each simulated day (``day1``, ``day2``), and the fleet's sensors.csv."""

    days: dict[str, list[str]]
    sensors_csv: Path


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    """Two consecutive simulated days of the fleet, with notes of the field teams as string fields."""
    folder = tmp_path_factory.mktemp("refresh-sim")
    days = {}
    for name, start in DAYS.items():
        simulate(Options.parse(start=start, days=1, step=STEP, out=folder / name))
        lines = [
            line
            for path in sorted((folder / name / "field" / "lp").glob("*.lp"))
            for line in path.read_text(encoding="utf-8").splitlines()
        ]
        start_ns = int(pd.Timestamp(start).value)
        for hour in (9, 15):
            for sensor_id, note in NOTES.items():
                text = note.replace('"', '\\"')
                lines.append(
                    f'maintenance,sensor_id={sensor_id} note="{text}" {start_ns + hour * 3_600 * 10**9}'
                )
        days[name] = lines
    return Simulated(days, folder / "day1" / "field" / "sensors.csv")


def fleet_layer(path: Path) -> gpd.GeoDataFrame:
    """The fleet's sensors.csv as the PostGIS layer a deployment keeps: metadata and a point."""
    frame = pl.read_csv(path, schema_overrides={"insee": pl.String, "installed": pl.Date}).to_pandas()
    frame["installed"] = [day.date() for day in frame["installed"]]  # PostgreSQL date, not timestamp
    points = gpd.points_from_xy(frame.pop("lon"), frame.pop("lat"))
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326")


def expected(tmp_path: Path, days: list[list[str]]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Readings, text readings and series of ``days`` as the file ingest stores them (the reference)."""
    folder = Path(tempfile.mkdtemp(prefix="reference-", dir=tmp_path))
    with Warehouse.open(folder / "reference.duckdb") as reference:
        for index, lines in enumerate(days):
            path = folder / f"day{index}.lp"
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            assert ingest_file(reference, path).rejected == 0
        return stored(reference)


def stored(warehouse: Warehouse) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Readings, text readings and series (tag sets) of ``warehouse``, in a fixed order."""
    readings = warehouse.readings()
    text = warehouse.sql("SELECT time, sensor_id, measurement, field, value FROM text_readings ORDER BY ALL")
    return readings, text, warehouse.sql("SELECT * FROM series ORDER BY ALL")


def counts(warehouse: Warehouse) -> dict[str, int]:
    """Row counts of every table but source_status (which each attempt grows)."""
    return {k: v for k, v in warehouse.counts().items() if k != "source_status"}


def settings_for(influx_url: str, dsn: str, table: str = LAYER) -> Settings:
    return Settings.from_env(
        {
            **os.environ,
            "OBSERVATORY_INFLUX_URL": influx_url,
            "OBSERVATORY_INFLUX_DB": DATABASE,
            "OBSERVATORY_POSTGRES_DSN": dsn,
            "OBSERVATORY_POSTGIS_SENSORS_TABLE": table,
        }
    )


def with_password(url: str, user: str) -> str:
    scheme, rest = url.split("://", 1)
    rest = rest.split("@", 1)[-1]
    return f"{scheme}://{user}:{PASSWORD}@{rest}"


@pytest.fixture
def live(influxdb, postgres, simulated) -> Iterator[Influx1Client]:
    """An empty InfluxDB database and the fleet's sensors layer in PostGIS; both dropped after."""
    client = Influx1Client(influxdb.url, DATABASE)
    client.execute(f'DROP DATABASE "{DATABASE}"')
    client.create_database()
    write_layer(fleet_layer(simulated.sensors_csv), postgres.dsn, LAYER, primary_key="sensor_id")
    yield client
    client.execute(f'DROP DATABASE "{DATABASE}"')
    client.close()
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {LAYER} CASCADE")


def test_influxdb_stopped_is_recorded_postgis_still_refreshes_and_the_next_refresh_catches_up(
    influxdb, postgres, simulated, live, tmp_path
):
    config = settings_for(with_password(influxdb.url, "observatory"), with_password(postgres.dsn, "postgres"))
    live.write_lines(simulated.days["day1"])
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        influx, layer = refresh(warehouse, config)
        assert (influx.ok, layer.ok) == (True, True), (influx.error, layer.error)
        day1 = expected(tmp_path, [simulated.days["day1"]])
        assert_frame_equal(stored(warehouse)[0], day1[0])
        assert_frame_equal(stored(warehouse)[1], day1[1])
        assert influx.rows == day1[0].height + day1[1].height
        sensors = warehouse.sql("SELECT * EXCLUDE (installed), installed::VARCHAR AS installed FROM sensors")
        fleet = pl.read_csv(simulated.sensors_csv, schema_overrides={"insee": pl.String})
        assert_frame_equal(sensors, fleet, check_row_order=False, check_column_order=False)
        assert layer.rows == fleet.height
        # InfluxDB's tags kept as the file ingest keeps them: KPIs read tags (fuel, insee) there
        assert_frame_equal(stored(warehouse)[2], day1[2])

        again = refresh(warehouse, config, ["influxdb"])[0]
        assert (again.ok, again.rows) == (True, 0)  # nothing new: nothing stored twice
        before = counts(warehouse)

        late = late_line(simulated.days["day1"])
        live.write_lines([*simulated.days["day2"], late])
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:  # a feeder moved and renamed
            conn.execute(
                f"UPDATE {LAYER} SET kind = 'feeder_moved', geom = ST_SetSRID(ST_MakePoint(-61.05, 14.6), 4326) "
                "WHERE sensor_id = 'feeder-97201-01'"
            )
        read = []

        def stop_midway(source: str, what: str) -> None:
            read.append(source)
            if read.count("influxdb") == STOP_AT_WINDOW:  # two windows read, staged in the transaction
                influxdb.pause()

        try:
            influx, layer = refresh(warehouse, config, progress=stop_midway)
        finally:
            influxdb.resume()
        assert read.count("influxdb") == STOP_AT_WINDOW and read[-1] == "postgis", influx.error
        assert not influx.ok and influx.unreachable and influx.rows == 0
        assert influx.error.startswith("ServiceError: ") and "cannot be reached" in influx.error
        assert PASSWORD not in influx.error and f"observatory:***@127.0.0.1:{influxdb.port}" in influx.error
        assert influx.succeeded_at is not None and influx.succeeded_at < influx.attempted_at
        assert counts(warehouse) == before  # not one reading, log or rollup row of the failed pull
        assert layer.ok and layer.rows == fleet.height
        moved = warehouse.sql("SELECT kind, lon, lat FROM sensors WHERE sensor_id = 'feeder-97201-01'")
        assert moved.row(0) == ("feeder_moved", -61.05, 14.6)

        caught_up = refresh(warehouse, config, ["influxdb"])[0]
        both = expected(tmp_path, [simulated.days["day1"], simulated.days["day2"], [late]])
        assert (
            caught_up.ok
            and caught_up.rows == both[0].height + both[1].height - day1[0].height - day1[1].height
        )
        assert_frame_equal(stored(warehouse)[0], both[0])
        assert_frame_equal(stored(warehouse)[1], both[1])
        keys = warehouse.sql(
            "SELECT count(*) AS n, count(DISTINCT (sensor_id, field, time)) AS d FROM readings"
        )
        assert keys.row(0) == (both[0].height, both[0].height)
        freshness = last_attempts(warehouse)
        assert freshness["influxdb"].ok and freshness["influxdb"].succeeded_at > influx.attempted_at
        history = warehouse.sql("SELECT source, ok FROM source_status ORDER BY attempted_at, source")
        assert history.rows() == [
            ("influxdb", True),
            ("postgis", True),
            ("influxdb", True),
            ("influxdb", False),
            ("postgis", True),
            ("influxdb", True),
        ]


def late_line(day: list[str]) -> str:
    """A feeder whose clock is two minutes behind writes just before the last stored time: the
    next refresh must still take it (it re-reads OVERLAP_S before what it holds)."""
    last_ns = max(int(line.rsplit(" ", 1)[1]) for line in day if line.startswith("feeder,"))
    return f"feeder,insee=97209,sensor_id=feeder-97209-late load_mw=1.25 {last_ns - 120 * 10**9}"


def stop_during_read(postgres, table: str) -> threading.Thread:
    """A thread that stops PostgreSQL once a read of ``table`` is running on it."""

    def watch() -> None:
        deadline = time.monotonic() + WATCH_S
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            while time.monotonic() < deadline:
                queries = conn.execute(
                    "SELECT query FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()"
                ).fetchall()
                if any(table in query for (query,) in queries):
                    break
                time.sleep(0.05)
            else:
                return  # never seen: the read is not stopped, and the test sees it succeed
        postgres.pause()

    thread = threading.Thread(target=watch, name="stop-postgres", daemon=True)
    thread.start()
    return thread


def test_postgresql_stopped_mid_read_leaves_the_sensors_as_they_were(
    influxdb, postgres, simulated, live, tmp_path
):
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE VIEW {SLOW_LAYER} AS SELECT s.* FROM {LAYER} s, LATERAL (SELECT pg_sleep({SLOW_READ_S})) z"
        )
    dsn = with_password(postgres.dsn, "postgres")
    live.write_lines(simulated.days["day1"][:500])
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        assert all(s.ok for s in refresh(warehouse, settings_for(influxdb.url, dsn)))
        sensors = warehouse.sql("SELECT * FROM sensors ORDER BY sensor_id")
        before = warehouse.counts()["readings"]
        live.write_lines(simulated.days["day1"][500:1000])
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            conn.execute(f"UPDATE {LAYER} SET kind = 'renamed'")
        stopper = stop_during_read(postgres, SLOW_LAYER)
        try:
            influx, layer = refresh(warehouse, settings_for(influxdb.url, dsn, SLOW_LAYER))
        finally:
            stopper.join()
            postgres.resume()
        assert not layer.ok and layer.unreachable, layer.error
        # stopped midway ("terminating connection due to administrator command"), not refused at the door
        assert "terminating connection" in layer.error and PASSWORD not in layer.error
        assert_frame_equal(warehouse.sql("SELECT * FROM sensors ORDER BY sensor_id"), sensors)
        first_1000 = expected(tmp_path, [simulated.days["day1"][:1000]])[0]
        assert influx.ok and influx.rows == first_1000.height - before  # the other source came in
        assert_frame_equal(stored(warehouse)[0], first_1000)

        layer = refresh(warehouse, settings_for(influxdb.url, dsn), ["postgis"])[0]
        assert layer.ok and layer.rows == sensors.height
        assert warehouse.sql("SELECT DISTINCT kind FROM sensors")["kind"].to_list() == ["renamed"]


class Unavailable(QuietHandler):
    """An InfluxDB behind a proxy that answers 503 (the server overloaded or restarting)."""

    def do_POST(self) -> None:
        self.send_response(HTTPStatus.SERVICE_UNAVAILABLE)
        self.send_header("Content-Type", "application/json")
        body = b'{"error":"service unavailable"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Hanging(QuietHandler):
    """An InfluxDB that accepts the connection and never answers."""

    def do_POST(self) -> None:
        time.sleep(3)


@pytest.mark.parametrize(("handler", "said"), [(Unavailable, "HTTP 503"), (Hanging, "ReadTimeout")])
def test_an_influxdb_answering_5xx_or_not_at_all_is_recorded(handler, said, tmp_path):
    with serving(handler) as url, Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        before = counts(warehouse)
        config = settings_for(with_password(url, "observatory"), "postgresql://postgres@127.0.0.1:1/x")
        status = refresh(warehouse, config, ["influxdb"], timeout_s=0.5)[0]
        assert not status.ok and status.unreachable and said in status.error
        assert PASSWORD not in status.error and status.succeeded_at is None
        assert counts(warehouse) == before


def test_a_sensors_layer_without_sensor_id_is_refused_and_named(postgres, tmp_path):
    table = "test_refresh_no_id"
    frame = gpd.GeoDataFrame({"code": ["a"]}, geometry=[shapely.Point(-61.0, 14.6)], crs="EPSG:4326")
    write_layer(frame, postgres.dsn, table)
    try:
        with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
            config = settings_for("http://127.0.0.1:1", postgres.dsn, table)
            status = refresh(warehouse, config, ["postgis"])[0]
            assert not status.ok and not status.unreachable
            assert (
                status.error.startswith("DataFormatError")
                and "OBSERVATORY_POSTGIS_SENSORS_TABLE" in status.error
            )
            assert warehouse.counts()["sensors"] == 0
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")


def test_an_unknown_source_is_named(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse, pytest.raises(ParameterError, match="'postgis'"):
        refresh(warehouse, sources=["postgres"])


def test_the_command_prints_each_source_and_exits_3_when_one_failed(
    influxdb, live, simulated, tmp_path, monkeypatch, capsys
):
    live.write_lines(simulated.days["day1"][:100])
    monkeypatch.setenv("OBSERVATORY_INFLUX_URL", influxdb.url)
    monkeypatch.setenv("OBSERVATORY_INFLUX_DB", DATABASE)
    monkeypatch.setenv(
        "OBSERVATORY_POSTGRES_DSN", f"postgresql://postgres@127.0.0.1:{free_port()}/observatory"
    )
    path = str(tmp_path / "w.duckdb")
    assert main(["refresh", "--warehouse", path, "--quiet"]) == 3
    printed = capsys.readouterr().out.splitlines()
    readings = expected(tmp_path, [simulated.days["day1"][:100]])[0].height
    assert printed[0].split() == ["influxdb", str(readings), "rows", "ok"]
    assert printed[1].startswith("postgis") and "failed: ServiceError" in printed[1]
    assert main(["refresh", "--warehouse", path, "--quiet", "--source", "influxdb"]) == 0
    assert capsys.readouterr().out.split() == ["influxdb", "0", "rows", "ok"]


def attempts_seen_between_rounds(path: Path) -> int:
    """Attempts recorded so far, read by a reader that gets in between two rounds of the loop."""
    deadline = time.monotonic() + WATCH_S
    while True:
        try:
            with Warehouse.open(path, read_only=True) as warehouse:
                return warehouse.sql("SELECT count(*) AS n FROM source_status")["n"][0]
        except ServiceError:  # a round holds the file for writing
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_every_repeats_rounds_and_leaves_the_warehouse_free_between_them(influxdb, live, simulated, tmp_path):
    live.write_lines(simulated.days["day1"][:100])
    path = tmp_path / "w.duckdb"
    env = {
        **os.environ,
        "OBSERVATORY_INFLUX_URL": influxdb.url,
        "OBSERVATORY_INFLUX_DB": DATABASE,
    }
    command = [sys.executable, "-m", "observatory.cli", "refresh", "--source", "influxdb", "--every", "0.5"]
    command += ["--warehouse", str(path), "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rounds = [process.stdout.readline() for _ in range(3)]
        attempts = attempts_seen_between_rounds(path)
        # a round meeting the reader says so ("warehouse not refreshed") and the loop goes on
        after = f"{dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1):%Y-%m-%dT%H:%M:%SZ}"
        later = process.stdout.readline()
        while later and later[: len(after)] < after:  # rounds that may have met the reader
            later = process.stdout.readline()
        assert later.split()[1:] == ["influxdb", "0", "rows", "ok"], later
    finally:
        process.send_signal(signal.SIGTERM)  # how a service manager stops the loop: after its round
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err  # the last round succeeded
    assert [line.split()[1:] for line in rounds] == [
        ["influxdb", str(expected(tmp_path, [simulated.days["day1"][:100]])[0].height), "rows", "ok"],
        ["influxdb", "0", "rows", "ok"],
        ["influxdb", "0", "rows", "ok"],
    ]
    assert all(line[:20].endswith("Z") for line in rounds)  # each round stamped in UTC
    assert attempts >= 3


def test_a_sensor_without_location_and_numeric_codes_are_kept_as_the_warehouse_types_them(postgres, tmp_path):
    table = "test_refresh_loose"
    frame = gpd.GeoDataFrame(
        {"sensor_id": ["tide-fdf", "tide-new"], "insee": [97209, 97213], "unit": ["m", None]},
        geometry=[shapely.Point(691_000.0, 1_615_000.0), None],
        crs="EPSG:5490",  # RGAF09 / UTM 20N, as a surveyor's layer may be
    )
    write_layer(frame, postgres.dsn, table)
    try:
        with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
            status = refresh(warehouse, settings_for("http://127.0.0.1:1", postgres.dsn, table), ["postgis"])[
                0
            ]
            assert status.ok, status.error
            rows = warehouse.sql("SELECT sensor_id, insee, unit, lon, lat FROM sensors ORDER BY sensor_id")
    finally:
        with psycopg.connect(postgres.dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")
    lon, lat = frame.to_crs("EPSG:4326").geometry[0].coords[0]
    assert rows.row(0) == ("tide-fdf", "97209", "m", pytest.approx(lon), pytest.approx(lat))
    assert rows.row(1) == ("tide-new", "97213", None, None, None)
    assert -61.3 < lon < -60.8 and 14.3 < lat < 14.9  # on the island
