"""Cyclone zoning on the analysis grid, per commune, as decision-makers get it from the command."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from observatory.errors import ParameterError
from observatory.risk import zoning
from observatory.risk.cyclone import CycloneHazard


@pytest.fixture(scope="module")
def return_periods() -> pl.DataFrame:
    return zoning.commune_return_periods((10, 25, 50, 100))


def test_one_row_per_commune_with_a_column_per_period(return_periods):
    assert return_periods.columns == [
        "insee",
        "name",
        "wind_10yr_ms",
        "wind_25yr_ms",
        "wind_50yr_ms",
        "wind_100yr_ms",
    ]
    assert return_periods["insee"].to_list() == [str(c) for c in range(97201, 97235)]


def test_longer_periods_never_give_weaker_winds(return_periods):
    winds = return_periods.select(pl.selectors.ends_with("yr_ms")).to_numpy()
    assert (winds[:, 1:] >= winds[:, :-1]).all()


def test_fort_de_france_100_year_wind_is_plausible(return_periods):
    # Arrêté du 5 juillet 2024 (art. 4): Martinique's 50-year reference wind 35 m/s (10-min,
    # open country), 39.0 m/s as 1-min (x1.114, WMO/TD-1555). The 100-year 1-min open-land wind
    # should lie within +-25 % of the 100-year figure implied by the same rule (43.5 m/s).
    fdf = return_periods.filter(pl.col("insee") == "97209")
    assert 0.75 * 43.5 <= fdf["wind_100yr_ms"][0] <= 1.25 * 43.5


def test_dean_2007_replay_brings_hurricane_force_winds_in_the_morning_of_17_august():
    dean = zoning.storm_replay("AL042007")
    assert dean.height == 34 and dean["storm_name"].unique().to_list() == ["DEAN"]
    assert (dean["wind_ms"] >= 33).sum() >= 10  # hurricane force (64 kt) over a large part of the island
    peak = dean.sort("wind_ms")[-1]
    assert peak["time_peak_utc"][0].date() == dt.date(2007, 8, 17)
    offsets = dean.select(
        pl.col("time_peak_local").dt.replace_time_zone(None)
        - pl.col("time_peak_utc").dt.replace_time_zone(None)
    )
    assert offsets.to_series().unique().to_list() == [dt.timedelta(hours=-4)]


@pytest.mark.parametrize("text", ["", "10,abc", "0,10", "-5", "nan"])
def test_bad_return_periods_are_named(text):
    with pytest.raises(ParameterError, match="--return-periods"):
        zoning.parse_periods(text)


def test_unknown_storm_suggests_the_closest():
    with pytest.raises(ParameterError, match=r"storm_id.*no storm 'AL04207'.*Did you mean 'AL04\d{4}'"):
        zoning.storm_replay("AL04207")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "observatory.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_cyclone_csv_is_one_row_per_commune():
    result = _cli("risk", "cyclone", "--return-periods", "10,25,50,100", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 34
    assert list(rows[0]) == ["insee", "name", "wind_10yr_ms", "wind_25yr_ms", "wind_50yr_ms", "wind_100yr_ms"]
    assert rows[12]["name"] == "Le Lamentin" and float(rows[12]["wind_100yr_ms"]) > 30


def test_cli_replay_csv_gives_wind_gust_and_time_of_peak():
    result = _cli("risk", "replay", "AL091979", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["storm_name"] for r in rows} == {"DAVID"} and len(rows) == 34
    assert max(float(r["wind_ms"]) for r in rows) >= 33
    assert all(float(r["gust_ms"]) > float(r["wind_ms"]) for r in rows)
    assert all(r["time_peak_utc"].endswith("Z") and r["time_peak_local"].endswith("-04:00") for r in rows)


def test_cli_index_shows_every_component_and_ranks_all_communes():
    result = _cli("risk", "index", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 34 and sorted(int(r["rank"]) for r in rows)[0] == 1
    for column in (
        "cyclone",
        "seismic",
        "volcanic",
        "coastal",
        "hazard",
        "exposure",
        "vulnerability",
        "index",
    ):
        assert column in rows[0]
    assert {r["seismic"] for r in rows} == {"3.0"}  # zone 5 everywhere: a_gr = 3 m/s²


def test_index_weights_change_the_ranking():
    volcanic = zoning.commune_index({"volcanic": 1.0})
    coastal = zoning.commune_index({"coastal": 1.0})
    top_hazard = volcanic.sort("hazard", descending=True)["insee"][0]
    assert top_hazard in {"97225", "97219", "97221", "97203", "97201", "97211"}  # Pelée's flanks
    assert volcanic["insee"].to_list() != coastal["insee"].to_list()
    assert volcanic.filter(pl.col("insee") == "97226")["hazard"][0] == 0  # Sainte-Anne: far from Pelée


def test_unknown_weight_names_the_parameter():
    with pytest.raises(ParameterError, match="Did you mean 'seismic'"):
        zoning.commune_index(zoning.parse_weights("seismc=1"))


def test_the_full_hazard_is_kept_for_the_next_process(data_settings, tmp_path, monkeypatch, caplog):
    """Computed once, read back by the next process (an ingest's KPI presets, the server) from
    the data directory; a damaged file is computed again, with a warning, and replaced."""
    config = dataclasses.replace(data_settings, data_dir=tmp_path)
    computed = []

    def few_cells(config):  # the real model on 40 cells of the grid: the full grid takes seconds
        computed.append(config)
        cells = zoning.grid(config=config).cells.head(40)
        hazard = CycloneHazard.from_tracks(
            zoning.tracks(config), cells["lon"], cells["lat"], point_ids=cells["cell_id"].tolist()
        )
        return hazard, zoning.grid(config=config)

    monkeypatch.setattr(zoning, "cyclone_hazard", few_cells)
    stale = zoning.hazard_file(config).with_name("cyclone-0123456789abcdef0123.npz")
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"a hazard of an earlier release")
    try:
        zoning._full_hazard.cache_clear()
        first = zoning.shared_hazard(config)
        assert len(computed) == 1 and zoning.hazard_file(config).is_file()
        assert not stale.exists()  # files of other inputs are removed

        zoning._full_hazard.cache_clear()  # as in a new process
        again = zoning.shared_hazard(config)
        assert len(computed) == 1
        assert again.storms.equals(first.storms) and np.array_equal(again.wind_ms, first.wind_ms)
        assert again.return_levels([10, 50]).equals(first.return_levels([10, 50]))

        zoning.hazard_file(config).write_bytes(b"PK\x03\x04 cut short")
        zoning._full_hazard.cache_clear()
        with caplog.at_level(logging.WARNING, logger="observatory.risk.zoning"):
            third = zoning.shared_hazard(config)
        assert len(computed) == 2 and np.array_equal(third.wind_ms, first.wind_ms)
        assert str(zoning.hazard_file(config)) in caplog.text
        assert CycloneHazard.load(zoning.hazard_file(config)).storms.equals(first.storms)
    finally:
        zoning._full_hazard.cache_clear()


def test_the_hazard_file_changes_with_what_the_hazard_is_computed_from(data_settings, monkeypatch):
    def named() -> Path:
        zoning.hazard_key.cache_clear()  # computed once per process: here, once per change
        return zoning.hazard_file(data_settings)

    kept = named()
    try:
        assert kept.parent == data_settings.data_dir / "cache" / "hazard"
        assert named() == kept  # the same inputs, the same file
        monkeypatch.setattr(zoning, "DEFAULT_RADIUS_KM", 250.0)
        assert named() != kept
        monkeypatch.undo()
        hurdat2 = zoning.upstream("hurdat2")
        monkeypatch.setattr(
            zoning,
            "upstream",
            lambda name: dataclasses.replace(hurdat2, sha256="0" * 64) if name == "hurdat2" else hurdat2,
        )
        assert named() != kept
        monkeypatch.undo()
        assert named() == kept
    finally:
        zoning.hazard_key.cache_clear()
