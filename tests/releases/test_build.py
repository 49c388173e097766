"""Release folders: the files of every dataset with their checksums, immutability, all-or-nothing
publication, byte-identical rebuilds, the changelog against the previous release, and the command."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import polars as pl
import pytest

from observatory.errors import ParameterError, PrivacyError
from observatory.releases import build as build_module
from observatory.releases.build import LATEST, build_release, list_releases, read_manifest
from observatory.releases.catalog import load_catalog
from tests.releases.conftest import ISSUED, edit
from tests.releases.data import build_warehouse, citizen_reports, sensor_entities


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, by relative path."""
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_published_dataset_has_its_files_with_their_sha256(release):
    folder = release.path
    assert sorted(d["id"] for d in release.published) == [
        "citizen_reports_monthly",
        "communes",
        "cyclone_return_periods",
        "seismicity_iscgem",
        "sensor_readings_hourly",
        "sensors",
    ]
    for dataset in release.published:
        formats = [f["format"] for f in dataset["files"]]
        assert formats == (["csv", "geoparquet", "geojson"] if dataset["geometry"] else ["csv", "parquet"])
        for file in dataset["files"]:
            path = folder / file["path"]
            assert path.stat().st_size == file["bytes"] and sha256(path) == file["sha256"]
    package = json.loads((folder / "datapackage.json").read_text())
    hashes = {r["path"]: r["hash"] for r in package["resources"]}
    assert hashes == {f["path"]: f"sha256:{f['sha256']}" for d in release.published for f in d["files"]}
    for name in ("catalog.ttl", "catalog.jsonld", "CHANGELOG.md", "changes.json", "release.json"):
        assert (folder / name).is_file()
    assert os.readlink(folder.parent / LATEST) == "2026.1"


def test_the_spatial_files_read_back_as_the_34_communes(release):
    folder = release.path / "communes"
    parquet = gpd.read_parquet(folder / "communes.parquet")
    geojson = gpd.read_file(folder / "communes.geojson").set_crs("OGC:CRS84", allow_override=True)  # RFC 7946
    assert (
        parquet.crs.to_string() == "OGC:CRS84" and len(parquet) == len(geojson) == 34
    )  # GeoParquet default: lon/lat WGS84
    assert parquet["insee"].tolist() == [str(c) for c in range(97201, 97235)] == geojson["insee"].tolist()
    assert parquet.geometry.geom_equals_exact(geojson.geometry, tolerance=1e-9).all()
    assert int(parquet["population"].sum()) == int(pl.read_csv(folder / "communes.csv")["population"].sum())
    csv = pl.read_csv(folder / "communes.csv")
    assert csv["geometry"][0].startswith(("POLYGON", "MULTIPOLYGON"))
    points = gpd.read_parquet(release.path / "sensors" / "sensors.parquet")
    assert points.geom_type.unique().tolist() == ["Point"] and len(points) == 2


def test_no_personal_value_reaches_any_published_file(release):
    reporters = [row[11] for row in citizen_reports() if row[11]]  # SubmitterName
    phones = [row[8] for row in citizen_reports() if row[8]]
    texts = [row[3] for row in citizen_reports() if row[3]]
    for path in release.path.rglob("*"):
        if not path.is_file():
            continue
        content = path.read_bytes()
        for value in reporters + phones + texts:
            assert value.encode() not in content, f"{value!r} in {path.name}"
    monthly = pl.read_csv(
        release.path / "citizen_reports_monthly" / "citizen_reports_monthly.csv",
        schema_overrides={"insee": pl.String},
    )
    assert monthly.columns == ["insee", "category", "month", "reports", "contributors"]
    assert monthly.rows() == [
        ("97209", "voirie", "2026-11", 15, 13)
    ]  # Le Lamentin's 3 contributors: suppressed
    entry = next(d for d in release.published if d["id"] == "citizen_reports_monthly")
    assert entry["privacy"] == {"class": "aggregated-only", "min_contributors": 11, "suppressed": 1}


def test_the_restricted_dataset_is_left_out_with_its_reason_and_refused_when_asked(
    release, small_warehouse, tmp_path
):
    (raw,) = [d for d in release.manifest["datasets"] if d["status"] != "published"]
    assert raw["id"] == "citizen_reports_raw" and raw["reason"].startswith("restricted: personal data")
    assert not (release.path / "citizen_reports_raw").exists()
    assert "citizen_reports_raw" in (release.path / "CHANGELOG.md").read_text()
    with pytest.raises(PrivacyError, match="citizen_reports_raw is restricted"):
        build_release(
            "x", tmp_path, warehouse=small_warehouse, issued=ISSUED, datasets=["citizen_reports_raw"]
        )
    assert list(tmp_path.iterdir()) == []


