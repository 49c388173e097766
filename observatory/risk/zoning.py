"""Cyclone zoning on the analysis grid: per-cell and per-commune return-period winds and replays.

The grid is the territory's analysis grid (500 m cells in EPSG:5490, each with its commune), so
cyclone, volcanic, coastal and seismic layers line up cell for cell and commune for commune.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import polars as pl
import pyproj
import shapely

from observatory.config import Settings, settings
from observatory.errors import ParameterError
from observatory.risk.cyclone import DEFAULT_RADIUS_KM, RETURN_PERIODS_YR, CycloneHazard
from observatory.risk.hurdat2 import Tracks
from observatory.territory.communes import communes
from observatory.territory.crs import DISPLAY_TZ
from observatory.territory.grid import DEFAULT_CELL_M, Grid
from observatory.territory.registry import upstream

log = logging.getLogger(__name__)


@lru_cache(maxsize=2)
def _tracks(config: Settings) -> Tracks:
    return Tracks.from_registry(config)


@lru_cache(maxsize=4)
def _grid(cell_m: float, config: Settings) -> Grid:
    return Grid.for_island(cell_m=cell_m, config=config)


_hazard_lock = threading.Lock()


# What the hazard on the grid is computed from, beside the reference files: the code of the wind
# model, the storm selection, the grid and the zoning (any change to it gives another key).
_HAZARD_CODE = (
    "risk/wind.py",
    "risk/cyclone.py",
    "risk/hurdat2.py",
    "risk/zoning.py",
    "territory/grid.py",
    "territory/communes.py",
)
_HAZARD_FILES = ("hurdat2", "communes", "island")


@lru_cache(maxsize=1)
def hazard_key() -> str:
    """A digest (20 hex) of everything the hazard on the grid is computed from: the reference
    files' sha256, the code, the parameters and the numeric libraries' versions. Results derived
    from the hazard and kept on disk are named with it, so that none is ever stale."""
    package = Path(__file__).resolve().parents[1]
    inputs = {
        "files": {name: upstream(name).sha256 for name in _HAZARD_FILES},
        "code": {name: hashlib.sha256((package / name).read_bytes()).hexdigest() for name in _HAZARD_CODE},
        "radius_km": DEFAULT_RADIUS_KM,
        "cell_m": DEFAULT_CELL_M,
        "libraries": [
            np.__version__,
            pl.__version__,
            shapely.__version__,
            pyproj.__version__,
            gpd.__version__,
        ],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:20]


def hazard_file(config: Settings) -> Path:
    """Where the full hazard on the grid is kept between processes."""
    return config.data_dir / "cache" / "hazard" / f"cyclone-{hazard_key()}.npz"


@lru_cache(maxsize=2)
def _full_hazard(config: Settings) -> CycloneHazard:
    path = hazard_file(config)
    if path.exists():
        try:
            return CycloneHazard.load(path)
        except (OSError, ValueError) as exc:
            log.warning("computing the cyclone hazard again: %s", exc)
    hazard = cyclone_hazard(config=config)[0]
    try:
        hazard.save(path)
        for older in path.parent.glob("cyclone-*.npz"):
            if older != path:
                older.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("the cyclone hazard is not kept for the next process: %s", exc)
    return hazard


def shared_hazard(config: Settings | None = None) -> CycloneHazard:
    """Every storm near the island on every analysis-grid cell (1851–2025), computed once
    (seconds) and shared by every app session, KPI and thread that asks at the same time; kept
    in the data directory (``hazard_file``) for the next process: an ingest's KPI presets, the
    server's warm-up and the risk map then read it (0.1 s) instead."""
    with _hazard_lock:
        return _full_hazard(config or settings())


def _shared_since(since: int | None, config: Settings) -> CycloneHazard:
    full = shared_hazard(config)
    return full.since(since) if since else full


def tracks(config: Settings | None = None) -> Tracks:
    """The HURDAT2 tracks of the registry, read once per process."""
    return _tracks(config or settings())


def grid(cell_m: float = DEFAULT_CELL_M, config: Settings | None = None) -> Grid:
    """The analysis grid, built once per process and cell size."""
    return _grid(float(cell_m), config or settings())


