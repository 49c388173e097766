"""`observatory ingest` of a folder holding every field format: each recognised and stored."""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from observatory.errors import DataFormatError
from observatory.sources.line_protocol import read_file
from observatory.warehouse import ingest
from observatory.warehouse.ingest import ingest_file, ingest_paths
from observatory.warehouse.schema import SCHEMA_VERSION
from observatory.warehouse.store import Warehouse


@pytest.fixture
def field_exports(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "telegraf-2026-11-21.lp.gz").write_bytes(
        gzip.compress(
            b"weather,sensor_id=mq-wx-fdf,commune=97209 temperature=27.4,humidity=81i 1763712000000000000\n"
            b"weather,sensor_id=mq-wx-fdf,commune=97209 temperature=oops 1763712060000000000\n"
            b"weather,sensor_id=mq-wx-fdf,commune=97209 temperature=27.6,humidity=80i 1763712120000000000\n"
        )
    )
    (folder / "influx2-query.csv").write_bytes(
        b"#datatype,string,long,dateTime:RFC3339,double,string,string,string\r\n"
        b"#group,false,false,false,false,true,true,true\r\n#default,_result,,,,,,\r\n"
        b",result,table,_time,_value,_field,_measurement,sensor_id\r\n"
        b",,0,2026-11-21T08:00:00Z,18.5,pm10,air,mq-air-lamentin\r\n"
        b",,0,2026-11-21T09:00:00Z,22.0,pm10,air,mq-air-lamentin\r\n\r\n"
    )
    (folder / "mtopenmartinique.etwaterobserved.json").write_text(
        json.dumps(
            {
                "entity_id": "urn:ngsi-ld:WaterObserved:riviere-lezarde",
                "entity_type": "WaterObserved",
                "time_index": 1763712000000,
                "fiware_servicepath": "/hydro",
                "height": 1.42,
            }
        )
        + "\n"
    )
    (folder / "orion-ld-entities.json").write_text(
        json.dumps(
            [
                {
                    "id": "urn:ngsi-ld:AirQualityObserved:schoelcher",
                    "type": "AirQualityObserved",
                    "no2": {"type": "Property", "value": 14.0, "observedAt": "2026-11-21T10:00:00Z"},
                }
            ]
        )
    )
    (folder / "signalements.csv").write_bytes(
        "SubmissionDate,categorie,lieu,commentaire,KEY,SubmitterName,ReviewState\r\n"
        '2026-11-21T08:00:00.000Z,inondation,14.7430 -61.1760 5 3,"Ravine débordée",uuid:b1,Jean-Marc,\r\n'.encode()
    )
    return folder


def test_a_folder_of_every_format_is_ingested_once(field_exports, tmp_path):
    env = dict(os.environ, OBSERVATORY_DATA_DIR=str(tmp_path / "data"))
    command = [
        sys.executable,
        "-m",
        "observatory.cli",
        "ingest",
        str(field_exports),
        "--option",
        "category_field=categorie",
        "--option",
        "geopoint_field=lieu",
        "--option",
        "text_fields=commentaire",
    ]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "files=5" in first.stdout and "rejected=1" in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert "skipped=5" in again.stdout
    with Warehouse.open(tmp_path / "data" / "warehouse.duckdb", read_only=True) as wh:
        formats = wh.sql("SELECT format, readings, reports, rejected FROM ingest_log ORDER BY format").rows()
        assert formats == [
            ("flux-csv", 2, 0, 0),
            ("line-protocol", 4, 0, 1),
            ("ngsi-ld", 1, 0, 0),
            ("odk-csv", 0, 1, 0),
            ("quantumleap", 1, 0, 0),
        ]
        (report,) = wh.sql("SELECT insee, category, text FROM reports").rows()
        assert report == ("97225", "inondation", "Ravine débordée")  # Saint-Pierre