def test_an_existing_version_is_never_rebuilt(release, small_warehouse):
    before = tree(release.path)
    with pytest.raises(ParameterError) as caught:
        build_release("2026.1", release.path.parent, warehouse=small_warehouse, issued=ISSUED)
    assert caught.value.parameter == "--version" and "immutable" in str(caught.value)
    assert tree(release.path) == before


@pytest.mark.parametrize("version", ["", "latest", "../up", "a/b", ".hidden", "v 1"])
def test_a_malformed_version_is_refused(tmp_path, version):
    with pytest.raises(ParameterError) as caught:
        build_release(version, tmp_path)
    assert caught.value.parameter == "--version"


def test_two_builds_of_a_version_from_the_same_warehouse_are_byte_identical(
    release, small_warehouse, tmp_path
):
    again = build_release("2026.1", tmp_path, warehouse=small_warehouse, issued=ISSUED)
    assert tree(again.path) == tree(release.path)
    assert len(tree(again.path)) == 22


def test_the_release_date_comes_from_the_data_not_the_clock(small_warehouse, tmp_path):
    dated = build_release("d", tmp_path, warehouse=small_warehouse, datasets=["sensors"])
    assert dated.manifest["issued"] == "2026-11-28"  # the newest report (readings end on the 20th)
    empty = build_warehouse(tmp_path / "empty", reports=[], sensors=[])
    with pytest.raises(ParameterError) as caught:
        build_release("e", tmp_path, warehouse=empty, datasets=["sensors"])
    assert caught.value.parameter == "--issued"


def test_a_dataset_with_no_row_is_published_with_its_schema(tmp_path):
    empty = build_warehouse(tmp_path / "empty", reports=[], sensors=[])
    release = build_release(
        "0", tmp_path / "out", warehouse=empty, issued=ISSUED, datasets=["sensors", "citizen_reports_monthly"]
    )
    csv = (release.path / "sensors" / "sensors.csv").read_text()
    assert csv == "sensor_id,domain,kind,unit,insee,lon,lat,installed,source_system\n"
    assert json.loads((release.path / "sensors" / "sensors.geojson").read_text())["features"] == []
    assert (
        pl.read_parquet(release.path / "citizen_reports_monthly" / "citizen_reports_monthly.parquet").height
        == 0
    )
    assert [d["rows"] for d in release.published] == [0, 0]


