"""The served KPI dashboard when a refresh fails: a banner names the source that could not be read
and since when the data are not refreshed (Martinique time), while the cards keep the last data."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from observatory.config import Settings
from observatory.errors import ServiceError
from observatory.i18n import t
from observatory.kpi.spec import load_specs
from observatory.sources.influxdb1 import Influx1Client
from observatory.warehouse.refresh import SourceStatus, refresh
from observatory.warehouse.store import Warehouse
from tests.apps.conftest import guarded_page, serve

DATABASE = "test_stale"  # the influxdb fixture is shared by the session: own database
LOAD_MS = 120_000  # the first page of a fresh server
BANNER_MS = 90_000  # the app looks for new data every 15 s, then recomputes on a busy machine
LOCK_WAIT_S = 60.0  # the served app holds the warehouse file while it reads it
CARD = ".kpi-card[data-kpi='elec_use_per_capita'] .value"


@pytest.fixture(scope="module")
def stale_site(tmp_path_factory: pytest.TempPathFactory, site_dir: Path) -> Path:
    """A copy of the served site's data directory, whose warehouse these tests record refreshes in."""
    folder = tmp_path_factory.mktemp("stale") / "data"
    shutil.copytree(site_dir, folder)
    return folder


def refreshed(config: Settings) -> SourceStatus:
    """Refresh from InfluxDB into the site's warehouse, waiting while the served app reads it."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            with Warehouse.open(config=config) as warehouse:
                return refresh(warehouse, config, ["influxdb"])[0]
        except ServiceError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_failed_refresh_shows_a_banner_naming_the_source_and_keeps_the_cards(
    stale_site, influxdb, chromium, tmp_path
):
    config = Settings.from_env(
        {
            **os.environ,
            "OBSERVATORY_DATA_DIR": str(stale_site),
            "OBSERVATORY_INFLUX_URL": influxdb.url,
            "OBSERVATORY_INFLUX_DB": DATABASE,
        }
    )
    with Influx1Client(influxdb.url, DATABASE) as client:
        client.create_database()
    fine = refreshed(config)
    assert fine.ok
    with serve(tmp_path, {"OBSERVATORY_DATA_DIR": str(stale_site)}) as base, guarded_page(chromium) as page:
        page.goto(f"{base}/kpi")
        page.locator(CARD).wait_for(timeout=LOAD_MS)
        expect(page.locator(".freshness")).to_contain_text("Dernière mesure", timeout=LOAD_MS)
        assert page.locator(".stale-banner").count() == 0  # every source fresh: no banner
        shown = page.locator(CARD).inner_text()
        assert shown not in ("", "–")

        influxdb.pause()
        try:
            failed = refreshed(config)
        finally:
            influxdb.resume()
        assert not failed.ok and failed.succeeded_at == fine.succeeded_at

        banner = page.locator(".stale-banner[data-source='influxdb']")
        since = fine.succeeded_at.astimezone(ZoneInfo("America/Martinique"))
        reason = t("stale_unreachable", "fr", source="InfluxDB")
        expect(banner).to_contain_text("Données non actualisées depuis", timeout=BANNER_MS)
        expect(banner).to_contain_text(f"{since:%H:%M} — {reason}")  # "... 00:12 — InfluxDB injoignable"
        assert "cannot be reached" in banner.get_attribute("title")
        # the last data stay on screen: every card, the same value as before the failure
        expect(page.locator(".kpi-card")).to_have_count(len(load_specs()))
        assert page.locator(CARD).inner_text() == shown
        expect(page.locator(".freshness")).to_contain_text("Dernière mesure")
