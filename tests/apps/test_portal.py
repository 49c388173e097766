"""The open-data portal, served with a release built in the test data directory: find a dataset by a
keyword, open it, download a file whose sha256 is the catalogue's; search, licence, map, languages."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from observatory.config import Settings
from observatory.i18n import t
from observatory.releases.build import Release, build_release, list_releases, read_manifest, releases_dir
from observatory.views import portal
from observatory.warehouse.store import WAREHOUSE_FILE, Warehouse
from tests.releases.data import build_warehouse

_LOAD_MS = 90_000
_PLOT_DATA_JS = """() => { const seen = new Set();
  const walk = v => { if (!v || seen.has(v)) return; seen.add(v); for (const c of (v.child_views ?? [])) walk(c); };
  for (const v of Object.values(window.Bokeh?.index ?? {})) walk(v);
  return [...seen].map(v => v.model).filter(m => m.toolbar !== undefined).flatMap(p => p.renderers)
    .filter(r => r.data_source?.data?.insee).map(r => [...new Set(r.data_source.data.insee)].length); }"""


@pytest.fixture(scope="session")
def served_data_dir(request, data_settings) -> Path:
    """The data directory `observatory serve` runs on here: the simulated site when the apps'
    conftest builds one, else the session's data directory."""
    try:
        return Path(request.getfixturevalue("site_dir"))
    except pytest.FixtureLookupError:
        return data_settings.data_dir


@pytest.fixture(scope="session")
def released(served_data_dir, tmp_path_factory) -> Release:
    """Release 2026.1 of the served data directory's warehouse (the simulated fleet and citizen
    reports, through the real readers), in its releases folder; built once per session."""
    config = Settings.from_env({**os.environ, "OBSERVATORY_DATA_DIR": str(served_data_dir)})
    out = releases_dir(config)
    if "2026.1" not in list_releases(out):
        warehouse = served_data_dir / WAREHOUSE_FILE
        if not warehouse.is_file():
            warehouse = build_warehouse(tmp_path_factory.mktemp("portal-warehouse"))
        build_release("2026.1", out, warehouse=warehouse, config=config)
    return Release("2026.1", out / "2026.1", read_manifest(out / "2026.1"))


def _dataset(release: Release, dataset_id: str) -> dict:
    return next(d for d in release.published if d["id"] == dataset_id)


# --- builders ------------------------------------------------------------------------------------


def test_search_finds_by_keyword_in_any_language_without_accents(released):
    manifest = released.manifest
    assert [d["id"] for d in portal.search(manifest, "séisme")] == ["seismicity_iscgem"]
    assert [d["id"] for d in portal.search(manifest, "SEISME")] == ["seismicity_iscgem"]
    assert [d["id"] for d in portal.search(manifest, "hurricane wind")] == ["cyclone_return_periods"]
    assert [d["id"] for d in portal.search(manifest, "wind_100yr_ms")] == [
        "cyclone_return_periods"
    ]  # a column
    assert portal.search(manifest, "nothing-like-this") == []
    assert {d["id"] for d in portal.search(manifest, "", "SOCI")} == {"communes", "citizen_reports_monthly"}
    assert "citizen_reports_raw" not in {d["id"] for d in portal.search(manifest, "signalement")}


def test_the_dataset_page_shows_licence_attribution_and_every_file_with_its_sha256(released):
    dataset = _dataset(released, "seismicity_iscgem")
    meta = portal.metadata_html(released.manifest, dataset, "en")
    assert "Creative Commons Attribution-ShareAlike 3.0 Unported" in meta and "10.31905/D808B825" in meta
    files = portal.files_html(released.manifest, dataset, "fr")
    for file in dataset["files"]:
        assert file["sha256"] in files and f"./releases/2026.1/{file['path']}" in files
    assert portal.human_size(8453) == "8.5 kB" and portal.human_size(999) == "999 B"


def test_no_personal_value_of_the_served_warehouse_is_published(released, served_data_dir):
    """Names, phones, free text and ODK keys of the citizen reports appear in no released file."""
    warehouse = served_data_dir / WAREHOUSE_FILE
    if not warehouse.is_file():
        pytest.skip("the release was built from the small test warehouse (tests/releases covers it)")
    with Warehouse.open(warehouse, read_only=True) as opened:
        rows = opened.con.execute("SELECT report_id, reporter, text FROM reports").fetchall()
    values = {part.strip() for row in rows for cell in row if cell for part in cell.split(";")}
    values = {v for v in values if len(v) >= 6}
    assert len(values) > 10, "the simulated site should hold citizen reports with personal data"
    contents = [p.read_bytes() for p in released.path.rglob("*") if p.is_file()]
    leaked = sorted(v for v in values if any(v.encode() in content for content in contents))
    assert leaked == []


