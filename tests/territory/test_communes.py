"""The 34 communes as a user of the observatory sees them: codes, names, population, area."""

from __future__ import annotations

import pytest

from observatory.errors import DataFormatError
from observatory.territory.communes import communes, read_population
from observatory.territory.crs import OFFICIAL_AREA_KM2, STORAGE_CRS


@pytest.fixture(scope="module")
def frame():
    return communes()


def test_the_34_communes_have_codes_97201_to_97234(frame):
    assert frame["insee"].tolist() == [str(code) for code in range(97201, 97235)]


def test_total_municipal_population_2021_is_insee_figure(frame):
    assert int(frame["population"].sum()) == 360_749
    assert int(frame["population_total"].sum()) == 364_916


def test_island_area_from_polygons_is_within_2_percent_of_official(frame):
    area = frame["area_km2"].sum()
    assert abs(area - OFFICIAL_AREA_KM2) / OFFICIAL_AREA_KM2 < 0.02


def test_names_are_in_insee_form_with_articles(frame):
    names = dict(zip(frame["insee"], frame["name"], strict=True))
    assert names["97213"] == "Le Lamentin"
    assert names["97209"] == "Fort-de-France"
    assert names["97222"] == "Le Robert"
    assert dict(zip(frame["insee"], frame["name_ign"], strict=True))["97213"] == "Lamentin"


def test_geometry_is_wgs84_and_on_martinique(frame):
    assert frame.crs.to_string() == STORAGE_CRS
    xmin, ymin, xmax, ymax = frame.total_bounds
    assert -61.25 < xmin < xmax < -60.8 and 14.38 < ymin < ymax < 14.89


def test_fort_de_france_is_the_densest_commune(frame):
    densest = frame.sort_values("density_per_km2").iloc[-1]
    assert densest["name"] == "Fort-de-France"
    assert 1_000 < densest["density_per_km2"] < 2_500


def test_callers_get_a_copy(frame):
    frame.loc[0, "population"] = -1
    assert communes()["population"].min() > 0


def test_a_bad_population_row_names_file_and_line(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text(
        "REG;Région;DEP;CODARR;CODCAN;CODCOM;COM;Commune;PMUN;PCAP;PTOT\r\n"
        "02;Martinique;972;2;  ;201;97201;L'Ajoupa-Bouillon;1715;36;1751\r\n"
        "02;Martinique;972;3;  ;202;97202;Les Anses-d'Arlet;n/a;28;3780\r\n",
        encoding="utf-8",
    )
    with pytest.raises(DataFormatError, match=r"pop\.csv:3"):
        read_population(path)


def test_a_population_file_without_its_columns_is_refused(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("code;name\r\n97201;x\r\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="missing columns"):
        read_population(path)
