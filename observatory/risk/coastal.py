"""Coastal flooding of Martinique: storm surge from wind and sea-level rise, as a bathtub on SRTM 250 m.

The model, for a still-water level made of a storm surge and a sea-level rise:

1. Surge at the coast from the 1-min sustained 10-m wind (m/s) by Xu's (2010) linear fit to
   pre-run SLOSH surges, as CLIMADA's ``TCSurgeBathtub`` uses it:
   surge = 0.1023 × max(wind − 26.8224, 0) + 1.8288 m (26.8224 m/s = 60 mph, 1.8288 m = 6 ft).
   Like CLIMADA (which applies it only where the storm's wind reaches the tropical-storm
   threshold of 17.5 m/s), no surge is set below that wind. The fit comes from the wide, shallow
   US Atlantic and Gulf shelves; Martinique's narrow shelf and steep slopes give lower surges, so
   this is an upper estimate.
2. Inland decay of the surge by 0.2 m per km from the coast (CLIMADA's default, taken from
   Pielke & Pielke 1997, section 5.2.1). Sea-level rise does not decay: it raises the mean sea.
3. Sea-level rise: IPCC AR6 WG1 global-mean medians relative to 1995–2014 (Fox-Kemper et al. 2021,
   table 9.9; SPM B.5.3). Regional departures and vertical land motion are not included.
4. Bathtub with connectivity: the SRTM file holds land cells only, on a regular 7.5″ lattice
   (coordinates printed to 4 decimals, snapped back to the lattice here); every lattice position
   absent from the file, and the frame around it, is sea. A land cell is flooded when its
   ground lies below the local water level AND it is joined to the sea through flooded cells
   (4-neighbour connectivity, so that water does not leak through diagonal gaps). Low ground
   behind higher ground stays dry. This replaces the cruder "within X km of the coast" rule.
5. Distance to the coast (for the decay) is the distance from a cell's centre to the nearest sea
   cell's centre, less half a cell, on the lattice in metres (EPSG:5490 cell sizes).

SRTM heights are whole metres, so exposure moves in steps: every level in (0, 1] m floods the
same cells, which is why sea-level-rise scenarios of 0.2 and 0.77 m give the same figure alone.
The data hold 25 points below 0 m (down to −14 m) and 13 at exactly 0 m: SRTM artefacts over
water, mangroves and harbour edges, not real depressions. Negative elevations are taken as 0 m
(mean sea level) and kept in ``z_raw_m``; with no surge and no sea-level rise nothing is flooded,
since flooding needs ground strictly below the water.

Each point stands for its 7.5″ × 7.5″ cell, whose area is computed in EPSG:5490 (about 0.052
km²). Exposure per commune: each point takes the commune holding it (the nearest one for points
outside the simplified boundaries), and the commune's population is spread uniformly over its
points' area, so ``population_exposed = population × flooded area / commune area``. That
understates exposure where towns crowd the shore (Fort-de-France, Le Lamentin), and the 230 m
SRTM smooths away narrow beaches and quays: read the figures as orders of magnitude.

References
- Xu, L., 2010: A simple coastline storm surge model based on pre-run SLOSH outputs. 29th Conf.
  on Hurricanes and Tropical Meteorology, Tucson, AMS, fig. 2.
  https://ams.confex.com/ams/pdfpapers/168806.pdf
- CLIMADA petals, ``climada_petals/hazard/tc_surge_bathtub.py`` (``TCSurgeBathtub.from_tc_winds``).
- Pielke, R. A. Jr. and R. A. Pielke Sr., 1997: Hurricanes: their nature and impacts on society.
  Wiley, section 5.2.1.
- Fox-Kemper, B. et al., 2021: Ocean, cryosphere and sea level change. In: Climate Change 2021:
  The Physical Science Basis, IPCC AR6 WG1, chapter 9, table 9.9.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
from scipy import ndimage

from observatory.config import Settings
from observatory.errors import DataFormatError, ParameterError, did_you_mean
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS

# Xu (2010) via CLIMADA TCSurgeBathtub: surge_m = XU_SLOPE * max(wind - XU_WIND0, 0) + XU_SURGE0
XU_SLOPE_S = 0.1023  # m of surge per m/s of wind
XU_WIND0_MS = 26.8224  # 60 mph
XU_SURGE0_M = 1.8288  # 6 ft
SURGE_WIND_THRESHOLD_MS = 17.5  # CLIMADA TropCyclone intensity threshold: no surge below it
INLAND_DECAY_M_PER_KM = 0.2  # Pielke & Pielke (1997) 5.2.1, CLIMADA's default

# IPCC AR6 WG1 table 9.9: GMSL rise (m, median) relative to 1995–2014.
SEA_LEVEL_RISE_M: dict[str, dict[int, float]] = {
    "SSP1-1.9": {2050: 0.18, 2100: 0.38},
    "SSP1-2.6": {2050: 0.19, 2100: 0.44},
    "SSP2-4.5": {2050: 0.20, 2100: 0.56},
    "SSP3-7.0": {2050: 0.22, 2100: 0.68},
    "SSP5-8.5": {2050: 0.23, 2100: 0.77},
}

SRTM_STEP_DEG = 7.5 / 3600.0  # 7.5 arc-seconds, the CGIAR-CSI 250 m product's spacing
_SNAP_TOLERANCE = 0.25  # of a cell: 4-decimal rounding moves a point by at most 0.03 cell
_FOUR_NEIGHBOURS = ndimage.generate_binary_structure(2, 1)


def surge_from_wind_m(wind_ms) -> np.ndarray:
    """Coastal storm surge (m) from the 1-min sustained 10-m wind (m/s), Xu (2010) as in CLIMADA;
    0 below the tropical-storm threshold of 17.5 m/s."""
    wind = np.asarray(wind_ms, dtype=float)
    if np.any(~np.isfinite(wind)) or np.any(wind < 0):
        raise ParameterError("wind speeds must be finite and non-negative", parameter="wind_ms")
    surge = XU_SLOPE_S * np.maximum(wind - XU_WIND0_MS, 0.0) + XU_SURGE0_M
    return np.where(wind >= SURGE_WIND_THRESHOLD_MS, surge, 0.0)


def sea_level_rise_m(scenario: str, year: int) -> float:
    """IPCC AR6 median global-mean sea-level rise (m, relative to 1995–2014) for an SSP and 2050/2100."""
    if scenario not in SEA_LEVEL_RISE_M:
        raise ParameterError(
            f"no sea-level scenario {scenario!r}",
            parameter="scenario",
            hint=did_you_mean(scenario, SEA_LEVEL_RISE_M),
        )
    years = SEA_LEVEL_RISE_M[scenario]
    if year not in years:
        raise ParameterError(f"no figure for {year}", parameter="year", hint=f"Use one of {sorted(years)}.")
    return years[year]


def read_srtm_xyz(path: str | Path) -> np.ndarray:
    """The SRTM points file as an (n, 3) array lon, lat, z_m; DataFormatError naming the line otherwise."""
    path = Path(path)
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                if len(fields) != 3:
                    raise ValueError(f"{len(fields)} fields where 3 (lon lat z) are expected")
                rows.append([float(v) for v in fields])
            except ValueError as exc:
                raise DataFormatError(f"unreadable elevation point: {exc}", path=path, line=line_no) from exc
    if not rows:
        raise DataFormatError("no elevation point", path=path)
    return np.asarray(rows, dtype=float)


@dataclass(frozen=True)
class CoastalTerrain:
    """SRTM land cells on their lattice. ``points`` columns: lon, lat, z_raw_m, z_m (negative set
    to 0), area_km2 (cell area in EPSG:5490), coast_km (distance inland), insee, row, col.
    ``sea`` is the lattice mask of sea cells (True), padded by one cell of sea all around."""

    points: pd.DataFrame
    sea: np.ndarray

    @classmethod
    def from_srtm_xyz(cls, path: str | Path, communes: pd.DataFrame | None = None) -> CoastalTerrain:
        """Terrain from the 'lon lat z' points file; ``communes`` (insee, geometry) tags each point
        with its commune, nearest for points outside every polygon."""
        xyz = read_srtm_xyz(path)
        lon, lat, z = xyz.T
        col_f = (lon - lon.min()) / SRTM_STEP_DEG
        row_f = (lat - lat.min()) / SRTM_STEP_DEG
        col, row = np.rint(col_f).astype(int) + 1, np.rint(row_f).astype(int) + 1  # +1: sea frame
        off = max(np.abs(col_f + 1 - col).max(), np.abs(row_f + 1 - row).max())
        if off > _SNAP_TOLERANCE:
            raise DataFormatError(
                f"points are {off:.2f} cell off the 7.5-arc-second lattice",
                path=path,
                hint="Expected CGIAR SRTM 250 m.",
            )
        land = np.zeros((row.max() + 2, col.max() + 2), dtype=bool)
        land[row, col] = True
        if land.sum() != len(row):
            raise DataFormatError(f"{len(row) - land.sum()} points share a lattice cell", path=path)
        points = pd.DataFrame({"lon": lon, "lat": lat, "z_raw_m": z, "z_m": np.maximum(z, 0.0)})
        points["row"], points["col"] = row, col
        points["area_km2"] = _cell_area_km2(lon, lat)
        points["coast_km"] = _distance_to_sea_km(~land, lat.mean())[row, col]
        if communes is not None:
            points["insee"] = _commune_of(points, communes)
        return cls(points=points, sea=~land)

    @classmethod
    def for_island(cls, config: Settings | None = None) -> CoastalTerrain:
        """Terrain from the registry's 'srtm250' file, tagged with the 34 communes."""
        from observatory.territory.communes import communes
        from observatory.territory.registry import fetch

        return cls.from_srtm_xyz(fetch("srtm250", config), communes(config))

    def water_level_m(
        self,
        surge_m: float | Mapping[str, float] | pd.Series = 0.0,
        slr_m: float = 0.0,
        decay_m_per_km: float = INLAND_DECAY_M_PER_KM,
    ) -> np.ndarray:
        """Still-water level (m) over each point: slr_m + max(surge − decay × coast_km, 0). ``surge_m``
        is one value for the whole coast or one per commune (a mapping or Series by INSEE code)."""
        _check_level("slr_m", slr_m, allow_negative=True)
        _check_level("decay_m_per_km", decay_m_per_km)
        surge = self._surge_per_point(surge_m)
        return slr_m + np.maximum(surge - decay_m_per_km * self.points["coast_km"].to_numpy(), 0.0)

    def flooded(
        self,
        surge_m: float | Mapping[str, float] | pd.Series = 0.0,
        slr_m: float = 0.0,
        decay_m_per_km: float = INLAND_DECAY_M_PER_KM,
    ) -> np.ndarray:
        """Boolean per point: ground strictly below the water level and joined to the sea."""
        level = self.water_level_m(surge_m, slr_m, decay_m_per_km)
        wet = self.sea.copy()
        below = self.points["z_m"].to_numpy() < level
        rows, cols = self.points["row"].to_numpy(), self.points["col"].to_numpy()
        wet[rows[below], cols[below]] = True
        labels, _ = ndimage.label(wet, structure=_FOUR_NEIGHBOURS)
        sea_labels = np.unique(labels[self.sea])
        return below & np.isin(labels[rows, cols], sea_labels)

    def exposure(
        self,
        population: pd.DataFrame,
        surge_m: float | Mapping[str, float] | pd.Series = 0.0,
        slr_m: float = 0.0,
        decay_m_per_km: float = INLAND_DECAY_M_PER_KM,
    ) -> pd.DataFrame:
        """Flooded area and exposed population per commune: insee, name, area_km2 (the commune's SRTM
        cells), low_lying_km2, share (of the area), population, population_exposed. ``population``
        gives insee, name, population; the population is spread uniformly over the commune's cells."""
        self._require_communes()
        wet = self.flooded(surge_m, slr_m, decay_m_per_km)
        cells = pd.DataFrame({"insee": self.points["insee"], "area_km2": self.points["area_km2"]})
        cells["low_lying_km2"] = np.where(wet, cells["area_km2"], 0.0)
        sums = cells.groupby("insee")[["area_km2", "low_lying_km2"]].sum()
        frame = population[["insee", "name", "population"]].join(sums, on="insee")
        frame[["area_km2", "low_lying_km2"]] = frame[["area_km2", "low_lying_km2"]].fillna(0.0)
        frame["share"] = (frame["low_lying_km2"] / frame["area_km2"]).where(frame["area_km2"] > 0, 0.0)
        frame["population_exposed"] = frame["population"] * frame["share"]
        columns = ["insee", "name", "area_km2", "low_lying_km2", "share", "population", "population_exposed"]
        return frame[columns].reset_index(drop=True)

    def _require_communes(self) -> None:
        if "insee" not in self.points.columns:
            raise ParameterError(
                "the terrain was built without communes",
                parameter="communes",
                hint="Build it with CoastalTerrain.from_srtm_xyz(path, communes()) or for_island().",
            )

    def _surge_per_point(self, surge_m) -> np.ndarray | float:
        if np.isscalar(surge_m):
            _check_level("surge_m", surge_m)
            return float(surge_m)
        self._require_communes()
        table = pd.Series(surge_m, dtype=float)
        missing = sorted(set(self.points["insee"]) - set(table.index))
        if missing:
            raise ParameterError(
                f"no surge for communes {missing[:5]}{'...' if len(missing) > 5 else ''}",
                parameter="surge_m",
                hint="Give a surge for every INSEE code, or one value for the whole coast.",
            )
        if np.any(~np.isfinite(table.to_numpy())) or np.any(table.to_numpy() < 0):
            raise ParameterError("surges must be finite and non-negative", parameter="surge_m")
        return self.points["insee"].map(table).to_numpy(dtype=float)


