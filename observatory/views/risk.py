"""Builders of the risk dashboard: the cyclone hazard (computed once per process), the commune
ranking of each hazard (cyclone, volcanic, coastal, seismic), its choropleth with a storm's track, the CSV of the table, the KeplerGL zoning map and the
composite multi-risk index (weights changed in well under a second)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geopandas as gpd
import geoviews as gv
import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param
import polars as pl
import shapely

from observatory.config import Settings, settings
from observatory.errors import ParameterError
from observatory.i18n import t
from observatory.risk import zoning
from observatory.risk.coastal import CoastalTerrain, sea_level_rise_m
from observatory.risk.cyclone import HISTORIC_STORMS, RETURN_PERIODS_YR, SATELLITE_ERA_START, CycloneHazard
from observatory.risk.index import (
    REFERENCE_SEA_LEVEL,
    REFERENCE_SURGE_M,
    IndexWeights,
    composite_index,
    martinique_hazards,
)
from observatory.risk.seismic import scenario_by_commune, seismic_zones
from observatory.risk.volcanic import commune_zoning
from observatory.territory.communes import communes
from observatory.territory.crs import DISPLAY_TZ
from observatory.views import kepler
from observatory.views.maps import HAZARD_CMAP, choropleth

HAZARDS = ("cyclone", "volcanic", "coastal", "seismic")
VOLCANIC_ZONES_SHOWN = ("rouge", "orange")  # the distance proxy's 0–12 km bands (risk.volcanic)
HURRICANE_FORCE_MS = 33.0  # 64 kt 1-min sustained: Saffir-Simpson category 1 (NHC)
WIND_SCALE_MS = (15.0, 55.0)  # fixed colour range: tropical-storm force (17.5) to category 3 (50)
KT_TO_MS = 1852 / 3600  # international knot: one nautical mile (1852 m) per hour
MAP_MARGIN_DEG = 0.15  # sea shown around the island on the commune map (and its storm track)
REGION_BOUNDS_DEG = (-66.0, 10.0, -56.0, 19.0)  # Lesser Antilles: tracks kept for the KeplerGL map
_SIMPLIFY_DEG = 2e-4  # about 20 m: commune outlines light enough to ship to the browser
INDEX_CYCLONE_PERIOD_YR = 100  # cyclone input of the index: 100-year wind, whole record (1851–2025)
INDEX_WEIGHT_STEP = 0.05


# How both ranking tables look: read-only, long column titles wrapped, one screen high.
_RANKING_TABLE = {
    "stylesheets": [".tabulator-col-title { white-space: normal !important; }"],
    "show_index": False,
    "disabled": True,
    "selectable": False,
    "layout": "fit_data_table",
    "height": 520,
    "sizing_mode": "stretch_width",
}


class StormId(param.String):
    """A HURDAT2 storm identifier (AL042007) or '' (no replay); other text is refused (ValueError),
    so that Panel keeps the default view for a hostile link."""

    def __set__(self, obj, val):
        if val != "" and (
            not isinstance(val, str) or val.strip().upper() not in zoning.tracks(settings()).storm_ids
        ):
            raise ValueError(f"{str(val)[:40]!r} is no HURDAT2 storm identifier such as AL042007")
        super().__set__(obj, val)


class RiskState(param.Parameterized):
    """What the risk dashboard shows; every field is kept in the page URL."""

    hazard = param.Selector(objects=list(HAZARDS), default="cyclone")
    period = param.Selector(objects=list(RETURN_PERIODS_YR), default=100)
    satellite_era = param.Boolean(default=False)  # only the seasons from SATELLITE_ERA_START on
    storm = StormId(default="")  # HURDAT2 id of a replayed storm; '' for return periods
    tab = param.Integer(default=0, bounds=(0, 2))
    # raw weights of the multi-risk index (0–1 each); the index normalises them to sum 1
    w_cyclone = param.Number(default=0.25, bounds=(0, 1), step=INDEX_WEIGHT_STEP)
    w_seismic = param.Number(default=0.25, bounds=(0, 1), step=INDEX_WEIGHT_STEP)
    w_volcanic = param.Number(default=0.25, bounds=(0, 1), step=INDEX_WEIGHT_STEP)
    w_coastal = param.Number(default=0.25, bounds=(0, 1), step=INDEX_WEIGHT_STEP)

    URL_KEYS = {
        "hazard": "hazard",
        "period": "period",
        "satellite_era": "satellite",
        "storm": "storm",
        "tab": "tab",
        **{f"w_{name}": f"w_{name}" for name in IndexWeights.names()},
    }

    def sync_url(self) -> RiskState:
        """Keep the state in the URL (shareable links; reloading the page keeps the view)."""
        if pn.state.location is not None:
            pn.state.location.sync(self, self.URL_KEYS)
        return self

    @property
    def since(self) -> int | None:
        return SATELLITE_ERA_START if self.satellite_era else None

    @property
    def weights(self) -> dict[str, float]:
        """The index weights as set (not normalised): {'cyclone': 0.25, ...}."""
        return {name: getattr(self, f"w_{name}") for name in IndexWeights.names()}


@dataclass(frozen=True)
class FixedHazard:
    """How a hazard that does not depend on the controls is shown: its value column (unit in the
    name), a fixed colour range in that unit so that views compare, the decimals shown, and the
    subject of its CSV file name."""

    column: str
    clim: tuple[float, float]
    decimals: int
    file_subject: str


FIXED_HAZARDS = {
    # share of inhabitants in zone rouge or orange, 0–100 %
    "volcanic": FixedHazard("pop_red_orange_pct", (0.0, 100.0), 1, "population_red_orange_zone"),
    # inhabitants below a 2 m surge on the 2100 SSP2-4.5 sea level; 500: above Fort-de-France's ~450
    "coastal": FixedHazard("population_exposed", (0.0, 500.0), 0, "population_surge_2m_ssp245_2100"),
    # median MMI of the 2007 Mw 7.4 intraslab event: V (felt by all) to VIII (moderate damage)
    "seismic": FixedHazard("mmi_2007", (5.0, 8.0), 1, "mmi_2007_mw74_scenario"),
}


# -- computing, once per process ------------------------------------------------------------------
def cyclone_hazard(since: int | None = None, config: Settings | None = None) -> CycloneHazard:
    """Every storm near the island on every analysis-grid cell (1851–2025), shared by all sessions:
    computed once (seconds; the server's warm-up does it beside the server) and then read from the
    data directory (``zoning.hazard_file``); ``since`` keeps the seasons from that year on."""
    full = zoning.shared_hazard(config or settings())
    return full.since(since) if since else full


def historic_storms(config: Settings | None = None) -> dict[str, str]:
    """'Dean 2007' -> 'AL042007', ... for the historic storms of ``cyclone.HISTORIC_STORMS``."""
    return dict(_historic_storms(config or settings()))


@lru_cache(maxsize=2)
def _historic_storms(config: Settings) -> tuple[tuple[str, str], ...]:
    tracks = zoning.tracks(config)
    return tuple((f"{name.title()} {year}", tracks.find(name, year)) for name, year in HISTORIC_STORMS)


def storm_label(storm_id: str, config: Settings | None = None) -> str:
    """'Dean 2007' for 'AL042007' (the HURDAT2 name and season otherwise)."""
    labels = {v: k for k, v in historic_storms(config).items()}
    if storm_id in labels:
        return labels[storm_id]
    row = zoning.tracks(config).storm(storm_id).data.row(0, named=True)
    return f"{row['name'].title()} {row['year']}"


@lru_cache(maxsize=2)
def volcanic_table(config: Settings) -> pl.DataFrame:
    """insee, name, pop_red_orange_pct: the share (%) of each commune's inhabitants in zone rouge or
    orange of the Pelée distance proxy (population spread uniformly over the commune's cells)."""
    zones = commune_zoning(config=config)
    shown = zones[zones["zone"].isin(VOLCANIC_ZONES_SHOWN)]
    share = shown.groupby("insee", sort=False)["share"].sum(min_count=1)
    frame = zones.drop_duplicates("insee")[["insee", "name"]].join(share, on="insee")
    return pl.from_pandas(frame).select(
        "insee", "name", (pl.col("share") * 100).round(1).alias("pop_red_orange_pct")
    )


@lru_cache(maxsize=2)
def coastal_table(config: Settings) -> pl.DataFrame:
    """insee, name, population_exposed: inhabitants of the cells flooded by a 2 m surge on the
    SSP2-4.5 median sea level of 2100 (as the index's coastal input, ``risk.index``)."""
    exposed = CoastalTerrain.for_island(config).exposure(
        communes(config), surge_m=REFERENCE_SURGE_M, slr_m=sea_level_rise_m(*REFERENCE_SEA_LEVEL)
    )
    return pl.from_pandas(exposed[["insee", "name", "population_exposed"]]).with_columns(
        pl.col("population_exposed").round(0)
    )


@lru_cache(maxsize=2)
def seismic_table(config: Settings) -> pl.DataFrame:
    """insee, name, mmi_2007 (median MMI of the 29 November 2007 Mw 7.4 event at the commune's
    centroid, AB03 + Worden 2012) and seismic_zone (regulatory zone, décret 2010-1255)."""
    shaking = pl.from_pandas(scenario_by_commune(config=config)[["insee", "name", "mmi"]])
    zones = pl.from_pandas(seismic_zones(config)[["insee", "zone"]])
    return shaking.join(zones, on="insee", how="left").select(
        "insee", "name", pl.col("mmi").round(1).alias("mmi_2007"), pl.col("zone").alias("seismic_zone")
    )


_FIXED_TABLES = {"volcanic": volcanic_table, "coastal": coastal_table, "seismic": seismic_table}


def replaying(state: RiskState) -> bool:
    """A storm is replayed: only the cyclone hazard has storms."""
    return state.hazard == "cyclone" and bool(state.storm)


def value_column(state: RiskState) -> str:
    """The ranking's value column: ``wind_<T>yr_ms``, for a replay ``wind_ms``, for the other
    hazards their ``FIXED_HAZARDS`` column."""
    if state.hazard in FIXED_HAZARDS:
        return FIXED_HAZARDS[state.hazard].column
    return "wind_ms" if state.storm else f"wind_{state.period}yr_ms"


def value_label(state: RiskState, language: str) -> str:
    """'Vent 100 ans (m/s)', 'Vent maximal, Dean 2007 (m/s)': the value column as readers see it."""
    return _shown_as(state, language, "value", "replay_wind", "return_wind")


def _shown_as(state: RiskState, language: str, fixed: str, replay: str, period: str) -> str:
    """The message naming what is shown: ``<hazard>_<fixed>`` for hazards without periods, else
    the replay or return-period message filled with the storm or the years."""
    if state.hazard in FIXED_HAZARDS:
        return t(f"{state.hazard}_{fixed}", language)
    if state.storm:
        return t(replay, language, storm=storm_label(state.storm))
    return t(period, language, years=state.period)


def ranking(state: RiskState, config: Settings | None = None) -> pl.DataFrame:
    """One row per commune, most exposed first: rank, insee, name, the value column (m/s, 1-min
    sustained 10 m, open land; null where the record is shorter than the period) and, for a
    replay, gust_ms and time_peak_local ('YYYY-MM-DD HH:MM', America/Martinique, UTC-4).
    The other hazards give their ``FIXED_HAZARDS`` column (and seismic_zone), computed once."""
    if state.hazard not in HAZARDS:
        raise ParameterError(
            f"hazard {state.hazard!r} is not offered", parameter="hazard", hint=", ".join(HAZARDS)
        )
    value = value_column(state)
    if state.hazard in FIXED_HAZARDS:
        frame = _FIXED_TABLES[state.hazard](config or settings())
        frame = frame.sort([value, "insee"], descending=[True, False], nulls_last=True)
        return frame.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int32))
    if state.storm:
        frame = zoning.storm_replay(state.storm, config).select(
            "insee",
            "name",
            value,
            "gust_ms",
            pl.col("time_peak_local").dt.strftime("%Y-%m-%d %H:%M"),
        )
    else:
        hazard = cyclone_hazard(state.since, config)
        frame = zoning.commune_return_periods((state.period,), hazard=hazard, config=config)
    frame = frame.with_columns(pl.col(value).fill_nan(None)).sort(value, descending=True, nulls_last=True)
    return frame.with_row_index("rank", offset=1).with_columns(pl.col("rank").cast(pl.Int32))


