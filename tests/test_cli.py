"""The observatory command as a user runs it: fetch, ingest twice, query, serve."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from observatory.cli import main, serve_command, served_environment


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "observatory.cli", *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=300,
    )


def flux_export(rows: list[tuple[str, str, str, float]]) -> str:
    """A Flux annotated CSV export (as `influx query --raw` writes) of (time, sensor, field, value)."""
    head = (
        "#datatype,string,long,dateTime:RFC3339,double,string,string,string\r\n"
        "#group,false,false,false,false,true,true,true\r\n"
        "#default,_result,,,,,,\r\n"
        ",result,table,_time,_value,_field,_measurement,sensor_id\r\n"
    )
    body = "".join(f",,0,{t},{v},{f},air,{s}\r\n" for t, s, f, v in rows)
    return head + body + "\r\n"


@pytest.fixture
def env(tmp_path):
    environ = dict(os.environ)
    environ["OBSERVATORY_DATA_DIR"] = str(tmp_path / "data")
    return environ


def test_fetch_reports_every_reference_file(env):
    result = run("fetch", env=env)
    assert result.returncode == 0, result.stderr
    assert "hurdat2-1851-2025-02272026.txt" in result.stdout and "communes" in result.stdout


def test_ingest_twice_then_query(tmp_path, env):
    export = tmp_path / "pm10.csv"
    export.write_text(
        flux_export([(f"2026-11-2{d}T12:00:00Z", "mq-air-fdf", "pm10", 20.0 + d) for d in range(5)]),
        newline="",
    )
    first = run("ingest", str(tmp_path), env=env)
    assert first.returncode == 0, first.stderr
    assert "readings=5 " in first.stdout
    second = run("ingest", str(export), env=env)
    assert "readings=0 " in second.stdout and "skipped=1" in second.stdout
    query = run(
        "sql", "SELECT sensor_id, avg(value) AS mean FROM readings GROUP BY 1", "--format", "json", env=env
    )
    assert json.loads(query.stdout) == [{"sensor_id": "mq-air-fdf", "mean": 22.0}]


def test_an_ingest_called_in_a_process_that_goes_on_leaves_its_garbage_collector_alone(tmp_path, monkeypatch):
    export = tmp_path / "x.csv"
    export.write_text(flux_export([("2026-11-20T12:00:00Z", "s", "pm10", 1.0)]), newline="")
    monkeypatch.setenv("OBSERVATORY_DATA_DIR", str(tmp_path / "data"))
    frozen = gc.get_freeze_count()
    assert main(["ingest", str(export), "--quiet"]) == 0  # as a notebook or a test calls it
    assert gc.get_freeze_count() == frozen  # only the program (cli.run) freezes what it imported


def test_sql_cannot_write_and_says_so(tmp_path, env):
    export = tmp_path / "x.csv"
    export.write_text(flux_export([("2026-11-20T12:00:00Z", "s", "pm10", 1.0)]), newline="")
    run("ingest", str(export), env=env)
    result = run("sql", "DELETE FROM readings", env=env)
    assert result.returncode == 2 and "read-only" in result.stderr


def test_ingest_of_a_missing_or_unknown_file_names_it(tmp_path, env):
    missing = run("ingest", str(tmp_path / "nope.lp"), env=env)
    assert missing.returncode == 2 and "nope.lp does not exist" in missing.stderr
    odd = tmp_path / "odd.bin"
    odd.write_bytes(b"\x00\x01\x02 not data")
    unknown = run("ingest", str(odd), env=env)
    assert unknown.returncode == 2 and "odd.bin:1: unrecognised content" in unknown.stderr


def test_serve_uses_local_resources_and_every_app(tmp_path):
    (tmp_path / "a.py").write_text("")
    (tmp_path / "_private.py").write_text("")
    command = serve_command(tmp_path, 5077, "127.0.0.1")
    assert command[1:4] == ["-m", "panel", "serve"] and str(tmp_path / "a.py") in command
    assert str(tmp_path / "_private.py") not in command
    assert served_environment({})["BOKEH_RESOURCES"] == "server"


def test_a_misspelt_setting_stops_the_command(env):
    env["OBSERVATORY_INFLUX_ULR"] = "http://127.0.0.1:1"
    result = run("serve", "--print-command", env=env)
    assert result.returncode == 2 and "OBSERVATORY_INFLUX_URL" in result.stderr
