"""Seismic hazard of Martinique: regulatory zone per commune, historical catalogues, and scenario shaking.

Three things live here:

1. The regulatory zoning. Article R563-4 of the Code de l'environnement (décret n° 2010-1254 du
   22 octobre 2010) divides France into five seismic zones; the annex of décret n° 2010-1255 du
   22 octobre 2010 (délimitation des zones de sismicité, annex) puts every commune of
   Martinique in zone 5, "sismicité forte". The arrêté du 22 octobre 2010 (modified; rules for
   buildings "à risque normal", article 4) gives the reference peak ground acceleration on rock
   a_gr of each zone, the value used with the French annex of Eurocode 8 (NF EN 1998-1/NA).
2. Catalogues: the ISC-GEM instrumental catalogue (1910–2016, Mw) and the NOAA NCEI significant
   earthquakes (historical, with effects), with event–commune distances.
3. A scenario: median ground motion of one event at every commune, PGA from Atkinson & Boore
   (2003) and Modified Mercalli Intensity from Worden et al. (2012). The default scenario is the
   intraslab Mw 7.4 event of 29 November 2007, 150 km under the Dominica channel.

References
- Atkinson, G. M. and D. M. Boore, 2003: Empirical ground-motion relations for subduction-zone
  earthquakes and their application to Cascadia and other regions. Bull. Seism. Soc. Am. 93(4),
  1703–1729 (eq. 1, table 1 "in-slab events, global"); erratum 2008, BSSA 98(5), 2567–2569
  (concerns the interface equations and regional corrections; the global in-slab PGA is unchanged).
- Worden, C. B., M. C. Gerstenberger, D. A. Rhoades and D. J. Wald, 2012: Probabilistic
  relationships between ground-motion parameters and Modified Mercalli Intensity in California.
  Bull. Seism. Soc. Am. 102(1), 204–221 (table 1, PGA, bilinear form without M and R terms).
- Storchak, D. A. et al., 2013, 2015; Di Giacomo, D. et al., 2018: ISC-GEM Global Instrumental
  Earthquake Catalogue, v7.0, DOI 10.31905/D808B825.
- Schlupp, A., C. Sira, M. Cara et al., 2008: Séisme de Martinique, 29 novembre 2007. Rapport du
  BCSF : synthèse sismologique et étude macrosismique. BCSF-RéNaSS, hal-03112999 (EMS-98
  intensities up to VI–VII across the island).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from observatory.config import Settings
from observatory.errors import DataFormatError, ParameterError, did_you_mean
from observatory.territory.crs import METRIC_CRS, STORAGE_CRS

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius R1 (Moritz 2000, Geodetic Reference System 1980)
G_MS2 = 9.80665  # standard gravity (CGPM 1901), m/s²
CM_PER_M = 100.0

# --- Regulatory zoning --------------------------------------------------------------------------
ZONE_LABELS = {
    1: "sismicité très faible",
    2: "sismicité faible",
    3: "sismicité modérée",
    4: "sismicité moyenne",
    5: "sismicité forte",
}  # article R563-4 of the Code de l'environnement (décret n° 2010-1254 du 22 octobre 2010)
# Reference PGA on rock (EC8 ground type A) by zone, m/s²: arrêté du 22 octobre 2010, article 4.
ZONE_AGR_MS2 = {1: 0.4, 2: 0.7, 3: 1.1, 4: 1.6, 5: 3.0}
MARTINIQUE_ZONE = 5  # décret n° 2010-1255 du 22 octobre 2010, annex: every commune of the 972
ZONING_SOURCE = (
    "Décret n° 2010-1255 du 22 octobre 2010 portant délimitation des zones de sismicité du territoire "
    "français (annexe, département 972: toutes les communes, zone 5); zones defined by articles "
    "R563-1 to R563-8 of the Code de l'environnement (décret n° 2010-1254); a_gr from the arrêté du "
    "22 octobre 2010 modifié, article 4"
)

# --- Atkinson & Boore (2003), in-slab events, global, PGA ------------------------------------------
# log10 Y = c1 + c2 M + c3 h + c4 R − g log10 R + c5 sl Sc + c6 sl Sd + c7 sl Se,
# Y the random horizontal PGA in cm/s², h the focal depth in km (h = 100 for deeper events),
# R = sqrt(D² + Δ²), D the closest distance to the rupture (hypocentral for a point source),
# Δ = 0.00724 × 10^(0.507 M) the near-source saturation term, g = 10^(0.301 − 0.01 M) for in-slab.
AB03_SLAB_C1 = -0.04713
AB03_SLAB_C2 = 0.6909
AB03_SLAB_C3_PER_KM = 0.01130
AB03_SLAB_C4_PER_KM = -0.00202
AB03_SITE_C5 = 0.19  # NEHRP C, 360 < Vs30 <= 760 m/s
AB03_SITE_C6 = 0.24  # NEHRP D, 180 <= Vs30 <= 360 m/s
AB03_SITE_C7 = 0.29  # NEHRP E, Vs30 < 180 m/s
AB03_SIGMA_LOG10 = 0.27  # total standard deviation of log10 Y
AB03_DEPTH_CAP_KM = 100.0
AB03_SLAB_MAG_CAP = 8.0
AB03_DELTA_KM = 0.00724
AB03_DELTA_MAG = 0.507
AB03_SLAB_G0 = 0.301
AB03_SLAB_G_MAG = -0.01
AB03_SL_PGA_CMS2 = (100.0, 500.0)  # soil non-linearity: sl falls from 1 to 0 between these rock PGAs
SITE_CLASSES = ("B", "C", "D", "E")  # NEHRP; B (rock, 760–1500 m/s) is AB03's reference condition
DEFAULT_SITE_CLASS = "B"  # the rock condition a_gr is defined on (EC8 ground type A ~ NEHRP B)

# --- Worden et al. (2012), PGA (cm/s²) to MMI, table 1 ---------------------------------------------
# MMI = C1 + C2 log10 PGA for log10 PGA <= T1, else C3 + C4 log10 PGA.
W12_C1 = 1.78
W12_C2 = 1.55
W12_C3 = -1.60
W12_C4 = 3.70
W12_T1_LOG10_CMS2 = 1.57
MMI_RANGE = (1.0, 10.0)

ISCGEM_COLUMNS = (
    "eventid",
    "origin_time_utc",
    "lat",
    "lon",
    "epicentre_quality",
    "depth_km",
    "depth_quality",
    "mw",
    "mw_type",
    "mw_quality",
)
NCEI_MAGNITUDES = ("EQ_MAG_MW", "EQ_MAG_MS", "EQ_MAG_MB", "EQ_MAG_ML", "EQ_MAG_MFA", "EQ_MAG_UNK")
NCEI_REQUIRED = ("I_D", "YEAR", "LATITUDE", "LONGITUDE", "FOCAL_DEPTH", *NCEI_MAGNITUDES)
MARTINIQUE_CENTRE = (-61.02, 14.64)  # lon, lat: about the island's middle (Le Lamentin)
DEFAULT_RADIUS_KM = 300.0  # events felt in Martinique: the arc from Guadeloupe to Saint Vincent

CATALOGUE_COLUMNS = (
    "source",
    "event_id",
    "origin_time_utc",
    "year",
    "lat",
    "lon",
    "depth_km",
    "mag",
    "mag_type",
    "location",
    "intensity_max",
    "deaths",
)


def seismic_zones(config: Settings | None = None) -> pd.DataFrame:
    """Regulatory seismic zone of every commune: insee, name, zone, zone_label, agr_ms2, agr_g, source."""
    from observatory.territory.communes import communes

    frame = pd.DataFrame(communes(config)[["insee", "name"]])
    frame["zone"] = MARTINIQUE_ZONE
    frame["zone_label"] = ZONE_LABELS[MARTINIQUE_ZONE]
    frame["agr_ms2"] = ZONE_AGR_MS2[MARTINIQUE_ZONE]
    frame["agr_g"] = frame["agr_ms2"] / G_MS2
    frame["source"] = ZONING_SOURCE
    return frame.reset_index(drop=True)


def haversine_km(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (arrays broadcast)."""
    lon1, lat1, lon2, lat2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def commune_sites(config: Settings | None = None) -> pd.DataFrame:
    """One site per commune for distances: insee, name, lon, lat of the polygon's centroid,
    computed in EPSG:5490 (a commune spans at most ~15 km, small beside depths of 10–150 km)."""
    from observatory.territory.communes import communes

    shapes = communes(config)
    centres = shapes.geometry.to_crs(METRIC_CRS).centroid.to_crs(STORAGE_CRS)
    return pd.DataFrame(
        {"insee": shapes["insee"], "name": shapes["name"], "lon": centres.x, "lat": centres.y}
    ).reset_index(drop=True)


