"""The KPI presets computed ahead: equal to the engine's own answer for every preset, read by the
dashboard even while an ingest holds the warehouse, renewed when new data arrive (old versions
pruned), dropped when the warehouse changes during their computation, recomputed when damaged."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from observatory.errors import ServiceError
from observatory.kpi.engine import KpiEngine
from observatory.kpi.presets import (
    ResultStore,
    cards_key,
    compute_key,
    data_span,
    precompute,
    preset_keys,
    preset_range,
    warehouse_version,
)
from observatory.views.kpi import KpiData
from observatory.warehouse.store import WAREHOUSE_FILE, Warehouse


@pytest.fixture
def site(tmp_path: Path, site_dir: Path) -> Path:
    """A copy of the served site's data directory (a simulated week and two days), warehouse only."""
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy2(site_dir / WAREHOUSE_FILE, folder / WAREHOUSE_FILE)
    return folder


def _keys(warehouse_file: Path) -> list[tuple[str, ...]]:
    with Warehouse.open(warehouse_file, read_only=True) as warehouse:
        return preset_keys(data_span(warehouse))


def _cli(*args: str, data: Path) -> str:
    env = {**os.environ, "OBSERVATORY_DATA_DIR": str(data)}
    command = [sys.executable, "-m", "observatory.cli", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout


def test_every_preset_is_computed_and_equals_the_engine(site):
    warehouse_file = site / WAREHOUSE_FILE
    version, written = precompute(warehouse_file)
    keys = _keys(warehouse_file)
    # nine days of data: the 7-day preset, and the others all cover the nine days (one range);
    # each with its cards, and its days (the sparklines and the table per day: one frame)
    assert written == len(keys) == 4 and [k[0] for k in keys] == ["cards", "grain"] * 2
    assert version == warehouse_version(warehouse_file)  # reading the warehouse did not change it
    store = ResultStore(warehouse_file)
    with Warehouse.open(warehouse_file, read_only=True) as warehouse:
        for key in keys:
            frame, provenance = store.get(version, key)
            expected = compute_key(KpiEngine(warehouse), key)
            assert_frame_equal(frame, expected)
            assert len(frame) > 100 and set(provenance) == set(frame["kpi_id"]) | set(provenance)
            assert "FROM" in provenance["elec_use_per_capita"].query
    assert precompute(warehouse_file) == (version, 0)  # already there: nothing computed again


def test_the_dashboard_shows_the_presets_while_an_ingest_holds_the_warehouse(site):
    warehouse_file = site / WAREHOUSE_FILE
    precompute(warehouse_file)
    span = KpiData(warehouse_file).span()
    start, end = preset_range("7d", span)
    holder = subprocess.Popen(  # another process holds the file for writing, as an ingest does
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, duckdb
                con = duckdb.connect({str(warehouse_file)!r})
                print("holding", flush=True)
                sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        data = KpiData(warehouse_file)
        cards = data.cards(start, end)
        # the last 7 days and the 7 before (2 days of data), for the 34 communes and the island
        assert cards.filter(pl.col("kpi_id") == "elec_use_per_capita").height == 2 * 35
        assert data.trend(start, end).height > cards.height
        assert data.provenance["elec_use_per_capita"].data_end is not None
        with pytest.raises(ServiceError):  # a range nobody computed needs the warehouse itself
            data.cards(span.start.isoformat(), start)
    finally:
        holder.communicate("", timeout=30)


def test_new_data_bring_new_presets_and_old_versions_go(site, tmp_path):
    warehouse_file = site / WAREHOUSE_FILE
    first, _ = precompute(warehouse_file)
    span = KpiData(warehouse_file).span()
    versions = [first]
    for day in range(2):  # two more days of one feeder, each after the last day of data
        ns = int(span.last_utc.timestamp() + 3600 * (1 + 24 * day)) * 10**9
        lines = tmp_path / f"more-{day}.lp"
        lines.write_text(f"feeder,insee=97209,sensor_id=feeder-97209-01 load_mw=12.5 {ns}\n")
        printed = _cli("ingest", str(lines), data=site)
        assert "readings=1 " in printed and "KPI presets:" in printed
        versions.append(warehouse_version(warehouse_file))
    kept = sorted(p.name for p in (site / "cache" / "kpi").iterdir())
    assert kept == sorted(versions[1:]) and len(set(versions)) == 3  # the first version is pruned
    data = KpiData(warehouse_file)
    assert data.span().end > span.end
    start, end = preset_range("7d", data.span())
    stored, _ = ResultStore(warehouse_file).get(versions[-1], cards_key(start, end))
    assert_frame_equal(data.cards(start, end), stored)


def test_a_warehouse_written_during_the_computation_leaves_no_presets(site):
    warehouse_file = site / WAREHOUSE_FILE
    before = warehouse_version(warehouse_file)
    stamps = os.stat(warehouse_file)

    def written_meanwhile(_key: str) -> None:  # as a writer would, between two frames
        os.utime(warehouse_file, ns=(stamps.st_atime_ns, stamps.st_mtime_ns + 10**9))

    assert precompute(warehouse_file, progress=written_meanwhile) is None
    assert not (site / "cache" / "kpi" / before).exists()


def test_a_damaged_precomputed_file_is_computed_again(site, caplog):
    warehouse_file = site / WAREHOUSE_FILE
    version, _ = precompute(warehouse_file)
    data = KpiData(warehouse_file)
    start, end = preset_range("30d", data.span())
    frame_file = site / "cache" / "kpi" / version / ("_".join(cards_key(start, end)) + ".parquet")
    frame_file.write_bytes(b"PAR1 not a parquet file at all")
    cards = data.cards(start, end)
    with Warehouse.open(warehouse_file, read_only=True) as warehouse:
        assert_frame_equal(cards, compute_key(KpiEngine(warehouse), cards_key(start, end)))
    assert str(frame_file) in caplog.text