def ranking_csv(frame: pl.DataFrame) -> str:
    """The ranking as CSV (UTF-8, comma-separated, header of column names, empty for missing)."""
    return frame.write_csv()


def csv_filename(state: RiskState) -> str:
    """A file name that says what the CSV holds, e.g. ``martinique_cyclone_wind_100yr_communes.csv``."""
    if state.hazard in FIXED_HAZARDS:
        return f"martinique_{state.hazard}_{FIXED_HAZARDS[state.hazard].file_subject}_communes.csv"
    subject = (
        f"replay_{state.storm}"
        if state.storm
        else f"wind_{state.period}yr" + ("_since1966" if state.since else "")
    )
    return f"martinique_cyclone_{subject}_communes.csv"


def summary(frame: pl.DataFrame, state: RiskState, language: str) -> str:
    """Two sentences for a decision-maker: the most exposed commune and how many reach hurricane
    force (for the other hazards, how many communes are exposed at all)."""
    if state.hazard in FIXED_HAZARDS:
        return _fixed_summary(frame, state.hazard, language)
    value = value_column(state)
    known = frame.drop_nulls(value)
    if known.height == 0:
        return t("no_value", language, years=state.period, first=SATELLITE_ERA_START)
    top = known.row(0, named=True)
    return t(
        "risk_summary",
        language,
        commune=top["name"],
        wind=f"{top[value]:.1f}",
        count=int((known[value] >= HURRICANE_FORCE_MS).sum()),
        total=frame.height,
        threshold=f"{HURRICANE_FORCE_MS:.0f}",
    )