def _number(text: str, what: str) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number") from None


def _check_position(lat: float, lon: float, depth_km: float) -> None:
    if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0:
        raise ValueError(f"position lat={lat}, lon={lon} is outside the globe")
    if not math.isnan(depth_km) and not -10.0 <= depth_km <= 800.0:
        raise ValueError(f"depth {depth_km} km is outside -10..800 km")


@dataclass(frozen=True)
class Catalogue:
    """Earthquakes, one row each: source, event_id, origin_time_utc (UTC, NaT when unknown or before
    1678), year, lat, lon (degrees), depth_km, mag, mag_type, location, intensity_max, deaths.

    ``rejected`` holds one DataFormatError (file and line) per row that could not be read when the
    catalogue was read with ``on_error="skip"``; nothing is dropped without a trace.
    """

    events: pd.DataFrame
    rejected: tuple[DataFormatError, ...] = field(default=())

    @classmethod
    def from_iscgem(cls, path: str | Path, on_error: Literal["raise", "skip"] = "raise") -> Catalogue:
        """Read the ISC-GEM subset CSV (columns of ``ISCGEM_COLUMNS``; Mw, depth in km)."""
        path = Path(path)
        _check_on_error(on_error)
        rows, rejected = [], []
        for line_no, row in _csv_rows(path, ",", ISCGEM_COLUMNS):
            event = _read_row(_iscgem_event, row, "ISC-GEM", path, line_no, on_error, rejected)
            if event is not None:
                rows.append(event)
        return cls(_frame(rows), tuple(rejected))

    @classmethod
    def from_ncei(
        cls,
        path: str | Path,
        centre: tuple[float, float] = MARTINIQUE_CENTRE,
        radius_km: float = DEFAULT_RADIUS_KM,
        on_error: Literal["raise", "skip"] = "raise",
    ) -> Catalogue:
        """Read the NOAA NCEI significant-earthquake TSV, keeping located events whose epicentre lies
        within ``radius_km`` of ``centre`` (lon, lat). Magnitude: the first given of Mw, Ms, mb, ML,
        MFA and unknown type, as NCEI lists them. Rows without a position are not near anything and
        are left out silently: they are not errors."""
        path = Path(path)
        _check_on_error(on_error)
        if not np.isfinite(radius_km) or radius_km <= 0:
            raise ParameterError(
                f"radius {radius_km} km", parameter="radius_km", hint="Use a positive distance."
            )
        rows, rejected = [], []
        for line_no, row in _csv_rows(path, "\t", NCEI_REQUIRED):
            event = _read_row(_ncei_event, row, "NCEI", path, line_no, on_error, rejected)
            if event is not None and haversine_km(*centre, event["lon"], event["lat"]) <= radius_km:
                rows.append(event)
        return cls(_frame(rows), tuple(rejected))

    @classmethod
    def from_registry(
        cls, name: Literal["iscgem", "earthquakes_ncei"] = "iscgem", config: Settings | None = None
    ) -> Catalogue:
        """The catalogue held by the reference-file registry (``iscgem`` or ``earthquakes_ncei``)."""
        from observatory.territory.registry import fetch

        readers = {"iscgem": cls.from_iscgem, "earthquakes_ncei": cls.from_ncei}
        if name not in readers:
            raise ParameterError(f"no catalogue {name!r}", parameter="name", hint=did_you_mean(name, readers))
        return readers[name](fetch(name, config))

    def __len__(self) -> int:
        return len(self.events)

    def largest(self, n: int = 1) -> pd.DataFrame:
        """The ``n`` events of highest magnitude, largest first (ties: earliest first)."""
        ordered = self.events.sort_values(["mag", "year"], ascending=[False, True], kind="stable")
        return ordered.head(n).reset_index(drop=True)

    def event(self, event_id: str) -> pd.Series:
        """One event by its id (ParameterError naming close ids otherwise)."""
        match = self.events[self.events["event_id"] == str(event_id)]
        if match.empty:
            raise ParameterError(
                f"no event {event_id!r} in the catalogue",
                parameter="event_id",
                hint=did_you_mean(str(event_id), self.events["event_id"].tolist()),
            )
        return match.iloc[0]

    def distances(self, sites: pd.DataFrame) -> pd.DataFrame:
        """Distance of every event to every site (columns insee, lon, lat): event_id, insee,
        epicentral_km (great circle) and hypocentral_km = sqrt(epicentral² + depth²), a flat-Earth
        combination within about 1 % of the chord up to 500 km; an event without depth gets NaN."""
        ev, st = self.events, sites.reset_index(drop=True)
        epi = haversine_km(ev["lon"].to_numpy()[:, None], ev["lat"].to_numpy()[:, None], st["lon"], st["lat"])
        depth = ev["depth_km"].to_numpy(dtype=float)[:, None]
        hypo = np.hypot(epi, depth)
        return pd.DataFrame(
            {
                "event_id": np.repeat(ev["event_id"].to_numpy(), len(st)),
                "insee": np.tile(st["insee"].to_numpy(), len(ev)),
                "epicentral_km": epi.ravel(),
                "hypocentral_km": hypo.ravel(),
            }
        )

    def distances_to_communes(self, config: Settings | None = None) -> pd.DataFrame:
        """``distances`` to the centroid of each of the 34 communes."""
        return self.distances(commune_sites(config))


