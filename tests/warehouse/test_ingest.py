"""`observatory ingest` of a folder holding every field format: each recognised and stored."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

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
