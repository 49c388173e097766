"""A large ingest keeps its full flushes as Parquet parts beside the warehouse file: listed in
the ingest's transaction, read through readings_all like the rows of readings_data, moved with
the folder, readable by ``observatory sql`` and nothing else, gone when never listed."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest

from observatory.errors import DataFormatError, ParameterError
from observatory.sources.base import Batch
from observatory.warehouse import store
from observatory.warehouse.store import Warehouse
from tests.warehouse.test_store import T0, readings, sensors

FLUSH = 50  # readings per flush here: a part every 50 buffered


def _fleet(start: dt.datetime = T0, hours: int = 60) -> list[Batch]:
    """Four sensors, two of them known to the sensors table, in one batch each."""
    names = ("mq-wx-lamentin", "mq-wx-fdf", "b", "c")
    return [Batch(readings=readings(name, hours, start=start), sensors=sensors()) for name in names]


def _canonical(wh: Warehouse) -> dict[str, pl.DataFrame]:
    return {
        "readings": wh.sql("SELECT time, sensor_id, measurement, field, value FROM readings ORDER BY ALL"),
        "hourly": wh.sql("SELECT * FROM readings_hourly ORDER BY ALL"),
        "daily max": wh.readings(bucket="1d", agg="max"),
        "one sensor": wh.readings(
            sensor_ids=["b"], start=T0 + dt.timedelta(hours=5), end=T0 + dt.timedelta(hours=9)
        ),
        "commune": wh.readings(insee="97213"),
    }


@pytest.fixture
def flushes(monkeypatch):
    monkeypatch.setattr(store, "FLUSH_ROWS", FLUSH)


def test_full_flushes_become_listed_parts_and_read_as_rows_would(tmp_path, flushes, monkeypatch):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        report = wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
        assert (report.readings, report.duplicates) == (240, 0)
        listed = wh.sql("SELECT file, rows FROM readings_parts ORDER BY file")
        assert listed.height == 4 and listed["rows"].sum() + wh.counts()["readings_data"] == 240
        files = sorted(p.name for p in (tmp_path / "w.duckdb.parts").iterdir())
        assert files == listed["file"].to_list()
        with_parts = _canonical(wh)
    monkeypatch.setattr(Warehouse, "parts_dir", None)
    with Warehouse.open(tmp_path / "rows.duckdb") as wh:
        wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
        assert wh.counts()["readings_data"] == 240
        for name, frame in _canonical(wh).items():
            assert with_parts[name].equals(frame), name


def test_keys_in_parts_are_not_stored_again(tmp_path, flushes):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.ingest("first", "sha-1", "line-protocol", _fleet())
        # overlaps the first by 30 hours: those are in its parts; the same source again is skipped
        overlap = wh.ingest("second", "sha-2", "line-protocol", _fleet(start=T0 + dt.timedelta(hours=30)))
        assert (overlap.readings, overlap.duplicates) == (120, 120)
        assert wh.ingest("second", "sha-2", "line-protocol", _fleet()).skipped
        assert wh.counts()["readings"] == 360
        counted = wh.sql("SELECT count(*) AS n FROM readings GROUP BY sensor_id, field, time HAVING n > 1")
        assert counted.height == 0


def test_a_warehouse_moved_with_its_parts_reads_the_same(tmp_path, flushes):
    with Warehouse.open(tmp_path / "here" / "w.duckdb") as wh:
        wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
        before = _canonical(wh)
    shutil.move(tmp_path / "here", tmp_path / "there")
    with Warehouse.open(tmp_path / "there" / "w.duckdb", read_only=True) as wh:  # a dashboard
        for name, frame in _canonical(wh).items():
            assert before[name].equals(frame), name
    with Warehouse.open(tmp_path / "there" / "w.duckdb") as wh:  # the next ingest
        wh.ingest("more", "sha-m", "line-protocol", _fleet(start=T0 + dt.timedelta(days=10)))
        assert wh.counts()["readings"] == 480
    with Warehouse.open(tmp_path / "there" / "w.duckdb", read_only=True) as wh:
        assert (
            wh.readings(end=T0 + dt.timedelta(days=10))["value"].to_list()
            == before["readings"].sort("sensor_id", "field", "time")["value"].to_list()
        )


def test_sql_reads_the_parts_and_no_other_file(tmp_path, flushes):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
    outside = tmp_path / "elsewhere.parquet"
    pl.DataFrame({"secret": [1]}).write_parquet(outside)
    with Warehouse.open(tmp_path / "w.duckdb", read_only=True) as wh:
        assert wh.query("SELECT count(*) AS n FROM readings")["n"].to_list() == [240]
    through = tmp_path / "w.duckdb.parts" / ".." / "elsewhere.parquet"
    for path in (outside, through):
        with (
            Warehouse.open(tmp_path / "w.duckdb", read_only=True) as wh,
            pytest.raises(ParameterError, match="reads the warehouse's tables only"),
        ):
            wh.query(f"SELECT * FROM read_parquet('{path}')")


def test_parts_no_ingest_listed_are_deleted_by_the_next_ingest(tmp_path, flushes):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
        before = _canonical(wh)
    folder = tmp_path / "w.duckdb.parts"
    listed = sorted(p.name for p in folder.iterdir())
    stray = folder / "9-0123456789ab-0.parquet"  # as a process killed mid-ingest leaves it
    shutil.copy(folder / listed[0], stray)
    with Warehouse.open(path) as wh:
        assert _canonical(wh)["readings"].equals(before["readings"])  # never read
        wh.ingest("small", "sha-s", "line-protocol", [Batch(readings=readings("d", 3))])
    assert sorted(p.name for p in folder.iterdir()) == listed


def test_a_failing_part_write_is_raised_and_leaves_no_file(tmp_path, flushes, monkeypatch):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
        before = wh.counts()
        listed = sorted(p.name for p in (tmp_path / "w.duckdb.parts").iterdir())
        write, calls = store._Parts.write, []

        def second_fails(self, rows):
            calls.append(rows.num_rows)
            write(self, rows)  # written, then the disk fills up
            if len(calls) == 2:
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(store._Parts, "write", second_fails)
        with pytest.raises(OSError, match="No space left"):
            wh.ingest("later", "sha-l", "line-protocol", _fleet(start=T0 + dt.timedelta(days=10)))
        assert wh.counts() == before and not wh.already_ingested("sha-l")
        assert sorted(p.name for p in (tmp_path / "w.duckdb.parts").iterdir()) == listed
        monkeypatch.setattr(store._Parts, "write", write)
        report = wh.ingest("later", "sha-l", "line-protocol", _fleet(start=T0 + dt.timedelta(days=10)))
        assert report.readings == 240  # usable afterwards


@pytest.mark.parametrize("read_only", [True, False], ids=["dashboard", "ingest"])
def test_a_file_copied_without_its_parts_says_what_is_missing(tmp_path, flushes, read_only):
    with Warehouse.open(tmp_path / "here" / "w.duckdb") as wh:
        wh.ingest("fleet", "sha-f", "line-protocol", _fleet())
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / "here" / "w.duckdb", tmp_path / "copy" / "w.duckdb")
    with pytest.raises(DataFormatError, match=r"4 of the warehouse's 4 Parquet parts are missing") as error:
        Warehouse.open(tmp_path / "copy" / "w.duckdb", read_only=read_only)
    assert "w.duckdb.parts belongs with w.duckdb" in str(error.value)
    shutil.copytree(tmp_path / "here" / "w.duckdb.parts", tmp_path / "copy" / "w.duckdb.parts")
    with Warehouse.open(tmp_path / "copy" / "w.duckdb", read_only=read_only) as wh:  # and then it opens
        assert wh.counts()["readings"] == 240
