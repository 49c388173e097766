"""Scenarios the simulator can switch on, each placed inside the window and recorded as an event.

- ``cyclone[:STORM_ID]``: a HURDAT2 best track (default AL042007, Dean 2007) replayed with the
  observatory's Holland wind model (observatory.risk.wind), shifted in time so that its closest
  approach to Martinique falls inside the window. Wind, gusts, direction, pressure and rain at
  every site follow the storm's distance and intensity; feeders trip where the gust passes a
  damage threshold and come back hours to days later.
- ``dust``: a Saharan dust episode (PM10 raised for days, PV output lowered).
- ``sargassum``: a stranding on the Atlantic coast (H2S rising as the algae rot).
- ``water_leak``: a main bursts in one district metered area (inflow up, pressure down).
- ``grid_outage``: a generating unit trips, frequency falls and under-frequency load shedding
  de-energises feeders of several communes for a while.

Events are written to truth/events.csv with the part of the event inside the window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from observatory.config import Settings
from observatory.errors import ParameterError, did_you_mean
from observatory.simulate.calendar import MINUTE_NS, Window, iso_utc
from observatory.simulate.fleet import Fleet
from observatory.simulate.weather import STREAM_SCENARIO, stream

SCENARIOS = ("cyclone", "dust", "sargassum", "water_leak", "grid_outage")
DEFAULT_STORM = "AL042007"  # Dean 2007: its eye passed between Martinique and Saint Lucia
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
ISLAND_LON, ISLAND_LAT = -61.02, 14.64  # centre of Martinique, degrees
EARTH_KM_PER_DEG = 111.195  # great-circle km per degree (R = 6371.0088 km)

# -- cyclone ------------------------------------------------------------------------------------
CYCLONE_STEP_MIN = 10.0  # interpolation step of the track (observatory.risk.wind.DEFAULT_STEP_MINUTES)
CYCLONE_RADIUS_KM = 300.0  # the storm is "passing" while its centre is this close to the island
CYCLONE_EXPOSURE = "in_land"  # land sites: open terrain inland (observatory.risk.wind.EXPOSURES)
INFLOW_ANGLE_DEG = 20.0  # surface inflow angle of tropical-cyclone winds (Zhang & Uhlhorn 2012, ~20°)
# Overhead distribution lines fail when gusts reach Beaufort 10 ("trees broken off or uprooted",
# 24.5–28.4 m/s, WMO Manual on Codes, Beaufort scale): the trip threshold is its upper bound.
FEEDER_TRIP_GUST_MS = 28.4
RESTORE_BASE_H = 6.0  # hours to restore a tripped feeder once the wind has dropped (assumption)
RESTORE_H_PER_MS = 3.0  # extra hours per m/s of peak gust above the threshold (assumption)
# R-CLIPER rain rate profile (Tuleya et al. 2007, Wea. Forecasting 22, 56–70, table 1; Lonfat
# et al. 2004): T0 = a1 + b1 U, Tm = a2 + b2 U (inches/day), rm = a3 + b3 U, re = a4 + b4 U (km),
# U = 1 + (vmax_kt - 35) / 33.
RCLIPER = {
    "a1": -1.10,
    "b1": 3.96,
    "a2": -1.60,
    "b2": 4.80,
    "a3": 64.5,
    "b3": -13.0,
    "a4": 150.0,
    "b4": -16.0,
}
MM_PER_INCH = 25.4

# -- the others ---------------------------------------------------------------------------------
# Saharan dust: Madininair reports daily PM10 means well above the 50 µg/m³ daily limit during
# episodes, over 100 µg/m³ in strong ones (the June 2020 plume passed 300 µg/m³ hourly).
DUST_DAYS = (2.0, 5.0)
DUST_PEAK_UGM3 = (60.0, 150.0)  # PM10 added at the plateau, µg/m³
DUST_RAMP_UP_H, DUST_RAMP_DOWN_H = 12.0, 24.0
# Sargassum: H2S from rotting algae; the ARS Martinique alert thresholds are 1 ppm (information)
# and 5 ppm (evacuation of sensitive people) (ANSES 2017 opinion on sargassum emissions).
SARGASSUM_DAYS = (7.0, 21.0)
SARGASSUM_MEDIAN_PPB = 350.0  # peak H2S at an exposed bay, median over strandings (assumption)
SARGASSUM_ONSET_H = (24.0, 72.0)  # rotting starts after a day, H2S peaks after three (assumption)
SARGASSUM_CLEARING_H = 48.0
# Burst main: flow lost and pressure drop until the valves are closed and the pipe repaired (assumption).
LEAK_M3H = (80.0, 250.0)
LEAK_DROP_BAR = (0.8, 1.5)
LEAK_HOURS = (4.0, 36.0)
LEAK_MIN_POPULATION = 10_000  # the burst is in a district of this many inhabitants or more
# Generation trip and under-frequency load shedding (délestage fréquencemétrique; assumption of
# its order: a unit of 20–45 MW lost, frequency nadir 48.4–48.9 Hz, 6–12 communes shed).
TRIP_MW = (20.0, 45.0)
TRIP_NADIR_HZ = (48.4, 48.9)
TRIP_RECOVERY_MIN = 2.0  # e-folding time of the frequency back to 50 Hz, minutes
SHED_COMMUNES = (6, 12)
SHED_MINUTES = (20, 120)


@dataclass(frozen=True)
class Request:
    """A scenario asked for on the command line: ``name`` and its argument (the storm id)."""

    name: str
    argument: str | None = None


@dataclass(frozen=True)
class Event:
    """A scenario as it happened: what truth/events.csv records."""

    scenario: str
    start_ns: int
    end_ns: int
    description: str
    parameters: dict = field(default_factory=dict)

    def row(self) -> dict[str, str]:
        return {
            "scenario": self.scenario,
            "start": iso_utc(self.start_ns),
            "end": iso_utc(self.end_ns),
            "description": self.description,
            "parameters": json.dumps(self.parameters, sort_keys=True, ensure_ascii=False),
        }


def parse_scenarios(values: list[str] | tuple[str, ...] | None) -> tuple[Request, ...]:
    """``--scenario`` values (``all``, ``cyclone:AL152017``, ...) as requests in canonical order.

    ParameterError names ``--scenario`` for an unknown name (with the closest one), a repeated
    scenario, or an argument given to a scenario that takes none.
    """
    explicit: dict[str, Request] = {}
    everything = False
    for raw in values or []:
        name, sep, argument = raw.strip().partition(":")
        name = name.strip().lower()
        if name not in SCENARIOS and name != "all":
            raise ParameterError(
                f"unknown scenario {raw!r}",
                parameter="--scenario",
                hint=did_you_mean(name, [*SCENARIOS, "all"]),
            )
        if sep and name != "cyclone":
            raise ParameterError(
                f"scenario {name!r} takes no argument ({raw!r})",
                parameter="--scenario",
                hint="Only the cyclone takes one: cyclone:STORM_ID, e.g. cyclone:AL152017.",
            )
        if sep and not argument.strip():
            raise ParameterError(
                f"{raw!r} names no storm", parameter="--scenario", hint="e.g. cyclone:AL042007"
            )
        if name == "all":
            everything = True
        elif name in explicit:
            raise ParameterError(f"scenario {name!r} asked twice", parameter="--scenario")
        else:
            explicit[name] = Request(name, argument.strip().upper() if sep else None)
    names = SCENARIOS if everything else tuple(n for n in SCENARIOS if n in explicit)
    return tuple(explicit.get(n, Request(n)) for n in names)


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def _place(window: Window, duration_ns: int, u: float) -> int:
    """Start of an event of ``duration_ns`` in the window: inside it when it fits in half of it,
    else a quarter to a half into it (the end is then cut by the window)."""
    span = window.length_ns - duration_ns
    fraction = 0.1 + 0.8 * u if span >= window.length_ns // 2 else None
    if fraction is not None:
        start = window.start_ns + int(fraction * span)
    else:
        start = window.start_ns + int((0.25 + 0.25 * u) * window.length_ns)
    return start - start % MINUTE_NS


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _distance_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Equirectangular distance (km) between broadcastable points in degrees (error < 0.5 % at 300 km)."""
    mean_lat = np.radians(0.5 * (np.asarray(lat1) + np.asarray(lat2)))
    dx = (np.asarray(lon1) - np.asarray(lon2)) * np.cos(mean_lat)
    dy = np.asarray(lat1) - np.asarray(lat2)
    return EARTH_KM_PER_DEG * np.hypot(dx, dy)


