"""Territory KPIs for the collectivités: cards against targets, the map per commune, the sensors
behind a KPI with their raw readings, CSV downloads; every choice kept in the URL."""

from __future__ import annotations

import datetime as dt
import html
import io

import panel as pn

from observatory.i18n import t
from observatory.kpi.engine import ISLAND
from observatory.territory.communes import communes
from observatory.views import kpi as views
from observatory.views.layout import header_row, language_selector

pn.extension("tabulator", inline=False, raw_css=[views.CARD_CSS])
REFRESH_MS = 15_000  # how often the app looks for newly ingested data
# What each part of the page shows, by the state fields that change it. The cards come first and
# at once; the other parts follow in later turns of the server's loop, in this order.
PARTS = {
    "map": {"kpi", "start", "end", "version"},
    "detail": {"kpi", "place", "start", "end", "grain", "version"},
    "sensors": {"kpi", "place", "start", "end", "version"},
    "freshness": {"version"},
    "url": {"kpi", "place", "preset", "start", "end", "grain"},  # last: the browser's history
}
NO_SENSOR = ""  # the sensor chooser's first entry: no raw readings drawn until one is picked


def _place_options(lang: str) -> dict[str, str]:
    frame = communes()
    return {
        f"{t('island', lang)} (972)": ISLAND,
        **{f"{name} ({insee})": insee for insee, name in zip(frame["insee"], frame["name"], strict=True)},
    }


def _controls(state: views.KpiState, data: views.KpiData, lang: str) -> pn.FlexBox:
    place = pn.widgets.Select.from_param(
        state.param.place,
        name=t("commune", lang),
        options=_place_options(lang),
        width=260,
        css_classes=["place-selector"],
    )
    preset = pn.widgets.RadioButtonGroup.from_param(
        state.param.preset,
        name=t("kpi_range", lang),
        options={t(f"kpi_preset_{p}", lang): p for p in state.param.preset.objects},
        button_type="primary",
        button_style="outline",
        css_classes=["range-presets"],
    )
    kpi = pn.widgets.Select.from_param(
        state.param.kpi,
        name=t("kpi_indicator", lang),
        options={spec.title[lang]: spec.id for spec in data.specs.values()},
        width=340,
        css_classes=["kpi-selector"],
    )
    span = data.span()
    dates = pn.widgets.DateRangePicker(
        name=t("kpi_dates", lang),
        start=span.start - dt.timedelta(days=366),
        end=span.end,
        width=240,
        css_classes=["date-range"],
    )

    def show_dates(*_):
        if state.start and state.end and (state.start, state.end) == views.range_of(state, data.span()):
            shown = (
                dt.date.fromisoformat(state.start),
                dt.date.fromisoformat(state.end) - dt.timedelta(days=1),
            )
            # a link's dates beyond the picker's bounds are shown by the cards alone
            if dates.value != shown and dates.start <= shown[0] and shown[1] <= dates.end:
                dates.value = shown

    def picked(event):
        if event.new is None:
            return
        first, last = event.new
        start, end = first.isoformat(), (last + dt.timedelta(days=1)).isoformat()
        if (start, end) != (state.start, state.end):
            state.param.update(preset="custom", start=start, end=end)

    def preset_picked(event):
        if event.new in views.PRESETS:
            start, end = views.preset_range(event.new, data.span())
            state.param.update(start=start, end=end)

    show_dates()
    state.param.watch(show_dates, ["start", "end"])
    dates.param.watch(picked, "value")
    state.param.watch(preset_picked, "preset")
    # a FlexBox wraps onto a second line on a narrow screen (a Row made phones scroll sideways)
    return pn.FlexBox(
        place,
        kpi,
        pn.Column(pn.pane.HTML(f"<label>{t('kpi_range', lang)}</label>"), preset),
        dates,
        flex_wrap="wrap",
        sizing_mode="stretch_width",
    )


