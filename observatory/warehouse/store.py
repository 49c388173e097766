"""The warehouse: one DuckDB file of canonical tables, with idempotent, all-or-nothing ingest."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import datetime as dt
import os
import queue
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa

from observatory.config import Settings, settings
from observatory.errors import DataFormatError, ParameterError, ServiceError, did_you_mean
from observatory.files import fsync
from observatory.sources import base
from observatory.sources.base import Batch
from observatory.warehouse.extensions import connect

try:
    from observatory.warehouse import _group
except ImportError:  # a source tree not built with `pip install -e .`: NumPy does the same, slower
    _group = None
if getattr(_group, "VERSION", None) != 1:  # a stale build of an older _group.c
    _group = None
from observatory.warehouse.schema import (
    ADD_COLUMNS,
    COPY_HOURLY_WIDE,
    FILL_SPANS,
    HOURLY_IS_TABLE,
    HOURLY_MET,
    HOURLY_NEW,
    MIGRATE_1_TO_2,
    RENAME_1,
    RENAME_HOURLY_WIDE,
    ROLLUP_UPDATES,
    SCHEMA_VERSION,
    TABLES,
    readings_all_view,
)

WAREHOUSE_FILE = "warehouse.duckdb"
PARTS_SUFFIX = ".parts"  # the folder of a warehouse file's Parquet parts: <file>.parts
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
_STORED_TIMES = (dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 11))  # within DuckDB's TIMESTAMP_NS


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


def _to_utc_naive(value: dt.datetime | dt.date | str | None, parameter: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ParameterError(
                f"{value[:60]!r} is not an ISO 8601 time",
                parameter=parameter,
                hint="Use e.g. 2026-11-01T00:00:00Z.",
            ) from None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())  # a day: its first instant
    if not isinstance(value, dt.datetime):
        raise ParameterError(
            f"{str(value)[:60]!r} ({type(value).__name__}) is not a time",
            parameter=parameter,
            hint="Use a datetime or ISO 8601 text, e.g. 2026-11-01T00:00:00Z.",
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)  # inside the observatory, naive means UTC
    try:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise ParameterError(
            f"{value.isoformat()} is outside the years 1-9999 in UTC", parameter=parameter
        ) from None
    # No stored time lies beyond TIMESTAMP_NS's range: a bound beyond it selects as its edge does.
    return min(max(value, _STORED_TIMES[0]), _STORED_TIMES[1])


def _texts(values: Sequence[str] | str, parameter: str) -> list[str]:
    """``values`` as a list of strings (one string is one value); ParameterError otherwise."""
    items = [values] if isinstance(values, str) else list(values) if isinstance(values, Iterable) else None
    if items is None or not all(isinstance(v, str) for v in items):
        raise ParameterError(
            f"{str(values)[:60]!r} is not a list of strings", parameter=parameter, hint="e.g. ['97209']"
        )
    return items


class Warehouse:
    """The DuckDB warehouse file and what is done with it: ingest, queries, exports."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        read_only: bool = False,
        config: Settings | None = None,
        extensions: tuple[str, ...] = ("spatial",),
    ) -> Warehouse:
        """Open (or create) the warehouse; ``path`` defaults to ``<data dir>/warehouse.duckdb``.
        ``extensions``: DuckDB's, loaded for the queries (spatial's ST_ functions on the communes'
        geometry); an ingest needs none."""
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
            con = connect(path, extensions=extensions, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise ServiceError(
                f"cannot open the warehouse: {exc}",
                path=path,
                hint="Another process may hold it for writing; stop it or open read-only.",
            ) from exc
        warehouse = cls(con, path, read_only)
        try:
            if not read_only:
                warehouse._create_schema()
            elif (warehouse._stored_version() or SCHEMA_VERSION) < SCHEMA_VERSION:
                # Made by an earlier version: upgraded once (a write), then opened as asked.
                warehouse.close()
                cls.open(path, config=config, extensions=()).close()
                return cls.open(path, read_only=True, config=config, extensions=extensions)
            else:
                files = warehouse._part_files()
                if files:  # where the parts are now: the folder may have moved since they were listed
                    con.execute(readings_all_view(files, temp=True))
        except BaseException:
            warehouse.close()
            raise
        return warehouse

    @property
    def parts_dir(self) -> Path | None:
        """The folder of the warehouse's Parquet parts (schema.py, ``readings_parts``); None for
        a warehouse in memory."""
        if self.path is None or str(self.path) == ":memory:":
            return None
        return self.path.absolute().with_name(self.path.name + PARTS_SUFFIX)

    def _part_files(self) -> list[str]:
        """The listed parts, as paths in the folder beside the file as it is now; DataFormatError
        when one is not there (the file copied or moved without its folder)."""
        if self.parts_dir is None or not self._is_table("readings_parts"):
            return []
        names = self.con.execute("SELECT file FROM readings_parts ORDER BY ingest_id, file").fetchall()
        files = [self.parts_dir / name for (name,) in names]
        missing = [path.name for path in files if not path.is_file()]
        if missing:
            raise DataFormatError(
                f"{len(missing)} of the warehouse's {len(files)} Parquet parts are missing from "
                f"{self.parts_dir} (first: {missing[0]})",
                path=self.path,
                hint=f"The folder {self.parts_dir.name} belongs with {self.path.name}: copy or move them together.",
            )
        # the parts' footers read once per process, not at every query (a year of large ingests
        # lists hundreds)
        self.con.execute("SET parquet_metadata_cache = true")
        return [str(path) for path in files]

    def _create_schema(self) -> None:
        with self.transaction():
            stored = self._stored_version()
            migrate = stored == 1 and self._is_table("readings")
            no_spans = not self._is_table("reading_spans")
            wide_hourly = self.con.execute(HOURLY_IS_TABLE).fetchone()[0] > 0
            if migrate:
                self.con.execute(RENAME_1)
            if wide_hourly:
                self.con.execute(RENAME_HOURLY_WIDE)
            # Tables new in a version (source_status in 3) are created here like any other.
            for name, ddl in TABLES.items():
                self.con.execute(ddl)
                if name == "readings_all":  # over the parts where the folder is now (it may have
                    # moved with the file), before the views over it are made again
                    self.con.execute(readings_all_view(self._part_files()))
            for ddl in ADD_COLUMNS:
                self.con.execute(ddl)
            if migrate:
                for statement in MIGRATE_1_TO_2:
                    self.con.execute(statement)
            if wide_hourly:
                for statement in COPY_HOURLY_WIDE:
                    self.con.execute(statement)
            if no_spans:
                self.con.execute(FILL_SPANS)
            if stored is None or stored < SCHEMA_VERSION:  # a newer file keeps its own number
                self.con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
                )

    def _stored_version(self) -> int | None:
        if not self._is_table("meta"):
            return None
        row = self.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else None

    def _is_table(self, name: str) -> bool:
        return (
            self.con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
            ).fetchone()[0]
            > 0
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

    def may_hold(self, size: int) -> bool:
        """Whether a file of ``size`` bytes may have been ingested already: one of that size was
        (or a source logged before sizes were). Otherwise its bytes are new for sure."""
        return (
            self.con.execute(
                "SELECT count(*) FROM ingest_log WHERE bytes = ? OR bytes < 0", [size]
            ).fetchone()[0]
            > 0
        )

    def ingest(
        self,
        source: str,
        sha256: str | concurrent.futures.Future,
        fmt: str,
        batches: Iterable[Batch],
        size: int | None = None,
    ) -> IngestReport:
        """Store every batch of one source in one transaction (all of it, or nothing).

        Rows whose key (sensor_id, field, time) is already stored, or repeated within the
        source, are counted as duplicates and not stored again; the first value is kept.
        ``batches`` that is not a list is read in a worker thread (``Prefetched``; one may be
        given, already reading), a few batches ahead of the store; its exceptions are raised here. ``sha256`` may be a Future (the file hashed while
        it is read): the source is then checked against the log once it is known, and nothing
        is kept when those bytes were ingested before. ``size``: the file's, logged with it.
        """
        reading = batches if isinstance(batches, (list, tuple, Prefetched)) else Prefetched(batches)
        try:
            with _heap_kept():
                return self._ingest(source, sha256, fmt, reading, size)
        finally:
            if isinstance(reading, Prefetched):
                reading.close()

    def _ingest(
        self,
        source: str,
        sha256: str | concurrent.futures.Future,
        fmt: str,
        batches: Iterable[Batch],
        size: int | None,
    ) -> IngestReport:
        if isinstance(sha256, str) and self.already_ingested(sha256):
            return IngestReport(source, fmt, sha256, skipped=True)
        started = dt.datetime.now(_UTC).replace(tzinfo=None)
        parts: _Parts | None = None
        try:
            # DuckDB on one thread while a source is stored: the ingest's own threads (reader,
            # store, insert) keep both cores busy, and DuckDB's parallel insert only added work
            # (the store of the 10 M-line benchmark file: 2.4-2.5 s wall and 3.7 CPU-s on one
            # thread, 2.7 s and 4.0-4.4 CPU-s on two).
            with _setting(self.con, "threads", 1), self.transaction():
                ingest_id = self.con.execute(
                    "SELECT coalesce(max(ingest_id), 0) + 1 FROM ingest_log"
                ).fetchone()[0]
                if self.parts_dir is not None:
                    parts = _Parts(self.parts_dir, ingest_id, self._part_files())
                counts = _Stager(self.con, ingest_id, source, parts).stage_all(batches)
                if not isinstance(sha256, str):
                    sha256 = sha256.result()
                    if self.already_ingested(sha256):
                        raise _SameBytes
                if parts is not None:
                    parts.list(self.con)
                self.con.execute(
                    "INSERT INTO ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        size,
                    ],
                )
        except BaseException as exc:
            if parts is not None:  # rolled back: its parts go too
                parts.discard()
            if isinstance(exc, _SameBytes):
                return IngestReport(source, fmt, sha256, skipped=True)
            raise
        finally:
            if parts is not None:
                parts.release()
        return IngestReport(source, fmt, sha256, **counts)

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Many sources in a row (a folder): DuckDB checkpoints once, at the end, instead of
        whenever its log passes 16 MB. Each source still commits on its own, durably (its
        readings are written to the file as they are inserted; the log holds little: 14 MiB
        for 30 daily files). Into the warehouse of a year, 30 daily files took 4.2 s instead
        of 5.2 s (the commits 0.9 s instead of 1.6 s)."""
        if self.read_only:
            yield
            return
        try:
            with _setting(self.con, "checkpoint_threshold", "1GB"):
                yield
        finally:
            self.con.execute("CHECKPOINT")

    # -- queries ---------------------------------------------------------------------------

    def sql(self, query: str, params: Sequence[object] | dict[str, object] | None = None) -> pl.DataFrame:
        """Run ``query`` with bound ``params``; TIMESTAMP_NS columns come back as UTC datetimes."""
        try:
            frame = self.con.execute(query, params or []).pl()
        except duckdb.Error as exc:
            if self.read_only and self._writes(query):
                # Said before DuckDB's binder complains about a view (readings cannot be deleted from).
                raise ParameterError(
                    "the warehouse is open read-only: a query may only read",
                    parameter="query",
                    hint="Use SELECT; data changes only through observatory ingest.",
                ) from exc
            raise ParameterError(f"query failed: {exc}", parameter="query") from exc
        # Every time in the warehouse is UTC: say so on the way out.
        naive = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone is None]
        return _as_utc(frame, naive)

    def query(self, query: str) -> pl.DataFrame:
        """An analyst's query (``observatory sql``), refused with ParameterError unless it only
        reads: SELECT, EXPLAIN (DESCRIBE, SHOW, SUMMARIZE are SELECTs), no PRAGMA. It runs once
        this database reads or writes no file and loads no extension (so neither ``COPY … TO``
        nor ``read_csv('/etc/passwd')``) and its settings are locked; that holds for every
        connection to the file in this process until they close: open a warehouse for it alone.
        """
        try:
            statements = self.con.extract_statements(query)
        except duckdb.Error as exc:
            raise ParameterError(f"query failed: {exc}", parameter="query") from exc
        refused = [s.type.name for s in statements if s.type not in _READING_STATEMENTS]
        if any(kind == _KEYWORD and _PRAGMA.match(query, at) for at, kind in duckdb.tokenize(query)):
            refused.append("PRAGMA")  # DuckDB runs some PRAGMAs as SELECTs
        if refused or not statements:
            raise ParameterError(
                f"{', '.join(refused) or 'an empty query'} refused: observatory sql is read-only (SELECT, EXPLAIN)",
                parameter="query",
                hint="Use SELECT or EXPLAIN; data come in with observatory ingest and go out with observatory release.",
            )
        if self.parts_dir is not None:  # the warehouse's own Parquet parts stay readable
            self.con.execute("SET allowed_directories = ?", [[str(self.parts_dir) + os.sep]])
        self.con.execute("SET enable_external_access = false")  # files, URLs, extensions
        self.con.execute("SET lock_configuration = true")
        try:
            return self.sql(query)
        except ParameterError as exc:
            if isinstance(exc.__cause__, duckdb.PermissionException):
                raise ParameterError(
                    f"{exc.message} (observatory sql reads the warehouse's tables only)",
                    parameter="query",
                    hint="Ingest a file with observatory ingest to query it here.",
                ) from exc
            raise

    def _writes(self, query: str) -> bool:
        try:
            statements = self.con.extract_statements(query)
        except duckdb.Error:
            return False
        return any(s.type not in _READING_STATEMENTS for s in statements)

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
        if bucket is not None:  # both are checked against their lists before anything else
            _choice(bucket, BUCKETS, "bucket")
            _choice(agg, AGGREGATES, "agg")
        rollup = bucket in _ROLLUP_BUCKETS and agg in _ROLLUP_AGGREGATES and _whole_hours(start, end)
        if rollup:
            condition, params = _filters(sensor_ids, insee, fields, start, end, "r.hour")
            # Hourly-or-coarser aggregates from the rollup kept at ingest (exact, not sampled);
            # hourly ones are its rows as they are.
            if bucket == "1h":
                return self._hourly_rows(_HOURLY_VALUES[agg], condition, params)
            query = (
                f"SELECT time_bucket(INTERVAL '{BUCKETS[bucket]}', r.hour)::TIMESTAMP_NS AS time, r.sensor_id, "
                f"any_value(r.measurement) AS measurement, r.field, {_ROLLUP_AGGREGATES[agg]} AS value "
                f"FROM readings_hourly r WHERE {condition} GROUP BY ALL ORDER BY r.sensor_id, r.field, time"
            )
        else:
            source, params = _raw_readings(sensor_ids, insee, fields, start, end)
            if bucket is None:
                query = f"SELECT r.time, r.sensor_id, r.measurement, r.field, r.value FROM {source} ORDER BY r.sensor_id, r.field, r.time"
            else:
                interval = _choice(bucket, BUCKETS, "bucket")
                function = _choice(agg, AGGREGATES, "agg")
                value = (
                    f"{function}(r.value ORDER BY r.time)" if function == "last" else f"{function}(r.value)"
                )
                query = (
                    f"SELECT time_bucket(INTERVAL '{interval}', r.time) AS time, r.sensor_id, "
                    f"any_value(r.measurement) AS measurement, r.field, {value} AS value "
                    f"FROM {source} GROUP BY ALL ORDER BY r.sensor_id, r.field, time"
                )
        frame = self.sql(query, params)
        return frame.with_columns(
            pl.col("time").cast(pl.Datetime("ns", "UTC")), pl.col("value").cast(pl.Float64)
        )

    def _hourly_rows(self, value: str, condition: str, params: list) -> pl.DataFrame:
        """Rows of the hourly rollup in (sensor_id, field, time) order. DuckDB sorts an integer
        rank of each series and the names are attached afterwards: sorting the 2.4 M hourly rows
        of a year with their three strings took 1.04 of 1.05 s (bench_year_queries.py), this 0.3 s."""
        # each (sensor_id, field) under its first series, as readings_hourly_data keeps it
        series = self.sql(
            "SELECT min(series_id) AS series_id, sensor_id, field, arg_min(measurement, series_id) AS measurement "
            "FROM sensor_series GROUP BY sensor_id, field ORDER BY sensor_id, field"
        ).with_row_index("rank")
        self.con.register("_series_rank", series.select("rank", "series_id", "sensor_id", "field").to_arrow())
        try:
            rows = self.sql(
                f"SELECT r.rank, r.hour::TIMESTAMP_NS AS time, {value} AS value FROM "
                f"(SELECT k.rank, k.sensor_id, k.field, h.* FROM readings_hourly_data h "
                f"JOIN _series_rank k ON k.series_id = h.series_id) r "
                f"WHERE {condition} ORDER BY r.rank, time",
                params,
            )
        finally:
            self.con.unregister("_series_rank")
        return rows.join(series, on="rank", how="left", maintain_order="left").select(
            pl.col("time").cast(pl.Datetime("ns", "UTC")),
            "sensor_id",
            "measurement",
            "field",
            pl.col("value").cast(pl.Float64),
        )

    def latest(self, sensor_ids: Sequence[str] | None = None) -> pl.DataFrame:
        """The last value of every (sensor, field), from the table kept at ingest."""
        where, params = (
            ("WHERE sensor_id IN (SELECT unnest(?))", [_texts(sensor_ids, "sensor_ids")])
            if sensor_ids
            else ("", [])
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


_READING_STATEMENTS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)
_KEYWORD = duckdb.token_type.keyword
_PRAGMA = re.compile(r"pragma\b", re.IGNORECASE)
_ROLLUP_BUCKETS = ("1h", "1d", "1w", "1mo")
_ROLLUP_AGGREGATES = {
    "mean": "sum(r.total) / nullif(sum(r.n), 0)",
    "min": "min(r.minimum)",
    "max": "max(r.maximum)",
    "sum": "sum(r.total)",
    "count": "sum(r.n)",
}
_HOURLY_VALUES = {
    "mean": "r.total / nullif(r.n, 0)",
    "min": "r.minimum",
    "max": "r.maximum",
    "sum": "r.total",
    "count": "r.n",
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
        params.append(_texts(sensor_ids, "sensor_ids"))
    if insee is not None:
        where.append("r.sensor_id IN (SELECT sensor_id FROM sensors WHERE insee IN (SELECT unnest(?)))")
        params.append(_texts(insee, "insee"))
    if fields is not None:
        where.append("r.field IN (SELECT unnest(?))")
        params.append(_texts(fields, "fields"))
    for bound, op, name in ((start, ">=", "start"), (end, "<", "end")):
        value = _to_utc_naive(bound, name)
        if value is not None:
            where.append(f"{time_column} {op} ?")
            params.append(value)
    return " AND ".join(where), params


def _raw_readings(
    sensor_ids: Sequence[str] | None,
    insee: Sequence[str] | str | None,
    fields: Sequence[str] | None,
    start: dt.datetime | str | None,
    end: dt.datetime | str | None,
) -> tuple[str, list]:
    """The filtered readings as a subquery aliased ``r``, and its bound parameters. Sensor,
    commune and field filters pick series in the dictionary first: the scan of readings_all,
    sorted by series, then reads only their row groups (the view ``readings`` would filter after
    the join); so does the scan of the Parquet parts."""
    span, params = _filters(None, None, None, start, end, "d.time")
    series, series_params = _filters(sensor_ids, insee, fields, None, None, "")
    if series_params:
        span += f" AND d.series_id IN (SELECT r.series_id FROM sensor_series r WHERE {series})"
    source = (
        "(SELECT d.time, s.sensor_id, s.measurement, s.field, d.value "
        f"FROM readings_all d JOIN sensor_series s USING (series_id) WHERE {span}) r"
    )
    return source, params + series_params


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
    except (KeyError, TypeError):  # TypeError: a value that cannot even be a key (a list)
        raise ParameterError(
            f"{str(value)[:60]!r} is not offered", parameter=parameter, hint=did_you_mean(value, allowed)
        ) from None


class _SameBytes(Exception):
    """The source's bytes, hashed while it was stored, had been ingested before: roll back."""


