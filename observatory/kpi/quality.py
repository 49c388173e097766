"""Data quality of the sensor network: gaps, stuck values, spikes and drift found in the raw
readings per sensor and field, and their score against the simulator's ground truth (faults.csv).

Detectors read the warehouse month by month (and a few sensors of one kind at a time), with a day
of margin on each side so that rolling windows and runs see across the cut: a year of the fleet at
one minute is never in memory at once; only hourly levels are kept for the drift detector. Each detection is ``sensor_id, field, fault, start, end, score`` (UTC,
end exclusive); ``field`` is ``*`` for a gap (no line at all). What ``score`` measures:

- gap: minutes without a line;
- stuck: length of the run over the series' usual longest repetition (>= STUCK_FACTOR);
- spike: largest departure from the rolling median, in robust standard deviations;
- drift: largest daily departure from the peers (or from the sensor's own previous days), in
  standard deviations of a day's noise.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from observatory.errors import DataFormatError, ParameterError
from observatory.warehouse.store import Warehouse

FAULT_TYPES = ("gap", "stuck", "spike", "drift")
ALL_FIELDS = "*"  # a gap concerns the whole line: every field of the sensor
UTC_NS = pl.Datetime("ns", "UTC")
DETECTIONS_SCHEMA: dict[str, pl.DataType] = {
    "sensor_id": pl.String,
    "field": pl.String,
    "fault": pl.String,
    "start": UTC_NS,
    "end": UTC_NS,
    "score": pl.Float64,
}
TRUTH_COLUMNS = ("sensor_id", "field", "fault", "start", "end")  # as simulate/faults.py writes them
SCORE_SCHEMA: dict[str, pl.DataType] = {
    "fault": pl.String,
    "faults": pl.Int64,
    "detections": pl.Int64,
    "true_positives": pl.Int64,  # truth faults found: recall's numerator
    "correct_detections": pl.Int64,  # detections overlapping a truth fault: precision's numerator
    "precision": pl.Float64,
    "recall": pl.Float64,
}

MICROSECOND_NS = 1000  # the finest step a Python datetime (a query bound) carries
MINUTE_NS = 60 * 10**9
HOUR_NS = 60 * MINUTE_NS
DAY_NS = 24 * HOUR_NS
# Readings are read a month and about READ_SERIES series at a time (whole sensors of one kind): at
# one minute, about 1.5 million readings and under 200 MB of working memory, whatever the range.
READ_SERIES = 32
# A day of margin around each month read: longer than any rolling window below and than the
# longest stuck run worth finding within a day, so runs and spikes are seen whole at the cut.
MARGIN_NS = DAY_NS
# A median absolute deviation x 1.4826 estimates the standard deviation of a normal sample
# (1 / the normal's 75th percentile; Rousseeuw & Croux 1993, J. Amer. Statist. Assoc. 88, 1273-1283).
MAD_TO_SD = 1.4826

# -- gaps ---------------------------------------------------------------------------------------
# A sensor writes one line per step by design, so one missing line is already a gap. A series'
# step is its median spacing; spacings are rounded to whole steps (half a step of jitter is none).
GAP_MIN_MISSING_LINES = 1

# -- stuck values -------------------------------------------------------------------------------
# A series' usual repetition: the 99.9th percentile of its run lengths (readings of one value in a
# row). On fault-free simulated weeks at one minute, runs outside rest values last 3 to 21
# readings (pressure_hpa at 0.1 hPa is the slowest); a stuck run must be several times that.
STUCK_RUN_QUANTILE = 0.999
STUCK_USUAL_MIN_RANK = 3  # two stuck runs in one read cannot set the bar themselves
STUCK_FACTOR = 3.0
# ... and last half an hour: coarse series (whole % humidity, a reservoir at 0.1 %) hold a value a
# quarter of an hour on their own, and a shorter freeze does not change an hourly figure.
STUCK_MIN_MINUTES = 30.0
STUCK_MIN_READINGS = 4  # whatever the step: at 15 minutes, an hour
# Values a series rests at: its minimum or maximum, when reached in REST_MIN_RUNS separate runs or
# more (0 for PV at night, for rain between showers, a closed weighbridge, a bus line at night;
# 100 % humidity in rain; a wind farm calm or at rated power), or held by most of its readings (a
# dry month of rain, a feeder never cut: energized = 1); and any value held as long as a stuck run
# in PLATEAU_MIN_RUNS runs or more (a plateau). A stuck sensor freezes once, at whatever value it
# had, even its lowest so far: one long run at the minimum is not a rest. A run at rest is normal
# however long: a sensor stuck at its rest value cannot be told from one at rest, and is not reported.
REST_MIN_RUNS = 3
REST_SHARE = 0.5
PLATEAU_MIN_RUNS = 2
# A series at rest this much of the time (rain, a weighbridge: 97-99 % zeros) lives in short
# episodes of steady values (a shower's even rate, a truck's load): too few and too even to know
# how long it usually holds a value, and a gauge stuck would most likely be stuck at rest. None of
# its runs is reported.
INTERMITTENT_SHARE = 0.8

# -- spikes -------------------------------------------------------------------------------------
# Departures from a centred rolling median over 11 readings: over three times the longest
# excursion taken for a spike (SPIKE_MAX_READINGS), so the median ignores it, and short enough to
# follow a morning ramp. Longer excursions are level changes (an event, a stuck run, a drift).
SPIKE_WINDOW = 11
SPIKE_MAX_READINGS = 5
# A spike departs by more than SPIKE_Z robust standard deviations of that day's departures. On
# simulated fortnights with faults, smooth fields' natural abrupt departures stay under it while
# injected spikes (6-12 standard deviations of the day's *values*) reach tens to thousands; a lower
# bar finds no more of them, as it lets natural bursts of water use or traffic count as spikes.
SPIKE_Z = 8.0
# A spike jumps: away from the reading before and back at the reading after, each jump at least
# half its peak departure. A cloud over a PV plant or a river's rising limb departs from the
# rolling median as far, but slides there over several minutes.
SPIKE_EDGE_SHARE = 0.5
# More such jumps than one a day on average in a read (a month) are the series' own signal
# (earthquakes under a seismometer, trucks on a weighbridge, aircraft over a noise sensor): none
# is reported. The simulator's faults hit a series once in years; at the highest rates tried, a
# few times a month.
SPIKE_NATURAL_PER_DAY = 1.0
# And a spike stands SPIKE_TAIL_FACTOR times above the series' own 99.9th percentile of |z| (its
# 43 largest minutes in a month, never fewer than one spike's readings): above bursty signals that
# jump less often (water use, PV under clouds, traffic counts).
SPIKE_TAIL_QUANTILE = 0.999
SPIKE_TAIL_FACTOR = 3.0
SPIKE_TAIL_MIN_READINGS = SPIKE_MAX_READINGS

# -- drift --------------------------------------------------------------------------------------
# Hourly means (stuck and spiky readings left out) are scaled by the series' mean absolute level.
# A sensor's hourly departure is its scaled level minus the median of its peers' (same kind and
# field) at that hour; without DRIFT_MIN_PEERS peers, minus the median of the same hour on its own
# DRIFT_HISTORY_DAYS previous days. A day's departure is the median of its hours': a shower, a
# sargassum plume or a truck moves a few hours, a drift moves them all.
DRIFT_MIN_PEERS = 2
DRIFT_HISTORY_DAYS = 7  # a week: the weekday cycle
DRIFT_MIN_HISTORY_DAYS = 2
DRIFT_MIN_HOURS = 6  # hours with data for a day to count
# With this many sensors in a group or more, the peers' median includes the sensor itself (it
# moves by one rank at most) and saves pairing every sensor with every other hour by hour.
DRIFT_PAIRWISE_BELOW = 8
# A day departs when it lies DRIFT_Z standard deviations of a day's noise away from the median of
# the sensor's last DRIFT_HISTORY_DAYS days that did not depart, and by DRIFT_MIN_SHARE of the
# level or more: the simulator's drifts reach 10-30 % of the level at their end
# (simulate/faults.py DRIFT_SHARE), so the middle of one is half of that or more.
# On simulated runs of 5-21 days, 4 let rivers after rain and the thermal plants (no true peers:
# base load, mid merit, peaker) depart; 8 found fewer drifts and no more precisely.
DRIFT_Z = 6.0
DRIFT_MIN_SHARE = 0.04
# On fault-free simulated weeks, the day-to-day noise of a series is 0.15-0.5 times the spread of
# its hourly departures within a day (up to 1.6 for slow rivers and reservoirs, which the pooled
# day-to-day noise covers).
DRIFT_WITHIN_SHARE = 0.5
# Floor of that spread (share of the level): peers never follow each other closer than this, which
# keeps a series that barely moves from turning a rounding step into a drift.
DRIFT_MIN_SPREAD = 0.005


def empty_detections() -> pl.DataFrame:
    """An empty detections frame (DETECTIONS_SCHEMA)."""
    return pl.DataFrame(schema=DETECTIONS_SCHEMA)


# -- a chunk of readings, coded -----------------------------------------------------------------
# Inside, a series (sensor_id, field) is an integer and a time is ns since the epoch: millions of
# rows are grouped and sorted on integers, and names are joined back to the few detections.

_NAMES_SCHEMA = {"series": pl.Int64, "sensor_id": pl.String, "field": pl.String}


@dataclass(frozen=True)
class _Coded:
    """``obs`` (series, t, value) sorted by series then time; ``names`` (series, sensor_id,
    field); ``steps`` (series, step): each series' median spacing in ns."""

    obs: pl.DataFrame
    names: pl.DataFrame
    steps: pl.DataFrame