class Dashboard:
    """The page's parts for one language, built once and updated in place.

    A click changes the state; the cards (a few kB of HTML) are redrawn in the same turn of the
    server's loop, and reach the browser first; the map (new values in the same figure), the table
    and the sensors follow, one part per later turn, only those the change concerns. Raw readings
    are read and drawn only for a sensor the user picks.
    """

    def __init__(self, state: views.KpiState, data: views.KpiData, lang: str) -> None:
        self.state, self.data, self.lang = state, data, lang
        self.freshness = pn.pane.HTML(sizing_mode="stretch_width")
        self.cards = pn.pane.HTML(sizing_mode="stretch_width", css_classes=["kpi-cards"])
        self.choropleth = views.KpiMap(lang, on_tap=self._tapped)
        self.map = pn.pane.Bokeh(self.choropleth.figure)
        # the map joins the page at its first drawing, after the cards
        self.map_place = pn.Column(css_classes=["kpi-map"])
        self.map_caption = pn.pane.HTML(css_classes=["kpi-map-caption"])
        self.description = pn.pane.HTML(css_classes=["kpi-description"], sizing_mode="stretch_width")
        # plain HTML tables: re-rendering two Tabulators took ~110 ms of an indicator click in Chromium
        self.table = pn.pane.HTML(css_classes=["kpi-table"], sizing_mode="stretch_width")
        self.download = pn.widgets.FileDownload(
            callback=self._csv,
            label=t("download_csv", lang),
            button_type="primary",
            css_classes=["csv-download"],
        )
        self.provenance = pn.pane.Markdown()
        self.sensor_table = pn.pane.HTML(css_classes=["sensor-table"], sizing_mode="stretch_width")
        self.chooser = pn.widgets.Select(
            name=t("kpi_sensor", lang), width=360, css_classes=["sensor-selector"]
        )
        self.chooser.param.watch(lambda _: self._draw_raw(), "value")
        self.raw = pn.Column(sizing_mode="stretch_width", css_classes=["raw-readings"])
        self.sensor_note = pn.pane.Markdown()
        self._pending: set[str] = set()
        self._scheduled = False
        self._watcher = state.param.watch(
            self._changed, ["place", "preset", "start", "end", "kpi", "grain", "version"]
        )

    def close(self) -> None:
        """Stop following the state (the page switched language: another dashboard took over)."""
        self.state.param.unwatch(self._watcher)
        self._pending.clear()

    # -- what a change redraws --------------------------------------------------------------

    def _range(self) -> tuple[str, str]:
        return views.range_of(self.state, self.data.span())

    def _changed(self, *events) -> None:
        changed = {event.name for event in events}
        if changed & {"place", "start", "end", "kpi", "version"}:
            self.draw_cards()
        self._pending |= {part for part, fields in PARTS.items() if fields & changed}
        self._schedule()

    def _schedule(self) -> None:
        if self._scheduled or not self._pending:
            return
        if pn.state.curdoc is None or pn.state.curdoc.session_context is None:
            while self._pending:  # no server (a test, a notebook): draw everything now
                self._draw_next()
            return
        self._scheduled = True
        pn.state.execute(self._run_next, schedule=True)

    def _run_next(self) -> None:
        self._scheduled = False
        try:
            self._draw_next()
        finally:  # a part that failed (Panel logs it) leaves the others, the URL too, to be drawn
            self._schedule()

    def _draw_next(self) -> None:
        part = next(p for p in PARTS if p in self._pending)
        self._pending.discard(part)
        getattr(self, f"draw_{part}")()

    def draw_all_later(self) -> None:
        """Everything but the cards, in later turns (once the page is on screen)."""
        self._pending |= set(PARTS)
        self._schedule()

    # -- the parts --------------------------------------------------------------------------

    def draw_cards(self) -> None:
        start, end = self._range()
        state = self.state
        order = self.choropleth.order
        self.choropleth.source.selected.indices = [order.index(state.place)] if state.place in order else []
        self.cards.object = views.cards_view_html(self.data, state.place, state.kpi, start, end, self.lang)

    def draw_url(self) -> None:
        self.state.push_url()

    def draw_freshness(self) -> None:
        data, lang = self.data, self.lang
        banner = views.stale_banner_html(data.freshness(), lang)  # a live source failed: older data shown
        span = data.span()
        if span.last_utc is None:
            self.freshness.object = f"{banner}<p class='freshness'>{t('kpi_no_data', lang)}</p>"
            return
        local = span.last_utc + dt.timedelta(hours=-4)
        stale = " <b class='stale'>(" + t("kpi_stale", lang) + ")</b>" if data.stale else ""
        text = t("kpi_data_until", lang, time=f"{local:%Y-%m-%d %H:%M}")
        self.freshness.object = f"{banner}<p class='freshness'>{text}{stale}</p>"

    def draw_map(self) -> None:
        start, end = self._range()
        spec = self.data.specs[self.state.kpi]
        self.choropleth.show(spec, views.commune_values(spec, self.data.cards(start, end), start))
        self.map_caption.object = views.shown_html(
            "div",
            f"{self.choropleth.title(spec)} · {views.range_text(start, end, self.lang)}",
            "kpi-map-title",
            kpi=spec.id,
            start=start,
            end=end,
        )
        if not self.map_place.objects:
            self.map_place.objects = [self.map_caption, self.map]

    def _tapped(self, insee: str) -> None:
        self.state.place = insee

    def draw_detail(self) -> None:
        state, lang = self.state, self.lang
        start, end = self._range()
        spec = self.data.specs[state.kpi]
        table = self.data.table(start, end, state.place, state.grain)
        self.description.object = (
            views.shown_html(
                "h3",
                spec.title[lang],
                kpi=spec.id,
                place=state.place,
                start=start,
                end=end,
                grain=state.grain,
            )
            + f"<p>{html.escape(spec.description[lang])}</p>"
        )
        self.table.object = views.table_html(table.filter(views.kpi_filter(spec.id)), lang)
        self.download.filename = f"kpi_{state.place}_{start}_{end}_{state.grain}.csv"
        self.provenance.object = views.provenance_markdown(self.data.provenance.get(spec.id), spec, lang)

    def _csv(self) -> io.StringIO:
        start, end = self._range()
        return io.StringIO(self.data.table(start, end, self.state.place, self.state.grain).write_csv())

    def draw_sensors(self) -> None:
        spec = self.data.specs[self.state.kpi]
        sensors = self.data.sensors(spec, self.state.place)
        self.sensor_table.object = views.table_html(sensors, self.lang)
        options = {f"— {t('kpi_sensor', self.lang)} —": NO_SENSOR}
        options.update(
            {
                f"{row['sensor_id']} · {row['field']}": f"{row['sensor_id']}|{row['field']}"
                for row in sensors.iter_rows(named=True)
            }
        )
        kept = self.chooser.value if self.chooser.value in options.values() else NO_SENSOR
        self.chooser.param.update(options=options, value=kept)
        self.sensor_note.object = "" if len(sensors) else t("kpi_no_sensor", self.lang)
        self._draw_raw()

    def _draw_raw(self) -> None:
        choice = self.chooser.value
        if not choice:
            self.raw.objects = []
            return
        sensor_id, field = choice.split("|", 1)
        frame = self.data.raw(sensor_id, field, *self._range())
        if frame.is_empty():
            self.raw.objects = [pn.pane.Markdown(t("kpi_no_data", self.lang))]
            return
        self.raw.objects = [
            pn.pane.HoloViews(
                views.raw_plot(frame, field), css_classes=["raw-plot"], sizing_mode="stretch_width"
            )
        ]

    # -- the layout ---------------------------------------------------------------------------

    def layout(self, controls: pn.FlexBox) -> pn.Column:
        grain = pn.widgets.RadioButtonGroup.from_param(
            self.state.param.grain,
            options={t(f"kpi_grain_{g}", self.lang): g for g in self.state.param.grain.objects},
            css_classes=["grain-selector"],
        )
        detail = pn.Column(
            self.description,
            pn.Row(grain, self.download),
            self.table,
            pn.Card(
                self.provenance,
                title=t("kpi_where_from", self.lang),
                collapsed=True,
                css_classes=["kpi-provenance"],
            ),
            sizing_mode="stretch_width",
        )
        drill_down = pn.Column(
            pn.pane.Markdown(f"#### {t('kpi_sensors_behind', self.lang)}"),
            self.sensor_note,
            self.sensor_table,
            self.chooser,
            self.raw,
            sizing_mode="stretch_width",
        )
        return pn.Column(
            self.freshness,
            controls,
            self.cards,
            pn.Row(self.map_place, detail, sizing_mode="stretch_width"),
            drill_down,
            sizing_mode="stretch_width",
        )