def _fixed_summary(frame: pl.DataFrame, hazard: str, language: str) -> str:
    shown = FIXED_HAZARDS[hazard]
    known = frame.drop_nulls(shown.column)
    top = known.row(0, named=True)
    extra = {}
    if hazard == "seismic":
        extra["zone"] = ", ".join(str(z) for z in known["seismic_zone"].unique().sort())
    if hazard == "coastal":
        extra["exposed"] = f"{known[shown.column].sum():.0f}"
    return t(
        f"{hazard}_summary",
        language,
        commune=top["name"],
        value=f"{top[shown.column]:.{shown.decimals}f}",
        count=int((known[shown.column] > 0).sum()),
        total=frame.height,
        **extra,
    )


# -- the composite multi-risk index ---------------------------------------------------------------
@lru_cache(maxsize=2)
def _fixed_hazards(config: Settings) -> tuple[tuple[str, pd.Series], ...]:
    """Seismic, volcanic and coastal inputs by commune: they do not depend on the weights."""
    return tuple(martinique_hazards(config=config).items())


@lru_cache(maxsize=2)
def _cyclone_input(config: Settings) -> pd.Series:
    """Each commune's 100-year wind (m/s) from the hazard cached above: the cyclone input."""
    hazard = cyclone_hazard(config=config)
    winds = zoning.commune_return_periods((INDEX_CYCLONE_PERIOD_YR,), hazard=hazard, config=config)
    return winds.to_pandas().set_index("insee")[f"wind_{INDEX_CYCLONE_PERIOD_YR}yr_ms"]


