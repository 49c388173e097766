"""Builders of the KPI dashboard: its state (kept in the URL), cached KPI frames, cards with
sparklines, the per-commune map, the sensors behind a KPI with datashaded raw readings, and
where every number comes from."""

from __future__ import annotations

import datetime as dt
import functools
import html
import re
import threading
from collections import OrderedDict
from pathlib import Path

import panel as pn
import param
import polars as pl

from observatory.config import settings
from observatory.errors import ServiceError
from observatory.i18n import t
from observatory.kpi.engine import ISLAND, KpiEngine, Provenance
from observatory.kpi.presets import (
    DEFAULT_PRESET,
    PRESETS,
    ResultStore,
    Span,
    cards_key,
    compute_key,
    data_span,
    grain_key,
    preset_range,
    trend_key,
    warehouse_version,
)
from observatory.kpi.spec import KpiSpec, load_specs
from observatory.warehouse.refresh import SourceStatus, last_attempts
from observatory.warehouse.store import WAREHOUSE_FILE, Warehouse

# Okabe & Ito (2008) colour-blind-safe colours for the statuses.
STATUS_COLOURS = {
    "ok": "#009E73",
    "watch": "#E69F00",
    "alert": "#D55E00",
    "no_target": "#56B4E9",
    "no_data": "#999999",
}
_CACHE_ENTRIES = 64
# One cache per warehouse file for the whole server: every visitor of the same range gets the
# frames the first one computed (sessions run on the server's one thread; the lock is for others).
_SHARED_CACHES: dict[Path, OrderedDict[tuple, tuple]] = {}
_SHARED_LOCK = threading.Lock()


# What the URL may set; anything else is refused by the parameter (ValueError), and Panel then
# keeps the default view for a hostile link.
PLACES = re.compile(r"972(?:0[1-9]|[12][0-9]|3[0-4])?")  # 972 (the island) or 97201-97234
DAYS = (dt.date(1970, 1, 1), dt.date(2100, 1, 1))  # the KPI engine's open range


class Code(param.String):
    """A place kept as text (the URL hands ``?commune=97209`` over as a number): 972 or an INSEE
    code of Martinique."""

    def __set__(self, obj, val):
        text = val if val is None or isinstance(val, str) else str(val)
        if text is not None and not PLACES.fullmatch(text):
            raise ValueError(f"{text[:40]!r} is neither 972 nor an INSEE code 97201-97234")
        super().__set__(obj, text)


class Day(param.String):
    """A local day as ISO text (2026-06-01) between 1970 and 2100, or '' (the preset decides)."""

    def __set__(self, obj, val):
        if val != "":
            try:
                day = dt.date.fromisoformat(val)
            except (TypeError, ValueError):
                raise ValueError(f"{str(val)[:40]!r} is not a day such as 2026-06-01") from None
            if not DAYS[0] <= day <= DAYS[1]:
                raise ValueError(f"{val} is outside {DAYS[0]} .. {DAYS[1]}")
        super().__set__(obj, val)


class KpiState(param.Parameterized):
    """What the KPI dashboard shows; every field lives in the page URL."""

    kpi = param.String(default="elec_use_per_capita")
    place = Code(default=ISLAND)  # INSEE code, or 972 for the island
    preset = param.Selector(objects=[*PRESETS, "custom"], default=DEFAULT_PRESET)
    start = Day(default="")  # first local day, YYYY-MM-DD ('' until the preset sets it)
    end = Day(default="")  # local day after the last one
    grain = param.Selector(objects=["day", "month", "year"], default="day")
    version = param.Integer(default=0)  # bumped when new data arrive (not in the URL)

    URL_KEYS = {
        "kpi": "kpi",
        "place": "commune",
        "preset": "range",
        "start": "from",
        "end": "to",
        "grain": "grain",
    }

    def sync_url(self) -> KpiState:
        """Take the view a link names, and let ``push_url`` write the state into the page URL.

        The URL is synced with a twin of the state that ``push_url`` updates: the dashboard calls
        it after every other part of a change (updating the URL in the same message as the new
        cards made each click ~50 ms slower in Chromium: from the list, p50 196 against 147 ms).
        """
        location = pn.state.location
        if location is None:
            return self
        fields = list(self.URL_KEYS)
        self._url = KpiState()  # what the URL says (values it refuses leave their defaults)
        location.sync(self._url, self.URL_KEYS)
        self.param.update(**{name: getattr(self._url, name) for name in fields})

        def from_url(*events) -> None:  # the browser's back and forward buttons
            self.param.update(**{event.name: event.new for event in events})

        self._url.param.watch(from_url, fields)
        return self

    def push_url(self) -> None:
        """Write the state into the page URL (when ``sync_url`` linked one)."""
        url = getattr(self, "_url", None)
        if url is not None:
            url.param.update(**{name: getattr(self, name) for name in self.URL_KEYS})