def build() -> pn.Column:
    """The app's layout (for tests and for serving)."""
    language = language_selector()
    state = views.KpiState().sync_url()
    data = views.KpiData()
    if state.kpi not in data.specs:
        state.kpi = views.KpiState.param.kpi.default
    served = pn.state.curdoc is not None and pn.state.curdoc.session_context is not None
    shown: list[Dashboard] = []

    def dates_to_url() -> None:
        # written once the page is loaded (values set while the session is created miss the URL)
        start, end = views.range_of(state, data.span())
        if (state.start, state.end) != (start, end):
            state.param.update(start=start, end=end)

    def refresh() -> None:
        if data.changed():
            state.version += 1

    if served:
        pn.state.add_periodic_callback(refresh, period=REFRESH_MS)

    def body(lang: str) -> pn.Column:
        for old in shown:
            old.close()
        dashboard = Dashboard(state, data, lang)
        shown[:] = [dashboard]
        dashboard.draw_cards()
        dashboard.draw_freshness()
        page = dashboard.layout(_controls(state, data, lang))
        if served and not pn.state.loaded:
            pn.state.onload(dates_to_url)
            pn.state.onload(dashboard.draw_all_later)  # the map and the tables once the cards are on screen
        else:
            dashboard.draw_all_later()
        return page

    header = header_row(language)
    subtitle = pn.bind(
        lambda lang: pn.pane.HTML(f"<h2 class='kpi-title'>{t('kpi_title', lang)}</h2>"), language
    )
    return pn.Column(header, subtitle, pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique – indicateurs")
