"""The analysis grid: equal cells over the island, each with its commune."""

from __future__ import annotations

import pytest

from observatory.errors import ParameterError
from observatory.territory.communes import communes
from observatory.territory.grid import Grid


@pytest.fixture(scope="module")
def grid():
    return Grid.for_island()


def test_land_cells_cover_the_island_area(grid):
    area_km2 = len(grid) * (grid.cell_m / 1000) ** 2
    assert abs(area_km2 - communes()["area_km2"].sum()) / area_km2 < 0.02


def test_every_cell_has_a_commune_and_every_commune_has_cells(grid):
    assert grid.cells["insee"].notna().all()
    assert set(grid.cells["insee"]) == set(communes()["insee"])


def test_cell_ids_are_unique_and_name_the_lower_left_corner(grid):
    assert grid.cells["cell_id"].is_unique
    first = grid.cells.iloc[0]
    assert first["cell_id"] == f"E{int(first.x_m - 250)}N{int(first.y_m - 250)}"


def test_cell_centres_are_in_their_commune(grid):
    shapes = communes().set_index("insee")
    sample = grid.cells.iloc[:: max(1, len(grid) // 200)]
    inside = [
        shapes.geometry[row.insee].buffer(0.003).contains(row.geometry.centroid)
        for row in sample.itertuples()
    ]
    assert sum(inside) / len(inside) > 0.97


def test_a_coarser_grid_has_fewer_cells():
    assert len(Grid.for_island(cell_m=1000)) < len(Grid.for_island(cell_m=500)) / 3.5


def test_a_tiny_cell_size_is_refused():
    with pytest.raises(ParameterError, match="cell_m"):
        Grid.for_island(cell_m=1)