@dataclass(frozen=True)
class CycloneAt:
    """The cyclone's part of the weather at sites (arrays (times, sites))."""

    east_ms: np.ndarray  # wind vector toward the east, m/s (1-min sustained, 10 m)
    north_ms: np.ndarray
    deficit_hpa: np.ndarray  # pressure below the environment's
    rain_mm_min: np.ndarray

    @property
    def speed_ms(self) -> np.ndarray:
        return np.hypot(self.east_ms, self.north_ms)


class Cyclone:
    """A HURDAT2 storm replayed over the fleet's sites, time-shifted into the window."""

    def __init__(
        self, storm_id: str, window: Window, fleet: Fleet, seed: int, config: Settings | None
    ) -> None:
        from observatory.risk.hurdat2 import Tracks
        from observatory.risk.wind import track_vortex, wind_field_ms, with_estimated_pressure

        tracks = Tracks.from_registry(config)
        try:
            storm = tracks.storm(storm_id)
        except ParameterError as exc:
            raise ParameterError(exc.message, parameter="--scenario", hint=exc.hint) from None
        summary = storm.summary().row(0, named=True)
        fine = with_estimated_pressure(storm).interpolate(CYCLONE_STEP_MIN)
        vortex, _ = track_vortex(fine)
        times = fine.data["time"].dt.epoch("ns").to_numpy()
        dist = _distance_km(vortex.lon, vortex.lat, ISLAND_LON, ISLAND_LAT)
        closest = int(np.argmin(dist))
        if dist[closest] > CYCLONE_RADIUS_KM:
            raise ParameterError(
                f"storm {storm_id} ({summary['name']} {summary['year']}) never came within "
                f"{CYCLONE_RADIUS_KM:.0f} km of Martinique (closest {dist[closest]:.0f} km)",
                parameter="--scenario",
                hint="Choose a storm that passed near, e.g. cyclone:AL042007 (Dean), AL091979 (David), AL152017 (Maria).",
            )
        rng = stream(seed, STREAM_SCENARIO, 0)
        target = window.start_ns + int(rng.uniform(0.35, 0.65) * window.length_ns)
        target -= target % MINUTE_NS
        self.shift_ns = target - int(times[closest])
        self.shift_ns -= self.shift_ns % MINUTE_NS
        near = dist <= CYCLONE_RADIUS_KM + 100.0  # a margin: winds still blow at the circle's edge
        self.t_ns = times[near] + self.shift_ns
        sub = vortex.take(near)
        self.sensors = fleet.sensors
        lon = np.array([s.lon for s in fleet.sensors])
        lat = np.array([s.lat for s in fleet.sensors])
        speed = wind_field_ms(sub, lon, lat, exposure=CYCLONE_EXPOSURE).astype(np.float64)
        east, north, r_km = self._directions(sub, lon, lat, speed)
        # The wind model stops at MAX_DIST_KM (300 km): fade the last 50 km instead of a jump.
        taper = np.clip((CYCLONE_RADIUS_KM - r_km) / 50.0, 0.0, 1.0)
        east, north = east * taper, north * taper
        ratio = (sub.rmw_km[:, None] / np.fmax(r_km, 1e-3)) ** sub.b[:, None]
        self.deficit_hpa = sub.deficit_hpa[:, None] * (1.0 - np.exp(-ratio))  # Holland (1980) p(r)
        self.rain_mm_min = self._rain(sub, r_km) / 60.0
        self.east_ms, self.north_ms = east, north
        passing = dist[near] <= CYCLONE_RADIUS_KM
        self.closest_ns = int(times[closest]) + self.shift_ns
        start, end = int(self.t_ns[passing].min()), int(self.t_ns[passing].max())
        self.outages = self._outages(fleet, seed)
        peak = np.hypot(east, north).max(axis=0)
        self.event = Event(
            "cyclone",
            max(start, window.start_ns),
            min(end, window.end_ns),
            f"{summary['name'].title()} {summary['year']} ({storm_id}) replayed: centre within "
            f"{CYCLONE_RADIUS_KM:.0f} km of the island",
            {
                "storm_id": storm_id,
                "name": summary["name"],
                "year": int(summary["year"]),
                "time_shift_min": self.shift_ns // MINUTE_NS,
                "closest_approach": iso_utc(self.closest_ns),
                "closest_km": round(float(dist[closest]), 1),
                "event_start": iso_utc(start),
                "event_end": iso_utc(end),
                "peak_wind_ms": round(float(peak.max()), 1),
                "peak_wind_site": fleet.sensors[int(peak.argmax())].sensor_id,
                "feeders_tripped": len(self.outages),
                "model": "Holland (2008) via observatory.risk.wind, exposure in_land; R-CLIPER rain",
            },
        )

    @staticmethod
    def _directions(vortex, lon, lat, speed):
        """Wind vector of the vortex at each site: cyclonic tangent turned inward by the inflow angle."""
        dx = (lon[None, :] - vortex.lon[:, None]) * np.cos(np.radians(lat))[None, :] * EARTH_KM_PER_DEG
        dy = (lat[None, :] - vortex.lat[:, None]) * EARTH_KM_PER_DEG
        r = np.fmax(np.hypot(dx, dy), 1e-3)
        # Counter-clockwise tangent (northern hemisphere) (-dy, dx)/r, turned toward the centre.
        a = np.radians(INFLOW_ANGLE_DEG)
        ue = (-dy * np.cos(a) - dx * np.sin(a)) / r
        un = (dx * np.cos(a) - dy * np.sin(a)) / r
        return speed * ue, speed * un, r

    @staticmethod
    def _rain(vortex, r_km: np.ndarray) -> np.ndarray:
        """R-CLIPER rain rate (mm/h) at distance ``r_km`` from the centre."""
        from observatory.risk.wind import MS_PER_KT

        u = 1.0 + (vortex.vmax_ms / MS_PER_KT - 35.0) / 33.0
        u = np.clip(u, 0.0, None)[:, None]
        t0 = (RCLIPER["a1"] + RCLIPER["b1"] * u) * MM_PER_INCH / 24.0
        tm = (RCLIPER["a2"] + RCLIPER["b2"] * u) * MM_PER_INCH / 24.0
        rm = RCLIPER["a3"] + RCLIPER["b3"] * u
        re = RCLIPER["a4"] + RCLIPER["b4"] * u
        inner = t0 + (tm - t0) * r_km / rm
        outer = tm * np.exp(-(r_km - rm) / re)
        return np.clip(np.where(r_km < rm, inner, outer), 0.0, None)

    def _outages(self, fleet: Fleet, seed: int) -> dict[int, tuple[int, int]]:
        """Feeder sensor index -> (start, end) ns of its outage, for feeders whose gust passed the threshold."""
        from observatory.risk.wind import exposure_factors

        _, gust_factor = exposure_factors(CYCLONE_EXPOSURE)
        rng = stream(seed, STREAM_SCENARIO, 10)
        minutes = np.arange(self.t_ns[0], self.t_ns[-1] + 1, MINUTE_NS)
        outages = {}
        for sensor in fleet.of_kind("feeder"):
            gust = (
                np.interp(minutes, self.t_ns, np.hypot(self.east_ms, self.north_ms)[:, sensor.index])
                * gust_factor
            )
            draw = rng.lognormal(0.0, 0.4)  # drawn for every feeder, so the draws do not depend on the storm
            over = np.flatnonzero(gust >= FEEDER_TRIP_GUST_MS)
            if over.size == 0:
                continue
            hours = (RESTORE_BASE_H + RESTORE_H_PER_MS * (gust.max() - FEEDER_TRIP_GUST_MS)) * draw
            end = int(minutes[over[-1]]) + int(hours * 60) * MINUTE_NS
            outages[sensor.index] = (int(minutes[over[0]]), end)
        return outages

    def at(self, indices: np.ndarray, t_ns: np.ndarray) -> CycloneAt | None:
        """The storm's weather at fleet sensors ``indices`` for times ``t_ns``; None when far."""
        if t_ns[-1] < self.t_ns[0] or t_ns[0] > self.t_ns[-1]:
            return None

        def interp(values: np.ndarray) -> np.ndarray:
            return np.stack(
                [np.interp(t_ns, self.t_ns, values[:, i], left=0.0, right=0.0) for i in indices], axis=1
            )

        return CycloneAt(
            interp(self.east_ms), interp(self.north_ms), interp(self.deficit_hpa), interp(self.rain_mm_min)
        )