# --- served --------------------------------------------------------------------------------------


def test_the_release_folder_is_served_as_static_files(released, served):
    file = _dataset(released, "communes")["files"][0]
    with requests.get(f"{served}/releases/2026.1/{file['path']}", timeout=30) as response:
        response.raise_for_status()
        assert hashlib.sha256(response.content).hexdigest() == file["sha256"]
    with requests.get(f"{served}/releases/latest/datapackage.json", timeout=30) as response:
        response.raise_for_status()
        assert response.json()["version"] == "2026.1"


def _open(page, url: str) -> None:
    page.goto(url)
    expect(page.locator(".portal-search input")).to_be_visible(timeout=_LOAD_MS)


def test_find_a_dataset_by_keyword_open_it_and_download_a_file_with_the_catalogue_sha256(
    released, served, page, tmp_path
):
    _open(page, f"{served}/portal")
    expect(page.locator("h2.portal-title")).to_have_text(t("portal_title", "fr"))
    search = page.locator(".portal-search input")
    search.fill("séisme")
    search.press("Enter")
    results = page.locator(".portal-result")
    expect(results).to_have_count(1, timeout=30_000)
    expect(results.first).to_have_attribute("data-dataset", "seismicity_iscgem")
    results.first.locator("a.dataset-link").click()
    dataset = _dataset(released, "seismicity_iscgem")
    expect(page.locator(".dataset-title")).to_have_text(dataset["title"]["fr"], timeout=_LOAD_MS)
    expect(page.locator(".dataset-metadata a.licence")).to_contain_text("Creative Commons")
    row = page.locator(".dataset-file[data-format='csv']")
    shown = row.locator("code.sha256").inner_text().strip()
    with page.expect_download(timeout=60_000) as download:
        row.locator("a.download").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    digest = hashlib.sha256(saved.read_bytes()).hexdigest()
    (csv,) = [f for f in dataset["files"] if f["format"] == "csv"]
    package = json.loads((released.path / "datapackage.json").read_text())
    declared = next(r["hash"] for r in package["resources"] if r["path"] == csv["path"])
    assert saved.name == "seismicity_iscgem.csv"
    assert digest == shown == csv["sha256"] and declared == f"sha256:{digest}"
    assert "search" not in page.url or "q=" in page.url  # the search is kept in the address


def test_a_theme_and_a_language_from_the_url(released, served, page):
    _open(page, f"{served}/portal?theme=SOCI&lang=en")
    expect(page.locator("h2.portal-title")).to_have_text(t("portal_title", "en"))
    expect(page.locator(".portal-result")).to_have_count(2, timeout=30_000)
    ids = page.locator(".portal-result").evaluate_all("items => items.map(i => i.dataset.dataset).sort()")
    assert ids == ["citizen_reports_monthly", "communes"]
    page.locator(".portal-result a.dataset-link").filter(has_text="Citizen reports").click()
    expect(page.locator(".dataset-title")).to_have_text(
        _dataset(released, "citizen_reports_monthly")["title"]["en"], timeout=_LOAD_MS
    )
    expect(page.locator(".dataset-metadata")).to_contain_text(t("privacy_aggregated_only", "en"))
    suppressed = _dataset(released, "citizen_reports_monthly")["privacy"]["suppressed"]
    if suppressed:
        expect(page.locator(".dataset-metadata")).to_contain_text(
            t("portal_suppressed", "en", cells=suppressed, threshold=11)
        )


def test_the_map_of_a_spatial_dataset_draws_the_34_communes(released, served, page):
    _open(page, f"{served}/portal?dataset=cyclone_return_periods&lang=de")
    expect(page.locator(".dataset-title")).to_have_text(
        _dataset(released, "cyclone_return_periods")["title"]["de"], timeout=_LOAD_MS
    )
    page.locator(".bk-tab").filter(has_text=t("portal_map", "de")).click()
    page.wait_for_function(f"() => ({_PLOT_DATA_JS})().includes(34)", timeout=_LOAD_MS)
    expect(page.locator(".portal-map-value select")).to_have_value("wind_100yr_ms")
