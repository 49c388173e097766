"""Refresh from the live systems: InfluxDB 1.x readings newer than the warehouse holds and the
PostGIS sensors layer, each source all-or-nothing, every attempt recorded in ``source_status``.

The sensors layer is the table named by OBSERVATORY_POSTGIS_SENSORS_TABLE (``table`` or
``schema.table``, default ``sensors``): ``sensor_id`` (text, unique), a point geometry in any
EPSG CRS, and any of ``domain, kind, unit, insee, installed`` (a date) ``, source_system``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import pandas as pd
import polars as pl

from observatory.config import ENV_PREFIX, Settings, settings
from observatory.errors import DataFormatError, ObservatoryError, ParameterError, ServiceError, did_you_mean
from observatory.sources.base import SENSORS_SCHEMA, SERIES_SCHEMA, Batch
from observatory.sources.influxdb1 import SENSOR_TAG, TIMEOUT_S, Influx1Client, quote_identifier
from observatory.warehouse.store import Warehouse

SOURCES = ("influxdb", "postgis")
FORMAT = "influxdb1-refresh"  # the format the ingest log names for a pull from InfluxDB
NS_PER_S = 1_000_000_000
# Readings asked of InfluxDB per request and measurement: a day of a measurement (120 sensors at
# one minute, a few fields) stays some tens of MB in memory during a long catch-up.
PULL_WINDOW_S = 86_400
# Each pull starts this long before the last stored time of its measurement, so that points a
# sensor wrote late (Telegraf flush interval, a clock a few minutes behind) are not skipped; the
# ones already stored are found as duplicates by the ingest (key sensor_id, field, time).
OVERLAP_S = 300
# Sensor metadata taken from the PostGIS layer when it has these columns (besides sensor_id and
# a point geometry); a column the layer lacks keeps what the warehouse holds.
LAYER_COLUMNS = ("domain", "kind", "unit", "insee", "installed", "source_system")
TABLE_SETTING = ENV_PREFIX + "POSTGIS_SENSORS_TABLE"

Progress = Callable[[str, str], None]  # (source, what is being read)


@dataclass(frozen=True)
class SourceStatus:
    """A source's last refresh attempt (times UTC); ``succeeded_at`` is its last success, if any."""

    source: str
    attempted_at: dt.datetime
    ok: bool
    rows: int
    error: str | None
    succeeded_at: dt.datetime | None

    @property
    def unreachable(self) -> bool:
        """The source could not be reached (down, timeout, HTTP 5xx), rather than refused the data."""
        return not self.ok and (self.error or "").startswith(ServiceError.__name__)


def refresh(
    warehouse: Warehouse,
    config: Settings | None = None,
    sources: Sequence[str] = SOURCES,
    *,
    timeout_s: float = TIMEOUT_S,
    progress: Progress | None = None,
) -> list[SourceStatus]:
    """Pull what is new from each of ``sources`` and record every attempt in ``source_status``.

    A source that fails (unreachable, HTTP 5xx, an InfluxDB request of more than ``timeout_s``
    seconds, a malformed layer) leaves the warehouse as it was before its attempt and does not
    stop the others; its error (URLs and DSNs without password) is recorded. PostgreSQL's
    connection timeout is the DSN's own (``?connect_timeout=10``). Returns each source's status.
    """
    for source in sources:
        if source not in PULLS:
            raise ParameterError(
                f"unknown source {source!r}", parameter="--source", hint=did_you_mean(source, SOURCES)
            )
    if warehouse.read_only:
        raise ParameterError(
            "the warehouse is open read-only", parameter="warehouse", hint="Open it for writing."
        )
    config = config or settings()
    for source in dict.fromkeys(sources):
        attempted = _now()
        try:
            rows, error = PULLS[source](warehouse, config, attempted, timeout_s, progress), None
        except ObservatoryError as exc:
            rows, error = 0, f"{type(exc).__name__}: {exc}"
        succeeded = _now() if error is None else None
        warehouse.con.execute(
            "INSERT INTO source_status VALUES (?, ?, ?, ?, ?, ?)",
            [source, attempted, succeeded, error is None, rows, error],
        )
    statuses = last_attempts(warehouse)
    return [statuses[source] for source in dict.fromkeys(sources)]


