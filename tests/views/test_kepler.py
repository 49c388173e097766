"""The offline KeplerGL host page: a valid srcdoc, relative URLs only, data that cannot break out."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from observatory.errors import ParameterError
from observatory.views import kepler

_HOSTILE = "</script><script>alert('x')</script> & <!-- \u2028 L'Ajoupa"


class _Elements(HTMLParser):
    """Start tags with their attributes, and the text inside each <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._script = dict(attrs)
            self.scripts.append((self._script, ""))

    def handle_data(self, data):
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def _parse(text: str) -> _Elements:
    parser = _Elements()
    parser.feed(text)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def datasets() -> dict:
    square = shapely.box(-61.1, 14.6, -61.0, 14.7)
    return {
        "communes": gpd.GeoDataFrame(
            {"insee": ["97201"], "name": [_HOSTILE], "wind_ms": [float("nan")]}, geometry=[square], crs=4326
        ),
        "cells": gpd.GeoDataFrame(
            {"cell_id": ["E1N1"], "wind_ms": [31.5]}, geometry=[square.centroid.buffer(0.01)], crs=4326
        ),
        "tracks": pd.DataFrame({"name": ["DEAN"], "lat": [14.3], "lon": [-61.0], "wind_ms": [43.7]}),
    }


@pytest.fixture(scope="module")
def config() -> dict:
    return kepler.kepler_config(
        [
            kepler.point_layer("fixes", "tracks", "Fixes", color_field="wind_ms"),
            kepler.geojson_layer("cells", "cells", "Cells", color_field="wind_ms", stroked=False),
            kepler.geojson_layer("communes", "communes", "Communes", color_field="wind_ms"),
        ],
        {"communes": ["name", "wind_ms"]},
    )


@pytest.fixture(scope="module")
def pane_html(datasets, config) -> str:
    return kepler.kepler_pane(datasets, config, height=500).object


@pytest.fixture(scope="module")
def srcdoc(pane_html) -> str:
    (iframe,) = [attrs for tag, attrs in _parse(pane_html).tags if tag == "iframe"]
    return iframe["srcdoc"]


def _model(srcdoc: str) -> dict:
    (text,) = [text for attrs, text in _parse(srcdoc).scripts if attrs.get("type") == "application/json"]
    return json.loads(text)


def test_the_pane_is_one_iframe_whose_srcdoc_is_the_host_page(pane_html, srcdoc, datasets, config):
    assert pane_html.startswith('<iframe class="kepler-frame"') and pane_html.endswith("</iframe>")
    assert srcdoc == kepler.kepler_srcdoc(datasets, config, 500)  # the attribute decodes to the page
    tags = [tag for tag, _ in _parse(srcdoc).tags]
    assert tags[:2] == ["html", "head"] and "body" in tags and tags.count("script") == 2
    module = [text for attrs, text in _parse(srcdoc).scripts if attrs.get("type") == "module"]
    assert len(module) == 1 and "widget.render({ model, el:" in module[0]


def test_every_url_is_relative_to_the_page_and_a_policy_keeps_requests_on_the_server(srcdoc):
    elements = _parse(srcdoc)
    urls = [v for _, attrs in elements.tags for k, v in attrs.items() if k in ("src", "href") and v]
    module = next(text for attrs, text in elements.scripts if attrs.get("type") == "module")
    urls += re.findall(r"""import\(\s*["']([^"']+)["']""", module)
    assert sorted(urls) == ["./kepler/widget.js", "kepler/widget.css"]
    assert all(not urlparse(u).scheme and not urlparse(u).netloc and not u.startswith("/") for u in urls)
    markup = srcdoc.replace(
        next(text for attrs, text in elements.scripts if attrs.get("type") == "application/json"), ""
    )
    assert not re.search(r"https?://", markup)
    (policy,) = [
        a for t, a in elements.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy["content"].startswith("default-src 'self'") and "https:" not in policy["content"]


def test_data_cannot_close_the_script_and_comes_back_intact(srcdoc):
    assert srcdoc.lower().count("</script>") == 2  # the page's own two scripts, nothing from the data
    assert "<!--" not in srcdoc
    model = _model(srcdoc)
    (feature,) = model["data"]["communes"]["data"]["features"]
    assert feature["properties"]["name"] == _HOSTILE
    assert feature["properties"]["wind_ms"] is None  # NaN travels as null, JSON has no NaN


def test_the_model_answers_what_the_widget_asks(srcdoc, config):
    model = _model(srcdoc)
    assert set(model) == {"data", "config", "height", "theme", "app_name", "mapbox_token"}
    assert model["config"] == config and model["height"] == 500 and model["mapbox_token"] == ""
    assert {k: v["format"] for k, v in model["data"].items()} == {
        "communes": "geojson",
        "cells": "geojson",
        "tracks": "df",
    }
    assert model["data"]["tracks"]["data"] == {
        "columns": ["name", "lat", "lon", "wind_ms"],
        "data": [["DEAN", 14.3, -61.0, 43.7]],
    }


def test_the_config_has_no_basemap_and_centres_martinique(config):
    state = config["config"]
    assert state["mapStyle"]["styleType"] == "no_map"
    assert (state["mapState"]["latitude"], state["mapState"]["longitude"]) == (14.64, -61.02)
    assert 9 <= state["mapState"]["zoom"] <= 10
    layers = {layer["id"]: layer for layer in state["visState"]["layers"]}
    assert layers["communes"]["config"]["columns"] == {"geojson": "_geojson"}
    assert layers["fixes"]["config"]["columns"] == {"lat": "lat", "lng": "lon"}
    assert layers["cells"]["config"]["visConfig"]["stroked"] is False


def test_values_json_cannot_carry_are_refused_with_the_fix():
    with pytest.raises(ParameterError, match="NaN"):
        kepler.script_json({"wind_ms": float("inf")})
    with pytest.raises(ParameterError, match="theme"):
        kepler.kepler_srcdoc({}, {}, theme="neon")


def test_a_srcdoc_attribute_round_trips_quotes_and_ampersands():
    page = """<p title="a" data-x='b'>&amp; it's</p>"""
    attribute = kepler.srcdoc_attribute(page)
    (iframe,) = [a for t, a in _parse(f"<iframe srcdoc='{attribute}'></iframe>").tags if t == "iframe"]
    assert iframe["srcdoc"] == page