class Dust:
    """A Saharan dust episode: PM10 added island-wide, ramping up, holding and clearing."""

    def __init__(self, window: Window, seed: int) -> None:
        rng = stream(seed, STREAM_SCENARIO, 1)
        duration = int(_uniform(rng, DUST_DAYS) * DAY_NS) // MINUTE_NS * MINUTE_NS
        self.start = _place(window, duration, float(rng.random()))
        self.end = self.start + duration
        self.peak = _uniform(rng, DUST_PEAK_UGM3)
        self.event = Event(
            "dust",
            self.start,
            min(self.end, window.end_ns),
            "Saharan dust episode: PM10 raised island-wide, PV output lowered",
            {
                "peak_pm10_added_ugm3": round(self.peak, 1),
                "event_end": iso_utc(self.end),
                "ramp_up_h": DUST_RAMP_UP_H,
                "ramp_down_h": DUST_RAMP_DOWN_H,
            },
        )

    def pm10(self, t_ns: np.ndarray) -> np.ndarray:
        """PM10 added (µg/m³) at times ``t_ns``."""
        up = _smoothstep((t_ns - self.start) / (DUST_RAMP_UP_H * HOUR_NS))
        down = _smoothstep((self.end - t_ns) / (DUST_RAMP_DOWN_H * HOUR_NS))
        return self.peak * up * down