class KpiData:
    """KPI frames for the dashboard, looked up in this order: the server's memory (one cache per
    warehouse for every session), the results precomputed for the range presets
    (:mod:`observatory.kpi.presets`), else computed; always for the warehouse's current version.

    The warehouse is opened read-only for each computation and closed at once, so that ingest
    (which needs the file for writing) is never blocked by an open dashboard.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else settings().data_dir / WAREHOUSE_FILE
        self.specs: dict[str, KpiSpec] = load_specs()
        self.results = ResultStore(self.path)
        with _SHARED_LOCK:
            self._cache: OrderedDict[tuple, tuple] = _SHARED_CACHES.setdefault(self.path, OrderedDict())
        self.provenance: dict[str, Provenance] = {}  # of the frames this session showed last
        self.stale = False  # the last refresh could not read the warehouse: older data shown
        self._seen = self.version()

    def changed(self) -> bool:
        """True once after each change of the warehouse file (for the auto-refresh)."""
        now = self.version()
        if now != self._seen:
            self._seen = now
            return True
        return False

    def version(self) -> str:
        """Changes when the warehouse file changes (new ingest)."""
        return warehouse_version(self.path)

    def _cached(self, key: tuple, compute, stored=None):
        """``key``'s value and the provenance of its KPIs: from memory, from ``stored(version)``
        (the precomputed results), else ``compute()``."""
        version = self.version()
        full = (*key, version)
        with _SHARED_LOCK:
            found = self._cache.get(full)
            if found is not None:
                self._cache.move_to_end(full)
        if found is None and stored is not None:
            found = stored(version)
        if found is None:
            try:
                found = compute()
            except ServiceError:
                # The file is held by a writer (ingest running) or gone: keep showing what we had.
                with _SHARED_LOCK:
                    older = [v for k, v in reversed(self._cache.items()) if k[:-1] == key]
                if not older:
                    raise
                self.stale = True
                found = older[0]
                self.provenance.update(found[1])
                return found[0]
        self.stale = False
        with _SHARED_LOCK:
            self._cache[full] = found
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        self.provenance.update(found[1])
        return found[0]

    def _with_engine(self, work) -> tuple[object, dict[str, Provenance]]:
        with Warehouse.open(self.path, read_only=True) as warehouse:
            engine = KpiEngine(warehouse, self.specs)
            return work(engine), dict(engine.provenance)

    def _frame(self, key: tuple[str, ...]) -> pl.DataFrame:
        return self._cached(
            key,
            lambda: self._with_engine(lambda engine: compute_key(engine, key)),
            lambda version: self.results.get(version, key),
        )

    def freshness(self) -> dict[str, SourceStatus]:
        """Each live source's last refresh attempt (observatory refresh): ok, error, last success (UTC)."""

        def compute() -> tuple[dict[str, SourceStatus], dict]:
            with Warehouse.open(self.path, read_only=True) as warehouse:
                return last_attempts(warehouse), {}

        return self._cached(("freshness",), compute)

    def span(self) -> Span:
        def stored(version: str) -> tuple[Span, dict] | None:
            span = self.results.span(version)
            return (span, {}) if span is not None else None

        return self._cached(("span",), lambda: self._with_engine(lambda e: data_span(e.warehouse)), stored)

    def cards(self, start: str, end: str) -> pl.DataFrame:
        """Every KPI for every place over [start, end) and over the range of the same length before."""
        return self._frame(cards_key(start, end))

    def trend(self, start: str, end: str) -> pl.DataFrame:
        """Every KPI for every place, per day (per month beyond DAILY_TREND_MAX_DAYS days)."""
        return self._frame(trend_key(start, end))

    def table(self, start: str, end: str, place: str, grain: str) -> pl.DataFrame:
        """The rows `observatory kpi --commune PLACE --from START --to END --grain GRAIN` prints
        (computed for every place at once and cached, so that picking a commune costs nothing)."""
        return self._frame(grain_key(start, end, grain)).filter(place_filter(place))

    def sensors(self, spec: KpiSpec, place: str) -> pl.DataFrame:
        """The sensors a KPI reads in ``place``: sensor_id, kind, commune, field, unit."""
        pairs = [
            d.split(":", 1)[1]
            for d in spec.datasets
            if d.startswith(("readings_hourly:", "readings:")) and "." in d
        ]
        measurements = sorted({p.split(".", 1)[0] for p in pairs})
        fields = sorted({p.split(".", 1)[1] for p in pairs})
        if not measurements:
            return pl.DataFrame(schema=SENSOR_COLUMNS)

        every = self._cached(("sensor_fields",), lambda: self._with_engine(_sensor_fields))
        return (
            every.filter(
                pl.col("measurement").is_in(measurements)
                & pl.col("field").is_in(fields)
                & ((pl.lit(place) == ISLAND) | (pl.col("insee") == place))
            )
            .select(list(SENSOR_COLUMNS))
            .unique()
            .sort("sensor_id", "field")
        )

    def raw(self, sensor_id: str, field: str, start: str, end: str) -> pl.DataFrame:
        """Every reading of one sensor's field in the range (times UTC)."""
        lo, hi = local_bounds(start, end)
        return self._cached(
            ("raw", sensor_id, field, start, end),
            lambda: self._with_engine(
                lambda e: e.warehouse.readings(sensor_ids=[sensor_id], fields=[field], start=lo, end=hi)
            ),
        )