def _coded(obs: pl.DataFrame, names: pl.DataFrame) -> _Coded:
    """Sort ``obs`` (series, t, value) and keep the first of repeated (series, t)."""
    obs = obs.sort("series", "t", maintain_order=True)
    repeated = (pl.col("t") == pl.col("t").shift(1)) & (pl.col("series") == pl.col("series").shift(1))
    obs = obs.filter(~repeated.fill_null(False))
    steps = (
        obs.group_by("series")
        .agg(step=pl.col("t").diff().median().round().cast(pl.Int64))
        .with_columns(pl.col("step").fill_null(MINUTE_NS).clip(lower_bound=1))
    )
    return _Coded(obs, names, steps)


def _code(readings: pl.DataFrame) -> _Coded:
    """In-memory canonical readings (``time, sensor_id, field, value``) coded; missing and
    non-finite values are left out (they are no reading of a level)."""
    missing = {"time", "sensor_id", "field", "value"} - set(readings.columns)
    if missing:
        raise ParameterError(
            f"readings lack the column(s) {', '.join(sorted(missing))}",
            parameter="readings",
            hint="Pass canonical readings: time, sensor_id, measurement, field, value.",
        )
    dtype = readings.schema["time"]
    time = pl.col("time")
    if not isinstance(dtype, pl.Datetime):
        raise ParameterError(f"time is {dtype}, not a datetime", parameter="readings")
    time = time.dt.replace_time_zone("UTC") if dtype.time_zone is None else time.dt.convert_time_zone("UTC")
    kept = readings.lazy().filter(pl.col("value").cast(pl.Float64).is_finite())
    names = (
        kept.select(pl.col("sensor_id").cast(pl.String), pl.col("field").cast(pl.String))
        .unique()
        .sort("sensor_id", "field")
        .with_row_index("series")
        .with_columns(pl.col("series").cast(pl.Int64))
        .collect()
    )
    obs = (
        kept.join(names.lazy(), on=["sensor_id", "field"])
        .select(
            "series", t=time.dt.cast_time_unit("ns").dt.epoch("ns"), value=pl.col("value").cast(pl.Float64)
        )
        .collect()
    )
    return _coded(obs, names)


