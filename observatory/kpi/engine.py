"""The KPI engine: every KPI of the catalogue per commune and for the island, per day/month/year.

Each spec's SQL runs over views the engine prepares for one request, so that a formula is
written once for both kinds of place:

- ``places(insee, place, population, commune_population)``: each commune mapped to itself and to
  the island (place ``972``), with the population of the place (INSEE 2021, municipal);
- ``hourly``: the hourly rollup kept at ingest (``readings_hourly``) of the sensors that stand in a
  commune, restricted to the requested range: ``insee, commune_population, sensor_id, kind,
  measurement, field, hour`` (UTC), ``local_hour``, ``local_day`` and ``period_start``
  (America/Martinique calendar), ``n, total, minimum, maximum, mean``;
- ``h``: ``hourly`` joined with ``places`` (every row once for its commune, once for the island):
  ``place, population`` and the columns above but ``insee``;
- ``raw`` and ``m``: the same two over the raw readings (``time``, ``local_time``, ``value``), for
  the few formulas the hourly rollup cannot answer (interruptions);
- ``sensors_at(place, sensor_id, kind, measurement)`` and ``periods(period_start, period_end,
  hours)``: what is installed and how long each period lasts within the range;
- ``citizen_reports``: reports with ``place``, ``population``, ``period_start``.

Periods follow the local calendar (UTC−4, no daylight saving): a day is a Martinique day.

The views are views, not tables: each formula's filter on measurement and field reaches the scan
of the rollup (or of the raw readings, through the series dictionary), so that a KPI reads only its
own series, and the island's copy of a row is made only for the rows a formula keeps. A formula
that reads every series aggregates ``hourly`` per sensor first and joins ``places`` afterwards.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from observatory.errors import ParameterError, did_you_mean
from observatory.kpi.spec import GRAINS, KpiSpec, load_specs
from observatory.warehouse.store import Warehouse

ISLAND = "972"
LOCAL_OFFSET = dt.timedelta(hours=-4)  # America/Martinique: UTC−4 all year (no DST since 1980)
_OFFSET = "INTERVAL 4 HOUR"  # the same, for SQL: local time = UTC time - 4 h
# The columns ``h`` and ``m`` take from ``hourly`` and ``raw`` (all of them but ``insee``).
_HOURLY_COLUMNS = (
    "r.commune_population, r.sensor_id, r.kind, r.measurement, r.field, r.hour, r.local_hour, "
    "r.local_day, r.period_start, r.n, r.total, r.minimum, r.maximum, r.mean"
)
_RAW_COLUMNS = (
    "r.commune_population, r.sensor_id, r.kind, r.measurement, r.field, r.time, r.local_time, "
    "r.period_start, r.value"
)
RESULT_SCHEMA = {
    "kpi_id": pl.String,
    "place": pl.String,
    "period_start": pl.Date,
    "value": pl.Float64,
    "unit": pl.String,
    "status": pl.String,
}


@dataclass(frozen=True)
class Provenance:
    """Where a KPI's numbers come from: datasets, the query, the data's time span, the cost."""

    kpi_id: str
    datasets: tuple[str, ...]
    query: str
    data_start: dt.datetime | None
    data_end: dt.datetime | None
    seconds: float


def local_day_bounds(
    start: dt.date | str | None, end: dt.date | str | None
) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of local midnight at ``start`` and at ``end`` (exclusive), both local dates."""
    first = _date(start, "--from") if start is not None else dt.date(1970, 1, 1)
    last = _date(end, "--to") if end is not None else dt.date(2100, 1, 1)
    if last <= first:
        raise ParameterError(
            f"the range {first} .. {last} is empty",
            parameter="--to",
            hint="--to is exclusive and must follow --from.",
        )
    midnight = dt.time(0, 0)
    return (
        dt.datetime.combine(first, midnight) - LOCAL_OFFSET,
        dt.datetime.combine(last, midnight) - LOCAL_OFFSET,
    )


