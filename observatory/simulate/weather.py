"""The island's weather as the simulator draws it: seeded streams, trade winds, clouds, showers.

Everything random comes from streams keyed by (seed, purpose, ..., day), so a day's values do not
depend on which other days are simulated or in which chunks. Slow processes are "value noise":
random anchors at fixed times of each day, joined smoothly, the last anchor of a day being the
first of the next, so that a series is continuous across midnight whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from observatory.simulate.calendar import MINUTES_PER_DAY, DayClock

# Keys of the random streams (the second element of every SeedSequence entropy list).
STREAM_ISLAND = 1_000_001  # island-wide weather
STREAM_RAIN = 1_000_002  # showers at a site
STREAM_KIND = 1_000_003  # noise of the sensors of one kind
STREAM_PARAMS = 1_000_004  # fixed per-sensor parameters of a run (leak share, offsets...)
STREAM_FAULTS = 1_000_005
STREAM_SCENARIO = 1_000_006
STREAM_REPORTS = 1_000_007

MONTH_CENTRES = (np.arange(12) + 0.5) / 12.0  # year fraction of mid-month
# Monthly rainfall at Le Lamentin, mm (approximate Météo-France normals 1991–2020: dry season
# "carême" February–April, wet season "hivernage" June–November; about 2,000 mm a year).
RAIN_MM_MONTH = np.array([120, 85, 75, 100, 130, 160, 210, 250, 260, 260, 240, 160], dtype=float)
DAYS_IN_MONTH = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
SHOWER_MEAN_MM_MIN = 0.25  # mean intensity of a tropical shower, mm/min (15 mm/h): assumption
SHOWER_MEAN_MIN = 15.0  # mean duration of a shower, minutes: assumption
WETNESS_SHAPE = 1.5  # gamma shape of the island-wide daily rain multiplier (mean 1): wet and dry days
# Cloud cover (fraction of sky) by month: more in the wet season (assumption, of the order of
# satellite climatologies for the Lesser Antilles).
CLOUD_MONTH = np.array([0.50, 0.47, 0.45, 0.50, 0.55, 0.60, 0.62, 0.62, 0.63, 0.63, 0.60, 0.55])
# 10-m trade wind at an exposed coast, m/s, by month (stronger in winter and in July, weaker
# in September–October; order of the Météo-France Caravelle normals) and its direction, degrees
# from north (ENE in winter, E to ESE in the wet season).
TRADE_MS_MONTH = np.array([7.0, 7.2, 7.2, 6.8, 6.6, 7.2, 7.4, 6.6, 5.6, 5.2, 5.8, 6.6])
TRADE_DIR_MONTH = np.array([78, 80, 82, 85, 90, 95, 95, 98, 100, 100, 92, 82], dtype=float)
PRESSURE_MSL_HPA = 1014.5  # mean sea-level pressure in the trade-wind belt (approximate climatology)
# Semidiurnal atmospheric tide: about 1.2 hPa amplitude in the tropics, maxima near 10:00 and
# 22:00 local solar time (Haurwitz & Cowley 1973, Pure Appl. Geophys. 102, 193–222).
S2_PRESSURE_HPA = 1.2
S2_PEAK_LOCAL_H = 10.0


def stream(seed: int, *keys: int) -> np.random.Generator:
    """The random stream of ``keys`` under ``seed`` (same keys, same numbers, in any run)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(int(k) for k in keys)]))


def monthly(values: np.ndarray, year_fraction: np.ndarray) -> np.ndarray:
    """A monthly climatology interpolated smoothly (periodic) at ``year_fraction`` (0..1)."""
    x = np.concatenate([MONTH_CENTRES - 1.0, MONTH_CENTRES, MONTH_CENTRES + 1.0])
    y = np.concatenate([values, values, values])
    return np.interp(np.mod(year_fraction, 1.0), x, y)


def smooth_noise(seed: int, keys: tuple[int, ...], day: int, per_day: int, n: int = 1) -> np.ndarray:
    """Smooth standard noise (1440, n): ``per_day`` random anchors a day joined by cosine steps.

    Continuous across midnight: the last anchor of day d is the first anchor of day d + 1.
    """
    today = stream(seed, *keys, day).standard_normal((per_day, n))
    tomorrow = stream(seed, *keys, day + 1).standard_normal((1, n))
    anchors = np.vstack([today, tomorrow])
    position = np.arange(MINUTES_PER_DAY) * (per_day / MINUTES_PER_DAY)
    i = position.astype(np.int64)
    w = (0.5 - 0.5 * np.cos(np.pi * (position - i)))[:, None]
    # Cosine steps lower the variance between anchors (to 0.5 at mid-step); scale it back up a bit.
    return (anchors[i] * (1.0 - w) + anchors[i + 1] * w) * 1.2