def _sensor_fields(engine: KpiEngine) -> pl.DataFrame:
    """Every sensor with each of its measurements and fields (one query, filtered per KPI and place)."""
    return engine.warehouse.sql(
        "SELECT DISTINCT s.sensor_id, s.kind, s.insee, sr.measurement, h.field, s.unit FROM sensors s "
        "JOIN series sr USING (sensor_id) JOIN (SELECT DISTINCT sensor_id, field FROM latest) h USING (sensor_id)"
    )


SENSOR_COLUMNS = {
    "sensor_id": pl.String,
    "kind": pl.String,
    "insee": pl.String,
    "field": pl.String,
    "unit": pl.String,
}


def place_filter(place: str) -> pl.Expr:
    return pl.col("place") == place


def kpi_filter(kpi_id: str) -> pl.Expr:
    return pl.col("kpi_id") == kpi_id


def period_filter(day: dt.date) -> pl.Expr:
    return pl.col("period_start") == day


def local_bounds(start: str, end: str) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants of the local midnights that bound the days [start, end)."""
    from observatory.kpi.engine import local_day_bounds

    lo, hi = local_day_bounds(start, end)
    return lo.replace(tzinfo=dt.UTC), hi.replace(tzinfo=dt.UTC)


def range_of(state: KpiState, span: Span) -> tuple[str, str]:
    """The state's dates when both are valid (a shared link), else those of its preset."""
    try:
        if (
            state.start
            and state.end
            and dt.date.fromisoformat(state.start) < dt.date.fromisoformat(state.end)
        ):
            return state.start, state.end
    except ValueError:
        pass
    return preset_range(state.preset if state.preset in PRESETS else DEFAULT_PRESET, span)


# -- formatting -------------------------------------------------------------------------------


def format_value(value: float | None, language: str) -> str:
    """A KPI value with 3 significant figures, in the language's number style."""
    if value is None:
        return "–"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    text = f"{value:,.{digits}f}"
    if language in ("fr", "es", "de"):
        thousands = "\u202f" if language == "fr" else "."
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", thousands)
    return text