def _date(value: dt.date | str, parameter: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ParameterError(
            f"{value!r} is not a date", parameter=parameter, hint="Use YYYY-MM-DD (Martinique calendar)."
        ) from None


class KpiEngine:
    """Computes the catalogue's KPIs over one warehouse (opened read-only by the apps)."""

    def __init__(self, warehouse: Warehouse, specs: dict[str, KpiSpec] | None = None) -> None:
        self.warehouse = warehouse
        self.specs = specs if specs is not None else load_specs()
        self._prepared: tuple | None = None
        self._span: tuple[dt.datetime | None, dt.datetime | None] = (None, None)  # of the request's data, UTC
        self.provenance: dict[str, Provenance] = {}

    # -- parameters --------------------------------------------------------------------------

    def _kpi_ids(self, kpi_ids: Iterable[str] | None) -> list[str]:
        if kpi_ids is None:
            return list(self.specs)
        chosen = [kpi_ids] if isinstance(kpi_ids, str) else list(kpi_ids)
        for kpi in chosen:
            if not isinstance(kpi, str) or kpi not in self.specs:
                raise ParameterError(
                    f"unknown KPI {str(kpi)[:60]!r}",
                    parameter="--kpi",
                    hint=did_you_mean(kpi, list(self.specs)),
                )
        return chosen

    def _places(self, places: Sequence[str] | str | None) -> list[str] | None:
        if places is None:
            return None
        chosen = (
            [places]
            if isinstance(places, str)
            else list(places)
            if isinstance(places, Iterable)
            else [places]
        )
        known = [ISLAND, *self.warehouse.sql("SELECT insee FROM communes ORDER BY insee")["insee"].to_list()]
        for place in chosen:
            if not isinstance(place, str) or place not in known:
                raise ParameterError(
                    f"{str(place)[:60]!r} is neither an INSEE code of Martinique (97201-97234) nor {ISLAND} (the island)",
                    parameter="--commune",
                    hint=did_you_mean(place, known),
                )
        return chosen

    # -- views -------------------------------------------------------------------------------

    def _prepare(
        self, start: dt.datetime, end: dt.datetime, grain: str, previous: dt.datetime | None = None
    ) -> None:
        """(Re)build the request's temporary views and tables; kept while range and grain stay the same.

        With ``previous`` (grain ``range`` only) the tables also cover [previous, start), as a
        second period, so that a view compares the range with the one before it.
        """
        key = (start, end, grain, previous)
        if self._prepared == key:
            return
        con = self.warehouse.con
        population = con.execute("SELECT count(*), sum(population) FROM communes").fetchone()
        if not population[0]:
            raise ParameterError(
                "the warehouse has no communes",
                parameter="warehouse",
                hint="Run `observatory ingest` (it loads the communes) first.",
            )
        # Bounds are datetimes the engine built and grain one of GRAINS: nothing here is user text.
        first = previous or start
        lo, hi = _stamp(first), _stamp(end)

        def period(column: str) -> str:
            if grain != "range":
                return f"date_trunc('{grain}', {column} - {_OFFSET})::DATE"
            current = f"DATE '{(start + LOCAL_OFFSET).date()}'"
            if previous is None:
                return current
            before = f"DATE '{(previous + LOCAL_OFFSET).date()}'"
            return f"CASE WHEN {column} < TIMESTAMP '{_stamp(start)}' THEN {before} ELSE {current} END"

        statements = [
            f"""CREATE OR REPLACE TEMP TABLE places AS
                SELECT insee, insee AS place, population, population AS commune_population FROM communes
                UNION ALL
                SELECT insee, '{ISLAND}' AS place, {int(population[1])} AS population,
                       population AS commune_population FROM communes""",
            f"""CREATE OR REPLACE TEMP VIEW hourly AS
                SELECT c.insee, c.population AS commune_population, r.sensor_id, s.kind, r.measurement,
                       r.field, r.hour, r.hour - {_OFFSET} AS local_hour, (r.hour - {_OFFSET})::DATE AS local_day,
                       {period("r.hour")} AS period_start,
                       r.n, r.total, r.minimum, r.maximum, r.total / nullif(r.n, 0) AS mean
                FROM readings_hourly r JOIN sensors s USING (sensor_id) JOIN communes c ON c.insee = s.insee
                WHERE r.hour >= TIMESTAMP '{lo}' AND r.hour < TIMESTAMP '{hi}'""",
            f"""CREATE OR REPLACE TEMP VIEW h AS
                SELECT p.place, p.population, {_HOURLY_COLUMNS}
                FROM hourly r JOIN places p USING (insee)""",
            f"""CREATE OR REPLACE TEMP VIEW raw AS
                SELECT c.insee, c.population AS commune_population, r.sensor_id, s.kind, r.measurement,
                       r.field, r.time, r.time - {_OFFSET} AS local_time, {period("r.time")} AS period_start, r.value
                FROM readings r JOIN sensors s USING (sensor_id) JOIN communes c ON c.insee = s.insee
                WHERE r.time >= TIMESTAMP '{lo}' AND r.time < TIMESTAMP '{hi}'""",
            f"""CREATE OR REPLACE TEMP VIEW m AS
                SELECT p.place, p.population, {_RAW_COLUMNS}
                FROM raw r JOIN places p USING (insee)""",
            """CREATE OR REPLACE TEMP TABLE sensors_at AS
                SELECT DISTINCT p.place, s.sensor_id, s.kind, s.installed, sr.measurement
                FROM sensors s JOIN places p ON p.insee = s.insee LEFT JOIN series sr USING (sensor_id)""",
            f"""CREATE OR REPLACE TEMP TABLE periods AS
                WITH span AS (
                    SELECT greatest(min(hour), TIMESTAMP '{lo}') AS lo,
                           least(max(hour) + INTERVAL 1 HOUR, TIMESTAMP '{hi}') AS hi FROM hourly)
                SELECT {period("g")} AS period_start, min(g) AS period_first_hour,
                       max(g) + INTERVAL 1 HOUR AS period_end, count(*) AS hours
                FROM span, generate_series(span.lo, span.hi - INTERVAL 1 HOUR, INTERVAL 1 HOUR) AS t(g)
                GROUP BY 1""",
            f"""CREATE OR REPLACE TEMP VIEW citizen_reports AS
                SELECT p.place, p.population, r.report_id, r.category, r.status, r.time, r.resolved_time,
                       {period("r.time")} AS period_start
                FROM reports r JOIN places p ON p.insee = r.insee
                WHERE r.time >= TIMESTAMP '{lo}' AND r.time < TIMESTAMP '{hi}'""",
        ]
        for statement in statements:
            con.execute(statement)
        self._span = con.execute("SELECT min(hour), max(hour) + INTERVAL 1 HOUR FROM hourly").fetchone()
        self._prepared = key

    # -- computing ---------------------------------------------------------------------------

    def compute(
        self,
        kpi_ids: Iterable[str] | None = None,
        places: Sequence[str] | str | None = None,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        grain: str = "month",
        previous: bool = False,
    ) -> pl.DataFrame:
        """One row per KPI, place and period: ``kpi_id, place, period_start, value, unit, status``.

        ``start``/``end`` are local (Martinique) dates, ``end`` exclusive; ``places`` INSEE codes
        or ``972`` (default: every commune and the island); ``grain`` day, month, year, or
        ``range`` (the whole range as one period; with ``previous`` the range of the same length
        before it as a second period, for deltas).
        """
        grains = (*GRAINS, "range")
        if grain not in grains:
            raise ParameterError(
                f"grain {grain!r} is not one of {', '.join(grains)}",
                parameter="--grain",
                hint=did_you_mean(grain, grains),
            )
        if previous and grain != "range":
            raise ParameterError("previous needs grain 'range'", parameter="previous")
        ids = self._kpi_ids(kpi_ids)
        wanted = self._places(places)
        lo, hi = local_day_bounds(start, end)
        if grain == "range" and (start is None or end is None):
            lo, hi = self._data_bounds(lo, hi)
        try:
            before = lo - (hi - lo) if previous else None
        except OverflowError:  # the range before would start before year 1
            raise ParameterError(
                f"no range of {(hi - lo).days} days fits before {start}", parameter="--from"
            ) from None
        self._prepare(lo, hi, grain, before)
        frames = [self._one(self.specs[kpi], grain, wanted) for kpi in ids]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pl.DataFrame(schema=RESULT_SCHEMA)
        return pl.concat(frames).sort("kpi_id", "place", "period_start")

    def _data_bounds(self, lo: dt.datetime, hi: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """An open range closed on the data: local midnight before the first reading, after the last."""
        first, last = self.warehouse.con.execute(
            "SELECT min(hour), max(hour) FROM readings_hourly"
        ).fetchone()
        if first is None:
            return lo, hi
        local_first, local_last = (
            (first + LOCAL_OFFSET).date(),
            (last + LOCAL_OFFSET).date() + dt.timedelta(days=1),
        )
        bounded = local_day_bounds(local_first, local_last)
        return max(lo, bounded[0]), min(hi, bounded[1])

    def _one(self, spec: KpiSpec, grain: str, wanted: list[str] | None) -> pl.DataFrame:
        if grain != "range" and grain not in spec.grains:
            return pl.DataFrame(schema=RESULT_SCHEMA)
        began = time.perf_counter()
        if spec.sql is not None:
            frame = self.warehouse.sql(spec.sql)
            query = spec.sql.strip()
        else:
            from observatory.kpi.formulas import formula

            frame, query = formula(spec.python)(self)
        frame = frame.select(
            pl.col("place").cast(pl.String),
            pl.col("period_start").cast(pl.Date),
            pl.col("value").cast(pl.Float64),
        ).filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
        if "island" not in spec.places:
            frame = frame.filter(pl.col("place") != ISLAND)
        if "commune" not in spec.places:
            frame = frame.filter(pl.col("place") == ISLAND)
        if wanted is not None:
            frame = frame.filter(pl.col("place").is_in(wanted))
        frame = frame.with_columns(
            pl.lit(spec.id).alias("kpi_id"),
            pl.lit(spec.unit).alias("unit"),
            status_expression(spec).alias("status"),
        ).select(list(RESULT_SCHEMA))
        self.provenance[spec.id] = Provenance(
            spec.id, spec.datasets, query, *(_utc(v) for v in self._span), time.perf_counter() - began
        )
        return frame


def status_expression(spec: KpiSpec) -> pl.Expr:
    """``KpiSpec.status`` over a ``value`` column, vectorised."""
    value = pl.col("value")
    if spec.target is None and spec.alert is None:
        return pl.when(value.is_null()).then(pl.lit("no_data")).otherwise(pl.lit("no_target"))
    higher = spec.direction == "higher_is_better"
    alert = (
        (value <= spec.alert if higher else value >= spec.alert) if spec.alert is not None else pl.lit(False)
    )
    ok = (
        (value >= spec.target if higher else value <= spec.target)
        if spec.target is not None
        else pl.lit(False)
    )
    return (
        pl.when(value.is_null())
        .then(pl.lit("no_data"))
        .when(alert)
        .then(pl.lit("alert"))
        .when(ok)
        .then(pl.lit("ok"))
        .otherwise(pl.lit("watch"))
    )


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None