class Sargassum:
    """A stranding on the Atlantic coast: H2S at each sensor rises as the algae rot, then clears."""

    def __init__(self, window: Window, fleet: Fleet, seed: int) -> None:
        rng = stream(seed, STREAM_SCENARIO, 2)
        duration = int(_uniform(rng, SARGASSUM_DAYS) * DAY_NS) // MINUTE_NS * MINUTE_NS
        self.start = _place(window, duration, float(rng.random()))
        self.end = self.start + duration
        sensors = fleet.of_kind("h2s_sensor")
        peaks = SARGASSUM_MEDIAN_PPB * rng.lognormal(0.0, 0.7, len(sensors))
        self.peak_ppb = {
            s.index: float(np.clip(p * s.site.size, 20.0, 5000.0))
            for s, p in zip(sensors, peaks, strict=True)
        }
        self.event = Event(
            "sargassum",
            self.start,
            min(self.end, window.end_ns),
            "Sargassum stranding on the Atlantic coast: H2S from rotting algae",
            {
                "peak_h2s_ppb": {s.sensor_id: round(self.peak_ppb[s.index], 1) for s in sensors},
                "communes": sorted({s.insee for s in sensors}),
                "event_end": iso_utc(self.end),
            },
        )

    def h2s(self, indices: list[int], t_ns: np.ndarray) -> np.ndarray:
        """H2S added (ppb), (times, sensors), before the weather's modulation."""
        onset = SARGASSUM_ONSET_H
        rise = _smoothstep((t_ns - self.start - onset[0] * HOUR_NS) / ((onset[1] - onset[0]) * HOUR_NS))
        clear = _smoothstep(
            (self.end + SARGASSUM_CLEARING_H * HOUR_NS - t_ns) / (SARGASSUM_CLEARING_H * HOUR_NS)
        )
        shape = (rise * clear)[:, None]
        return shape * np.array([self.peak_ppb.get(i, 0.0) for i in indices])[None, :]


