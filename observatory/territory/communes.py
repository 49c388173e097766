"""The 34 communes of Martinique: INSEE codes and names, 2021 population, area and boundaries."""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import pandas as pd

from observatory.config import Settings, settings
from observatory.errors import DataFormatError
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS
from observatory.territory.registry import fetch

COAST_SNAP_M = (
    2_000.0  # a point off every commune but this close (coast, harbour, islet) takes the nearest, metres
)
_POPULATION_COLUMNS = ("COM", "Commune", "PMUN", "PCAP", "PTOT")
_M2_PER_KM2 = 1e6
log = logging.getLogger(__name__)


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


def communes_at(
    lon: Sequence[float | None], lat: Sequence[float | None], config: Settings | None = None
) -> list[str | None]:
    """INSEE code of the commune holding each WGS84 point (degrees), or None.

    A point inside no commune polygon (the boundaries are simplified, so a quay or a beach may fall
    just outside) takes the nearest commune within COAST_SNAP_M; farther out it stays None, and the
    count of such points is logged as a warning. Missing coordinates give None without a warning.
    """
    wanted = [
        i
        for i, (x, y) in enumerate(zip(lon, lat, strict=True))
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]
    result: list[str | None] = [None] * len(lon)
    if not wanted:
        return result
    shapes = communes(config)[["insee", "geometry"]]
    points = gpd.GeoDataFrame(
        {"row": wanted},
        geometry=gpd.points_from_xy([lon[i] for i in wanted], [lat[i] for i in wanted]),
        crs=STORAGE_CRS,
    )
    inside = gpd.sjoin(points, shapes, how="inner", predicate="within")
    for row, insee in _first_per_row(inside):
        result[row] = insee
    outside = points[[result[i] is None for i in wanted]]
    if len(outside):
        near = gpd.sjoin_nearest(
            outside.to_crs(METRIC_CRS), shapes.to_crs(METRIC_CRS), how="inner", max_distance=COAST_SNAP_M
        )
        for row, insee in _first_per_row(near):
            result[row] = insee
    lost = sum(result[i] is None for i in wanted)
    if lost:
        log.warning(
            "%d point(s) lie more than %.0f m from every commune of Martinique: insee left null",
            lost,
            COAST_SNAP_M,
        )
    return result


def _first_per_row(joined) -> Iterator[tuple[int, str]]:
    """(row, insee) once per point; on overlapping slivers the lowest INSEE code wins, for determinism."""
    ordered = joined.sort_values(["row", "insee"])
    for row, insee in zip(ordered["row"], ordered["insee"], strict=True):
        yield int(row), str(insee)
