"""What every reader returns: the canonical tables of the warehouse, and rejected input.

Each module of ``observatory.sources`` reads one external format or system and returns these
shapes (Polars frames), so that the warehouse ingests them all the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

UTC_NS = pl.Datetime("ns", "UTC")

# Numeric readings, long format (ARCHITECTURE: time, sensor_id, measurement, field, value).
READINGS_SCHEMA: dict[str, pl.DataType] = {
    "time": UTC_NS,
    "sensor_id": pl.String,
    "measurement": pl.String,
    "field": pl.String,
    "value": pl.Float64,
}
# Non-numeric fields (strings, states) keep their text: never dropped.
TEXT_READINGS_SCHEMA: dict[str, pl.DataType] = {**READINGS_SCHEMA, "value": pl.String}

# One row per sensor; readings do not repeat this.
SENSORS_SCHEMA: dict[str, pl.DataType] = {
    "sensor_id": pl.String,
    "domain": pl.String,  # energy, water, mobility, air, weather, hydrology, ...
    "kind": pl.String,  # e.g. pv_plant, traffic_counter, pm_station
    "unit": pl.String,
    "insee": pl.String,  # commune (97201-97234)
    "lon": pl.Float64,
    "lat": pl.Float64,
    "installed": pl.Date,
    "source_system": pl.String,  # influxdb, mqtt, quantumleap, odk, ...
}

# Citizen reports (ODK Central, NGSI-LD issues); personal fields stay out of releases.
REPORTS_SCHEMA: dict[str, pl.DataType] = {
    "report_id": pl.String,
    "time": UTC_NS,
    "category": pl.String,
    "insee": pl.String,
    "lon": pl.Float64,
    "lat": pl.Float64,
    "status": pl.String,
    "resolved_time": UTC_NS,
    "text": pl.String,  # free text: personal data, never published
    "reporter": pl.String,  # name/phone/email as given: personal data, never published
    "source_system": pl.String,
}

# Each series' full tag set (line protocol, Flux group keys), so no tag is lost.
SERIES_SCHEMA: dict[str, pl.DataType] = {
    "sensor_id": pl.String,
    "measurement": pl.String,
    "tags": pl.String,  # JSON object, keys sorted
}

# Rejected input, kept with where it came from and why (the warehouse's quarantine table).
REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String,  # file path or URL
    "line": pl.Int64,  # 1-based line (or record) number; null when not line-based
    "reason": pl.String,
    "text": pl.String,  # the offending input as read (truncated to 4 KiB)
}
REJECT_TEXT_MAX_CHARS = 4096


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with ``schema``."""
    return pl.DataFrame(schema=schema)


@dataclass
class Batch:
    """A piece of input turned into canonical tables; any of them may be empty."""

    readings: pl.DataFrame = field(default_factory=lambda: empty(READINGS_SCHEMA))
    text_readings: pl.DataFrame = field(default_factory=lambda: empty(TEXT_READINGS_SCHEMA))
    rejects: pl.DataFrame = field(default_factory=lambda: empty(REJECTS_SCHEMA))
    sensors: pl.DataFrame = field(default_factory=lambda: empty(SENSORS_SCHEMA))
    reports: pl.DataFrame = field(default_factory=lambda: empty(REPORTS_SCHEMA))
    series: pl.DataFrame = field(default_factory=lambda: empty(SERIES_SCHEMA))
    # Optional, for speed: row i of ``readings`` is a reading of ``reading_keys[reading_codes[i]]``
    # (sensor_id, measurement, field); every key listed is used by some reading. The warehouse then
    # maps the keys once instead of hashing three strings per row (the line-protocol reader).
    reading_codes: np.ndarray | None = None  # int32, one per readings row
    reading_keys: tuple[tuple[str, str, str], ...] = ()


def rejects_frame(source: str, rows: list[tuple[int | None, str, str]]) -> pl.DataFrame:
    """Quarantine rows ``(line, reason, text)`` from ``source`` as a REJECTS_SCHEMA frame."""
    return pl.DataFrame(
        {
            "source": [source] * len(rows),
            "line": [line for line, _, _ in rows],
            "reason": [reason for _, reason, _ in rows],
            "text": [text[:REJECT_TEXT_MAX_CHARS] for _, _, text in rows],
        },
        schema=REJECTS_SCHEMA,
    )
