"""The warehouse stores what readers give it once, all or nothing, and answers bound queries."""

from __future__ import annotations

import datetime as dt
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observatory.errors import ParameterError
from observatory.sources.base import READINGS_SCHEMA, SENSORS_SCHEMA, TEXT_READINGS_SCHEMA, Batch
from observatory.warehouse import store
from observatory.warehouse.schema import HOURLY_WIDE_5, SCHEMA_VERSION, TABLES
from observatory.warehouse.store import AGGREGATES, BUCKETS, Warehouse

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def readings(sensor: str, hours: int, start: dt.datetime = T0, field: str = "temperature") -> pl.DataFrame:
    """Hourly readings of one sensor, a diurnal-looking ramp around 27 °C."""
    return pl.DataFrame(
        {
            "time": [start + dt.timedelta(hours=h) for h in range(hours)],
            "sensor_id": [sensor] * hours,
            "measurement": ["weather"] * hours,
            "field": [field] * hours,
            "value": [27.0 + (h % 24 - 12) / 4 for h in range(hours)],
        },
        schema=READINGS_SCHEMA,
    )


def sensors() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sensor_id": ["mq-wx-lamentin", "mq-wx-fdf"],
            "domain": ["weather", "weather"],
            "kind": ["weather_station", "weather_station"],
            "unit": ["degC", "degC"],
            "insee": ["97213", "97209"],
            "lon": [-61.003, -61.07],
            "lat": [14.595, 14.61],
            "installed": [dt.date(2024, 1, 15), dt.date(2023, 6, 1)],
            "source_system": ["influxdb", "influxdb"],
        },
        schema=SENSORS_SCHEMA,
    )


