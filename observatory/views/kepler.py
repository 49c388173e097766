"""KeplerGL maps that work with no network: keplergl's own bundle, served by the observatory itself.

keplergl 0.4's ``save_to_html`` loads kepler.gl, React and fonts from CDNs and renders blank
offline. Here the map is an iframe whose ``srcdoc`` page imports the package's self-contained
anywidget bundle (``widget.js``) from the server's static route ``kepler/`` (see
``observatory.cli.static_routes``) with a relative URL, so it also works under a path prefix:
an ``about:srcdoc`` document resolves relative URLs against its parent page's URL. The page
answers the bundle's ``render({model, el})`` with a small stand-in for the anywidget model,
whose values (data, config, height, ...) are embedded in the page as JSON.

A Content-Security-Policy in the page keeps every request on the server: the bundle still knows
kepler's default basemap styles (cartocdn), their icons (cloudfront) and loaders.gl's worker CDN
(unpkg), and would otherwise try them; with no basemap configured nothing on screen needs them.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import pandas as pd
import panel as pn
from keplergl.serializers import data_to_json

from observatory.errors import ParameterError

STATIC_ROUTE = "kepler"  # observatory.cli.static_routes() serves keplergl/static under this name
MARTINIQUE_VIEW = {"latitude": 14.64, "longitude": -61.02, "zoom": 9.5}
NO_BASEMAP = "no_map"  # kepler.gl 3.x NO_MAP_ID: an empty style, nothing fetched
EMPTY_STYLE = {"version": 8, "sources": {}, "layers": []}  # kepler.gl EMPTY_MAPBOX_STYLE
# Same palette as the Bokeh hazard maps (ColorBrewer YlOrRd, colour-blind safe; Harrower & Brewer 2003).
HAZARD_COLORS = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026")
CONTENT_SECURITY_POLICY = "default-src 'self' 'unsafe-inline' 'unsafe-eval' blob: data:"
_COORDINATE_DECIMALS = 5  # 1e-5 degree is about 1 m: finer only makes the page heavier

_PAGE = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<link rel="stylesheet" href="{route}/widget.css">
<style>html,body{{margin:0;padding:0;height:100%;overflow:hidden;background:{background}}}</style>
</head><body>
<div id="kepler-map"></div>
<script type="application/json" id="kepler-model">{model}</script>
<script type="module">
window.keplerBlocked = [];
document.addEventListener("securitypolicyviolation", (e) => window.keplerBlocked.push(e.blockedURI));
const here = new URL(document.baseURI).origin;
const serverFetch = window.fetch.bind(window);
window.fetch = (resource, options) => {{
  const url = new URL(resource instanceof Request ? resource.url : String(resource), document.baseURI);
  if (url.origin === here || url.protocol === "data:" || url.protocol === "blob:") return serverFetch(resource, options);
  window.keplerBlocked.push(url.href);
  // kepler asks for its default basemap style before our config says "no_map": answer with
  // the empty style kepler uses for no_map itself, anything else is "not found".
  if (url.pathname.endsWith("/style.json")) return Promise.resolve(Response.json({empty_style}));
  return Promise.resolve(new Response("", {{ status: 404, statusText: "offline" }}));
}};
const values = JSON.parse(document.getElementById("kepler-model").textContent);
const handlers = new Map();
const model = {{
  get: (name) => values[name],
  set: (name, value) => {{ values[name] = value; }},
  on: (event, handler) => {{ handlers.set(event, [...(handlers.get(event) ?? []), handler]); }},
  off: (event, handler) => {{ handlers.set(event, (handlers.get(event) ?? []).filter((h) => h !== handler)); }},
  save_changes: () => {{}},
  send: () => {{}},
}};
const {{ default: widget }} = await import("./{route}/widget.js");
widget.render({{ model, el: document.getElementById("kepler-map") }});
window.keplerModel = model;
</script>
</body></html>
"""


def kepler_pane(
    datasets: Mapping[str, gpd.GeoDataFrame | pd.DataFrame | dict],
    config: Mapping[str, Any],
    height: int = 600,
    *,
    theme: str = "light",
    app_name: str = "Observatoire territorial de la Martinique",
    language: str = "fr",
) -> pn.pane.HTML:
    """A KeplerGL map of ``datasets`` (name -> GeoDataFrame, DataFrame or GeoJSON dict) laid out by
    ``config`` (kepler.gl v1 config, e.g. from ``kepler_config``), ``height`` pixels tall."""
    page = kepler_srcdoc(datasets, config, height, theme=theme, app_name=app_name, language=language)
    frame = (
        f'<iframe class="kepler-frame" title="{html.escape(app_name)}" srcdoc=\'{srcdoc_attribute(page)}\''
        f' style="width:100%;height:{int(height)}px;border:0;display:block"></iframe>'
    )
    return pn.pane.HTML(frame, height=int(height), sizing_mode="stretch_width", disable_math=True)


def srcdoc_attribute(page: str) -> str:
    """``page`` as the value of a single-quoted attribute: only ``&`` and ``'`` need escaping there,
    which keeps the JSON's many double quotes as they are (the page would otherwise grow by half)."""
    return page.replace("&", "&amp;").replace("'", "&#39;")


