"""Injected sensor faults: planned day by day, and visible in the data exactly where the truth says."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from observatory.simulate.calendar import Window
from observatory.simulate.engine import Options
from observatory.simulate.faults import FAULT_TYPES, plan_faults
from observatory.simulate.fleet import build_fleet
from tests.simulate.runs import run


@pytest.fixture(scope="module")
def twins(tmp_path_factory, data_settings):
    """The same two days and seed, with many faults and without any."""
    options = {"start": "2026-03-02", "days": 2, "seed": 11}
    faulty = run(tmp_path_factory.mktemp("faulty"), faults_per_month=400, **options)
    clean = run(tmp_path_factory.mktemp("clean"), faults=False, **options)
    return faulty, clean


def test_faults_are_planned_per_day_whatever_the_window(data_settings) -> None:
    fleet = build_fleet(data_settings)
    month = Options.parse(start="2026-01-01", days=31)
    plan = plan_faults(5, fleet, Window(month.start_ns, month.end_ns), per_month=60)
    assert 20 < len(plan) < 120 and {f.fault for f in plan} == set(FAULT_TYPES)
    day = Options.parse(start="2026-01-10", days=1)
    alone = plan_faults(5, fleet, Window(day.start_ns, day.end_ns), per_month=60)
    inside = [f for f in plan if day.start_ns <= f.start_ns < day.end_ns]
    assert [(f.sensor_id, f.field, f.fault, f.start_ns) for f in alone] == [
        (f.sensor_id, f.field, f.fault, f.start_ns) for f in inside
    ]
    assert all(day.start_ns <= f.start_ns < f.end_ns <= day.end_ns for f in alone)
    assert all(f.field == "*" for f in plan if f.fault == "gap")
    assert all(f.field != "energized" for f in plan)


def test_every_fault_is_in_the_data_exactly_where_the_truth_says(twins) -> None:
    faulty, clean = twins
    truth = pl.read_csv(faulty.folder / "truth" / "faults.csv", schema_overrides={"magnitude": pl.Float64})
    assert truth.columns == ["sensor_id", "field", "fault", "start", "end", "magnitude"]
    assert truth.height >= 10 and set(truth["fault"]) == set(FAULT_TYPES)
    key = ["time", "sensor_id", "field"]
    both = faulty.readings.join(clean.readings, on=key, how="full", suffix="_clean", coalesce=True)
    touched = pl.lit(False)
    for fault in truth.iter_rows(named=True):
        start, end = (dt.datetime.fromisoformat(fault[k].replace("Z", "+00:00")) for k in ("start", "end"))
        inside = (pl.col("sensor_id") == fault["sensor_id"]) & pl.col("time").is_between(
            start, end, closed="left"
        )
        if fault["fault"] == "gap":
            rows = both.filter(inside)
            assert rows["value"].null_count() == rows.height > 0  # nothing was written
        else:
            inside = inside & (pl.col("field") == fault["field"])
            rows = both.filter(inside)
            assert rows.height == (end - start) // dt.timedelta(minutes=1)
            if fault["fault"] == "stuck":
                assert (rows["value"] == fault["magnitude"]).all()
                assert rows["value_clean"].n_unique() > 1 or rows.height == 1
            elif fault["fault"] == "spike":
                assert (rows["value"] - rows["value_clean"] - fault["magnitude"]).abs().max() < 0.01
            else:  # drift: linear from 0 to the magnitude at the end
                offset = (rows["value"] - rows["value_clean"]).to_list()
                assert abs(offset[0]) < abs(fault["magnitude"]) * 0.05 + 0.01
                assert abs(offset[-1]) <= abs(fault["magnitude"]) + 0.01
        touched = touched | inside
    untouched = both.filter(~touched)
    assert untouched["value"].null_count() == 0
    assert (untouched["value"] == untouched["value_clean"]).all()


def test_no_faults_means_every_line_is_written(twins) -> None:
    _, clean = twins
    assert clean.summary.faults == [] and clean.summary.lines == 2 * 1440 * clean.summary.sensors
    assert pl.read_csv(clean.folder / "truth" / "faults.csv").height == 0