def index_hazards(config: Settings | None = None) -> dict[str, pd.Series]:
    """The four hazard inputs of the index by INSEE code, computed once per process."""
    config = config or settings()
    return {"cyclone": _cyclone_input(config), **dict(_fixed_hazards(config))}


def normalised_weights(weights: dict[str, float] | None) -> IndexWeights:
    """The weights divided by their sum (IndexWeights' defaults when None); all zero is refused."""
    return IndexWeights.from_dict(weights, normalise=True) if weights else IndexWeights()


def multirisk_index(weights: dict[str, float] | None = None, config: Settings | None = None) -> pl.DataFrame:
    """The composite index per commune, as ``zoning.commune_index`` (same columns, rounded to 4
    decimals) but from cached inputs, so that new weights only recombine. Rank first, best first."""
    frame = composite_index(index_hazards(config), normalised_weights(weights), config=config)
    frame = pl.from_pandas(frame).with_columns(pl.col(pl.Float64).round(4))
    return frame.select("rank", pl.exclude("rank"))


def index_csv_filename() -> str:
    return "martinique_multirisk_index_communes.csv"


def index_weights_text(weights: dict[str, float] | None, language: str) -> str:
    """'Poids normalisés (somme 1) : cyclone 0,40 · ...': the weights the index actually uses."""
    chosen = normalised_weights(weights).as_dict()
    parts = [f"{t(f'index_{name}', language)} {value:.2f}" for name, value in chosen.items()]
    return t("index_weights_used", language, weights=" · ".join(parts))


