"""The served risk dashboard: return-period winds, a storm replay, the ranking's CSV and the offline
KeplerGL zoning map, in four languages, with no request leaving the machine (``page`` fixture)."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import expect

from observatory.i18n import t

_FIRST_LOAD_MS = 180_000  # the first session computes the whole cyclone hazard (once per process)
_KEPLER_MS = 180_000  # a 12 MB bundle compiled and a WebGL map drawn in software

# Walk the views on screen (Bokeh keeps replaced models in all_models, so ask the views).
_VIEWS = """(() => { const seen = new Set();
  const walk = v => { if (!v || seen.has(v)) return; seen.add(v); for (const c of (v.child_views ?? [])) walk(c); };
  for (const v of Object.values(window.Bokeh?.index ?? {})) walk(v);
  return [...seen].map(v => v.model); })()"""
_COMMUNES_JS = f"""() => {_VIEWS}.filter(m => m.toolbar !== undefined).flatMap(p => p.renderers)
  .filter(r => r.data_source?.data?.insee).map(r => [...new Set(r.data_source.data.insee)].sort())"""
_TABLE_JS = f"""() => {_VIEWS}.filter(m => m.type.endsWith('DataTabulator')).map(m => m.source.data)"""


def _tables(page) -> list[dict]:
    return page.evaluate(_TABLE_JS)


def _tab(page, title: str):
    return page.locator(".bk-tab").filter(has_text=title)


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(
        f"() => ({_COMMUNES_JS})().length > 0 && ({_TABLE_JS})().length > 0", timeout=_FIRST_LOAD_MS
    )


def test_the_100_year_wind_of_the_34_communes_in_french(page, served):
    _open(page, f"{served}/risk")
    (codes,) = page.evaluate(_COMMUNES_JS)
    assert codes == [str(code) for code in range(97201, 97235)]
    expect(page.locator("h1")).to_have_text(t("app_title", "fr"))
    expect(page.locator("h2.risk-title")).to_have_text(t("risk_title", "fr"))
    (table,) = _tables(page)
    winds = table["wind_100yr_ms"]
    assert len(winds) == 34 and winds == sorted(winds, reverse=True)


def test_replaying_dean_2007_shows_hurricane_force_winds(page, served):
    _open(page, f"{served}/risk")
    page.locator(".storm-selector select").select_option(label="Dean 2007")
    page.wait_for_function(
        f"() => ({_TABLE_JS})().some(d => d.wind_ms && d.wind_ms.length === 34)", timeout=60_000
    )
    (table,) = [d for d in _tables(page) if "wind_ms" in d]
    assert max(table["wind_ms"]) >= 33.0  # hurricane force (64 kt) in the most exposed commune
    expect(page).to_have_url(re.compile(r"[?&]storm=AL042007\b"))
    expect(page.locator(".risk-summary")).to_contain_text(table["name"][0])


def test_the_kepler_tab_draws_the_zoning_offline(page, served):
    loaded: list[str] = []
    page.on("console", lambda message: loaded.append(message.text))
    _open(page, f"{served}/risk")
    _tab(page, t("tab_kepler", "fr")).click()
    frame = page.frame_locator("iframe.kepler-frame")
    canvas = frame.locator("canvas#default-deckgl-overlay")
    expect(canvas).to_be_visible(timeout=_KEPLER_MS)
    canvas.evaluate(
        "c => new Promise(r => { const ok = () => c.width > 0 && c.height > 0 ? r() : requestAnimationFrame(ok); ok(); })"
    )
    box = canvas.bounding_box()
    assert box["width"] > 300 and box["height"] > 300
    # kepler's widget logs each dataset it turned into a table: communes, cells, track segments
    processed = [m for m in loaded if "processDataset result" in m]
    assert any("rows: 34}" in m for m in processed) and len(processed) == 3
    # only kepler's default basemap style was asked for, and answered inside the page
    blocked = frame.locator("body").evaluate("() => window.keplerBlocked")
    assert all(url.endswith("/style.json") for url in blocked)


def test_switching_to_english_changes_the_labels(page, served):
    _open(page, f"{served}/risk")
    page.locator(".language-selector select").select_option(label="English")
    expect(page.locator("h1")).to_have_text(t("app_title", "en"))
    expect(page.locator("h2.risk-title")).to_have_text(t("risk_title", "en"))
    expect(_tab(page, t("tab_map", "en"))).to_be_visible()
    expect(page.locator(".storm-selector label")).to_have_text(t("storm_replay", "en"))
    assert "lang=en" in page.url


def test_the_table_downloads_as_a_csv_of_34_communes(page, served):
    _open(page, f"{served}/risk?period=25")
    (table,) = _tables(page)
    assert "wind_25yr_ms" in table
    with page.expect_download(timeout=60_000) as download:
        page.locator(".csv-download button").click()
    assert download.value.suggested_filename == "martinique_cyclone_wind_25yr_communes.csv"
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["rank", "insee", "name", "wind_25yr_ms"]
    assert len(rows) == 1 + 34
    assert sorted(r[1] for r in rows[1:]) == [str(code) for code in range(97201, 97235)]


def test_the_multirisk_index_tab_shows_and_downloads_the_34_communes(page, served):
    _open(page, f"{served}/risk")
    _tab(page, t("tab_index", "fr")).click()
    page.wait_for_function(
        f"() => ({_TABLE_JS})().some(d => d.index_value && d.index_value.length === 34)",
        timeout=_FIRST_LOAD_MS,
    )
    (table,) = [d for d in _tables(page) if "index_value" in d]
    values = table["index_value"]
    assert len(values) == 34 and values == sorted(values, reverse=True) and values[0] > 0
    expect(page.locator(".index-weights-used")).to_contain_text("0.25")
    with page.expect_download(timeout=60_000) as download:
        page.locator(".index-download button").click()
    assert download.value.suggested_filename == "martinique_multirisk_index_communes.csv"
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert len(rows) == 1 + 34
    assert {"index", "cyclone", "seismic", "volcanic", "coastal"} <= set(rows[0])
    assert sorted(r[rows[0].index("insee")] for r in rows[1:]) == [str(c) for c in range(97201, 97235)]


def test_the_index_weights_come_from_the_url(page, served):
    _open(page, f"{served}/risk?tab=2&w_cyclone=0&w_seismic=0&w_volcanic=1&w_coastal=0")
    page.wait_for_function(f"() => ({_TABLE_JS})().some(d => d.index_value)", timeout=_FIRST_LOAD_MS)
    (table,) = [d for d in _tables(page) if "index_value" in d]
    assert table["hazard"] == table["volcanic_norm"]  # volcanic alone
    expect(page.locator(".index-weights-used")).to_contain_text("1.00")


def test_the_volcanic_hazard_from_the_url_shows_and_downloads_the_34_communes(page, served):
    _open(page, f"{served}/risk?hazard=volcanic")
    page.wait_for_function(f"() => ({_TABLE_JS})().some(d => d.pop_red_orange_pct)", timeout=60_000)
    (table,) = [d for d in _tables(page) if "pop_red_orange_pct" in d]
    assert len(table["pop_red_orange_pct"]) == 34
    expect(page.locator(".period-selector .bk-btn").first).to_be_disabled()
    with page.expect_download(timeout=60_000) as download:
        page.locator(".csv-download button").click()
    assert download.value.suggested_filename == "martinique_volcanic_population_red_orange_zone_communes.csv"
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert rows[0] == ["rank", "insee", "name", "pop_red_orange_pct"] and len(rows) == 1 + 34
