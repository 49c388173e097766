"""Formats are recognised by content, compressed or not, whatever the file is called."""

from __future__ import annotations

import gzip

import pytest

from observatory.errors import DataFormatError, ParameterError
from observatory.warehouse.formats import by_name, detect

SAMPLES = {
    "line-protocol": b"# telegraf\nweather,sensor_id=mq-wx-01,commune=97209 temperature=27.3,humidity=78i 1700000000000000000\n",
    "flux-csv": b"#datatype,string,long,dateTime:RFC3339,double,string,string,string\r\n"
    b"#group,false,false,false,false,true,true,true\r\n#default,_result,,,,,,\r\n"
    b",result,table,_time,_value,_field,_measurement,sensor_id\r\n",
    "quantumleap": b'{"entity_id": "urn:ngsi-ld:AirQualityObserved:fdf", "entity_type": "AirQualityObserved", "time_index": 1700000000000, "no2": 21.5}\n',
    "ngsi-ld": b'[{"id": "urn:ngsi-ld:AirQualityObserved:fdf", "type": "AirQualityObserved", "no2": {"type": "Property", "value": 21.5}}]',
    "odk-csv": b"SubmissionDate,report-category,report-location,KEY\r\n2026-11-20T10:00:00.000Z,voirie,14.6 -61.07 12 5,uuid:1\r\n",
}


@pytest.mark.parametrize("name", SAMPLES)
def test_content_decides_not_the_extension(tmp_path, name):
    path = tmp_path / "export.txt"
    path.write_bytes(SAMPLES[name])
    assert detect(path).name == name


@pytest.mark.parametrize("name", ["line-protocol", "flux-csv"])
def test_gzip_is_looked_into(tmp_path, name):
    path = tmp_path / "data.bin"
    path.write_bytes(gzip.compress(SAMPLES[name]))
    assert detect(path).name == name


def test_unknown_content_names_the_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("Rapport de la réunion du 12 novembre\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"notes\.txt:1: unrecognised content"):
        detect(path)


def test_a_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(SAMPLES["line-protocol"] * 1000)[:40])
    with pytest.raises(DataFormatError, match="gzip"):
        detect(path)


def test_unknown_format_name_suggests():
    with pytest.raises(ParameterError, match="Did you mean 'line-protocol'"):
        by_name("line-protocole")


def test_line_protocol_file_ingests_with_bad_lines_quarantined(tmp_path):
    from observatory.warehouse.ingest import ingest_file
    from observatory.warehouse.store import Warehouse

    path = tmp_path / "telegraf.lp.gz"
    good = SAMPLES["line-protocol"].decode()
    path.write_bytes(
        gzip.compress(
            (
                good
                + "weather,sensor_id=mq-wx-01 temperature=hot 1700000060000000000\n"
                + good.replace("1700000000", "1700000120")
            ).encode()
        )
    )
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        report = ingest_file(wh, path)
        assert (report.format, report.readings, report.rejected) == ("line-protocol", 4, 1)
        (bad,) = wh.quarantine().iter_rows(named=True)
        assert bad["source"] == str(path) and bad["line"] == 3 and "hot" in bad["reason"] + bad["text"]
        assert ingest_file(wh, path).skipped