def index_summary(frame: pl.DataFrame, language: str) -> str:
    """One sentence: the commune of highest index and its value."""
    top = frame.row(0, named=True)
    return t("index_summary", language, commune=top["name"], value=f"{top['index']:.2f}")


# Bokeh and Tabulator keep the row number in a column named 'index': on screen the index is 'index_value'
_ON_SCREEN = {"index": "index_value"}


def index_map(frame: pl.DataFrame, language: str, width: int = 520, height: int = 580) -> hv.Element:
    """Choropleth of the index over the communes (hover: rank, hazard, exposure)."""
    shapes = communes()[["insee", "geometry"]]
    shown = shapes.merge(frame.rename(_ON_SCREEN).to_pandas(), on="insee", how="left")
    plot = choropleth(
        shown,
        "index_value",
        label=t("index_value", language),
        title=t("index_title", language),
        language=language,
        hover=[
            ("rank", t("rank", language)),
            ("hazard", t("index_hazard", language)),
            ("exposure", t("index_exposure", language)),
        ],
        formats={"index_value": "{0.000}", "hazard": "{0.000}", "exposure": "{0.000}"},
        cmap=HAZARD_CMAP,
        width=width,
        height=height,
    )
    return plot.opts(data_aspect=1)


def index_table(frame: pl.DataFrame, language: str) -> pn.widgets.Tabulator:
    """The index ranking with every component (the index as ``index_value``); raw inputs,
    population and density ride along hidden (they are in the CSV)."""
    from bokeh.models.widgets.tables import NumberFormatter

    names = IndexWeights.names()
    titles = {
        "rank": t("rank", language),
        "insee": t("insee_code", language),
        "name": t("commune", language),
        "population": t("population", language),
        "density_per_km2": t("density", language),
        **{name: t(f"index_{name}", language) for name in names},
        **{f"{n}_norm": t("index_norm", language, hazard=t(f"index_{n}", language)) for n in names},
        "hazard": t("index_hazard", language),
        "exposure": t("index_exposure", language),
        "vulnerability": t("index_vulnerability", language),
        "index_value": t("index_value", language),
    }
    frame = frame.rename(_ON_SCREEN)
    number = NumberFormatter(format="0.000", text_align="right")
    shown = [f"{n}_norm" for n in names] + ["hazard", "exposure", "vulnerability", "index_value"]
    return pn.widgets.Tabulator(
        frame.to_pandas(),
        titles={c: titles[c] for c in frame.columns},
        formatters={c: number for c in shown},
        hidden_columns=["insee", "population", "density_per_km2", *names],
        widths={"rank": 60, "name": 150, **{c: 95 for c in shown}},
        **_RANKING_TABLE,
        css_classes=["index-ranking"],
    )


# -- drawing --------------------------------------------------------------------------------------
def risk_map(
    frame: pl.DataFrame, state: RiskState, language: str, width: int = 520, height: int = 580
) -> hv.Overlay:
    """Choropleth of the ranking's value over the communes, with the replayed storm's track."""
    value = value_column(state)
    shapes = communes()[["insee", "geometry"]]
    shown = shapes.merge(frame.to_pandas(), on="insee", how="left")
    shown[value] = shown[value].astype(float)
    fixed = FIXED_HAZARDS.get(state.hazard)
    plot = choropleth(
        shown,
        value,
        label=value_label(state, language)
        + (" – " + t("satellite_era", language) if state.since and not state.storm and not fixed else ""),
        title=_map_title(state, language),
        language=language,
        hover=[("rank", t("rank", language))],
        formats={value: "{" + number_format(state) + "}"},
        cmap=HAZARD_CMAP,
        clim=fixed.clim if fixed else WIND_SCALE_MS,
        width=width,
        height=height,
    )
    # the same frame for every view, so that maps of two storms or periods compare at a glance
    # (two invisible corners: xlim/ylim of a geographic overlay are not projected)
    west, south, east, north = map_box()
    plot = plot * gv.Points([(west, south), (east, north)]).opts(alpha=0, size=0)
    if replaying(state):
        plot = plot * track_overlay(state.storm, language)
    return plot.opts(data_aspect=1)