@contextlib.contextmanager
def _setting(con: duckdb.DuckDBPyConnection, name: str, value: object) -> Iterator[None]:
    """DuckDB's setting ``name`` (one of this module's, never a user's) at ``value`` for the
    block, its former value back afterwards; left alone when the connection's settings are
    locked (``Warehouse.query`` locks them)."""
    locked, before = con.execute(
        f"SELECT current_setting('lock_configuration'), current_setting('{name}')"
    ).fetchone()
    if locked:
        yield
        return
    con.execute(f"SET {name} = ?", [value])
    try:
        yield
    finally:
        con.execute(f"SET {name} = ?", [before])


class _Transaction:
    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __enter__(self) -> None:
        self.con.execute("BEGIN TRANSACTION")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.con.execute("ROLLBACK" if exc_type else "COMMIT")


class _SeriesIds:
    """The series dictionary (sensor_id, measurement, field) -> series_id of ``sensor_series``,
    grown as new series arrive, and what is stored of each dedupe key (sensor_id, field)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.ids: dict[tuple[str, str, str], int] = {}
        self.keys: dict[tuple[str, str], int] = {}
        self.key_of = np.zeros(0, np.int32)  # series_id -> key index
        # key index -> [first, last] time in the table (first is a lower bound), ns
        self.stored = np.zeros((2, 0), np.int64)
        for series_id, sensor_id, measurement, field in con.execute(
            "SELECT series_id, sensor_id, measurement, field FROM sensor_series ORDER BY series_id"
        ).fetchall():
            self._add(series_id, (sensor_id, measurement, field))
        for sensor_id, field, first_ns, last_ns in con.execute(
            "SELECT sensor_id, field, epoch_ns(first_time), epoch_ns(last_time) FROM reading_spans"
        ).fetchall():
            self.stored[:, self._key(sensor_id, field)] = first_ns, last_ns
        self.before = self.stored.copy()  # the spans before this ingest, for the rollups' merge

    def met(self, key: np.ndarray, hour_ns: np.ndarray) -> np.ndarray:
        """Mask of the hours (their start, ns) of ``key`` that may hold readings stored before
        this ingest: those that meet the key's span then."""
        if not self.before.shape[1]:
            return np.zeros(len(key), bool)
        known = key < self.before.shape[1]
        first, last = self.before[:, np.where(known, key, 0)]
        return known & (hour_ns <= last) & (hour_ns + _HOUR_NS > first)

    def _key(self, sensor_id: str, field: str) -> int:
        key = self.keys.setdefault((sensor_id, field), len(self.keys))
        if key >= self.stored.shape[1]:
            empty = np.empty((2, max(64, self.stored.shape[1])), np.int64)
            empty[0], empty[1] = _NO_TIME_HIGH, _NO_TIME_LOW
            self.stored = np.concatenate([self.stored, empty], axis=1)
        return key

    def suspects(self, key: np.ndarray, time_ns: np.ndarray) -> np.ndarray:
        """The rows whose time lies within what the table holds of their key: only those can
        be stored already (none, for new data)."""
        if not len(key) or not self.stored.size or time_ns.min() > self.stored[1].max():  # new data
            return np.empty(0, np.int64)
        return np.flatnonzero((time_ns >= self.stored[0][key]) & (time_ns <= self.stored[1][key]))

    def extend(self, key: np.ndarray, time_ns: np.ndarray) -> None:
        """Widen the stored spans by rows just inserted, sorted by key then time."""
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        keys, last = key[starts], time_ns[np.r_[starts[1:], len(key)] - 1]
        self.stored[0, keys] = np.minimum(self.stored[0, keys], time_ns[starts])
        self.stored[1, keys] = np.maximum(self.stored[1, keys], last)

    def _add(self, series_id: int, name: tuple[str, str, str]) -> None:
        self.ids[name] = series_id
        if series_id >= len(self.key_of):
            self.key_of = np.concatenate([self.key_of, np.zeros(max(64, series_id + 1), np.int32)])
        self.key_of[series_id] = self._key(name[0], name[2])

    def _ids_of(self, names: Iterable[tuple[str, str, str]]) -> list[int]:
        """The series_id of each (sensor_id, measurement, field); series met for the first time
        are added to ``sensor_series``."""
        names = list(names)
        new = list(dict.fromkeys(name for name in names if name not in self.ids))
        if new:
            start = max(self.ids.values(), default=-1) + 1
            for offset, name in enumerate(new):
                self._add(start + offset, name)
            added = pl.DataFrame(
                [(start + offset, *name) for offset, name in enumerate(new)],
                schema={"series_id": pl.Int32, **dict.fromkeys(_SERIES_COLUMNS, pl.String)},
                orient="row",
            )
            self.con.register("_new_series", added.to_arrow())
            self.con.execute("INSERT INTO sensor_series SELECT * FROM _new_series")
            self.con.unregister("_new_series")
        return [self.ids[name] for name in names]

    def encode_codes(self, codes: np.ndarray, keys: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """The series_id of every row coded ``codes`` into ``keys``: strings are looked up once
        per key, not once per row (a reader lists only keys its numeric readings use)."""
        return np.array(self._ids_of(keys), np.int32)[codes]

    def encode(self, frame: pl.DataFrame) -> np.ndarray:
        """The series_id of every row of ``frame`` (sensor_id, measurement, field not null);
        series met for the first time are added to ``sensor_series``."""
        combos = frame.select(_SERIES_COLUMNS).unique(maintain_order=True)
        ids = pl.Series(self._ids_of(combos.iter_rows()), dtype=pl.Int32)
        # Rows are matched to their series through a hash of the three strings: exact, since
        # every row's strings are one of ``combos`` and the combos' hashes are checked distinct.
        hashes = combos.select(pl.struct(_SERIES_COLUMNS).hash(seed=11)).to_series()
        if hashes.n_unique() == len(hashes):
            rows = frame.select(pl.struct(_SERIES_COLUMNS).hash(seed=11)).to_series()
            return rows.replace_strict(hashes, ids, return_dtype=pl.Int32).to_numpy()
        mapped = frame.select(_SERIES_COLUMNS).join(
            combos.with_columns(series_id=ids), on=_SERIES_COLUMNS, how="left", maintain_order="left"
        )
        return mapped.get_column("series_id").to_numpy()

    def names(self) -> pl.DataFrame:
        """series_id, sensor_id, measurement, field of every known series."""
        rows = [(series_id, *name) for name, series_id in self.ids.items()]
        return pl.DataFrame(
            rows,
            schema={
                "series_id": pl.Int32,
                "sensor_id": pl.String,
                "measurement": pl.String,
                "field": pl.String,
            },
            orient="row",
        )


_SERIES_COLUMNS = ["sensor_id", "measurement", "field"]
_NO_TIME_HIGH, _NO_TIME_LOW = np.iinfo(np.int64).max, np.iinfo(np.int64).min  # empty span
# Readings buffered before one insert: whole DuckDB row groups (122,880 rows), ~40 MB. Measured
# on 4 M narrow rows: one insert 0.84 s, the same rows in 200k-row pieces 1.9 s.
FLUSH_ROWS = 16 * 122_880
_HOUR_NS = 3_600_000_000_000
# Batches a reader thread may read ahead while the previous ones are stored: about one flush's
# worth (10 line-protocol batches), so that reading goes on while a flush sorts and inserts.
# 10 M lines: depth 2 8.2 s, 6 6.7-7.0 s, 8 6.3 s, 12 6.3 s; peak RSS 1,200, 1,209, 1,239, 1,256 MiB.
PREFETCH_BATCHES = 8


_LIBC = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
# After an ingest: the thresholds glibc's own adaptation reaches once blocks of a few MB were
# freed (mmap at most 32 MiB, trim twice that). Setting a threshold ends that adaptation, so
# glibc's initial 128 KiB would leave a long-running process (the server, the MQTT feed) mapping
# and faulting every large array afresh.
_HEAP_AFTER = {_M_MMAP_THRESHOLD: 32 * 1024 * 1024, _M_TRIM_THRESHOLD: 64 * 1024 * 1024}
_heap_users = 0
_heap_lock = threading.Lock()


@contextlib.contextmanager
def _heap_kept() -> Iterator[None]:
    """While a source is stored, glibc keeps the memory it frees for the next flush instead of
    handing it back: blocks of a few MB (the parser's columns, NumPy's, a flush's sorted copy)
    are allocated and freed every batch, and memory fresh from the system is zeroed by the
    kernel on first touch (20 % of the store's CPU time when it was returned after each flush).
    Large blocks come from the heap (mmap threshold 32 MiB, glibc's maximum) and the heap is
    not trimmed; afterwards, the thresholds of ``_HEAP_AFTER`` and the free pages returned at
    once. The 10 M-line benchmark file: 0.5 CPU-s less, peak RSS ~120 MiB more."""
    global _heap_users
    mallopt = getattr(_LIBC, "mallopt", None)
    if mallopt is None:
        yield
        return
    with _heap_lock:
        _heap_users += 1
        if _heap_users == 1:
            mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
            mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0:
                for parameter, value in _HEAP_AFTER.items():
                    mallopt(parameter, value)
                _LIBC.malloc_trim(0)


def _grouped(
    key: np.ndarray,
    time_ns: np.ndarray,
    series: np.ndarray,
    value: np.ndarray,
    valid: np.ndarray | None,
    n_keys: int,
    out: tuple[np.ndarray, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows sorted by key then time, stably. Readers give each key's times in order nearly
    always: sorting by key alone is then enough, checked. The compiled counting sort
    (``_group.c``) places the columns one after another (2 M rows of bench_ingest's data, 128
    keys: 12.5 ms into memory already touched, ~45 ms in the ingest, where fresh pages fault);
    without it, or with nulls to carry, NumPy: a radix sort of the key when it fits 16 bits
    (0.05-0.065 s, then a gather per column), else np.lexsort (0.075-0.09 s)."""
    if _group is not None and valid is None and len(key):
        if out is None:
            out = np.empty_like(key), np.empty_like(time_ns), np.empty_like(series), np.empty_like(value)
        if _group.group(key, time_ns, series, value, n_keys, *out):
            return (*out, None)
    order = None
    if len(key) and key.max() < 1 << 16:
        order = np.argsort(key.astype(np.uint16), kind="stable")
        by_key, times = key[order], time_ns[order]
        if not ((by_key[1:] != by_key[:-1]) | (times[1:] >= times[:-1])).all():
            order = None
    if order is None:
        order = np.lexsort((time_ns, key))
    return (
        key[order],
        time_ns[order],
        series[order],
        value[order],
        valid[order] if valid is not None else None,
    )


class Prefetched:
    """``batches`` read by a worker thread up to ``depth`` ahead, from the moment this is made,
    so that reading (the compiled line-protocol pass, Polars: both release the GIL) and storing
    (NumPy, DuckDB) use both cores, and the next file of a folder is read while this one is
    stored and committed (``ingest.ingest_paths``). Iterating gives the batches once; the
    reader's exception is raised there. ``close`` (leaving the iteration early, too) stops the
    reader at its next batch."""

    def __init__(self, batches: Iterable[Batch], depth: int = PREFETCH_BATCHES) -> None:
        self._handoff: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._read, args=(batches,), name="ingest-reader", daemon=True)
        self._worker.start()

    def _hand(self, item: tuple[str, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, batches: Iterable[Batch]) -> None:
        iterator = None
        try:
            iterator = iter(batches)
            for batch in iterator:
                if not self._hand(("batch", batch)):
                    break
            else:
                self._hand(("end", None))
        except BaseException as exc:  # handed to the storing thread, raised there
            self._hand(("error", exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def __iter__(self) -> Iterator[Batch]:
        try:
            while True:
                kind, item = self._handoff.get()
                if kind == "end":
                    return
                if kind == "error":
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._worker.join()


class _InsertBehind:
    """The connection as the stager uses it: the readings' insert of a flush runs in a thread of
    its own while the next flush is read, sorted and rolled up (DuckDB releases the GIL), and any
    other use of the connection waits for it first. Statements thus still run one at a time, in
    the order given, inside the one transaction. The store of the 10 M-line benchmark file took
    3.3 s instead of 5.1 s (wall; the same CPU)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ingest-insert")
        self._pending: concurrent.futures.Future | None = None

    def insert_behind(self, table: str, rows: object) -> None:
        """Append ``rows`` (an Arrow table: every column of ``table``, in order) once the previous
        insert is done."""

        def insert() -> None:
            self._con.register("_rows", rows)
            try:
                self._con.execute(f"INSERT INTO {table} SELECT * FROM _rows")
            finally:
                self._con.unregister("_rows")

        self.run_behind(insert)

    def run_behind(self, job: Callable[[], None]) -> None:
        """Run ``job`` in the thread once the previous one is done."""
        self.wait()
        self._pending = self._pool.submit(job)

    def wait(self) -> None:
        """Wait for the insert in flight; its exception is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def finish(self, quiet: bool = False) -> None:
        """Wait for the insert in flight and let its thread go; ``quiet``: an error of the
        insert is not raised (the caller is on its way out with another)."""
        try:
            self.wait()
        except Exception:
            if not quiet:
                raise
        finally:
            self._pool.shutdown()

    def __getattr__(self, name: str) -> object:
        self.wait()
        return getattr(self._con, name)


# Parquet parts as the warehouse's readings are stored (schema.py): the time as deltas, values
# split by byte, zstd at its fastest level, DuckDB's row group size (zone maps as tight). The
# 20.2 M readings of the 10 M-line benchmark file: 0.6-0.9 CPU-s, 85 MiB (snappy and the
# defaults: 1.0-1.3 s, 168 MiB; DuckDB's own insert 1.7-1.8 s, 41 MiB).
_PART_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "row_group_size": 122_880,
    "use_dictionary": ["series_id", "ingest_id"],
    "column_encoding": {"time": "DELTA_BINARY_PACKED", "value": "BYTE_STREAM_SPLIT"},
}
_writing: set[Path] = set()  # parts being written by this process, not listed yet
_writing_lock = threading.Lock()


class _Parts:
    """The Parquet parts of one ingest: written (by the insert thread) as its full flushes come,
    fsynced, listed in ``readings_parts`` and the view ``readings_all`` in its transaction, or
    deleted when it is rolled back. Made at the start of an ingest, it deletes the parts no
    ingest listed (left by a process killed mid-ingest: never part of the warehouse)."""

    def __init__(self, folder: Path, ingest_id: int, listed: list[str]) -> None:
        """``listed``: the warehouse's parts so far (``Warehouse._part_files``)."""
        self.folder, self.ingest_id, self.listed = folder, ingest_id, listed
        self.written: list[tuple[str, int]] = []  # (file, rows) of this ingest
        self.viewed = 0  # how many of them readings_all reads
        self.tag = uuid.uuid4().hex[:12]  # two ingests of one process never share a name
        if folder.is_dir():
            known = {Path(path).name for path in listed}
            with _writing_lock:
                for path in folder.glob("*.parquet"):
                    if path.name not in known and path not in _writing:
                        path.unlink(missing_ok=True)

    def write(self, rows: pa.Table) -> None:
        """Write ``rows`` as the next part (in the insert thread: the writer releases the GIL)."""
        import pyarrow.parquet as pq  # 25 ms, for large ingests only

        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"{self.ingest_id}-{self.tag}-{len(self.written)}.parquet"
        with _writing_lock:
            _writing.add(path)
        self.written.append((path.name, rows.num_rows))  # before writing: a failure deletes it too
        pq.write_table(rows, path, **_PART_OPTIONS)
        fsync(path)

    def view(self, con: duckdb.DuckDBPyConnection) -> None:
        """readings_all over the parts written so far (the ingest looks up repeats in it)."""
        if self.viewed < len(self.written):
            ours = [str(self.folder / name) for name, _ in self.written]
            con.execute(readings_all_view([*self.listed, *ours]))
            self.viewed = len(self.written)

    def list(self, con: duckdb.DuckDBPyConnection) -> None:
        """Make the parts written part of the warehouse once the transaction commits."""
        if not self.written:
            return
        fsync(self.folder)  # their names too
        con.executemany(
            "INSERT INTO readings_parts VALUES (?, ?, ?)",
            [(name, self.ingest_id, rows) for name, rows in self.written],
        )
        self.view(con)

    def discard(self) -> None:
        for name, _ in self.written:
            (self.folder / name).unlink(missing_ok=True)

    def release(self) -> None:
        with _writing_lock:
            for name, _ in self.written:
                _writing.discard(self.folder / name)


class _Stager:
    """Stores a source's batches as they come, inside the caller's transaction.

    Numeric readings are encoded to series ids and buffered; only the keys whose time span meets
    what the table holds are looked up there (new data, the usual case, never is). A full buffer
    is grouped by (sensor_id, field), sorted by time, rid of repeats and inserted in one go; the
    hourly and latest rollups of the rows added are computed from it in NumPy/Polars, then merged
    into the rollup tables once, at the end.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, ingest_id: int, source: str, parts: _Parts | None = None
    ) -> None:
        self.con, self.ingest_id, self.source = _InsertBehind(con), ingest_id, source
        self.parts = parts  # full flushes go there, the rest into readings_data
        self.rejected = 0
        self.reports = 0
        self.counts = {"readings": 0, "text_readings": 0, "duplicates": 0}
        self.series: _SeriesIds | None = None
        self.buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray, pl.Series]] = []
        self.buffered = 0
        self.received = 0  # numeric readings received, counted against those stored
        self.hourly: list[pl.DataFrame] = []
        self.latest: list[pl.DataFrame] = []
        self.series_seen: set[tuple] = set()
        self.ingest_ids = np.empty(0, np.int32)  # the ingest id, once per row of a flush
        self.spare: dict[str, list[list[np.ndarray] | None]] = {}  # see _buffers

    def stage_all(self, batches: Iterable[Batch]) -> dict[str, int]:
        try:
            for batch in batches:
                if batch.coded is not None:
                    self._store_coded(batch.coded)
                else:
                    self._store_numeric(self._keep_keyed(batch.readings))
                self._store_text(self._keep_keyed(batch.text_readings))
                self._store_rejects(batch.rejects)
                self._store_sensors(batch.sensors)
                self._store_series(batch.series)
                self._store_reports(batch.reports)
            self._flush()
            if self.hourly:
                self._update_rollups()
            self.con.wait()
        except BaseException:
            self.con.finish(quiet=True)  # the insert in flight ends before the caller's rollback
            raise
        self.con.finish()
        self.counts["duplicates"] += self.received - self.counts["readings"]
        return {**self.counts, "reports": self.reports, "rejected": self.rejected}

    def _store_numeric(self, frame: pl.DataFrame) -> None:
        """Buffer numeric readings given as a canonical frame (key columns not null)."""
        if frame.height == 0:
            return
        self._ensure_series()
        value = frame.get_column("value")
        self._buffer(
            self.series.encode(frame),
            frame.get_column("time").dt.cast_time_unit("ns").to_physical().to_numpy(),
            value.to_numpy().astype(np.float64, copy=False),
            value.is_not_null().to_numpy() if value.null_count() else None,
        )

    def _store_coded(self, coded: base.CodedReadings) -> None:
        """Buffer numeric readings given coded (CodedReadings): their keys are looked up once,
        no string is touched per row."""
        if not len(coded):
            return
        self._ensure_series()
        self._buffer(self.series.encode_codes(coded.codes, coded.keys), coded.time_ns, coded.value, None)

    def _ensure_series(self) -> None:
        if self.series is None:
            self.series = _SeriesIds(self.con)

    def _buffer(
        self, series: np.ndarray, time_ns: np.ndarray, value: np.ndarray, valid: np.ndarray | None
    ) -> None:
        """Buffer readings of ``series`` (ids); ``valid`` is the mask of non-null values (None:
        all). Rows already stored are left out; the buffer is flushed when full."""
        key = self.series.key_of[series]
        # Only rows within what the table holds of their key can collide with a stored row;
        # rows repeated within the buffer are dropped when it is flushed.
        suspects = self.series.suspects(key, time_ns)
        self.received += len(key)
        if len(suspects):
            kept = ~self._stored(key, time_ns, suspects)
            key, time_ns, series, value = key[kept], time_ns[kept], series[kept], value[kept]
            valid = valid[kept] if valid is not None else None
        if len(key):
            self.buffer.append((key, time_ns, series, value, valid))
            self.buffered += len(key)
        if self.buffered >= FLUSH_ROWS:
            self._flush(to_parts=self.parts is not None)

    def _stored(self, key: np.ndarray, time_ns: np.ndarray, suspect: np.ndarray) -> np.ndarray:
        """Mask of the rows whose (key, time) is in the table already, looking only at the rows
        ``suspect``."""
        keys = np.unique(key[suspect])
        if self.parts is not None:  # the parts of this ingest are looked in too
            self.con.wait()
            self.parts.view(self.con)
        known = np.fromiter(self.series.ids.values(), np.int64, len(self.series.ids))
        series_ids = known[np.isin(self.series.key_of[known], keys)]
        stored = self.con.execute(
            "SELECT series_id, epoch_ns(time) AS time_ns FROM readings_all WHERE series_id IN (SELECT unnest(?)) "
            "AND time BETWEEN make_timestamp_ns(?) AND make_timestamp_ns(?)",
            [series_ids.tolist(), int(time_ns[suspect].min()), int(time_ns[suspect].max())],
        ).pl()
        stored = stored.select(
            pl.Series("key", self.series.key_of[stored.get_column("series_id").to_numpy()]), "time_ns"
        )
        found = (
            pl.DataFrame({"row": suspect, "key": key[suspect], "time_ns": time_ns[suspect]})
            .join(stored, on=["key", "time_ns"], how="semi")
            .get_column("row")
            .to_numpy()
        )
        mask = np.zeros(len(key), bool)
        mask[found] = True
        return mask

    def _flush(self, to_parts: bool = False) -> None:
        """Store the buffered readings: into readings_data, or (``to_parts``: a full buffer of a
        warehouse on disk) as a Parquet part."""
        if not self.buffer:
            return
        key, time_ns, series, value = (
            np.concatenate([b[i] for b in self.buffer], out=into)
            for i, into in enumerate(self._buffers("gathered", [b[:4] for b in self.buffer]))
        )
        valid = None
        if any(b[4] is not None for b in self.buffer):
            valid = np.concatenate(
                [b[4] if b[4] is not None else np.ones(len(b[0]), bool) for b in self.buffer]
            )
        self.buffer, self.buffered = [], 0
        # Sorted by key then time, stably: a repeated (sensor_id, field, time) follows its first
        # occurrence in the source, which is the one kept. Stored in that order, each row group
        # holds few series over a stretch of time: zone maps skip the rest for a sensor or a time range.
        key, time_ns, series, value, valid = _grouped(
            key,
            time_ns,
            series,
            value,
            valid,
            len(self.series.keys),
            self._buffers("sorted", [(key, time_ns, series, value)]),
        )
        self.series.extend(key, time_ns)
        first = np.ones(len(key), bool)
        first[1:] = (key[1:] != key[:-1]) | (time_ns[1:] != time_ns[:-1])
        if not first.all():
            time_ns, series, value = time_ns[first], series[first], value[first]
            valid = valid[first] if valid is not None else None
        values = pl.Series("value", value, dtype=pl.Float64, nan_to_null=False)
        if valid is not None:
            values = values.scatter(np.flatnonzero(~valid), None)
        frame = pl.DataFrame(
            {
                "time": pl.Series(time_ns).cast(pl.Datetime("ns")),
                "series_id": series,
                "value": values,
            }
        )
        self._roll(frame, time_ns)
        # Arrow columns over the NumPy arrays themselves (no copy), every column of the table:
        # DuckDB's insert then projects nothing (measured on 4 M rows: 0.40 CPU-s, against 0.62
        # s with the ingest id bound as a parameter); the ingest id a view of one constant array.
        if len(self.ingest_ids) < len(series):
            self.ingest_ids = np.full(max(len(series), FLUSH_ROWS), self.ingest_id, np.int32)
        rows = pa.Table.from_arrays(
            [
                pa.Array.from_buffers(pa.timestamp("ns"), len(time_ns), [None, pa.py_buffer(time_ns)]),
                pa.array(series),
                pa.array(value, mask=None if valid is None else ~valid),
                pa.array(self.ingest_ids[: len(series)]),
            ],
            names=["time", "series_id", "value", "ingest_id"],
        )
        if to_parts:
            self.con.run_behind(lambda: self.parts.write(rows))
        else:
            self.con.insert_behind("readings_data", rows)
        self.counts["readings"] += frame.height

    def _buffers(self, use: str, pieces: list[tuple[np.ndarray, ...]]) -> list[np.ndarray]:
        """Arrays to hold the columns of ``pieces`` one after another, reused from flush to
        flush: memory fresh from the system costs a page fault per page, and faults are slow
        while the reader, DuckDB and the hash fault too (the sort of 2 M rows took 100-150 ms into
        new arrays, 15-20 ms into these). The sorted columns (``use="sorted"``) take two sets in
        turn, as the insert of the previous flush still reads its own while this one is sorted."""
        n = sum(len(piece[0]) for piece in pieces)
        dtypes = [piece.dtype for piece in pieces[0]]
        sets = self.spare.setdefault(use, [None, None])
        if use == "sorted":
            sets.reverse()
        held = sets[0]
        if held is None or len(held[0]) < n or [a.dtype for a in held] != dtypes:
            held = sets[0] = [np.empty(max(n, FLUSH_ROWS), dtype) for dtype in dtypes]
        return [a[:n] for a in held]

    def _roll(self, frame: pl.DataFrame, time_ns: np.ndarray) -> None:
        """Hourly and latest partial aggregates of rows about to be stored, sorted by time within
        each series (several partials of one series and hour are merged at the end)."""
        series = frame.get_column("series_id").to_numpy()
        value = frame.get_column("value")
        last = np.flatnonzero(np.r_[series[1:] != series[:-1], True])
        self.latest.append(
            pl.DataFrame(
                {
                    "series_id": series[last],
                    "time": frame.get_column("time").gather(last),
                    "value": value.gather(last),
                }
            )
        )
        values = value.to_numpy()
        if value.null_count() or np.isnan(values).any():  # nulls and NaN: Polars' own rules
            self.hourly.append(
                frame.group_by("series_id", pl.col("time").dt.truncate("1h").alias("hour")).agg(
                    n=pl.col("value").count(),
                    total=pl.col("value").sum(),
                    minimum=pl.col("value").min(),
                    maximum=pl.col("value").max(),
                )
            )
            return
        # Rows of one series and hour are contiguous: each aggregate is a reduction over runs.
        hour = time_ns // _HOUR_NS  # floor, also before 1970
        starts = np.flatnonzero(np.r_[True, (series[1:] != series[:-1]) | (hour[1:] != hour[:-1])])
        self.hourly.append(
            pl.DataFrame(
                {
                    "series_id": series[starts],
                    "hour": pl.Series(hour[starts] * _HOUR_NS).cast(pl.Datetime("ns")),
                    "n": np.diff(np.r_[starts, len(series)]).astype(np.uint32),
                    "total": np.add.reduceat(values, starts),
                    "minimum": np.minimum.reduceat(values, starts),
                    "maximum": np.maximum.reduceat(values, starts),
                }
            )
        )

    def _update_rollups(self) -> None:
        # Partials merged per dedupe key (an integer: a (sensor_id, field)), stored under the
        # key's first series, and all of it before the connection is touched, so that it runs
        # beside the last insert (grouped by the three strings: 0.22 s for the 10 M-line file, in
        # the serial tail).
        names = self.series.names()
        series_key = names.select(
            "series_id", key=pl.Series(self.series.key_of[names.get_column("series_id").to_numpy()])
        )
        # each key's first series: the one its hourly rows are stored under (schema.py)
        keys = (
            names.join(series_key, on="series_id")
            .sort("series_id")
            .group_by("key", maintain_order=True)
            .agg(pl.col("series_id", "sensor_id", "field").first())
            .sort("sensor_id", "field")  # stored in query order: zone maps and locality
            .with_row_index("rank")
        )
        partials = (
            pl.concat(self.hourly)
            .join(series_key, on="series_id")
            .group_by("key", "hour")
            .agg(
                pl.col("n").sum(),
                pl.col("total").sum(),
                pl.col("minimum").min(),
                pl.col("maximum").max(),
            )
        )
        met = self.series.met(
            partials.get_column("key").to_numpy(),
            partials.get_column("hour").dt.cast_time_unit("ns").to_physical().to_numpy(),
        )
        hourly = (
            partials.with_columns(met=pl.Series(met, dtype=pl.Boolean))
            .join(keys.select("key", "rank", "series_id"), on="key")
            .sort("rank", "hour")
            .select(
                "series_id",
                pl.col("hour").cast(pl.Datetime("us")),
                "n",
                pl.when(pl.col("n") > 0).then(pl.col("total")).alias("total"),
                "minimum",
                "maximum",
                "met",
            )
        )
        last = (
            pl.concat(self.latest)
            .join(series_key, on="series_id")
            .group_by("key")
            .agg(pl.col("time").max(), pl.col("value").get(pl.col("time").arg_max()))
        )
        latest = last.join(keys, on="key").select("sensor_id", "field", "time", "value")
        spans = (
            partials.group_by("key")
            .agg(first_time=pl.col("hour").min().cast(pl.Datetime("ns")))
            .join(last.select("key", last_time="time"), on="key")
            .join(keys, on="key")
            .select("sensor_id", "field", "first_time", "last_time")
        )
        hourly_met = hourly.filter("met").drop("met")
        frames = {
            "_hourly_new": hourly.filter(~pl.col("met")).drop("met"),
            "_hourly_met": hourly_met,
            "_latest": latest,
            "_spans": spans,
        }
        tables = [(name, frame.to_arrow()) for name, frame in frames.items()]
        for name, table in tables:
            self.con.register(name, table)
        if frames["_hourly_new"].height:
            self.con.execute(HOURLY_NEW)
        if hourly_met.height:
            bounds = [hourly_met.get_column("hour").min(), hourly_met.get_column("hour").max()]
            for statement in HOURLY_MET:
                self.con.execute(statement, bounds)
        for statement in ROLLUP_UPDATES:
            self.con.execute(statement)
        for name, _ in tables:
            self.con.unregister(name)

    def _store_text(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        key = ["sensor_id", "field", "time"]
        received = frame.height
        frame = _naive_utc(frame, ["time"])
        if frame.select(key).is_duplicated().any():  # the first occurrence in the source wins
            frame = frame.unique(key, keep="first", maintain_order=True)
        self.con.register(
            "_batch", frame.select("time", "sensor_id", "measurement", "field", "value").to_arrow()
        )
        low, high = frame["time"].min(), frame["time"].max()
        # Only stored rows in the batch's time range can collide: select them first (a plain
        # range filter, pruned by zone maps), then anti-join.
        inserted = self.con.execute(
            """INSERT INTO text_readings
                WITH stored AS MATERIALIZED (
                    SELECT time, sensor_id, field FROM text_readings WHERE time BETWEEN ? AND ?
                )
                SELECT b.time, b.sensor_id, b.measurement, b.field, b.value, ?
                FROM _batch b
                ANTI JOIN stored r ON r.time = b.time AND r.sensor_id = b.sensor_id AND r.field = b.field""",
            [low, high, self.ingest_id],
        ).fetchone()[0]
        self.con.unregister("_batch")
        self.counts["text_readings"] += inserted
        self.counts["duplicates"] += received - inserted

    def _keep_keyed(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Rows without time, sensor, measurement or field cannot be keyed: quarantined, with why."""
        key = ["time", "sensor_id", "measurement", "field"]
        if not any(frame.get_column(c).null_count() for c in key):  # the usual case: no copy
            return frame
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
        # Readers repeat each series' tags in every batch: only the ones not met yet are written.
        columns = ["sensor_id", "measurement", "tags"]
        # a few rows, repeated every batch: Python sets, not a Polars query per batch
        found = (series if series.columns == columns else series.select(columns)).iter_rows()
        rows = list(dict.fromkeys(row for row in found if row not in self.series_seen))
        if not rows:
            return
        self.series_seen.update(rows)
        frame = pl.DataFrame(
            rows,
            schema={k: base.SERIES_SCHEMA[k] for k in ("sensor_id", "measurement", "tags")},
            orient="row",
        )
        self.con.register("_series", frame.to_arrow())
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
