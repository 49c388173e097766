"""Montagne Pelée volcanic hazard zoning: zones per analysis-grid cell and per commune.

A zoning is a set of polygons, each carrying a zone name, and the order of the zones from the
least to the most hazardous. It comes either from an official layer (``from_geojson``,
``from_postgis``: e.g. the volcanic hazard map of the PPRN, DEAL Martinique, or the préfecture's
evacuation zones of the ORSEC "volcan" plan) or, when no such layer is at hand, from a distance
proxy (``from_distance``): concentric bands around the summit.

The distance proxy is NOT the official map. The official maps follow the valleys (pyroclastic
flows and lahars are channelled by them: Rivière Blanche, Rivière du Prêcheur, Rivière Sèche) and
the prevailing wind for tephra; a circle cannot. The default radii come from the reach of Pelée's
historical eruptions:

- ``rouge`` (level 3), 0–8 km: the reach of historical pyroclastic density currents. On 8 May 1902
  the nuée ardente destroyed Saint-Pierre, about 7 km SSW of the summit (Lacroix 1904); the
  1929–1932 nuées ran down the Rivière Blanche valley to the sea, about 6 km. 8 km covers both
  with a margin of about one km, inside the 5–10 km near field of the flanks.
- ``orange`` (level 2), 8–12 km: larger Holocene pyroclastic flows, lahars to the coast and
  heavy tephra fall (1.5 times the historical reach; an observatory choice, stated as such).
- ``jaune`` (level 1), 12–20 km: tephra fall and ash (2.5 times the historical reach; idem).
- ``hors zone`` (level 0): beyond 20 km.

Per commune, cells are the analysis grid's (equal areas); the share of a commune's area in a zone
is its share of cells, and its population is spread uniformly over its cells (the observatory has
no finer population layer), so the share of population in a zone equals the share of area.
That overstates exposure in forested upper slopes and understates it in the coastal towns.

References
- Smithsonian Institution Global Volcanism Program, Volcanoes of the World: Pelée, volcano
  number 360120 (summit 14.809° N, 61.165° W).
- Lacroix, A., 1904: La Montagne Pelée et ses éruptions. Masson, Paris.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from observatory.config import Settings
from observatory.errors import DataFormatError, ParameterError, ServiceError, did_you_mean
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS

SUMMIT_LON = -61.1653  # GVP 360120, Pelée (14.809 N, 61.165 W), to the 4th decimal
SUMMIT_LAT = 14.8094
SUMMIT_ELEVATION_M = 1397.0  # le Chinois, as Encyclopaedia Britannica gives it; documentation only
NO_ZONE = "hors zone"
# (zone, outer radius km), from the least to the most hazardous; see the module docstring.
DEFAULT_BANDS_KM: tuple[tuple[str, float], ...] = (("jaune", 20.0), ("orange", 12.0), ("rouge", 8.0))
_CIRCLE_QUAD_SEGMENTS = 64  # 256 vertices a circle: radius error below 0.01 %


@dataclass(frozen=True)
class VolcanicZoning:
    """Zone polygons (``zones``: zone, level, geometry in EPSG:4326) and their ``order`` from the
    least to the most hazardous (level 1 is ``order[0]``; 0 is reserved for ``hors zone``).
    ``source`` says where the zoning comes from."""

    zones: gpd.GeoDataFrame
    order: tuple[str, ...]
    source: str

    @classmethod
    def from_distance(
        cls,
        bands_km: Sequence[tuple[str, float]] = DEFAULT_BANDS_KM,
        summit: tuple[float, float] = (SUMMIT_LON, SUMMIT_LAT),
    ) -> VolcanicZoning:
        """Concentric bands around ``summit`` (lon, lat): ``bands_km`` pairs (zone, outer radius in
        km) ordered from the least to the most hazardous, radii strictly decreasing."""
        names = [name for name, _ in bands_km]
        radii = np.array([radius for _, radius in bands_km], dtype=float)
        if not names or len(set(names)) != len(names) or NO_ZONE in names:
            raise ParameterError(
                f"zone names {names}",
                parameter="bands_km",
                hint=f"Give distinct names other than {NO_ZONE!r}.",
            )
        if not (np.all(np.isfinite(radii)) and np.all(radii > 0) and np.all(np.diff(radii) < 0)):
            raise ParameterError(
                f"radii {radii.tolist()} km",
                parameter="bands_km",
                hint="Radii are positive and decrease from the least to the most hazardous zone.",
            )
        centre = gpd.GeoSeries(gpd.points_from_xy([summit[0]], [summit[1]]), crs=STORAGE_CRS).to_crs(
            METRIC_CRS
        )[0]
        discs = [centre.buffer(r * 1000.0, quad_segs=_CIRCLE_QUAD_SEGMENTS) for r in radii]
        rings = [disc.difference(inner) for disc, inner in zip(discs[:-1], discs[1:], strict=True)] + [
            discs[-1]
        ]
        zones = gpd.GeoDataFrame(
            {"zone": names, "level": np.arange(1, len(names) + 1)},
            geometry=gpd.GeoSeries(rings, crs=METRIC_CRS).to_crs(STORAGE_CRS).to_numpy(),
            crs=STORAGE_CRS,
        )
        bands = ", ".join(f"{n} <= {r:g} km" for n, r in zip(names, radii, strict=True))
        source = f"distance proxy around the summit ({summit[1]:.4f} N, {-summit[0]:.4f} W): {bands}"
        return cls(zones=zones, order=tuple(names), source=source)

    @classmethod
    def from_frame(
        cls, frame: gpd.GeoDataFrame, zone_column: str, order: Sequence[str] | None, source: str
    ) -> VolcanicZoning:
        """Zoning from polygons with a zone column; ``order`` lists the zones from the least to the
        most hazardous (default: values sorted, numerically when they all are numbers)."""
        if zone_column not in frame.columns:
            raise ParameterError(
                f"no column {zone_column!r} in {source}",
                parameter="zone_column",
                hint=did_you_mean(zone_column, [c for c in frame.columns if c != frame.geometry.name]),
            )
        if frame.crs is None:
            raise DataFormatError("the layer has no coordinate reference system", path=source)
        values = frame[zone_column].astype(str).str.strip()
        order = tuple(str(o) for o in order) if order is not None else _default_order(values.unique())
        unknown = sorted(set(values) - set(order))
        if unknown:
            raise ParameterError(
                f"zones {unknown} of {source} are not in the order {list(order)}",
                parameter="order",
                hint=did_you_mean(unknown[0], order),
            )
        zones = gpd.GeoDataFrame(
            {"zone": values.to_numpy(), "level": [order.index(v) + 1 for v in values]},
            geometry=frame.geometry.to_crs(STORAGE_CRS).to_numpy(),
            crs=STORAGE_CRS,
        )
        zones = zones[~zones.geometry.is_empty & zones.geometry.notna()].reset_index(drop=True)
        return cls(zones=zones, order=order, source=source)

    @classmethod
    def from_geojson(
        cls, path: str | Path, zone_column: str, order: Sequence[str] | None = None
    ) -> VolcanicZoning:
        """Official zoning from a GeoJSON (or any file GDAL reads) of polygons with ``zone_column``."""
        path = Path(path)
        if not path.is_file():
            raise DataFormatError("no such file", path=path, hint="Give the path of the zoning layer.")
        try:
            frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises its own DataSourceError/DataLayerError types
            raise DataFormatError(f"cannot read the layer: {exc}", path=path) from exc
        return cls.from_frame(frame, zone_column, order, source=str(path))

    @classmethod
    def from_postgis(
        cls,
        dsn: str,
        table: str,
        zone_column: str,
        order: Sequence[str] | None = None,
        geometry_column: str | None = None,
    ) -> VolcanicZoning:
        """Official zoning from a PostGIS table (``schema.table`` or ``table``), read with psycopg.

        The table must be registered in ``geometry_columns`` with an SRID; identifiers are checked
        against the catalogue, never pasted into SQL."""
        frame = _read_postgis(dsn, table, zone_column, geometry_column)
        return cls.from_frame(frame, zone_column, order, source=f"PostGIS table {table}")

    @property
    def levels(self) -> dict[str, int]:
        """Zone name -> level (``hors zone`` 0, then 1 for ``order[0]`` up to the most hazardous)."""
        return {NO_ZONE: 0, **{name: i + 1 for i, name in enumerate(self.order)}}

    def per_cell(self, cells: gpd.GeoDataFrame) -> pd.DataFrame:
        """Zone of each cell of the analysis grid (cells with cell_id, lon, lat, insee): the cell's
        centre decides; where zones overlap the most hazardous wins. Columns: cell_id, insee,
        distance_km (from the summit, for reference), zone, level."""
        centres = gpd.GeoDataFrame(
            {"cell": np.arange(len(cells))},
            geometry=gpd.points_from_xy(cells["lon"], cells["lat"]),
            crs=STORAGE_CRS,
        )
        hits = gpd.sjoin(centres, self.zones[["level", "geometry"]], how="inner", predicate="within")
        level = np.zeros(len(cells), dtype=int)
        np.maximum.at(level, hits["cell"].to_numpy(), hits["level"].to_numpy())
        names = np.array([NO_ZONE, *self.order], dtype=object)
        centres_m = centres.geometry.to_crs(METRIC_CRS)
        summit = gpd.GeoSeries(gpd.points_from_xy([SUMMIT_LON], [SUMMIT_LAT]), crs=STORAGE_CRS).to_crs(
            METRIC_CRS
        )[0]
        return pd.DataFrame(
            {
                "cell_id": cells["cell_id"].to_numpy(),
                "insee": cells["insee"].to_numpy(),
                "distance_km": shapely.distance(centres_m.to_numpy(), summit) / 1000.0,
                "zone": names[level],
                "level": level,
            }
        )

    def per_commune(self, cells: gpd.GeoDataFrame, cell_m: float, shapes: pd.DataFrame) -> pd.DataFrame:
        """Area and population of each commune in each zone, one row per (commune, zone), every zone
        listed (zeros included): insee, name, zone, level, cells, area_km2, share, population.

        ``shapes`` gives insee, name and population per commune; population is spread uniformly
        over the commune's cells, so ``population = share × commune population``."""
        zoned = self.per_cell(cells)
        counts = zoned.groupby(["insee", "level"]).size().unstack(fill_value=0)
        counts = counts.reindex(columns=range(len(self.order) + 1), fill_value=0)
        counts = counts.reindex(shapes["insee"], fill_value=0)
        totals = counts.sum(axis=1).replace(0, np.nan)  # a commune without cells gets NaN shares
        share = counts.div(totals, axis=0)
        names = [NO_ZONE, *self.order]
        long = (
            pd.DataFrame({"cells": counts.stack(), "share": share.stack()})
            .rename_axis(["insee", "level"])
            .reset_index()
        )
        long["zone"] = [names[level] for level in long["level"]]
        long["area_km2"] = long["cells"] * (cell_m / 1000.0) ** 2
        info = shapes.set_index("insee")[["name", "population"]]
        long = long.join(info, on="insee")
        long["population"] = long["share"] * long["population"]
        columns = ["insee", "name", "zone", "level", "cells", "area_km2", "share", "population"]
        return long[columns].sort_values(["insee", "level"]).reset_index(drop=True)

    def summary(self, cells: gpd.GeoDataFrame, cell_m: float, shapes: pd.DataFrame) -> pd.DataFrame:
        """One row per commune: insee, name, share_<zone> for every zone, highest_zone, and
        mean_level = population-weighted mean level over the maximum level (0–1)."""
        long = self.per_commune(cells, cell_m, shapes)
        wide = long.pivot(index="insee", columns="zone", values="share")[[NO_ZONE, *self.order]]
        wide.columns = [f"share_{c.replace(' ', '_')}" for c in wide.columns]
        long["weighted"] = long["share"] * long["level"]
        highest = long[long["cells"] > 0].groupby("insee")["level"].max()
        frame = shapes.set_index("insee")[["name"]].join(wide)
        frame["highest_zone"] = highest.reindex(frame.index).map(lambda lv: [NO_ZONE, *self.order][int(lv)])
        frame["mean_level"] = long.groupby("insee")["weighted"].sum() / len(self.order)
        return frame.reset_index()


