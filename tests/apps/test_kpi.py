"""The served KPI dashboard on simulated days of the fleet: cards, a commune picked on the map, a
time range, the state in the URL and restored from it, the CSV equal to `observatory kpi`, and
the language switch; no request leaves the machine (``page`` fixture)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from observatory.i18n import t
from observatory.kpi.spec import load_specs

_LOAD_MS = 120_000  # the first session of the server may still wait for the cyclone hazard


def _query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _open(page, url: str) -> None:
    page.goto(url)
    page.locator(".kpi-card").first.wait_for(timeout=_LOAD_MS)
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('from') !== null", timeout=_LOAD_MS
    )


def test_the_cards_show_every_kpi_of_the_island_in_french(page, served):
    _open(page, f"{served}/kpi")
    expect(page.locator("h2.kpi-title")).to_have_text(t("kpi_title", "fr"))
    expect(page.locator(".kpi-card")).to_have_count(len(load_specs()))
    expect(page.locator(".freshness")).to_contain_text("Dernière mesure")
    energy = page.locator(".kpi-card[data-kpi='elec_use_per_capita'] .value")
    assert energy.inner_text() not in ("", "–")  # the fleet's feeders give a value
    query = _query(page)
    assert query["from"] < query["to"] and query.get("commune", "972") == "972"


def test_a_commune_picked_on_the_map_goes_to_the_url_and_comes_back_from_it(page, served):
    _open(page, f"{served}/kpi")
    canvas = page.locator(".kpi-map canvas").first
    canvas.wait_for(timeout=_LOAD_MS)
    canvas.scroll_into_view_if_needed()  # the mouse clicks where the map is on screen
    box = canvas.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)  # inland, mid-island
    page.wait_for_function(
        "() => /^972[0-3][0-9]$/.test(new URLSearchParams(location.search).get('commune') ?? '')",
        timeout=30_000,
    )
    picked = _query(page)["commune"]
    url = page.url
    page.goto("about:blank")
    _open(page, url)
    expect(page.locator(".place-selector select")).to_have_value(
        re.compile(rf"\({picked}\)$")
    )  # "Name (INSEE)"
    assert _query(page)["commune"] == picked


def test_a_range_preset_changes_the_url_and_the_link_restores_it(page, served):
    _open(page, f"{served}/kpi")
    before = _query(page)
    page.locator(".range-presets button").filter(has_text=t("kpi_preset_7d", "fr")).click()
    page.wait_for_function(
        f"() => new URLSearchParams(location.search).get('from') !== '{before['from']}'", timeout=30_000
    )
    after = _query(page)
    assert after["range"] == "7d" and after["to"] == before["to"] and after["from"] > before["from"]
    page.goto("about:blank")
    _open(page, f"{served}/kpi?commune=97209&from={after['from']}&to={after['to']}&range=custom")
    restored = _query(page)
    assert (restored["from"], restored["to"], restored["commune"]) == (after["from"], after["to"], "97209")


def test_the_csv_download_equals_the_command_line(page, served, site_dir):
    _open(page, f"{served}/kpi?commune=97213&kpi=elec_use_per_capita")
    query = _query(page)
    with page.expect_download(timeout=60_000) as download:
        page.locator(".csv-download button").click()
    shown = download.value.path().read_text(encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "observatory.cli",
        "kpi",
        "--commune",
        "97213",
        "--from",
        query["from"],
        "--to",
        query["to"],
        "--grain",
        "day",
        "--format",
        "csv",
    ]
    env = {**os.environ, "OBSERVATORY_DATA_DIR": str(site_dir)}
    printed = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    assert shown == printed
    rows = list(csv.DictReader(io.StringIO(shown)))
    assert set(rows[0]) == {"kpi_id", "place", "period_start", "value", "unit", "status"}
    assert {r["place"] for r in rows} == {"97213"}
    assert {r["kpi_id"] for r in rows} >= {"elec_use_per_capita", "water_use_per_capita", "non_revenue_water"}


def test_switching_to_english(page, served):
    _open(page, f"{served}/kpi")
    page.locator(".language-selector select").select_option(label="English")
    expect(page.locator("h2.kpi-title")).to_have_text(t("kpi_title", "en"))
    expect(page.locator(".kpi-card[data-kpi='elec_use_per_capita'] .kpi-title")).to_have_text(
        load_specs()["elec_use_per_capita"].title["en"], timeout=_LOAD_MS
    )
    assert _query(page)["lang"] == "en"


def test_an_indicator_picked_redraws_the_map_and_the_table(page, served):
    _open(page, f"{served}/kpi?commune=97209")
    water = load_specs()["water_use_per_capita"]
    page.locator(".kpi-selector select").select_option(label=water.title["fr"])
    expect(page.locator(".kpi-view")).to_have_attribute("data-kpi", water.id)
    caption = page.locator(".kpi-map-caption [data-kpi]")
    expect(caption).to_have_attribute("data-kpi", water.id, timeout=30_000)
    query = _query(page)
    last = dt.date.fromisoformat(query["to"]) - dt.timedelta(days=1)
    period = t("kpi_period", "fr", first=query["from"], last=last.isoformat())
    expect(caption).to_have_text(f"{water.title['fr']} ({water.unit}) · {period}")
    heading = page.locator(".kpi-description h3")
    expect(heading).to_have_text(water.title["fr"])
    expect(heading).to_have_attribute("data-place", "97209")
    cells = page.locator(".kpi-table td[data-field='kpi_id']")
    expect(cells.first).to_have_text(water.id)
    assert set(cells.all_inner_texts()) == {water.id}  # the table follows the indicator too


def test_a_sensor_picked_draws_its_raw_readings(page, served):
    _open(page, f"{served}/kpi?commune=97209&kpi=pm10_mean")
    rows = page.locator(".sensor-table tbody tr")
    expect(rows.first).to_be_visible(timeout=30_000)
    assert page.locator(".raw-plot").count() == 0  # nothing read before a sensor is picked
    options = page.locator(".sensor-selector select option").all_inner_texts()
    sensor = next(o for o in options if o.startswith("air-97209"))
    page.locator(".sensor-selector select").select_option(label=sensor)
    expect(page.locator(".raw-plot canvas").first).to_be_visible(timeout=60_000)