def _read_row(parse, row: dict, what: str, path: Path, line_no: int, on_error: str, rejected: list):
    """``parse(row)``, or None for a row that cannot be read: raised, or kept in ``rejected``."""
    try:
        return parse(row)
    except ValueError as exc:
        error = DataFormatError(
            f"unreadable {what} row: {exc}",
            path=path,
            line=line_no,
            hint="Fix or remove the row, or read with on_error='skip' to keep the others.",
        )
        if on_error == "raise":
            raise error from exc
        rejected.append(error)
        return None


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise ParameterError(
            f"on_error {on_error!r}", parameter="on_error", hint=did_you_mean(on_error, ("raise", "skip"))
        )


def _csv_rows(path: Path, delimiter: str, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"cannot read the file: {exc}", path=path) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise DataFormatError(
            f"missing columns {missing}", path=path, line=1, hint=f"Expected the columns {list(required)}."
        )
    for row in reader:
        yield reader.line_num, row


def _check_fields(row: dict) -> None:
    # csv.DictReader gives a row with too many fields a None key, one with too few None values.
    if None in row:
        raise ValueError(f"{len(row[None])} more field(s) than the header")
    if any(value is None for value in row.values()):
        raise ValueError("fewer fields than the header")


def _iscgem_event(row: dict) -> dict:
    _check_fields(row)
    lat, lon = _number(row["lat"], "lat"), _number(row["lon"], "lon")
    depth = _number(row["depth_km"], "depth_km")
    mw = _number(row["mw"], "mw")
    if math.isnan(lat) or math.isnan(lon) or math.isnan(mw):
        raise ValueError("lat, lon and mw are required")
    _check_position(lat, lon, depth)
    time = pd.to_datetime(row["origin_time_utc"].strip(), format="%Y-%m-%d %H:%M:%S.%f", errors="coerce")
    if pd.isna(time):
        raise ValueError(f"origin time {row['origin_time_utc']!r} is not 'YYYY-MM-DD HH:MM:SS.ss'")
    return {
        "source": "ISC-GEM v7.0",
        "event_id": row["eventid"].strip(),
        "origin_time_utc": time.tz_localize("UTC"),
        "year": time.year,
        "lat": lat,
        "lon": lon,
        "depth_km": depth,
        "mag": mw,
        "mag_type": f"Mw ({row['mw_type'].strip()})",
        "location": "",
        "intensity_max": math.nan,
        "deaths": math.nan,
    }


