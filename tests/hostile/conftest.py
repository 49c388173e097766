"""What the fuzz tests damage and query: a simulated day of the fleet (line protocol, the ODK export
of citizen reports, sensors.csv), the same readings as InfluxDB 2.x, QuantumLeap and an NGSI-LD
broker export them, and the day ingested into a warehouse."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from tests.hostile import strategies as hs

SIM_START = "2026-06-01T04:00:00Z"  # local midnight in Martinique
PER_MEASUREMENT = 2  # line-protocol lines of each measurement in the valid file, and as many donors


@dataclass(frozen=True)
class Lines:
    """One format's valid file (``head`` then ``valid`` lines) and lines kept aside to be damaged."""

    head: bytes
    valid: list[bytes]
    donors: list[bytes]

    def __repr__(self) -> str:
        return f"Lines({len(self.valid)} valid, {len(self.donors)} donors)"

    def _repr_pretty_(self, printer, cycle) -> None:  # Hypothesis prints fixtures with a failure: short
        printer.text(repr(self))


@dataclass(frozen=True)
class Field:
    line_protocol: Lines
    flux_csv: Lines
    quantumleap: Lines
    ngsi_lines: Lines
    odk_csv: Lines
    sensors_csv: Lines
    ngsi_entities: list[dict]  # valid entities; the donors are the entities after them

    def __repr__(self) -> str:
        return "Field(a simulated day in every field format)"

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _halves(lines: list[bytes], size: int) -> tuple[list[bytes], list[bytes]]:
    return lines[:size], lines[size : 2 * size]


def _lp_lines(data: bytes) -> Lines:
    by_measurement: dict[bytes, list[bytes]] = {}
    for line in data.splitlines():
        by_measurement.setdefault(line.split(b",", 1)[0], []).append(line)
    valid = [line for lines in by_measurement.values() for line in lines[:PER_MEASUREMENT]]
    donors = [line for lines in by_measurement.values() for line in lines[-PER_MEASUREMENT:]]
    return Lines(b"", valid, donors)


@pytest.fixture(scope="session")
def simulated(tmp_path_factory, data_settings) -> Path:
    """A day of the simulated fleet (every scenario, 15-minute steps): the simulator's out folder."""
    from observatory.config import Settings
    from observatory.simulate.engine import Options, simulate

    folder = tmp_path_factory.mktemp("hostile-field")
    config = Settings.from_env({**os.environ, "OBSERVATORY_DATA_DIR": str(folder / "data")})
    options = Options.parse(start=SIM_START, days=1, step="15m", out=folder / "sim", scenarios=["all"])
    simulate(options, config)
    return folder / "sim"


@pytest.fixture(scope="session")
def warehouse_file(simulated, data_settings) -> Path:
    """The simulated day ingested through the real readers, communes loaded, as the demo does it."""
    from observatory.simulate.citizens import INGEST_OPTIONS
    from observatory.warehouse.ingest import ingest_paths
    from observatory.warehouse.store import Warehouse

    path = simulated.parent / "warehouse.duckdb"
    with Warehouse.open(path) as warehouse:
        warehouse.load_communes(data_settings)
        reports = list(ingest_paths(warehouse, [simulated / "field"], **INGEST_OPTIONS))
    assert sum(r.rejected for r in reports) == 0
    return path


@pytest.fixture(scope="session")
def field(simulated) -> Field:
    """The simulated day in every field format, split into valid lines and donors to damage."""
    from observatory.sources.line_protocol import read_file as read_line_protocol
    from observatory.sources.sensors_csv import read_sensors

    out = simulated / "field"
    lp_file = sorted((out / "lp").glob("*.lp"))[0]
    readings = pl.concat(batch.readings for batch in read_line_protocol(lp_file))
    sensors = read_sensors(out / "sensors.csv").sensors

    def split(text: bytes, size: int) -> Lines:
        head, *rows = text.splitlines()
        return Lines(head + b"\n", *_halves(rows, size))

    flux = hs.flux_lines(readings.filter(pl.col("time") == readings["time"].min()), sensors)
    quantumleap = hs.quantumleap_lines(readings, sensors)
    entities = hs.ngsi_entities(readings, sensors)
    ngsi_lines = [json.dumps(e, ensure_ascii=False).encode() for e in entities]
    return Field(
        line_protocol=_lp_lines(lp_file.read_bytes()),
        flux_csv=Lines(hs.FLUX_HEAD, *_halves(flux, 30)),
        quantumleap=Lines(b"", *_halves(quantumleap, 30)),
        ngsi_lines=Lines(b"", *_halves(ngsi_lines, 20)),
        odk_csv=split((out / "odk" / "citizen_reports.csv").read_bytes(), 30),
        sensors_csv=split((out / "sensors.csv").read_bytes(), 40),
        ngsi_entities=entities[:40],
    )
