"""The warehouse's tables, in DuckDB SQL. Times are UTC, stored as TIMESTAMP_NS without zone."""

from __future__ import annotations

from collections.abc import Sequence

SCHEMA_VERSION = 6
# 2: readings stored narrow (readings_data + sensor_series), a view; 3: source_status;
# 4: ingest_log.bytes (a file whose size no ingested file had is hashed while it is read);
# 5: readings_hourly without its primary key (ingest keeps each (sensor_id, field, hour) once);
# 6: readings_hourly stored narrow too (readings_hourly_data), a view; the readings of large
# ingests kept as Parquet parts beside the file (readings_parts, the view readings_all)

TABLES: dict[str, str] = {
    "communes": """
        CREATE TABLE IF NOT EXISTS communes (
            insee VARCHAR PRIMARY KEY,
            name VARCHAR NOT NULL,
            population INTEGER NOT NULL,
            area_km2 DOUBLE NOT NULL,
            geometry_wkb BLOB NOT NULL
        )""",
    "sensors": """
        CREATE TABLE IF NOT EXISTS sensors (
            sensor_id VARCHAR PRIMARY KEY,
            domain VARCHAR,
            kind VARCHAR,
            unit VARCHAR,
            insee VARCHAR,
            lon DOUBLE,
            lat DOUBLE,
            installed DATE,
            source_system VARCHAR
        )""",
    "series": """
        CREATE TABLE IF NOT EXISTS series (
            sensor_id VARCHAR NOT NULL,
            measurement VARCHAR NOT NULL,
            tags VARCHAR NOT NULL,
            PRIMARY KEY (sensor_id, measurement, tags)
        )""",
    # Readings are stored narrow: one integer per (sensor_id, measurement, field) instead of three
    # strings a row (5x less work to write, and sorted by series_id then time at ingest so zone
    # maps prune both); the view ``readings`` gives back the canonical long table. Views are
    # made again at every open for writing, and join ON, not USING: DuckDB's get_table_names
    # (the release catalogue's check of its queries) cannot bind a view joined USING.
    "sensor_series": """
        CREATE TABLE IF NOT EXISTS sensor_series (
            series_id INTEGER PRIMARY KEY,
            sensor_id VARCHAR NOT NULL,
            measurement VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            UNIQUE (sensor_id, measurement, field)
        )""",
    "readings_data": """
        CREATE TABLE IF NOT EXISTS readings_data (
            time TIMESTAMP_NS NOT NULL,
            series_id INTEGER NOT NULL,
            value DOUBLE,
            ingest_id INTEGER NOT NULL
        )""",
    # A large ingest writes its full flushes (FLUSH_ROWS readings each) as Parquet files in the
    # folder beside the warehouse file (``<file>.parts/``) instead of inserting them: DuckDB's
    # insert compresses and gathers statistics as it goes (1.7-1.8 CPU-s for the 20.2 M readings
    # of the 10 M-line benchmark file), the Parquet writer takes 0.6-0.9 s for them (85 MiB
    # against DuckDB's 41). The parts are listed here, in the ingest's transaction, and read
    # through the view readings_all (readings_all_view): a part not listed (a process killed
    # mid-ingest) is no part of the warehouse, and the next ingest deletes it.
    "readings_parts": """
        CREATE TABLE IF NOT EXISTS readings_parts (
            file VARCHAR PRIMARY KEY,
            ingest_id INTEGER NOT NULL,
            rows BIGINT NOT NULL
        )""",
    "readings_all": """
        CREATE VIEW IF NOT EXISTS readings_all AS
        SELECT time, series_id, value, ingest_id FROM readings_data""",
    "readings": """
        CREATE OR REPLACE VIEW readings AS
        SELECT d.time, s.sensor_id, s.measurement, s.field, d.value, d.ingest_id
        FROM readings_all d JOIN sensor_series s ON s.series_id = d.series_id""",
    "text_readings": """
        CREATE TABLE IF NOT EXISTS text_readings (
            time TIMESTAMP_NS NOT NULL,
            sensor_id VARCHAR NOT NULL,
            measurement VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            value VARCHAR,
            ingest_id INTEGER NOT NULL
        )""",
    "reports": """
        CREATE TABLE IF NOT EXISTS reports (
            report_id VARCHAR PRIMARY KEY,
            time TIMESTAMP_NS,
            category VARCHAR,
            insee VARCHAR,
            lon DOUBLE,
            lat DOUBLE,
            status VARCHAR,
            resolved_time TIMESTAMP_NS,
            text VARCHAR,
            reporter VARCHAR,
            source_system VARCHAR,
            ingest_id INTEGER NOT NULL
        )""",
    # Rollups kept at ingest: hourly aggregates and the latest value of every (sensor, field).
    # One row per (sensor_id, field, hour), kept so by the ingest (HOURLY_*), not by a primary
    # key: on a year's table its index made each file's merge 10x slower than an insert and
    # grew every checkpoint. Stored narrow like the readings: series_id is the first (lowest)
    # series of its (sensor_id, field), which never changes once the key exists; the view
    # ``readings_hourly`` gives the names back. The 333k hourly rows of the 10 M-line benchmark
    # file: insert and commit 0.08 s instead of 0.21 s with three strings a row, in the ingest's
    # serial tail.
    "readings_hourly_data": """
        CREATE TABLE IF NOT EXISTS readings_hourly_data (
            series_id INTEGER NOT NULL,
            hour TIMESTAMP NOT NULL,
            n BIGINT NOT NULL,
            total DOUBLE,
            minimum DOUBLE,
            maximum DOUBLE
        )""",
    "readings_hourly": """
        CREATE OR REPLACE VIEW readings_hourly AS
        SELECT s.sensor_id, s.measurement, s.field, h.hour, h.n, h.total, h.minimum, h.maximum
        FROM readings_hourly_data h JOIN sensor_series s ON s.series_id = h.series_id""",
    "latest": """
        CREATE TABLE IF NOT EXISTS latest (
            sensor_id VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            time TIMESTAMP_NS NOT NULL,
            value DOUBLE,
            PRIMARY KEY (sensor_id, field)
        )""",
    # What is stored of each (sensor_id, field): ingest looks for duplicates only where a new
    # row's time falls in this span. first_time is a lower bound (the hour of the first reading).
    "reading_spans": """
        CREATE TABLE IF NOT EXISTS reading_spans (
            sensor_id VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            first_time TIMESTAMP_NS NOT NULL,
            last_time TIMESTAMP_NS NOT NULL,
            PRIMARY KEY (sensor_id, field)
        )""",
    "quarantine": """
        CREATE TABLE IF NOT EXISTS quarantine (
            ingest_id INTEGER NOT NULL,
            source VARCHAR NOT NULL,
            line BIGINT,
            reason VARCHAR NOT NULL,
            text VARCHAR
        )""",
    "ingest_log": """
        CREATE TABLE IF NOT EXISTS ingest_log (
            ingest_id INTEGER PRIMARY KEY,
            source VARCHAR NOT NULL,
            sha256 VARCHAR NOT NULL,
            format VARCHAR NOT NULL,
            started TIMESTAMP_NS NOT NULL,
            finished TIMESTAMP_NS NOT NULL,
            readings BIGINT NOT NULL,
            text_readings BIGINT NOT NULL,
            reports BIGINT NOT NULL,
            duplicates BIGINT NOT NULL,
            rejected BIGINT NOT NULL,
            bytes BIGINT  -- the source file's size; null: not a file; -1: a source logged before version 4
        )""",
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)""",
    # One row per attempt to refresh from a live system (observatory.warehouse.refresh): the
    # dashboards say from it when a source could not be read. succeeded_at is null on failure.
    "source_status": """
        CREATE TABLE IF NOT EXISTS source_status (
            source VARCHAR NOT NULL,
            attempted_at TIMESTAMP_NS NOT NULL,
            succeeded_at TIMESTAMP_NS,
            ok BOOLEAN NOT NULL,
            rows BIGINT NOT NULL,
            error VARCHAR,
            PRIMARY KEY (source, attempted_at)
        )""",
}

# Run at the end of an ingest with ``_hourly_new``, ``_hourly_met``, ``_latest`` and ``_spans``
# registered: the aggregates of the rows that source added (computed as they were stored), merged
# into the rollups so that each new row enters them once and they stay exact. ``_hourly_new``:
# hours no stored reading of their (sensor_id, field) can fall in (new data): appended;
# ``_hourly_met``: hours that may hold stored readings: added into the stored row if there is
# one (HOURLY_MET, with the hours' bounds bound twice, which confine the scan), else appended.
HOURLY_NEW = """INSERT INTO readings_hourly_data
    SELECT series_id, hour, n, total, minimum, maximum FROM _hourly_new"""
HOURLY_MET = (
    """UPDATE readings_hourly_data AS h SET
           n = h.n + x.n,
           total = CASE WHEN h.total IS NULL AND x.total IS NULL THEN NULL
                        ELSE coalesce(h.total, 0) + coalesce(x.total, 0) END,
           minimum = least(h.minimum, x.minimum),
           maximum = greatest(h.maximum, x.maximum)
       FROM _hourly_met x
       WHERE h.hour BETWEEN ? AND ? AND h.series_id = x.series_id AND h.hour = x.hour""",
    """INSERT INTO readings_hourly_data
       SELECT x.series_id, x.hour, x.n, x.total, x.minimum, x.maximum
       FROM _hourly_met x
       ANTI JOIN (SELECT series_id, hour FROM readings_hourly_data WHERE hour BETWEEN ? AND ?) h
           ON h.series_id = x.series_id AND h.hour = x.hour""",
)
ROLLUP_UPDATES = (
    """INSERT INTO latest
       SELECT sensor_id, field, time, value FROM _latest
       ON CONFLICT (sensor_id, field) DO UPDATE SET
           time = CASE WHEN excluded.time > latest.time THEN excluded.time ELSE latest.time END,
           value = CASE WHEN excluded.time > latest.time THEN excluded.value ELSE latest.value END""",
    """INSERT INTO reading_spans
       SELECT sensor_id, field, first_time, last_time FROM _spans
       ON CONFLICT (sensor_id, field) DO UPDATE SET
           first_time = least(reading_spans.first_time, excluded.first_time),
           last_time = greatest(reading_spans.last_time, excluded.last_time)""",
)

# Up to version 5 the hourly rollup was a table of its own with the three names a row (with a
# primary key up to version 4): such a table is renamed on open (RENAME_HOURLY_WIDE, before
# TABLES) and its rows copied into readings_hourly_data (COPY_HOURLY_WIDE, after the readings'
# own migration), each (sensor_id, field) under its first series (a row whose key has no series
# fails the upgrade, which then changes nothing, rather than being dropped).
HOURLY_IS_TABLE = """SELECT count(*) FROM duckdb_tables()
    WHERE table_name = 'readings_hourly' AND NOT temporary"""
HOURLY_WIDE_5 = """
        CREATE TABLE IF NOT EXISTS readings_hourly (
            sensor_id VARCHAR NOT NULL,
            measurement VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            hour TIMESTAMP NOT NULL,
            n BIGINT NOT NULL,
            total DOUBLE,
            minimum DOUBLE,
            maximum DOUBLE
        )"""
RENAME_HOURLY_WIDE = "ALTER TABLE readings_hourly RENAME TO readings_hourly_wide"
COPY_HOURLY_WIDE = (
    """INSERT INTO readings_hourly_data
       SELECT k.series_id, h.hour, h.n, h.total, h.minimum, h.maximum
       FROM readings_hourly_wide h
       LEFT JOIN (SELECT sensor_id, field, min(series_id) AS series_id FROM sensor_series GROUP BY ALL) k
           USING (sensor_id, field)
       ORDER BY h.sensor_id, h.field, h.hour""",
    "DROP TABLE readings_hourly_wide",
)

# Columns added to a table after its first version (made before: added on open).
ADD_COLUMNS = ("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS bytes BIGINT DEFAULT -1",)

# reading_spans of a warehouse made before it existed, from the rollups that every stored
# reading enters (first hour, last time).
FILL_SPANS = """
    INSERT INTO reading_spans
    SELECT h.sensor_id, h.field, min(h.hour)::TIMESTAMP_NS, any_value(l.time)
    FROM readings_hourly h JOIN latest l USING (sensor_id, field) GROUP BY ALL"""

# Schema version 1 kept readings as a wide table: on open it is renamed, the tables above are
# created, and its rows move into the narrow layout (MIGRATE_1_TO_2 runs after TABLES).
RENAME_1 = "ALTER TABLE readings RENAME TO readings_v1"
MIGRATE_1_TO_2 = (
    """INSERT INTO sensor_series
       SELECT (row_number() OVER (ORDER BY sensor_id, measurement, field) - 1)::INTEGER,
              sensor_id, measurement, field
       FROM (SELECT DISTINCT sensor_id, measurement, field FROM readings_v1)""",
    """INSERT INTO readings_data
       SELECT r.time, s.series_id, r.value, r.ingest_id
       FROM readings_v1 r JOIN sensor_series s USING (sensor_id, measurement, field)
       ORDER BY s.series_id, r.time""",
    "DROP TABLE readings_v1",
)

# Keys that make a row unique: ingest never stores a key twice (idempotent ingest).
READING_KEY = ("sensor_id", "field", "time")


def readings_all_view(files: Sequence[str], temp: bool = False) -> str:
    """The statement making the view ``readings_all``: the rows of readings_data and of the
    Parquet parts ``files`` (absolute paths the ingest made, never a user's text). ``temp``: a
    view of this connection alone, over the persistent one (a warehouse opened read-only from
    a folder other than the one its parts were listed in)."""
    select = "SELECT time, series_id, value, ingest_id FROM readings_data"
    if files:
        listed = ", ".join("'" + name.replace("'", "''") + "'" for name in files)
        select += f" UNION ALL SELECT time, series_id, value, ingest_id FROM read_parquet([{listed}])"
    return f"CREATE OR REPLACE {'TEMP ' if temp else ''}VIEW readings_all AS {select}"
