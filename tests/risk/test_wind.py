"""The parametric wind model: Holland (2008) physics on idealised storms, and its empirical
relations checked against the HURDAT2 fixes that carry the measured quantity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from observatory.errors import ParameterError
from observatory.risk import wind
from observatory.risk.hurdat2 import Tracks
from observatory.risk.wind import Vortex, peak_winds, wind_field_ms

KM_PER_DEG = np.radians(1.0) * 6371.0088
CENTRE = (-60.0, 14.0)


@pytest.fixture(scope="module")
def tracks() -> Tracks:
    return Tracks.from_registry()


def _ring(radius_km: float, bearing_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points at ``radius_km`` from CENTRE, bearings clockwise from north."""
    b = np.radians(bearing_deg)
    lat = CENTRE[1] + radius_km * np.cos(b) / KM_PER_DEG
    lon = CENTRE[0] + radius_km * np.sin(b) / (KM_PER_DEG * np.cos(np.radians(0.5 * (lat + CENTRE[1]))))
    return lon, lat


def _east(r_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _ring(r_km, np.full(np.shape(r_km), 90.0))


def _storm(pressure_hpa=950.0, rmw_km=30.0, **motion) -> Vortex:
    return Vortex.from_parameters(*CENTRE, pressure_hpa, rmw_km=rmw_km, **motion)


# -- physics of the profile ----------------------------------------------------------------------


def test_wind_peaks_at_the_radius_of_maximum_wind_and_decays_outward():
    r = np.arange(1.0, 300.0, 0.5)
    speed = wind_field_ms(_storm(), *_east(r))[0]
    assert r[speed.argmax()] == pytest.approx(30.0, abs=1.0)
    outside = speed[r > 31]
    assert np.all(np.diff(outside) < 0)
    assert speed[r == 1.0][0] < 0.05 * speed.max()  # calm eye
    assert speed.max() == pytest.approx(_storm().vmax_ms[0], rel=0.005)


def test_peak_matches_holland_2008_pressure_wind_relation():
    storm = _storm(950.0, vt_east_ms=-5.0)
    dp, b = 1015.0 - 950.0, storm.b[0]
    assert storm.vmax_ms[0] == pytest.approx(np.sqrt(b * dp * 100.0 / (1.15 * np.e)))
    kraft_ms = 14.0 * np.sqrt(1013.0 - 950.0) * wind.MS_PER_KT  # 111 kt, the Atlantic's usual 950 hPa wind
    assert storm.vmax_ms[0] == pytest.approx(kraft_ms, rel=0.05)
    assert _storm(950.0).vmax_ms[0] < storm.vmax_ms[0]  # b_s grows with translation speed


@pytest.mark.parametrize(
    ("heading", "right", "left"),
    [((-6.0, 0.0), 0.0, 180.0), ((0.0, 6.0), 90.0, 270.0), ((6.0, 3.0), 153.4, 333.4)],
)
def test_right_of_track_is_stronger_in_the_northern_hemisphere(heading, right, left):
    storm = _storm(vt_east_ms=heading[0], vt_north_ms=heading[1])
    lon, lat = _ring(40.0, np.array([right, left]))
    on_right, on_left = wind_field_ms(storm, lon, lat)[0]
    vt = np.hypot(*heading)
    assert on_right - on_left == pytest.approx(2 * wind.BACKGROUND_FACTOR * vt, rel=0.25)


def test_left_of_track_is_stronger_in_the_southern_hemisphere():
    storm = Vortex.from_parameters(-60.0, -14.0, 950.0, rmw_km=30.0, vt_east_ms=-6.0)
    north = wind_field_ms(storm, -60.0, -14.0 + 40 / KM_PER_DEG)[0, 0]
    south = wind_field_ms(storm, -60.0, -14.0 - 40 / KM_PER_DEG)[0, 0]
    assert south > north + 4


def test_moving_storm_peak_still_equals_the_pressure_derived_maximum():
    storm = _storm(vt_east_ms=-8.0)
    lon, lat = np.meshgrid(np.linspace(-60.6, -59.4, 121), np.linspace(13.4, 14.6, 121))
    field = wind_field_ms(storm, lon.ravel(), lat.ravel())[0]
    assert field.max() == pytest.approx(storm.vmax_ms[0], rel=0.03)


def test_no_pressure_deficit_gives_no_wind():
    calm = _storm(pressure_hpa=1015.0)
    assert calm.vmax_ms[0] == 0.0
    assert wind_field_ms(calm, *_east(np.array([5.0, 30.0, 100.0]))).max() < 1e-6
    drifting = _storm(pressure_hpa=1030.0, vt_east_ms=-5.0)  # above ambient: clipped to no deficit
    field = wind_field_ms(drifting, *_east(np.array([5.0, 30.0, 100.0])))
    assert np.allclose(field, wind.BACKGROUND_FACTOR * 5.0, rtol=1e-5)  # only the background flow


def test_nothing_beyond_the_cut_off_distance():
    field = wind_field_ms(_storm(), *_east(np.array([250.0, 310.0])), max_dist_km=300)[0]
    assert field[0] > 0 and field[1] == 0


def test_exposure_scales_sustained_wind_and_sets_gust_factor():
    lon, lat = _east(np.array([30.0]))
    sea = wind_field_ms(_storm(), lon, lat, exposure="at_sea")[0, 0]
    land = wind_field_ms(_storm(), lon, lat, exposure="in_land")[0, 0]
    assert land == pytest.approx(0.8 * sea, rel=1e-6)
    assert wind.exposure_factors("in_land") == (0.8, 1.49)  # Harper et al. 2010, table 1.1
    assert wind.exposure_factors("at_sea") == (1.0, 1.11)
    with pytest.raises(ParameterError, match="Did you mean 'in_land'"):
        wind.exposure_factors("inland")


# -- the empirical relations -----------------------------------------------------------------------


def test_holland_b_formula_and_clip():
    assert wind.holland_b(0.0, 0.0, 0.0, 0.0) == pytest.approx(1.0)
    x = 0.6 * (1 - 50 / 215)
    expected = 1.0 + 0.5 - 4.4e-5 * 2500 - 0.014 * 15 + 0.15 * 5**x
    assert wind.holland_b(50.0, 0.0, 15.0, 5.0) == pytest.approx(expected)
    assert wind.holland_b(0.0, 0.0, 60.0, 0.0) == 1.0  # clipped to Holland's range
    assert wind.holland_b(100.0, 50.0, 0.0, 30.0) == 2.5


def _modern_fixes(tracks: Tracks) -> pl.DataFrame:
    return tracks.data.filter(
        (pl.col("year") >= 1979)
        & (pl.col("lat") < 25)
        & (pl.col("status") != "EX")
        & pl.col("wind_kt").is_not_null()
    )


def test_kraft_pressure_estimate_fits_atlantic_fixes(tracks):
    fixes = _modern_fixes(tracks).drop_nulls("pressure_hpa")
    for kt in (35, 65, 90, 115):
        observed = fixes.filter(pl.col("wind_kt") == kt)["pressure_hpa"].median()
        assert wind.estimate_pressure_hpa(kt) == pytest.approx(observed, abs=4.0), kt


def test_willoughby_rmw_matches_hurdat2_radii(tracks):
    fixes = tracks.data.filter((pl.col("status") == "HU") & (pl.col("rmw_nm") > 0))
    assert fixes.height > 500
    estimate = wind.estimate_rmw_km(fixes["wind_kt"].to_numpy() * wind.MS_PER_KT, fixes["lat"].to_numpy())
    ratio = estimate / (fixes["rmw_nm"].to_numpy() * wind.KM_PER_NM)
    assert 0.8 < np.median(ratio) < 1.25
    q25, q75 = np.percentile(ratio, [25, 75])
    assert q25 > 0.5 and q75 < 2.0


def test_holland_maximum_matches_best_track_wind(tracks):
    modern = _modern_fixes(tracks).filter(pl.col("wind_kt") >= 35)
    vortex, _ = wind.track_vortex(Tracks(modern.drop_nulls("pressure_hpa")))
    observed = modern.drop_nulls("pressure_hpa")["wind_kt"].to_numpy() * wind.MS_PER_KT
    assert np.median(vortex.vmax_ms / observed) == pytest.approx(1.0, abs=0.05)


# -- peak winds over time --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def island_points() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.arange(-61.2, -60.8, 0.04), np.arange(14.4, 14.9, 0.04))
    return lon.ravel(), lat.ravel()


def test_dean_peak_blows_on_17_august_2007_morning(tracks, island_points):
    peaks = peak_winds(tracks.storm("AL042007"), *island_points)
    assert peaks.storm_ids == ("AL042007",)
    hours = (peaks.time_peak[0] - np.datetime64("2007-08-17T00:00")) / np.timedelta64(1, "h")
    assert np.all((hours > 6) & (hours < 13))
    assert np.allclose(peaks.gust_ms, peaks.wind_ms * 1.11)


def test_ten_minute_step_is_converged(tracks, island_points):
    dean = tracks.storm("AL042007")
    fine = peak_winds(dean, *island_points, step_minutes=2).wind_ms
    default = peak_winds(dean, *island_points).wind_ms
    coarse = peak_winds(dean, *island_points, step_minutes=60).wind_ms
    assert np.abs(default / fine - 1).max() < 0.03
    assert np.abs(coarse / fine - 1).max() > np.abs(default / fine - 1).max()


def test_chunking_does_not_change_results(tracks, island_points):
    storms = tracks.select(["AL042007", "AL091979", "AL152017"])
    whole = peak_winds(storms, *island_points, chunk_elements=10**8)
    pieces = peak_winds(storms, *island_points, chunk_elements=1_000)
    assert np.array_equal(whole.wind_ms, pieces.wind_ms)
    assert np.array_equal(whole.time_peak, pieces.time_peak)


def test_storm_far_away_brings_no_wind(tracks, island_points):
    peaks = peak_winds(tracks.storm("AL011851"), *island_points)  # Texas, 1851
    assert peaks.wind_ms.max() == 0 and np.isnat(peaks.time_peak).all()
