"""KPIs over one year of the whole fleet at 1 minute: the engine (hourly rollup kept at ingest)
side by side with the same KPIs computed by DuckDB straight from the raw readings, then the
served dashboard's first view and interaction latency in Chromium on that year.

    .venv/bin/python benchmarks/bench_kpi.py [--days 365] [--workdir DIR] [--no-browser]

The year is simulated (seed 1) and ingested through the line-protocol reader once into
``--workdir`` (default /tmp/observatory-bench-kpi) and reused by later runs; its cost is printed.
Prints figures; asserts nothing on time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO.parent / "shared" / "data"
START = "2025-01-01T04:00:00Z"  # local midnight, 1 January 2025 (Martinique)

# The peer: three KPIs straight from the raw readings (no rollup), monthly per commune and island.
PEER_SQL = {
    "elec_use_per_capita": """
        WITH s AS (
          SELECT p.place, date_trunc('month', r.time - INTERVAL 4 HOUR)::DATE AS period_start, r.sensor_id,
                 any_value(p.population) AS population, avg(r.value) AS mw
          FROM readings r JOIN sensors se USING (sensor_id) JOIN places p ON p.insee = se.insee
          WHERE r.measurement = 'feeder' AND r.field = 'load_mw' GROUP BY ALL)
        SELECT place, period_start, sum(mw) * 24 * 1000 / any_value(population) AS value FROM s GROUP BY ALL""",
    "pm10_mean": """
        SELECT p.place, date_trunc('month', r.time - INTERVAL 4 HOUR)::DATE AS period_start, avg(r.value) AS value
        FROM readings r JOIN sensors se USING (sensor_id) JOIN places p ON p.insee = se.insee
        WHERE r.measurement = 'air_quality' AND r.field = 'pm10_ugm3' GROUP BY ALL""",
    "non_revenue_water": """
        WITH s AS (
          SELECT p.place, date_trunc('month', r.time - INTERVAL 4 HOUR)::DATE AS period_start, r.sensor_id, r.field,
                 avg(r.value) AS m3h
          FROM readings r JOIN sensors se USING (sensor_id) JOIN places p ON p.insee = se.insee
          WHERE r.measurement = 'water_dma' AND r.field IN ('inflow_m3h', 'consumption_m3h') GROUP BY ALL)
        SELECT place, period_start, 100 * (1 - sum(m3h) FILTER (WHERE field = 'consumption_m3h')
               / sum(m3h) FILTER (WHERE field = 'inflow_m3h')) AS value FROM s GROUP BY ALL""",
}


def _env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ, OBSERVATORY_DATA_DIR=str(data_dir))
    if "OBSERVATORY_DATA_MIRROR" not in env and MIRROR.is_dir():
        env["OBSERVATORY_DATA_MIRROR"] = str(MIRROR)
    return env


def prepare(workdir: Path, days: int) -> Path:
    """The data directory holding ``days`` of the fleet, simulated and ingested once."""
    data = workdir / f"data-{days}d"
    done = data / "READY"
    if done.exists():
        print(f"year warehouse: reused {data}")
        return data
    shutil.rmtree(data, ignore_errors=True)
    sim = workdir / "sim"
    shutil.rmtree(sim, ignore_errors=True)
    env = _env(data)
    began = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "observatory.cli",
            "simulate",
            "--start",
            START,
            "--days",
            str(days),
            "--seed",
            "1",
            "--scenario",
            "all",
            "--out",
            str(sim),
            "--quiet",
        ],
        check=True,
        env=env,
    )
    simulated = time.perf_counter() - began
    from observatory.simulate.citizens import INGEST_COMMAND_OPTIONS

    began = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "observatory.cli",
            "ingest",
            str(sim / "field"),
            "--quiet",
            *INGEST_COMMAND_OPTIONS.split(),
        ],
        check=True,
        env=env,
    )
    ingested = time.perf_counter() - began
    lp_bytes = sum(p.stat().st_size for p in (sim / "field" / "lp").glob("*.lp"))
    print(
        f"year warehouse: simulated {days} days in {simulated:.0f} s ({lp_bytes / 1e9:.1f} GB of line protocol), "
        f"ingested in {ingested:.0f} s; {data}"
    )
    shutil.rmtree(sim)
    done.write_text("ok\n")
    return data


def _best(fn, repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - began)
    return min(times), result


def bench_engine(data: Path) -> None:
    os.environ.update(_env(data))
    from observatory.kpi.engine import KpiEngine
    from observatory.warehouse.store import Warehouse

    with Warehouse.open(data / "warehouse.duckdb", read_only=True) as warehouse:
        readings = warehouse.con.execute("SELECT count(*) FROM readings").fetchone()[0]
        first, last = warehouse.con.execute("SELECT min(hour), max(hour) FROM readings_hourly").fetchone()
        print(f"\nwarehouse: {readings:,} raw readings, {first} .. {last} UTC")
        end = (last - dt.timedelta(hours=4)).date() + dt.timedelta(days=1)
        start = (first - dt.timedelta(hours=4)).date()

        def run(**kwargs) -> tuple[object, KpiEngine]:
            engine = KpiEngine(warehouse)
            return engine.compute(start=start, end=end, **kwargs), engine

        cases = {
            "all KPIs, every place, per month over the year": {"grain": "month"},
            "all KPIs, every place, the year and the one before (cards)": {
                "grain": "range",
                "previous": True,
            },
            "all KPIs, every place, per day over the year (sparklines)": {"grain": "day"},
        }
        print("\n| case | rows | engine best of 3 (s) |\n|---|---|---|")
        slowest = []
        for label, kwargs in cases.items():
            seconds, (frame, engine) = _best(lambda k=kwargs: run(**k))
            print(f"| {label} | {len(frame):,} | {seconds:.2f} |")
            if not slowest:  # the first case, per month: where its time goes
                slowest = sorted(engine.provenance.values(), key=lambda p: p.seconds, reverse=True)[:5]
        print(
            "\nslowest KPIs of the best monthly run: "
            + ", ".join(f"{p.kpi_id} {p.seconds:.2f} s" for p in slowest)
        )
        KpiEngine(warehouse).compute(
            start=start, end=end, grain="month", kpi_ids=list(PEER_SQL)
        )  # `places` table
        print(
            "\n| KPI (monthly, 35 places) | engine on the rollup (s) | DuckDB on raw readings (s) | ratio | max abs diff |\n|---|---|---|---|---|"
        )
        for kpi, sql in PEER_SQL.items():
            ours_s, ours = _best(
                lambda k=kpi: KpiEngine(warehouse).compute(start=start, end=end, grain="month", kpi_ids=[k])
            )
            peer_s, peer = _best(lambda q=sql: warehouse.sql(q))
            joined = ours.join(peer.rename({"value": "peer"}), on=["place", "period_start"])
            diff = (joined["value"] - joined["peer"]).abs().max()
            print(f"| {kpi} | {ours_s:.3f} | {peer_s:.3f} | {peer_s / ours_s:.1f}× | {diff:.2e} |")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PRESET_LABELS = {"7d": "7 jours", "30d": "30 jours", "90d": "90 jours", "365d": "12 mois", "all": "Tout"}
CARDS = ".kpi-view"
MAP = ".kpi-map-caption [data-kpi]"
DETAIL = ".kpi-description h3"


def _attrs(**shown: str) -> str:
    return "".join(f"[data-{key}='{value}']" for key, value in shown.items())


def _timed_change(page, act, cards: str, view, timeout_ms: int = 120_000) -> tuple[float, float]:
    """Seconds from ``act()`` until the cards match ``cards``, and until every selector of ``view``
    (the map's caption, the table's heading; or a function of the new cards giving them) shows
    the new state."""
    began = time.perf_counter()
    act()
    page.locator(cards).wait_for(timeout=timeout_ms)
    first = time.perf_counter() - began
    if callable(view):
        view = view(page.locator(CARDS))
    for selector in view:
        page.locator(selector).wait_for(timeout=timeout_ms)
    return first, time.perf_counter() - began


def _server_ready(base: str) -> None:
    import requests

    for _ in range(600):
        try:
            if requests.get(base, timeout=30).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base} did not answer")


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(values), p95, ordered[-1]


def bench_browser(data: Path, interactions: int = 20) -> None:
    """First view and click-to-view latency in Chromium on the served dashboard. Each interaction
    gives two times: until the cards show the new state, and until the whole view does (cards,
    the map's caption written after its new values, the table's heading)."""
    from playwright.sync_api import sync_playwright

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "observatory.cli", "serve", "--port", str(port)],
        env=_env(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/kpi"
    try:
        _server_ready(base)
        time.sleep(20)  # the warm-up process: cyclone exposure, KPI presets when missing
        rng = random.Random(1)
        communes = [str(c) for c in range(97201, 97235)]
        cards_s: dict[str, list[float]] = {
            "commune (list)": [],
            "commune (map)": [],
            "indicator": [],
            "range preset": [],
        }
        view_s: dict[str, list[float]] = {k: [] for k in cards_s}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            first, complete = [], []
            for _ in range(5):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                began = time.perf_counter()
                page.goto(base)
                page.locator(".kpi-card").first.wait_for(timeout=300_000)
                first.append(time.perf_counter() - began)
                page.locator(MAP).wait_for(timeout=300_000)
                page.locator(DETAIL).wait_for(timeout=300_000)
                complete.append(time.perf_counter() - began)
                page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(base)
            page.locator(MAP).wait_for(timeout=300_000)
            page.locator(".kpi-map canvas").first.wait_for(timeout=300_000)
            os.environ.update(_env(data))  # the communes' names, from the reference data
            from observatory.kpi.spec import load_specs
            from observatory.territory.communes import communes as commune_frame

            # Panel's <option>s carry the labels: the French titles, and "Name (INSEE)"
            kpis = {spec.id: spec.title["fr"] for spec in load_specs().values()}
            names = dict(zip(commune_frame()["insee"], commune_frame()["name"], strict=True))
            presets = ["7d", "90d", "30d", "365d", "7d", "30d"]  # each a change ("all" is the 365 days here)

            def record(name: str, times: tuple[float, float]) -> None:
                cards_s[name].append(times[0])
                view_s[name].append(times[1])

            for i in range(interactions):
                insee = rng.choice(communes)
                record(
                    "commune (list)",
                    _timed_change(
                        page,
                        lambda v=f"{names[insee]} ({insee})": page.locator(
                            ".place-selector select"
                        ).select_option(label=v),
                        f"{CARDS}[data-place='{insee}']",
                        [f"{DETAIL}[data-place='{insee}']"],
                    ),
                )
                kpi = rng.choice(
                    sorted(k for k in kpis if k != page.locator(CARDS).get_attribute("data-kpi"))
                )
                record(
                    "indicator",
                    _timed_change(
                        page,
                        lambda v=kpis[kpi]: page.locator(".kpi-selector select").select_option(label=v),
                        f"{CARDS}[data-kpi='{kpi}']",
                        [f"{MAP}[data-kpi='{kpi}']", f"{DETAIL}[data-kpi='{kpi}']"],
                    ),
                )
                if i < 8:  # a click on the map, at a point inside the island
                    # from the island, so that any commune clicked is a change (before the map's
                    # position is read: picking in the list scrolls the page)
                    page.locator(".place-selector select").select_option(index=0)
                    page.locator(f"{CARDS}[data-place='972']").wait_for(timeout=120_000)
                    before = "972"
                    canvas = page.locator(".kpi-map canvas").first
                    canvas.scroll_into_view_if_needed()
                    box = canvas.bounding_box()
                    fx, fy = [(0.45, 0.5), (0.35, 0.35), (0.55, 0.7), (0.5, 0.6)][i % 4]  # inland points
                    point = (box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                    record(
                        "commune (map)",
                        _timed_change(
                            page,
                            lambda at=point: page.mouse.click(*at),
                            f"{CARDS}:not([data-place='{before}'])",
                            [f"{DETAIL}:not([data-place='{before}'])"],
                        ),
                    )
                if i < len(presets):
                    preset = presets[i]
                    before = page.locator(CARDS).get_attribute("data-start")
                    record(
                        "range preset",
                        _timed_change(
                            page,
                            lambda p=preset: (
                                page.locator(".range-presets button")
                                .filter(has_text=PRESET_LABELS[p])
                                .click()
                            ),
                            f"{CARDS}:not([data-start='{before}'])",
                            lambda cards: [
                                f"{MAP}[data-start='{cards.get_attribute('data-start')}']",
                                f"{DETAIL}[data-start='{cards.get_attribute('data-start')}']",
                            ],
                        ),
                    )
            browser.close()
        print(
            "\nfirst view, 5 fresh pages (navigation to the cards / to cards, map and table): "
            + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(first, complete, strict=True))
            + " s"
        )
        print(
            "\n| interaction | n | cards p50 (ms) | cards p95 (ms) | cards max (ms) | whole view p50 (ms) | whole view p95 (ms) | whole view max (ms) |"
            "\n|---|---|---|---|---|---|---|---|"
        )
        for name, values in cards_s.items():
            if not values:
                continue
            c50, c95, cmax = _percentiles(values)
            v50, v95, vmax = _percentiles(view_s[name])
            print(
                f"| {name} | {len(values)} | {c50 * 1000:.0f} | {c95 * 1000:.0f} | {cmax * 1000:.0f} "
                f"| {v50 * 1000:.0f} | {v95 * 1000:.0f} | {vmax * 1000:.0f} |"
            )
        every_cards = [v for values in cards_s.values() for v in values]
        every_view = [v for values in view_s.values() for v in values]
        c50, c95, _ = _percentiles(every_cards)
        v50, v95, _ = _percentiles(every_view)
        print(
            f"| every click | {len(every_cards)} | {c50 * 1000:.0f} | {c95 * 1000:.0f} | | {v50 * 1000:.0f} | {v95 * 1000:.0f} | |"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/observatory-bench-kpi"))
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--no-engine", action="store_true", help="the served dashboard only")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = prepare(args.workdir, args.days)
    if not args.no_engine:
        bench_engine(data)
    if not args.no_browser:
        bench_browser(data)


if __name__ == "__main__":
    main()