def _check_level(name: str, value: float, allow_negative: bool = False) -> None:
    if not np.isfinite(value) or (value < 0 and not allow_negative):
        raise ParameterError(
            f"{name} = {value}", parameter=name, hint="Give a finite, non-negative value in m."
        )


def _cell_area_km2(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Area (km²) of the 7.5″ cell centred on each point, its four corners projected to EPSG:5490."""
    to_metric = pyproj.Transformer.from_crs(STORAGE_CRS, METRIC_CRS, always_xy=True)
    h = SRTM_STEP_DEG / 2
    corners = [(-h, -h), (h, -h), (h, h), (-h, h)]
    xs, ys = zip(*(to_metric.transform(lon + dx, lat + dy) for dx, dy in corners), strict=True)
    x, y = np.array(xs), np.array(ys)
    shoelace = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=0) - np.roll(x, -1, axis=0) * y, axis=0))
    return shoelace / 1e6


def _distance_to_sea_km(sea: np.ndarray, lat_deg: float) -> np.ndarray:
    """Distance (km) from each lattice cell's centre to the nearest sea cell's centre, less half a
    cell (≈ the coastline between them), floored at 0; cell sizes in metres at ``lat_deg``."""
    geod = pyproj.Geod(ellps="GRS80")
    _, _, dy_m = geod.inv(0.0, lat_deg, 0.0, lat_deg + SRTM_STEP_DEG)
    _, _, dx_m = geod.inv(0.0, lat_deg, SRTM_STEP_DEG, lat_deg)
    distance_m = ndimage.distance_transform_edt(~sea, sampling=(dy_m, dx_m))
    return np.maximum(distance_m - min(dx_m, dy_m) / 2, 0.0) / 1000.0


def _commune_of(points: pd.DataFrame, communes: pd.DataFrame) -> np.ndarray:
    """INSEE code of the commune holding each point; the nearest commune for points outside every
    (simplified) polygon, about 6 % of them, all on the shore."""
    import geopandas as gpd

    shapes = gpd.GeoDataFrame(communes[["insee"]], geometry=communes.geometry, crs=communes.crs)
    shapes = shapes.to_crs(METRIC_CRS)
    located = gpd.GeoDataFrame(geometry=gpd.points_from_xy(points["lon"], points["lat"]), crs=STORAGE_CRS)
    located = located.to_crs(METRIC_CRS)
    inside = gpd.sjoin(located, shapes, how="inner", predicate="within")
    inside = inside[~inside.index.duplicated()]  # a point on a shared border: the first commune
    insee = inside["insee"].reindex(located.index)
    outside = located[insee.isna()]
    if len(outside):
        nearest = gpd.sjoin_nearest(outside, shapes, how="left")
        insee[outside.index] = nearest[~nearest.index.duplicated()]["insee"]
    return insee.to_numpy()


def scenario_exposure(
    terrain: CoastalTerrain,
    population: pd.DataFrame,
    surges_m: tuple[float, ...] = (0.0, 1.0, 2.0, 3.0),
    sea_level: tuple[tuple[str, int], ...] = (("SSP2-4.5", 2050), ("SSP1-2.6", 2100), ("SSP5-8.5", 2100)),
) -> pd.DataFrame:
    """Island totals for a grid of scenarios: surge_m, slr_scenario ('none' or SSP-year), slr_m,
    low_lying_km2, population_exposed."""
    rows = []
    levels = [("none", 0.0)] + [(f"{s} {y}", sea_level_rise_m(s, y)) for s, y in sea_level]
    for surge in surges_m:
        for label, slr in levels:
            table = terrain.exposure(population, surge_m=surge, slr_m=slr)
            rows.append(
                {
                    "surge_m": surge,
                    "slr_scenario": label,
                    "slr_m": slr,
                    "low_lying_km2": table["low_lying_km2"].sum(),
                    "population_exposed": table["population_exposed"].sum(),
                }
            )
    return pd.DataFrame(rows)
