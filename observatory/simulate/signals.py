"""The physics of each kind of sensor: one UTC day of values, minute by minute, for all its sensors.

Each generator takes the sensors of one kind, the day's clock and the run's environment (seed,
fleet, scenarios) and returns ``{field: array (1440, sensors)}`` in the units of fleet.KINDS.
Generators run in KINDS order, so the thermal plants see the feeders', PV and wind outputs of
the same minutes. Noise of a kind and day comes from one stream keyed by (seed, kind, day),
drawn for all its sensors at once (one generator a kind and day, not one a sensor: 17 rather
than 120 a day); a day's values therefore depend on the seed, the day and the fleet only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d

from observatory.simulate.calendar import MINUTE_NS, MINUTES_PER_DAY, DayClock, solar_cos_zenith
from observatory.simulate.fleet import KINDS, Fleet, Sensor
from observatory.simulate.scenarios import CycloneAt, Effects
from observatory.simulate.weather import (
    STREAM_KIND,
    STREAM_PARAMS,
    gaussian_hours,
    island_weather,
    monthly,
    site_rain_mm,
    smooth_noise,
    stream,
)

Values = dict[str, np.ndarray]

# -- energy -------------------------------------------------------------------------------------
# Island demand: about 1.5 TWh a year of electricity produced, peak demand about 240 MW (EDF SEI,
# Bilan prévisionnel de l'équilibre offre-demande d'électricité, Martinique; order of the 2019–2023
# figures). Network losses between production and the feeders (assumption, typical of island grids).
ANNUAL_PRODUCTION_TWH = 1.5
HOURS_PER_YEAR = 8766.0
NETWORK_LOSS = 0.07
FEEDER_MEAN_MW = ANNUAL_PRODUCTION_TWH * 1e6 / HOURS_PER_YEAR * (1.0 - NETWORK_LOSS)
DEMAND_SEASON = 0.04  # ± share of demand over the year, highest in September–October (air conditioning)
# Clear-sky global horizontal irradiance, W/m² (Haurwitz 1945, J. Meteor. 2, 99–101).
HAURWITZ_WM2, HAURWITZ_K = 1098.0, 0.057
# Cloud transmission of global irradiance: 1 - 0.75 N^3.4, N the cloud cover fraction (Kasten &
# Czeplak 1980, Solar Energy 24, 177–189).
KASTEN_A, KASTEN_B = 0.75, 3.4
PV_PERFORMANCE_RATIO = 0.78  # AC output over nameplate × irradiance/1000 (IEA PVPS Task 13: 0.75–0.85)
DUST_PV_LOSS = 0.15  # share of PV output lost at 150 µg/m³ of dust PM10 (assumption, AOD ~ 1)
# Wind turbines: hub height 55 m, power law 1/7 from 10 m (Hellmann exponent for open terrain),
# cut-in 3.5 m/s, rated 13 m/s, cut-out 25 m/s (a generic 1–2 MW machine; assumption).
HUB_FACTOR = (55.0 / 10.0) ** (1.0 / 7.0)
CUT_IN_MS, RATED_MS, CUT_OUT_MS = 3.5, 13.0, 25.0
TURBINE_AVAILABILITY = 0.97
BIOMASS_LOAD_FACTOR = 0.80  # Galion 2 runs as base load (assumption)
# Oil-fired dispatch (assumption): Bellefontaine B, the newest, takes about 60 % of what biomass,
# PV and wind leave; Pointe des Carrières the rest up to its capacity; the Galion combustion
# turbine only what exceeds both (evening peaks, outages of a unit).
OIL_SHARES = {"Bellefontaine B": 0.62}
AVAILABILITY = 0.95  # share of the oil-fired capacity available at any time (maintenance)
FREQUENCY_HZ = 50.0

# -- water --------------------------------------------------------------------------------------
# Billed use per inhabitant: domestic ~150 L/day (SISPEA national order) plus non-domestic use.
BILLED_L_PER_INH_DAY = 165.0
# Non-revenue water: Martinique's networks deliver about 60 % of the water they take in (Office
# de l'eau Martinique, SISPEA indicator P104.3 "rendement du réseau"): 40 % lost on average.
NRW_SHARE = (0.28, 0.52)
LEAK_EXPONENT = 1.15  # FAVAD leakage exponent N1 for mixed networks (Thornton & Lambert 2005)
HAZEN_WILLIAMS_EXPONENT = 1.852  # head loss ~ flow^1.852 (Hazen–Williams)
PUMP_LOSS_SHARE = 0.3  # pressure lost while the district's booster pumps have no power (assumption)
TANK_DAYS = 1.0  # a tank holds a day of its commune's demand (French design practice)

# -- mobility, air, waste -----------------------------------------------------------------------
STORM_LOCKDOWN_MIN = 6 * 60  # roads stay empty 6 h after the storm's wind dropped (assumption)
FREE_FLOW_KMH = {"A1": 90.0, "RN1": 70.0, "RN2": 70.0, "RN3": 60.0, "RN5": 80.0, "RN6": 70.0}
BPR_ALPHA, BPR_BETA = 0.15, 4.0  # Bureau of Public Roads (1964) volume-delay function
DAY_FACTORS = {"weekday": 1.08, "saturday": 0.92, "rest": 0.67}  # traffic by day type (weekly mean 1)
BUS_DAY_FACTORS = {"weekday": 1.0, "saturday": 0.55, "rest": 0.12}  # few buses run on Sundays
# Dust season: the Saharan plume reaches the Caribbean mostly from May to September (Prospero et
# al. 2014, Bull. Amer. Meteor. Soc. 95, 1329–1336, Barbados record): background dust by month.
DUST_SEASON_UGM3 = np.array([2, 2, 4, 6, 10, 12, 12, 10, 6, 3, 2, 2], dtype=float)
WASTE_KG_PER_INH_YEAR = 550.0  # household and similar waste (order of the ADEME SINOE ratio for the Antilles)
TRUCK_T = 8.5  # load of a compactor truck, tonnes (assumption)
TRUCK_T_SD = 2.0

# -- weather and hydrology ----------------------------------------------------------------------
# Lowland temperature: ~24 °C before dawn to ~31 °C mid-afternoon, ±1.3 °C over the year, coolest
# in February (Météo-France normals, Le Lamentin); lapse rate 6.5 °C/km (ICAO standard atmosphere).
# The diurnal curve below averages -0.25 over a day: a lowland daily mean of about 27 °C.
TEMP_MEAN_C, TEMP_DIURNAL_C, TEMP_SEASON_C = 27.8, 3.5, 1.3
EVENING_COOLING_H = 5.0  # e-folding of the cooling after the afternoon maximum (assumption)
LAPSE_C_PER_M = 0.0065
GUST_FACTOR = 1.4  # 3-s gust over the 1-min mean (Harper et al. 2010, WMO/TD-No. 1555, in-land ~1.49)
# Tide at Fort-de-France: small, mixed, mainly semidiurnal, range about 0.3 m (SHOM, Références
# altimétriques maritimes). Constituent amplitudes (m) are an assumption of that order; angular
# speeds (degrees per hour) are the standard ones (Schureman 1958).
TIDE_MEAN_M = 0.32  # mean level above the gauge's zero (assumption)
TIDE_CONSTITUENTS = {  # name: (amplitude m, speed °/h, phase °)
    "M2": (0.095, 28.9841042, 110.0),
    "S2": (0.030, 30.0000000, 130.0),
    "N2": (0.022, 28.4397295, 95.0),
    "K1": (0.055, 15.0410686, 220.0),
    "O1": (0.045, 13.9430356, 205.0),
}
INVERSE_BAROMETER_M_PER_HPA = 0.01  # sea level rises 1 cm per hPa of pressure drop
RUNOFF_COEFFICIENT = 0.5  # steep volcanic catchments (assumption)
UNIT_HYDROGRAPH_PEAK_MIN = 90.0  # small Martinique catchments respond within hours (assumption)
# Montagne Pelée: OVSM-IPGP bulletins report tens to hundreds of volcano-tectonic earthquakes a
# month since 2019; at minute resolution each raises the RMS ground velocity of its minute.
VT_EVENTS_PER_DAY = 4.0
SEISMIC_BACKGROUND_UM_S = 0.25


@dataclass(frozen=True)
class Environment:
    """What every generator of a run shares: the seed, the fleet and the scenarios' effects."""

    seed: int
    fleet: Fleet
    effects: Effects

    def noise(self, kind: str, day: int) -> np.random.Generator:
        """The noise stream of one kind of sensor on one day."""
        return stream(self.seed, STREAM_KIND, list(KINDS).index(kind), day)

    def smooth(self, kind: str, purpose: int, day: int, per_day: int, n: int) -> np.ndarray:
        return smooth_noise(self.seed, (STREAM_KIND, list(KINDS).index(kind), purpose), day, per_day, n)

    def params(self, kind: str) -> np.random.Generator:
        """Fixed parameters of a kind's sensors for the whole run (not per day)."""
        return stream(self.seed, STREAM_PARAMS, list(KINDS).index(kind))


