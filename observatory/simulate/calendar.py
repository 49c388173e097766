"""Time on the island for the simulator: local time, Martinique's public holidays, the sun's position.

Times are UTC inside; Martinique keeps UTC−4 all year (no daylight saving), so local clock time
is a fixed shift. Day types follow the island's calendar: a public holiday counts as a Sunday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

UTC_OFFSET_H = -4.0  # America/Martinique, no daylight saving (IANA tz database)
MINUTE_NS = 60 * 1_000_000_000
DAY_NS = 86_400 * 1_000_000_000
MINUTES_PER_DAY = 1440
EPOCH = dt.date(1970, 1, 1)

# Legal public holidays in France (Code du travail, art. L3133-1) and Martinique's own:
# 22 May, abolition of slavery (loi n° 83-550 du 30 juin 1983; décret n° 83-1003 du 23 novembre
# 1983 sets the date for Martinique); 21 July, fête Victor Schœlcher (local public holiday).
FIXED_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "Jour de l'an",
    (5, 1): "Fête du Travail",
    (5, 8): "Victoire 1945",
    (5, 22): "Abolition de l'esclavage",
    (7, 14): "Fête nationale",
    (7, 21): "Fête Victor Schœlcher",
    (8, 15): "Assomption",
    (11, 1): "Toussaint",
    (11, 11): "Armistice 1918",
    (12, 25): "Noël",
}
# Days counted from Easter Sunday. Legal: Easter Monday, Ascension, Whit Monday (L3133-1).
# Customary days off on the island (administrations, schools and most businesses close):
# Good Friday and the carnival's jours gras, Lundi gras, Mardi gras and Mercredi des Cendres.
EASTER_HOLIDAYS: dict[int, str] = {
    -48: "Lundi gras (carnaval)",
    -47: "Mardi gras (carnaval)",
    -46: "Mercredi des Cendres (carnaval)",
    -2: "Vendredi saint",
    1: "Lundi de Pâques",
    39: "Ascension",
    50: "Lundi de Pentecôte",
}


def easter(year: int) -> dt.date:
    """Easter Sunday of ``year`` (Gregorian calendar): the anonymous Gregorian algorithm
    (Meeus/Jones/Butcher, in J. Meeus, *Astronomical Algorithms*, 1991, ch. 8)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


@lru_cache(maxsize=64)
def holidays(year: int) -> dict[dt.date, str]:
    """Martinique's public holidays of ``year``, date -> French name (legal and customary days off)."""
    days = {dt.date(year, month, day): name for (month, day), name in FIXED_HOLIDAYS.items()}
    sunday = easter(year)
    for offset, name in EASTER_HOLIDAYS.items():
        days.setdefault(sunday + dt.timedelta(days=offset), name)
    return dict(sorted(days.items()))


def is_holiday(day: dt.date) -> bool:
    """Whether ``day`` is a public holiday in Martinique."""
    return day in holidays(day.year)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01 (the index of a UTC day in the simulator's random streams)."""
    return (day - EPOCH).days


def date_of(day_index: int) -> dt.date:
    """The date of day number ``day_index`` (days since 1970-01-01)."""
    return EPOCH + dt.timedelta(days=int(day_index))


@lru_cache(maxsize=8)
def _minute_of_day() -> np.ndarray:
    out = np.arange(MINUTES_PER_DAY, dtype=np.float64)
    out.flags.writeable = False
    return out


class DayClock:
    """The 1,440 minutes of one UTC day with what the signals need: local hour, day type, season."""

    def __init__(self, day_index: int) -> None:
        self.index = int(day_index)
        self.date = date_of(self.index)
        self.start_ns = self.index * DAY_NS
        self.minute = _minute_of_day()
        self.t_ns = self.start_ns + np.arange(MINUTES_PER_DAY, dtype=np.int64) * MINUTE_NS
        local = self.minute / 60.0 + UTC_OFFSET_H  # hours from local midnight of the UTC date
        self.local_hour = np.mod(local, 24.0)
        # The first four UTC hours belong to the previous local day.
        before = local < 0
        today, yesterday = self.date, self.date - dt.timedelta(days=1)
        self.rest = np.where(before, _is_rest(yesterday), _is_rest(today))
        self.saturday = np.where(before, yesterday.weekday() == 5, today.weekday() == 5)
        # Day of the year as a fraction (UTC), for seasonal cycles.
        self.year_fraction = (self.date.timetuple().tm_yday - 1 + self.minute / MINUTES_PER_DAY) / 365.25


def _is_rest(day: dt.date) -> bool:
    return day.weekday() == 6 or is_holiday(day)


# -- the sun ------------------------------------------------------------------------------------
# NOAA Global Monitoring Laboratory, "General Solar Position Calculations" (Fourier series of
# Spencer 1971, Search 2(5), 172): equation of time in minutes and declination in radians from
# the fractional year gamma.
_EQT = (229.18, 0.000075, 0.001868, -0.032077, -0.014615, -0.040849)
_DECL = (0.006918, -0.399912, 0.070257, -0.006758, 0.000907, -0.002697, 0.00148)


def solar_cos_zenith(t_ns: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Cosine of the solar zenith angle at UTC times ``t_ns`` (n,) for sites (m,) in degrees: (n, m).

    Negative when the sun is below the horizon.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    days = t // DAY_NS
    minutes = (t - days * DAY_NS) / MINUTE_NS
    doy = np.array([date_of(d).timetuple().tm_yday for d in np.unique(days)])
    doy = doy[np.searchsorted(np.unique(days), days)]
    gamma = 2.0 * np.pi / 365.0 * (doy - 1 + (minutes / 60.0 - 12.0) / 24.0)
    eqtime = _EQT[0] * (
        _EQT[1]
        + _EQT[2] * np.cos(gamma)
        + _EQT[3] * np.sin(gamma)
        + _EQT[4] * np.cos(2 * gamma)
        + _EQT[5] * np.sin(2 * gamma)
    )
    decl = (
        _DECL[0]
        + _DECL[1] * np.cos(gamma)
        + _DECL[2] * np.sin(gamma)
        + _DECL[3] * np.cos(2 * gamma)
        + _DECL[4] * np.sin(2 * gamma)
        + _DECL[5] * np.cos(3 * gamma)
        + _DECL[6] * np.sin(3 * gamma)
    )
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    lat_r = np.radians(np.atleast_1d(np.asarray(lat, dtype=np.float64)))
    true_solar_min = minutes[:, None] + eqtime[:, None] + 4.0 * lon[None, :]
    hour_angle = np.radians(true_solar_min / 4.0 - 180.0)
    return np.sin(lat_r)[None, :] * np.sin(decl)[:, None] + np.cos(lat_r)[None, :] * np.cos(decl)[
        :, None
    ] * np.cos(hour_angle)


@dataclass(frozen=True)
class Window:
    """The simulated span [start_ns, end_ns) in UTC ns, both on whole minutes, and the step (minutes)."""

    start_ns: int
    end_ns: int
    step_min: int = 1

    @property
    def days(self) -> range:
        """Day numbers (days since 1970-01-01) of the UTC days the window touches."""
        return range(self.start_ns // DAY_NS, (self.end_ns - 1) // DAY_NS + 1)

    @property
    def length_ns(self) -> int:
        return self.end_ns - self.start_ns

    def iso(self, t_ns: int) -> str:
        """``t_ns`` as ISO 8601 UTC with a Z (whole seconds)."""
        return iso_utc(t_ns)


def iso_utc(t_ns: int) -> str:
    """A UTC time in ns since the epoch as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.datetime.fromtimestamp(int(t_ns) // 1_000_000_000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