def kepler_srcdoc(
    datasets: Mapping[str, gpd.GeoDataFrame | pd.DataFrame | dict],
    config: Mapping[str, Any],
    height: int = 600,
    *,
    theme: str = "light",
    app_name: str = "Observatoire territorial de la Martinique",
    language: str = "fr",
) -> str:
    """The iframe page itself (before attribute escaping): bundle import, model values as JSON."""
    if theme not in ("", "light", "dark", "base"):
        raise ParameterError(
            f"theme {theme!r} is not a kepler.gl theme", parameter="theme", hint="light, dark or base"
        )
    values = {
        "data": data_to_json({name: _geojson(frame) for name, frame in datasets.items()}, None),
        "config": dict(config),
        "height": int(height),
        "theme": theme,
        "app_name": app_name,
        "mapbox_token": "",
    }
    return _PAGE.format(
        lang=html.escape(language),
        csp=CONTENT_SECURITY_POLICY,
        route=STATIC_ROUTE,
        background="#f7f7f7" if theme == "light" else "#242730",
        model=script_json(values),
        empty_style=json.dumps(EMPTY_STYLE),
    )


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` can end it or open a comment."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:
        raise ParameterError(
            f"map data holds a value JSON cannot carry ({exc})",
            parameter="datasets",
            hint="Replace NaN and infinities by None (null) before drawing.",
        ) from None
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def _geojson(frame: gpd.GeoDataFrame | pd.DataFrame | dict) -> pd.DataFrame | dict:
    """GeoDataFrames go as GeoJSON (kepler's processGeojson path, geometry column ``_geojson``)."""
    if not isinstance(frame, gpd.GeoDataFrame):
        return frame
    shown = frame.to_crs(4326) if frame.crs is not None and frame.crs.to_epsg() != 4326 else frame
    shown = shown.set_geometry(shown.geometry.set_precision(10**-_COORDINATE_DECIMALS))
    return json.loads(shown.to_json(na="null", drop_id=True))


# -- config ---------------------------------------------------------------------------------------
def color_range(colors: Sequence[str] = HAZARD_COLORS, name: str = "observatory.hazard") -> dict:
    """A kepler.gl sequential colour range from hex colours, low to high."""
    return {"name": name, "type": "sequential", "category": "Custom", "colors": list(colors)}


def geojson_layer(
    layer_id: str,
    data_id: str,
    label: str,
    *,
    color_field: str | None = None,
    stroke_field: str | None = None,
    color: Sequence[int] = (200, 200, 200),
    stroke_color: Sequence[int] = (255, 255, 255),
    filled: bool = True,
    stroked: bool = True,
    opacity: float = 0.8,
    thickness: float = 1.0,
    visible: bool = True,
    colors: Sequence[str] = HAZARD_COLORS,
) -> dict:
    """A polygon/line layer over a GeoJSON dataset, filled (or stroked) by a numeric field."""
    return {
        "id": layer_id,
        "type": "geojson",
        "config": {
            "dataId": data_id,
            "label": label,
            "color": list(color),
            "columns": {"geojson": "_geojson"},
            "isVisible": visible,
            "visConfig": {
                "opacity": opacity,
                "strokeOpacity": 1.0,
                "thickness": thickness,
                "strokeColor": list(stroke_color),
                "colorRange": color_range(colors),
                "strokeColorRange": color_range(colors),
                "filled": filled,
                "stroked": stroked,
            },
        },
        "visualChannels": {
            "colorField": _field(color_field),
            "colorScale": "quantize",
            "strokeColorField": _field(stroke_field),
            "strokeColorScale": "quantize",
        },
    }


def point_layer(
    layer_id: str,
    data_id: str,
    label: str,
    *,
    lat: str = "lat",
    lon: str = "lon",
    color_field: str | None = None,
    radius: float = 6.0,
    color: Sequence[int] = (30, 30, 30),
    colors: Sequence[str] = HAZARD_COLORS,
) -> dict:
    """A point layer (e.g. storm fixes) at ``lat``/``lon`` columns, coloured by a numeric field."""
    return {
        "id": layer_id,
        "type": "point",
        "config": {
            "dataId": data_id,
            "label": label,
            "color": list(color),
            "columns": {"lat": lat, "lng": lon},
            "isVisible": True,
            "visConfig": {
                "radius": radius,
                "opacity": 0.9,
                "outline": True,
                "thickness": 1,
                "strokeColor": [40, 40, 40],
                "colorRange": color_range(colors),
                "filled": True,
            },
        },
        "visualChannels": {"colorField": _field(color_field), "colorScale": "quantize"},
    }


def kepler_config(
    layers: Sequence[dict],
    tooltips: Mapping[str, Sequence[str]] = (),
    view: Mapping[str, float] = MARTINIQUE_VIEW,
) -> dict:
    """A kepler.gl v1 config: ``layers`` (first drawn on top), hover ``tooltips`` (dataset -> fields),
    the map centred on ``view`` (latitude, longitude, zoom) and no basemap."""
    return {
        "version": "v1",
        "config": {
            "visState": {
                "layers": list(layers),
                "interactionConfig": {
                    "tooltip": {
                        "enabled": True,
                        "fieldsToShow": {
                            name: [{"name": f, "format": None} for f in fields]
                            for name, fields in dict(tooltips).items()
                        },
                    }
                },
            },
            "mapState": {"bearing": 0, "pitch": 0, "dragRotate": False, **view},
            "mapStyle": {"styleType": NO_BASEMAP, "topLayerGroups": {}, "visibleLayerGroups": {}},
        },
    }


def _field(name: str | None) -> dict | None:
    return {"name": name, "type": "real"} if name else None