def sparkline_svg(values: list[float], colour: str, width: int = 140, height: int = 34) -> str:
    """An inline SVG polyline of ``values`` (no plotting library: cards stay instant)."""
    points = [v for v in values if v is not None]
    if len(points) < 2:
        return f"<svg width='{width}' height='{height}' class='sparkline'></svg>"
    lo, hi = min(points), max(points)
    span = (hi - lo) or 1.0
    step = (width - 4) / (len(values) - 1)
    coords = " ".join(
        f"{2 + i * step:.1f},{height - 3 - (v - lo) / span * (height - 6):.1f}"
        for i, v in enumerate(values)
        if v is not None
    )
    return (
        f"<svg width='{width}' height='{height}' class='sparkline' role='img'>"
        f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{coords}'/></svg>"
    )


def card_html(
    spec: KpiSpec,
    value: float | None,
    previous: float | None,
    status: str,
    trend: list[float],
    language: str,
    selected: bool,
) -> str:
    """One KPI card: title, value and unit, status against target, delta vs the previous period."""
    colour = STATUS_COLOURS.get(status, STATUS_COLOURS["no_data"])
    delta = ""
    if value is not None and previous is not None:
        change = value - previous
        arrow = "▲" if change > 0 else "▼" if change < 0 else "="
        delta = f"<div class='kpi-delta'>{arrow} {format_value(abs(change), language)} {t('kpi_vs_previous', language)}</div>"
    target = ""
    if spec.target is not None:
        target = f"<div class='kpi-target'>{t('kpi_target', language)} : {format_value(spec.target, language)} {html.escape(spec.unit)}</div>"
    return (
        f"<div class='kpi-card{' selected' if selected else ''}' data-kpi='{spec.id}' data-status='{status}' "
        f"style='border-left:6px solid {colour}'>"
        f"<div class='kpi-title'>{html.escape(spec.title[language])}</div>"
        f"<div class='kpi-value'><span class='value'>{format_value(value, language)}</span> "
        f"<span class='unit'>{html.escape(spec.unit)}</span></div>"
        f"<div class='kpi-status' style='color:{colour}'>● {t('kpi_status_' + status, language)}</div>"
        f"{delta}{target}{sparkline_svg(trend, colour)}</div>"
    )


def cards_view_html(data: KpiData, place: str, kpi: str, start: str, end: str, language: str) -> str:
    """Every KPI's card for ``place`` over [start, end), grouped by domain; what the cards show is
    also written as attributes of the view (browser tests and the latency benchmark wait on them)."""
    cards = data.cards(start, end).filter(place_filter(place))
    current = dt.date.fromisoformat(start)
    now = {row["kpi_id"]: row for row in cards.filter(period_filter(current)).iter_rows(named=True)}
    before = dict(cards.filter(~period_filter(current)).select("kpi_id", "value").iter_rows())
    trend = dict(
        data.trend(start, end)
        .filter(place_filter(place))
        .sort("kpi_id", "period_start")
        .group_by("kpi_id", maintain_order=True)
        .agg("value")
        .iter_rows()
    )
    sections = []
    for domain, specs in domain_of(data.specs).items():
        items = []
        for spec in specs:
            current_row = now.get(spec.id)
            items.append(
                card_html(
                    spec,
                    current_row["value"] if current_row else None,
                    before.get(spec.id),
                    current_row["status"] if current_row else "no_data",
                    trend.get(spec.id, []),
                    language,
                    spec.id == kpi,
                )
            )
        sections.append(
            f"<h3 class='kpi-domain'>{t('kpi_domain_' + domain, language)}</h3>"
            f"<div style='display:flex;flex-wrap:wrap'>{''.join(items)}</div>"
        )
    shown = (
        f"data-place='{place}' data-start='{start}' data-end='{end}' data-kpi='{html.escape(kpi, quote=True)}' "
        f"data-lang='{language}'"
    )
    return f"<div class='kpi-view' {shown}>{''.join(sections)}</div>"


def shown_html(tag: str, text: str, css_class: str = "", **shown: str) -> str:
    """``<tag class='css_class' data-key='value' ...>text</tag>``: what a part of the page shows,
    as attributes that browser tests and the latency benchmark wait on."""
    attributes = " ".join(f"data-{key}='{html.escape(value, quote=True)}'" for key, value in shown.items())
    return f"<{tag} class='{css_class}' {attributes}>{html.escape(text)}</{tag}>"


