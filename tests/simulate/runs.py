"""A finished simulation as the tests see it: its folder, summary, readings and events."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from observatory.simulate.engine import Options, Summary, simulate
from observatory.sources.line_protocol import read_line_protocol


@dataclass
class Run:
    """A finished simulation: its folder, what simulate() returned, and its readings read back."""

    folder: Path
    summary: Summary
    options: Options

    @property
    def readings(self) -> pl.DataFrame:
        """Every reading of the line-protocol files, read by the observatory's own reader."""
        if not hasattr(self, "_readings"):
            frames = [
                batch.readings
                for path in sorted((self.folder / "field" / "lp").glob("*.lp"))
                for batch in read_line_protocol(path)
            ]
            self._readings = pl.concat(frames)
        return self._readings

    def series(self, sensor_id: str, field: str) -> pl.DataFrame:
        """time, value of one sensor's field, in time order."""
        return (
            self.readings.filter((pl.col("sensor_id") == sensor_id) & (pl.col("field") == field))
            .select("time", "value")
            .sort("time")
        )

    def events(self) -> dict[str, dict]:
        """truth/events.csv by scenario, with the parameters decoded."""
        with open(self.folder / "truth" / "events.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return {r["scenario"]: r | {"parameters": json.loads(r["parameters"])} for r in rows}


def run(folder: Path, **options) -> Run:
    parsed = Options.parse(out=folder, **options)
    return Run(folder, simulate(parsed), parsed)
