"""Sensor metadata CSV: the sensors table's columns, bad rows quarantined with their line."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from observatory.errors import DataFormatError
from observatory.sources.base import SENSORS_SCHEMA
from observatory.sources.sensors_csv import HEADER, read_sensors, sniff
from observatory.warehouse.formats import detect
from observatory.warehouse.ingest import ingest_file
from observatory.warehouse.store import Warehouse

GOOD = [
    "feeder-97209-01,energy,feeder,MW,97209,-61.073349,14.65071,2015-03-02,influxdb",
    "air-97213-01,air,air_station,ug/m3,97213,-61.0,14.61,2019-06-30,mqtt",
    "buoy-01,hydrology,wave_buoy,,,,,,",  # offshore: no commune, no place, no date
]


def write(tmp_path, lines: list[str], newline: str = "\n", bom: bool = False):
    path = tmp_path / "sensors.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + newline.join([HEADER, *lines, ""]).encode("utf-8"))
    return path


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True)])
def test_good_rows_become_the_sensors_table(tmp_path, newline, bom) -> None:
    batch = read_sensors(write(tmp_path, GOOD, newline, bom))
    assert batch.rejects.height == 0
    sensors = batch.sensors
    assert sensors.schema == pl.Schema(SENSORS_SCHEMA)
    assert sensors["sensor_id"].to_list() == ["feeder-97209-01", "air-97213-01", "buoy-01"]
    assert sensors.row(0) == (
        "feeder-97209-01",
        "energy",
        "feeder",
        "MW",
        "97209",
        -61.073349,
        14.65071,
        dt.date(2015, 3, 2),
        "influxdb",
    )
    assert sensors.row(2)[3:] == (None, None, None, None, None, None)


def test_bad_rows_are_quarantined_with_their_line_and_the_others_kept(tmp_path) -> None:
    bad = [
        "pv-97213-01,energy,pv_plant,MW,97213,east,14.61,2019-01-01,influxdb",  # line 3
        "pv-97213-02,energy,pv_plant,MW,97213,-61.0,94.0,2019-01-01,influxdb",  # 4
        "pv-97213-03,energy,pv_plant,MW,97213,-61.0,14.6,14/01/2019,influxdb",  # 5
        ",energy,pv_plant,MW,97213,-61.0,14.6,2019-01-01,influxdb",  # 6
        "pv 97213 04,energy,pv_plant,MW,97213,-61.0,14.6,2019-01-01,influxdb",  # 7
        "pv-97213-05,energy,pv_plant,MW,Lamentin,-61.0,14.6,2019-01-01,influxdb",  # 8
        "pv-97213-06,energy,pv_plant,MW,97213,-61.0,14.6",  # 9
        GOOD[0],  # 10: a second feeder-97209-01
    ]
    batch = read_sensors(write(tmp_path, [GOOD[0], *bad, GOOD[1]]))
    assert batch.sensors["sensor_id"].to_list() == ["feeder-97209-01", "air-97213-01"]
    rejects = batch.rejects
    assert rejects["line"].to_list() == [3, 4, 5, 6, 7, 8, 9, 10]
    reasons = rejects["reason"].to_list()
    for line, words in zip(
        range(8),
        ["lon 'east' is not a number", "lat '94.0' is outside", "not an ISO date", "sensor_id is empty",
         "spaces", "not a commune code", "7 cells where the header has 9", "already given on line 2"],
        strict=True,
    ):  # fmt: skip
        assert words in reasons[line]
    assert rejects["text"][0].startswith("pv-97213-01,energy") and set(rejects["source"]) == {
        str(tmp_path / "sensors.csv")
    }


def test_another_header_is_refused_naming_line_one(tmp_path) -> None:
    path = tmp_path / "sensors.csv"
    path.write_text("sensor_id,domain,kind,unit,commune,lon,lat,installed,source_system\n")
    with pytest.raises(DataFormatError, match=r"sensors\.csv:1: the header is") as error:
        read_sensors(path)
    assert "sensor_id,domain,kind,unit,insee,lon,lat,installed,source_system" in str(error.value)


def test_the_format_is_recognised_by_its_header_and_ingested(tmp_path) -> None:
    path = write(tmp_path, GOOD, "\r\n", bom=True)
    assert detect(path).name == "sensors-csv" and sniff(path.read_bytes())
    other = tmp_path / "other.csv"
    other.write_text("sensor_id,domain\nx,y\n")
    assert not sniff(other.read_bytes())
    with Warehouse.open(tmp_path / "w.duckdb") as warehouse:
        report = ingest_file(warehouse, path)
        assert report.format == "sensors-csv" and report.rejected == 0
        stored = warehouse.sql("SELECT sensor_id, insee, installed FROM sensors ORDER BY sensor_id")
        assert stored["sensor_id"].to_list() == ["air-97213-01", "buoy-01", "feeder-97209-01"]
        assert stored["installed"][2] == dt.date(2015, 3, 2)
