"""The sensor network as its operators see it (signed-in analysts only): every sensor with its
last reading, one sensor's raw readings, and the citizen reports with their personal fields."""

from __future__ import annotations

import datetime as dt

import polars as pl

from observatory.config import Settings, settings
from observatory.errors import ParameterError
from observatory.warehouse.store import WAREHOUSE_FILE, Warehouse

REPORTS_SHOWN = 500  # the most recent reports in the table; older ones through `observatory sql`

_SENSORS_SQL = """
    SELECT s.sensor_id, s.domain, s.kind, s.insee, c.name AS commune, l.field, l.time AS last_time, l.value AS last_value
    FROM sensors s LEFT JOIN communes c USING (insee) LEFT JOIN latest l USING (sensor_id)
    ORDER BY s.domain, s.kind, s.sensor_id, l.field"""

_REPORTS_SQL = """
    SELECT r.time, r.report_id, r.category, r.insee, c.name AS commune, r.status, r.resolved_time, r.text, r.reporter
    FROM reports r LEFT JOIN communes c USING (insee)
    ORDER BY r.time DESC NULLS LAST LIMIT ?"""


def _open(config: Settings | None) -> Warehouse:
    config = config or settings()
    return Warehouse.open(config.data_dir / WAREHOUSE_FILE, read_only=True, config=config)


def sensor_table(config: Settings | None = None) -> pl.DataFrame:
    """One row per sensor and field: domain, kind, commune, time (UTC) and value of its last reading."""
    with _open(config) as warehouse:
        return warehouse.sql(_SENSORS_SQL)


def reports_table(config: Settings | None = None, limit: int = REPORTS_SHOWN) -> pl.DataFrame:
    """The most recent citizen reports, newest first, with their free text and reporter (personal data)."""
    with _open(config) as warehouse:
        return warehouse.sql(_REPORTS_SQL, [limit])


def sensor_readings(sensor_id: str, field: str, days: int, config: Settings | None = None) -> pl.DataFrame:
    """Every raw reading of one sensor's field over its last ``days`` days (times UTC)."""
    if not 1 <= days <= 366:
        raise ParameterError(f"{days} days is outside 1-366", parameter="days")
    with _open(config) as warehouse:
        last = warehouse.sql(
            "SELECT max(time) AS t FROM latest WHERE sensor_id = ? AND field = ?", [sensor_id, field]
        )["t"][0]
        if last is None:
            return pl.DataFrame(schema={"time": pl.Datetime("ns", "UTC"), "value": pl.Float64})
        start = last - dt.timedelta(days=days)
        frame = warehouse.readings(
            sensor_ids=[sensor_id], fields=[field], start=start, end=last + dt.timedelta(seconds=1)
        )
    return frame.select("time", "value")


def local_times(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """Times as shown on screen: America/Martinique, without the zone suffix."""
    out = frame
    for column in columns:
        dtype = out.schema[column]
        expr = pl.col(column)
        if getattr(dtype, "time_zone", None) is None:
            expr = expr.dt.replace_time_zone("UTC")
        out = out.with_columns(
            expr.dt.convert_time_zone("America/Martinique").dt.replace_time_zone(None).alias(column)
        )
    return out
