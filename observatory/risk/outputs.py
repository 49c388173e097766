"""Risk layers as files (GeoParquet, GeoJSON) and as PostGIS tables with their SRID (for GeoServer)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from observatory.config import Settings, settings
from observatory.errors import ParameterError
from observatory.risk import zoning
from observatory.risk.cyclone import RETURN_PERIODS_YR
from observatory.risk.volcanic import VolcanicZoning
from observatory.territory.communes import communes
from observatory.territory.crs import STORAGE_CRS

FORMATS = ("geoparquet", "geojson")
_SUFFIX = {"geoparquet": ".parquet", "geojson": ".geojson"}


def risk_layers(config: Settings | None = None) -> dict[str, gpd.GeoDataFrame]:
    """The zoning layers: ``risk_cells`` (analysis-grid cells with return-period winds and the
    volcanic zone) and ``risk_communes`` (the composite index with every component), EPSG:4326."""
    config = config or settings()
    cells = zoning.cell_return_periods(RETURN_PERIODS_YR, config=config)
    volcanic = VolcanicZoning.from_distance().per_cell(cells)[["cell_id", "zone", "level"]]
    cells = cells.merge(
        volcanic.rename(columns={"zone": "volcanic_zone", "level": "volcanic_level"}), on="cell_id"
    )
    index = zoning.commune_index(config=config).to_pandas()
    shapes = communes(config)[["insee", "area_km2", "geometry"]]
    per_commune = gpd.GeoDataFrame(shapes.merge(index, on="insee"), geometry="geometry", crs=STORAGE_CRS)
    return {"risk_cells": cells.reset_index(drop=True), "risk_communes": per_commune.sort_values("rank")}


def write_files(
    layers: dict[str, gpd.GeoDataFrame], out_dir: str | Path, formats: tuple[str, ...] = FORMATS
) -> list[Path]:
    """Write each layer in each format into ``out_dir``; returns the files written."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ParameterError(
            f"unknown format(s) {unknown}", parameter="--format", hint=f"Use {', '.join(FORMATS)}."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in layers.items():
        for fmt in formats:
            path = out / f"{name}{_SUFFIX[fmt]}"
            tmp = path.with_name(f".{path.name}.tmp")
            if fmt == "geoparquet":
                frame.to_parquet(tmp, index=False)
            else:
                frame.to_file(tmp, driver="GeoJSON", engine="pyogrio")
            tmp.replace(path)
            written.append(path)
    return written


def publish_postgis(layers: dict[str, gpd.GeoDataFrame], dsn: str, schema: str = "public") -> dict[str, int]:
    """Write each layer to a PostGIS table of the same name (SRID 4326, GiST index, primary key)."""
    from observatory.sources.postgis import write_layer

    keys = {"risk_cells": "cell_id", "risk_communes": "insee"}
    return {
        name: write_layer(frame, dsn, name, schema=schema, srid=4326, primary_key=keys.get(name))
        for name, frame in layers.items()
    }