@pytest.fixture
def warehouse(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        yield wh


def test_a_source_is_stored_once_and_times_keep_nanoseconds(warehouse):
    precise = readings("mq-wx-fdf", 3).with_columns(pl.col("time") + pl.duration(nanoseconds=123))
    report = warehouse.ingest("a.lp", "sha-a", "line-protocol", [Batch(readings=precise, sensors=sensors())])
    assert (report.readings, report.duplicates, report.skipped) == (3, 0, False)
    again = warehouse.ingest("a.lp", "sha-a", "line-protocol", [Batch(readings=precise)])
    assert again.skipped and warehouse.counts()["readings"] == 3
    stored = warehouse.readings()
    assert stored["time"].to_list() == precise["time"].to_list()
    assert stored["time"].dtype == pl.Datetime("ns", "UTC")


def test_overlapping_sources_store_each_key_once(warehouse):
    warehouse.ingest("day1", "sha-1", "line-protocol", [Batch(readings=readings("mq-wx-fdf", 24))])
    overlap = readings("mq-wx-fdf", 24, start=T0 + dt.timedelta(hours=12))
    report = warehouse.ingest(
        "day1b", "sha-2", "line-protocol", [Batch(readings=overlap), Batch(readings=overlap)]
    )
    assert (report.readings, report.duplicates) == (12, 36)
    assert warehouse.counts()["readings"] == 36


def test_text_values_and_unkeyed_rows_are_kept_apart(warehouse):
    text = pl.DataFrame(
        {
            "time": [T0],
            "sensor_id": ["mq-grid-01"],
            "measurement": ["grid"],
            "field": ["state"],
            "value": ["islanded"],
        },
        schema=TEXT_READINGS_SCHEMA,
    )
    broken = readings("x", 2).with_columns(pl.Series("sensor_id", [None, "x"], pl.String))
    report = warehouse.ingest("mix", "sha-m", "flux-csv", [Batch(readings=broken, text_readings=text)])
    assert (report.readings, report.text_readings, report.rejected) == (1, 1, 1)
    (row,) = warehouse.quarantine().iter_rows(named=True)
    assert row["source"] == "mix" and row["reason"] == "missing sensor_id"
    assert warehouse.sql("SELECT value FROM text_readings")["value"].to_list() == ["islanded"]


def test_a_failing_reader_leaves_the_warehouse_as_it_was(warehouse):
    warehouse.ingest("ok", "sha-ok", "line-protocol", [Batch(readings=readings("a", 5))])
    before = warehouse.counts()

    def batches():
        yield Batch(readings=readings("b", 100))
        raise OSError("disk vanished")

    with pytest.raises(OSError):
        warehouse.ingest("bad", "sha-bad", "line-protocol", batches())
    assert warehouse.counts() == before
    assert not warehouse.already_ingested("sha-bad")


@pytest.mark.parametrize("flush_rows", [None, 100], ids=["rows-inserted", "parquet-parts"])
def test_a_killed_ingest_leaves_the_warehouse_as_before_that_source(tmp_path, flush_rows):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        wh.ingest("first", "sha-first", "line-protocol", [Batch(readings=readings("a", 48))])
        before = wh.counts()
    script = textwrap.dedent(
        f"""
        import sys, time, datetime as dt
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_store import readings
        from observatory.sources.base import Batch
        from observatory.warehouse import store
        from observatory.warehouse.store import Warehouse
        if {flush_rows!r} is not None:
            store.FLUSH_ROWS = {flush_rows!r}  # parts written before the kill
        def batches():
            for day in range(10_000):
                yield Batch(readings=readings("b", 24, start=dt.datetime(2020, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day)))
                print("staged", day, flush=True)
                time.sleep(0.01)
        with Warehouse.open({str(path)!r}) as wh:
            wh.ingest("killed", "sha-killed", "line-protocol", batches())
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        for line in process.stdout:
            if line.startswith("staged 50"):
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    parts = tmp_path / "w.duckdb.parts"
    if flush_rows is not None:
        assert len(list(parts.glob("*.parquet"))) >= 10  # written, never listed
    with Warehouse.open(path) as wh:
        assert wh.counts() == before
        assert not wh.already_ingested("sha-killed")
        wh.ingest("next", "sha-next", "line-protocol", [Batch(readings=readings("c", 3))])
    assert not list(parts.glob("*.parquet"))  # the next ingest deleted them


def test_queries_filter_by_commune_time_and_resample(warehouse):
    batch = Batch(
        readings=pl.concat([readings("mq-wx-lamentin", 48), readings("mq-wx-fdf", 48)]), sensors=sensors()
    )
    warehouse.ingest("two", "sha-two", "line-protocol", [batch])
    lamentin = warehouse.readings(
        insee="97213", start="2026-11-01T06:00:00Z", end=T0 + dt.timedelta(hours=18)
    )
    assert lamentin["sensor_id"].unique().to_list() == ["mq-wx-lamentin"]
    assert lamentin.height == 12
    daily = warehouse.readings(bucket="1d", agg="max")
    assert daily.height == 4 and daily["value"].max() == pytest.approx(27.0 + 11 / 4)
    assert daily["time"].dt.hour().unique().to_list() == [0]


@pytest.mark.parametrize("hostile", ["x' OR '1'='1", "'; DROP TABLE readings; --", "\x00", "é" * 10_000])
def test_hostile_filter_values_are_data_not_sql(warehouse, hostile):
    warehouse.ingest("one", "sha-one", "line-protocol", [Batch(readings=readings("a", 3))])
    assert warehouse.readings(sensor_ids=[hostile]).height == 0
    assert warehouse.readings(insee=hostile).height == 0
    assert warehouse.counts()["readings"] == 3


def test_bad_parameters_are_named(warehouse):
    with pytest.raises(ParameterError, match="bucket.*Did you mean '1h'"):
        warehouse.readings(bucket="1hr")
    with pytest.raises(ParameterError, match="start"):
        warehouse.readings(start="yesterday")


def test_read_only_warehouse_refuses_writes(tmp_path):
    path = tmp_path / "w.duckdb"
    Warehouse.open(path).close()
    with Warehouse.open(path, read_only=True) as wh, pytest.raises(ParameterError, match="read-only"):
        wh.sql("DELETE FROM readings")


def test_after_an_ingest_large_arrays_still_reuse_the_memory_freed():
    if getattr(store._LIBC, "mallopt", None) is None:
        pytest.skip("not glibc: the ingest leaves malloc alone")
    with store._heap_kept():  # what each ingest does around its store
        pass
    faults = []
    for _ in range(4):  # a long-running process (the server, the MQTT feed) after an ingest
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        block = np.empty(2_000_000)  # 16 MB: a flush's column
        block[:] = 1.0
        del block
        faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
    # memory fresh from the system would fault ~4,000 pages each time
    assert faults[-1] < 100, faults


def test_the_ingest_opens_without_spatial_and_queries_have_it(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path, extensions=()) as wh:  # as `observatory ingest` opens it
        assert wh.load_communes() == 34
        loaded = wh.sql("SELECT extension_name FROM duckdb_extensions() WHERE loaded")["extension_name"]
        assert "spatial" not in loaded.to_list()
    with Warehouse.open(path, read_only=True) as wh:
        area = wh.sql(
            "SELECT ST_Area(ST_Transform(ST_GeomFromWKB(geometry_wkb), 'EPSG:4326', 'EPSG:5490', "
            "always_xy := true)) / 1e6 AS km2, area_km2 FROM communes WHERE insee = '97209'"
        )
    assert area["km2"][0] == pytest.approx(area["area_km2"][0], rel=0.05)


def test_communes_and_parquet_partitions(warehouse, tmp_path):
    assert warehouse.load_communes() == 34
    assert warehouse.sql("SELECT sum(population) AS p FROM communes")["p"][0] == 360_749
    batch = Batch(
        readings=readings("mq-wx-fdf", 24 * 60, start=T0 - dt.timedelta(days=20)), sensors=sensors()
    )
    warehouse.ingest("long", "sha-long", "line-protocol", [batch])
    out = warehouse.export_parquet(tmp_path / "parquet")
    parts = sorted(p.relative_to(out).parent.as_posix() for p in out.rglob("*.parquet"))
    assert parts == [
        "domain=weather/month=2026-10",
        "domain=weather/month=2026-11",
        "domain=weather/month=2026-12",
    ]
    back = pl.read_parquet(out / "**/*.parquet", hive_partitioning=True)
    assert back.height == 24 * 60


def test_rollups_kept_at_ingest_equal_the_raw_aggregates(warehouse):
    warehouse.ingest("a", "sha-a", "line-protocol", [Batch(readings=readings("s1", 50), sensors=sensors())])
    late = readings("s1", 50, start=T0 + dt.timedelta(minutes=30 + 24 * 60))  # overlaps hours, new keys
    warehouse.ingest("b", "sha-b", "line-protocol", [Batch(readings=pl.concat([late, readings("s1", 10)]))])
    for bucket, agg in [
        ("1h", "mean"),
        ("1h", "count"),
        ("1d", "max"),
        ("1d", "mean"),
        ("1d", "count"),
        ("1w", "min"),
    ]:
        fast = warehouse.readings(bucket=bucket, agg=agg)
        raw = warehouse.sql(
            f"SELECT time_bucket(INTERVAL '{BUCKETS[bucket]}', time) AS time, sensor_id, field, "
            f"{AGGREGATES[agg]}(value)::DOUBLE AS value FROM readings GROUP BY ALL ORDER BY sensor_id, field, time"
        )
        assert fast["time"].to_list() == raw["time"].to_list(), bucket
        assert fast["value"].to_list() == pytest.approx(raw["value"].to_list()), (bucket, agg)
        assert fast["measurement"].unique().to_list() == ["weather"]  # from the rollup, not a join
    (last,) = warehouse.latest().iter_rows(named=True)
    assert last["time"] == late["time"][-1] and last["value"] == late["value"][-1]
    twice = warehouse.sql(
        "SELECT sensor_id, field, hour FROM readings_hourly GROUP BY ALL HAVING count(*) > 1"
    )
    assert twice.height == 0  # each hour once: merged into, not appended again
    assert warehouse.sql("SELECT max(n) AS n FROM readings_hourly")["n"].to_list() == [2]


@pytest.mark.parametrize("flush_rows", [7, 1_000_000], ids=["flushed-between-batches", "one-buffer"])
def test_a_key_repeated_anywhere_in_a_source_is_stored_once(tmp_path, monkeypatch, flush_rows):
    # Small flushes send repeats to the table lookup, one big buffer to the dedupe at flush.
    monkeypatch.setattr(store, "FLUSH_ROWS", flush_rows)
    first = readings("mq-wx-fdf", 24)
    later = readings("mq-wx-fdf", 24, start=T0 + dt.timedelta(days=3))
    again = first.with_columns(pl.col("value") + 100)  # same keys, other values: the first are kept
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        report = wh.ingest(
            "day", "sha-d", "line-protocol", iter([Batch(readings=b) for b in (first, later, again)])
        )
        assert (report.readings, report.duplicates) == (48, 24)
        stored = wh.readings(sensor_ids=["mq-wx-fdf"], end=T0 + dt.timedelta(days=1))
        assert stored["value"].to_list() == first["value"].to_list()
        repeat = wh.ingest(
            "day-again", "sha-d2", "line-protocol", iter([Batch(readings=pl.concat([later, again]))])
        )
        assert (repeat.readings, repeat.duplicates) == (0, 48)
        assert wh.counts()["readings"] == 48


def _field_file(path):
    """Line protocol that the coded path must store as the plain one does: two measurements of
    one sensor sharing a field (one dedupe key, two series), a key repeated with another value,
    times out of order within a key, a string field, a bad line and a sensor seen late."""
    t0 = int(T0.timestamp()) * 10**9
    lines = []
    for minute in range(150):
        stamp = t0 + (minute if minute % 50 else 200 - minute) * 60 * 10**9  # a few go backwards
        lines.append(f"weather,sensor_id=s1,commune=97209 t={20 + minute / 8},h={minute % 7}i {stamp}")
        if minute % 40 == 0:
            lines.append(f"meteo,sensor_id=s1 t={-minute} {stamp}")  # same key as weather t
            lines.append(f'weather,sensor_id=s1 status="ok",ok=true {stamp}')
            lines.append(f"weather,sensor_id=s1 t=oops {stamp}")
        if minute > 120:
            lines.append(f"air,sensor_id=s2 pm10={minute / 3} {stamp}")
    lines.append(lines[0].replace("t=20.0", "t=99.5"))  # the same keys again: the first values stay
    path.write_text("\n".join(lines) + "\n")
    return path


def _tables(wh: Warehouse) -> dict[str, list[tuple]]:
    rollups = ("readings_hourly", "latest", "reading_spans", "series")
    queries = {
        "readings": "SELECT time, sensor_id, measurement, field, value FROM readings",
        "sensor_series": "SELECT sensor_id, measurement, field FROM sensor_series",
        **{name: f"SELECT * EXCLUDE (ingest_id) FROM {name}" for name in ("text_readings", "quarantine")},
        **{name: f"SELECT * FROM {name}" for name in rollups},
    }
    return {name: wh.con.execute(f"{query} ORDER BY ALL").fetchall() for name, query in queries.items()}


@pytest.mark.parametrize("flush_rows", [40, 1_000_000], ids=["flushed-often", "one-buffer"])
def test_coded_readings_are_stored_as_the_strings_say(tmp_path, monkeypatch, flush_rows):
    # The line-protocol reader hands its readings coded (Batch.coded): stored without hashing a
    # string per row, they must land exactly where their strings would have put them.
    from observatory.sources.line_protocol import read_file

    monkeypatch.setattr(store, "FLUSH_ROWS", flush_rows)
    path = _field_file(tmp_path / "field.lp")
    coded = list(read_file(path))
    assert all(b.coded is not None and len(b.coded) == b.readings.height for b in coded)
    plain = [
        Batch(readings=b.readings, text_readings=b.text_readings, rejects=b.rejects, series=b.series)
        for b in coded
    ]
    with Warehouse.open(tmp_path / "plain.duckdb") as wh:
        expected_report = wh.ingest(str(path), "sha", "line-protocol", plain)
        expected = _tables(wh)
    with Warehouse.open(tmp_path / "coded.duckdb") as wh:
        monkeypatch.setattr(store._SeriesIds, "encode", None)  # the per-row string path is not taken
        report = wh.ingest(str(path), "sha", "line-protocol", iter(coded))
        assert _tables(wh) == expected
    assert report == expected_report
    assert (report.readings, report.text_readings, report.rejected) == (333, 4, 4)
    assert report.duplicates == 6  # four meteo t rows, and t and h of the repeated line
    first = T0.replace(tzinfo=None) + dt.timedelta(minutes=200)  # minute 0's stamp
    stored = {row[2:4]: row[4] for row in expected["readings"] if row[0] == first}
    assert stored == {("weather", "t"): 20.0, ("weather", "h"): 0.0, ("weather", "ok"): 1.0}


def test_the_readings_view_keeps_the_canonical_columns(warehouse):
    warehouse.ingest(
        "a", "sha-a", "line-protocol", [Batch(readings=readings("mq-wx-fdf", 3), sensors=sensors())]
    )
    columns = warehouse.sql("SELECT * FROM readings LIMIT 1").columns
    assert columns == ["time", "sensor_id", "measurement", "field", "value", "ingest_id"]
    long = warehouse.sql("SELECT time, sensor_id, measurement, field, value FROM readings ORDER BY time")
    assert long.height == 3 and long["sensor_id"].unique().to_list() == ["mq-wx-fdf"]


def test_rollups_of_missing_values_match_sql_aggregates(warehouse):
    gaps = readings("s1", 30).with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("value")).alias("value")
    )
    empty_hour = readings("s2", 2).with_columns(pl.lit(None, pl.Float64).alias("value"))
    warehouse.ingest("gaps", "sha-g", "flux-csv", iter([Batch(readings=pl.concat([gaps, empty_hour]))]))
    rollup = warehouse.sql(
        "SELECT sensor_id, field, hour, n, total, minimum, maximum FROM readings_hourly ORDER BY ALL"
    )
    raw = warehouse.sql(
        "SELECT sensor_id, field, date_trunc('hour', time)::TIMESTAMP AS hour, count(value) AS n, sum(value) AS total, "
        "min(value) AS minimum, max(value) AS maximum FROM readings GROUP BY ALL ORDER BY ALL"
    )
    assert rollup.rows() == raw.rows()
    assert warehouse.latest().filter(pl.col("sensor_id") == "s2")["value"].to_list() == [None]


def test_a_failing_store_stops_the_reader_and_keeps_nothing(warehouse):
    closed = []

    def batches():
        try:
            yield Batch(readings=readings("a", 5))
            yield Batch(readings=readings("b", 5).drop("value"))  # a reader bug: no value column
            yield Batch(readings=readings("c", 5))
        finally:
            closed.append(True)

    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        warehouse.ingest("bad", "sha-bad", "line-protocol", batches())
    assert closed == [True]
    assert warehouse.counts()["readings"] == 0 and not warehouse.already_ingested("sha-bad")


def test_a_failing_insert_behind_the_next_flush_is_raised_and_keeps_nothing(warehouse, monkeypatch):
    # A flush's insert runs in a thread of its own while the next flush is prepared: its error
    # must reach the caller, and the source leave nothing behind.
    import pyarrow as pa

    warehouse.ingest("ok", "sha-ok", "line-protocol", [Batch(readings=readings("a", 5))])
    before = warehouse.counts()
    monkeypatch.setattr(store, "FLUSH_ROWS", 50)
    monkeypatch.setattr(Warehouse, "parts_dir", None)  # every flush inserted (parts: below)
    insert_behind, handed = store._InsertBehind.insert_behind, []

    def second_without_times(self, table, rows):
        handed.append(rows.num_rows)
        if len(handed) == 2:  # a null time, which the table's NOT NULL refuses in the insert's thread
            rows = rows.set_column(0, "time", pa.nulls(rows.num_rows, rows.schema.field("time").type))
        insert_behind(self, table, rows)

    monkeypatch.setattr(store._InsertBehind, "insert_behind", second_without_times)
    batches = [Batch(readings=readings(sensor, 60)) for sensor in ("b", "c", "d", "e")]
    with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
        warehouse.ingest("bad", "sha-bad", "line-protocol", batches)
    assert len(handed) >= 2
    assert warehouse.counts() == before and not warehouse.already_ingested("sha-bad")
    report = warehouse.ingest("bad", "sha-bad", "line-protocol", batches[:1])  # usable afterwards
    assert report.readings == 60


def test_the_compiled_grouping_is_built_from_this_tree():
    if store._group is None:  # CI must never run the NumPy grouping unnoticed
        assert os.environ.get("CI") != "true", "observatory.warehouse._group missing: pip install -e ."
        pytest.skip("observatory.warehouse._group is not built (pip install -e .)")
    built = Path(store._group.__file__)
    assert built.parent == Path(store.__file__).parent
    assert built.stat().st_mtime >= built.with_name("_group.c").stat().st_mtime, "stale build"


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 5), st.integers(-3, 3), st.floats(allow_nan=True)), max_size=60),
    n_keys=st.integers(6, 9),
)
def test_flush_grouping_compiled_and_numpy_agree(rows, n_keys):
    # Rows of a flush sorted by (key, time), stably: the compiled counting sort when each key's
    # times come in order, NumPy otherwise (and always without the compiled module).
    key = np.array([r[0] for r in rows], np.int32)
    time_ns = np.array([r[1] for r in rows], np.int64)
    series = np.arange(len(rows), dtype=np.int32)  # the row's place in the source
    value = np.array([r[2] for r in rows], np.float64)
    expected = sorted(range(len(rows)), key=lambda i: (rows[i][0], rows[i][1]))
    for compiled in (store._group, None):
        if compiled is None and store._group is None:
            continue
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store, "_group", compiled)
            out = store._grouped(key, time_ns, series, value, None, n_keys)
        assert out[2].tolist() == expected
        assert out[0].tolist() == key[expected].tolist() and out[1].tolist() == time_ns[expected].tolist()
        np.testing.assert_array_equal(out[3], value[expected])  # NaN in place, bits kept


def test_the_compiled_grouping_names_what_it_refuses():
    if store._group is None:
        pytest.skip("observatory.warehouse._group is not built (pip install -e .)")
    one = np.zeros(3, np.int32), np.zeros(3, np.int64), np.zeros(3, np.int32), np.zeros(3)
    out = tuple(np.empty_like(a) for a in one)
    with pytest.raises(ValueError, match=r"key\[1\] = 7 is outside \[0, 4\)"):
        store._group.group(np.array([0, 7, 1], np.int32), *one[1:], 4, *out)
    with pytest.raises(ValueError, match="time_ns must hold 8-byte items"):
        store._group.group(one[0], one[0], *one[2:], 4, *out)
    with pytest.raises(ValueError, match="value holds 2 rows, key 3"):
        store._group.group(*one[:3], np.zeros(2), 4, *out)


def test_a_version_1_warehouse_moves_to_the_narrow_layout_on_open(tmp_path):
    path = tmp_path / "v1.duckdb"
    con = duckdb.connect(str(path))
    for name, ddl in TABLES.items():
        if name not in (
            "readings",
            "readings_data",
            "sensor_series",
            "reading_spans",
            "source_status",
            "readings_hourly_data",
            "readings_hourly",
            "readings_parts",
            "readings_all",
        ):  # 2, 3, 6
            con.execute(ddl)
    con.execute(HOURLY_WIDE_5)
    con.execute(V1_READINGS)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old = readings("mq-wx-fdf", 5).with_columns(pl.col("time").dt.replace_time_zone(None))
    con.register("old", old.to_arrow())
    con.execute("INSERT INTO readings SELECT time, sensor_id, measurement, field, value, 1 FROM old")
    con.execute(
        "INSERT INTO readings_hourly SELECT sensor_id, measurement, field, time, 1, value, value, value FROM old"
    )
    con.execute(
        "INSERT INTO latest SELECT sensor_id, field, max(time), arg_max(value, time) FROM old GROUP BY ALL"
    )
    con.close()
    with Warehouse.open(path, read_only=True) as wh:  # a reader first: the upgrade is done for it
        assert wh.readings(sensor_ids=["mq-wx-fdf"])["value"].to_list() == old["value"].to_list()
    with Warehouse.open(path) as wh:
        assert wh.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"].to_list() == [
            str(SCHEMA_VERSION)
        ]
        assert wh.readings()["value"].to_list() == old["value"].to_list()
        hourly = wh.sql(
            "SELECT sensor_id, measurement, field, hour, n, total FROM readings_hourly ORDER BY hour"
        )
        assert hourly.select("sensor_id", "measurement", "field").unique().rows() == [
            ("mq-wx-fdf", *old.select("measurement", "field").row(0))
        ]
        assert hourly["total"].to_list() == old["value"].to_list()
        assert not wh._is_table("readings_hourly_wide")
        report = wh.ingest("overlap", "sha-o", "line-protocol", [Batch(readings=readings("mq-wx-fdf", 8))])
        assert (report.readings, report.duplicates) == (3, 5)


def test_a_version_2_warehouse_gets_source_status_and_keeps_its_data(tmp_path):
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    for name, ddl in TABLES.items():
        if name != "source_status":  # new in 3
            con.execute(ddl)
    con.execute("INSERT INTO meta VALUES ('schema_version', '2')")
    con.close()
    with Warehouse.open(path) as wh:
        wh.ingest("v2", "sha-v2", "line-protocol", [Batch(readings=readings("mq-wx-fdf", 5))])
    con = duckdb.connect(str(path))  # back to version 2, as a file written before source_status
    con.execute("DROP TABLE source_status")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    with Warehouse.open(path, read_only=True) as wh:  # a dashboard first: upgraded for it, once
        assert wh.sql("SELECT count(*) AS n FROM source_status")["n"].to_list() == [0]
        assert wh.readings()["value"].to_list() == readings("mq-wx-fdf", 5)["value"].to_list()
        assert wh.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"].to_list() == [
            str(SCHEMA_VERSION)
        ]


def test_a_version_4_hourly_rollup_loses_its_key_and_keeps_merging_exactly(tmp_path):
    path = tmp_path / "v4.duckdb"
    with Warehouse.open(path) as wh:
        wh.ingest("a", "sha-a", "line-protocol", [Batch(readings=readings("s1", 30))])
        before = wh.sql("SELECT * FROM readings_hourly ORDER BY ALL")
        # as version 4 made it: a table of its own, the names in every row, a primary key
        wh.con.execute("CREATE TABLE h AS SELECT * FROM readings_hourly")
        wh.con.execute("DROP VIEW readings_hourly")
        wh.con.execute("DROP TABLE readings_hourly_data")
        wh.con.execute(
            HOURLY_WIDE_5.replace("maximum DOUBLE", "maximum DOUBLE, PRIMARY KEY (sensor_id, field, hour)")
        )
        wh.con.execute("INSERT INTO readings_hourly SELECT * FROM h")
        wh.con.execute("DROP TABLE h")
        wh.con.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    with Warehouse.open(path) as wh:
        keys = wh.sql(
            "SELECT * FROM duckdb_constraints() WHERE table_name = 'readings_hourly' AND constraint_type = 'PRIMARY KEY'"
        )
        assert keys.height == 0
        assert wh.sql("SELECT * FROM readings_hourly ORDER BY ALL").equals(before)
        late = readings("s1", 30, start=T0 + dt.timedelta(minutes=30 + 10 * 60))  # hours 10..29 met again
        wh.ingest("b", "sha-b", "line-protocol", [Batch(readings=late)])
        hourly = wh.readings(bucket="1h", agg="count")
        assert hourly["value"].to_list() == [1.0] * 10 + [2.0] * 20 + [1.0] * 10
        version = wh.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"].to_list()
        assert version == [str(SCHEMA_VERSION)]


def test_a_warehouse_from_a_newer_version_keeps_its_number(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        wh.con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    with Warehouse.open(path) as wh:  # an older program does not mark it as its own version
        version = wh.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"].to_list()
        assert version == [str(SCHEMA_VERSION + 1)]


V1_READINGS = """
    CREATE TABLE readings (
        time TIMESTAMP_NS NOT NULL, sensor_id VARCHAR NOT NULL, measurement VARCHAR NOT NULL,
        field VARCHAR NOT NULL, value DOUBLE, ingest_id INTEGER NOT NULL
    )"""


def test_a_field_under_two_measurements_is_one_hourly_series_named_by_its_first(tmp_path):
    # s1's field t comes under "weather" first, then under "meteo": one dedupe key, one hourly row
    # an hour, named after the series met first, by the rollup's view and by readings() alike.
    path = _field_file(tmp_path / "field.lp")
    from observatory.sources.line_protocol import read_file

    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.ingest(str(path), "sha", "line-protocol", read_file(path))
        view = wh.sql(
            "SELECT DISTINCT measurement FROM readings_hourly WHERE sensor_id = 's1' AND field = 't'"
        )
        assert view["measurement"].to_list() == ["weather"]
        hourly = wh.readings(sensor_ids=["s1"], fields=["t"], bucket="1h", agg="count")
        assert hourly["measurement"].unique().to_list() == ["weather"]
        assert hourly["value"].sum() == wh.sql("SELECT count(*) AS n FROM readings WHERE field = 't'")["n"][0]
