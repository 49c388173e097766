"""Citizen reports as ODK Central exports them: the submissions CSV of a public reporting form.

The form ``signalement_citoyen`` has a group ``signalement`` (category, free text, a geopoint
and a photo), a group ``contact`` (the reporter's name and phone) and a group ``suivi`` that the
municipal staff fill in (status, resolution time, delay). The export has Central's layout
(observatory/sources/odk.py): SubmissionDate first, fields with their group paths, then KEY,
SubmitterID, SubmitterName, ... FormVersion; LF line ends; cells quoted when needed. The geopoint
is one cell ``"lat lon altitude accuracy"`` (as Briefcase and OData exports keep it).

These rows hold personal data on purpose (names, phone numbers, free text): the release privacy
gate must remove them. Read them with the options of INGEST_OPTIONS.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass

import numpy as np
import shapely

from observatory.simulate.calendar import DAY_NS, MINUTE_NS, UTC_OFFSET_H, Window
from observatory.simulate.fleet import Fleet
from observatory.simulate.scenarios import Effects
from observatory.simulate.weather import STREAM_REPORTS, island_weather, stream
from observatory.sources.odk import CENTRAL_META_COLUMNS

FORM_ID = "signalement_citoyen"
FORM_VERSION = "2026010101"
FILE_NAME = "citizen_reports.csv"
# The reader's options for this export (observatory/sources/odk.py read_file), and the same as
# `observatory ingest` options.
INGEST_OPTIONS: dict[str, object] = {
    "category_field": "signalement-categorie",
    "geopoint_field": "signalement-localisation",
    "text_fields": ("signalement-description",),
    "reporter_fields": ("contact-nom", "contact-telephone"),
    "resolved_time_field": "suivi-date_resolution",
}
INGEST_COMMAND_OPTIONS = (
    "--option category_field=signalement-categorie --option geopoint_field=signalement-localisation "
    "--option text_fields=signalement-description --option reporter_fields=contact-nom,contact-telephone "
    "--option resolved_time_field=suivi-date_resolution"
)
HEADER = (
    "SubmissionDate",
    "start",
    "end",
    "signalement-categorie",
    "signalement-description",
    "signalement-localisation",
    "signalement-photo",
    "contact-nom",
    "contact-telephone",
    "suivi-statut",
    "suivi-date_resolution",
    "suivi-delai_h",
    "meta-instanceID",
    *CENTRAL_META_COLUMNS,
)
REPORTS_PER_10K_PER_DAY = 2.0  # "a few a day per 10,000 inhabitants" (issue 5); assumption of the order
CATEGORIES = {  # category: (share of everyday reports, median hours to resolve)
    "pothole": (0.25, 240.0),
    "streetlight": (0.18, 72.0),
    "water_leak": (0.14, 24.0),
    "illegal_dumping": (0.20, 120.0),
    "sargassum": (0.03, 48.0),
    "flooding": (0.06, 24.0),
    "noise": (0.14, 12.0),
}
SCENARIO_REPORTS_PER_DAY = {"sargassum": 6.0, "water_leak": 8.0, "cyclone": 40.0, "grid_outage": 10.0}
TEXTS = {
    "pothole": (
        "Nid-de-poule dangereux sur la chaussée, {place}.",
        "Trou profond sur la route {place}, plusieurs voitures ont crevé.",
        "La chaussée s'effondre au bord de la ravine, {place}.",
    ),
    "streetlight": (
        "Éclairage public en panne depuis plusieurs soirs, {place}.",
        "Lampadaire qui clignote toute la nuit {place}.",
        "Quartier dans le noir, plus aucun lampadaire ne marche, {place}.",
    ),
    "water_leak": (
        "Fuite d'eau importante sur le trottoir, {place}.",
        "L'eau coule dans la rue depuis ce matin, {place}.",
        "Plus de pression au robinet et une fuite sur la conduite, {place}.",
    ),
    "illegal_dumping": (
        "Dépôt sauvage d'encombrants au bord de la route, {place}.",
        "Carcasse de voiture abandonnée et déchets, {place}.",
        "Sacs poubelles et gravats jetés dans la ravine, {place}.",
    ),
    "sargassum": (
        "Échouement massif de sargasses, odeur d'œuf pourri très forte, {place}.",
        "Les sargasses pourrissent sur la plage, maux de tête chez les voisins, {place}.",
        "Baie envahie par les algues, les bateaux ne peuvent plus sortir, {place}.",
    ),
    "flooding": (
        "Route inondée après l'averse, impossible de passer, {place}.",
        "La ravine a débordé, l'eau entre dans les maisons, {place}.",
        "Caniveau bouché, la rue est sous l'eau, {place}.",
    ),
    "noise": (
        "Musique très forte toute la nuit, {place}.",
        "Chantier bruyant dès 5 h du matin, {place}.",
        "Aboiements et klaxons en continu, {place}.",
    ),
}
PLACES = ("rue Victor-Hugo", "route nationale", "près de l'école", "quartier Bellevue", "devant la mairie",
          "chemin de la plage", "cité", "lotissement", "près du marché", "route de la Trace")  # fmt: skip
FIRST_NAMES = ("Marie-Josée", "Jean-Claude", "Josette", "Max", "Serge", "Maryse", "Ludovic", "Sonia", "Fabrice",
               "Nadège", "Christiane", "Patrick", "Murielle", "Steeve", "Line", "Gérard", "Daniella", "Rodrigue")  # fmt: skip
LAST_NAMES = ("Louis-Joseph", "Marie-Sainte", "Jean-Baptiste", "Bellemare", "Théodore", "Valentin", "Rose",
              "Lucien", "Alexandre", "Charles", "Pierre-Louis", "Sainte-Rose", "Joseph-Angélique", "Zobda")  # fmt: skip


@dataclass(frozen=True)
class _Hotspot:
    """Where extra reports of a scenario come from: communes, a time span and a category."""

    category: str
    start_ns: int
    end_ns: int
    communes: tuple[str, ...]
    per_day: float


def _hotspots(effects: Effects, fleet: Fleet) -> list[_Hotspot]:
    spots = []
    if effects.sargassum is not None:
        s = effects.sargassum
        coast = tuple(sorted({x.insee for x in fleet.of_kind("h2s_sensor")}))
        spots.append(
            _Hotspot("sargassum", s.start + DAY_NS, s.end, coast, SCENARIO_REPORTS_PER_DAY["sargassum"])
        )
    if effects.leak is not None:
        leak = effects.leak
        spots.append(
            _Hotspot(
                "water_leak",
                leak.start,
                leak.end + 6 * 3600 * 10**9,
                (leak.insee,),
                SCENARIO_REPORTS_PER_DAY["water_leak"],
            )
        )
    if effects.cyclone is not None:
        c = effects.cyclone
        tripped = {fleet.sensors[i].insee for i in c.outages} or set(fleet.population)
        after = (c.closest_ns, c.closest_ns + 3 * DAY_NS)
        spots.append(
            _Hotspot("flooding", *after, tuple(sorted(fleet.population)), SCENARIO_REPORTS_PER_DAY["cyclone"])
        )
        spots.append(
            _Hotspot("streetlight", *after, tuple(sorted(tripped)), SCENARIO_REPORTS_PER_DAY["cyclone"] / 2)
        )
    if effects.outage is not None:
        o = effects.outage
        shed = tuple(sorted({fleet.sensors[i].insee for i in o.shed}))
        spots.append(_Hotspot("streetlight", o.start, o.end, shed, SCENARIO_REPORTS_PER_DAY["grid_outage"]))
    return spots


class _Places:
    """Random points inside each commune polygon, near its centre (where people live) or, for
    reports from the shore, near the commune's bay."""

    def __init__(self, fleet: Fleet, config) -> None:
        from observatory.territory.communes import communes

        shapes = communes(config)
        self.polygons = dict(zip(shapes["insee"], shapes.geometry, strict=True))
        self.centres = {}
        for insee, polygon in self.polygons.items():
            inner = polygon.representative_point()
            self.centres[insee] = (inner.x, inner.y)
        self.coast = {s.insee: (s.lon, s.lat) for s in fleet.of_kind("h2s_sensor")}

    def points(
        self, rng: np.random.Generator, insee: np.ndarray, shore: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(lon, lat) of one point per report, each inside its commune (32 tries, then the centre)."""
        tries = 32
        lon, lat = np.empty(insee.size), np.empty(insee.size)
        noise = rng.standard_normal((insee.size, 2, tries))
        for code in np.unique(insee):
            for on_shore in (False, True):
                rows = np.flatnonzero((insee == code) & (shore == on_shore))
                if rows.size == 0:
                    continue
                x0, y0 = self.coast[code] if on_shore and code in self.coast else self.centres[code]
                spread = 0.004 if on_shore else 0.012  # degrees: ~0.4 km at a bay, ~1.3 km in a commune
                xs = x0 + spread * noise[rows, 0]
                ys = y0 + spread * noise[rows, 1]
                inside = shapely.contains_xy(self.polygons[code], xs, ys)
                first = inside.argmax(axis=1)
                ok = inside[np.arange(rows.size), first]
                lon[rows] = np.where(ok, xs[np.arange(rows.size), first], x0)
                lat[rows] = np.where(ok, ys[np.arange(rows.size), first], y0)
        return lon, lat


def _iso_ms(t_ns: int) -> str:
    """UTC with milliseconds and a Z, as Central's Date.toISOString()."""
    seconds, rest = divmod(int(t_ns), 10**9)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rest // 10**6:03d}Z"


_MARTINIQUE = dt.timezone(dt.timedelta(hours=UTC_OFFSET_H))


def _device_time(t_ns: int) -> str:
    """Local device time with its offset, as ODK Collect and Enketo record start/end."""
    seconds, rest = divmod(int(t_ns), 10**9)
    local = dt.datetime.fromtimestamp(seconds, _MARTINIQUE)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rest // 10**6:03d}-04:00"


def _phone(style: int, digits: np.ndarray, mobile: str, landline: int) -> str:
    """A Martinique phone number in one of the ways people type them."""
    pairs = [f"{digits[0]}{digits[1]}", f"{digits[2]}{digits[3]}", f"{digits[4]}{digits[5]}"]
    if style == 0:
        return f"+596 {mobile} {' '.join(pairs)}"
    if style == 1:
        return f"0{mobile}{''.join(pairs)}"
    if style == 2:
        return f"0{mobile[:1]} {mobile[1:]} {' '.join(pairs)}"
    return f"0596 {landline} {' '.join(pairs[:2])}"


def _day_drafts(
    rng: np.random.Generator, day: int, seed: int, fleet: Fleet, spots: list[_Hotspot], atlantic: set[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reports sent on one UTC day: (time ns, category index, INSEE code, from the shore)."""
    codes = np.array(sorted(fleet.population))
    population = np.array([fleet.population[c] for c in codes], dtype=np.float64)
    counts = rng.poisson(REPORTS_PER_10K_PER_DAY * population / 10_000)
    insee = np.repeat(codes, counts)
    categories = list(CATEGORIES)
    weights = np.array([CATEGORIES[c][0] for c in categories])
    weights[categories.index("flooding")] *= island_weather(seed, day).wetness
    inland = weights.copy()
    inland[categories.index("sargassum")] = 0.0
    pick = rng.random(insee.size)
    coast_pick = np.searchsorted(np.cumsum(weights) / weights.sum(), pick, side="right")
    inland_pick = np.searchsorted(np.cumsum(inland) / inland.sum(), pick, side="right")
    category = np.where(np.isin(insee, list(atlantic)), coast_pick, inland_pick)
    local_h = np.clip(rng.normal(13.5, 3.8, insee.size), 5.0, 23.9)  # mostly 07:00–21:00 local
    minute = (np.mod(local_h - UTC_OFFSET_H, 24.0) * 60.0).astype(np.int64)
    t_ns = day * DAY_NS + minute * MINUTE_NS + rng.integers(0, 60_000, insee.size) * 10**6
    shore = np.zeros(insee.size, dtype=bool)
    parts = [(t_ns, category, insee, shore)]
    for spot in spots:
        lo, hi = max(spot.start_ns, day * DAY_NS), min(spot.end_ns, (day + 1) * DAY_NS)
        count = int(rng.poisson(spot.per_day * max(hi - lo, 0) / DAY_NS))
        if count == 0:
            continue
        where = np.array(spot.communes)[rng.integers(0, len(spot.communes), count)]
        when = rng.integers(lo // 10**6, hi // 10**6, count) * 10**6
        kind = np.full(count, categories.index(spot.category))
        parts.append((when, kind, where, np.full(count, spot.category == "sargassum")))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))  # type: ignore[return-value]


def reports_csv(seed: int, fleet: Fleet, window: Window, effects: Effects, config=None) -> bytes:
    """The ODK Central submissions CSV of the citizen reports sent during the window (UTF-8, LF)."""
    places = _Places(fleet, config)
    spots = _hotspots(effects, fleet)
    atlantic = set(places.coast)
    rows = []
    for day in window.days:
        rng = stream(seed, STREAM_REPORTS, day)
        t_ns, category, insee, shore = _day_drafts(rng, day, seed, fleet, spots, atlantic)
        rows += _rows(rng, places, window, t_ns, category, insee, shore)
    rows = [r for r in rows if window.start_ns <= r[0] < window.end_ns]
    rows.sort(key=lambda r: (r[0], r[1][HEADER.index("KEY")]))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(r[1] for r in rows)
    return out.getvalue().encode("utf-8")


def _rows(rng, places: _Places, window: Window, t_ns, category, insee, shore) -> list[tuple[int, list[str]]]:
    """The CSV cells of each report, every random choice drawn for all of them at once."""
    n = t_ns.size
    lon, lat = places.points(rng, insee, shore)
    keys = rng.bytes(16 * n)
    text_pick, place_pick = rng.integers(0, 3, n), rng.integers(0, len(PLACES), n)
    anonymous, no_phone, photo = rng.random(n) < 0.15, rng.random(n) < 0.2, rng.random(n) < 0.4
    first, last = rng.integers(0, len(FIRST_NAMES), n), rng.integers(0, len(LAST_NAMES), n)
    phone_digits, phone_style = rng.integers(0, 10, (n, 6)), rng.integers(0, 4, n)
    mobile, landline = rng.random(n) < 0.5, rng.integers(50, 80, n)
    filling_s, typing_s = rng.integers(40, 600, n), rng.integers(1, 30, n)
    spread, rejected, flagged = rng.lognormal(0.0, 0.8, n), rng.random(n) < 0.05, rng.random(n) < 0.2
    altitude, accuracy = rng.uniform(2, 350, n), rng.uniform(3, 25, n)
    names = list(CATEGORIES)
    rows = []
    for i in range(n):
        name = names[int(category[i])]
        t = int(t_ns[i])
        delay_h = CATEGORIES[name][1] * float(spread[i])
        resolved_ns = t + int(delay_h * 3600) * 10**9
        if rejected[i]:
            status, review, resolved = "rejete", "rejected", ""
        elif resolved_ns < window.end_ns:
            status, review, resolved = "resolu", "approved", _iso_ms(resolved_ns)
        elif window.end_ns - t > DAY_NS:
            status, review, resolved = "en_cours", "hasIssues" if flagged[i] else "approved", ""
        else:
            status, review, resolved = "nouveau", "", ""
        key = f"uuid:{uuid.UUID(bytes=keys[16 * i : 16 * i + 16], version=4)}"
        person = "" if anonymous[i] else f"{FIRST_NAMES[first[i]]} {LAST_NAMES[last[i]]}"
        phone = (
            ""
            if anonymous[i] or no_phone[i]
            else _phone(int(phone_style[i]), phone_digits[i], "696" if mobile[i] else "697", int(landline[i]))
        )
        cells = [
            _iso_ms(t),
            _device_time(t - int(filling_s[i]) * 10**9),
            _device_time(t - int(typing_s[i]) * 10**9),
            name,
            TEXTS[name][int(text_pick[i])].format(place=PLACES[int(place_pick[i])]),
            f"{lat[i]:.6f} {lon[i]:.6f} {altitude[i]:.1f} {accuracy[i]:.1f}",
            f"{t // 10**6}.jpg" if photo[i] else "",
            person,
            phone,
            status,
            resolved,
            f"{delay_h:.1f}" if resolved else "",
            key,
            key,
            "7",
            "Lien public - Signalements citoyens",
            "1" if photo[i] else "0",
            "1" if photo[i] else "0",
            "",
            review,
            "",
            "1" if status != "nouveau" else "0",
            FORM_VERSION,
        ]
        rows.append((t, cells))
    return rows
