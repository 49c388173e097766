"""Sensor faults the simulator injects (gaps, stuck values, spikes, drift) and their ground truth.

Faults are planned day by day from their own seeded stream, so a day's faults do not depend on
the window around it; each is recorded in truth/faults.csv with its exact start and end (end
exclusive, on whole minutes) so that data-quality checks can be scored against it.

- gap: the sensor sends nothing (no line at all: ``field`` is ``*``);
- stuck: one field repeats the value it had at the start (within one UTC day); ``magnitude`` is
  that value as written;
- spike: one field jumps by ``magnitude`` (field units) for 1–3 minutes;
- drift: one field slides linearly away from the truth, by ``magnitude`` at the end (2–5 days).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from observatory.simulate.calendar import DAY_NS, MINUTE_NS, MINUTES_PER_DAY, DayClock, Window, iso_utc
from observatory.simulate.fleet import Fleet
from observatory.simulate.weather import STREAM_FAULTS, stream

FAULT_TYPES = ("gap", "stuck", "spike", "drift")
FAULT_WEIGHTS = (0.35, 0.25, 0.25, 0.15)
FAULTS_PER_MONTH = 6.0  # over the whole fleet: "a handful a month" (assumption, per 30 days)
GAP_MINUTES = (5, 360)  # drawn log-uniformly
STUCK_MINUTES = (30, 720)
SPIKE_MINUTES = (1, 3)
DRIFT_DAYS = (2.0, 5.0)
DRIFT_SHARE = (0.1, 0.3)  # final offset over the field's mean absolute value on the first day
SPIKE_SIGMAS = (6.0, 12.0)  # jump over the field's standard deviation on the day
FAULTS_COLUMNS = ("sensor_id", "field", "fault", "start", "end", "magnitude")


@dataclass
class Fault:
    """One injected fault; ``magnitude`` is filled when the fault's first day is generated."""

    sensor_index: int
    sensor_id: str
    kind: str
    field: str  # "*" for a gap (the whole line)
    fault: str
    start_ns: int
    end_ns: int
    draw: float  # the uniform draw that sets the magnitude once the data is known
    magnitude: float | None = None

    def needs_magnitude_beyond_its_day(self) -> bool:
        """A fault other than a gap that lasts past the UTC day it starts on (a drift)."""
        return self.fault != "gap" and self.end_ns > (self.start_ns // DAY_NS + 1) * DAY_NS

    def row(self) -> dict[str, object]:
        return {
            "sensor_id": self.sensor_id,
            "field": self.field,
            "fault": self.fault,
            "start": iso_utc(self.start_ns),
            "end": iso_utc(self.end_ns),
            "magnitude": self.magnitude,
        }


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def plan_faults(seed: int, fleet: Fleet, window: Window, per_month: float = FAULTS_PER_MONTH) -> list[Fault]:
    """The faults of the window, day by day from the stream (seed, faults, day), in start order."""
    faults = []
    for day in window.days:
        rng = stream(seed, STREAM_FAULTS, day)
        for _ in range(int(rng.poisson(per_month / 30.0))):
            sensor = fleet.sensors[int(rng.integers(len(fleet)))]
            fault = FAULT_TYPES[int(rng.choice(len(FAULT_TYPES), p=FAULT_WEIGHTS))]
            fields = [f for f in sensor.kind.fields if f.faults and not (fault == "drift" and f.accumulates)]
            field = fields[int(rng.integers(len(fields)))].name if fields else None
            start = day * DAY_NS + int(rng.integers(MINUTES_PER_DAY)) * MINUTE_NS
            if fault == "gap":
                length = int(_log_uniform(rng, GAP_MINUTES)) * MINUTE_NS
            elif fault == "stuck":  # kept within its day: the stuck value is that of its first minute
                length = min(int(_log_uniform(rng, STUCK_MINUTES)) * MINUTE_NS, (day + 1) * DAY_NS - start)
            elif fault == "spike":
                length = int(rng.integers(SPIKE_MINUTES[0], SPIKE_MINUTES[1] + 1)) * MINUTE_NS
                length = min(length, (day + 1) * DAY_NS - start)
            else:
                length = int(rng.uniform(*DRIFT_DAYS) * 1440) * MINUTE_NS
            draw = float(rng.random())
            if field is None and fault != "gap":
                continue
            start, end = max(start, window.start_ns), min(start + length, window.end_ns)
            if end <= start:
                continue
            faults.append(
                Fault(
                    sensor.index,
                    sensor.sensor_id,
                    sensor.kind.name,
                    "*" if fault == "gap" else field,
                    fault,
                    start,
                    end,
                    draw,
                )
            )
    return sorted(faults, key=lambda f: (f.start_ns, f.sensor_index))


def starts_on(fault: Fault, clock: DayClock) -> bool:
    """Whether ``fault`` begins within ``clock``'s UTC day."""
    return clock.start_ns <= fault.start_ns < clock.start_ns + DAY_NS


def fill_magnitudes(
    faults: list[Fault],
    clock: DayClock,
    values: dict[str, dict[str, np.ndarray]],
    columns: dict[int, int],
    decimals: dict[tuple[str, str], int],
) -> None:
    """Set the magnitude of the faults starting on ``clock``'s day from that day's values as
    simulated (before any fault), rounded as the field is written."""
    for fault in faults:
        if fault.fault == "gap" or fault.magnitude is not None or not starts_on(fault, clock):
            continue
        series = values[fault.kind][fault.field][:, columns[fault.sensor_index]]
        first = (fault.start_ns - clock.start_ns) // MINUTE_NS
        fault.magnitude = _magnitude(fault, series, first, decimals[(fault.kind, fault.field)])


def apply_faults(
    faults: list[Fault],
    clock: DayClock,
    values: dict[str, dict[str, np.ndarray]],
    columns: dict[int, int],
    present: np.ndarray,
) -> None:
    """Inject the faults that touch ``clock``'s day into ``values`` (kind -> field -> (1440, n))
    and ``present`` ((1440, fleet) bool, False = no line), in place.

    ``columns`` maps a fleet index to its column within its kind. Every fault but a gap must
    have its magnitude (fill_magnitudes on its first day).
    """
    day_start, day_end = clock.start_ns, clock.start_ns + DAY_NS
    for fault in faults:
        if fault.end_ns <= day_start or fault.start_ns >= day_end:
            continue
        a = max(0, (fault.start_ns - day_start) // MINUTE_NS)
        b = min(MINUTES_PER_DAY, (fault.end_ns - day_start) // MINUTE_NS)
        if fault.fault == "gap":
            present[a:b, fault.sensor_index] = False
            continue
        if fault.magnitude is None:
            raise ValueError(f"fault {fault.sensor_id}/{fault.field} has no magnitude yet")
        series = values[fault.kind][fault.field][:, columns[fault.sensor_index]]
        if fault.fault == "stuck":
            series[a:b] = fault.magnitude
        elif fault.fault == "spike":
            series[a:b] += fault.magnitude
        else:
            minutes = (clock.t_ns[a:b] - fault.start_ns) / MINUTE_NS
            series[a:b] += fault.magnitude * minutes / ((fault.end_ns - fault.start_ns) / MINUTE_NS)


def _magnitude(fault: Fault, series: np.ndarray, first: int, places: int) -> float:
    """The fault's size from the field's values on its first day, rounded as the field is written."""
    if fault.fault == "stuck":
        return float(np.round(series[first], places))
    if fault.fault == "spike":
        scale = float(np.std(series)) or max(float(np.mean(np.abs(series))), 1.0)
        jump = (SPIKE_SIGMAS[0] + (SPIKE_SIGMAS[1] - SPIKE_SIGMAS[0]) * fault.draw) * max(
            scale, 10.0**-places
        )
        return float(np.round(jump, places))
    level = max(float(np.mean(np.abs(series))), 10.0**-places)
    share = DRIFT_SHARE[0] + (DRIFT_SHARE[1] - DRIFT_SHARE[0]) * fault.draw
    sign = 1.0 if (fault.sensor_index + fault.start_ns // MINUTE_NS) % 2 == 0 else -1.0
    return float(np.round(sign * share * level, places))


def faults_frame(faults: list[Fault]) -> pl.DataFrame:
    """truth/faults.csv: sensor_id, field, fault, start, end (ISO UTC, end exclusive), magnitude."""
    schema = {c: pl.String for c in FAULTS_COLUMNS} | {"magnitude": pl.Float64}
    return pl.DataFrame([f.row() for f in faults], schema=schema) if faults else pl.DataFrame(schema=schema)
