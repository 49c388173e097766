"""Composite risk index: weights are checked and steer the ranking, every component is a column,
and a commune where nobody lives has no risk."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from observatory.errors import ParameterError
from observatory.risk.index import IndexWeights, composite_index, martinique_hazards, normalise_minmax
from observatory.territory.communes import communes

FORT_DE_FRANCE, LE_LAMENTIN, SAINT_PIERRE, SAINTE_ANNE, GRAND_RIVIERE = (
    "97209",
    "97213",
    "97225",
    "97226",
    "97211",
)


@pytest.fixture(scope="module")
def territory() -> pd.DataFrame:
    return pd.DataFrame(communes()[["insee", "name", "population", "area_km2"]])


@pytest.fixture(scope="module")
def hazards() -> dict[str, pd.Series]:
    """The observatory's own inputs, plus a made-up cyclone wind rising from south to north."""
    inputs = martinique_hazards()
    insee = sorted(inputs["seismic"].index)
    inputs["cyclone"] = pd.Series(np.linspace(40.0, 50.0, len(insee)), index=insee)
    return inputs


def _rank(table: pd.DataFrame, insee: str) -> int:
    return int(table.set_index("insee").loc[insee, "rank"])


def test_every_component_is_a_column(hazards, territory):
    table = composite_index(hazards, territory=territory)
    for column in ("insee", "name", "hazard", "exposure", "vulnerability", "index", "rank"):
        assert column in table.columns
    for name in IndexWeights.names():
        assert {name, f"{name}_norm"} <= set(table.columns)
        assert table[f"{name}_norm"].between(0, 1).all()
    assert len(table) == 34 and table["rank"].min() == 1 and table["rank"].is_monotonic_increasing
    recomputed = table["hazard"] * table["exposure"] * table["vulnerability"]
    assert np.allclose(table["index"], recomputed)


def test_weights_steer_the_ranking(hazards, territory):
    volcanic = composite_index(hazards, IndexWeights.from_dict({"volcanic": 1}), territory=territory)
    coastal = composite_index(hazards, IndexWeights.from_dict({"coastal": 1}), territory=territory)
    seismic = composite_index(hazards, IndexWeights.from_dict({"seismic": 1}), territory=territory)
    # Saint-Pierre climbs when the volcano counts, Sainte-Anne (the Salines) when the sea does.
    assert _rank(volcanic, SAINT_PIERRE) < _rank(coastal, SAINT_PIERRE)
    assert _rank(coastal, SAINTE_ANNE) < _rank(volcanic, SAINTE_ANNE)
    # Le Lamentin, 23 km from the summit, has no volcanic hazard at all...
    assert volcanic.set_index("insee").loc[LE_LAMENTIN, "index"] == 0
    # ...and under the uniform seismic zone the ranking is the exposure's: Fort-de-France first.
    assert seismic["insee"].iloc[0] == FORT_DE_FRANCE
    assert list(seismic.sort_values("exposure", ascending=False)["insee"]) == list(seismic["insee"])


def test_a_commune_with_no_inhabitants_has_index_zero(hazards, territory):
    empty = territory.copy()
    empty.loc[empty["insee"] == SAINT_PIERRE, "population"] = 0
    table = composite_index(hazards, IndexWeights.from_dict({"volcanic": 1}), territory=empty).set_index(
        "insee"
    )
    assert table.loc[SAINT_PIERRE, "exposure"] == 0 and table.loc[SAINT_PIERRE, "index"] == 0
    # The least populated commune keeps a positive index: exposure is not min-max normalised.
    assert table.loc[GRAND_RIVIERE, "index"] > 0


def test_vulnerability_table_is_applied(hazards, territory):
    vulnerability = pd.Series(1.0, index=territory["insee"])
    vulnerability[FORT_DE_FRANCE] = 0.0
    table = composite_index(hazards, territory=territory, vulnerability=vulnerability).set_index("insee")
    assert table.loc[FORT_DE_FRANCE, "index"] == 0 and table.loc[FORT_DE_FRANCE, "rank"] == 34
    with pytest.raises(ParameterError, match="parameter 'vulnerability'"):
        composite_index(hazards, territory=territory, vulnerability=1.5)


def test_weights_that_do_not_sum_to_one_are_refused():
    with pytest.raises(ParameterError, match=r"parameter 'weights': weights sum to 1\.2"):
        IndexWeights(cyclone=0.4, seismic=0.3, volcanic=0.3, coastal=0.2)
    with pytest.raises(ParameterError, match=r"parameter 'weights\.seismic'"):
        IndexWeights(cyclone=0.5, seismic=-0.25, volcanic=0.5, coastal=0.25)
    assert IndexWeights.from_dict({"cyclone": 2, "coastal": 2}, normalise=True).cyclone == 0.5


def test_unknown_hazard_name_gets_a_suggestion(hazards, territory):
    with pytest.raises(ParameterError, match="Did you mean 'volcanic'"):
        IndexWeights.from_dict({"volcanc": 1.0})
    with pytest.raises(ParameterError, match="Did you mean 'coastal'"):
        composite_index({**hazards, "costal": hazards["coastal"]}, territory=territory)


def test_weighted_hazard_without_input_is_refused(hazards, territory):
    without_cyclone = {k: v for k, v in hazards.items() if k != "cyclone"}
    with pytest.raises(ParameterError, match=r"no input for the weighted hazard\(s\) \['cyclone'\]"):
        composite_index(without_cyclone, territory=territory)
    with pytest.raises(ParameterError, match="no value for communes"):
        composite_index({**hazards, "coastal": hazards["coastal"].iloc[:10]}, territory=territory)


def test_weights_are_frozen():
    weights = IndexWeights()
    with pytest.raises(dataclasses.FrozenInstanceError):
        weights.cyclone = 1.0  # type: ignore[misc]


def test_constant_hazard_normalises_to_one():
    assert (normalise_minmax(pd.Series([3.0, 3.0])) == 1).all()
    assert (normalise_minmax(pd.Series([0.0, 0.0])) == 0).all()
    assert normalise_minmax(pd.Series([1.0, 2.0, 3.0])).tolist() == [0.0, 0.5, 1.0]