def _named(found: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Int64-ns detections keyed by ``series`` (or already by ``sensor_id, field``) in
    DETECTIONS_SCHEMA."""
    if "series" in found.columns:
        found = found.join(names.select("series", "sensor_id", "field"), on="series")
    return found.select(
        pl.col("sensor_id").cast(pl.String),
        pl.col("field").cast(pl.String),
        pl.col("fault").cast(pl.String),
        pl.from_epoch("start", "ns").dt.replace_time_zone("UTC"),
        pl.from_epoch("end", "ns").dt.replace_time_zone("UTC"),
        pl.col("score").cast(pl.Float64),
    )


def _sorted(detections: pl.DataFrame) -> pl.DataFrame:
    """Detections by sensor, start, fault type and field."""
    order = {fault: i for i, fault in enumerate(FAULT_TYPES)}
    return detections.select(list(DETECTIONS_SCHEMA)).sort(
        "sensor_id", "start", pl.col("fault").replace_strict(order, return_dtype=pl.Int8), "field"
    )


# -- gaps ---------------------------------------------------------------------------------------


def _series_gaps(coded: _Coded, first_ns: int, last_ns: int) -> pl.DataFrame:
    """Stretches without a reading of each series (series, start, end), inside its readings
    and before its first / after its last within [first_ns, last_ns]."""
    obs, steps = coded.obs, coded.steps
    smallest = int(steps["step"].min()) if steps.height else MINUTE_NS
    # Only spacings above the smallest step can hold a missing line: the others are not joined.
    wide = (
        obs.select(
            "series", "t", previous=pl.col("t").shift(1), same=pl.col("series") == pl.col("series").shift(1)
        )
        .filter(pl.col("same") & (pl.col("t") - pl.col("previous") > smallest * 3 // 2))
        .join(steps, on="series")
        .filter(((pl.col("t") - pl.col("previous")) / pl.col("step")).round() - 1 >= GAP_MIN_MISSING_LINES)
        .select("series", start=pl.col("previous") + pl.col("step"), end="t")
    )
    bounds = (
        obs.group_by("series")
        .agg(first=pl.col("t").first(), last=pl.col("t").last())
        .join(steps, on="series")
    )
    leading = bounds.filter((pl.col("first") - first_ns) // pl.col("step") >= GAP_MIN_MISSING_LINES).select(
        "series", start=pl.lit(first_ns, pl.Int64), end="first"
    )
    missing_after = (last_ns - pl.col("last")) // pl.col("step")
    trailing = bounds.filter(missing_after >= GAP_MIN_MISSING_LINES).select(
        "series",
        start=pl.col("last") + pl.col("step"),
        end=pl.col("last") + (missing_after + 1) * pl.col("step"),
    )
    return pl.concat([wide, leading, trailing])


def _gaps(coded: _Coded, first_ns: int, last_ns: int, expected: Sequence[str] = ()) -> pl.DataFrame:
    """Gaps of each sensor (sensor_id, field ``*``, fault, start, end, score in minutes): when
    none of its fields has a line, between ``first_ns`` and ``last_ns`` (the fleet's first and
    last reading times); ``expected`` sensors without any reading are silent throughout."""
    fields = coded.names.group_by("sensor_id").agg(fields=pl.len())
    per_series = _series_gaps(coded, first_ns, last_ns).join(coded.names, on="series")
    # A sensor is silent where every one of its fields is: sweep the gaps' edges (+1 at a start,
    # -1 at an end, ends first at equal times) and keep the stretches where all fields are missing.
    edges = pl.concat(
        [
            per_series.select("sensor_id", time="start", change=pl.lit(1, pl.Int64)),
            per_series.select("sensor_id", time="end", change=pl.lit(-1, pl.Int64)),
        ]
    ).sort("sensor_id", "time", "change")
    silent = (
        edges.with_columns(
            missing=pl.col("change").cum_sum().over("sensor_id"),
            until=pl.col("time").shift(-1).over("sensor_id"),
        )
        .join(fields, on="sensor_id")
        .filter((pl.col("missing") == pl.col("fields")) & (pl.col("until") > pl.col("time")))
        .select("sensor_id", start="time", end="until")
    )
    absent = sorted(set(expected) - set(coded.names["sensor_id"].to_list()))
    step = int(coded.steps["step"].min()) if coded.steps.height else MINUTE_NS  # the fleet's finest
    whole = pl.DataFrame(
        {"sensor_id": absent, "start": [first_ns] * len(absent), "end": [last_ns + step] * len(absent)},
        schema={"sensor_id": pl.String, "start": pl.Int64, "end": pl.Int64},
    )
    gaps = pl.concat([silent, whole]).with_columns(
        field=pl.lit(ALL_FIELDS), fault=pl.lit("gap"), score=pl.lit(0.0)
    )
    return _merge(gaps)


def detect_gaps(
    readings: pl.DataFrame,
    first: dt.datetime | None = None,
    last: dt.datetime | None = None,
    expected: Sequence[str] = (),
) -> pl.DataFrame:
    """Gaps per sensor (field ``*``): lines missing beyond each sensor's own step, also before
    its first and after its last line within [``first``, ``last``] (default: the readings' own
    first and last times); ``expected`` sensors without a reading are silent throughout.
    ``score``: the gap's length in minutes."""
    coded = _code(readings)
    if coded.obs.height == 0 and (first is None or last is None or not expected):
        return empty_detections()
    first_ns = _epoch_ns(first) if first is not None else int(coded.obs["t"].min())
    last_ns = _epoch_ns(last) if last is not None else int(coded.obs["t"].max())
    return _sorted(_named(_gaps(coded, first_ns, last_ns, expected), coded.names))


# -- stuck values -------------------------------------------------------------------------------


def _stuck(coded: _Coded) -> tuple[pl.DataFrame, pl.Series]:
    """Stuck runs (Int64-ns detections keyed by ``series``) and the mask of their readings."""
    obs = coded.obs
    changed = (
        (pl.col("value") != pl.col("value").shift(1)) | (pl.col("series") != pl.col("series").shift(1))
    ).fill_null(True)
    runs = (
        obs.with_row_index("row")
        .filter(changed)
        .select("series", "value", "row", start="t")
        .with_columns(n=pl.col("row").shift(-1, fill_value=obs.height) - pl.col("row"))
    )
    runs = runs.with_columns(rest=_at_bound(runs))
    # The usual repetition: the k-th longest run outside rest, k the larger of (1 - STUCK_RUN_QUANTILE)
    # of the runs and STUCK_USUAL_MIN_RANK, so that in a short read the stuck runs are not their own yardstick.
    rank = pl.col("n").rank("ordinal", descending=True).over("series")
    wanted = pl.max_horizontal(
        (pl.len().over("series") * (1 - STUCK_RUN_QUANTILE)).ceil(), pl.lit(STUCK_USUAL_MIN_RANK)
    ).cast(pl.UInt32)
    usual = (
        runs.filter(~pl.col("rest"))
        .filter(rank == wanted)
        .select("series", usual=pl.col("n").cast(pl.Float64))
    )
    needed = pl.max_horizontal(
        pl.col("usual") * STUCK_FACTOR,
        pl.lit(float(STUCK_MIN_READINGS)),
        STUCK_MIN_MINUTES * MINUTE_NS / pl.col("step"),
    )
    # Plateaus: a value held that long in PLATEAU_MIN_RUNS runs or more is one the series dwells
    # at (humidity clipped in rain, PV at night when a drift moved its minimum), not stuck at.
    # (Rest runs count too: they are long and at their own values.)
    resting = pl.when(pl.col("rest")).then(pl.col("n")).otherwise(0).sum() / pl.col("n").sum()
    active = runs.group_by("series").agg(resting=resting).filter(pl.col("resting") < INTERMITTENT_SHARE)
    stuck = (
        runs.join(usual, on="series")
        .join(active, on="series", how="semi")
        .join(coded.steps, on="series")
        .filter(pl.col("n") >= needed)
        .filter(~pl.col("rest") & (pl.len().over("series", "value") < PLATEAU_MIN_RUNS))
    )
    last_t = obs.get_column("t").gather(stuck.get_column("row") + stuck.get_column("n") - 1)
    found = stuck.select(
        "series",
        fault=pl.lit("stuck"),
        start="start",
        end=last_t + stuck.get_column("step"),
        score=pl.col("n") / pl.col("usual"),
    )
    return found, _rows_mask(obs.height, stuck.get_column("row"), stuck.get_column("n"))


def _rows_mask(height: int, first: pl.Series, count: pl.Series) -> pl.Series:
    """A mask of ``height`` rows, True on ``count`` rows from each ``first``."""
    if first.len() == 0:
        return pl.repeat(False, height, eager=True)
    rows = pl.DataFrame({"first": first.cast(pl.Int64), "count": count.cast(pl.Int64)}).select(
        pl.int_ranges("first", pl.col("first") + pl.col("count")).explode()
    )
    return pl.int_range(height, dtype=pl.Int64, eager=True).is_in(rows.to_series().implode())


def _at_bound(runs: pl.DataFrame) -> pl.Series:
    """Whether each run (``series, value, n``) is at a bound its series rests at: its minimum or
    maximum, reached in REST_MIN_RUNS runs or more or holding REST_SHARE of its readings."""
    total = pl.col("n").sum().over("series")
    rest = pl.lit(False)
    for bound in (pl.col("value").min(), pl.col("value").max()):
        at = pl.col("value") == bound.over("series")
        share = pl.when(at).then(pl.col("n")).otherwise(0).sum().over("series") / total
        rest = rest | (at & ((share >= REST_SHARE) | (at.sum().over("series") >= REST_MIN_RUNS)))
    return runs.select(rest.alias("rest")).to_series()


def detect_stuck(readings: pl.DataFrame) -> pl.DataFrame:
    """Runs of one identical value far longer than the series usually repeats a value
    (STUCK_FACTOR times its 99.9th-percentile run, STUCK_MIN_MINUTES at least), outside the
    values it rests at; ``end`` is the last stuck reading plus one step."""
    coded = _code(readings)
    return _sorted(_named(_stuck(coded)[0], coded.names))


# -- spikes -------------------------------------------------------------------------------------


def _spikes(coded: _Coded) -> tuple[pl.DataFrame, pl.Series]:
    """Spikes (Int64-ns detections keyed by ``series``) and the mask of their readings: runs of
    at most SPIKE_MAX_READINGS readings of one sign whose departure from the centred rolling
    median, in robust standard deviations of that day's departures (z), exceeds SPIKE_Z, jumping
    in and out, in a series that does not jump so every day, SPIKE_TAIL_FACTOR times above the
    series' own SPIKE_TAIL_QUANTILE of |z|."""
    obs = coded.obs
    median = pl.col("value").rolling_median(SPIKE_WINDOW, center=True, min_samples=SPIKE_WINDOW // 2 + 1)
    departures = obs.select("series", "t", residual=pl.col("value") - median.over("series"))
    size = pl.col("residual").abs()
    # The scale: the median absolute departure from the rolling median over the readings that
    # depart at all, per UTC day (a series at rest half the day, PV at night, keeps its daytime
    # scale), never below the series' resolution (its smallest step between two values).
    daily = (
        departures.filter(size > 0)
        .group_by("series", day=pl.col("t") // DAY_NS)
        .agg(scale=size.median() * MAD_TO_SD)
    )
    resolution = (
        obs.select("series", jump=pl.col("value").diff().abs())
        .filter((pl.col("series") == pl.col("series").shift(1)) & (pl.col("jump") > 0))
        .group_by("series")
        .agg(resolution=pl.col("jump").min())
    )
    scales = daily.join(resolution, on="series", how="left").select(
        "series", "day", scale=pl.max_horizontal("scale", pl.col("resolution").fill_null(0.0))
    )
    scored = (
        departures.with_row_index("row")
        .with_columns(day=pl.col("t") // DAY_NS)
        .join(scales, on=["series", "day"], how="left")
        .with_columns(
            z=pl.when(pl.col("scale") > 0).then(pl.col("residual") / pl.col("scale")).otherwise(0.0)
        )
    )
    flagged = (
        scored.filter(pl.col("z").abs() > SPIKE_Z).select("row", "series", "t", "z", "residual").sort("row")
    )
    sign = pl.col("z").sign()
    new = (
        (pl.col("row") - pl.col("row").shift(1) != 1)
        | (pl.col("series") != pl.col("series").shift(1))
        | (sign != sign.shift(1))
    )
    events = (
        flagged.with_columns(excursion=new.fill_null(True).cum_sum())
        .group_by("excursion")
        .agg(
            pl.col("series").first(),
            first_row=pl.col("row").first(),
            n=pl.len(),
            start=pl.col("t").first(),
            last=pl.col("t").last(),
            peak=pl.col("residual").get(pl.col("z").abs().arg_max()),
            score=pl.col("z").abs().max(),
        )
        .filter(pl.col("n") <= SPIKE_MAX_READINGS)
    )
    events = events.filter(_abrupt(obs, events))
    # Series that jump this way every day (earthquakes under a seismometer, trucks on a
    # weighbridge, aircraft over a noise sensor) are made of such events: none is a fault.
    days = obs.group_by("series").agg(days=(pl.col("t").last() - pl.col("t").first()) / DAY_NS)
    events = events.join(days, on="series").filter(
        pl.len().over("series") <= SPIKE_NATURAL_PER_DAY * pl.max_horizontal("days", pl.lit(1.0))
    )
    # The series' own tail: its k-th largest |z|, k the larger of (1 - SPIKE_TAIL_QUANTILE) of its
    # readings and SPIKE_TAIL_MIN_READINGS, so that one spike cannot raise the bar itself.
    height = pl.col("z").abs()
    rank = height.rank("ordinal", descending=True).over("series")
    wanted = pl.max_horizontal(
        (pl.len().over("series") * (1 - SPIKE_TAIL_QUANTILE)).ceil(), pl.lit(SPIKE_TAIL_MIN_READINGS)
    ).cast(pl.UInt32)
    tails = (
        scored.join(events.select("series").unique(), on="series", how="semi")
        .filter(rank == wanted)
        .select("series", tail=height)
    )
    events = events.join(tails, on="series", how="left").filter(
        pl.col("score") > SPIKE_TAIL_FACTOR * pl.col("tail").fill_null(0.0)
    )
    found = events.join(coded.steps, on="series").select(
        "series", fault=pl.lit("spike"), start="start", end=pl.col("last") + pl.col("step"), score="score"
    )
    return found, _rows_mask(obs.height, events.get_column("first_row"), events.get_column("n"))


def _abrupt(obs: pl.DataFrame, events: pl.DataFrame) -> pl.Series:
    """Whether each excursion jumps away from the reading before it and back at the reading
    after it, each jump SPIKE_EDGE_SHARE of its peak departure or more, in its direction."""
    series, value = obs.get_column("series"), obs.get_column("value")
    end = obs.height - 1
    first = events.get_column("first_row").cast(pl.Int64)
    last = first + events.get_column("n").cast(pl.Int64) - 1
    before, after = (first - 1).clip(0, end), (last + 1).clip(0, end)
    own = events.get_column("series")
    inside = (first > 0) & (last < end) & (series.gather(before) == own) & (series.gather(after) == own)
    peak = events.get_column("peak")
    needed = SPIKE_EDGE_SHARE * peak.abs()
    jump_in = (value.gather(first) - value.gather(before)) * peak.sign()
    jump_back = (value.gather(last) - value.gather(after)) * peak.sign()
    return inside & (jump_in >= needed) & (jump_back >= needed)


def detect_spikes(readings: pl.DataFrame) -> pl.DataFrame:
    """Excursions of at most SPIKE_MAX_READINGS readings, jumping more than SPIKE_Z robust
    standard deviations away from the centred rolling median (SPIKE_WINDOW readings) and back,
    beyond the series' own natural events (SPIKE_TAIL_FACTOR)."""
    coded = _code(readings)
    return _sorted(_named(_spikes(coded)[0], coded.names))


# -- drift --------------------------------------------------------------------------------------

SERIES = ["sensor_id", "field"]
_DEPARTURES = {
    "sensor_id": pl.String,
    "field": pl.String,
    "pool": pl.String,  # the series whose day-to-day departures share a spread: a kind, or the sensor
    "hour": pl.Int64,
    "departure": pl.Float64,
}


def _hourly(coded: _Coded, keep: pl.Series, lo_ns: int, hi_ns: int) -> pl.DataFrame:
    """Hourly sums and counts (``sensor_id, field, hour`` ns, ``total, n``) of the readings
    ``keep`` marks within [lo, hi)."""
    obs = coded.obs.filter(keep).filter((pl.col("t") >= lo_ns) & (pl.col("t") < hi_ns))
    hourly = obs.group_by("series", hour=pl.col("t") // HOUR_NS * HOUR_NS).agg(
        total=pl.col("value").sum(), n=pl.len()
    )
    return hourly.join(coded.names, on="series").select(*SERIES, "hour", "total", "n")


def hourly_levels(readings: pl.DataFrame) -> pl.DataFrame:
    """Hourly sums and counts of each series (``sensor_id, field, hour`` in ns since the epoch,
    ``total, n``) without the readings found stuck or spiky: what ``detect_drift`` compares."""
    coded = _code(readings)
    if coded.obs.height == 0:
        return pl.DataFrame(
            schema={**dict.fromkeys(SERIES, pl.String), "hour": pl.Int64, "total": pl.Float64, "n": pl.UInt32}
        )
    keep = ~(_stuck(coded)[1] | _spikes(coded)[1])
    return _hourly(coded, keep, int(coded.obs["t"].min()), int(coded.obs["t"].max()) + 1)


def detect_drift(hourly: pl.DataFrame, kinds: pl.DataFrame | None = None) -> pl.DataFrame:
    """Slow departures of a series' daily level from its peers (same kind and field, at least
    DRIFT_MIN_PEERS others), or from its own previous days when it has fewer peers.

    ``hourly``: ``sensor_id, field, hour`` (ns since the epoch), ``total, n`` (``hourly_levels``);
    ``kinds``: ``sensor_id, kind`` (a sensor without a kind has no peers). Each run of departing
    UTC days of one sign is one detection over those days; ``score``: the largest departure in
    standard deviations of a day's noise.
    """
    if hourly.height == 0:
        return empty_detections()
    if kinds is None:
        kinds = pl.DataFrame(schema={"sensor_id": pl.String, "kind": pl.String})
    levels = (
        hourly.lazy()
        .group_by(*SERIES, "hour")
        .agg(pl.col("total").sum(), pl.col("n").sum())
        .with_columns(level=pl.col("total") / pl.col("n"))
        .with_columns(
            typical=(pl.col("level").abs() * pl.col("n")).sum().over(SERIES) / pl.col("n").sum().over(SERIES)
        )
        .filter(pl.col("typical") > 0)
        .join(kinds.lazy().select("sensor_id", "kind").unique("sensor_id"), on="sensor_id", how="left")
        .select(
            *SERIES,
            "hour",
            kind=pl.when(pl.col("kind").fill_null("") != "").then("kind").otherwise("sensor_id"),
            scaled=pl.col("level") / pl.col("typical"),
        )
        .with_columns(members=pl.col("sensor_id").n_unique().over("kind", "field"))
        .collect()
    )
    grouped = levels.filter(pl.col("members") > DRIFT_MIN_PEERS)
    departures = pl.concat(
        [
            _peer_departure(grouped.filter(pl.col("members") >= DRIFT_PAIRWISE_BELOW), pairwise=False),
            _peer_departure(grouped.filter(pl.col("members") < DRIFT_PAIRWISE_BELOW), pairwise=True),
            _own_departure(levels.filter(pl.col("members") <= DRIFT_MIN_PEERS)),
        ]
    )
    return _sorted(_named(_drift_events(departures), pl.DataFrame(schema=_NAMES_SCHEMA)))


def _peer_departure(levels: pl.DataFrame, pairwise: bool) -> pl.DataFrame:
    """Scaled hourly level minus the median of the group's at that hour (the others' only,
    when ``pairwise``), where DRIFT_MIN_PEERS others report that hour."""
    if levels.height == 0:
        return pl.DataFrame(schema=_DEPARTURES)
    group = ["kind", "field", "hour"]
    if not pairwise:
        reference = levels.group_by(group).agg(reference=pl.col("scaled").median(), others=pl.len() - 1)
        joined = levels.join(reference, on=group)
    else:
        pairs = levels.select(*group, "sensor_id").join(
            levels.select(*group, peer="sensor_id", peer_scaled="scaled"), on=group
        )
        reference = (
            pairs.filter(pl.col("peer") != pl.col("sensor_id"))
            .group_by(*SERIES, "hour")
            .agg(reference=pl.col("peer_scaled").median(), others=pl.len())
        )
        joined = levels.join(reference, on=[*SERIES, "hour"])
    return joined.filter(pl.col("others") >= DRIFT_MIN_PEERS).select(
        *SERIES, pool="kind", hour="hour", departure=pl.col("scaled") - pl.col("reference")
    )


def _own_departure(levels: pl.DataFrame) -> pl.DataFrame:
    """Scaled hourly level minus the median of the same hour on the DRIFT_HISTORY_DAYS days before."""
    if levels.height == 0:
        return pl.DataFrame(schema=_DEPARTURES)
    history = (
        levels.select(*SERIES, "hour", "scaled")
        .with_columns(day=pl.col("hour") // DAY_NS, hour_of_day=pl.col("hour") % DAY_NS)
        .sort(*SERIES, "hour_of_day", "day")
    )
    reference = history.rolling(
        index_column="day",
        period=f"{DRIFT_HISTORY_DAYS}i",
        offset=f"-{DRIFT_HISTORY_DAYS + 1}i",
        group_by=[*SERIES, "hour_of_day"],
    ).agg(reference=pl.col("scaled").median(), days=pl.len())
    return (
        history.join(reference, on=[*SERIES, "hour_of_day", "day"])
        .filter(pl.col("days") >= DRIFT_MIN_HISTORY_DAYS)
        .select(*SERIES, pool="sensor_id", hour="hour", departure=pl.col("scaled") - pl.col("reference"))
    )


def _drift_events(departures: pl.DataFrame) -> pl.DataFrame:
    """Runs of consecutive UTC days of one sign whose departure stands out (keyed by name)."""
    daily = (
        departures.group_by(*SERIES, "pool", day=pl.col("hour") // DAY_NS)
        .agg(
            departure=pl.col("departure").median(),
            within=(pl.col("departure") - pl.col("departure").median()).abs().median() * MAD_TO_SD,
            hours=pl.len(),
        )
        .filter(pl.col("hours") >= DRIFT_MIN_HOURS)
        .sort(*SERIES, "day")
    )
    # A day's noise: from the changes between consecutive days over every series of the pool (a
    # drifting sensor is one of many), as the standard deviation of one day (change / sqrt 2); and
    # no less than DRIFT_WITHIN_SHARE of the sensor's own spread of hourly departures within a day,
    # which a slow drift hardly widens.
    change = pl.when(pl.col("day").diff() == 1).then(pl.col("departure").diff()).over(SERIES)
    pooled = (pl.col("change").abs().median() * MAD_TO_SD / 2**0.5).over("field", "pool")
    own = pl.col("within").median().over(SERIES) * DRIFT_WITHIN_SHARE
    daily = daily.with_columns(change=change).with_columns(
        spread=pl.max_horizontal(pooled.fill_null(0.0), own, pl.lit(DRIFT_MIN_SPREAD))
    )
    rows = []
    for (sensor_id, field), days in daily.group_by(SERIES, maintain_order=True):
        rows += _departing_days(sensor_id, field, days)
    events = pl.DataFrame(
        rows,
        schema={"sensor_id": pl.String, "field": pl.String, "day": pl.Int64, "z": pl.Float64},
        orient="row",
    )
    sign = pl.col("z").sign()
    follows = ((pl.col("day").diff() == 1) & (sign == sign.shift(1))).over(SERIES)
    return (
        events.sort(*SERIES, "day")
        .with_columns(event=(~follows.fill_null(False)).cum_sum().over(SERIES))
        .group_by(*SERIES, "event")
        .agg(
            start=pl.col("day").min() * DAY_NS,
            end=(pl.col("day").max() + 1) * DAY_NS,
            score=pl.col("z").abs().max(),
        )
        .select(*SERIES, fault=pl.lit("drift"), start="start", end="end", score="score")
    )


def _departing_days(sensor_id: str, field: str, days: pl.DataFrame) -> list[tuple[str, str, int, float]]:
    """(sensor_id, field, day, z) of the days departing from the median of the sensor's last
    DRIFT_HISTORY_DAYS days that did not depart (a departing day never becomes the reference, so
    a drift is measured against the level before it, and its end is not a drift back)."""
    found, history = [], []
    spread = days["spread"][0]
    for day, departure in days.select("day", "departure").iter_rows():
        if len(history) >= DRIFT_MIN_HISTORY_DAYS:
            off = departure - statistics.median(history)
            if abs(off) >= max(DRIFT_Z * spread, DRIFT_MIN_SHARE):
                found.append((sensor_id, field, day, off / spread))
                continue
        history = [*history[-(DRIFT_HISTORY_DAYS - 1) :], departure]
    return found


# -- every detector, over a frame or the warehouse ----------------------------------------------


def _chunk(
    coded: _Coded, lo_ns: int, hi_ns: int, first_ns: int, last_ns: int, expected: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Gaps, stuck runs and spikes of the readings of [lo - margin, hi + margin) (first and last
    reading times ``first_ns``, ``last_ns``) clipped to [lo, hi), with the hourly levels of
    [lo, hi) left after stuck and spiky readings, for the drift detector."""
    stuck, stuck_rows = _stuck(coded)
    spikes, spike_rows = _spikes(coded)
    gaps = _gaps(coded, first_ns, last_ns, expected)
    hourly = _hourly(coded, ~(stuck_rows | spike_rows), lo_ns, hi_ns)
    found = pl.concat([_named(stuck, coded.names), _named(spikes, coded.names), _named(gaps, coded.names)])
    lo, hi = _timestamp(lo_ns), _timestamp(hi_ns)
    clipped = found.with_columns(pl.col("start").clip(lower_bound=lo), pl.col("end").clip(upper_bound=hi))
    return clipped.filter(pl.col("end") > pl.col("start")), hourly


def _timestamp(ns: int) -> pl.Expr:
    return pl.lit(ns, pl.Int64).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


def _merge(found: pl.DataFrame) -> pl.DataFrame:
    """Detections of one series and type that overlap or touch, merged (pieces cut at month
    ends, gaps of several fields); a gap scores its minutes, the others their highest score."""
    keys = ["sensor_id", "field", "fault"]
    if found.height == 0:
        return found.select(*keys, "start", "end", "score")
    reach = pl.col("end").cum_max().shift(1).over(keys)
    merged = (
        found.sort(*keys, "start")
        .with_columns(group=(pl.col("start") > reach).fill_null(True).cum_sum().over(keys))
        .group_by(*keys, "group")
        .agg(start=pl.col("start").min(), end=pl.col("end").max(), peak=pl.col("score").max())
    )
    length = (pl.col("end") - pl.col("start")).cast(pl.Int64) / MINUTE_NS
    if merged.schema["start"] != pl.Int64:
        length = (pl.col("end") - pl.col("start")).dt.total_nanoseconds() / MINUTE_NS
    return merged.select(
        *keys, "start", "end", score=pl.when(pl.col("fault") == "gap").then(length).otherwise("peak")
    )


def detect_readings(readings: pl.DataFrame, kinds: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every detector over an in-memory frame of canonical readings (``time, sensor_id, field,
    value``); ``kinds`` (``sensor_id, kind``, the sensors table) gives drift its peers."""
    coded = _code(readings)
    if coded.obs.height == 0:
        return empty_detections()
    first_ns, last_ns = int(coded.obs["t"].min()), int(coded.obs["t"].max())
    found, hourly = _chunk(coded, first_ns, last_ns + 1, first_ns, last_ns, ())
    return _sorted(pl.concat([_merge(found), detect_drift(hourly, kinds)]))


def detect(
    warehouse: Warehouse,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pl.DataFrame:
    """Every detection in the warehouse's readings over [``start``, ``end``) (UTC; default: all
    of them), clipped to it; read a month and a few sensors of one kind at a time, from
    DRIFT_HISTORY_DAYS before ``start`` (the drift detector's reference); ``progress(done,
    total)`` after each piece."""
    lo_ns = _epoch_ns(start) if start is not None else None
    hi_ns = _epoch_ns(end) if end is not None else None
    extent = _extent(warehouse, lo_ns, hi_ns)
    if extent is None:
        return empty_detections()
    first_ns, last_ns, names = extent
    # Detections are kept within [lo, hi); readings are read a margin beyond, as far as they go.
    lo_ns = first_ns if lo_ns is None else max(lo_ns, first_ns)
    end_ns = last_ns + MICROSECOND_NS
    hi_ns = end_ns if hi_ns is None else min(hi_ns, end_ns)
    if hi_ns <= lo_ns:
        return empty_detections()
    # The drift detector compares a day with the days before it: those are read too.
    scan_ns = max(first_ns, lo_ns - DRIFT_HISTORY_DAYS * DAY_NS)
    pieces = [(month, group) for month in _months(scan_ns, hi_ns) for group in _groups(names)]
    found, hourly = [], []
    for done, ((month_lo, month_hi), group) in enumerate(pieces, start=1):
        read_lo, read_hi = max(month_lo - MARGIN_NS, first_ns), min(month_hi + MARGIN_NS, end_ns)
        coded = _coded(_read(warehouse, group, read_lo, read_hi), group.select(list(_NAMES_SCHEMA)))
        expected = group["sensor_id"].unique().to_list()
        piece_found, piece_hourly = _chunk(
            coded, month_lo, month_hi, read_lo, min(read_hi - 1, last_ns), expected
        )
        found.append(piece_found)
        hourly.append(piece_hourly)
        del coded
        if progress is not None:
            progress(done, len(pieces))
    kinds = names.select("sensor_id", "kind")
    found = pl.concat([_merge(pl.concat(found)), detect_drift(pl.concat(hourly), kinds)])
    lo, hi = _timestamp(lo_ns), _timestamp(hi_ns)
    kept = found.filter(pl.col("end") > lo, pl.col("start") < hi)
    return _sorted(
        kept.with_columns(pl.col("start").clip(lower_bound=lo), pl.col("end").clip(upper_bound=hi))
    )


def _groups(names: pl.DataFrame) -> list[pl.DataFrame]:
    """The series read together: one kind of sensor at a time, in batches of whole sensors of
    about READ_SERIES series (a sensor's fields stay together: a gap is when all are silent)."""
    groups = []
    for kind in names.partition_by("kind", maintain_order=True):
        fields = kind.group_by("sensor_id", maintain_order=True).len()
        batch = (fields["len"].cum_sum() - 1) // READ_SERIES
        sensors = fields.select("sensor_id", batch=batch)
        groups += kind.join(sensors, on="sensor_id").partition_by(
            "batch", maintain_order=True, include_key=False
        )
    return groups


def _read(warehouse: Warehouse, names: pl.DataFrame, lo_ns: int, hi_ns: int) -> pl.DataFrame:
    """Finite readings (series, t, value) of the series in ``names`` over [lo, hi), unsorted:
    they are sorted in Polars on integers, cheaper than on names in the query."""
    return warehouse.sql(
        "SELECT k.series, epoch_ns(r.time) AS t, r.value FROM readings r JOIN ("
        "SELECT unnest(?::VARCHAR[]) AS sensor_id, unnest(?::VARCHAR[]) AS field, unnest(?::BIGINT[]) AS series"
        ") k ON r.sensor_id = k.sensor_id AND r.field = k.field "
        "WHERE r.time >= ? AND r.time < ? AND isfinite(r.value)",
        [
            names["sensor_id"].to_list(),
            names["field"].to_list(),
            names["series"].to_list(),
            _naive(lo_ns),
            _naive(hi_ns),
        ],
    )


def _extent(
    warehouse: Warehouse, lo_ns: int | None, hi_ns: int | None
) -> tuple[int, int, pl.DataFrame] | None:
    """The first and last reading times (ns) of the whole warehouse, and the series with readings
    within [lo, hi) (series, sensor_id, field, kind), from the hourly rollup kept at ingest."""
    where, params = ["TRUE"], []
    if lo_ns is not None:
        where.append("h.hour >= ?")
        params.append(_naive(lo_ns // HOUR_NS * HOUR_NS))
    if hi_ns is not None:
        where.append("h.hour < ?")
        params.append(_naive(hi_ns))
    series = warehouse.sql(
        "SELECT h.sensor_id, h.field, any_value(s.kind) AS kind "
        f"FROM readings_hourly h LEFT JOIN sensors s USING (sensor_id) WHERE {' AND '.join(where)} "
        "GROUP BY h.sensor_id, h.field ORDER BY h.sensor_id, h.field",
        params,
    )
    if series.height == 0:
        return None
    first_hour, last_hour = warehouse.sql(
        "SELECT min(hour) AS first_hour, max(hour) AS last_hour FROM readings_hourly"
    ).row(0)
    # Only the first and the last hour's readings are scanned (zone maps skip the rest).
    first, last = warehouse.sql(
        "SELECT epoch_ns(min(time)) AS first, epoch_ns(max(time)) AS last FROM readings "
        "WHERE (time >= ? AND time < ?) OR (time >= ? AND time < ?)",
        [
            _plain(first_hour),
            _plain(first_hour) + dt.timedelta(hours=1),
            _plain(last_hour),
            _plain(last_hour) + dt.timedelta(hours=1),
        ],
    ).row(0)
    if first is None:
        return None
    names = series.with_row_index("series").select(
        pl.col("series").cast(pl.Int64), "sensor_id", "field", pl.col("kind").fill_null("")
    )
    return int(first), int(last), names


def _plain(moment: dt.datetime) -> dt.datetime:
    """A datetime the warehouse gave back (UTC) as a query bound: naive UTC."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _naive(ns: int) -> dt.datetime:
    """A query bound: naive UTC (the warehouse's TIMESTAMP_NS), to the microsecond."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=ns // MICROSECOND_NS)


def _epoch_ns(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # inside the observatory, naive means UTC
    delta = value.astimezone(dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000


def _months(lo_ns: int, hi_ns: int) -> list[tuple[int, int]]:
    """[lo, hi) cut at the start of each UTC month."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=lo_ns // MICROSECOND_NS)
    moment = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    bounds = [lo_ns]
    while True:
        moment = (moment + dt.timedelta(days=32)).replace(day=1)
        cut = _epoch_ns(moment)
        if cut >= hi_ns:
            break
        bounds.append(cut)
    bounds.append(hi_ns)
    return list(zip(bounds[:-1], bounds[1:], strict=True))


# -- ground truth and score ---------------------------------------------------------------------


def read_truth(path: str | Path) -> pl.DataFrame:
    """The simulator's truth/faults.csv: ``sensor_id, field, fault, start, end`` (ISO UTC, end
    exclusive); DataFormatError naming the file, and the line, when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(
            f"no file {path}",
            parameter="--truth",
            hint="Give the truth/faults.csv that `observatory simulate --out FOLDER` wrote.",
        )
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as exc:
        raise DataFormatError(f"not a CSV file: {exc}", path=path) from exc
    missing = [c for c in TRUTH_COLUMNS if c not in raw.columns]
    if missing:
        raise DataFormatError(
            f"missing column(s) {', '.join(missing)}",
            path=path,
            line=1,
            hint=f"A faults.csv has the columns {', '.join(TRUTH_COLUMNS)}.",
        )
    times = [
        pl.col(c).str.to_datetime(time_unit="ns", time_zone="UTC", strict=False) for c in ("start", "end")
    ]
    truth = raw.select(*TRUTH_COLUMNS).with_columns(times)
    for line, (fault, start, end) in enumerate(truth.select("fault", "start", "end").iter_rows(), start=2):
        if fault not in FAULT_TYPES:
            raise DataFormatError(
                f"unknown fault {fault!r}", path=path, line=line, hint=f"Faults are {', '.join(FAULT_TYPES)}."
            )
        if start is None or end is None or end <= start:
            raise DataFormatError(
                "start and end must be ISO 8601 UTC times, end after start",
                path=path,
                line=line,
                hint="e.g. 2026-01-05T10:42:00Z",
            )
    return truth


def _matched(detections: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Pairs (detection row, truth row, fault) of the same type and sensor, and field except
    for gaps, whose intervals overlap."""
    found = detections.select("sensor_id", "field", "fault", "start", "end").with_row_index("detection")
    faults = truth.select("sensor_id", "field", "fault", "start", "end").with_row_index("truth")
    pairs = found.join(faults, on=["sensor_id", "fault"], suffix="_truth")
    same_field = (pl.col("fault") == "gap") | (pl.col("field") == pl.col("field_truth"))
    overlap = (pl.col("start") < pl.col("end_truth")) & (pl.col("start_truth") < pl.col("end"))
    return pairs.filter(same_field & overlap).select("detection", "truth", "fault")


def score(detections: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Event-level precision and recall per fault type (SCORE_SCHEMA): a truth fault is found
    when a detection of its type on its sensor (and field, except gaps) overlaps it in time; a
    detection is correct when it overlaps such a fault. Null when there is nothing to divide."""
    pairs = _matched(detections, truth)
    rows = []
    for fault in FAULT_TYPES:
        faults = truth.filter(pl.col("fault") == fault).height
        found = detections.filter(pl.col("fault") == fault).height
        of_type = pairs.filter(pl.col("fault") == fault)
        hits, correct = of_type["truth"].n_unique(), of_type["detection"].n_unique()
        rows.append(
            {
                "fault": fault,
                "faults": faults,
                "detections": found,
                "true_positives": hits,
                "correct_detections": correct,
                "precision": correct / found if found else None,
                "recall": hits / faults if faults else None,
            }
        )
    return pl.DataFrame(rows, schema=SCORE_SCHEMA)


def sensor_summary(detections: pl.DataFrame, sensors: pl.DataFrame | None = None) -> pl.DataFrame:
    """Per sensor: detections of each type (``gap, stuck, spike, drift``), their ``total`` and
    the minutes without a line (``gap_minutes``), most detections first; with ``sensors`` (the
    sensors table), each sensor's ``kind`` and ``insee``, and a zero row for a clean sensor."""
    counts = [(pl.col("fault") == fault).sum().cast(pl.Int64).alias(fault) for fault in FAULT_TYPES]
    minutes = (
        ((pl.col("end") - pl.col("start")).dt.total_seconds() / 60).filter(pl.col("fault") == "gap").sum()
    )
    summary = detections.group_by("sensor_id").agg(
        *counts, total=pl.len().cast(pl.Int64), gap_minutes=minutes
    )
    if sensors is not None:
        summary = (
            sensors.select("sensor_id", "kind", "insee")
            .join(summary, on="sensor_id", how="full", coalesce=True)
            .with_columns(pl.col(*FAULT_TYPES, "total").fill_null(0), pl.col("gap_minutes").fill_null(0.0))
        )
    return summary.sort(["total", "sensor_id"], descending=[True, False])
