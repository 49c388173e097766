"""The simulated fleet: the kinds of the contract, every sensor inside the commune it names."""

from __future__ import annotations

import re

import polars as pl
import pytest
import shapely

from observatory.simulate.fleet import INTERCOMMUNALITIES, KINDS, build_fleet, energy_reference
from observatory.sources.base import SENSORS_SCHEMA
from observatory.territory.communes import communes

# The contract other code is written against: kind -> (domain, measurement, fields).
CONTRACT = {
    "feeder": ("energy", "feeder", ["load_mw", "energized"]),
    "pv_plant": ("energy", "pv", ["power_mw"]),
    "wind_farm": ("energy", "wind_farm", ["power_mw"]),
    "thermal_plant": ("energy", "thermal", ["power_mw"]),
    "grid_frequency": ("energy", "grid", ["frequency_hz"]),
    "dma_meter": ("water", "water_dma", ["inflow_m3h", "consumption_m3h", "pressure_bar"]),
    "reservoir": ("water", "reservoir", ["level_pct"]),
    "traffic_counter": ("mobility", "traffic", ["vehicles", "speed_kmh"]),
    "bus_counter": ("mobility", "bus", ["boardings"]),
    "air_station": ("air", "air_quality", ["pm10_ugm3", "pm25_ugm3", "no2_ugm3", "o3_ugm3"]),
    "h2s_sensor": ("air", "h2s", ["h2s_ppb"]),
    "noise_sensor": ("air", "noise", ["laeq_db"]),
    "weighbridge": ("waste", "waste", ["tonnes"]),
    "weather_station": (
        "weather",
        "weather",
        [
            "temperature_c",
            "humidity_pct",
            "rain_mm",
            "wind_speed_ms",
            "wind_gust_ms",
            "wind_dir_deg",
            "pressure_hpa",
        ],
    ),
    "river_gauge": ("hydrology", "river", ["level_m"]),
    "tide_gauge": ("hydrology", "tide", ["level_m"]),
    "seismometer": ("hydrology", "seismic", ["velocity_rms_um_s"]),
}


@pytest.fixture(scope="module")
def fleet(data_settings):
    return build_fleet(data_settings)


def test_kinds_are_the_contract() -> None:
    assert {k: (v.domain, v.measurement, [f.name for f in v.fields]) for k, v in KINDS.items()} == CONTRACT


def test_at_least_sixty_sensors_with_a_feeder_and_a_district_in_every_commune(fleet, data_settings) -> None:
    codes = set(communes(data_settings)["insee"])
    assert len(fleet) >= 60
    for kind in ("feeder", "dma_meter"):
        assert sorted(s.insee for s in fleet.of_kind(kind)) == sorted(codes)
    assert len({s.kind.domain for s in fleet.sensors}) >= 6
    assert [s.site.name for s in fleet.of_kind("tide_gauge")] == ["Fort-de-France port"]
    roads = {dict(s.tags)["road"] for s in fleet.of_kind("traffic_counter")}
    assert {"A1", "RN1", "RN2", "RN5", "RN6"} <= roads
    h2s_towns = {s.insee for s in fleet.of_kind("h2s_sensor")}
    assert {
        "97222",
        "97210",
        "97232",
        "97228",
    } <= h2s_towns  # Le Robert, Le François, Le Vauclin, Sainte-Marie


def test_every_sensor_lies_inside_the_commune_it_names(fleet, data_settings) -> None:
    polygons = dict(zip(communes(data_settings)["insee"], communes(data_settings).geometry, strict=True))
    outside = [
        s.sensor_id for s in fleet.sensors if not polygons[s.insee].contains(shapely.Point(s.lon, s.lat))
    ]
    assert outside == []


def test_ids_are_stable_lowercase_and_unique(fleet) -> None:
    ids = [s.sensor_id for s in fleet.sensors]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+-972\d\d-\d\d", i) for i in ids)
    assert "feeder-97209-01" in ids and "dma-97213-01" in ids and "tide-97209-01" in ids
    assert [s.index for s in fleet.sensors] == list(range(len(fleet)))


def test_tags_are_sorted_and_the_weighbridges_serve_every_commune_once(fleet) -> None:
    for sensor in fleet.sensors:
        keys = [k for k, _ in sensor.tags]
        assert keys == sorted(keys) and {"sensor_id", "insee"} <= set(keys)
        assert " " not in sensor.prefix and "," not in dict(sensor.tags)["sensor_id"]
    served = [c for s in fleet.of_kind("weighbridge") for c in dict(s.tags)["serves"].split("+")]
    assert sorted(served) == sorted(c for members in INTERCOMMUNALITIES.values() for c in members)
    assert len(served) == len(set(served)) == 34


def test_sensors_frame_is_the_sensors_table(fleet) -> None:
    frame = fleet.frame()
    assert frame.schema == pl.Schema(SENSORS_SCHEMA)
    assert frame.height == len(fleet) and frame["sensor_id"].is_unique().all()
    assert frame.null_count().row(0) == (0,) * len(SENSORS_SCHEMA)
    assert set(frame["source_system"]) == {"influxdb", "mqtt"}
    assert frame.filter(pl.col("kind") == "feeder")["unit"].unique().to_list() == ["MW"]


def test_energy_capacities_come_from_the_electricity_maps_file(fleet, data_settings) -> None:
    reference = energy_reference(data_settings)
    # EDF SEI figures carried by Electricity Maps: PV 84 MW (2022), wind 14 MW, oil 428 MW, biomass 44.5 MW.
    assert (reference.solar_mw, reference.wind_mw, reference.oil_mw, reference.biomass_mw) == (
        84.0,
        14.0,
        428.0,
        44.5,
    )
    assert sum(s.site.size for s in fleet.of_kind("pv_plant")) == pytest.approx(1.0)
    oil = [s for s in fleet.of_kind("thermal_plant") if dict(s.tags)["fuel"] == "oil"]
    assert sum(s.site.size for s in oil) == pytest.approx(1.0)
