"""What every reader returns: the canonical tables of the warehouse, and rejected input.

Each module of ``observatory.sources`` reads one external format or system and returns these
shapes (Polars frames), so that the warehouse ingests them all the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class CodedReadings:
    """Numeric readings as columns, for speed: reading ``i`` is of ``keys[codes[i]]`` (sensor_id,
    measurement, field; none of them null), at ``time_ns[i]`` (ns since the epoch, UTC) with
    ``value[i]`` (NaN allowed, no nulls). Rows keep the source's order. A reader whose readings
    belong to a few series (line protocol) hands these: the warehouse maps the keys once and
    builds no string per row."""

    codes: np.ndarray  # int32 index into keys, one per reading
    keys: tuple[tuple[str, str, str], ...]
    time_ns: np.ndarray  # int64
    value: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.codes)

    def frame(self) -> pl.DataFrame:
        """The same readings in the canonical long format (READINGS_SCHEMA)."""
        keys = pl.DataFrame(
            list(self.keys) or None,
            schema=dict.fromkeys(("sensor_id", "measurement", "field"), pl.String),
            orient="row",
        )
        named = keys.select(pl.all().gather(pl.Series(self.codes, dtype=pl.Int32)))
        return pl.DataFrame(
            {
                "time": pl.Series(self.time_ns, dtype=pl.Int64).cast(UTC_NS),
                **named.to_dict(),
                "value": pl.Series(self.value, dtype=pl.Float64),
            },
            schema=READINGS_SCHEMA,
        )


class Batch:
    """A piece of input turned into canonical tables; any of them may be empty.

    ``readings`` may come as ``coded`` instead (CodedReadings): it is then built from them the
    first time it is asked for, and the warehouse stores the columns without building it.
    """

    __slots__ = ("_readings", "text_readings", "rejects", "sensors", "reports", "series", "coded")

    def __init__(
        self,
        readings: pl.DataFrame | None = None,
        text_readings: pl.DataFrame | None = None,
        rejects: pl.DataFrame | None = None,
        sensors: pl.DataFrame | None = None,
        reports: pl.DataFrame | None = None,
        series: pl.DataFrame | None = None,
        coded: CodedReadings | None = None,
    ) -> None:
        if readings is not None and coded is not None:
            raise ValueError("a Batch holds its numeric readings as a frame or coded, not both")
        self._readings = readings if readings is not None or coded is not None else empty(READINGS_SCHEMA)
        self.text_readings = text_readings if text_readings is not None else empty(TEXT_READINGS_SCHEMA)
        self.rejects = rejects if rejects is not None else empty(REJECTS_SCHEMA)
        self.sensors = sensors if sensors is not None else empty(SENSORS_SCHEMA)
        self.reports = reports if reports is not None else empty(REPORTS_SCHEMA)
        self.series = series if series is not None else empty(SERIES_SCHEMA)
        self.coded = coded

    @property
    def readings(self) -> pl.DataFrame:
        """Numeric readings in the canonical long format (READINGS_SCHEMA)."""
        if self._readings is None:
            self._readings = self.coded.frame()
        return self._readings

    def __repr__(self) -> str:
        counts = ", ".join(
            f"{name}={len(self.coded) if name == 'readings' and self.coded is not None else getattr(self, name).height}"
            for name in ("readings", "text_readings", "rejects", "sensors", "reports", "series")
        )
        return f"Batch({counts})"


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
