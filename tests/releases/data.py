"""Small warehouses for release tests, filled through the real readers: NGSI-LD entities (sensors and
their readings) and an ODK Central export of citizen reports with names, phones and free text."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from observatory.sources.odk import CENTRAL_META_COLUMNS
from observatory.warehouse.ingest import ingest_paths
from observatory.warehouse.store import Warehouse

# ODK Central's root header for a form with groups `signalement` and `contact` and the geopoint
# `localisation` (central-backend lib/data/briefcase.js: SubmissionDate, fields, then metadata).
ODK_FIELDS = [
    "SubmissionDate",
    "meta-instanceID",
    "signalement-categorie",
    "signalement-description",
    "localisation-Latitude",
    "localisation-Longitude",
    "localisation-Altitude",
    "localisation-Accuracy",
    "contact-telephone",
]
ODK_META = list(CENTRAL_META_COLUMNS)
ODK_OPTIONS = {
    "category_field": "signalement-categorie",
    "text_fields": ("signalement-description",),
    "reporter_fields": ("SubmitterName", "contact-telephone"),
}
SAVANE = (-61.0676, 14.6012)  # Fort-de-France, la Savane (97209)
LAMENTIN = (-61.0030, 14.5910)  # Le Lamentin, airport (97213)
FIRST_NAMES = [
    "Éloïse",
    "Marius",
    "Joséphine",
    "Théo",
    "Maëlle",
    "Régis",
    "Chloé",
    "Ludovic",
    "Aïcha",
    "Yannick",
    "Clarisse",
    "Dorian",
    "Sully",
]


def odk_row(
    uid: str,
    *,
    date: str,
    category: str,
    text: str,
    lonlat: tuple[float, float] | None,
    phone: str,
    submitter: str,
) -> list[str]:
    lat, lon = (f"{lonlat[1]:.5f}", f"{lonlat[0]:.5f}") if lonlat else ("", "")
    fields = [date, f"uuid:{uid}", category, text, lat, lon, "12.5", "4.8", phone]
    return fields + [f"uuid:{uid}", "7", submitter, "0", "0", "", "", "collect:abc", "0", "2026111001"]


def write_odk(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ODK_FIELDS + ODK_META)
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def citizen_reports(
    month: str = "2026-11", fdf_reporters: int = 12, lamentin_reporters: int = 3
) -> list[list[str]]:
    """Reports in two cells: Fort-de-France 'voirie' (``fdf_reporters`` people, one of them twice,
    plus two anonymous reports) and Le Lamentin 'dechets' (``lamentin_reporters`` people)."""
    rows = []
    for i in range(fdf_reporters):
        name = f"{FIRST_NAMES[i % len(FIRST_NAMES)]} Pélage-{i}"
        rows.append(
            odk_row(
                f"fdf-{i}",
                date=f"{month}-{(i % 27) + 1:02d}T14:03:11.123Z",
                category="voirie",
                text=f"Nid-de-poule devant le numéro {i}, rue Victor-Hugo, appelez-moi au 0696 12 34 {i:02d}",
                lonlat=(SAVANE[0] + i * 1e-4, SAVANE[1]),
                phone=f"+596 696 12 34 {i:02d}",
                submitter=name,
            )
        )
    rows.append(
        odk_row(
            "fdf-again",
            date=f"{month}-28T09:00:00.000Z",
            category="voirie",
            text="Toujours le même trou",
            lonlat=SAVANE,
            phone="+596 696 12 34 00",
            submitter=f"{FIRST_NAMES[0]} Pélage-0",
        )
    )
    for i in range(2):
        rows.append(
            odk_row(
                f"fdf-anon-{i}",
                date=f"{month}-0{i + 1}T08:00:00Z",
                category="voirie",
                text="",
                lonlat=SAVANE,
                phone="",
                submitter="",
            )
        )
    for i in range(lamentin_reporters):
        rows.append(
            odk_row(
                f"lam-{i}",
                date=f"{month}-{10 + i % 18:02d}T10:00:00Z",
                category="dechets",
                text=f"Dépôt sauvage, écrivez à riverain{i}@example.org",
                lonlat=LAMENTIN,
                phone=f"0696{i:06d}",
                submitter=f"Riverain {i}",
            )
        )
    return rows


def sensor_entities(day: str = "2026-11-20", hours: int = 3) -> list[dict]:
    """Two NGSI-LD stations (normalized form) with ``hours`` hourly observations each."""
    entities = []
    for name, (lon, lat), pm10 in (("FDF-Savane", SAVANE, 30.0), ("Lamentin-Aeroport", LAMENTIN, 20.0)):
        for hour in range(hours):
            when = f"{day}T{hour:02d}:00:00Z"
            entities.append(
                {
                    "id": f"urn:ngsi-ld:AirQualityObserved:Madininair-{name}",
                    "type": "AirQualityObserved",
                    "pm10": {"type": "Property", "value": pm10 + hour, "unitCode": "GQ", "observedAt": when},
                    "location": {
                        "type": "GeoProperty",
                        "value": {"type": "Point", "coordinates": [lon, lat]},
                    },
                }
            )
    return entities


def build_warehouse(
    folder: Path, *, reports: list[list[str]] | None = None, sensors: list[dict] | None = None
) -> Path:
    """A warehouse in ``folder`` with the communes, the sensors' readings and the ODK reports."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = folder / "inputs"
    inputs.mkdir(exist_ok=True)
    path = folder / "warehouse.duckdb"
    with Warehouse.open(path) as warehouse:
        warehouse.load_communes()
        if sensors is None:
            sensors = sensor_entities()
        if sensors:
            entities = inputs / "stations.json"
            entities.write_text(json.dumps(sensors), encoding="utf-8")
            list(ingest_paths(warehouse, [entities]))
        if reports is None:
            reports = citizen_reports()
        if reports:
            export = write_odk(inputs / "signalement_citoyen.csv", reports)
            list(ingest_paths(warehouse, [export], **ODK_OPTIONS))
    return path
