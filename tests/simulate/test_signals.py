"""The physics a user would notice in the simulated data, read back through the line-protocol reader."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from observatory.risk.hurdat2 import Tracks
from observatory.simulate.fleet import build_fleet
from observatory.simulate.scenarios import _distance_km
from observatory.simulate.signals import NETWORK_LOSS

LOCAL = "America/Martinique"


def _local(frame: pl.DataFrame) -> pl.DataFrame:
    local = pl.col("time").dt.convert_time_zone(LOCAL)
    return frame.with_columns(local.dt.date().alias("day"), local.dt.hour().alias("hour"))


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_pv_is_zero_at_night_and_peaks_near_solar_noon(calm) -> None:
    pv = calm.readings.filter(pl.col("field") == "power_mw", pl.col("sensor_id").str.starts_with("pv-"))
    hour_utc = pv["time"].dt.hour() + pv["time"].dt.minute() / 60
    night = pv.filter((hour_utc < 9.5) | (hour_utc >= 23.0))  # 05:30–19:00 local is day in May
    assert night.height > 1000 and (night["value"] == 0.0).all()
    assert pv["value"].max() > 5.0
    # Power-weighted time of day: solar noon at 61° W is 16:04 UTC, ± 4 min of equation of time in May.
    centre_h = float((hour_utc * pv["value"]).sum() / pv["value"].sum())
    assert 15.6 < centre_h < 16.6


def test_traffic_peaks_on_weekday_mornings_and_is_lower_on_a_holiday(calm) -> None:
    a1 = _local(calm.series("traffic-97213-01", "vehicles"))
    hourly = a1.group_by("day", "hour").agg(pl.col("value").sum()).sort("day", "hour")
    wednesday = hourly.filter(pl.col("day") == dt.date(2026, 5, 20))
    peak_hour = wednesday.sort("value", descending=True)["hour"][0]
    assert 6 <= peak_hour <= 8
    morning = wednesday.filter(pl.col("hour").is_between(6, 8))["value"].max()
    midday = wednesday.filter(pl.col("hour").is_between(11, 14))["value"].max()
    assert morning > 1.3 * midday
    daily = hourly.group_by("day").agg(pl.col("value").sum()).sort("day")
    totals = dict(zip(daily["day"], daily["value"], strict=True))
    # Friday 22 May is the abolition of slavery: a public holiday in Martinique.
    assert totals[dt.date(2026, 5, 22)] < 0.8 * totals[dt.date(2026, 5, 21)]
    holiday = hourly.filter(pl.col("day") == dt.date(2026, 5, 22))
    assert (
        holiday.filter(pl.col("hour") == 7)["value"][0]
        < 0.5 * wednesday.filter(pl.col("hour") == 7)["value"][0]
    )


def test_non_revenue_water_is_about_forty_percent_and_night_flow_shows_the_leaks(calm) -> None:
    dma = calm.readings.filter(pl.col("sensor_id").str.starts_with("dma-"))
    inflow = dma.filter(pl.col("field") == "inflow_m3h")["value"].sum()
    billed = dma.filter(pl.col("field") == "consumption_m3h")["value"].sum()
    # Office de l'eau Martinique / SISPEA: the networks deliver about 60 % of what they take in.
    assert 0.30 < 1.0 - billed / inflow < 0.50
    fdf = _local(calm.series("dma-97209-01", "inflow_m3h"))
    night = fdf.filter(pl.col("hour").is_between(2, 3))["value"].mean()
    use = _local(calm.series("dma-97209-01", "consumption_m3h"))
    assert (
        night > 0.4 * fdf["value"].mean()
        and night > 1.5 * use.filter(pl.col("hour").is_between(2, 3))["value"].mean()
    )


def test_production_matches_demand_and_the_year_is_about_one_and_a_half_twh(calm) -> None:
    kinds = pl.DataFrame({"measurement": ["feeder", "pv", "wind_farm", "thermal"]})
    energy = calm.readings.join(kinds, on="measurement", how="semi")
    per_minute = (
        energy.filter(pl.col("field") != "energized")
        .group_by("time", "measurement")
        .agg(pl.col("value").sum())
    )
    wide = per_minute.pivot("measurement", index="time", values="value")
    demand = wide["feeder"] / (1.0 - NETWORK_LOSS)
    supply = wide["pv"] + wide["wind_farm"] + wide["thermal"]
    assert float(((supply - demand).abs() / demand).median()) < 0.01
    yearly_twh = float(demand.mean()) * 8766 / 1e6
    assert 1.2 < yearly_twh < 1.8  # EDF SEI: about 1.5 TWh a year
    assert 180 < float(demand.max()) < 260  # evening peak, MW


def test_pm10_rises_during_a_saharan_dust_episode(episodes) -> None:
    event = episodes.events()["dust"]
    start = _utc(event["start"])
    air = episodes.readings.filter(pl.col("field") == "pm10_ugm3")
    before = air.filter(pl.col("time").is_between(start - dt.timedelta(hours=12), start, closed="left"))
    during = air.filter(pl.col("time") >= start + dt.timedelta(hours=12))
    assert before.height > 1000 and during.height > 1000
    assert during["value"].mean() - before["value"].mean() > 0.5 * event["parameters"]["peak_pm10_added_ugm3"]
    assert before["value"].mean() < 50.0  # the EU daily limit, met outside the episode


def test_h2s_rises_on_the_atlantic_coast_after_a_stranding(episodes) -> None:
    event = episodes.events()["sargassum"]
    start = _utc(event["start"])
    peaks = event["parameters"]["peak_h2s_ppb"]
    worst = max(peaks, key=peaks.get)
    h2s = episodes.series(worst, "h2s_ppb")
    assert h2s.filter(pl.col("time") < start)["value"].max() < 3.0
    late = h2s.filter(pl.col("time") >= h2s["time"].max() - dt.timedelta(hours=6))
    assert late["value"].max() > 20.0


def test_cyclone_wind_peaks_at_each_station_when_the_track_is_closest(storm, data_settings) -> None:
    event = storm.events()["cyclone"]["parameters"]
    shift = dt.timedelta(minutes=event["time_shift_min"])
    track = Tracks.from_registry(data_settings).storm("AL042007").interpolate(1).data
    fleet = build_fleet(data_settings)
    for station in fleet.of_kind("weather_station"):
        distance = _distance_km(track["lon"].to_numpy(), track["lat"].to_numpy(), station.lon, station.lat)
        closest = track["time"][int(np.argmin(distance))] + shift
        wind = storm.series(station.sensor_id, "wind_speed_ms").with_columns(
            pl.col("value").rolling_mean(15, center=True)
        )
        peak = wind.drop_nulls().sort("value", descending=True)["time"][0]
        assert abs(peak - closest) <= dt.timedelta(minutes=75), station.sensor_id
        assert wind["value"].max() > 20.0  # Dean passed within 60 km of every station
        pressure = storm.series(station.sensor_id, "pressure_hpa")
        lowest = pressure.sort("value")["time"][0]
        assert abs(lowest - closest) <= dt.timedelta(minutes=75) and pressure["value"].min() < 1000.0


def test_cyclone_trips_feeders_that_stay_off_hours_after_the_wind(storm) -> None:
    event = storm.events()["cyclone"]["parameters"]
    closest = _utc(event["closest_approach"])
    feeders = storm.readings.filter(pl.col("measurement") == "feeder")
    wide = feeders.pivot("field", index=["time", "sensor_id"], values="value")
    assert (wide.filter(pl.col("energized") == 0.0)["load_mw"] == 0.0).all()
    off_at_peak = wide.filter((pl.col("time") == closest) & (pl.col("energized") == 0.0)).height
    assert off_at_peak >= event["feeders_tripped"] > 10
    later = wide.filter(pl.col("time") == closest + dt.timedelta(hours=6))
    assert later.filter(pl.col("energized") == 0.0).height >= 0.8 * event["feeders_tripped"]
    before = wide.filter(pl.col("time") < closest - dt.timedelta(hours=8))
    outage = storm.events()["grid_outage"]
    shed = set(outage["parameters"]["feeders_shed"])
    quiet = before.join(pl.DataFrame({"sensor_id": sorted(shed)}), on="sensor_id", how="anti")
    assert (quiet["energized"] == 1.0).all()


def test_grid_outage_sheds_its_feeders_and_frequency_dips(storm) -> None:
    event = storm.events()["grid_outage"]
    start = _utc(event["start"])
    frequency = storm.series("grid-97213-01", "frequency_hz")
    at_trip = frequency.filter(pl.col("time") == start)["value"][0]
    assert at_trip == pytest.approx(event["parameters"]["frequency_nadir_hz"], abs=0.05) and at_trip < 49.0
    assert frequency.filter(pl.col("time") < start)["value"].min() > 49.8
    for sensor, restored in event["parameters"]["restored"].items():
        energized = storm.series(sensor, "energized")
        window = energized.filter(pl.col("time").is_between(start, _utc(restored), closed="left"))
        assert (window["value"] == 0.0).all() and window.height > 0


def test_water_leak_raises_inflow_and_lowers_pressure(storm) -> None:
    event = storm.events()["water_leak"]
    sensor = event["parameters"]["sensor_id"]
    start, end = _utc(event["start"]), _utc(event["end"])
    inflow = storm.series(sensor, "inflow_m3h").join(storm.series(sensor, "consumption_m3h"), on="time")
    inflow = inflow.with_columns(lost=pl.col("value") - pl.col("value_right"))
    during = inflow.filter(pl.col("time").is_between(start + dt.timedelta(minutes=10), end, closed="left"))
    before = inflow.filter(pl.col("time").is_between(start - dt.timedelta(hours=3), start, closed="left"))
    assert during["lost"].mean() - before["lost"].mean() > 0.6 * event["parameters"]["flow_m3h"]
    pressure = storm.series(sensor, "pressure_bar")
    assert (
        pressure.filter(pl.col("time").is_between(start - dt.timedelta(hours=3), start, closed="left"))[
            "value"
        ].mean()
        - pressure.filter(pl.col("time").is_between(start + dt.timedelta(minutes=10), end, closed="left"))[
            "value"
        ].mean()
        > 0.5 * event["parameters"]["pressure_drop_bar"]
    )
