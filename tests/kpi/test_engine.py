"""The KPI engine on a small warehouse whose readings are known minute by minute, so that each
value can be computed by hand: per commune and for the island, local days, outages, losses,
WHO exceedance days, filters and wrong parameters."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from observatory.errors import ParameterError
from observatory.kpi.engine import ISLAND, KpiEngine
from observatory.sources.base import SENSORS_SCHEMA, Batch
from observatory.territory.communes import communes
from observatory.warehouse.ingest import ingest_paths
from observatory.warehouse.store import Warehouse

FIRST_DAY = dt.date(2026, 3, 2)  # a Monday, Martinique calendar
DAYS = 2
LOCAL = dt.timedelta(hours=-4)
SENSORS = [  # sensor_id, domain, kind, insee, measurement
    ("feeder-97209-01", "energy", "feeder", "97209", "feeder"),
    ("feeder-97213-01", "energy", "feeder", "97213", "feeder"),
    ("pv-97213-01", "energy", "pv_plant", "97213", "pv"),
    ("thermal-97230-01", "energy", "thermal_plant", "97230", "thermal"),
    ("dma-97209-01", "water", "dma_meter", "97209", "water_dma"),
    ("air-97209-01", "air", "air_station", "97209", "air_quality"),
    ("noise-97209-01", "air", "noise_sensor", "97209", "noise"),
]
# feeder-97213-01 on day 1: start minute, length. The third crosses 18:00; the last two are 3 minutes
# of supply apart across 20:00, one interruption: 4 interruptions, 63 minutes without supply.
OUTAGES_LOCAL = [(10 * 60, 30), (14 * 60, 10), (17 * 60 + 55, 10), (19 * 60 + 50, 8), (20 * 60 + 1, 5)]


def _minutes():
    start = dt.datetime.combine(FIRST_DAY, dt.time()) - LOCAL  # local midnight, in UTC
    for minute in range(DAYS * 1440):
        yield minute, start + dt.timedelta(minutes=minute)


def _energized(minute: int) -> float:
    return 0.0 if any(s <= minute < s + n for s, n in OUTAGES_LOCAL) else 1.0


def _lines() -> list[str]:
    lines = []
    for minute, when in _minutes():
        ns = int(when.replace(tzinfo=dt.UTC).timestamp()) * 10**9
        day = minute // 1440
        lines += [
            f"feeder,insee=97209,sensor_id=feeder-97209-01 load_mw=12,energized=1 {ns}",
            f"feeder,insee=97213,sensor_id=feeder-97213-01 load_mw=6,energized={_energized(minute)} {ns}",
            f"pv,insee=97213,sensor_id=pv-97213-01 power_mw=5 {ns}",
            f"thermal,insee=97230,sensor_id=thermal-97230-01 power_mw=15 {ns}",
            f"water_dma,insee=97209,sensor_id=dma-97209-01 inflow_m3h=100,consumption_m3h=60 {ns}",
            f"air_quality,insee=97209,sensor_id=air-97209-01 pm10_ugm3={30 if day == 0 else 50} {ns}",
        ]
        # the noise sensor stops 4 hours before the end: stale (silent for more than 3 h) at the end
        if minute < DAYS * 1440 - 240:
            lines.append(f"noise,insee=97209,sensor_id=noise-97209-01 laeq_db=50 {ns}")
    return lines


@pytest.fixture(scope="module")
def engine(tmp_path_factory, data_settings):
    folder = tmp_path_factory.mktemp("kpi")
    path = folder / "readings.lp"
    path.write_text("\n".join(_lines()) + "\n")
    sensors = pl.DataFrame(
        [
            {
                "sensor_id": s,
                "domain": d,
                "kind": k,
                "unit": "",
                "insee": i,
                "lon": -61.0,
                "lat": 14.6,
                "installed": dt.date(2020, 1, 1),
                "source_system": "influxdb",
            }
            for s, d, k, i, _ in SENSORS
        ],
        schema=SENSORS_SCHEMA,
    )
    warehouse = Warehouse.open(folder / "warehouse.duckdb", config=data_settings)
    warehouse.load_communes(data_settings)
    warehouse.ingest("sensors", "0" * 64, "test", [Batch(sensors=sensors)])
    (report,) = ingest_paths(warehouse, [path])
    assert report.rejected == 0
    yield KpiEngine(warehouse)
    warehouse.close()


@pytest.fixture(scope="module")
def population(data_settings) -> dict[str, int]:
    frame = communes(data_settings)
    return dict(zip(frame["insee"], frame["population"].astype(int), strict=True))


def _value(frame: pl.DataFrame, kpi: str, place: str, day: dt.date | None = None) -> float:
    rows = frame.filter((pl.col("kpi_id") == kpi) & (pl.col("place") == place))
    if day is not None:
        rows = rows.filter(pl.col("period_start") == day)
    assert len(rows) == 1, rows
    return rows["value"][0]


def _range(engine: KpiEngine, kpis: list[str], grain: str = "day") -> pl.DataFrame:
    end = FIRST_DAY + dt.timedelta(days=DAYS)
    return engine.compute(kpi_ids=kpis, start=FIRST_DAY, end=end, grain=grain)


def test_electricity_per_inhabitant_per_commune_and_for_the_island(engine, population):
    frame = _range(engine, ["elec_use_per_capita"])
    island = sum(population.values())
    for day in (FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)):  # local days, not UTC days
        assert _value(frame, "elec_use_per_capita", "97209", day) == pytest.approx(
            12 * 24 * 1000 / population["97209"]
        )
        assert _value(frame, "elec_use_per_capita", ISLAND, day) == pytest.approx(18 * 24 * 1000 / island)
    assert set(frame["period_start"]) == {FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)}
    assert set(frame["place"]) == {"97209", "97213", ISLAND}


def test_interruptions_count_episodes_and_weigh_them_by_population(engine, population):
    frame = _range(engine, ["interruptions_per_customer", "interruption_duration"])
    share = population["97213"] / sum(population.values())
    assert _value(frame, "interruptions_per_customer", "97213", FIRST_DAY) == 4
    assert _value(frame, "interruptions_per_customer", "97209", FIRST_DAY) == 0
    assert _value(frame, "interruptions_per_customer", ISLAND, FIRST_DAY) == pytest.approx(4 * share)
    assert _value(frame, "interruptions_per_customer", "97213", FIRST_DAY + dt.timedelta(days=1)) == 0
    minutes = (30 + 10 + 10 + 8 + 5) / 4
    assert _value(frame, "interruption_duration", "97213", FIRST_DAY) == pytest.approx(minutes)
    assert _value(frame, "interruption_duration", ISLAND, FIRST_DAY) == pytest.approx(minutes)


def test_water_losses_and_renewable_share(engine):
    frame = _range(engine, ["non_revenue_water", "renewable_share"], grain="range")
    assert _value(frame, "non_revenue_water", "97209") == pytest.approx(40.0)
    assert _value(frame, "renewable_share", ISLAND) == pytest.approx(25.0)  # 5 MW PV of 20 MW
    assert frame.filter(pl.col("kpi_id") == "renewable_share")["place"].to_list() == [ISLAND]  # island only
    statuses = dict(zip(frame["kpi_id"], frame["status"], strict=False))
    assert statuses["non_revenue_water"] == "alert"  # 40 % is the alert level
    assert statuses["renewable_share"] == "watch"  # between the 20 % alert and the 50 % target


def test_who_exceedance_days_and_the_status_they_get(engine):
    frame = _range(engine, ["pm10_days_over_who", "pm10_mean"], grain="range")
    assert _value(frame, "pm10_days_over_who", "97209") == pytest.approx(50.0)  # day 2 at 50 > 45
    assert _value(frame, "pm10_mean", "97209") == pytest.approx(40.0)
    assert frame.filter(pl.col("kpi_id") == "pm10_mean")["status"].to_list() == ["alert", "alert"]


def test_stale_sensors_and_completeness(engine):
    frame = _range(engine, ["stale_sensors", "sensor_completeness"], grain="range")
    assert _value(frame, "stale_sensors", "97209") == 1  # the noise sensor, silent for 4 h
    assert _value(frame, "stale_sensors", "97213") == 0
    expected = 100 * (1 - 240 / (DAYS * 1440) / 6)  # 6 (sensor, field) series in 97209, one short by 4 h
    assert _value(frame, "sensor_completeness", "97209") == pytest.approx(expected, abs=0.01)


def test_the_range_grain_compares_with_the_previous_range(engine):
    second = FIRST_DAY + dt.timedelta(days=1)
    frame = engine.compute(
        kpi_ids=["pm10_mean"],
        places="97209",
        start=second,
        end=second + dt.timedelta(days=1),
        grain="range",
        previous=True,
    )
    assert dict(zip(frame["period_start"], frame["value"], strict=True)) == {FIRST_DAY: 30.0, second: 50.0}


def test_filters_and_provenance(engine):
    frame = engine.compute(kpi_ids=["pm10_mean"], places=["97209"], grain="month")
    assert frame["place"].unique().to_list() == ["97209"]
    assert frame["period_start"].to_list() == [dt.date(2026, 3, 1)]
    assert list(frame.columns) == ["kpi_id", "place", "period_start", "value", "unit", "status"]
    provenance = engine.provenance["pm10_mean"]
    assert "pm10_ugm3" in provenance.query and provenance.datasets == (
        "readings_hourly:air_quality.pm10_ugm3",
    )
    assert provenance.data_end == dt.datetime.combine(FIRST_DAY + dt.timedelta(days=DAYS), dt.time(4), dt.UTC)


@pytest.mark.parametrize(
    ("kwargs", "parameter", "hint"),
    [
        ({"kpi_ids": ["pm10_men"]}, "--kpi", "pm10_mean"),
        ({"places": ["97299"]}, "--commune", "972"),
        ({"grain": "week"}, "--grain", "day"),
        ({"start": "2026-03-05", "end": "2026-03-01"}, "--to", "follow"),
        ({"start": "yesterday"}, "--from", "YYYY-MM-DD"),
    ],
)
def test_wrong_parameters_are_named(engine, kwargs, parameter, hint):
    with pytest.raises(ParameterError, match=hint) as err:
        engine.compute(**kwargs)
    assert err.value.parameter == parameter
