"""The warehouse's tables, in DuckDB SQL. Times are UTC, stored as TIMESTAMP_NS without zone."""

from __future__ import annotations

SCHEMA_VERSION = 1

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
    "readings": """
        CREATE TABLE IF NOT EXISTS readings (
            time TIMESTAMP_NS NOT NULL,
            sensor_id VARCHAR NOT NULL,
            measurement VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            value DOUBLE,
            ingest_id INTEGER NOT NULL
        )""",
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
    "readings_hourly": """
        CREATE TABLE IF NOT EXISTS readings_hourly (
            sensor_id VARCHAR NOT NULL,
            measurement VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            hour TIMESTAMP NOT NULL,
            n BIGINT NOT NULL,
            total DOUBLE,
            minimum DOUBLE,
            maximum DOUBLE,
            PRIMARY KEY (sensor_id, field, hour)
        )""",
    "latest": """
        CREATE TABLE IF NOT EXISTS latest (
            sensor_id VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            time TIMESTAMP_NS NOT NULL,
            value DOUBLE,
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
            rejected BIGINT NOT NULL
        )""",
    "meta": """
        CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)""",
}

# Run at ingest over the temporary table ``_new`` (the rows of one source not stored before):
# each new row enters the hourly aggregate once, so the rollups stay exact.
ROLLUP_UPDATES = (
    """INSERT INTO readings_hourly
       SELECT sensor_id, any_value(measurement), field, date_trunc('hour', time)::TIMESTAMP,
              count(value), sum(value), min(value), max(value)
       FROM _new GROUP BY sensor_id, field, date_trunc('hour', time)
       ON CONFLICT (sensor_id, field, hour) DO UPDATE SET
           n = readings_hourly.n + excluded.n,
           total = coalesce(readings_hourly.total, 0) + coalesce(excluded.total, 0),
           minimum = least(readings_hourly.minimum, excluded.minimum),
           maximum = greatest(readings_hourly.maximum, excluded.maximum)""",
    """INSERT INTO latest
       SELECT sensor_id, field, max(time), arg_max(value, time) FROM _new GROUP BY ALL
       ON CONFLICT (sensor_id, field) DO UPDATE SET
           time = CASE WHEN excluded.time > latest.time THEN excluded.time ELSE latest.time END,
           value = CASE WHEN excluded.time > latest.time THEN excluded.value ELSE latest.value END""",
)

# Keys that make a row unique: ingest never stores a key twice (idempotent ingest).
READING_KEY = ("sensor_id", "field", "time")
