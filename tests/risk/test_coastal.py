"""Coastal flooding: the bathtub on SRTM 250 m grows with the water, is empty at today's mean sea
level, puts the Fort-de-France bay among the most exposed, and gives the same figures every run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from observatory.errors import DataFormatError, ParameterError
from observatory.risk.coastal import (
    CoastalTerrain,
    scenario_exposure,
    sea_level_rise_m,
    surge_from_wind_m,
)
from observatory.territory.communes import communes
from observatory.territory.crs import OFFICIAL_AREA_KM2

FORT_DE_FRANCE, LE_LAMENTIN = "97209", "97213"


@pytest.fixture(scope="module")
def terrain() -> CoastalTerrain:
    return CoastalTerrain.for_island()


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return pd.DataFrame(communes()[["insee", "name", "population"]])


def test_points_cover_the_island(terrain):
    points = terrain.points
    assert len(points) == 21603
    assert points["area_km2"].sum() == pytest.approx(OFFICIAL_AREA_KM2, rel=0.02)
    assert points["area_km2"].between(0.0515, 0.0520).all()  # 7.5″ × 7.5″ at 14.4–14.9° N
    assert points["insee"].nunique() == 34


def test_negative_elevations_are_set_to_sea_level_and_kept_raw(terrain):
    points = terrain.points
    assert points["z_raw_m"].min() == -14 and (points["z_raw_m"] < 0).sum() == 25
    assert points["z_m"].min() == 0 and (points["z_m"] == 0).sum() == 25 + 13


def test_no_surge_and_no_sea_level_rise_floods_nothing(terrain, population):
    assert not terrain.flooded(0.0, 0.0).any()
    assert terrain.exposure(population)["population_exposed"].sum() == 0


def test_a_higher_water_never_floods_less(terrain, population):
    previous_wet = np.zeros(len(terrain.points), dtype=bool)
    previous = pd.Series(0.0, index=population["insee"])
    for level in np.arange(0.0, 6.01, 0.25):
        wet = terrain.flooded(surge_m=level)
        assert not (previous_wet & ~wet).any(), f"a point dried up at {level} m"
        table = terrain.exposure(population, surge_m=level).set_index("insee")
        assert (table["low_lying_km2"] >= previous - 1e-12).all()
        previous_wet, previous = wet, table["low_lying_km2"]
    assert previous.sum() > 5.0  # about 13 km² at 6 m


def test_low_ground_behind_higher_ground_stays_dry(terrain):
    points = terrain.points
    level = 3.0
    wet = terrain.flooded(surge_m=level, decay_m_per_km=0.0)
    below = points["z_m"].to_numpy() < level
    assert wet.sum() < below.sum()  # some low points are cut off from the sea
    assert (points.loc[wet, "coast_km"] < 5).all()


def test_fort_de_france_and_le_lamentin_are_among_the_most_exposed_at_2m(terrain, population):
    table = terrain.exposure(population, surge_m=2.0).sort_values("population_exposed", ascending=False)
    top = table["insee"].head(5).tolist()
    assert top[0] == FORT_DE_FRANCE
    assert LE_LAMENTIN in top


def test_exposure_is_reproducible(population):
    first = CoastalTerrain.for_island().exposure(population, surge_m=2.0, slr_m=0.56)
    second = CoastalTerrain.for_island().exposure(population, surge_m=2.0, slr_m=0.56)
    pd.testing.assert_frame_equal(first, second)
    # Figures of the reference-data release (sha256-checked inputs): 2 m surge on SSP2-4.5 2100.
    assert first["low_lying_km2"].sum() == pytest.approx(6.005, abs=0.001)
    assert first["population_exposed"].sum() == pytest.approx(1945.5, abs=0.5)


def test_surge_per_commune(terrain, population):
    surge = pd.Series(0.0, index=population["insee"])
    surge[FORT_DE_FRANCE] = 2.0
    table = terrain.exposure(population, surge_m=surge).set_index("insee")
    assert table.loc[FORT_DE_FRANCE, "low_lying_km2"] > 0
    assert table.drop(index=FORT_DE_FRANCE)["low_lying_km2"].sum() == 0
    with pytest.raises(ParameterError, match="no surge for communes"):
        terrain.exposure(population, surge_m=surge.drop(index=FORT_DE_FRANCE))


def test_scenario_table_rises_with_sea_level(terrain, population):
    table = scenario_exposure(terrain, population, surges_m=(0.0, 2.0))
    assert len(table) == 2 * 4
    for _, group in table.groupby("surge_m"):
        assert group.sort_values("slr_m")["low_lying_km2"].is_monotonic_increasing


def test_surge_from_wind_follows_xu_2010():
    assert surge_from_wind_m([0.0, 17.0])[0] == 0 and surge_from_wind_m(17.0) == 0
    assert surge_from_wind_m(17.5) == pytest.approx(1.8288)
    assert surge_from_wind_m(50.0) == pytest.approx(0.1023 * (50.0 - 26.8224) + 1.8288)
    with pytest.raises(ParameterError, match="wind_ms"):
        surge_from_wind_m(-1.0)


def test_sea_level_rise_scenarios_are_the_ar6_medians():
    assert sea_level_rise_m("SSP1-2.6", 2100) == 0.44
    assert sea_level_rise_m("SSP5-8.5", 2100) == 0.77
    with pytest.raises(ParameterError, match="Did you mean 'SSP2-4.5'"):
        sea_level_rise_m("SSP245", 2100)
    with pytest.raises(ParameterError, match="parameter 'year'"):
        sea_level_rise_m("SSP2-4.5", 2070)


def test_a_malformed_elevation_line_is_named(tmp_path):
    bad = tmp_path / "points.xyz"
    bad.write_text("-61.0 14.6 3\n-61.0021 14.6 x\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"points\.xyz:2: .*could not convert"):
        CoastalTerrain.from_srtm_xyz(bad)


def test_two_points_in_one_lattice_cell_are_refused(tmp_path):
    bad = tmp_path / "points.xyz"
    bad.write_text("-61.0 14.6 3\n-61.0001 14.6 4\n-61.0021 14.6 5\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="1 points share a lattice cell"):
        CoastalTerrain.from_srtm_xyz(bad)
