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

# Keys that make a row unique: ingest never stores a key twice (idempotent ingest).
READING_KEY = ("sensor_id", "field", "time")
