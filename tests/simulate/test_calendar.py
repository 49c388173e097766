"""Martinique's calendar as the simulator sees it: Easter, public holidays, local time, the sun."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from observatory.simulate.calendar import DayClock, day_number, easter, holidays, is_holiday, solar_cos_zenith


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2000, "2000-04-23"),
        (2019, "2019-04-21"),
        (2024, "2024-03-31"),
        (2025, "2025-04-20"),
        (2026, "2026-04-05"),
        (2038, "2038-04-25"),
    ],
)
def test_easter_sunday(year: int, sunday: str) -> None:
    assert easter(year) == dt.date.fromisoformat(sunday)


def test_martinique_holidays_2026() -> None:
    days = holidays(2026)
    expected = {
        "2026-01-01": "Jour de l'an",
        "2026-02-16": "Lundi gras (carnaval)",
        "2026-02-17": "Mardi gras (carnaval)",
        "2026-02-18": "Mercredi des Cendres (carnaval)",
        "2026-04-03": "Vendredi saint",
        "2026-04-06": "Lundi de Pâques",
        "2026-05-01": "Fête du Travail",
        "2026-05-08": "Victoire 1945",
        "2026-05-14": "Ascension",
        "2026-05-22": "Abolition de l'esclavage",
        "2026-05-25": "Lundi de Pentecôte",
        "2026-07-14": "Fête nationale",
        "2026-07-21": "Fête Victor Schœlcher",
        "2026-08-15": "Assomption",
        "2026-11-01": "Toussaint",
        "2026-11-11": "Armistice 1918",
        "2026-12-25": "Noël",
    }
    assert {d.isoformat(): name for d, name in days.items()} == expected
    assert is_holiday(dt.date(2027, 5, 22)) and is_holiday(dt.date(2027, 2, 9))  # Mardi gras 2027
    assert not is_holiday(dt.date(2026, 5, 21))


def test_local_day_types_follow_martinique_time() -> None:
    # UTC day 2026-05-22 (a Friday, a holiday): its first four hours are Thursday evening locally.
    clock = DayClock(day_number(dt.date(2026, 5, 22)))
    assert clock.local_hour[0] == 20.0 and clock.local_hour[4 * 60] == 0.0
    assert not clock.rest[: 4 * 60].any() and clock.rest[4 * 60 :].all()
    sunday = DayClock(day_number(dt.date(2026, 5, 24)))
    assert sunday.rest[4 * 60 :].all() and not sunday.rest[:240].any()  # Saturday evening first
    assert sunday.saturday[:240].all()


def test_sun_is_up_by_day_and_highest_near_local_solar_noon() -> None:
    clock = DayClock(day_number(dt.date(2026, 3, 20)))  # equinox
    cos_z = solar_cos_zenith(clock.t_ns, np.array([-61.0]), np.array([14.6]))[:, 0]
    noon_utc_h = clock.minute[np.argmax(cos_z)] / 60.0
    # Mean solar noon at 61° W is 16:04 UTC; the equation of time on 20 March is about −7 min.
    assert 16.0 < noon_utc_h < 16.3
    assert np.degrees(np.arccos(cos_z.max())) == pytest.approx(14.6, abs=0.5)  # zenith = latitude at equinox
    assert (cos_z[: 9 * 60] < 0).all()  # 05:00 local and before: night
