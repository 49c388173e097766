"""Builders of the risk dashboard: ranking, CSV, map and the KeplerGL zoning's three datasets."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import time

import holoviews as hv
import polars as pl
import pytest

from observatory.errors import ParameterError
from observatory.i18n import t
from observatory.risk import zoning
from observatory.views import risk

INSEE = [str(code) for code in range(97201, 97235)]


@pytest.fixture(scope="module")
def dean() -> risk.RiskState:
    return risk.RiskState(storm=risk.historic_storms()["Dean 2007"])


def test_the_historic_storms_are_found_by_name_and_season():
    storms = risk.historic_storms()
    assert list(storms) == ["Dean 2007", "David 1979", "Maria 2017", "Dorothy 1970", "Edith 1963"]
    assert storms["Dean 2007"] == "AL042007" and storms["David 1979"] == "AL091979"


def test_the_hazard_is_computed_once_per_process():
    assert risk.cyclone_hazard() is risk.cyclone_hazard()
    assert risk.cyclone_hazard(1966).first_year == 1966


@pytest.mark.parametrize("period", [10, 100])
def test_the_ranking_has_the_34_communes_most_exposed_first(period):
    frame = risk.ranking(risk.RiskState(period=period))
    assert frame.columns == ["rank", "insee", "name", f"wind_{period}yr_ms"]
    assert sorted(frame["insee"]) == INSEE and frame["rank"].to_list() == list(range(1, 35))
    winds = frame[f"wind_{period}yr_ms"].to_list()
    assert winds == sorted(winds, reverse=True)


def test_a_period_longer_than_the_satellite_record_has_no_value():
    state = risk.RiskState(period=100, satellite_era=True)
    frame = risk.ranking(state)
    assert frame["wind_100yr_ms"].null_count() == 34  # null, not NaN: the CSV leaves it empty
    assert risk.summary(frame, state, "en") == t("no_value", "en", years=100, first=1966)
    assert risk.csv_filename(state) == "martinique_cyclone_wind_100yr_since1966_communes.csv"


def test_the_dean_replay_csv_is_the_table(dean):
    frame = risk.ranking(dean)
    rows = list(csv.reader(io.StringIO(risk.ranking_csv(frame))))
    assert rows[0] == ["rank", "insee", "name", "wind_ms", "gust_ms", "time_peak_local"]
    assert len(rows) == 35 and float(rows[1][3]) >= 33.0
    assert rows[1][5].startswith("2007-08-17 ")  # the morning of 17 August, Martinique time
    assert risk.csv_filename(dean) == "martinique_cyclone_replay_AL042007_communes.csv"
    assert frame["name"][0] in risk.summary(frame, dean, "fr")


def test_the_map_draws_the_communes_and_the_track_in_a_fixed_frame(dean):
    plain = hv.render(risk.risk_map(risk.ranking(risk.RiskState()), risk.RiskState(), "de"), backend="bokeh")
    replay = hv.render(risk.risk_map(risk.ranking(dean), dean, "de"), backend="bokeh")
    assert (replay.x_range.start, replay.y_range.end) == (plain.x_range.start, plain.y_range.end)
    sources = [r.data_source.data for r in replay.renderers]
    assert any(sorted(set(d.get("insee", []))) == INSEE for d in sources)
    assert replay.title.text == t("replay_title", "de", storm="Dean 2007")


def test_the_kepler_map_carries_communes_cells_and_tracks(dean):
    datasets = risk.kepler_datasets(dean)
    assert list(datasets) == ["communes", "cells", "tracks"]
    assert len(datasets["communes"]) == 34 and len(datasets["cells"]) > 4000
    assert set(datasets["tracks"]["name"]) == {"Dean", "David", "Maria", "Dorothy", "Edith"}
    assert datasets["cells"]["replay_wind_ms"].max() >= 33.0
    page = html.unescape(re.search(r"srcdoc='([^']*)'", risk.kepler_map(dean, "fr").object).group(1))
    model = json.loads(re.search(r'id="kepler-model">(.*?)</script>', page, re.S).group(1))
    shipped = {name: len(value["data"]["features"]) for name, value in model["data"].items()}
    assert shipped == {name: len(frame) for name, frame in datasets.items()}


def test_layers_name_datasets_and_fields_that_exist(dean):
    datasets = risk.kepler_datasets(dean)
    layers = risk.kepler_layers(dean, "es")
    assert {layer["config"]["dataId"] for layer in layers} == set(datasets)
    for layer in layers:
        for channel in ("colorField", "strokeColorField"):
            field = layer["visualChannels"].get(channel)
            if field:
                assert field["name"] in datasets[layer["config"]["dataId"]].columns


PELEE_FLANKS = {
    "97201",
    "97203",
    "97211",
    "97215",
    "97218",
    "97219",
    "97225",
}  # Ajoupa-Bouillon ... Saint-Pierre


def test_the_index_has_every_commune_and_every_component():
    frame = risk.multirisk_index()
    assert sorted(frame["insee"]) == INSEE and frame["rank"][0] == 1
    for name in ("cyclone", "seismic", "volcanic", "coastal"):
        assert frame[f"{name}_norm"].min() >= 0 and frame[f"{name}_norm"].max() <= 1
    product = frame["hazard"] * frame["exposure"] * frame["vulnerability"]
    assert (product - frame["index"]).abs().max() < 1e-3  # columns rounded to 4 decimals
    assert frame["vulnerability"].unique().to_list() == [1.0]  # neutral: no socio-economic table
    assert frame["index"].to_list() == sorted(frame["index"], reverse=True)


def test_the_index_matches_the_engine_with_the_same_weights():
    weights = {"cyclone": 0.4, "seismic": 0.1, "volcanic": 0.3, "coastal": 0.2}
    mine = risk.multirisk_index(weights)
    engine = zoning.commune_index(weights)
    assert mine.select(engine.columns).equals(engine)


def test_new_weights_recombine_fast_and_change_the_ranking():
    default = risk.multirisk_index()  # warms the caches
    start = time.perf_counter()
    volcanic = risk.multirisk_index({"volcanic": 1.0})
    assert time.perf_counter() - start < 1.0
    assert volcanic["insee"].to_list() != default["insee"].to_list()
    top = volcanic.sort("hazard", descending=True, maintain_order=True)
    assert top["insee"][0] in PELEE_FLANKS and top["hazard"][0] == 1.0
    assert volcanic.filter(pl.col("insee") == "97209")["hazard"][0] < 0.5  # Fort-de-France, far south


def test_the_weights_shown_are_normalised():
    text = risk.index_weights_text({"cyclone": 0.5, "volcanic": 0.5}, "en")
    assert text == t(
        "index_weights_used",
        "en",
        weights="Cyclone 0.50 · Earthquake 0.00 · Volcano 0.50 · Coastal flooding 0.00",
    )
    with pytest.raises(ParameterError):
        risk.multirisk_index({"cyclone": 0.0, "seismic": 0.0})
    with pytest.raises(ParameterError, match="volcanic"):
        risk.multirisk_index({"volcanik": 1.0})


# Bokeh's ColumnDataSource.from_df calls DataFrame.reset_index(inplace=True), deprecated by pandas:
# upstream, harmless here (the served app only logs it)
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_the_index_csv_map_and_table_show_the_components():
    frame = risk.multirisk_index()
    rows = list(csv.reader(io.StringIO(risk.ranking_csv(frame))))
    assert len(rows) == 35 and {"index", "cyclone", "seismic", "volcanic", "coastal"} <= set(rows[0])
    table = risk.index_table(frame, "de")
    assert table.value["index_value"].tolist() == frame["index"].to_list()
    assert table.titles["index_value"] == t("index_value", "de")
    plot = hv.render(risk.index_map(frame, "fr"), backend="bokeh")
    assert plot.title.text == t("index_title", "fr")


@pytest.mark.parametrize(
    ("hazard", "value"),
    [("volcanic", "pop_red_orange_pct"), ("coastal", "population_exposed"), ("seismic", "mmi_2007")],
)
def test_each_other_hazard_ranks_the_34_communes(hazard, value):
    state = risk.RiskState(hazard=hazard)
    frame = risk.ranking(state)
    assert frame.columns[:4] == ["rank", "insee", "name", value]
    assert sorted(frame["insee"]) == INSEE and frame["rank"].to_list() == list(range(1, 35))
    assert frame[value].to_list() == sorted(frame[value], reverse=True)
    assert risk.value_column(state) == value
    rows = list(csv.reader(io.StringIO(risk.ranking_csv(frame))))
    assert rows[0] == frame.columns and len(rows) == 35
    assert risk.csv_filename(state).startswith(f"martinique_{hazard}_")
    assert frame["name"][0] in risk.summary(frame, state, "es")


def test_volcanic_exposure_is_high_on_pelee_and_nil_in_the_south():
    frame = risk.ranking(risk.RiskState(hazard="volcanic"))
    share = dict(zip(frame["insee"], frame["pop_red_orange_pct"], strict=True))
    assert share["97225"] >= 90 and share["97219"] >= 90  # Saint-Pierre, Le Prêcheur
    assert share["97226"] == 0  # Sainte-Anne, 45 km away


def test_coastal_exposure_puts_fort_de_france_in_the_top_five():
    frame = risk.ranking(risk.RiskState(hazard="coastal"))
    assert frame["population_exposed"].min() >= 0
    assert "97209" in frame["insee"][:5].to_list()


def test_seismic_gives_the_zone_and_the_2007_intensity():
    frame = risk.ranking(risk.RiskState(hazard="seismic"))
    assert frame["mmi_2007"].is_between(5.5, 7.5).all()
    assert frame["seismic_zone"].unique().to_list() == [5]


def test_switching_hazard_is_fast_once_computed():
    for hazard in risk.FIXED_HAZARDS:
        risk.ranking(risk.RiskState(hazard=hazard))  # warms the caches
    start = time.perf_counter()
    for hazard in risk.FIXED_HAZARDS:
        risk.ranking(risk.RiskState(hazard=hazard))
    assert time.perf_counter() - start < 0.5


@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
@pytest.mark.parametrize("hazard", ["volcanic", "coastal", "seismic"])
def test_each_other_hazard_has_its_map_and_table(hazard):
    state = risk.RiskState(hazard=hazard, storm=risk.historic_storms()["Dean 2007"])  # storm ignored
    frame = risk.ranking(state)
    plot = hv.render(risk.risk_map(frame, state, "en"), backend="bokeh")
    assert plot.title.text == t(f"{hazard}_title", "en")
    table = risk.ranking_table(frame, state, "fr")
    assert table.titles[risk.value_column(state)] == t(f"{hazard}_value", "fr")