def commune_zoning(
    zoning: VolcanicZoning | None = None, cell_m: float | None = None, config: Settings | None = None
) -> pd.DataFrame:
    """``zoning.per_commune`` on the analysis grid (default 500 m) for the 34 communes; the default
    zoning is the distance proxy ``VolcanicZoning.from_distance()``."""
    from observatory.territory.communes import communes
    from observatory.territory.grid import DEFAULT_CELL_M, Grid

    zoning = zoning or VolcanicZoning.from_distance()
    grid = Grid.for_island(cell_m or DEFAULT_CELL_M, config=config)
    return zoning.per_commune(grid.cells, grid.cell_m, communes(config))


def _default_order(values) -> tuple[str, ...]:
    try:
        return tuple(sorted(values, key=float))
    except ValueError:
        return tuple(sorted(values))


def _split_table(table: str) -> tuple[str | None, str]:
    parts = table.split(".")
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ParameterError(f"table name {table!r}", parameter="table", hint="Use 'table' or 'schema.table'.")


def _read_postgis(dsn: str, table: str, zone_column: str, geometry_column: str | None) -> gpd.GeoDataFrame:
    import psycopg
    from psycopg import sql

    schema, name = _split_table(table)
    try:
        conn = psycopg.connect(dsn, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise ServiceError(
            f"cannot connect to PostgreSQL: {exc}".strip(),
            parameter="dsn",
            hint="Check that the server runs and the DSN (host, port, database, user) is right.",
        ) from exc
    with conn:
        layers = conn.execute(
            "SELECT f_table_schema, f_table_name, f_geometry_column, srid FROM geometry_columns"
        ).fetchall()
        match = [row for row in layers if row[1] == name and (schema is None or row[0] == schema)]
        if geometry_column is not None:
            match = [row for row in match if row[2] == geometry_column]
        if not match:
            known = [f"{s}.{t}" for s, t, _, _ in layers] + [t for _, t, _, _ in layers]
            raise ParameterError(
                f"no PostGIS layer {table!r}"
                + (f" with geometry {geometry_column!r}" if geometry_column else ""),
                parameter="table",
                hint=did_you_mean(table, known) if known else "The database has no geometry table.",
            )
        schema, name, geom, srid = match[0]
        if not srid:
            raise DataFormatError(
                f"the geometry column {geom!r} of {schema}.{name} has no SRID",
                path=f"{schema}.{name}",
                hint="Set it, e.g. SELECT UpdateGeometrySRID(table, column, 4326).",
            )
        columns = [
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
                (schema, name),
            ).fetchall()
        ]
        if zone_column not in columns:
            raise ParameterError(
                f"no column {zone_column!r} in {schema}.{name}",
                parameter="zone_column",
                hint=did_you_mean(zone_column, [c for c in columns if c != geom]),
            )
        query = sql.SQL("SELECT {zone}::text, ST_AsBinary(ST_Transform({geom}, 4326)) FROM {table}").format(
            zone=sql.Identifier(zone_column), geom=sql.Identifier(geom), table=sql.Identifier(schema, name)
        )
        rows = conn.execute(query).fetchall()
    geometry = shapely.from_wkb([bytes(r[1]) if r[1] is not None else None for r in rows])
    return gpd.GeoDataFrame({zone_column: [r[0] for r in rows]}, geometry=geometry, crs=STORAGE_CRS)
