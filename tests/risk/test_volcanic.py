"""Montagne Pelée zoning: the northern communes lie in the highest zones, the south in none, and an
official layer read from GeoJSON or PostGIS takes the place of the distance proxy."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from observatory.errors import DataFormatError, ParameterError, ServiceError
from observatory.risk.volcanic import NO_ZONE, SUMMIT_LAT, SUMMIT_LON, VolcanicZoning
from observatory.territory.communes import communes
from observatory.territory.grid import Grid

SAINT_PIERRE, PRECHEUR, AJOUPA_BOUILLON, BASSE_POINTE, MORNE_ROUGE = (
    "97225",
    "97219",
    "97201",
    "97203",
    "97218",
)
SAINTE_ANNE, LE_MARIN = "97226", "97217"
# The communes of the 1902 and 1929–32 eruptions' reach, on the flanks of Pelée.
NORTHERN = (SAINT_PIERRE, PRECHEUR, AJOUPA_BOUILLON, BASSE_POINTE, MORNE_ROUGE)


@pytest.fixture(scope="module")
def grid() -> Grid:
    return Grid.for_island()


@pytest.fixture(scope="module")
def shapes() -> gpd.GeoDataFrame:
    return communes()


@pytest.fixture(scope="module")
def proxy() -> VolcanicZoning:
    return VolcanicZoning.from_distance()


@pytest.fixture(scope="module")
def by_commune(proxy, grid, shapes) -> pd.DataFrame:
    return proxy.per_commune(grid.cells, grid.cell_m, shapes)


def _share(table: pd.DataFrame, insee: str, zone: str) -> float:
    return float(table[(table["insee"] == insee) & (table["zone"] == zone)]["share"].iloc[0])


def test_northern_communes_lie_partly_in_the_highest_zone(by_commune):
    for insee in NORTHERN:
        assert _share(by_commune, insee, "rouge") > 0.5, insee
    # Saint-Pierre, destroyed in 1902 about 7 km from the summit, is almost wholly in the red zone.
    assert _share(by_commune, SAINT_PIERRE, "rouge") > 0.9


def test_the_south_is_in_no_zone(by_commune):
    for insee in (SAINTE_ANNE, LE_MARIN):
        assert _share(by_commune, insee, NO_ZONE) == 1.0


def test_shares_sum_to_one_and_population_to_the_commune_total(by_commune, shapes):
    sums = by_commune.groupby("insee")[["share", "population"]].sum()
    assert np.allclose(sums["share"], 1.0)
    population = shapes.set_index("insee")["population"]
    assert np.allclose(sums["population"], population.reindex(sums.index))
    assert set(by_commune["zone"]) == {NO_ZONE, "jaune", "orange", "rouge"}
    assert len(by_commune) == 34 * 4


def test_cells_take_the_band_of_their_distance(proxy, grid):
    cells = proxy.per_cell(grid.cells)
    expected = np.select(
        [cells["distance_km"] <= 8, cells["distance_km"] <= 12, cells["distance_km"] <= 20], [3, 2, 1], 0
    )
    near_edge = np.min(np.abs(cells["distance_km"].to_numpy()[:, None] - [8, 12, 20]), axis=1) < 0.01
    assert (cells["level"].to_numpy() == expected)[~near_edge].all()
    assert (cells["level"] > 0).sum() / len(cells) == pytest.approx(0.41, abs=0.02)


def test_bad_bands_are_refused():
    with pytest.raises(ParameterError, match="bands_km"):
        VolcanicZoning.from_distance((("a", 5.0), ("b", 10.0)))
    with pytest.raises(ParameterError, match="bands_km"):
        VolcanicZoning.from_distance((("a", 10.0), ("a", 5.0)))


def _official_layer() -> gpd.GeoDataFrame:
    """A small made-up 'official' layer: a 'fort' polygon on Saint-Pierre's town, inside a 'moyen' one."""
    town = shapely.Point(-61.177, 14.745).buffer(0.01)
    flank = shapely.Point(SUMMIT_LON, SUMMIT_LAT).buffer(0.08)
    return gpd.GeoDataFrame({"alea": ["moyen", "fort"]}, geometry=[flank, town], crs="EPSG:4326")


def _check_official(zoning: VolcanicZoning, grid: Grid, shapes) -> None:
    assert zoning.order == ("moyen", "fort")
    cells = zoning.per_cell(grid.cells)
    assert set(cells["zone"]) == {NO_ZONE, "moyen", "fort"}
    # Where the two overlap, the more hazardous wins.
    assert (cells["zone"] == "fort").sum() > 0
    table = zoning.per_commune(grid.cells, grid.cell_m, shapes)
    assert _share(table, SAINT_PIERRE, "fort") > 0 and _share(table, SAINTE_ANNE, NO_ZONE) == 1.0


def test_official_zoning_from_geojson(tmp_path, grid, shapes):
    path = tmp_path / "alea_volcan.geojson"
    _official_layer().to_file(path, driver="GeoJSON")
    _check_official(VolcanicZoning.from_geojson(path, "alea", order=("moyen", "fort")), grid, shapes)
    with pytest.raises(ParameterError, match="Did you mean 'alea'"):
        VolcanicZoning.from_geojson(path, "aléa")
    with pytest.raises(ParameterError, match="parameter 'order'"):
        VolcanicZoning.from_geojson(path, "alea", order=("faible", "fort"))
    with pytest.raises(DataFormatError, match="no such file"):
        VolcanicZoning.from_geojson(tmp_path / "missing.geojson", "alea")


def test_official_zoning_from_postgis(postgres, grid, shapes):
    import psycopg

    layer = _official_layer()
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS zonage_volcan")
        conn.execute(
            "CREATE TABLE zonage_volcan (id serial PRIMARY KEY, alea text, geom geometry(Polygon, 4326))"
        )
        for zone, geometry in zip(layer["alea"], layer.geometry, strict=True):
            conn.execute(
                "INSERT INTO zonage_volcan (alea, geom) VALUES (%s, ST_GeomFromText(%s, 4326))",
                (zone, geometry.wkt),
            )
    zoning = VolcanicZoning.from_postgis(
        postgres.dsn, "public.zonage_volcan", "alea", order=("moyen", "fort")
    )
    _check_official(zoning, grid, shapes)
    assert zoning.source == "PostGIS table public.zonage_volcan"
    with pytest.raises(ParameterError, match="Did you mean 'zonage_volcan'"):
        VolcanicZoning.from_postgis(postgres.dsn, "zonage_volcn", "alea")
    with pytest.raises(ParameterError, match="Did you mean 'alea'"):
        VolcanicZoning.from_postgis(postgres.dsn, "zonage_volcan", "aleas")


def test_unreachable_postgis_is_a_service_error():
    with pytest.raises(ServiceError, match="parameter 'dsn'"):
        VolcanicZoning.from_postgis("postgresql://nobody@127.0.0.1:1/none", "zonage", "alea")
