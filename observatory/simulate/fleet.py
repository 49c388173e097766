"""The simulated sensor fleet: what each kind measures, and where its sensors stand on the island.

Kinds, measurements and fields are the contract the readers and dashboards are written against
(one line-protocol line per sensor and minute). Sites are plausible places inside the commune
they name: commune-wide sensors (a feeder and a district metered area per commune) stand inside
their commune polygon, the others at named places checked against the polygons when the fleet
is built. The fleet does not depend on the seed: the same sensors, ids and sites every run.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

import polars as pl
import shapely
import yaml

from observatory.config import Settings, settings
from observatory.errors import ConfigError
from observatory.sources.base import SENSORS_SCHEMA
from observatory.territory.registry import fetch


@dataclass(frozen=True)
class Field:
    """One line-protocol field: name, unit, written resolution (decimals) and how it aggregates."""

    name: str
    unit: str
    decimals: int
    accumulates: bool = False  # a count or amount "in the minute": summed when --step is coarser
    faults: bool = True  # may carry a simulated sensor fault


@dataclass(frozen=True)
class Kind:
    """A kind of sensor (the sensors table's ``kind``) and the line-protocol measurement it writes."""

    name: str
    domain: str
    measurement: str
    short: str  # sensor_id prefix
    fields: tuple[Field, ...]

    @property
    def unit(self) -> str:
        """Unit of the main (first) field: the sensors table's ``unit``."""
        return self.fields[0].unit


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {k.name: k for k in kinds}


# Order matters: it is the order of the sensors in every line-protocol file (per timestamp).
KINDS: dict[str, Kind] = _kinds(
    Kind(
        "feeder",
        "energy",
        "feeder",
        "feeder",
        (Field("load_mw", "MW", 3), Field("energized", "1", 0, faults=False)),
    ),
    Kind("pv_plant", "energy", "pv", "pv", (Field("power_mw", "MW", 3),)),
    Kind("wind_farm", "energy", "wind_farm", "wind", (Field("power_mw", "MW", 3),)),
    Kind("thermal_plant", "energy", "thermal", "thermal", (Field("power_mw", "MW", 2),)),
    Kind("grid_frequency", "energy", "grid", "grid", (Field("frequency_hz", "Hz", 3),)),
    Kind(
        "dma_meter",
        "water",
        "water_dma",
        "dma",
        (
            Field("inflow_m3h", "m3/h", 2),
            Field("consumption_m3h", "m3/h", 2),
            Field("pressure_bar", "bar", 2),
        ),
    ),
    Kind("reservoir", "water", "reservoir", "reservoir", (Field("level_pct", "%", 1),)),
    Kind(
        "traffic_counter",
        "mobility",
        "traffic",
        "traffic",
        (Field("vehicles", "vehicles", 0, accumulates=True), Field("speed_kmh", "km/h", 1)),
    ),
    Kind("bus_counter", "mobility", "bus", "bus", (Field("boardings", "boardings", 0, accumulates=True),)),
    Kind(
        "air_station",
        "air",
        "air_quality",
        "air",
        (
            Field("pm10_ugm3", "ug/m3", 1),
            Field("pm25_ugm3", "ug/m3", 1),
            Field("no2_ugm3", "ug/m3", 1),
            Field("o3_ugm3", "ug/m3", 1),
        ),
    ),
    Kind("h2s_sensor", "air", "h2s", "h2s", (Field("h2s_ppb", "ppb", 1),)),
    Kind("noise_sensor", "air", "noise", "noise", (Field("laeq_db", "dB(A)", 1),)),
    Kind("weighbridge", "waste", "waste", "waste", (Field("tonnes", "t", 2, accumulates=True),)),
    Kind(
        "weather_station",
        "weather",
        "weather",
        "wx",
        (
            Field("temperature_c", "degC", 1),
            Field("humidity_pct", "%", 0),
            Field("rain_mm", "mm", 1, accumulates=True),
            Field("wind_speed_ms", "m/s", 1),
            Field("wind_gust_ms", "m/s", 1),
            Field("wind_dir_deg", "deg", 0),
            Field("pressure_hpa", "hPa", 1),
        ),
    ),
    Kind("river_gauge", "hydrology", "river", "river", (Field("level_m", "m", 3),)),
    Kind("tide_gauge", "hydrology", "tide", "tide", (Field("level_m", "m", 3),)),
    Kind("seismometer", "hydrology", "seismic", "seismo", (Field("velocity_rms_um_s", "um/s", 3),)),
)


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The three intercommunal waste authorities and their member communes (INSEE codes): CACEM
# (Communauté d'agglomération du Centre de la Martinique), CAP Nord Martinique and Espace Sud
# (Communauté d'agglomération de l'Espace Sud de la Martinique), as listed in BANATIC (DGCL).
INTERCOMMUNALITIES: dict[str, tuple[str, ...]] = {
    "CACEM": _codes("97209 97213 97224 97229"),
    "CAP Nord": _codes(
        "97201 97203 97204 97205 97208 97211 97212 97214 97215 97216 97218 97219 97222 97225 97228 97230 "
        "97233 97234"
    ),
    "Espace Sud": _codes("97202 97206 97207 97210 97217 97220 97221 97223 97226 97227 97231 97232"),
}


@dataclass(frozen=True)
class Site:
    """A named place where a sensor stands; ``size`` is the kind's scale (see each table below)."""

    kind: str
    insee: str
    lon: float
    lat: float
    name: str
    size: float = 1.0
    tags: tuple[tuple[str, str], ...] = ()
    source_system: str = "influxdb"
    installed: dt.date | None = None
    elevation_m: float = 0.0
    factor: float = 1.0  # a second, kind-specific scale (rain factor, exposure, traffic weight...)


# Shares of the island's installed PV (capacity from the Electricity Maps / EDF SEI file) given
# to six aggregation zones, each standing for the plants and rooftops of its area (assumption:
# the centre-east and the dry south host most farms and roofs).
PV_ZONES = (
    Site("pv_plant", "97213", -60.99, 14.61, "Lamentin Place d'Armes", size=0.25),
    Site("pv_plant", "97207", -60.97, 14.575, "Ducos", size=0.18),
    Site("pv_plant", "97221", -60.97, 14.52, "Rivière-Salée", size=0.15),
    Site("pv_plant", "97210", -60.90, 14.61, "Le François", size=0.15),
    Site("pv_plant", "97217", -60.87, 14.47, "Le Marin", size=0.15),
    Site("pv_plant", "97222", -60.94, 14.68, "Le Robert", size=0.12),
)
# Thermal plants: share of the oil-fired capacity (Electricity Maps 'oil', EDF SEI open data);
# the split between sites is an assumption (EDF PEI Bellefontaine B, the newest, carries the
# base; Pointe des Carrières the middle; the Galion combustion turbine the peaks). Galion 2
# (Albioma, bagasse and biomass) takes the whole 'biomass' capacity.
THERMAL_PLANTS = (
    Site("thermal_plant", "97234", -61.155, 14.668, "Bellefontaine B", size=0.52, tags=(("fuel", "oil"),)),
    Site(
        "thermal_plant", "97209", -61.047, 14.607, "Pointe des Carrières", size=0.39, tags=(("fuel", "oil"),)
    ),
    Site("thermal_plant", "97230", -60.955, 14.725, "Galion TAC", size=0.09, tags=(("fuel", "oil"),)),
    Site(
        "thermal_plant",
        "97230",
        -60.9545,
        14.7255,
        "Galion 2 biomasse",
        size=1.0,
        tags=(("fuel", "biomass"),),
    ),
)
OTHER_SITES = (
    Site("wind_farm", "97211", -61.175, 14.855, "Grand'Rivière", size=1.0, elevation_m=150.0),
    Site("grid_frequency", "97213", -61.00, 14.62, "Poste de conduite EDF"),
    # Drinking-water tanks; size = the communes they serve.
    Site("reservoir", "97209", -61.08, 14.63, "Réservoir Didier", tags=(("serves", "97209"),)),
    Site("reservoir", "97213", -60.99, 14.63, "Réservoir Lamentin", tags=(("serves", "97213"),)),
    Site("reservoir", "97227", -60.93, 14.47, "Réservoir Sainte-Luce", tags=(("serves", "97227"),)),
    # Traffic counters; size = annual average daily traffic, vehicles/day, both directions
    # (assumption of the order of the DEAL Martinique counts: the A1 between Fort-de-France and
    # Le Lamentin is the island's busiest road); factor = capacity, vehicles/h; free-flow speed in km/h below.
    Site("traffic_counter", "97213", -61.02, 14.615, "A1 Lamentin", 95_000, (("road", "A1"),), factor=7_000),
    Site(
        "traffic_counter", "97222", -60.95, 14.665, "RN1 Le Robert", 38_000, (("road", "RN1"),), factor=3_400
    ),
    Site(
        "traffic_counter", "97229", -61.10, 14.62, "RN2 Schœlcher", 32_000, (("road", "RN2"),), factor=3_000
    ),
    Site(
        "traffic_counter",
        "97209",
        -61.07,
        14.65,
        "RN3 Route de la Trace",
        18_000,
        (("road", "RN3"),),
        factor=2_000,
    ),
    Site("traffic_counter", "97207", -60.985, 14.575, "RN5 Ducos", 45_000, (("road", "RN5"),), factor=4_000),
    Site(
        "traffic_counter", "97210", -60.91, 14.62, "RN6 Le François", 24_000, (("road", "RN6"),), factor=2_600
    ),
    # Bus boarding counters; size = boardings on a weekday (assumption).
    Site("bus_counter", "97209", -61.068, 14.602, "Pointe Simon", 6_000),
    Site("bus_counter", "97213", -61.01, 14.605, "Mahault", 3_500),
    Site("bus_counter", "97229", -61.095, 14.615, "Schœlcher bourg", 2_000),
    # Air quality; size = how much traffic the station sees (0 background .. 1 roadside).
    Site("air_station", "97209", -61.065, 14.61, "Fort-de-France Renéville", 0.8),
    Site("air_station", "97213", -61.00, 14.61, "Lamentin Bas-Mission", 0.6, source_system="mqtt"),
    Site("air_station", "97229", -61.09, 14.625, "Schœlcher Batelière", 0.4),
    Site("air_station", "97222", -60.94, 14.675, "Le Robert bourg", 0.2, source_system="mqtt"),
    # H2S on the Atlantic coast, where sargassum strands; size = how exposed the bay is.
    Site("h2s_sensor", "97222", -60.93, 14.68, "Le Robert Pointe Lynch", 1.0),
    Site("h2s_sensor", "97210", -60.90, 14.615, "Le François Frégate", 0.9),
    Site("h2s_sensor", "97232", -60.84, 14.55, "Le Vauclin Pointe Faula", 1.2),
    Site("h2s_sensor", "97228", -60.995, 14.785, "Sainte-Marie bourg", 0.6),
    Site("h2s_sensor", "97230", -60.965, 14.74, "La Trinité baie du Galion", 0.8),
    Site("h2s_sensor", "97217", -60.87, 14.47, "Le Marin Cap Chevalier", 0.7),
    # Noise; size = traffic volume seen (vehicles/day), factor = aircraft movements a day.
    Site("noise_sensor", "97209", -61.07, 14.605, "Fort-de-France centre", 25_000, source_system="mqtt"),
    Site("noise_sensor", "97213", -61.00, 14.595, "Lamentin aéroport", 12_000, factor=45),
    Site("noise_sensor", "97229", -61.09, 14.62, "Schœlcher front de mer", 15_000, source_system="mqtt"),
    # Weather stations; factor = rain relative to Le Lamentin; size = trade-wind exposure.
    Site("weather_station", "97213", -61.00, 14.59, "Le Lamentin aéroport", 0.8, elevation_m=3.0),
    Site(
        "weather_station",
        "97230",
        -60.88,
        14.77,
        "La Caravelle",
        1.25,
        elevation_m=26.0,
        factor=0.8,
        source_system="mqtt",
    ),
    Site("weather_station", "97226", -60.87, 14.44, "Sainte-Anne", 1.1, elevation_m=10.0, factor=0.6),
    Site(
        "weather_station",
        "97218",
        -61.135,
        14.77,
        "Le Morne-Rouge",
        0.9,
        elevation_m=430.0,
        factor=2.1,
        source_system="mqtt",
    ),
    Site("weather_station", "97225", -61.17, 14.745, "Saint-Pierre", 0.6, elevation_m=30.0, factor=1.0),
    # River gauges; size = stage rise per unit of runoff (m), factor = catchment rain vs Le Lamentin.
    Site("river_gauge", "97213", -60.99, 14.63, "Lézarde au Lamentin", 0.30, elevation_m=5.0, factor=1.6),
    Site("river_gauge", "97214", -61.06, 14.82, "Capot", 0.25, elevation_m=40.0, factor=2.2),
    Site("river_gauge", "97209", -61.07, 14.62, "Rivière Madame", 0.22, elevation_m=5.0, factor=1.3),
    Site("river_gauge", "97221", -60.96, 14.53, "Rivière Salée", 0.20, elevation_m=5.0, factor=0.9),
    Site("river_gauge", "97225", -61.17, 14.75, "Roxelane", 0.25, elevation_m=15.0, factor=2.0),
    Site("tide_gauge", "97209", -61.066, 14.603, "Fort-de-France port"),
    Site("seismometer", "97225", -61.165, 14.809, "Montagne Pelée sommet", elevation_m=1350.0),
)
# Waste weighbridges, one per intercommunal authority (tag ``serves``).
WEIGHBRIDGES = (
    Site(
        "weighbridge", "97209", -61.045, 14.61, "CACEM Pointe des Carrières", tags=(("authority", "CACEM"),)
    ),
    Site("weighbridge", "97203", -61.11, 14.86, "CAP Nord Le Poteau", tags=(("authority", "CAP Nord"),)),
    Site(
        "weighbridge", "97221", -60.97, 14.52, "Espace Sud Rivière-Salée", tags=(("authority", "Espace Sud"),)
    ),
)


@dataclass(frozen=True)
class Sensor:
    """One sensor of the fleet, with its site and the line-protocol tags it writes."""

    index: int
    sensor_id: str
    kind: Kind
    insee: str
    lon: float
    lat: float
    installed: dt.date
    source_system: str
    site: Site
    tags: tuple[tuple[str, str], ...]  # every tag of its lines, sorted by key (sensor_id, insee included)

    @property
    def prefix(self) -> str:
        """``measurement,tag=value,...`` as the line begins (Telegraf sorts tags by key)."""
        return ",".join([self.kind.measurement, *(f"{k}={v}" for k, v in self.tags)])


@dataclass(frozen=True)
class EnergyReference:
    """Installed capacities (MW) of Martinique by source, latest value of the Electricity Maps file."""

    solar_mw: float
    wind_mw: float
    oil_mw: float
    biomass_mw: float
    battery_mw: float
    dated: dict[str, dt.date] = field(default_factory=dict)


def energy_reference(config: Settings | None = None) -> EnergyReference:
    """Capacities from the registry's ``electricity_mq`` file (Electricity Maps zone MQ, values
    from opendata-martinique.edf.fr): the latest dated value of each source."""
    path = fetch("electricity_mq", config or settings())
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    capacity = document.get("capacity") if isinstance(document, dict) else None
    if not isinstance(capacity, dict):
        raise ConfigError("no 'capacity' mapping", path=path, hint="The Electricity Maps zone file changed.")
    latest, dated = {}, {}
    for source in ("solar", "wind", "oil", "biomass", "battery storage"):
        entries = capacity.get(source)
        if not entries:
            raise ConfigError(f"no capacity for {source!r}", path=path)
        entry = max(entries, key=lambda e: str(e["datetime"]))
        latest[source] = float(entry["value"])
        dated[source] = dt.date.fromisoformat(str(entry["datetime"]))
    return EnergyReference(
        latest["solar"], latest["wind"], latest["oil"], latest["biomass"], latest["battery storage"], dated
    )


@dataclass(frozen=True)
class Fleet:
    """Every simulated sensor, ordered by kind (KINDS order), with the communes' 2021 population."""

    sensors: tuple[Sensor, ...]
    population: dict[str, int]
    energy: EnergyReference

    def of_kind(self, kind: str) -> tuple[Sensor, ...]:
        """The sensors of one kind, in fleet order."""
        return tuple(s for s in self.sensors if s.kind.name == kind)

    def __len__(self) -> int:
        return len(self.sensors)

    def frame(self) -> pl.DataFrame:
        """The fleet as the sensors table (SENSORS_SCHEMA): what ``sensors.csv`` holds."""
        return pl.DataFrame(
            {
                "sensor_id": [s.sensor_id for s in self.sensors],
                "domain": [s.kind.domain for s in self.sensors],
                "kind": [s.kind.name for s in self.sensors],
                "unit": [s.kind.unit for s in self.sensors],
                "insee": [s.insee for s in self.sensors],
                "lon": [round(s.lon, 6) for s in self.sensors],
                "lat": [round(s.lat, 6) for s in self.sensors],
                "installed": [s.installed for s in self.sensors],
                "source_system": [s.source_system for s in self.sensors],
            },
            schema=SENSORS_SCHEMA,
        )


def _installed(sensor_id: str, site: Site) -> dt.date:
    """Install date: the site's own, else a stable date in 2012–2022 derived from the id (not the seed)."""
    if site.installed is not None:
        return site.installed
    return dt.date(2012, 1, 1) + dt.timedelta(days=zlib.crc32(sensor_id.encode()) % (11 * 365))


def _commune_sites(shapes) -> list[Site]:
    """A feeder (at the polygon's representative point) and a district metered area (at its
    centroid, or the representative point when the centroid falls outside) for each commune."""
    sites = []
    for insee, name, geometry in zip(shapes["insee"], shapes["name"], shapes.geometry, strict=True):
        inner = geometry.representative_point()
        centre = geometry.centroid if geometry.contains(geometry.centroid) else inner
        sites.append(Site("feeder", insee, inner.x, inner.y, f"Départ {name}"))
        sites.append(Site("dma_meter", insee, centre.x, centre.y, f"Secteur {name}"))
    return sites


def _check_inside(sites: list[Site], shapes) -> None:
    polygons = dict(zip(shapes["insee"], shapes.geometry, strict=True))
    for site in sites:
        polygon = polygons.get(site.insee)
        if polygon is None or not polygon.contains(shapely.Point(site.lon, site.lat)):
            raise ConfigError(
                f"site {site.name!r} ({site.lon}, {site.lat}) is not inside commune {site.insee}",
                parameter="fleet",
                hint="Move the site inside its commune polygon (observatory.territory.communes).",
            )


def build_fleet(config: Settings | None = None) -> Fleet:
    """The fleet: 34 feeders and 34 district meters (one per commune) and the named sites,
    each placed inside its commune polygon (ConfigError naming a site that is not)."""
    config = config or settings()
    return _build_fleet_cached(config.reference_dir, config)


@lru_cache(maxsize=2)
def _build_fleet_cached(reference_dir, config: Settings) -> Fleet:
    from observatory.territory.communes import communes

    shapes = communes(config)
    population = dict(zip(shapes["insee"], (int(p) for p in shapes["population"]), strict=True))
    energy = energy_reference(config)
    sites = _commune_sites(shapes)
    sites += [*PV_ZONES, *THERMAL_PLANTS, *OTHER_SITES, *WEIGHBRIDGES]
    _check_inside(sites, shapes)
    order = {name: i for i, name in enumerate(KINDS)}
    sites.sort(key=lambda s: order[s.kind])  # stable: commune order, then table order
    counters: dict[tuple[str, str], int] = {}
    sensors = []
    for index, site in enumerate(sites):
        kind = KINDS[site.kind]
        number = counters[(kind.short, site.insee)] = counters.get((kind.short, site.insee), 0) + 1
        sensor_id = f"{kind.short}-{site.insee}-{number:02d}"
        tags = dict(site.tags)
        if site.kind == "weighbridge":
            tags = {"serves": "+".join(INTERCOMMUNALITIES[tags.pop("authority")])}
        tags = {k: v.replace(" ", "_") for k, v in tags.items()}
        tags.update(sensor_id=sensor_id, insee=site.insee)
        installed = _installed(sensor_id, site)
        if site.kind == "wind_farm":
            installed = energy.dated["wind"]
        elif site.kind == "thermal_plant" and dict(site.tags).get("fuel") == "biomass":
            installed = energy.dated["biomass"]
        sensors.append(
            Sensor(
                index=index,
                sensor_id=sensor_id,
                kind=kind,
                insee=site.insee,
                lon=site.lon,
                lat=site.lat,
                installed=installed,
                source_system=site.source_system,
                site=site,
                tags=tuple(sorted(tags.items())),
            )
        )
    return Fleet(tuple(sensors), population, energy)
