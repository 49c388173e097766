"""The warehouse: one DuckDB file of canonical tables, with idempotent, all-or-nothing ingest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from observatory.config import Settings, settings
from observatory.errors import ParameterError, ServiceError, did_you_mean
from observatory.sources.base import Batch
from observatory.warehouse.extensions import connect
from observatory.warehouse.schema import ROLLUP_UPDATES, SCHEMA_VERSION, TABLES

WAREHOUSE_FILE = "warehouse.duckdb"
# Resampling buckets the apps may ask for -> DuckDB interval (never built from user text).
BUCKETS = {
    "1m": "1 minute",
    "5m": "5 minutes",
    "15m": "15 minutes",
    "1h": "1 hour",
    "1d": "1 day",
    "1w": "7 days",
    "1mo": "1 month",
}
AGGREGATES = {"mean": "avg", "min": "min", "max": "max", "sum": "sum", "count": "count", "last": "last"}
_UTC = dt.UTC


@dataclass(frozen=True)
class IngestReport:
    """What one ingest of one source did."""

    source: str
    format: str
    sha256: str
    readings: int = 0
    text_readings: int = 0
    reports: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: bool = False  # the same bytes were ingested before: nothing done

    @property
    def stored(self) -> int:
        return self.readings + self.text_readings + self.reports


def _naive_utc(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """DuckDB stores TIMESTAMP_NS without zone: hand it UTC wall time at full ns precision."""
    return frame.with_columns(
        [
            pl.col(c).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            for c in columns
            if c in frame.columns
        ]
    )


def _as_utc(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    return frame.with_columns(
        [
            pl.col(c).dt.replace_time_zone("UTC")
            for c in columns
            if c in frame.columns and frame[c].dtype == pl.Datetime
        ]
    )


def _to_utc_naive(value: dt.datetime | str | None, parameter: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParameterError(
                f"{value!r} is not an ISO 8601 time",
                parameter=parameter,
                hint="Use e.g. 2026-11-01T00:00:00Z.",
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)  # inside the observatory, naive means UTC
    return value.astimezone(_UTC).replace(tzinfo=None)


class Warehouse:
    """The DuckDB warehouse file and what is done with it: ingest, queries, exports."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    @classmethod
    def open(
        cls, path: str | Path | None = None, read_only: bool = False, config: Settings | None = None
    ) -> Warehouse:
        """Open (or create) the warehouse; ``path`` defaults to ``<data dir>/warehouse.duckdb``."""
        config = config or settings()
        path = Path(path) if path is not None else config.data_dir / WAREHOUSE_FILE
        if read_only and not path.exists():
            raise ParameterError(
                f"no warehouse at {path}",
                parameter="path",
                hint="Ingest data first (observatory ingest PATH).",
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            con = connect(path, extensions=("spatial",), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise ServiceError(
                f"cannot open the warehouse: {exc}",
                path=path,
                hint="Another process may hold it for writing; stop it or open read-only.",
            ) from exc
        warehouse = cls(con, path, read_only)
        if not read_only:
            warehouse._create_schema()
        return warehouse

    def _create_schema(self) -> None:
        with self.transaction():
            for ddl in TABLES.values():
                self.con.execute(ddl)
            self.con.execute(
                "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
            )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self):
        """A context manager: everything inside commits together or not at all."""
        return _Transaction(self.con)

    # -- reference data -------------------------------------------------------------------

    def load_communes(self, config: Settings | None = None) -> int:
        """Replace the communes table with the reference communes; returns the row count."""
        from observatory.territory.communes import communes

        frame = communes(config)
        table = pl.DataFrame(
            {
                "insee": frame["insee"].tolist(),
                "name": frame["name"].tolist(),
                "population": frame["population"].astype(int).tolist(),
                "area_km2": frame["area_km2"].astype(float).tolist(),
                "geometry_wkb": [g.wkb for g in frame.geometry],
            }
        )
        with self.transaction():
            self.con.execute("DELETE FROM communes")
            self.con.register("_communes", table)
            self.con.execute("INSERT INTO communes SELECT * FROM _communes")
            self.con.unregister("_communes")
        return len(table)

    # -- ingest ----------------------------------------------------------------------------

    def already_ingested(self, sha256: str) -> bool:
        return (
            self.con.execute("SELECT count(*) FROM ingest_log WHERE sha256 = ?", [sha256]).fetchone()[0] > 0
        )

    def ingest(self, source: str, sha256: str, fmt: str, batches: Iterable[Batch]) -> IngestReport:
        """Store every batch of one source in one transaction (all of it, or nothing).

        Rows whose key (sensor_id, field, time) is already stored, or repeated within the
        source, are counted as duplicates and not stored again; the first value is kept.
        """
        if self.already_ingested(sha256):
            return IngestReport(source, fmt, sha256, skipped=True)
        started = dt.datetime.now(_UTC).replace(tzinfo=None)
        with self.transaction():
            ingest_id = self.con.execute("SELECT coalesce(max(ingest_id), 0) + 1 FROM ingest_log").fetchone()[
                0
            ]
            counts = _Stager(self.con, ingest_id, source).stage_all(batches)
            self.con.execute(
                "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    ingest_id,
                    source,
                    sha256,
                    fmt,
                    started,
                    dt.datetime.now(_UTC).replace(tzinfo=None),
                    counts["readings"],
                    counts["text_readings"],
                    counts["reports"],
                    counts["duplicates"],
                    counts["rejected"],
                ],
            )
        return IngestReport(source, fmt, sha256, **counts)

    # -- queries ---------------------------------------------------------------------------

    def sql(self, query: str, params: Sequence[object] | dict[str, object] | None = None) -> pl.DataFrame:
        """Run ``query`` with bound ``params``; TIMESTAMP_NS columns come back as UTC datetimes."""
        try:
            frame = self.con.execute(query, params or []).pl()
        except duckdb.Error as exc:
            raise ParameterError(f"query failed: {exc}", parameter="query") from exc
        # Every time in the warehouse is UTC: say so on the way out.
        naive = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone is None]
        return _as_utc(frame, naive)

    def readings(
        self,
        sensor_ids: Sequence[str] | None = None,
        insee: Sequence[str] | str | None = None,
        fields: Sequence[str] | None = None,
        start: dt.datetime | str | None = None,
        end: dt.datetime | str | None = None,
        bucket: str | None = None,
        agg: str = "mean",
    ) -> pl.DataFrame:
        """Readings filtered by sensor, commune (INSEE), field and time range [start, end),
        optionally resampled into ``bucket`` (one of BUCKETS) with ``agg`` (one of AGGREGATES).

        Every filter is a bound parameter; bucket and aggregate come from fixed lists.
        """
        rollup = bucket in _ROLLUP_BUCKETS and agg in _ROLLUP_AGGREGATES and _whole_hours(start, end)
        condition, params = _filters(sensor_ids, insee, fields, start, end, "r.hour" if rollup else "r.time")
        if rollup:
            # Hourly-or-coarser aggregates from the rollup kept at ingest (exact, not sampled).
            query = (
                f"SELECT time_bucket(INTERVAL '{BUCKETS[bucket]}', r.hour)::TIMESTAMP_NS AS time, r.sensor_id, "
                f"any_value(r.measurement) AS measurement, r.field, {_ROLLUP_AGGREGATES[agg]} AS value "
                f"FROM readings_hourly r WHERE {condition} GROUP BY ALL ORDER BY r.sensor_id, r.field, time"
            )
        elif bucket is None:
            query = f"SELECT r.time, r.sensor_id, r.measurement, r.field, r.value FROM readings r WHERE {condition} ORDER BY r.sensor_id, r.field, r.time"
        else:
            interval = _choice(bucket, BUCKETS, "bucket")
            function = _choice(agg, AGGREGATES, "agg")
            value = f"{function}(r.value ORDER BY r.time)" if function == "last" else f"{function}(r.value)"
            query = (
                f"SELECT time_bucket(INTERVAL '{interval}', r.time) AS time, r.sensor_id, "
                f"any_value(r.measurement) AS measurement, r.field, {value} AS value "
                f"FROM readings r WHERE {condition} GROUP BY ALL ORDER BY r.sensor_id, r.field, time"
            )
        frame = self.sql(query, params)
        return frame.with_columns(
            pl.col("time").cast(pl.Datetime("ns", "UTC")), pl.col("value").cast(pl.Float64)
        )

    def latest(self, sensor_ids: Sequence[str] | None = None) -> pl.DataFrame:
        """The last value of every (sensor, field), from the table kept at ingest."""
        where, params = (
            ("WHERE sensor_id IN (SELECT unnest(?))", [list(sensor_ids)]) if sensor_ids else ("", [])
        )
        return self.sql(
            f"SELECT sensor_id, field, time, value FROM latest {where} ORDER BY sensor_id, field", params
        )

    def quarantine(self) -> pl.DataFrame:
        """Every rejected input row with its source, line and reason."""
        return self.sql("SELECT * FROM quarantine ORDER BY ingest_id, line")

    def counts(self) -> dict[str, int]:
        """Row count of every table."""
        return {name: self.con.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in TABLES}

    def export_parquet(self, out_dir: str | Path) -> Path:
        """Write readings as Parquet partitioned by domain and month (``domain=.../month=YYYY-MM``)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.con.execute(
            "COPY (SELECT r.time, r.sensor_id, r.measurement, r.field, r.value, "
            "coalesce(s.domain, 'unknown') AS domain, strftime(r.time, '%Y-%m') AS month "
            "FROM readings r LEFT JOIN sensors s USING (sensor_id) ORDER BY r.sensor_id, r.field, r.time) "
            f"TO '{_sql_path(out)}' (FORMAT parquet, PARTITION_BY (domain, month), OVERWRITE_OR_IGNORE)"
        )
        return out


_ROLLUP_BUCKETS = ("1h", "1d", "1w", "1mo")
_ROLLUP_AGGREGATES = {
    "mean": "sum(r.total) / nullif(sum(r.n), 0)",
    "min": "min(r.minimum)",
    "max": "max(r.maximum)",
    "sum": "sum(r.total)",
    "count": "sum(r.n)",
}


def _filters(
    sensor_ids: Sequence[str] | None,
    insee: Sequence[str] | str | None,
    fields: Sequence[str] | None,
    start: dt.datetime | str | None,
    end: dt.datetime | str | None,
    time_column: str,
) -> tuple[str, list]:
    """The WHERE condition over table alias ``r`` and its bound parameters; ``time_column`` is
    ``r.time`` for readings, ``r.hour`` for the hourly rollup."""
    where, params = ["TRUE"], []
    if sensor_ids is not None:
        where.append("r.sensor_id IN (SELECT unnest(?))")
        params.append(list(sensor_ids))
    if insee is not None:
        codes = [insee] if isinstance(insee, str) else list(insee)
        where.append("r.sensor_id IN (SELECT sensor_id FROM sensors WHERE insee IN (SELECT unnest(?)))")
        params.append(codes)
    if fields is not None:
        where.append("r.field IN (SELECT unnest(?))")
        params.append(list(fields))
    for bound, op, name in ((start, ">=", "start"), (end, "<", "end")):
        value = _to_utc_naive(bound, name)
        if value is not None:
            where.append(f"{time_column} {op} ?")
            params.append(value)
    return " AND ".join(where), params


def _whole_hours(*bounds: dt.datetime | str | None) -> bool:
    """True when every given bound falls on a whole hour (so hourly rollups answer exactly)."""
    for name, bound in zip(("start", "end"), bounds, strict=True):
        value = _to_utc_naive(bound, name)
        if value is not None and (value.minute or value.second or value.microsecond):
            return False
    return True


def _sql_path(path: Path) -> str:
    text = str(path.resolve())
    if "'" in text:
        raise ParameterError("a path holding a quote cannot be used for an export", parameter="out_dir")
    return text


def _choice(value: str, allowed: dict[str, str], parameter: str) -> str:
    try:
        return allowed[value]
    except KeyError:
        raise ParameterError(
            f"{value!r} is not offered", parameter=parameter, hint=did_you_mean(value, allowed)
        ) from None


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")


class _Stager:
    """Stores a source's batches as they come, inside the caller's transaction.

    Each batch is deduplicated on (sensor_id, field, time) in Polars, then inserted with an
    anti-join against the rows already stored in the batch's time range (zone maps on time
    keep that cheap for data that arrives in time order). Rollups are updated once, at the end,
    from the rows this source added.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, ingest_id: int, source: str) -> None:
        self.con, self.ingest_id, self.source = con, ingest_id, source
        self.rejected = 0
        self.reports = 0
        self.counts = {"readings": 0, "text_readings": 0, "duplicates": 0}

    def stage_all(self, batches: Iterable[Batch]) -> dict[str, int]:
        for batch in batches:
            for table in ("readings", "text_readings"):
                self._store_readings(table, self._keep_keyed(getattr(batch, table)))
            self._store_rejects(batch.rejects)
            self._store_sensors(batch.sensors)
            self._store_series(batch.series)
            self._store_reports(batch.reports)
        if self.counts["readings"]:
            self.con.execute(
                "CREATE OR REPLACE TEMP TABLE _new AS SELECT time, sensor_id, measurement, field, value FROM readings WHERE ingest_id = ?",
                [self.ingest_id],
            )
            for statement in ROLLUP_UPDATES:
                self.con.execute(statement)
            self.con.execute("DROP TABLE _new")
        return {**self.counts, "reports": self.reports, "rejected": self.rejected}

    def _store_readings(self, table: str, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        key = ["sensor_id", "field", "time"]
        received = frame.height
        frame = _naive_utc(frame, ["time"])
        if frame.select(key).is_duplicated().any():  # the first occurrence in the source wins
            frame = frame.unique(key, keep="first", maintain_order=True)
        # Categorical strings cross into DuckDB as dictionaries: twice as fast as plain strings.
        arrow = frame.select(
            "time", pl.col("sensor_id", "measurement", "field").cast(pl.Categorical), "value"
        ).to_arrow()
        self.con.register("_batch", arrow)
        low, high = frame["time"].min(), frame["time"].max()
        # Only stored rows in the batch's time range can collide: select them first (a plain
        # range filter, pruned by zone maps), then anti-join; a correlated NOT EXISTS was
        # planned as a join against the whole table and made ingest quadratic.
        inserted = self.con.execute(
            f"""INSERT INTO {table}
                WITH stored AS MATERIALIZED (
                    SELECT time, sensor_id, field FROM {table} WHERE time BETWEEN ? AND ?
                )
                SELECT b.time, b.sensor_id::VARCHAR, b.measurement::VARCHAR, b.field::VARCHAR, b.value, ?
                FROM _batch b
                ANTI JOIN stored r
                  ON r.time = b.time AND r.sensor_id = b.sensor_id::VARCHAR AND r.field = b.field::VARCHAR""",
            [low, high, self.ingest_id],
        ).fetchone()[0]
        self.con.unregister("_batch")
        self.counts[table] += inserted
        self.counts["duplicates"] += received - inserted

    def _keep_keyed(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rows without time, sensor, measurement or field cannot be keyed: quarantined, with why."""
        key = ["time", "sensor_id", "measurement", "field"]
        missing = pl.any_horizontal([pl.col(c).is_null() for c in key])
        unkeyed = frame.filter(missing)
        if unkeyed.height:
            reasons = unkeyed.select(
                pl.lit(self.source).alias("source"),
                pl.lit(None, pl.Int64).alias("line"),
                pl.concat_str(
                    [
                        pl.lit("missing "),
                        pl.concat_list([pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in key])
                        .list.drop_nulls()
                        .list.join(", "),
                    ]
                ).alias("reason"),
                pl.concat_str(
                    [pl.col(c).cast(pl.String).fill_null("") for c in (*key, "value")], separator=" | "
                ).alias("text"),
            )
            self._store_rejects(reasons)
        return frame.filter(~missing)

    def _append(self, table: str, frame: pl.DataFrame) -> None:
        self.con.register("_frame", frame)
        self.con.execute(f"INSERT INTO {table} SELECT * FROM _frame")
        self.con.unregister("_frame")

    def _store_rejects(self, rejects: pl.DataFrame) -> None:
        if rejects.height == 0:
            return
        frame = rejects.select(
            pl.lit(self.ingest_id, pl.Int32).alias("ingest_id"), "source", "line", "reason", "text"
        )
        self._append("quarantine", frame)
        self.rejected += rejects.height

    def _store_sensors(self, sensors: pl.DataFrame) -> None:
        if sensors.height == 0:
            return
        self.con.register("_sensors", sensors.unique("sensor_id", keep="last"))
        self.con.execute("INSERT OR REPLACE INTO sensors SELECT * FROM _sensors")
        self.con.unregister("_sensors")

    def _store_series(self, series: pl.DataFrame) -> None:
        if series.height == 0:
            return
        self.con.register("_series", series.unique())
        self.con.execute("INSERT OR IGNORE INTO series SELECT sensor_id, measurement, tags FROM _series")
        self.con.unregister("_series")

    def _store_reports(self, reports: pl.DataFrame) -> None:
        if reports.height == 0:
            return
        frame = _naive_utc(reports, ["time", "resolved_time"]).with_columns(
            pl.lit(self.ingest_id, pl.Int32).alias("ingest_id")
        )
        before = self.con.execute("SELECT count(*) FROM reports").fetchone()[0]
        self.con.register("_reports", frame.unique("report_id", keep="first"))
        self.con.execute("INSERT INTO reports SELECT * FROM _reports ON CONFLICT DO NOTHING")
        self.con.unregister("_reports")
        after = self.con.execute("SELECT count(*) FROM reports").fetchone()[0]
        self.reports += after - before