def gaussian_hours(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    """exp(-d²/2w²) with d the distance in hours on the 24-hour circle."""
    d = np.mod(hour - centre + 12.0, 24.0) - 12.0
    return np.exp(-0.5 * (d / width) ** 2)


@dataclass(frozen=True)
class IslandWeather:
    """Island-wide weather of one UTC day, minute by minute."""

    cloud: np.ndarray  # cloud cover fraction 0..1
    wetness: float  # daily rain multiplier, mean 1
    trade_ms: np.ndarray  # 10-m trade wind at an exposed coast, m/s
    trade_dir_deg: np.ndarray  # direction the wind blows from, degrees from north
    pressure_hpa: np.ndarray  # mean sea-level pressure, hPa
    temp_anomaly_c: np.ndarray  # departure of the day from the seasonal mean, °C


@lru_cache(maxsize=8)
def island_weather(seed: int, day: int) -> IslandWeather:
    """The island's weather on day ``day`` (days since 1970-01-01) under ``seed``."""
    clock = DayClock(day)
    yf = clock.year_fraction
    base = monthly(CLOUD_MONTH, yf)
    logit = np.log(base / (1.0 - base)) + 1.1 * smooth_noise(seed, (STREAM_ISLAND, 1), day, 24)[:, 0]
    cloud = 1.0 / (1.0 + np.exp(-logit))
    wetness = float(stream(seed, STREAM_ISLAND, 2, day).gamma(WETNESS_SHAPE, 1.0 / WETNESS_SHAPE))
    # Trade winds: stronger by day (land heating, mixing), about ±15 % (assumption).
    diurnal = 1.0 + 0.15 * np.cos(2 * np.pi * (clock.local_hour - 14.0) / 24.0)
    synoptic = 1.0 + 0.18 * smooth_noise(seed, (STREAM_ISLAND, 3), day, 8)[:, 0]
    trade = np.clip(monthly(TRADE_MS_MONTH, yf) * diurnal * synoptic, 0.5, None)
    direction = monthly(TRADE_DIR_MONTH, yf) + 12.0 * smooth_noise(seed, (STREAM_ISLAND, 4), day, 4)[:, 0]
    s2 = S2_PRESSURE_HPA * np.cos(2 * np.pi * (clock.local_hour - S2_PEAK_LOCAL_H) / 12.0)
    pressure = PRESSURE_MSL_HPA + s2 + 1.3 * smooth_noise(seed, (STREAM_ISLAND, 5), day, 2)[:, 0]
    anomaly = 0.6 * smooth_noise(seed, (STREAM_ISLAND, 6), day, 2)[:, 0]
    return IslandWeather(cloud, wetness, trade, np.mod(direction, 360.0), pressure, anomaly)


@lru_cache(maxsize=256)
def showers(seed: int, site_key: int, day: int, rain_factor: float) -> np.ndarray:
    """Rain of the showers that start on day ``day`` at a site, mm per minute over 2 days (2880,):
    a shower may run past midnight into the next day."""
    clock = DayClock(day)
    month = clock.date.month - 1
    per_day_mm = RAIN_MM_MONTH[month] / DAYS_IN_MONTH[month] * rain_factor
    expected = per_day_mm * island_weather(seed, day).wetness / (SHOWER_MEAN_MM_MIN * SHOWER_MEAN_MIN)
    rng = stream(seed, STREAM_RAIN, site_key, day)
    count = rng.poisson(expected)
    # Convective showers favour the afternoon (local 12–18 h = 16–22 UTC): half of them there.
    afternoon = rng.random(count) < 0.5
    start = np.where(afternoon, rng.uniform(960, 1320, count), rng.uniform(0, MINUTES_PER_DAY, count))
    start = start.astype(np.int64)
    length = np.maximum(1, rng.exponential(SHOWER_MEAN_MIN, count).astype(np.int64))
    rate = rng.exponential(SHOWER_MEAN_MM_MIN, count)
    steps = np.zeros(2 * MINUTES_PER_DAY + 1)
    np.add.at(steps, start, rate)
    np.add.at(steps, np.minimum(start + length, 2 * MINUTES_PER_DAY), -rate)
    rain = np.clip(np.cumsum(steps[:-1]), 0.0, None)
    rain.flags.writeable = False  # cached: shared between callers
    return rain


def site_rain_mm(seed: int, site_key: int, day: int, rain_factor: float) -> np.ndarray:
    """Shower rain at a site on day ``day``, mm in each minute (1440,), including showers of the
    previous day that run past midnight."""
    today = showers(seed, site_key, day, rain_factor)[:MINUTES_PER_DAY]
    spill = showers(seed, site_key, day - 1, rain_factor)[MINUTES_PER_DAY:]
    return today + spill
