"""The site's home page: what is where (the apps a visitor may open), how fresh the data is per
domain, and the latest open-data release."""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence

import polars as pl

from observatory.config import Settings, settings
from observatory.errors import ObservatoryError
from observatory.i18n import t
from observatory.site.apps import SiteApp
from observatory.warehouse.store import WAREHOUSE_FILE, Warehouse

LOCAL_OFFSET = dt.timedelta(hours=-4)  # America/Martinique, UTC-4 all year
STALE_AFTER = dt.timedelta(hours=2)  # a domain whose last reading is older is flagged on the page

_FRESHNESS_SQL = """
    SELECT coalesce(s.domain, 'other') AS domain, count(DISTINCT s.sensor_id) AS sensors,
           count(DISTINCT l.sensor_id) AS reporting, max(l.time) AS last_time
    FROM sensors s LEFT JOIN latest l USING (sensor_id)
    GROUP BY ALL ORDER BY domain"""


def freshness(config: Settings | None = None) -> pl.DataFrame:
    """Per sensor domain: sensors known, sensors that ever reported, time of the last reading (UTC,
    naive).
    Empty when there is no warehouse yet."""
    config = config or settings()
    path = config.data_dir / WAREHOUSE_FILE
    if not path.exists():
        return pl.DataFrame(
            schema={
                "domain": pl.String,
                "sensors": pl.Int64,
                "reporting": pl.Int64,
                "last_time": pl.Datetime("ns"),
            }
        )
    with Warehouse.open(path, read_only=True, config=config) as warehouse:
        frame = warehouse.sql(_FRESHNESS_SQL)
    if getattr(frame.schema["last_time"], "time_zone", None) is not None:
        frame = frame.with_columns(pl.col("last_time").dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    return frame


def latest_release(config: Settings | None = None) -> dict[str, str] | None:
    """Version and date of the latest open-data release, if one was built."""
    from observatory.releases.build import releases_dir

    package = releases_dir(config or settings()) / "latest" / "datapackage.json"
    try:
        meta = json.loads(package.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {"version": str(meta.get("version", "")), "created": str(meta.get("created", ""))[:10]}


def local_time(value: dt.datetime | None) -> str:
    """A UTC time as shown on screen: Martinique local time, to the minute."""
    if value is None:
        return "—"
    return (value.replace(tzinfo=None) + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M")


def apps_html(apps: Sequence[SiteApp], language: str, locked: Sequence[SiteApp] = (), login: str = "") -> str:
    """The app cards: a link for each app the visitor may open; a sign-in link for the locked ones."""
    cards = [
        f'<li class="home-app" data-app="{a.slug}"><a class="app-link" href="./{a.slug}?lang={language}">'
        f"{html.escape(t(a.title_key, language))}</a><p>{html.escape(t(a.summary_key, language))}</p></li>"
        for a in apps
    ]
    cards += [
        f'<li class="home-app locked" data-app="{a.slug}"><span class="app-name">'
        f"{html.escape(t(a.title_key, language))}</span><p>{html.escape(t(a.summary_key, language))}</p>"
        f'<a class="login-link" href="{html.escape(login)}">{html.escape(t("home_sign_in", language))}</a></li>'
        for a in locked
    ]
    return f'<ul class="home-apps">{"".join(cards)}</ul>'


def freshness_html(frame: pl.DataFrame, language: str, now: dt.datetime) -> str:
    """A table of data freshness per domain; stale domains carry the class ``stale``."""
    if frame.is_empty():
        return f'<p class="home-freshness empty">{html.escape(t("home_no_data", language))}</p>'
    rows = []
    for row in frame.iter_rows(named=True):
        last = row["last_time"]
        stale = last is None or now - last > STALE_AFTER
        key = f"kpi_domain_{row['domain']}"
        label = t(key, language) if _has_key(key) else row["domain"]
        rows.append(
            f'<tr class="{"stale" if stale else "fresh"}" data-domain="{html.escape(row["domain"])}">'
            f"<td>{html.escape(label)}</td><td>{row['reporting']}/{row['sensors']}</td>"
            f"<td>{local_time(last)}</td></tr>"
        )
    head = "".join(
        f"<th>{html.escape(t(k, language))}</th>"
        for k in ("home_domain", "home_sensors", "home_last_reading")
    )
    caption = html.escape(t("home_freshness", language))
    return f'<table class="home-freshness"><caption>{caption}</caption><tr>{head}</tr>{"".join(rows)}</table>'


def _has_key(key: str) -> bool:
    try:
        t(key)
    except ObservatoryError:
        return False
    return True


HOME_CSS = """
.home-apps { list-style: none; padding: 0; display: grid; gap: 1rem;
             grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); }
.home-app { border: 1px solid #d0d7de; border-radius: 6px; padding: 1rem 1.25rem; }
.home-app a.app-link, .home-app .app-name { font-weight: 600; font-size: 1.1rem; color: #0b4f8a; }
.home-app.locked .app-name { color: #57606a; }
.home-app p { margin: .4rem 0 0; color: #3d4b56; }
.home-freshness { border-collapse: collapse; margin-top: 1rem; }
.home-freshness caption { text-align: left; font-weight: 600; padding-bottom: .4rem; }
.home-freshness td, .home-freshness th { padding: .25rem .9rem .25rem 0; text-align: left; }
.home-freshness tr.stale td:last-child { color: #a40e26; }
"""


def release_html(release: dict[str, str] | None, language: str) -> str:
    if release is None:
        return f'<p class="home-release">{html.escape(t("home_no_release", language))}</p>'
    text = t("home_release", language, version=release["version"], date=release["created"])
    return (
        f'<p class="home-release"><a href="./portal?lang={language}">{html.escape(text)}</a> · '
        f'<a href="./releases/latest/datapackage.json">datapackage.json</a> · '
        f'<a href="./releases/latest/catalog.ttl">DCAT-AP</a></p>'
    )