def number_format(state: RiskState) -> str:
    """'0.0' (winds, one decimal) or the hazard's own: '0' for inhabitants."""
    fixed = FIXED_HAZARDS.get(state.hazard)
    decimals = fixed.decimals if fixed else 1
    return "0." + "0" * decimals if decimals else "0"


def _map_title(state: RiskState, language: str) -> str:
    return _shown_as(state, language, "title", "replay_title", "return_title")


def map_box() -> tuple[float, float, float, float]:
    """West, south, east, north (degrees) of the commune map: the island and its near sea."""
    west, south, east, north = communes().total_bounds
    return (
        west - MAP_MARGIN_DEG,
        south - MAP_MARGIN_DEG,
        east + MAP_MARGIN_DEG,
        north + MAP_MARGIN_DEG,
    )


def track_overlay(storm_id: str, language: str) -> hv.Overlay:
    """The storm's best track near the island: the path and its 6-hourly fixes (hover: time, wind)."""
    box = map_box()
    fixes = _fixes(storm_id)
    line = shapely.clip_by_rect(shapely.LineString(fixes[["lon", "lat"]].to_numpy()), *box)
    parts = [np.asarray(g.coords) for g in getattr(line, "geoms", [line]) if not g.is_empty]
    path = gv.Path(parts).opts(color="#222222", line_width=3, line_dash="dashed")
    inside = fixes[fixes["lon"].between(box[0], box[2]) & fixes["lat"].between(box[1], box[3])]
    points = gv.Points(
        inside,
        kdims=["lon", "lat"],
        vdims=[
            hv.Dimension("time_local", label=t("track_time", language)),
            hv.Dimension("wind_ms", label=t("track_wind", language)),
            hv.Dimension("status", label=t("track_status", language)),
        ],
    ).opts(color="#222222", size=9, line_color="white", tools=["hover"])
    return path * points


def _fixes(storm_id: str) -> pd.DataFrame:
    data = zoning.tracks().storm(storm_id).data
    frame = data.select(
        "storm_id",
        pl.col("name").str.to_titlecase(),
        "year",
        "status",
        "lat",
        "lon",
        (pl.col("wind_kt") * KT_TO_MS).round(1).alias("wind_ms"),
        pl.col("time").dt.convert_time_zone(DISPLAY_TZ).dt.strftime("%Y-%m-%d %H:%M").alias("time_local"),
    )
    return frame.to_pandas()


def ranking_table(frame: pl.DataFrame, state: RiskState, language: str) -> pn.widgets.Tabulator:
    """The commune ranking as a read-only table, column titles in ``language``."""
    from bokeh.models.widgets.tables import NumberFormatter

    value = value_column(state)
    titles = {
        "rank": t("rank", language),
        "insee": t("insee_code", language),
        "name": t("commune", language),
        value: value_label(state, language),
        "gust_ms": t("gust", language),
        "time_peak_local": t("time_peak", language),
        "seismic_zone": t("seismic_zone", language),
    }
    number = NumberFormatter(format="0.0", text_align="right")
    return pn.widgets.Tabulator(
        frame.to_pandas(),
        titles={c: titles[c] for c in frame.columns},
        formatters={
            value: NumberFormatter(format=number_format(state), text_align="right"),
            "gust_ms": number,
        },
        hidden_columns=["insee"],  # in the CSV, not needed on screen
        widths={
            "rank": 70,
            "name": 150,
            value: 105,
            "gust_ms": 85,
            "time_peak_local": 140,
            "seismic_zone": 105,
        },
        **_RANKING_TABLE,
        css_classes=["risk-ranking"],
    )


