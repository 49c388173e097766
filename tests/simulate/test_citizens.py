"""Citizen reports as ODK Central exports them: read by the ODK reader with the documented options."""

from __future__ import annotations

import csv

import pytest
import shapely

from observatory.simulate.citizens import (
    CATEGORIES,
    FILE_NAME,
    HEADER,
    INGEST_COMMAND_OPTIONS,
    INGEST_OPTIONS,
)
from observatory.simulate.fleet import build_fleet
from observatory.sources.odk import parse_geopoint, read_export
from observatory.territory.communes import communes
from observatory.warehouse.formats import parse_options


@pytest.fixture(scope="module")
def export(episodes):
    return episodes.folder / "field" / "odk" / FILE_NAME


def test_the_documented_options_are_the_command_line_ones() -> None:
    assert parse_options(INGEST_COMMAND_OPTIONS.replace("--option ", "").split()) == INGEST_OPTIONS


def test_the_export_has_central_layout_and_reads_without_rejects(export) -> None:
    raw = export.read_bytes()
    assert raw.startswith(",".join(HEADER).encode() + b"\n") and b"\r\n" not in raw
    result = read_export(export, **INGEST_OPTIONS)
    assert result.rejects.height == 0
    reports = result.reports
    days = 3
    # A few a day per 10,000 inhabitants (360,749 in 2021), plus the scenarios' reports.
    assert 1.0 * 36 * days < reports.height < 4.0 * 36 * days + 200
    assert set(reports["category"]) <= set(CATEGORIES) and reports["insee"].null_count() == 0
    assert set(reports["status"]) <= {"received", "approved", "hasIssues", "rejected"}
    times = reports["time"].to_list()
    assert times == sorted(times)
    assert reports["report_id"].is_unique().all() and reports["report_id"].str.starts_with("uuid:").all()


def test_each_point_lies_in_its_commune_and_the_rows_carry_personal_data(export, data_settings) -> None:
    polygons = communes(data_settings)
    with open(export, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    names = phones = 0
    for row in rows:
        lon, lat = parse_geopoint(row["signalement-localisation"])
        holder = polygons[polygons.geometry.contains(shapely.Point(lon, lat))]
        assert holder.shape[0] == 1, row["KEY"]
        names += bool(row["contact-nom"])
        phones += bool(row["contact-telephone"])
        assert row["meta-instanceID"] == row["KEY"]
        assert (row["suivi-statut"] == "resolu") == bool(row["suivi-date_resolution"])
    assert names > 0.7 * len(rows) and phones > 0.5 * len(rows)


def test_sargassum_reports_come_from_the_atlantic_coast_during_the_stranding(episodes, export) -> None:
    reports = read_export(export, **INGEST_OPTIONS).reports
    coast = {s.insee for s in build_fleet().of_kind("h2s_sensor")}
    sargassum = reports.filter(reports["category"] == "sargassum")
    assert sargassum.height >= 3 and set(sargassum["insee"]) <= coast