def last_attempts(warehouse: Warehouse) -> dict[str, SourceStatus]:
    """Each source's latest attempt with its last success (times UTC), from ``source_status``."""
    rows = warehouse.con.execute(
        """SELECT source, attempted_at, ok, rows, error, max(succeeded_at) OVER (PARTITION BY source)
           FROM source_status
           QUALIFY row_number() OVER (PARTITION BY source ORDER BY attempted_at DESC) = 1
           ORDER BY source"""
    ).fetchall()
    return {
        source: SourceStatus(source, _aware(attempted), ok, rows, error, _aware(succeeded))
        for source, attempted, ok, rows, error, succeeded in rows
    }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)  # the warehouse keeps naive UTC


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


# -- InfluxDB 1.x ---------------------------------------------------------------------------------
def _pull_influxdb(
    warehouse: Warehouse, config: Settings, now: dt.datetime, timeout_s: float, progress: Progress | None
) -> int:
    """Readings of every measurement since its last stored time, in one ingest (one transaction)."""
    end_ns = (now - dt.datetime(1970, 1, 1)) // dt.timedelta(microseconds=1) * 1_000
    with Influx1Client.from_settings(config, timeout_s=timeout_s) as client:
        marks = _watermarks(warehouse)
        overlap_ns = OVERLAP_S * NS_PER_S
        starts = {m: marks[m] - overlap_ns if m in marks else None for m in _measurements(client)}
        batches = _batches(client, starts, end_ns, progress)
        first = next(batches, None)
        if first is None:  # nothing read (the overlap included): no empty ingest logged
            return 0
        # What identifies this pull in the ingest log; ``now`` to the microsecond, as two rounds in
        # one second with the same watermarks must not look like the same source ingested twice.
        plan = json.dumps({"url": repr(client), "end_ns": end_ns, "starts": starts}, sort_keys=True)
        report = warehouse.ingest(
            repr(client),
            hashlib.sha256(plan.encode("utf-8")).hexdigest(),
            FORMAT,
            itertools.chain([first], batches),
        )
    return report.readings + report.text_readings


def _measurements(client: Influx1Client) -> list[str]:
    return [
        row[0]
        for result in client.execute("SHOW MEASUREMENTS")
        for series in result.get("series", [])
        for row in series.get("values", [])
    ]


def _watermarks(warehouse: Warehouse) -> dict[str, int]:
    """Last stored time of each measurement, ns (numeric from the spans kept at ingest, text too)."""
    rows = warehouse.con.execute(
        """SELECT measurement, epoch_ns(max(last_time)) FROM (
               SELECT s.measurement, max(p.last_time) AS last_time
               FROM reading_spans p JOIN sensor_series s USING (sensor_id, field) GROUP BY ALL
               UNION ALL
               SELECT measurement, max(time) FROM text_readings GROUP BY ALL
           ) GROUP BY ALL"""
    ).fetchall()
    return {measurement: int(last) for measurement, last in rows}


def _next_point_ns(client: Influx1Client, measurement: str, from_ns: int | None) -> int | None:
    """Time of the first point of ``measurement`` at or after ``from_ns`` (None: the very first)."""
    where = "" if from_ns is None else f" WHERE time >= {int(from_ns)}"
    influxql = f"SELECT * FROM {quote_identifier(measurement)}{where} ORDER BY time ASC LIMIT 1"
    answers = list(client.iter_chunks(influxql, chunked=False))  # one small answer, read to its end
    times = [
        int(series["values"][0][0])
        for answer in answers
        for result in answer.get("results", [])
        for series in result.get("series", [])
    ]
    return times[0] if times else None


def _batches(
    client: Influx1Client, starts: dict[str, int | None], end_ns: int, progress: Progress | None
) -> Iterator[Batch]:
    """Non-empty batches of readings before ``end_ns``, one request a window of PULL_WINDOW_S
    that starts at a point (a stretch without data costs one request, not one per window); each
    measurement's series (tags) ride with its first batch."""
    window_ns = PULL_WINDOW_S * NS_PER_S
    for measurement, cursor in starts.items():
        series = None
        while (low := _next_point_ns(client, measurement, cursor)) is not None and low < end_ns:
            if progress is not None:
                progress("influxdb", f"{measurement} {pd.Timestamp(low, tz='UTC'):%Y-%m-%d %H:%M}")
            cursor = min(low + window_ns, end_ns)
            batch = client.read_series(measurement, low, cursor)
            if batch.readings.height == 0 and batch.text_readings.height == 0:
                continue
            if series is None:
                batch.series = series = _series(client, measurement)
            yield batch