def _ncei_event(row: dict) -> dict | None:
    _check_fields(row)
    lat, lon = _number(row["LATITUDE"], "LATITUDE"), _number(row["LONGITUDE"], "LONGITUDE")
    if math.isnan(lat) or math.isnan(lon):
        return None
    depth = _number(row["FOCAL_DEPTH"], "FOCAL_DEPTH")
    _check_position(lat, lon, depth)
    year = _number(row["YEAR"], "YEAR")
    if math.isnan(year) or year != int(year):
        raise ValueError(f"YEAR {row['YEAR']!r} is not a whole number")
    mag, mag_type = math.nan, ""
    for column in NCEI_MAGNITUDES:
        value = _number(row[column], column)
        if not math.isnan(value):
            mag, mag_type = value, column.removeprefix("EQ_MAG_")
            break
    return {
        "source": "NOAA NCEI significant earthquakes",
        "event_id": f"ncei-{row['I_D'].strip()}",
        "origin_time_utc": _ncei_time(row, int(year)),
        "year": int(year),
        "lat": lat,
        "lon": lon,
        "depth_km": depth,
        "mag": mag,
        "mag_type": mag_type,
        "location": (row.get("LOCATION_NAME") or "").strip(),
        "intensity_max": _number(row.get("INTENSITY") or "", "INTENSITY"),
        "deaths": _number(row.get("DEATHS") or "", "DEATHS"),
    }


