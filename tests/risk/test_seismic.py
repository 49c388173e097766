"""Seismic hazard: regulatory zone 5 everywhere, the catalogues, and the 29 November 2007 scenario
against the intensities observed in Martinique."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from observatory.errors import DataFormatError, ParameterError
from observatory.risk.seismic import (
    ISCGEM_2007_EVENT_ID,
    Catalogue,
    Scenario,
    ab03_slab_pga_cms2,
    mmi_from_pga,
    scenario_by_commune,
    seismic_zones,
)
from observatory.territory.registry import fetch

# Schlupp et al. 2008, BCSF report on the 29 Nov 2007 earthquake (hal-03112999): EMS-98
# intensity VI at Le Lorrain, VI–VII at Sainte-Marie, La Trinité, Fort-de-France, Le François,
# Les Trois-Îlets, Le Marin and Sainte-Anne. Damage was light (AFPS post-earthquake mission
# report "2007 Nord-Martinique": a car-park slab collapsed in Fort-de-France; one death, injuries
# while fleeing). At these degrees EMS-98 and MMI agree within half a degree (Musson, Grünthal
# & Stucchi 2010, J. Seismol. 14, 413–428). A median prediction from a global GMPE and a
# Californian conversion is asserted within about one degree: MMI 4.5–7.5 in every commune,
# 5.5–7.5 at Fort-de-France.
OBSERVED_MMI_RANGE = (4.5, 7.5)
OBSERVED_MMI_FORT_DE_FRANCE = (5.5, 7.5)
FORT_DE_FRANCE = "97209"


@pytest.fixture(scope="module")
def iscgem() -> Catalogue:
    return Catalogue.from_iscgem(fetch("iscgem"))


@pytest.fixture(scope="module")
def ncei() -> Catalogue:
    return Catalogue.from_ncei(fetch("earthquakes_ncei"))


@pytest.fixture(scope="module")
def shaking() -> pd.DataFrame:
    return scenario_by_commune()


def test_every_commune_is_in_zone_5_with_agr_3_ms2():
    zones = seismic_zones()
    assert len(zones) == 34 and zones["insee"].is_unique
    assert (zones["zone"] == 5).all()
    assert (zones["zone_label"] == "sismicité forte").all()
    assert np.allclose(zones["agr_ms2"], 3.0)
    assert zones["source"].str.contains("2010-1255").all()


def test_iscgem_holds_the_2007_event_as_its_largest(iscgem):
    assert len(iscgem) == 117 and not iscgem.rejected
    top = iscgem.largest(1).iloc[0]
    assert top["event_id"] == ISCGEM_2007_EVENT_ID
    assert top["mag"] == pytest.approx(7.4)
    assert (top["lat"], top["lon"], top["depth_km"]) == pytest.approx((14.977, -61.260, 150.2))
    assert top["origin_time_utc"] == pd.Timestamp("2007-11-29 19:00:19.75", tz="UTC")


def test_ncei_keeps_the_martinique_events_near_the_island(ncei):
    martinique = ncei.events[ncei.events["location"].str.startswith("MARTINIQUE")]
    assert sorted(martinique["year"]) == [1702, 1727, 1766, 1767, 1823, 1824, 1827, 1839, 1906, 2007]
    quake_1839 = ncei.events[ncei.events["year"] == 1839].iloc[0]
    assert quake_1839["deaths"] == 390 and quake_1839["intensity_max"] == 9
    event_2007 = ncei.events[ncei.events["year"] == 2007].iloc[0]
    assert (event_2007["mag"], event_2007["mag_type"], event_2007["depth_km"]) == (7.4, "MW", 156)


def test_hypocentral_distance_combines_epicentre_and_depth(iscgem):
    distances = iscgem.distances_to_communes()
    assert len(distances) == 117 * 34
    row = distances[(distances["event_id"] == ISCGEM_2007_EVENT_ID) & (distances["insee"] == FORT_DE_FRANCE)]
    epicentral, hypocentral = row[["epicentral_km", "hypocentral_km"]].iloc[0]
    assert 35 < epicentral < 50  # Fort-de-France lies about 40 km SSE of the epicentre
    assert hypocentral == pytest.approx(np.hypot(epicentral, 150.2))


def test_a_malformed_row_names_file_and_line_and_can_be_skipped(tmp_path):
    source = fetch("iscgem").read_text(encoding="utf-8").splitlines()
    source[3] = source[3].replace("-58.665", "far-west")
    source.insert(6, "12345,2001-01-01 00:00:00.00,14.0")
    bad = tmp_path / "iscgem.csv"
    bad.write_text("\n".join(source) + "\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"iscgem\.csv:4: .*'far-west' is not a number"):
        Catalogue.from_iscgem(bad)
    kept = Catalogue.from_iscgem(bad, on_error="skip")
    assert len(kept) == 116 and [e.line for e in kept.rejected] == [4, 7]
    assert "fewer fields" in str(kept.rejected[1])


def test_a_missing_column_is_refused_at_line_1(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("eventid,lat,lon\n1,14,-61\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"bad\.csv:1: missing columns"):
        Catalogue.from_iscgem(bad)


def test_scenario_2007_mmi_matches_the_reported_intensities(shaking):
    assert len(shaking) == 34
    assert shaking["mmi"].between(*OBSERVED_MMI_RANGE).all()
    fdf = shaking.set_index("insee").loc[FORT_DE_FRANCE]
    assert OBSERVED_MMI_FORT_DE_FRANCE[0] <= fdf["mmi"] <= OBSERVED_MMI_FORT_DE_FRANCE[1]
    # Shaking falls off to the south, away from the epicentre, but gently: the focus is 150 km deep.
    north, south = shaking.set_index("insee").loc[["97211", "97226"], "pga_g"]
    assert north > south > 0.7 * north
    # The median scenario stays below the regulatory 475-year rock PGA of zone 5 (3 m/s² = 0.31 g).
    assert (shaking["pga_g"] < 3.0 / 9.80665).all()


def test_softer_ground_shakes_more():
    scenario = Scenario("test", -61.26, 14.977, 150.0, 7.4)
    sites = pd.DataFrame({"insee": ["x"], "lon": [-61.07], "lat": [14.61]})
    from observatory.risk.seismic import scenario_shaking

    pga = [scenario_shaking(scenario, sites, site_class=c)["pga_g"].iloc[0] for c in "BCDE"]
    assert pga == sorted(pga) and pga[0] < pga[-1]


def test_gmpe_and_intensity_conversion_follow_the_papers():
    # AB03 in-slab at M7, h=50 km, D=100 km on rock, by hand from eq. 1 and table 1:
    delta = 0.00724 * 10 ** (0.507 * 7)
    r = np.hypot(100, delta)
    expected = 10 ** (-0.04713 + 0.6909 * 7 + 0.0113 * 50 - 0.00202 * r - 10 ** (0.301 - 0.07) * np.log10(r))
    assert ab03_slab_pga_cms2(7.0, 50.0, 100.0) == pytest.approx(expected)
    # Worden et al. 2012: the two segments meet at log10 PGA = 1.57 (MMI ≈ 4.2).
    assert mmi_from_pga(10**1.57) == pytest.approx(1.78 + 1.55 * 1.57)
    assert mmi_from_pga(100.0) == pytest.approx(-1.60 + 3.70 * 2)


def test_unknown_site_class_and_event_are_refused(iscgem):
    with pytest.raises(ParameterError, match="site_class"):
        ab03_slab_pga_cms2(7.0, 50.0, 100.0, site_class="c")
    with pytest.raises(ParameterError, match="Did you mean '13276920'"):
        iscgem.event("13276921")
