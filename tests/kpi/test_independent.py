"""Three KPIs recomputed independently from the raw readings of a simulated fleet (plain Polars and
Python, minute by minute, no rollup, no SQL) and compared with the engine: electricity per
inhabitant, water losses and interruptions per customer, per commune, for the island, per day."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from observatory.kpi.engine import ISLAND, KpiEngine
from observatory.simulate.citizens import INGEST_OPTIONS
from observatory.simulate.engine import Options, simulate
from observatory.territory.communes import communes
from observatory.warehouse.ingest import ingest_paths
from observatory.warehouse.store import Warehouse

START = "2026-06-01T04:00:00Z"  # local midnight: two whole Martinique days
DAYS = 2
FIRST_DAY = dt.date(2026, 6, 1)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory, data_settings):
    folder = tmp_path_factory.mktemp("fleet")
    simulate(
        Options.parse(start=START, days=DAYS, out=folder / "sim", scenarios=["grid_outage", "water_leak"]),
        data_settings,
    )
    warehouse = Warehouse.open(folder / "warehouse.duckdb", config=data_settings)
    warehouse.load_communes(data_settings)
    reports = list(ingest_paths(warehouse, [folder / "sim" / "field"], **INGEST_OPTIONS))
    assert sum(r.rejected for r in reports) == 0
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="module")
def engine_values(simulated) -> pl.DataFrame:
    end = FIRST_DAY + dt.timedelta(days=DAYS)
    kpis = ["elec_use_per_capita", "non_revenue_water", "interruptions_per_customer"]
    return KpiEngine(simulated).compute(kpi_ids=kpis, start=FIRST_DAY, end=end, grain="day")


@pytest.fixture(scope="module")
def raw(simulated) -> pl.DataFrame:
    """Every raw reading of the feeders and district meters, with its commune and local day."""
    sensors = simulated.sql("SELECT sensor_id, insee FROM sensors")
    frame = simulated.readings(fields=["load_mw", "energized", "inflow_m3h", "consumption_m3h"])
    local = pl.col("time").dt.convert_time_zone("America/Martinique")
    return frame.join(sensors, on="sensor_id").with_columns(
        local.dt.date().alias("day"), local.alias("local")
    )


@pytest.fixture(scope="module")
def population(data_settings) -> dict[str, int]:
    frame = communes(data_settings)
    return dict(zip(frame["insee"], frame["population"].astype(int), strict=True))


def _engine(values: pl.DataFrame, kpi: str) -> dict[tuple[str, dt.date], float]:
    rows = values.filter(pl.col("kpi_id") == kpi)
    return {(p, d): v for p, d, v in rows.select("place", "period_start", "value").iter_rows()}


def test_electricity_per_inhabitant(raw, engine_values, population):
    # mean load of each feeder over the day (MW) x 24 h, in kWh, over the inhabitants
    means = (
        raw.filter(pl.col("field") == "load_mw")
        .group_by("insee", "sensor_id", "day")
        .agg(pl.col("value").mean())
    )
    mine = {}
    for (insee, day), group in means.group_by("insee", "day"):
        mine[(insee, day)] = group["value"].sum() * 24 * 1000 / population[insee]
    for day in {d for _, d in mine}:
        island = sum(v * population[i] for (i, d), v in mine.items() if d == day)
        mine[(ISLAND, day)] = island / sum(population.values())
    assert len(mine) == (34 + 1) * DAYS
    assert _engine(engine_values, "elec_use_per_capita") == pytest.approx(mine, rel=1e-9)


def test_non_revenue_water(raw, engine_values):
    means = (
        raw.filter(pl.col("field").is_in(["inflow_m3h", "consumption_m3h"]))
        .group_by("insee", "sensor_id", "day", "field")
        .agg(pl.col("value").mean())
    )

    def loss(rows: pl.DataFrame) -> float:
        inflow = rows.filter(pl.col("field") == "inflow_m3h")["value"].sum()
        used = rows.filter(pl.col("field") == "consumption_m3h")["value"].sum()
        return 100 * (1 - used / inflow)

    mine = {(insee, day): loss(rows) for (insee, day), rows in means.group_by("insee", "day")}
    mine |= {(ISLAND, day): loss(rows) for (day,), rows in means.group_by("day")}
    values = _engine(engine_values, "non_revenue_water")
    assert values == pytest.approx(mine, rel=1e-9)
    assert 20 < values[(ISLAND, FIRST_DAY)] < 50  # Martinique loses about a third of its water


def _episodes(times: list[dt.datetime], values: list[float]) -> list[dt.datetime]:
    """Start of each outage: an off minute more than 5 minutes after the previous off minute."""
    starts, previous = [], None
    for when, value in zip(times, values, strict=True):
        if value < 0.5:
            if previous is None or when - previous > dt.timedelta(minutes=5):
                starts.append(when)
            previous = when
    return starts


def test_interruptions_per_customer(raw, engine_values, population):
    counts: dict[tuple[str, dt.date], int] = {}
    for (insee,), rows in raw.filter(pl.col("field") == "energized").sort("time").group_by("insee"):
        for start in _episodes(rows["local"].to_list(), rows["value"].to_list()):
            counts[(insee, start.date())] = counts.get((insee, start.date()), 0) + 1
    assert counts, "the grid_outage scenario cut some feeders"
    values = _engine(engine_values, "interruptions_per_customer")
    for (insee, day), count in counts.items():
        assert values[(insee, day)] == count
    for day in range(DAYS):
        date = FIRST_DAY + dt.timedelta(days=day)
        weighted = sum(n * population[i] for (i, d), n in counts.items() if d == date)
        assert values[(ISLAND, date)] == pytest.approx(weighted / sum(population.values()), rel=1e-9)
    quiet = [key for key, value in values.items() if key[0] != ISLAND and key not in counts]
    assert quiet and all(values[key] == 0 for key in quiet)