def _ncei_time(row: dict, year: int) -> pd.Timestamp:
    parts = [_number(row.get(c) or "", c) for c in ("MONTH", "DAY", "HOUR", "MINUTE", "SECOND")]
    month, day = parts[0], parts[1]
    if year < 1678 or math.isnan(month) or math.isnan(day):
        return pd.NaT
    hour, minute, second = (0.0 if math.isnan(p) else p for p in parts[2:])
    try:
        start = pd.Timestamp(year=year, month=int(month), day=int(day), tz="UTC")
    except ValueError as exc:
        raise ValueError(f"date {year}-{month:.0f}-{day:.0f} does not exist") from exc
    return start + pd.Timedelta(hours=hour, minutes=minute, seconds=second)


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(CATALOGUE_COLUMNS))
    frame["origin_time_utc"] = pd.to_datetime(frame["origin_time_utc"], utc=True)
    for column in ("lat", "lon", "depth_km", "mag", "intensity_max", "deaths"):
        frame[column] = frame[column].astype(float)
    frame["year"] = frame["year"].astype("int64")
    return frame.reset_index(drop=True)


# --- Scenario shaking ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """A point-source earthquake: epicentre (degrees), focal depth (km), moment magnitude."""

    name: str
    lon: float
    lat: float
    depth_km: float
    mw: float

    @classmethod
    def from_event(cls, event: pd.Series, name: str | None = None) -> Scenario:
        """The scenario of a catalogue row (``Catalogue.event`` or a row of ``Catalogue.largest``)."""
        if not np.isfinite(event["depth_km"]):
            raise ParameterError(
                f"event {event['event_id']} has no depth",
                parameter="event",
                hint="Choose an event with a depth.",
            )
        label = name or f"{event['event_id']} M{event['mag']:.1f} {event['year']}"
        return cls(
            label, float(event["lon"]), float(event["lat"]), float(event["depth_km"]), float(event["mag"])
        )


ISCGEM_2007_EVENT_ID = "13276920"  # 2007-11-29 19:00:19 UTC, Mw 7.40, 14.977N 61.260W, 150.2 km


