"""The analysis grid: square cells in RGAF09 / UTM 20N over the island, each tagged with its commune.

A regular metric grid (rather than H3) keeps cells equal in area (exposure sums stay exact),
aligns with the national 200 m / 1 km INSEE grids, and makes cell ids readable (``E{x}N{y}``).
The default 500 m cell gives about 4,500 land cells: finer than the 230 m SRTM points would
support for flooding only in detail, coarse enough to run every historic storm in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from observatory.config import Settings
from observatory.errors import ParameterError
from observatory.territory.communes import communes, island
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS

DEFAULT_CELL_M = 500.0
_MIN_CELL_M = 50.0  # finer than this gives millions of cells with no data to fill them


@dataclass(frozen=True)
class Grid:
    """Cells of ``cell_m`` metres whose centre lies on land, with their commune.

    ``cells`` columns: cell_id, x_m, y_m (centre, EPSG:5490), lon, lat (centre, EPSG:4326),
    insee, geometry (the square cell, EPSG:4326).
    """

    cell_m: float
    cells: gpd.GeoDataFrame

    @classmethod
    def from_bounds(
        cls,
        bounds_m: tuple[float, float, float, float],
        cell_m: float,
        land: gpd.GeoDataFrame,
    ) -> Grid:
        """Grid over ``bounds_m`` (xmin, ymin, xmax, ymax in EPSG:5490), keeping cells whose centre
        falls in a polygon of ``land`` (GeoDataFrame with an ``insee`` column, any CRS)."""
        if not np.isfinite(cell_m) or cell_m < _MIN_CELL_M:
            raise ParameterError(
                f"cell size {cell_m} m is below {_MIN_CELL_M} m", parameter="cell_m", hint="Use 100–1000 m."
            )
        xmin, ymin, xmax, ymax = (np.floor(b / cell_m) * cell_m for b in bounds_m)
        xs = np.arange(xmin, xmax + cell_m, cell_m) + cell_m / 2
        ys = np.arange(ymin, ymax + cell_m, cell_m) + cell_m / 2
        gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
        centres = gpd.GeoDataFrame(
            {"x_m": gx, "y_m": gy}, geometry=gpd.points_from_xy(gx, gy), crs=METRIC_CRS
        )
        land_m = land[["insee", "geometry"]].to_crs(METRIC_CRS)
        joined = gpd.sjoin(centres, land_m, how="inner", predicate="within").drop(columns="index_right")
        joined = joined[~joined.index.duplicated()].sort_values(["y_m", "x_m"])
        half = cell_m / 2
        squares = shapely.box(joined.x_m - half, joined.y_m - half, joined.x_m + half, joined.y_m + half)
        lonlat = joined.geometry.to_crs(STORAGE_CRS)
        cells = gpd.GeoDataFrame(
            {
                "cell_id": [
                    f"E{int(x - half)}N{int(y - half)}" for x, y in zip(joined.x_m, joined.y_m, strict=True)
                ],
                "x_m": joined.x_m.to_numpy(),
                "y_m": joined.y_m.to_numpy(),
                "lon": lonlat.x.to_numpy(),
                "lat": lonlat.y.to_numpy(),
                "insee": joined.insee.to_numpy(),
            },
            geometry=gpd.GeoSeries(squares, crs=METRIC_CRS).to_crs(STORAGE_CRS).to_numpy(),
            crs=STORAGE_CRS,
        )
        return cls(cell_m=float(cell_m), cells=cells.reset_index(drop=True))

    @classmethod
    def for_island(cls, cell_m: float = DEFAULT_CELL_M, config: Settings | None = None) -> Grid:
        """The analysis grid over Martinique: land cells, each with the commune holding its centre.

        A centre on the island outline but outside every (simplified) commune polygon is given
        the nearest commune, so that no land cell is left without one.
        """
        shapes = communes(config)
        outline = island(config).to_crs(METRIC_CRS)
        outline["insee"] = ""
        grid = cls.from_bounds(tuple(outline.total_bounds), cell_m, outline)
        cells = grid.cells.drop(columns="insee")
        centres = gpd.GeoDataFrame(geometry=gpd.points_from_xy(cells.x_m, cells.y_m), crs=METRIC_CRS)
        nearest = gpd.sjoin_nearest(centres, shapes[["insee", "geometry"]].to_crs(METRIC_CRS), how="left")
        nearest = nearest[~nearest.index.duplicated()]
        cells.insert(5, "insee", nearest["insee"].to_numpy())
        return cls(cell_m=grid.cell_m, cells=cells)

    def __len__(self) -> int:
        return len(self.cells)