# -- the KeplerGL zoning map ----------------------------------------------------------------------
def kepler_datasets(state: RiskState) -> dict[str, gpd.GeoDataFrame]:
    """communes (ranking value), cells (500 m grid, wind per return period and replay), tracks
    (the historic storms' segments over the Lesser Antilles, wind in m/s)."""
    frame = ranking(state)
    shapes = communes()[["insee", "geometry"]]
    shapes["geometry"] = shapes.geometry.simplify(_SIMPLIFY_DEG, preserve_topology=True)
    commune_layer = shapes.merge(frame.to_pandas(), on="insee", how="left")
    return {"communes": commune_layer, "cells": _cells(state), "tracks": _track_segments()}


def kepler_map(state: RiskState, language: str, height: int = 640) -> pn.pane.HTML:
    """The zoning cells, communes and storm tracks in KeplerGL, offline (``views.kepler``)."""
    datasets = kepler_datasets(state)
    value = value_column(state)
    cell_fields = ["cell_id", "name", *[c for c in datasets["cells"].columns if c.endswith("_ms")]]
    tooltips = {
        "communes": ["name", "insee", "rank", value],
        "cells": cell_fields,
        "tracks": ["name", "year", "time_local", "wind_ms", "status"],
    }
    config = kepler.kepler_config(kepler_layers(state, language), tooltips)
    return kepler.kepler_pane(datasets, config, height, app_name=t("app_title", language), language=language)


def kepler_layers(state: RiskState, language: str) -> list[dict]:
    """Storm fixes and tracks over commune boundaries over the 500 m zoning (first drawn on top);
    the commune choropleth is there too, hidden: the layer panel switches it on."""
    value = value_column(state)
    return [
        kepler.point_layer("fixes", "tracks", t("layer_fixes", language), color_field="wind_ms", radius=5),
        kepler.geojson_layer(
            "tracks", "tracks", t("layer_tracks", language), stroke_field="wind_ms", filled=False, thickness=3
        ),
        kepler.geojson_layer(
            "boundaries", "communes", t("layer_boundaries", language), filled=False, stroke_color=(60, 60, 60)
        ),
        kepler.geojson_layer(
            "communes", "communes", t("layer_communes", language), color_field=value, visible=False
        ),
        kepler.geojson_layer(
            "cells",
            "cells",
            t("layer_cells", language),
            color_field="replay_wind_ms" if replaying(state) else f"wind_{state.period}yr_ms",
            stroked=False,
            opacity=0.85,
        ),
    ]


def _cells(state: RiskState) -> gpd.GeoDataFrame:
    hazard = cyclone_hazard(state.since)
    cells = zoning.cell_return_periods(hazard=hazard)
    names = communes()[["insee", "name"]]
    cells = cells.merge(names, on="insee", how="left")
    winds = [c for c in cells.columns if c.startswith("wind_") and c.endswith("yr_ms")]
    if replaying(state):
        cells["replay_wind_ms"] = _cell_replay(state.storm)
        winds.append("replay_wind_ms")
    cells[winds] = cells[winds].astype(float).round(1)
    return cells[["cell_id", "insee", "name", *winds, "geometry"]]


@lru_cache(maxsize=8)
def _cell_replay(storm_id: str) -> np.ndarray:
    cells = zoning.grid().cells
    hazard = CycloneHazard.from_tracks(
        zoning.tracks().storm(storm_id), cells["lon"].to_numpy(), cells["lat"].to_numpy(), radius_km=np.inf
    )
    return hazard.wind_ms.max(axis=0)


@lru_cache(maxsize=1)
def _track_segments() -> gpd.GeoDataFrame:
    rows = []
    for storm_id in historic_storms().values():
        fixes = _fixes(storm_id)
        for a, b in zip(fixes.iloc[:-1].itertuples(), fixes.iloc[1:].itertuples(), strict=True):
            segment = shapely.LineString([(a.lon, a.lat), (b.lon, b.lat)])
            if segment.intersects(shapely.box(*REGION_BOUNDS_DEG)):
                rows.append(
                    {
                        "storm_id": a.storm_id,
                        "name": a.name,
                        "year": a.year,
                        "time_local": a.time_local,
                        "status": a.status,
                        "wind_ms": float(a.wind_ms),
                        "lat": a.lat,
                        "lon": a.lon,
                        "geometry": segment,
                    }
                )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
