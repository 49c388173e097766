"""Maps of the communes drawn from their polygons, with no tile server behind them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import geoviews as gv
import geoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh plotting classes)
import holoviews as hv

from observatory.i18n import t

# Colour-blind-safe sequential palette (viridis family; Crameri/Nuñez et al. 2018 'cividis').
SEQUENTIAL_CMAP = "cividis"
# Hazard intensity, light to dark red (ColorBrewer YlOrRd, colour-blind safe; Harrower & Brewer 2003).
HAZARD_CMAP = "YlOrRd"
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
    others = [
        (c, t(_label_key(c), language)) for c in ("population", "area_km2", "density_per_km2") if c != value
    ]
    return choropleth(
        shown,
        value,
        label=t(_label_key(value), language),
        title=t("map_title", language),
        language=language,
        hover=others,
        formats=_NUMBER_FORMATS,
        tiles=tiles,
        width=width,
        height=height,
    )


def choropleth(
    frame: gpd.GeoDataFrame,
    value: str,
    *,
    label: str,
    title: str,
    language: str = "fr",
    hover: Sequence[tuple[str, str]] = (),
    formats: Mapping[str, str] | None = None,
    cmap: str = SEQUENTIAL_CMAP,
    clim: tuple[float, float] | None = None,
    tiles: str | None = None,
    width: int = 720,
    height: int = 640,
) -> hv.Overlay | gv.Polygons:
    """A choropleth of any numeric column ``value`` (shown as ``label``) over commune polygons.

    ``frame`` holds insee, name, geometry (EPSG:4326) and the columns named in ``value`` and
    ``hover`` ((column, label) pairs shown after the value); ``formats`` gives Bokeh number
    formats per column (e.g. ``{0,0.0}``); ``clim`` fixes the colour range so that maps of the
    same quantity compare; communes without a value are drawn grey.
    """
    formats = dict(formats or {})
    hover = [(c, text) for c, text in hover if c != value]
    shown = frame[["insee", "name", value, *[c for c, _ in hover], "geometry"]]
    vdims = [
        hv.Dimension(value, label=label),
        hv.Dimension("name", label=t("commune", language)),
        hv.Dimension("insee", label=t("insee_code", language)),
        *[hv.Dimension(c, label=text) for c, text in hover],
    ]
    tooltips = [(d.label, f"@{{{d.name}}}" + formats.get(d.name, "")) for d in vdims[1:]]
    tooltips.insert(2, (vdims[0].label, f"@{{{value}}}" + formats.get(value, "")))
    polygons = gv.Polygons(shown, vdims=vdims).opts(
        color=value,
        cmap=cmap,
        colorbar=True,
        clabel=label,
        line_color="white",
        line_width=0.8,
        tools=[_hover(tooltips), "tap"],
        width=width,
        height=height,
        title=title,
        xaxis=None,
        yaxis=None,
        active_tools=["wheel_zoom"],
        toolbar="above",
    )
    if clim is not None:
        polygons = polygons.opts(clim=clim)
    if tiles:
        return gv.WMTS(tiles) * polygons
    return polygons


def _label_key(column: str) -> str:
    return {"density_per_km2": "density"}.get(column, column)


def _hover(tooltips: list[tuple[str, str]]):
    from bokeh.models import HoverTool

    return HoverTool(tooltips=tooltips)
