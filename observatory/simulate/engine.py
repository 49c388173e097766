"""A simulation run: check the options, then day by day compute, fault, format and send the lines.

Memory stays bounded: one UTC day of the fleet is computed, written and dropped before the next.
A day's bytes depend only on the seed, the day and the run's scenarios, so chunking never
changes them, and the same options give the same files byte for byte.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from observatory.config import Settings
from observatory.errors import ParameterError, did_you_mean
from observatory.files import write_atomic
from observatory.simulate.calendar import (
    DAY_NS,
    MINUTE_NS,
    MINUTES_PER_DAY,
    DayClock,
    Window,
    date_of,
    iso_utc,
)
from observatory.simulate.citizens import FILE_NAME, INGEST_COMMAND_OPTIONS, reports_csv
from observatory.simulate.faults import (
    FAULTS_PER_MONTH,
    Fault,
    apply_faults,
    faults_frame,
    fill_magnitudes,
    plan_faults,
)
from observatory.simulate.fleet import Fleet, build_fleet
from observatory.simulate.output import InfluxSink, LineFormatter, MqttSink
from observatory.simulate.scenarios import Effects, Request, parse_scenarios
from observatory.simulate.signals import Environment, day_values

DEFAULT_SEED = 972
STEPS = {"1m": 1, "5m": 5, "15m": 15}
MAX_WORKERS = 64
MAX_DAYS = 3660.0  # ten years: beyond, a typo rather than a wish
# Line-protocol timestamps in ns have 19 digits from 2001-09-09T01:46:40Z to 2286-11-20T17:46:39Z.
FIRST_NS, LAST_NS = 10**18, 10**19 - 1
MANIFEST = "simulation.json"
EVENTS_COLUMNS = ("scenario", "start", "end", "description", "parameters")


@dataclass(frozen=True)
class Options:
    """What to simulate and where to send it (validated by ``Options.parse``)."""

    start_ns: int
    end_ns: int
    step_min: int = 1
    seed: int = DEFAULT_SEED
    scenarios: tuple[Request, ...] = ()
    faults: bool = True
    faults_per_month: float = FAULTS_PER_MONTH
    out: Path | None = None
    mqtt: str | None = None
    influx: str | None = None
    overwrite: bool = False
    workers: int = 1  # processes rendering days at once; the bytes do not depend on it

    @classmethod
    def parse(
        cls,
        *,
        start: str | dt.datetime | None = None,
        days: float = 1.0,
        seed: int = DEFAULT_SEED,
        step: str = "1m",
        scenarios: list[str] | tuple[str, ...] | None = None,
        faults: bool = True,
        faults_per_month: float = FAULTS_PER_MONTH,
        out: str | Path | None = None,
        mqtt: str | None = None,
        influx: str | None = None,
        overwrite: bool = False,
        workers: int = 1,
        now: dt.datetime | None = None,
    ) -> Options:
        """Options from command-line values; ParameterError naming the bad one.

        ``start`` is ISO 8601 (UTC when it has no offset); without it the window ends at ``now``
        (default: the clock) and starts ``days`` before. The start is floored to the step.
        """
        if not isinstance(days, int | float) or not np.isfinite(days) or days <= 0:
            raise ParameterError(
                f"{days!r} days", parameter="--days", hint="Give a positive number of days, e.g. --days 30."
            )
        if days > MAX_DAYS:
            raise ParameterError(f"{days} days is more than {MAX_DAYS:.0f}", parameter="--days")
        if step not in STEPS:
            raise ParameterError(f"unknown step {step!r}", parameter="--step", hint=did_you_mean(step, STEPS))
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError(f"seed {seed!r}", parameter="--seed", hint="Give a whole number ≥ 0.")
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
            raise ParameterError(
                f"{workers!r} workers", parameter="--workers", hint=f"Give 1 to {MAX_WORKERS}."
            )
        if faults_per_month < 0:
            raise ParameterError(f"{faults_per_month} faults a month", parameter="faults_per_month")
        step_ns = STEPS[step] * MINUTE_NS
        span_ns = int(round(days * MINUTES_PER_DAY)) * MINUTE_NS
        if start is None:
            moment = now or dt.datetime.now(dt.UTC)
            end_ns = _ns(moment) // step_ns * step_ns
            start_ns = end_ns - span_ns
        else:
            start_ns = _ns(_parse_start(start)) // step_ns * step_ns
        end_ns = start_ns + span_ns
        if end_ns - start_ns < step_ns:
            raise ParameterError(f"{days} days is shorter than one step ({step})", parameter="--days")
        if start_ns < FIRST_NS or end_ns > LAST_NS:
            raise ParameterError(
                f"the window {iso_utc(start_ns)} + {days} days is outside 2001-09-09 .. 2286-11-20",
                parameter="--start",
                hint="Line-protocol ns timestamps are written with 19 digits.",
            )
        return cls(
            start_ns=start_ns,
            end_ns=end_ns,
            step_min=STEPS[step],
            seed=seed,
            scenarios=parse_scenarios(scenarios),
            faults=faults,
            faults_per_month=faults_per_month,
            out=Path(out) if out is not None else None,
            mqtt=mqtt,
            influx=influx,
            overwrite=overwrite,
            workers=workers,
        )

    def manifest(self) -> dict[str, object]:
        """The options as recorded in simulation.json (no path, no clock: byte-stable)."""
        return {
            "start": iso_utc(self.start_ns),
            "end": iso_utc(self.end_ns),
            "step_minutes": self.step_min,
            "seed": self.seed,
            "scenarios": [r.name + (f":{r.argument}" if r.argument else "") for r in self.scenarios],
            "faults": self.faults,
            "faults_per_month": self.faults_per_month,
        }


def _parse_start(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ParameterError(
                f"{value!r} is not an ISO 8601 date or time",
                parameter="--start",
                hint="e.g. --start 2026-11-01 or --start 2026-11-01T06:00:00Z (UTC).",
            ) from None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def _ns(moment: dt.datetime) -> int:
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


@dataclass
class Summary:
    """What a run produced."""

    sensors: int
    start: str
    end: str
    lines: int = 0
    readings: int = 0
    bytes: int = 0
    files: list[Path] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    mqtt_messages: int = 0
    influx_lines: int = 0


def _prepare(out: Path, overwrite: bool) -> None:
    used = [out / name for name in ("field", "truth", MANIFEST) if (out / name).exists()]
    if used and not overwrite:
        raise ParameterError(
            f"{out} already holds a simulation ({', '.join(p.name for p in used)})",
            parameter="--out",
            hint="Choose an empty folder, or add --overwrite to replace its field/ and truth/.",
        )
    for path in used:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _select(window: Window, clock: DayClock) -> np.ndarray:
    """Minutes of the day that are written: inside the window and on the step."""
    inside = (clock.t_ns >= window.start_ns) & (clock.t_ns < window.end_ns)
    on_step = ((clock.t_ns - window.start_ns) // MINUTE_NS) % window.step_min == 0
    return np.flatnonzero(inside & on_step)


def _stepped(values: dict[str, dict[str, np.ndarray]], fleet: Fleet, rows: np.ndarray, step: int) -> dict:
    """Values at the written minutes; amounts "in the minute" summed over the step instead."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for kind, fields in values.items():
        specs = {f.name: f for f in fleet.of_kind(kind)[0].kind.fields}
        out[kind] = {}
        for name, array in fields.items():
            if step > 1 and specs[name].accumulates:
                sums = np.add.reduceat(array, np.arange(0, MINUTES_PER_DAY, step), axis=0)
                out[kind][name] = sums[rows // step]
            else:
                out[kind][name] = array[rows]
    return out


def simulate(
    options: Options,
    config: Settings | None = None,
    progress: Callable[[int, Summary], None] | None = None,
) -> Summary:
    """Run the simulation: line-protocol files (and sensors.csv, citizen reports, ground truth)
    under ``options.out``, and/or MQTT and InfluxDB; ``progress(day_done, summary)`` after each day.

    With ``options.workers`` > 1 days are rendered by spawned processes: from a script, call it
    under ``if __name__ == "__main__":`` (Python's multiprocessing rule).
    """
    fleet = build_fleet(config)
    window = Window(options.start_ns, options.end_ns, options.step_min)
    effects = Effects(options.scenarios, window, fleet, options.seed, config)
    env = Environment(options.seed, fleet, effects)
    faults = plan_faults(options.seed, fleet, window, options.faults_per_month) if options.faults else []
    summary = Summary(len(fleet), iso_utc(window.start_ns), iso_utc(window.end_ns), faults=faults)
    sinks = []
    if options.out is not None:
        _prepare(options.out, options.overwrite)
        write_atomic(options.out / "field" / "sensors.csv", fleet.frame().write_csv().encode("utf-8"))
    try:
        if options.mqtt:
            sinks.append(MqttSink(options.mqtt, fleet, f"observatory-simulate-{options.seed}"))
        if options.influx:
            sinks.append(InfluxSink(options.influx))
        _run_days(options, config, window, env, faults, sinks, summary, progress)
    finally:
        for sink in sinks:
            sink.close()
    for sink in sinks:
        if isinstance(sink, MqttSink):
            summary.mqtt_messages = sink.published
        else:
            summary.influx_lines = sink.written
    summary.events = [e.row() for e in effects.events]
    if options.out is not None:
        _write_extras(options, window, fleet, effects, summary, config)
    return summary


@dataclass(frozen=True)
class _DayResult:
    """One UTC day rendered: its label, text (uint8 array), the sensor of each line, counts, and
    the magnitudes of the faults that started that day (fault position -> magnitude)."""

    label: str
    data: np.ndarray | None  # None when only written to its file
    sensors: np.ndarray | None  # fleet index of each line (for MQTT topics), with the data
    path: Path | None
    lines: int
    readings: int
    size: int
    magnitudes: dict[int, float]


class _Renderer:
    """Turns a day number into its lines: physics, faults, step, formatting. Pure: the same day
    gives the same bytes in any process and in any order."""

    def __init__(
        self, window: Window, env: Environment, faults: list[Fault], folder: Path | None, keep: bool
    ) -> None:
        self.window, self.env, self.faults = window, env, faults
        self.folder, self.keep = folder, keep  # where day files go; whether the text goes back
        fleet = env.fleet
        self.formatter = LineFormatter(fleet)
        self.columns = {}
        for kind in dict.fromkeys(s.kind.name for s in fleet.sensors):
            for column, sensor in enumerate(fleet.of_kind(kind)):
                self.columns[sensor.index] = column
        self.decimals = {(s.kind.name, f.name): f.decimals for s in fleet.sensors for f in s.kind.fields}
        self.fields_per_sensor = np.array([len(s.kind.fields) for s in fleet.sensors])

    def prepare(self) -> None:
        """Give every fault that runs past its first day its magnitude now, from that day's
        values, so that any process rendering a later day agrees on it."""
        for day in sorted({f.start_ns // DAY_NS for f in self.faults if f.needs_magnitude_beyond_its_day()}):
            clock = DayClock(day)
            fill_magnitudes(self.faults, clock, day_values(self.env, clock), self.columns, self.decimals)

    def __call__(self, day: int) -> _DayResult:
        fleet = self.env.fleet
        clock = DayClock(day)
        values = day_values(self.env, clock)
        present = np.ones((MINUTES_PER_DAY, len(fleet)), dtype=bool)
        unset = [i for i, f in enumerate(self.faults) if f.magnitude is None]
        fill_magnitudes(self.faults, clock, values, self.columns, self.decimals)
        apply_faults(self.faults, clock, values, self.columns, present)
        rows = _select(self.window, clock)
        stepped = _stepped(values, fleet, rows, self.window.step_min)
        kept = present[rows]
        data = self.formatter.format(clock.t_ns[rows], stepped, kept)
        label = date_of(day).isoformat()
        path = None if self.folder is None else self.folder / f"{label}.lp"
        if path is not None:  # written here: a worker does not send a day's text back for it
            write_atomic(path, data)
        return _DayResult(
            label,
            data if self.keep else None,
            np.nonzero(kept)[1] if self.keep else None,
            path,
            int(kept.sum()),
            int((kept * self.fields_per_sensor[None, :]).sum()),
            int(data.size),
            {i: self.faults[i].magnitude for i in unset if self.faults[i].magnitude is not None},
        )


_RENDERER: _Renderer | None = None  # the renderer of a worker process


def _start_worker(options: Options, config: Settings | None, faults: list[Fault]) -> None:
    """Build the worker's own renderer: the same fleet, scenarios and faults as the parent's."""
    global _RENDERER
    fleet = build_fleet(config)
    window = Window(options.start_ns, options.end_ns, options.step_min)
    effects = Effects(options.scenarios, window, fleet, options.seed, config)
    env = Environment(options.seed, fleet, effects)
    _RENDERER = _Renderer(window, env, faults, _lp_folder(options), _keep_text(options))


def _lp_folder(options: Options) -> Path | None:
    return None if options.out is None else options.out / "field" / "lp"


def _keep_text(options: Options) -> bool:
    """Whether a day's text must reach the parent process (for MQTT or InfluxDB)."""
    return bool(options.mqtt or options.influx)


def _render_in_worker(day: int) -> _DayResult:
    assert _RENDERER is not None, "worker not started"
    return _RENDERER(day)


def _rendered_days(renderer: _Renderer, options: Options, config: Settings | None) -> Iterator[_DayResult]:
    """The days in order, rendered here or by ``options.workers`` processes (same bytes either way).

    Workers are spawned, not forked (the parent holds threads: Polars, MQTT), and rebuild the
    renderer from the options and the faults, whose multi-day magnitudes are already set.
    """
    days = renderer.window.days
    if options.workers <= 1 or len(days) <= 1:
        yield from map(renderer, days)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(
        min(options.workers, len(days)),
        initializer=_start_worker,
        initargs=(options, config, renderer.faults),
    ) as pool:
        yield from pool.imap(_render_in_worker, days)


def _run_days(options, config, window, env, faults, sinks, summary, progress) -> None:
    renderer = _Renderer(window, env, faults, _lp_folder(options), _keep_text(options))
    renderer.prepare()
    for done, result in enumerate(_rendered_days(renderer, options, config), start=1):
        for position, magnitude in result.magnitudes.items():
            faults[position].magnitude = magnitude
        for sink in sinks:
            sink.write(result.label, result.data, result.sensors)
        if result.path is not None:
            summary.files.append(result.path)
        summary.lines += result.lines
        summary.readings += result.readings
        summary.bytes += result.size
        if progress is not None:
            progress(done, summary)


def _write_extras(options, window, fleet, effects, summary, config) -> None:
    out = options.out
    write_atomic(out / "field" / "odk" / FILE_NAME, reports_csv(options.seed, fleet, window, effects, config))
    write_atomic(out / "truth" / "faults.csv", faults_frame(summary.faults).write_csv().encode("utf-8"))
    events = pl.DataFrame(summary.events, schema={c: pl.String for c in EVENTS_COLUMNS})
    write_atomic(out / "truth" / "events.csv", events.write_csv().encode("utf-8"))
    manifest = options.manifest() | {
        "sensors": len(fleet),
        "lines": summary.lines,
        "readings": summary.readings,
        "line_protocol_files": len(summary.files),
        "ingest": f"observatory ingest <out>/field {INGEST_COMMAND_OPTIONS}",
    }
    write_atomic(out / MANIFEST, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def days_in(options: Options) -> int:
    """How many UTC day files (and progress steps) a run has."""
    return len(Window(options.start_ns, options.end_ns, options.step_min).days)