def parse_periods(text: str | Sequence[float]) -> tuple[float, ...]:
    """Return periods from '10,25,50,100' (or a sequence): positive numbers, at least one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        periods = tuple(float(p) for p in items if str(p).strip())
    except ValueError:
        raise ParameterError(
            f"{text!r} is not a list of years", parameter="--return-periods", hint="Use e.g. 10,25,50,100."
        ) from None
    if not periods or any(not np.isfinite(p) or p <= 1 for p in periods):
        raise ParameterError(
            f"{text!r}: return periods must be numbers of years above 1",
            parameter="--return-periods",
            hint="Use e.g. 10,25,50,100.",
        )
    return periods


def cyclone_hazard(
    since: int | None = None,
    radius_km: float = DEFAULT_RADIUS_KM,
    cell_m: float = DEFAULT_CELL_M,
    config: Settings | None = None,
) -> tuple[CycloneHazard, Grid]:
    """Every storm within ``radius_km`` of the island, on each analysis-grid cell centre."""
    config = config or settings()
    cells = grid(cell_m, config).cells
    hazard = CycloneHazard.from_tracks(
        tracks(config),
        cells["lon"].to_numpy(),
        cells["lat"].to_numpy(),
        point_ids=cells["cell_id"].tolist(),
        radius_km=radius_km,
        since=since,
    )
    return hazard, grid(cell_m, config)


def _wide(levels: pl.DataFrame, key: str, value: str) -> pl.DataFrame:
    """Return levels long -> one column per period: ``wind_10yr_ms``, ``wind_25yr_ms`` ..."""
    named = levels.with_columns(
        pl.format(
            "{}_{}yr_ms", pl.lit(value.removesuffix("_ms")), pl.col("return_period_yr").cast(pl.Int64)
        ).alias("column")
    )
    wide = named.pivot(on="column", index=key, values=value, maintain_order=True)
    return wide.with_columns(pl.exclude(key).round(2))


def commune_return_periods(
    periods: Sequence[float] = RETURN_PERIODS_YR,
    since: int | None = None,
    gust: bool = False,
    hazard: CycloneHazard | None = None,
    config: Settings | None = None,
) -> pl.DataFrame:
    """One row per commune: insee, name, then the T-year wind (m/s, 1-min sustained 10 m, open
    land; or 3-s gust) for each period: the highest over the commune's cells."""
    config = config or settings()
    hazard = hazard if hazard is not None else _shared_since(since, config)
    cells = grid(config=config)
    per_commune = hazard.by_commune(cells.cells["insee"].tolist())
    levels = per_commune.return_levels(periods, gust=gust).rename({"point_id": "insee"})
    wide = _wide(levels, "insee", "gust_ms" if gust else "wind_ms")
    return _names(config).join(wide, on="insee", how="left").sort("insee")


def cell_return_periods(
    periods: Sequence[float] = RETURN_PERIODS_YR,
    since: int | None = None,
    hazard: CycloneHazard | None = None,
    config: Settings | None = None,
) -> gpd.GeoDataFrame:
    """The analysis grid with one column per period (``wind_<T>yr_ms``): the zoning map layer."""
    config = config or settings()
    hazard = hazard if hazard is not None else _shared_since(since, config)
    wide = _wide(hazard.return_levels(periods).rename({"point_id": "cell_id"}), "cell_id", "wind_ms")
    cells = grid(config=config).cells
    return cells.merge(wide.to_pandas(), on="cell_id", how="left")


def storm_replay(storm_id: str, config: Settings | None = None) -> pl.DataFrame:
    """One row per commune for one HURDAT2 storm: insee, name, storm_id, storm_name, year,
    wind_ms (peak 1-min sustained), gust_ms, time_peak_utc and time_peak_local (America/Martinique)."""
    config = config or settings()
    storm = tracks(config).storm(storm_id)
    cells = grid(config=config).cells
    hazard = CycloneHazard.from_tracks(
        storm,
        cells["lon"].to_numpy(),
        cells["lat"].to_numpy(),
        point_ids=cells["cell_id"].tolist(),
        radius_km=np.inf,
    )
    if hazard.storms.height == 0:
        raise ParameterError(f"storm {storm_id} has no fix to model", parameter="storm_id")
    peaks = hazard.by_commune(cells["insee"].tolist()).peaks()
    frame = peaks.select(
        pl.col("point_id").alias("insee"),
        "storm_id",
        pl.col("name").alias("storm_name"),
        "year",
        pl.col("wind_ms").round(2),
        pl.col("gust_ms").round(2),
        pl.col("time_peak").alias("time_peak_utc"),
        pl.col("time_peak").dt.convert_time_zone(DISPLAY_TZ).alias("time_peak_local"),
    )
    return _names(config).join(frame, on="insee", how="left").sort("insee")


def _names(config: Settings) -> pl.DataFrame:
    frame = communes(config)
    return pl.DataFrame({"insee": frame["insee"].tolist(), "name": frame["name"].tolist()})


def commune_index(
    weights: dict[str, float] | None = None,
    cyclone_period_yr: float = 100,
    since: int | None = None,
    config: Settings | None = None,
) -> pl.DataFrame:
    """The composite multi-risk index per commune (``observatory.risk.index``), with the cyclone
    hazard taken as each commune's ``cyclone_period_yr``-year wind; every component a column."""
    from observatory.risk.index import IndexWeights, composite_index, martinique_hazards

    config = config or settings()
    chosen = IndexWeights.from_dict(weights, normalise=True) if weights else IndexWeights()
    winds = commune_return_periods((cyclone_period_yr,), since=since, config=config)
    cyclone = winds.to_pandas().set_index("insee").iloc[:, -1]
    frame = composite_index(martinique_hazards(cyclone, config), chosen, config=config)
    return pl.from_pandas(frame).with_columns(pl.col(pl.Float64).round(4))


def parse_weights(text: str | None) -> dict[str, float] | None:
    """Weights from 'cyclone=0.4,seismic=0.2,...' (names checked by IndexWeights)."""
    if not text:
        return None
    weights = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise ParameterError(
                f"{item!r} is not name=number",
                parameter="--weights",
                hint="e.g. cyclone=0.4,seismic=0.2,volcanic=0.2,coastal=0.2",
            ) from None
        if not sep:
            raise ParameterError(f"{item!r} is not name=number", parameter="--weights")
    return weights