def ab03_slab_pga_cms2(mw, depth_km, distance_km, site_class: str = DEFAULT_SITE_CLASS) -> np.ndarray:
    """Median PGA (cm/s², random horizontal component) of an in-slab event, Atkinson & Boore (2003)
    eq. 1 with the global in-slab coefficients; ``distance_km`` is the rupture (here hypocentral)
    distance. The soil terms are scaled by sl, computed from the rock PGA as the paper says."""
    if site_class not in SITE_CLASSES:
        raise ParameterError(
            f"site class {site_class!r}", parameter="site_class", hint=did_you_mean(site_class, SITE_CLASSES)
        )
    mag = np.minimum(np.asarray(mw, dtype=float), AB03_SLAB_MAG_CAP)
    h = np.minimum(np.asarray(depth_km, dtype=float), AB03_DEPTH_CAP_KM)
    distance = np.asarray(distance_km, dtype=float)
    delta = AB03_DELTA_KM * 10 ** (AB03_DELTA_MAG * mag)
    r = np.sqrt(distance**2 + delta**2)
    g = 10 ** (AB03_SLAB_G0 + AB03_SLAB_G_MAG * mag)
    log_rock = (
        AB03_SLAB_C1
        + AB03_SLAB_C2 * mag
        + AB03_SLAB_C3_PER_KM * h
        + AB03_SLAB_C4_PER_KM * r
        - g * np.log10(r)
    )
    rock = 10**log_rock
    low, high = AB03_SL_PGA_CMS2
    sl = np.clip(1.0 - (rock - low) / (high - low), 0.0, 1.0)
    site = {"B": 0.0, "C": AB03_SITE_C5, "D": AB03_SITE_C6, "E": AB03_SITE_C7}[site_class]
    return 10 ** (log_rock + site * sl)


def mmi_from_pga(pga_cms2) -> np.ndarray:
    """Modified Mercalli Intensity from PGA (cm/s²), Worden et al. (2012), clipped to 1–10."""
    log_pga = np.log10(np.maximum(np.asarray(pga_cms2, dtype=float), 1e-6))
    mmi = np.where(log_pga <= W12_T1_LOG10_CMS2, W12_C1 + W12_C2 * log_pga, W12_C3 + W12_C4 * log_pga)
    return np.clip(mmi, *MMI_RANGE)


def scenario_shaking(
    scenario: Scenario, sites: pd.DataFrame, site_class: str = DEFAULT_SITE_CLASS
) -> pd.DataFrame:
    """Median shaking of ``scenario`` at ``sites`` (insee, lon, lat): the sites' columns plus
    epicentral_km, hypocentral_km, pga_cms2, pga_g and mmi. Medians only: one standard deviation
    of AB03 is a factor 10^0.27 ≈ 1.9 on PGA."""
    epi = haversine_km(scenario.lon, scenario.lat, sites["lon"].to_numpy(), sites["lat"].to_numpy())
    hypo = np.hypot(epi, scenario.depth_km)
    pga = ab03_slab_pga_cms2(scenario.mw, scenario.depth_km, hypo, site_class)
    out = sites.reset_index(drop=True).copy()
    out["epicentral_km"] = epi
    out["hypocentral_km"] = hypo
    out["pga_cms2"] = pga
    out["pga_g"] = pga / CM_PER_M / G_MS2
    out["mmi"] = mmi_from_pga(pga)
    return out


def scenario_by_commune(
    scenario: Scenario | None = None, site_class: str = DEFAULT_SITE_CLASS, config: Settings | None = None
) -> pd.DataFrame:
    """Median shaking at each commune's centroid; the default scenario is the 29 November 2007
    Mw 7.4 intraslab event as located by ISC-GEM."""
    if scenario is None:
        catalogue = Catalogue.from_registry("iscgem", config)
        scenario = Scenario.from_event(
            catalogue.event(ISCGEM_2007_EVENT_ID), name="Martinique 2007-11-29 Mw 7.4"
        )
    return scenario_shaking(scenario, commune_sites(config), site_class)