def _column(sensors: tuple[Sensor, ...], attribute: str) -> np.ndarray:
    return np.array([getattr(s, attribute) for s in sensors], dtype=np.float64)


def _sizes(sensors: tuple[Sensor, ...]) -> np.ndarray:
    return np.array([s.site.size for s in sensors], dtype=np.float64)


def _day_type(clock: DayClock, factors: dict[str, float]) -> np.ndarray:
    return np.where(
        clock.rest, factors["rest"], np.where(clock.saturday, factors["saturday"], factors["weekday"])
    )


def _daytime(hour: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """A smooth plateau: ~0 before ``rise`` and after ``fall`` (local hours), ~1 between."""
    h = np.mod(hour, 24.0)
    return 1.0 / (1.0 + np.exp(-2.0 * (h - rise))) / (1.0 + np.exp(2.0 * (h - fall)))


def _normalised(shape: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``shape`` divided by its mean over 24 hours (so that a day's mean is 1)."""
    mean = float(shape(np.linspace(0.0, 24.0, 1440, endpoint=False)).mean())
    return lambda hour: shape(hour) / mean


# Daily shapes by local hour (mean 1 over a day). Electricity: night trough, midday plateau
# (air conditioning, businesses), evening peak near 19:30 (EDF SEI load curves of the island).
_DEMAND_WEEKDAY = _normalised(
    lambda h: (
        0.78
        + 0.08 * gaussian_hours(h, 8.5, 1.5)
        + 0.22 * gaussian_hours(h, 12.5, 3.0)
        + 0.36 * gaussian_hours(h, 19.6, 1.7)
    )
)
_DEMAND_REST = _normalised(
    lambda h: 0.80 + 0.14 * gaussian_hours(h, 13.0, 3.5) + 0.34 * gaussian_hours(h, 19.6, 1.8)
)
# Residential water use: morning peak, midday, evening peak; later on rest days.
_WATER_WEEKDAY = _normalised(
    lambda h: (
        0.30
        + 1.10 * gaussian_hours(h, 7.0, 1.3)
        + 0.50 * gaussian_hours(h, 12.5, 1.6)
        + 0.80 * gaussian_hours(h, 19.0, 1.8)
    )
)
_WATER_REST = _normalised(
    lambda h: (
        0.30
        + 0.90 * gaussian_hours(h, 9.0, 1.8)
        + 0.60 * gaussian_hours(h, 13.0, 1.6)
        + 0.80 * gaussian_hours(h, 19.0, 1.8)
    )
)
# Road traffic: weekday morning rush 6:30–8:00 and evening rush 16:30–18:00; Saturday a broad
# midday hump; Sundays and holidays low and late.
# Peak hour about 9 % of the day's traffic (the usual design-hour share, "K factor" 8–10 %).
_TRAFFIC_WEEKDAY = _normalised(
    lambda h: (
        0.10
        + 0.55 * _daytime(h, 5.5, 21.0)
        + 0.95 * gaussian_hours(h, 7.2, 0.9)
        + 0.30 * gaussian_hours(h, 12.3, 1.5)
        + 0.75 * gaussian_hours(h, 17.3, 1.2)
    )
)
_TRAFFIC_SATURDAY = _normalised(
    lambda h: (
        0.12
        + 0.50 * _daytime(h, 7.0, 21.5)
        + 0.55 * gaussian_hours(h, 11.0, 2.0)
        + 0.35 * gaussian_hours(h, 17.5, 2.0)
    )
)
_TRAFFIC_REST = _normalised(
    lambda h: (
        0.15
        + 0.40 * _daytime(h, 8.0, 21.0)
        + 0.35 * gaussian_hours(h, 11.5, 2.0)
        + 0.40 * gaussian_hours(h, 17.5, 2.0)
    )
)
_BUS = _normalised(
    lambda h: (
        (np.abs(np.mod(h, 24.0) - 12.5) < 7.5)
        * (
            0.3
            + 2.0 * gaussian_hours(h, 6.9, 0.8)
            + 1.4 * gaussian_hours(h, 16.8, 1.0)
            + 0.5 * gaussian_hours(h, 12.0, 1.5)
        )
    )
)
_WASTE = _normalised(
    lambda h: (np.mod(h, 24.0) >= 6.0) * (np.mod(h, 24.0) < 14.0) * (0.6 + gaussian_hours(h, 9.5, 1.5))
)


def demand_shape(clock: DayClock) -> np.ndarray:
    """Electricity demand over the day relative to the yearly mean (1440,)."""
    weekly = (5 + 0.95 + 0.90) / 7.0
    factor = np.where(clock.rest, 0.90, np.where(clock.saturday, 0.95, 1.0)) / weekly
    shape = np.where(clock.rest, _DEMAND_REST(clock.local_hour), _DEMAND_WEEKDAY(clock.local_hour))
    season = 1.0 + DEMAND_SEASON * np.cos(2 * np.pi * (clock.year_fraction - 0.75))
    return shape * factor * season


def water_shape(clock: DayClock) -> np.ndarray:
    """Billed water use over the day relative to the mean (1440,)."""
    return np.where(clock.rest, _WATER_REST(clock.local_hour), _WATER_WEEKDAY(clock.local_hour))


def traffic_shape(clock: DayClock) -> np.ndarray:
    """Road traffic per minute relative to the average day's mean minute (1440,)."""
    shape = np.where(
        clock.rest,
        _TRAFFIC_REST(clock.local_hour),
        np.where(clock.saturday, _TRAFFIC_SATURDAY(clock.local_hour), _TRAFFIC_WEEKDAY(clock.local_hour)),
    )
    return shape * _day_type(clock, DAY_FACTORS)


def surface_wind(
    env: Environment, clock: DayClock, sensors: tuple[Sensor, ...], exposure: np.ndarray
) -> tuple[np.ndarray, np.ndarray, CycloneAt | None]:
    """10-m wind at the sensors' sites: (speed m/s, direction from, degrees, the cyclone's part).

    The trade wind (island-wide, times each site's exposure) fades where a cyclone's own wind
    takes over; the two are added as vectors.
    """
    weather = island_weather(env.seed, clock.index)
    speed = weather.trade_ms[:, None] * exposure[None, :]
    theta = np.radians(weather.trade_dir_deg)[:, None]
    east, north = -np.sin(theta) * speed, -np.cos(theta) * speed
    storm = env.effects.cyclone_at(np.array([s.index for s in sensors]), clock.t_ns)
    if storm is not None:
        fade = np.clip(1.0 - storm.speed_ms / 15.0, 0.0, 1.0)
        east, north = east * fade + storm.east_ms, north * fade + storm.north_ms
    direction = np.mod(np.degrees(np.arctan2(-east, -north)), 360.0)
    return np.hypot(east, north), direction, storm


def rain_mm(env: Environment, day: int, sensors: tuple[Sensor, ...]) -> np.ndarray:
    """Rain at the sensors' sites on ``day``, mm in each minute (1440, n): showers plus the cyclone."""
    rain = np.stack([site_rain_mm(env.seed, s.index, day, s.site.factor) for s in sensors], axis=1)
    storm = env.effects.cyclone_at(np.array([s.index for s in sensors]), DayClock(day).t_ns)
    if storm is not None:
        # Rain bands: the R-CLIPER mean rate varies by a factor of two minute to minute.
        bands = np.exp(0.5 * smooth_noise(env.seed, (STREAM_KIND, 99), day, 96, len(sensors)) - 0.125)
        rain = rain + storm.rain_mm_min * bands
    return rain


# -- energy -------------------------------------------------------------------------------------
def feeders(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    share = np.array([env.fleet.population[s.insee] for s in sensors]) / sum(env.fleet.population.values())
    params = env.params("feeder")
    scale = 1.0 + 0.05 * params.standard_normal(len(sensors))
    rng = env.noise("feeder", clock.index)
    slow = 0.02 * env.smooth("feeder", 1, clock.index, 48, len(sensors))
    load = FEEDER_MEAN_MW * share * scale * demand_shape(clock)[:, None] * (1.0 + slow)
    load *= 1.0 + 0.004 * rng.standard_normal(load.shape)
    off = env.effects.feeders_off([s.index for s in sensors], clock.t_ns)
    return {"load_mw": np.where(off, 0.0, load), "energized": (~off).astype(np.float64)}


def _grid_down(env: Environment, clock: DayClock, sensors) -> np.ndarray:
    """Whether the feeder of each site's commune is off: inverters and turbines then disconnect
    (anti-islanding protection required of generators on the public grid, IEEE 1547 / EN 50549)."""
    feeder_of = {s.insee: s.index for s in env.fleet.of_kind("feeder")}
    return env.effects.feeders_off([feeder_of[s.insee] for s in sensors], clock.t_ns)


def pv_plants(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    capacity = env.fleet.energy.solar_mw * _sizes(sensors)
    cos_z = solar_cos_zenith(clock.t_ns, _column(sensors, "lon"), _column(sensors, "lat"))
    up = cos_z > 0.01
    ghi = np.where(up, HAURWITZ_WM2 * cos_z * np.exp(-HAURWITZ_K / np.where(up, cos_z, 1.0)), 0.0)
    weather = island_weather(env.seed, clock.index)
    cloud = np.clip(
        weather.cloud[:, None] + 0.35 * env.smooth("pv_plant", 1, clock.index, 96, len(sensors)), 0, 1
    )
    storm = env.effects.cyclone_at(np.array([s.index for s in sensors]), clock.t_ns)
    if storm is not None:  # the storm's cloud shield: overcast once its own wind passes ~10 m/s
        cloud = np.maximum(cloud, np.clip((storm.speed_ms - 5.0) / 5.0, 0.0, 1.0))
    transmit = 1.0 - KASTEN_A * cloud**KASTEN_B
    dust = 1.0 - DUST_PV_LOSS * env.effects.dust_pm10(clock.t_ns)[:, None] / 150.0
    power = capacity * ghi / 1000.0 * transmit * PV_PERFORMANCE_RATIO * dust
    rng = env.noise("pv_plant", clock.index)
    power *= 1.0 + 0.01 * rng.standard_normal(power.shape)
    return {"power_mw": np.where(_grid_down(env, clock, sensors), 0.0, np.clip(power, 0.0, capacity))}


def wind_farms(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    capacity = env.fleet.energy.wind_mw * _sizes(sensors)
    speed, _, _ = surface_wind(env, clock, sensors, np.ones(len(sensors)))
    rng = env.noise("wind_farm", clock.index)
    hub = speed * HUB_FACTOR * (1.0 + 0.06 * rng.standard_normal(speed.shape))
    curve = np.clip((hub**3 - CUT_IN_MS**3) / (RATED_MS**3 - CUT_IN_MS**3), 0.0, 1.0)
    power = capacity * TURBINE_AVAILABILITY * curve * (hub < CUT_OUT_MS)
    return {"power_mw": np.where(_grid_down(env, clock, sensors), 0.0, power)}


def thermal_plants(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    production = done["feeder"]["load_mw"].sum(axis=1) / (1.0 - NETWORK_LOSS)
    renewable = done["pv_plant"]["power_mw"].sum(axis=1) + done["wind_farm"]["power_mw"].sum(axis=1)
    remaining = np.clip(production - renewable, 0.0, None)
    rng = env.noise("thermal_plant", clock.index)
    jitter = 1.0 + 0.005 * rng.standard_normal((MINUTES_PER_DAY, len(sensors)))
    energy = env.fleet.energy
    out = np.zeros((MINUTES_PER_DAY, len(sensors)))
    for i, s in enumerate(sensors):  # Galion 2 first: biomass runs as base load
        if dict(s.tags).get("fuel") == "biomass":
            out[:, i] = np.minimum(
                energy.biomass_mw * s.site.size * BIOMASS_LOAD_FACTOR * jitter[:, i], remaining
            )
            remaining = remaining - out[:, i]
    lost = env.effects.lost_mw(clock.t_ns)
    oil = [(i, s) for i, s in enumerate(sensors) if dict(s.tags).get("fuel") == "oil"]
    for rank, (i, s) in enumerate(oil):
        capacity = np.clip(
            energy.oil_mw * s.site.size * AVAILABILITY - (lost if rank == 0 else 0.0), 0.0, None
        )
        take = remaining * OIL_SHARES.get(s.site.name, 1.0)
        out[:, i] = np.minimum(take, capacity) * jitter[:, i]
        remaining = np.clip(remaining - out[:, i], 0.0, None)
    return {"power_mw": out}


def grid(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    rng = env.noise("grid_frequency", clock.index)
    drift = 0.015 * env.smooth("grid_frequency", 1, clock.index, 720, len(sensors))
    white = 0.006 * rng.standard_normal((MINUTES_PER_DAY, len(sensors)))
    dip = env.effects.frequency_dip(clock.t_ns)[:, None]
    return {"frequency_hz": FREQUENCY_HZ + drift + white - dip}


# -- water --------------------------------------------------------------------------------------
_PEAK_WATER = float(_WATER_WEEKDAY(np.linspace(0, 24, 1440, endpoint=False)).max())
_MEAN_HEAD_TERM = float(
    (
        (_WATER_WEEKDAY(np.linspace(0, 24, 1440, endpoint=False)) / _PEAK_WATER) ** HAZEN_WILLIAMS_EXPONENT
    ).mean()
)


def _dma_params(env: Environment, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per district: non-revenue share, static pressure (bar), head loss at peak (bar)."""
    rng = env.params("dma_meter")
    return rng.uniform(*NRW_SHARE, n), rng.uniform(3.0, 5.5, n), rng.uniform(0.8, 1.6, n)


def mean_use_m3h(population: np.ndarray) -> np.ndarray:
    """Billed use of a district, mean m³/h, from its inhabitants."""
    return population * BILLED_L_PER_INH_DAY / 1000.0 / 24.0


def dma_meters(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    population = np.array([env.fleet.population[s.insee] for s in sensors], dtype=np.float64)
    nrw, static_bar, head_bar = _dma_params(env, n)
    shape = water_shape(clock)[:, None]
    rng = env.noise("dma_meter", clock.index)
    slow = 0.05 * env.smooth("dma_meter", 1, clock.index, 24, n)
    use = mean_use_m3h(population) * shape * (1.0 + slow + 0.03 * rng.standard_normal((MINUTES_PER_DAY, n)))
    pressure = static_bar - head_bar * (shape / _PEAK_WATER) ** HAZEN_WILLIAMS_EXPONENT
    reference = static_bar - head_bar * _MEAN_HEAD_TERM
    burst, drop = env.effects.leak_at([s.insee for s in sensors], clock.t_ns)
    feeder_of = {s.insee: s.index for s in env.fleet.of_kind("feeder")}
    pumps_off = env.effects.feeders_off([feeder_of[s.insee] for s in sensors], clock.t_ns)
    pressure = np.where(pumps_off, pressure * (1.0 - PUMP_LOSS_SHARE), pressure) - drop
    pressure = np.clip(pressure + 0.02 * rng.standard_normal((MINUTES_PER_DAY, n)), 0.2, None)
    leak = mean_use_m3h(population) * nrw / (1.0 - nrw) * (pressure / reference) ** LEAK_EXPONENT
    inflow = (use + leak + burst) * (1.0 + 0.01 * rng.standard_normal((MINUTES_PER_DAY, n)))
    return {"inflow_m3h": inflow, "consumption_m3h": use, "pressure_bar": pressure}


def reservoirs(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    served = [dict(s.tags)["serves"].split("+") for s in sensors]
    population = np.array(
        [sum(env.fleet.population[c] for c in communes) for communes in served], dtype=float
    )
    outflow = mean_use_m3h(population)[None, :] * 1.6 * water_shape(clock)[:, None]  # billed use and leaks
    inflow = outflow.mean(axis=0, keepdims=True)  # pumped evenly over the day
    volume = mean_use_m3h(population) * 1.6 * 24.0 * TANK_DAYS
    swing = np.cumsum(inflow - outflow, axis=0) / 60.0 / volume * 100.0
    dry = monthly(np.array([0, 1, 1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0], dtype=float), clock.year_fraction)[:, None]
    base = 70.0 - 8.0 * dry + 4.0 * env.smooth("reservoir", 1, clock.index, 1, n)
    rng = env.noise("reservoir", clock.index)
    level = base + swing + 0.15 * rng.standard_normal((MINUTES_PER_DAY, n))
    return {"level_pct": np.clip(level, 2.0, 100.0)}


# -- mobility -----------------------------------------------------------------------------------
def _storm_calm(env: Environment, clock: DayClock, sensors) -> np.ndarray:
    """Share of traffic left under a cyclone: roads empty once the wind passes ~22 m/s, and stay
    so for STORM_LOCKDOWN_H after the wind has dropped (the red alert is lifted later)."""
    t_ns = np.concatenate([clock.t_ns[0] - np.arange(STORM_LOCKDOWN_MIN, 0, -1) * MINUTE_NS, clock.t_ns])
    storm = env.effects.cyclone_at(np.array([s.index for s in sensors]), t_ns)
    if storm is None:
        return np.ones((MINUTES_PER_DAY, len(sensors)))
    strongest = maximum_filter1d(
        storm.speed_ms, STORM_LOCKDOWN_MIN + 1, axis=0, origin=STORM_LOCKDOWN_MIN // 2
    )
    return 1.0 - 0.95 * np.clip((strongest[STORM_LOCKDOWN_MIN:] - 12.0) / 10.0, 0.0, 1.0)


def traffic_counters(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    aadt = _sizes(sensors)
    capacity_vh = np.array([s.site.factor for s in sensors])
    free = np.array([FREE_FLOW_KMH.get(dict(s.tags).get("road", ""), 70.0) for s in sensors])
    rate = aadt[None, :] / MINUTES_PER_DAY * traffic_shape(clock)[:, None] * _storm_calm(env, clock, sensors)
    rng = env.noise("traffic_counter", clock.index)
    vehicles = rng.poisson(rate).astype(np.float64)
    flow_vh = rate * 60.0
    speed = free / (1.0 + BPR_ALPHA * (flow_vh / capacity_vh) ** BPR_BETA)
    speed = np.clip(speed * (1.0 + 0.04 * rng.standard_normal(speed.shape)), 5.0, None)
    return {"vehicles": vehicles, "speed_kmh": speed}


def bus_counters(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    shape = _BUS(clock.local_hour) * _day_type(clock, BUS_DAY_FACTORS)
    rate = _sizes(sensors)[None, :] / MINUTES_PER_DAY * shape[:, None] * _storm_calm(env, clock, sensors)
    rng = env.noise("bus_counter", clock.index)
    return {"boardings": rng.poisson(rate).astype(np.float64)}


# -- air ----------------------------------------------------------------------------------------
def air_stations(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    speed, _, _ = surface_wind(env, clock, sensors, np.full(n, 0.8))
    traffic = _sizes(sensors)[None, :] * traffic_shape(clock)[:, None]
    # Sea salt rises with the wind (Lewis & Schwartz 2004, Sea Salt Aerosol Production, AGU).
    sea_salt = 6.0 + 1.0 * speed
    dust = (
        monthly(DUST_SEASON_UGM3, clock.year_fraction)[:, None] + env.effects.dust_pm10(clock.t_ns)[:, None]
    )
    urban = 8.0 * traffic * 4.0 / (speed + 1.0)
    rng = env.noise("air_station", clock.index)
    slow = np.exp(0.15 * env.smooth("air_station", 1, clock.index, 96, n))
    pm10 = (sea_salt + dust + urban) * slow + 0.8 * rng.standard_normal((MINUTES_PER_DAY, n))
    pm25 = (0.22 * sea_salt + 0.30 * dust + 0.65 * urban) * slow + 0.4 * rng.standard_normal(
        (MINUTES_PER_DAY, n)
    )
    no2 = (3.0 + 28.0 * traffic * 5.0 / (speed + 2.0)) * np.exp(
        0.2 * env.smooth("air_station", 2, clock.index, 48, n)
    )
    no2 = no2 + 1.0 * rng.standard_normal((MINUTES_PER_DAY, n))
    sun = np.clip(solar_cos_zenith(clock.t_ns, _column(sensors, "lon"), _column(sensors, "lat")), 0.0, 1.0)
    o3 = 42.0 + 22.0 * sun - 0.35 * no2 + 4.0 * env.smooth("air_station", 3, clock.index, 24, n)
    o3 = o3 + 1.0 * rng.standard_normal((MINUTES_PER_DAY, n))
    pm10 = np.clip(pm10, 1.0, None)
    return {
        "pm10_ugm3": pm10,
        "pm25_ugm3": np.clip(pm25, 0.5, pm10),
        "no2_ugm3": np.clip(no2, 0.5, None),
        "o3_ugm3": np.clip(o3, 2.0, None),
    }


def h2s_sensors(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    speed, _, _ = surface_wind(env, clock, sensors, np.full(n, 1.0))
    # Gas from stranded algae builds up in calm air, at night most (assumption).
    calm = 6.0 / (speed + 2.0) * (1.0 + 0.3 * np.cos(2 * np.pi * (clock.local_hour - 4.0) / 24.0))[:, None]
    rng = env.noise("h2s_sensor", clock.index)
    base = 0.3 * np.exp(0.4 * env.smooth("h2s_sensor", 1, clock.index, 24, n))
    added = env.effects.h2s([s.index for s in sensors], clock.t_ns) * calm
    added *= np.exp(0.25 * env.smooth("h2s_sensor", 2, clock.index, 96, n))
    return {"h2s_ppb": np.clip(base + added + 0.05 * rng.standard_normal((MINUTES_PER_DAY, n)), 0.0, None)}


def noise_sensors(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    speed, _, _ = surface_wind(env, clock, sensors, np.full(n, 0.8))
    flow_vh = (
        _sizes(sensors)[None, :] / 24.0 * traffic_shape(clock)[:, None] * _storm_calm(env, clock, sensors)
    )
    road_db = 10.0 * np.log10(np.fmax(flow_vh, 1.0)) + 33.0  # ~63 dB(A) at 1,000 vehicles/h nearby
    background_db = 38.0 + 0.6 * speed
    rng = env.noise("noise_sensor", clock.index)
    level = 10.0 * np.log10(10.0 ** (road_db / 10.0) + 10.0 ** (background_db / 10.0))
    flights = np.array([s.site.factor if s.site.factor > 1 else 0.0 for s in sensors])
    awake = ((clock.local_hour >= 6.0) & (clock.local_hour < 23.0)) / (17.0 * 60.0)
    overflights = rng.poisson(awake[:, None] * flights[None, :])
    level += np.where(overflights > 0, 18.0, 0.0) + 1.2 * rng.standard_normal((MINUTES_PER_DAY, n))
    return {"laeq_db": level}


# -- waste --------------------------------------------------------------------------------------
def weighbridges(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    served = [dict(s.tags)["serves"].split("+") for s in sensors]
    population = np.array(
        [sum(env.fleet.population[c] for c in communes) for communes in served], dtype=float
    )
    tonnes_per_day = population * WASTE_KG_PER_INH_YEAR / 1000.0 / 365.0
    working = np.where(clock.rest, 0.0, np.where(clock.saturday & (clock.local_hour < 11.0), 0.5, 1.0))
    working = np.where(clock.saturday & (clock.local_hour >= 11.0), 0.0, working)
    week = 5.0 + 0.5 * (5.0 / 8.0)  # weekday shifts plus a Saturday half-morning
    trucks = tonnes_per_day * 7.0 / week / TRUCK_T
    rate = trucks[None, :] * (_WASTE(clock.local_hour) * working)[:, None] / MINUTES_PER_DAY
    rng = env.noise("weighbridge", clock.index)
    count = rng.poisson(rate)
    loads = count * TRUCK_T + np.sqrt(count) * TRUCK_T_SD * rng.standard_normal(count.shape)
    return {"tonnes": np.where(count > 0, np.clip(loads, 0.5, None), 0.0)}


# -- weather ------------------------------------------------------------------------------------
def _diurnal_temperature(hour: np.ndarray) -> np.ndarray:
    """-1 at 6:00, +1 at 14:00 local: a cosine rise, then an exponential cooling through the
    evening and night (mean over the day about -0.25)."""
    x = np.mod(hour - 6.0, 24.0)
    tail = np.exp(-16.0 / EVENING_COOLING_H)
    cooling = -1.0 + 2.0 * (np.exp(-(x - 8.0) / EVENING_COOLING_H) - tail) / (1.0 - tail)
    return np.where(x < 8.0, -np.cos(np.pi * x / 8.0), cooling)


def _recent_share(flags: np.ndarray, minutes: int) -> np.ndarray:
    """Share of the last ``minutes`` minutes (this one included) where ``flags`` holds, per column."""
    counts = np.cumsum(flags, axis=0, dtype=np.float64)
    earlier = np.vstack([np.zeros((minutes, flags.shape[1])), counts[:-minutes]])
    return (counts - earlier) / minutes


def _magnus_hpa(t_c: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure over water (Alduchov & Eskridge 1996), hPa."""
    return 6.1094 * np.exp(17.625 * t_c / (t_c + 243.04))


def weather_stations(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    weather = island_weather(env.seed, clock.index)
    speed, direction, storm = surface_wind(env, clock, sensors, _sizes(sensors))
    rng = env.noise("weather_station", clock.index)
    speed = np.clip(speed * (1.0 + 0.08 * rng.standard_normal((MINUTES_PER_DAY, n))), 0.0, None)
    gust = speed * np.clip(GUST_FACTOR + 0.1 * rng.standard_normal((MINUTES_PER_DAY, n)), 1.1, None)
    direction = np.mod(np.rint(direction + 10.0 * rng.standard_normal((MINUTES_PER_DAY, n))), 360.0)
    rain = rain_mm(env, clock.index, sensors)
    raining = _recent_share(rain > 0, 30)  # rain in the last half hour cools and moistens the air
    elevation = np.array([s.site.elevation_m for s in sensors])
    season = np.cos(2 * np.pi * (clock.year_fraction - 0.70))[:, None]
    temperature = (
        TEMP_MEAN_C
        + TEMP_SEASON_C * season
        + TEMP_DIURNAL_C
        * _diurnal_temperature(clock.local_hour)[:, None]
        * (1.0 - 0.4 * weather.cloud[:, None])
        - LAPSE_C_PER_M * elevation[None, :]
        + weather.temp_anomaly_c[:, None]
        - 2.5 * raining
        + 0.1 * rng.standard_normal((MINUTES_PER_DAY, n))
    )
    wet_season = monthly(
        np.array([0, 0, 0, 0.2, 0.5, 0.8, 1, 1, 1, 1, 0.8, 0.3], dtype=float), clock.year_fraction
    )
    dew = 21.5 + 1.8 * wet_season[:, None] - LAPSE_C_PER_M * 0.7 * elevation[None, :]
    dew = dew + 0.8 * env.smooth("weather_station", 1, clock.index, 8, n)
    humidity = 100.0 * _magnus_hpa(np.minimum(dew, temperature)) / _magnus_hpa(temperature)
    humidity = np.clip(np.maximum(humidity, 96.0 * np.clip(raining, 0, 1)), 20.0, 100.0)
    pressure = weather.pressure_hpa[:, None] + 0.05 * rng.standard_normal((MINUTES_PER_DAY, n))
    if storm is not None:
        pressure = pressure - storm.deficit_hpa
    return {
        "temperature_c": temperature,
        "humidity_pct": humidity,
        "rain_mm": rain,
        "wind_speed_ms": speed,
        "wind_gust_ms": gust,
        "wind_dir_deg": direction,
        "pressure_hpa": pressure,
    }


# -- hydrology ----------------------------------------------------------------------------------
def _unit_hydrograph() -> np.ndarray:
    """Gamma-shaped response to a minute of rain, peak after UNIT_HYDROGRAPH_PEAK_MIN, sum 1."""
    t = np.arange(12 * 60, dtype=np.float64)
    shape = 3.0
    scale = UNIT_HYDROGRAPH_PEAK_MIN / (shape - 1.0)
    kernel = t ** (shape - 1.0) * np.exp(-t / scale)
    return kernel / kernel.sum()


_UNIT_HYDROGRAPH = _unit_hydrograph()


def river_gauges(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    rain = np.vstack([rain_mm(env, clock.index - 1, sensors), rain_mm(env, clock.index, sensors)]) * 60.0
    runoff = np.stack(
        [np.convolve(rain[:, i], _UNIT_HYDROGRAPH)[MINUTES_PER_DAY : 2 * MINUTES_PER_DAY] for i in range(n)],
        axis=1,
    )
    wet_season = monthly(
        np.array([0.2, 0, 0, 0.1, 0.3, 0.6, 0.8, 1, 1, 1, 0.9, 0.5], dtype=float), clock.year_fraction
    )
    base = 0.45 + 0.25 * wet_season[:, None] + 0.03 * env.smooth("river_gauge", 1, clock.index, 2, n)
    rng = env.noise("river_gauge", clock.index)
    level = base + _sizes(sensors)[None, :] * (RUNOFF_COEFFICIENT * runoff) ** 0.8
    return {"level_m": level + 0.003 * rng.standard_normal((MINUTES_PER_DAY, n))}


def tide_gauges(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    hours = clock.t_ns / 3.6e12
    tide = sum(
        a * np.cos(np.radians(speed * hours + phase)) for a, speed, phase in TIDE_CONSTITUENTS.values()
    )
    rng = env.noise("tide_gauge", clock.index)
    residual = 0.02 * env.smooth("tide_gauge", 1, clock.index, 8, n)
    level = TIDE_MEAN_M + tide[:, None] + residual + 0.004 * rng.standard_normal((MINUTES_PER_DAY, n))
    storm = env.effects.cyclone_at(np.array([s.index for s in sensors]), clock.t_ns)
    if storm is not None:
        level = level + INVERSE_BAROMETER_M_PER_HPA * storm.deficit_hpa
    return {"level_m": level}


def seismometers(sensors, clock: DayClock, env: Environment, done: dict[str, Values]) -> Values:
    n = len(sensors)
    speed, _, _ = surface_wind(env, clock, sensors, np.full(n, 1.0))
    background = SEISMIC_BACKGROUND_UM_S * np.exp(0.3 * env.smooth("seismometer", 1, clock.index, 24, n))
    rng = env.noise("seismometer", clock.index)
    events = rng.poisson(VT_EVENTS_PER_DAY / MINUTES_PER_DAY, (MINUTES_PER_DAY, n))
    amplitude = rng.lognormal(np.log(1.5), 0.8, (MINUTES_PER_DAY, n))
    velocity = (
        background + 0.03 * speed + events * amplitude + 0.02 * rng.standard_normal((MINUTES_PER_DAY, n))
    )
    return {"velocity_rms_um_s": np.clip(velocity, 0.01, None)}


GENERATORS: dict[str, Callable[..., Values]] = {
    "feeder": feeders,
    "pv_plant": pv_plants,
    "wind_farm": wind_farms,
    "thermal_plant": thermal_plants,
    "grid_frequency": grid,
    "dma_meter": dma_meters,
    "reservoir": reservoirs,
    "traffic_counter": traffic_counters,
    "bus_counter": bus_counters,
    "air_station": air_stations,
    "h2s_sensor": h2s_sensors,
    "noise_sensor": noise_sensors,
    "weighbridge": weighbridges,
    "weather_station": weather_stations,
    "river_gauge": river_gauges,
    "tide_gauge": tide_gauges,
    "seismometer": seismometers,
}


def day_values(env: Environment, clock: DayClock) -> dict[str, Values]:
    """Every kind's values for the day: kind -> field -> (1440, sensors of the kind)."""
    done: dict[str, Values] = {}
    for kind, generate in GENERATORS.items():
        sensors = env.fleet.of_kind(kind)
        if sensors:
            done[kind] = generate(sensors, clock, env, done)
    return done