def test_an_option_the_reader_does_not_take_is_named(field_exports, tmp_path):
    env = dict(os.environ, OBSERVATORY_DATA_DIR=str(tmp_path / "data"))
    lp = next(field_exports.glob("*.lp.gz"))
    result = subprocess.run(
        [sys.executable, "-m", "observatory.cli", "ingest", str(lp), "--option", "colour=blue"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2 and "--option" in result.stderr and "colour" in result.stderr


LINES = b"".join(
    b"weather,sensor_id=mq-wx-fdf temperature=%d.5 %d\n" % (20 + i % 9, 1763712000000000000 + i * 60 * 10**9)
    for i in range(500)
)


def test_new_bytes_are_hashed_while_read_and_the_same_bytes_are_skipped(tmp_path, monkeypatch):
    first, renamed, longer = tmp_path / "a.lp", tmp_path / "copy-of-a.lp", tmp_path / "b.lp"
    first.write_bytes(LINES)
    renamed.write_bytes(LINES)
    longer.write_bytes(LINES + b"weather,sensor_id=mq-wx-fdf temperature=30 1763800000000000000\n")
    hashed, sha256_of = [], ingest.sha256_of

    def recorded(path):
        hashed.append((threading.current_thread().name.split("_")[0], path.name))
        return sha256_of(path)

    monkeypatch.setattr(ingest, "sha256_of", recorded)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        report = ingest_file(wh, first)  # no file of its size logged: hashed while it is read
        assert report.readings == 500 and report.sha256 == hashlib.sha256(LINES).hexdigest()
        logged = wh.sql("SELECT source, sha256, bytes FROM ingest_log").rows()
        assert logged == [(str(first), hashlib.sha256(LINES).hexdigest(), len(LINES))]
        again = ingest_file(wh, renamed)  # a logged file has its size: hashed first, and skipped
        assert again.skipped and again.sha256 == report.sha256
        assert ingest_file(wh, longer).readings == 1  # a new size: new bytes
        assert wh.counts()["readings"] == 501
    assert hashed == [("ingest-sha256", "a.lp"), ("MainThread", "copy-of-a.lp"), ("ingest-sha256", "b.lp")]


def test_bytes_found_logged_once_hashed_leave_nothing(tmp_path):
    # Hashed while stored, the source turns out to be logged already (a log without sizes, say):
    # the transaction is rolled back and the report says skipped.
    path = tmp_path / "a.lp"
    path.write_bytes(LINES)
    digest = hashlib.sha256(LINES).hexdigest()
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        wh.ingest("earlier", digest, "line-protocol", list(read_file(path))[:0])
        before = wh.counts()
        known = concurrent.futures.Future()
        known.set_result(digest)
        report = wh.ingest(str(path), known, "line-protocol", read_file(path), size=len(LINES))
        assert report.skipped and report.sha256 == digest
        assert wh.counts() == before


def test_a_version_3_log_gets_sizes_and_its_files_are_still_recognised(tmp_path):
    path = tmp_path / "a.lp"
    path.write_bytes(LINES)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        ingest_file(wh, path)
        wh.con.execute("ALTER TABLE ingest_log DROP COLUMN bytes")  # as version 3 wrote it
        wh.con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        assert wh.sql("SELECT bytes FROM ingest_log")["bytes"].to_list() == [-1]  # size unknown
        assert wh.may_hold(len(LINES) + 1)  # so any file may be one already logged: hashed first
        assert ingest_file(wh, path).skipped
        version = wh.sql("SELECT value FROM meta WHERE key = 'schema_version'")["value"].to_list()
        assert version == [str(SCHEMA_VERSION)]


def _day(day: int, lines: int = 0) -> bytes:
    start = 1763712000000000000 + day * 86_400 * 10**9
    return b"".join(
        b"weather,sensor_id=mq-wx-fdf temperature=%d.5 %d\n" % (20 + i % 9 + day, start + i * 60 * 10**9)
        for i in range(lines or 300 + day)  # a size of its own: each is read ahead
    )


def test_the_next_file_is_read_while_one_is_stored_and_its_error_waits_its_turn(tmp_path, monkeypatch):
    folder = tmp_path / "days"
    folder.mkdir()
    (folder / "1.lp").write_bytes(_day(1))
    packed = gzip.compress(_day(2, lines=30_000))
    (folder / "2.lp.gz").write_bytes(packed[: len(packed) // 2])  # truncated while copied: read, then fails
    (folder / "3.lp").write_bytes(_day(3))
    events, store_ingest, read_ahead = [], Warehouse.ingest, ingest._Source.read_ahead

    def ingest_recorded(self, source, *args, **kwargs):
        events.append(f"store {Path(source).name}")
        return store_ingest(self, source, *args, **kwargs)

    def read_ahead_recorded(self):
        events.append(f"read {self.path.name}")
        read_ahead(self)

    monkeypatch.setattr(Warehouse, "ingest", ingest_recorded)
    monkeypatch.setattr(ingest._Source, "read_ahead", read_ahead_recorded)
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        reports = ingest_paths(wh, [folder])
        assert next(reports).readings == 301  # day 1 stored while day 2 was being read
        with pytest.raises(DataFormatError) as raised:  # day 2's error, at day 2's turn
            next(reports)
        assert "2.lp.gz" in str(raised.value)
        assert events == ["read 2.lp.gz", "store 1.lp", "read 3.lp", "store 2.lp.gz"]
        assert wh.counts()["readings"] == 301 and not wh.already_ingested(hashlib.sha256(_day(2)).hexdigest())
    deadline = time.monotonic() + 5
    while any(t.name == "ingest-reader" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "ingest-reader" for t in threading.enumerate())  # day 3's reader stopped


def test_leaving_a_folder_early_stops_the_file_read_ahead(tmp_path):
    folder = tmp_path / "days"
    folder.mkdir()
    for day in (1, 2):
        (folder / f"{day}.lp").write_bytes(_day(day))
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        reports = ingest_paths(wh, [folder])
        assert next(reports).readings == 301
        reports.close()  # a caller that stops after the first file
        assert not any(t.name == "ingest-reader" for t in threading.enumerate())
        assert wh.counts()["readings"] == 301
        assert [r.readings for r in ingest_paths(wh, [folder])] == [0, 302]  # day 1 skipped


def test_a_folder_is_checkpointed_once_at_its_end_and_the_setting_restored(tmp_path):
    folder = tmp_path / "days"
    folder.mkdir()
    for day in (1, 2, 3):
        (folder / f"{day}.lp").write_bytes(_day(day))
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        before = wh.sql("SELECT current_setting('checkpoint_threshold') AS t")["t"].to_list()
        reports = ingest_paths(wh, [folder])
        next(reports)
        during = wh.sql("SELECT current_setting('checkpoint_threshold') AS t")["t"].to_list()
        assert [r.readings for r in reports] == [302, 303]
        assert during == ["953.6 MiB"] and before == ["16.0 MiB"]
        assert wh.sql("SELECT current_setting('checkpoint_threshold') AS t")["t"].to_list() == before
        wal = tmp_path / "w.duckdb.wal"
        assert not wal.exists() or wal.stat().st_size == 0  # all of it checkpointed into the file
    with Warehouse.open(tmp_path / "w.duckdb", read_only=True) as wh:
        assert wh.counts()["readings"] == 301 + 302 + 303
