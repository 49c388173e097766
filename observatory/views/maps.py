"""Maps of the communes drawn from their polygons, with no tile server behind them."""

from __future__ import annotations

import geopandas as gpd
import geoviews as gv
import geoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh plotting classes)
import holoviews as hv

from observatory.i18n import t

# Colour-blind-safe sequential palette (viridis family; Crameri/Nuñez et al. 2018 'cividis').
SEQUENTIAL_CMAP = "cividis"
_NUMBER_FORMATS = {"population": "{0,0}", "area_km2": "{0,0.0}", "density_per_km2": "{0,0}"}


def commune_choropleth(
    frame: gpd.GeoDataFrame,
    value: str = "density_per_km2",
    language: str = "fr",
    tiles: str | None = None,
    width: int = 720,
    height: int = 640,
) -> hv.Overlay | gv.Polygons:
    """A choropleth of ``value`` over the commune polygons, with hover name, INSEE code,
    population, area and density labelled in ``language``.

    The commune polygons are the base map; ``tiles`` may name an XYZ tile URL (served
    locally or by a sovereign tile server) to draw underneath.
    """
    shown = frame[["insee", "name", "population", "area_km2", "density_per_km2", "geometry"]]
    vdims = [
        hv.Dimension(value, label=t(_label_key(value), language)),
        hv.Dimension("name", label=t("commune", language)),
        hv.Dimension("insee", label=t("insee_code", language)),
        *[
            hv.Dimension(c, label=t(_label_key(c), language))
            for c in ("population", "area_km2", "density_per_km2")
            if c != value
        ],
    ]
    tooltips = [(d.label, f"@{{{d.name}}}" + _NUMBER_FORMATS.get(d.name, "")) for d in vdims[1:]]
    tooltips.insert(2, (vdims[0].label, f"@{{{value}}}" + _NUMBER_FORMATS.get(value, "")))
    polygons = gv.Polygons(shown, vdims=vdims).opts(
        color=value,
        cmap=SEQUENTIAL_CMAP,
        colorbar=True,
        clabel=vdims[0].label,
        line_color="white",
        line_width=0.8,
        tools=[_hover(tooltips), "tap"],
        width=width,
        height=height,
        title=t("map_title", language),
        xaxis=None,
        yaxis=None,
        active_tools=["wheel_zoom"],
        toolbar="above",
    )
    if tiles:
        return gv.WMTS(tiles) * polygons
    return polygons


def _label_key(column: str) -> str:
    return {"density_per_km2": "density"}.get(column, column)


def _hover(tooltips: list[tuple[str, str]]):
    from bokeh.models import HoverTool

    return HoverTool(tooltips=tooltips)