def test_a_failure_while_writing_leaves_no_partial_release(release, small_warehouse, monkeypatch):
    out = release.path.parent
    before = sorted(p.name for p in out.iterdir())

    def explode(manifest):
        raise RuntimeError("disk full")

    monkeypatch.setattr("observatory.releases.frictionless.datapackage", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        build_release(
            "2026.9", out, warehouse=small_warehouse, issued=ISSUED, datasets=["communes", "sensors"]
        )
    assert sorted(p.name for p in out.iterdir()) == before
    assert os.readlink(out / LATEST) == "2026.1"


def test_a_refused_dataset_leaves_no_partial_release(catalog_copy, small_warehouse, tmp_path):
    edit(
        catalog_copy / "citizen_reports_monthly.yaml",
        "count(*) AS reports,",
        "count(*) AS reports, max(reporter) AS reporter_label,",
    )
    edit(
        catalog_copy / "citizen_reports_monthly.yaml",
        "  - name: contributors",
        '  - name: reporter_label\n    type: string\n    description: {fr: "x", en: "x"}\n  - name: contributors',
    )
    out = tmp_path / "releases"
    with pytest.raises(PrivacyError) as caught:
        build_release("1", out, warehouse=small_warehouse, issued=ISSUED, catalog=load_catalog(catalog_copy))
    assert "reporter_label" in str(caught.value) and "reports.reporter" in str(caught.value)
    assert not out.exists() or list(out.iterdir()) == []


def test_a_crash_inside_a_writer_cleans_up_the_staging_folder(small_warehouse, tmp_path, monkeypatch):
    real = build_module._write_geojson
    calls = []

    def flaky(frame, spec, path):
        calls.append(spec.id)
        if len(calls) == 2:
            raise OSError("no space left on device")
        real(frame, spec, path)

    monkeypatch.setattr(build_module, "_write_geojson", flaky)
    with pytest.raises(OSError, match="no space left"):
        build_release(
            "1", tmp_path, warehouse=small_warehouse, issued=ISSUED, datasets=["communes", "sensors"]
        )
    assert list(tmp_path.iterdir()) == [] and len(calls) == 2


def test_the_changelog_counts_rows_added_removed_and_changed_since_the_previous_release(tmp_path):
    first = build_warehouse(tmp_path / "w1", sensors=sensor_entities(hours=3))
    out = tmp_path / "releases"
    build_release(
        "1",
        out,
        warehouse=first,
        issued=ISSUED,
        datasets=["sensor_readings_hourly", "citizen_reports_monthly"],
    )
    # a day later: hour 2 gets a second reading (changed), hours 3-4 are new (added);
    # Le Lamentin gets 9 more reporters and passes the threshold (added)
    second = build_warehouse(
        tmp_path / "w2", sensors=sensor_entities(hours=5), reports=citizen_reports(lamentin_reporters=12)
    )
    from observatory.warehouse.ingest import ingest_paths
    from observatory.warehouse.store import Warehouse

    extra = tmp_path / "late.json"
    late = [e for e in sensor_entities(hours=3) if e["pm10"]["observedAt"].endswith("T02:00:00Z")]
    for entity in late:
        entity["pm10"]["observedAt"] = entity["pm10"]["observedAt"].replace(":00:00Z", ":30:00Z")
    extra.write_text(json.dumps(late))
    with Warehouse.open(second) as warehouse:
        list(ingest_paths(warehouse, [extra]))
    release = build_release(
        "2", out, warehouse=second, issued="2026-12-01", datasets=["sensor_readings_hourly", "sensors"]
    )
    changes = json.loads((release.path / "changes.json").read_text())
    assert changes["previous"] == "1"
    hourly = changes["datasets"]["sensor_readings_hourly"]
    assert (hourly["rows"], hourly["added"], hourly["removed"], hourly["changed"]) == (10, 4, 0, 2)
    assert changes["datasets"]["sensors"]["status"] == "new"
    assert changes["removed"] == ["citizen_reports_monthly"]
    text = (release.path / "CHANGELOG.md").read_text()
    assert (
        "Compared with release 1." in text
        and "| `sensor_readings_hourly` | 10 | 4 | 0 | 2 | changed |" in text
    )
    assert os.readlink(out / LATEST) == "2" and list_releases(out) == ["1", "2"]
    third = build_release(
        "3", out, warehouse=second, issued="2026-12-02", datasets=["citizen_reports_monthly"]
    )
    monthly = read_manifest(third.path)["datasets"][0]["changes"]
    assert monthly == {
        "status": "new",
        "rows": 2,
        "added": 2,
        "removed": 0,
        "changed": 0,
    }  # release 2 had none


def test_versions_sort_as_numbers(tmp_path, small_warehouse):
    for version in ("2026.9", "2026.10"):
        build_release(version, tmp_path, warehouse=small_warehouse, issued=ISSUED, datasets=["sensors"])
    assert list_releases(tmp_path) == ["2026.9", "2026.10"] and os.readlink(tmp_path / LATEST) == "2026.10"
    older = build_release("2026.2", tmp_path, warehouse=small_warehouse, issued=ISSUED, datasets=["sensors"])
    assert older.manifest["previous"] is None and os.readlink(tmp_path / LATEST) == "2026.10"


def test_the_release_command(small_warehouse, tmp_path):
    env = dict(os.environ)

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [
            sys.executable,
            "-m",
            "observatory.cli",
            "release",
            *args,
            "--warehouse",
            str(small_warehouse),
        ]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)

    first = run(
        "--version", "7", "--out", str(tmp_path), "--issued", ISSUED, "--dataset", "sensors", "--quiet"
    )
    assert first.returncode == 0, first.stderr
    assert str(tmp_path / "7") in first.stdout and "sensors" in first.stdout
    again = run("--version", "7", "--out", str(tmp_path), "--quiet")
    assert again.returncode == 2 and "parameter '--version'" in again.stderr and "immutable" in again.stderr
    raw = run(
        "--version",
        "8",
        "--out",
        str(tmp_path),
        "--issued",
        ISSUED,
        "--dataset",
        "citizen_reports_raw",
        "--quiet",
    )
    assert raw.returncode == 2 and "citizen_reports_raw is restricted" in raw.stderr
    assert list_releases(tmp_path) == ["7"]


def test_the_server_serves_the_releases_folder(tmp_path):
    from observatory.cli import serve_command, static_routes

    routes = static_routes()
    assert routes["releases"].is_dir() and routes["releases"].name == "releases"
    (tmp_path / "a.py").write_text("")
    command = serve_command(tmp_path, 5077, "127.0.0.1")
    assert f"releases={routes['releases']}" in command
