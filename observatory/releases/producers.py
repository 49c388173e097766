"""Python producers a catalogue entry may name (``query: {producer: NAME}``): a whitelist, never eval.

Each producer returns a Polars frame whose columns are the dataset's (geometry as WKB bytes,
EPSG:4326) and declares the warehouse tables it reads, so that the privacy gate knows whether
personal data stands behind it. Adding a dataset computed by the engines (the KPIs, say) is one
function here and one YAML file in ``catalog/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import shapely

from observatory.config import Settings
from observatory.warehouse.store import Warehouse


@dataclass(frozen=True)
class Producer:
    """A registered producer: the function and the warehouse tables it reads."""

    function: Callable[[Settings, Warehouse], pl.DataFrame]
    reads: tuple[str, ...] = ()
    description: str = ""


def _wkb(geometries) -> list[bytes]:
    return [shapely.to_wkb(g) for g in geometries]


def communes_reference(config: Settings, warehouse: Warehouse) -> pl.DataFrame:
    """The 34 communes from the reference registry: insee, name, population (2021), area_km2, geometry."""
    from observatory.territory.communes import communes

    frame = communes(config)
    return pl.DataFrame(
        {
            "insee": frame["insee"].tolist(),
            "name": frame["name"].tolist(),
            "population": frame["population"].astype("int64").tolist(),
            "area_km2": frame["area_km2"].astype(float).round(3).tolist(),
            "geometry": _wkb(frame.geometry),
        },
        schema={
            "insee": pl.String,
            "name": pl.String,
            "population": pl.Int64,
            "area_km2": pl.Float64,
            "geometry": pl.Binary,
        },
    )


def cyclone_return_periods(config: Settings, warehouse: Warehouse) -> pl.DataFrame:
    """Return-period winds per commune (m/s, 1-min sustained at 10 m, open land; HURDAT2 1851-2025)
    with the commune polygon: the zoning of observatory.risk.zoning, as the risk app shows it."""
    from observatory.risk import zoning
    from observatory.risk.cyclone import RETURN_PERIODS_YR
    from observatory.territory.communes import communes

    winds = zoning.commune_return_periods(RETURN_PERIODS_YR, config=config)
    shapes = communes(config)
    geometry = pl.DataFrame({"insee": shapes["insee"].tolist(), "geometry": _wkb(shapes.geometry)})
    return winds.join(geometry, on="insee", how="left")


def seismicity_iscgem(config: Settings, warehouse: Warehouse) -> pl.DataFrame:
    """ISC-GEM v7.0 earthquakes of the registry subset (10-19N, 65-57W): id, origin time (UTC),
    epicentre (degrees), depth (km), moment magnitude and its type."""
    from observatory.risk.seismic import Catalogue

    events = Catalogue.from_registry("iscgem", config=config).events
    return pl.DataFrame(
        {
            "event_id": events["event_id"].astype(str).tolist(),
            "origin_time_utc": events["origin_time_utc"].dt.tz_convert("UTC").dt.tz_localize(None).tolist(),
            "lat": events["lat"].tolist(),
            "lon": events["lon"].tolist(),
            "depth_km": events["depth_km"].tolist(),
            "mw": events["mag"].tolist(),
            "mw_type": events["mag_type"].tolist(),
        },
        schema={
            "event_id": pl.String,
            "origin_time_utc": pl.Datetime("us"),
            "lat": pl.Float64,
            "lon": pl.Float64,
            "depth_km": pl.Float64,
            "mw": pl.Float64,
            "mw_type": pl.String,
        },
    ).with_columns(pl.col("origin_time_utc").dt.replace_time_zone("UTC"))


PRODUCERS: dict[str, Producer] = {
    "territory.communes": Producer(communes_reference, (), "communes with population and boundaries"),
    "risk.cyclone_return_periods": Producer(cyclone_return_periods, (), "return-period winds per commune"),
    "risk.seismicity_iscgem": Producer(seismicity_iscgem, (), "ISC-GEM earthquakes around Martinique"),
}