def _series(client: Influx1Client, measurement: str) -> pl.DataFrame:
    """The tag sets of ``measurement`` (``SHOW SERIES``), as the series table keeps them."""
    from observatory.sources.influxdb1 import _series_key  # the reader's name for a sensor without sensor_id
    from observatory.sources.line_protocol import parse_line

    rows = []
    for result in client.execute(f"SHOW SERIES FROM {quote_identifier(measurement)}"):
        for series in result.get("series", []):
            for (key,) in series.get("values", []):
                tags = parse_line(f"{key} _=0").tags  # a series key is escaped as line protocol
                tags_json = json.dumps(tags, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                rows.append((tags.get(SENSOR_TAG) or _series_key(measurement, tags), measurement, tags_json))
    return pl.DataFrame(rows, schema=SERIES_SCHEMA, orient="row")


# -- PostGIS --------------------------------------------------------------------------------------
def _pull_postgis(
    warehouse: Warehouse, config: Settings, now: dt.datetime, timeout_s: float, progress: Progress | None
) -> int:
    """Upsert the sensors layer (``sensor_id``, a point geometry, any of LAYER_COLUMNS) into sensors."""
    from observatory.sources.postgis import read_table

    schema, _, table = config.postgis_sensors_table.rpartition(".")
    name = f"{schema or 'public'}.{table}"
    if progress is not None:
        progress("postgis", name)
    rows = _sensor_rows(
        read_table(config.postgres_dsn, table, schema=schema or "public", config=config), name
    )
    columns = ", ".join(rows.columns)  # names from LAYER_COLUMNS, never from the layer
    updates = ", ".join(f"{c} = excluded.{c}" for c in rows.columns if c != "sensor_id")
    with warehouse.transaction():
        warehouse.con.register("_layer", rows.to_arrow())
        warehouse.con.execute(
            f"INSERT INTO sensors ({columns}) SELECT {columns} FROM _layer "
            f"ON CONFLICT (sensor_id) DO UPDATE SET {updates}"
        )
        warehouse.con.unregister("_layer")
    return rows.height


def _sensor_rows(layer: pd.DataFrame, name: str) -> pl.DataFrame:
    """The layer as sensors rows: sensor_id, lon, lat and the LAYER_COLUMNS it has, typed."""
    if "sensor_id" not in layer.columns:
        raise DataFormatError(
            f"the sensors layer {name} has no sensor_id column",
            parameter=TABLE_SETTING,
            hint=f"Name a table with sensor_id, a point geometry and any of {', '.join(LAYER_COLUMNS)}.",
        )
    points = layer.geometry
    kinds = set(points[~points.is_empty & points.notna()].geom_type)
    if kinds - {"Point"}:
        raise DataFormatError(
            f"the sensors layer {name} holds {', '.join(sorted(kinds - {'Point'}))} geometries, not points",
            parameter=TABLE_SETTING,
            hint="Give each sensor its location as a point.",
        )
    located = points.notna() & ~points.is_empty
    data = {
        "sensor_id": layer["sensor_id"],
        "lon": points.x.where(located),
        "lat": points.y.where(located),
        **{c: layer[c] for c in LAYER_COLUMNS if c in layer.columns},
    }
    frame = pl.from_pandas(pd.DataFrame(data))
    try:
        frame = frame.cast({c: SENSORS_SCHEMA[c] for c in frame.columns}).with_columns(
            pl.col("lon", "lat").fill_nan(None)
        )
    except pl.exceptions.PolarsError as exc:
        raise DataFormatError(
            f"the sensors layer {name} has a column of the wrong type: {exc}",
            parameter=TABLE_SETTING,
            hint="installed is a date, lon/lat numbers, the other columns text.",
        ) from exc
    ids = frame.get_column("sensor_id")
    if ids.null_count() or ids.is_duplicated().any():
        repeated = ids.filter(ids.is_duplicated()).head(1).to_list() or [None]
        raise DataFormatError(
            f"the sensors layer {name} has a sensor_id that is empty or repeated ({repeated[0]!r})",
            parameter=TABLE_SETTING,
            hint="Give every row its own sensor_id (a primary key on it keeps it so).",
        )
    return frame


PULLS: dict[str, Callable[[Warehouse, Settings, dt.datetime, float, Progress | None], int]] = {
    "influxdb": _pull_influxdb,
    "postgis": _pull_postgis,
}
