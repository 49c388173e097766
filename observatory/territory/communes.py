"""The 34 communes of Martinique: INSEE codes and names, 2021 population, area and boundaries."""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import pandas as pd

from observatory.config import Settings, settings
from observatory.errors import DataFormatError
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS
from observatory.territory.registry import fetch

_POPULATION_COLUMNS = ("COM", "Commune", "PMUN", "PCAP", "PTOT")
_M2_PER_KM2 = 1e6


def read_population(path: Path) -> pd.DataFrame:
    """INSEE legal populations (';'-separated): insee, name, population (PMUN), population_total (PTOT)."""
    text = path.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=";")
    missing = [c for c in _POPULATION_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DataFormatError(
            f"missing columns {missing}",
            path=path,
            line=1,
            hint="Expected the INSEE 'donnees_communes' layout.",
        )
    rows = []
    for line_no, row in enumerate(reader, start=2):
        try:
            rows.append(
                {
                    "insee": row["COM"].strip(),
                    "name": row["Commune"].strip(),
                    "population": int(row["PMUN"]),
                    "population_total": int(row["PTOT"]),
                }
            )
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"unreadable population row: {exc}", path=path, line=line_no) from exc
    return pd.DataFrame(rows)


def read_boundaries(path: Path) -> gpd.GeoDataFrame:
    """Commune polygons from the IGN-derived GeoJSON: insee, name_ign, geometry (EPSG:4326)."""
    frame = gpd.read_file(path)
    if not {"code", "nom"} <= set(frame.columns):
        raise DataFormatError("features lack the 'code' and 'nom' properties", path=path)
    frame = frame.rename(columns={"code": "insee", "nom": "name_ign"})[["insee", "name_ign", "geometry"]]
    return frame.set_crs(STORAGE_CRS, allow_override=True)


@lru_cache(maxsize=4)
def _communes_cached(reference_dir: Path, config: Settings) -> gpd.GeoDataFrame:
    shapes = read_boundaries(fetch("communes", config))
    population = read_population(fetch("population", config))
    frame = shapes.merge(population, on="insee", how="outer", indicator=True)
    orphans = frame.loc[frame["_merge"] != "both", "insee"].tolist()
    if orphans:
        raise DataFormatError(
            f"communes without both a boundary and a population: {orphans}",
            path=reference_dir,
            hint="The boundary and population files must cover the same 34 INSEE codes.",
        )
    frame = gpd.GeoDataFrame(frame.drop(columns="_merge"), geometry="geometry", crs=STORAGE_CRS)
    frame["area_km2"] = frame.geometry.to_crs(METRIC_CRS).area / _M2_PER_KM2
    frame["density_per_km2"] = frame["population"] / frame["area_km2"]
    columns = ["insee", "name", "name_ign", "population", "population_total", "area_km2", "density_per_km2"]
    return frame[[*columns, "geometry"]].sort_values("insee").reset_index(drop=True)


def communes(config: Settings | None = None) -> gpd.GeoDataFrame:
    """The 34 communes: insee, name (INSEE form, with article), population 2021 (municipal),
    population_total, area_km2 (computed in EPSG:5490), density_per_km2, geometry (EPSG:4326).

    Boundaries and populations are joined on the INSEE code (the boundary file's names lack
    articles). A copy is returned, so callers may modify it.
    """
    config = config or settings()
    return _communes_cached(config.reference_dir, config).copy()


def island(config: Settings | None = None) -> gpd.GeoDataFrame:
    """The island outline (département 972) as a one-row GeoDataFrame in EPSG:4326."""
    path = fetch("island", config or settings())
    frame = gpd.read_file(path)
    return frame.set_crs(STORAGE_CRS, allow_override=True)[["geometry"]]