def table_html(frame: pl.DataFrame, language: str, max_height_rem: float = 20.0) -> str:
    """``frame`` as a plain HTML table in a scrolling box (columns as in the CSV download; numbers
    in the language's style); each cell names its column (``data-field``)."""
    names = frame.columns
    head = "".join(f"<th>{html.escape(name)}</th>" for name in names)
    rows = []
    for row in frame.iter_rows():
        cells = []
        for name, value in zip(names, row, strict=True):
            text = (
                format_value(value, language)
                if isinstance(value, float)
                else ""
                if value is None
                else str(value)
            )
            cells.append(f"<td data-field='{html.escape(name, quote=True)}'>{html.escape(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<div class='data-table' style='max-height:{max_height_rem}rem'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def range_text(start: str, end: str, language: str) -> str:
    """The local days [start, end) as the page shows them: from the first day to the last."""
    last = dt.date.fromisoformat(end) - dt.timedelta(days=1)
    return t("kpi_period", language, first=start, last=last.isoformat())


# Cards in a responsive grid, one per domain under its heading: 2 columns on a 390 px phone, 5-6 on
# a 1280 px laptop or projector; sizes in rem so that the browser's font setting scales them.
# The app wraps each domain's cards in a flex row with an inline style: the grid overrides it.
CARD_CSS = """
.kpi-view {font-family:system-ui,sans-serif}
.kpi-view .kpi-domain {font-size:1.05rem;font-weight:700;color:#333;margin:1rem 0 0.4rem;
  padding-bottom:0.2rem;border-bottom:1px solid #ccc}
.kpi-view .kpi-domain + div {display:grid !important;gap:0.5rem;
  grid-template-columns:repeat(auto-fill,minmax(12.5rem,1fr))}
.data-table {overflow:auto;font-family:system-ui,sans-serif;font-size:0.85rem}
.data-table table {border-collapse:collapse;width:100%}
.data-table th {position:sticky;top:0;background:#f2f2f2;text-align:left}
.data-table :is(th, td) {padding:0.2rem 0.5rem;border-bottom:1px solid #ddd;white-space:nowrap}
.kpi-map-title {font-family:system-ui,sans-serif;font-size:0.95rem;font-weight:600;margin:0.3rem 0}
.kpi-card {background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.2);padding:0.5rem 0.6rem;
  min-width:0;margin:0;box-sizing:border-box;font-family:system-ui,sans-serif;cursor:pointer;
  overflow-wrap:break-word}
.kpi-card.selected {outline:3px solid #0072B2}
.kpi-card .kpi-title {font-size:0.85rem;font-weight:600;line-height:1.2;min-height:2.1rem}
.kpi-card .kpi-value {margin:0.2rem 0}
.kpi-card .kpi-value .value {font-size:1.5rem;font-weight:700}
.kpi-card .kpi-value .unit {font-size:0.8rem;color:#444}
.kpi-card :is(.kpi-status, .kpi-delta, .kpi-target) {font-size:0.8rem;line-height:1.3}
.kpi-card .sparkline {display:block;max-width:100%;margin-top:0.2rem}
@media (max-width:600px) {
  .kpi-view .kpi-domain + div {grid-template-columns:repeat(auto-fill,minmax(10rem,1fr))}
  .kpi-view .kpi-domain {font-size:1rem;margin-top:0.75rem}
  .kpi-card .kpi-title {font-size:0.8rem;min-height:0}
  .kpi-card .kpi-value .value {font-size:1.25rem}
}
"""


def domain_of(specs: dict[str, KpiSpec]) -> dict[str, list[KpiSpec]]:
    grouped: dict[str, list[KpiSpec]] = {}
    for spec in specs.values():
        grouped.setdefault(spec.domain, []).append(spec)
    return grouped


# -- map and drill-down -------------------------------------------------------------------------


def commune_values(spec: KpiSpec, cards: pl.DataFrame, start: str) -> pl.DataFrame:
    """insee, value, status of ``spec`` per commune over the current range."""
    current = dt.date.fromisoformat(start)
    return cards.filter(
        (pl.col("kpi_id") == spec.id) & (pl.col("place") != ISLAND) & (pl.col("period_start") == current)
    ).select(pl.col("place").alias("insee"), "value", "status")


class KpiMap:
    """Choropleth of one KPI per commune, drawn with Bokeh: grey where a commune has no value, the
    value and its status on hover, a tap on a commune calls ``on_tap(insee)``.

    ``show`` changes the KPI or the values in the same figure: only the value and status columns,
    the colour range and the title travel to the browser (the communes' outlines, 5,700 vertices,
    are sent once).
    """

    def __init__(self, language: str, width: int = 560, height: int = 520, on_tap=None) -> None:
        from bokeh.models import ColorBar, ColumnDataSource, HoverTool, LinearColorMapper, TapTool
        from bokeh.palettes import Cividis256
        from bokeh.plotting import figure

        self.language = language
        shapes = _commune_shapes()
        self.order = shapes["insee"]
        empty = [float("nan")] * len(self.order)
        self.source = ColumnDataSource({**shapes, "value": empty, "status_text": ["–"] * len(self.order)})
        self.mapper = LinearColorMapper(palette=Cividis256, nan_color=STATUS_COLOURS["no_data"])
        self.figure = figure(
            width=width,
            height=height,
            match_aspect=True,
            x_axis_type=None,
            y_axis_type=None,
            tools="pan,wheel_zoom,reset",
            active_scroll="wheel_zoom",
            toolbar_location="above",
        )
        self.figure.grid.visible = False
        self.figure.outline_line_color = None
        self.figure.multi_polygons(
            "xs",
            "ys",
            source=self.source,
            fill_color={"field": "value", "transform": self.mapper},
            line_color="white",
            line_width=0.8,
            selection_line_color="#0072B2",
            selection_line_width=3,
            nonselection_fill_alpha=1.0,
        )
        self.figure.add_layout(ColorBar(color_mapper=self.mapper, width=14), "right")
        self.figure.add_tools(
            HoverTool(
                tooltips=[
                    (t("commune", language), "@name"),
                    (t("insee_code", language), "@insee"),
                    (t("kpi_value", language), "@value{0,0.00}"),
                    (t("kpi_status", language), "@status_text"),
                ]
            ),
            TapTool(),
        )
        if on_tap is not None:
            self.source.selected.on_change(
                "indices", lambda _attr, _old, new: on_tap(self.order[new[0]]) if new else None
            )

    def show(self, spec: KpiSpec, values: pl.DataFrame) -> KpiMap:
        """Draw ``values`` (insee, value, status) of ``spec``; communes missing from it turn grey."""
        from bokeh.palettes import Cividis256

        by_insee = {row["insee"]: row for row in values.iter_rows(named=True)}
        shown = [by_insee.get(insee) for insee in self.order]
        numbers = [row["value"] if row and row["value"] is not None else float("nan") for row in shown]
        finite = [v for v in numbers if v == v]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
        if low == high:
            low, high = low - 0.5, high + 0.5  # one value (or one commune): a mid colour, not an error
        palette = list(reversed(Cividis256)) if spec.direction == "lower_is_better" else Cividis256
        self.mapper.update(palette=palette, low=low, high=high)
        self.source.data.update(
            value=numbers,
            status_text=[t(f"kpi_status_{row['status']}", self.language) if row else "–" for row in shown],
        )
        return self

    def title(self, spec: KpiSpec) -> str:
        """What the map shows: the KPI and its unit (the dashboard writes it above the map in
        HTML; a new title inside the figure made the browser lay the figure out again)."""
        return f"{spec.title[self.language]} ({spec.unit})"


def kpi_map(spec: KpiSpec, values: pl.DataFrame, language: str, width: int = 560, height: int = 520):
    """The dashboard's choropleth of ``spec`` per commune (a Bokeh figure, for a notebook)."""
    drawn = KpiMap(language, width, height).show(spec, values)
    drawn.figure.title.text = drawn.title(spec)
    return drawn.figure


@functools.cache
def _commune_shapes() -> dict[str, list]:
    """insee, name and outlines (xs, ys as Bokeh's multi_polygons take them) of the communes, in
    Web Mercator: projected once per process."""
    from observatory.territory.communes import communes

    frame = communes()[["insee", "name", "geometry"]].to_crs(3857)
    xs, ys = [], []
    for geometry in frame.geometry:
        parts = list(getattr(geometry, "geoms", [geometry]))
        xs.append([[list(ring.xy[0]) for ring in (p.exterior, *p.interiors)] for p in parts])
        ys.append([[list(ring.xy[1]) for ring in (p.exterior, *p.interiors)] for p in parts])
    return {"insee": list(frame["insee"]), "name": list(frame["name"]), "xs": xs, "ys": ys}


def raw_plot(frame: pl.DataFrame, label: str, width: int = 900, height: int = 300):
    """Raw readings drawn by Datashader (re-aggregated on zoom by the server), local time on x."""
    import holoviews as hv
    from holoviews.operation.datashader import dynspread, rasterize

    local = frame.select(
        (pl.col("time").dt.convert_time_zone("America/Martinique").dt.replace_time_zone(None)).alias("time"),
        "value",
    ).to_pandas()
    curve = hv.Curve(local, "time", hv.Dimension("value", label=label))
    return dynspread(rasterize(curve, line_width=1, pixel_ratio=1)).opts(
        cmap=["#0072B2"], width=width, height=height, colorbar=False, tools=["hover"], xlabel="", ylabel=label
    )


def provenance_markdown(provenance: Provenance | None, spec: KpiSpec, language: str) -> str:
    """Where the number comes from: datasets, time span of the data (local time), the query."""
    datasets = ", ".join(f"`{d}`" for d in spec.datasets)
    lines = [f"**{t('kpi_sources', language)}** : {datasets}"]
    if spec.reference:
        lines.append(f"**{t('kpi_reference', language)}** : {spec.reference}")
    if spec.target_source:
        lines.append(f"**{t('kpi_target', language)}** : {spec.target_source}")
    if provenance is not None and provenance.data_end is not None:
        local = dt.timedelta(hours=-4)
        lines.append(
            f"**{t('kpi_data_span', language)}** : {(provenance.data_start + local):%Y-%m-%d %H:%M} → "
            f"{(provenance.data_end + local):%Y-%m-%d %H:%M} ({t('local_time', language)})"
        )
    query = provenance.query if provenance is not None else (spec.sql or spec.python or "")
    return "\n\n".join(lines) + f"\n\n```sql\n{query}\n```"


# -- the stale banner ---------------------------------------------------------------------------

SOURCE_NAMES = {"influxdb": "InfluxDB", "postgis": "PostGIS"}
LOCAL_ZONE = "America/Martinique"
STALE_BANNER_STYLE = (
    "background:#FFF4E0;border-left:6px solid #D55E00;padding:6px 10px;margin:4px 0;"
    "font-family:system-ui,sans-serif;font-size:14px"
)


def stale_banner_html(
    statuses: dict[str, SourceStatus], language: str, now: dt.datetime | None = None
) -> str:
    """One banner per source whose last refresh failed: since when the data are not refreshed
    (Martinique time; the date too when not today) and which source; '' when every source is fresh."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(LOCAL_ZONE)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(zone).date()
    banners = []
    for status in statuses.values():
        if status.ok:
            continue
        key = "stale_unreachable" if status.unreachable else "stale_failed"
        reason = t(key, language, source=SOURCE_NAMES.get(status.source, status.source))
        since = ""
        if status.succeeded_at is None:
            text = t("stale_banner_never", language, reason=reason)
        else:
            local = status.succeeded_at.astimezone(zone)
            shown = f"{local:%H:%M}" if local.date() == today else f"{local:%Y-%m-%d %H:%M}"
            text = t("stale_banner", language, time=shown, reason=reason)
            since = f" data-since='{status.succeeded_at:%Y-%m-%dT%H:%M:%SZ}'"
        banners.append(
            f"<div class='stale-banner' data-source='{html.escape(status.source, quote=True)}'{since} "
            f"role='status' title='{html.escape(status.error or '', quote=True)}' "
            f"style='{STALE_BANNER_STYLE}'>⚠ {html.escape(text)}</div>"
        )
    return "".join(banners)