class WaterLeak:
    """A burst main in one district metered area."""

    def __init__(self, window: Window, fleet: Fleet, seed: int) -> None:
        rng = stream(seed, STREAM_SCENARIO, 3)
        big = sorted(c for c, p in fleet.population.items() if p >= LEAK_MIN_POPULATION)
        self.insee = big[int(rng.integers(len(big)))]
        duration = int(_uniform(rng, LEAK_HOURS) * HOUR_NS)
        duration -= duration % MINUTE_NS
        self.start = _place(window, duration, float(rng.random()))
        self.end = self.start + duration
        self.flow_m3h = _uniform(rng, LEAK_M3H)
        self.drop_bar = _uniform(rng, LEAK_DROP_BAR)
        sensor = next(s for s in fleet.of_kind("dma_meter") if s.insee == self.insee)
        self.event = Event(
            "water_leak",
            self.start,
            min(self.end, window.end_ns),
            f"Burst main in the district of {sensor.site.name.removeprefix('Secteur ')}: inflow up, pressure down",
            {
                "sensor_id": sensor.sensor_id,
                "insee": self.insee,
                "flow_m3h": round(self.flow_m3h, 1),
                "pressure_drop_bar": round(self.drop_bar, 2),
                "event_end": iso_utc(self.end),
            },
        )

    def at(self, insee: list[str], t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(flow added m³/h, pressure drop bar), each (times, districts)."""
        ramp = _smoothstep((t_ns - self.start) / (5 * MINUTE_NS)) * (t_ns < self.end)
        mine = np.array([c == self.insee for c in insee], dtype=np.float64)[None, :]
        return ramp[:, None] * mine * self.flow_m3h, ramp[:, None] * mine * self.drop_bar


class GridOutage:
    """A generating unit trips; under-frequency load shedding cuts several communes' feeders."""

    def __init__(self, window: Window, fleet: Fleet, seed: int) -> None:
        rng = stream(seed, STREAM_SCENARIO, 4)
        feeders = fleet.of_kind("feeder")
        count = int(rng.integers(SHED_COMMUNES[0], SHED_COMMUNES[1] + 1))
        chosen = sorted(rng.choice(len(feeders), size=count, replace=False).tolist())
        minutes = rng.integers(SHED_MINUTES[0], SHED_MINUTES[1] + 1, size=count)
        self.trip_mw = _uniform(rng, TRIP_MW)
        self.nadir_hz = _uniform(rng, TRIP_NADIR_HZ)
        self.start = _place(window, 3 * HOUR_NS, float(rng.random()))
        self.shed = {
            feeders[i].index: (self.start, self.start + int(m) * MINUTE_NS)
            for i, m in zip(chosen, minutes, strict=True)
        }
        self.end = max(end for _, end in self.shed.values())
        self.unit_back = self.end + HOUR_NS  # the tripped unit restarts an hour after the last feeder
        self.event = Event(
            "grid_outage",
            self.start,
            min(self.end, window.end_ns),
            "Generation trip at Bellefontaine: frequency drop and under-frequency load shedding",
            {
                "trip_mw": round(self.trip_mw, 1),
                "frequency_nadir_hz": round(self.nadir_hz, 3),
                "feeders_shed": [feeders[i].sensor_id for i in chosen],
                "restored": {feeders[i].sensor_id: iso_utc(self.shed[feeders[i].index][1]) for i in chosen},
                "event_end": iso_utc(self.end),
            },
        )

    def frequency_dip(self, t_ns: np.ndarray) -> np.ndarray:
        """Hz below nominal: the nadir at the trip minute, recovering exponentially."""
        after = (t_ns - self.start) / MINUTE_NS
        dip = (50.0 - self.nadir_hz) * np.exp(-np.clip(after, 0.0, None) / TRIP_RECOVERY_MIN)
        return np.where(after >= 0, dip, 0.0)

    def lost_mw(self, t_ns: np.ndarray) -> np.ndarray:
        return np.where((t_ns >= self.start) & (t_ns < self.unit_back), self.trip_mw, 0.0)


class Effects:
    """Every scenario switched on for a run, and what they do to the signals at given times."""

    def __init__(
        self,
        requests: tuple[Request, ...],
        window: Window,
        fleet: Fleet,
        seed: int,
        config: Settings | None = None,
    ) -> None:
        names = {r.name: r for r in requests}
        self.cyclone = (
            Cyclone(names["cyclone"].argument or DEFAULT_STORM, window, fleet, seed, config)
            if "cyclone" in names
            else None
        )
        self.dust = Dust(window, seed) if "dust" in names else None
        self.sargassum = Sargassum(window, fleet, seed) if "sargassum" in names else None
        self.leak = WaterLeak(window, fleet, seed) if "water_leak" in names else None
        self.outage = GridOutage(window, fleet, seed) if "grid_outage" in names else None

    @property
    def events(self) -> list[Event]:
        """The events of the run, in canonical scenario order."""
        return [
            s.event
            for s in (self.cyclone, self.dust, self.sargassum, self.leak, self.outage)
            if s is not None
        ]

    def cyclone_at(self, indices: np.ndarray, t_ns: np.ndarray) -> CycloneAt | None:
        return None if self.cyclone is None else self.cyclone.at(indices, t_ns)

    def dust_pm10(self, t_ns: np.ndarray) -> np.ndarray:
        return np.zeros(t_ns.shape) if self.dust is None else self.dust.pm10(t_ns)

    def h2s(self, indices: list[int], t_ns: np.ndarray) -> np.ndarray:
        if self.sargassum is None:
            return np.zeros((t_ns.size, len(indices)))
        return self.sargassum.h2s(indices, t_ns)

    def feeders_off(self, indices: list[int], t_ns: np.ndarray) -> np.ndarray:
        """Whether each feeder (fleet index) is de-energised at each time: (times, feeders) bool."""
        off = np.zeros((t_ns.size, len(indices)), dtype=bool)
        spans = []
        if self.cyclone is not None:
            spans.append(self.cyclone.outages)
        if self.outage is not None:
            spans.append(self.outage.shed)
        for outages in spans:
            for column, index in enumerate(indices):
                if index in outages:
                    start, end = outages[index]
                    off[:, column] |= (t_ns >= start) & (t_ns < end)
        return off

    def leak_at(self, insee: list[str], t_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.leak is None:
            zero = np.zeros((t_ns.size, len(insee)))
            return zero, zero
        return self.leak.at(insee, t_ns)

    def frequency_dip(self, t_ns: np.ndarray) -> np.ndarray:
        return np.zeros(t_ns.shape) if self.outage is None else self.outage.frequency_dip(t_ns)

    def lost_mw(self, t_ns: np.ndarray) -> np.ndarray:
        return np.zeros(t_ns.shape) if self.outage is None else self.outage.lost_mw(t_ns)
