"""Territory KPIs for the collectivités: cards against targets, the map per commune, the sensors
behind a KPI with their raw readings, CSV downloads; every choice kept in the URL."""

from __future__ import annotations

import datetime as dt
import io

import holoviews as hv
import panel as pn

from observatory.i18n import t
from observatory.kpi.engine import ISLAND
from observatory.territory.communes import communes
from observatory.views import kpi as views
from observatory.views.layout import header_row, language_selector

pn.extension("tabulator", inline=False, raw_css=[views.CARD_CSS])
REFRESH_MS = 15_000  # how often the app looks for newly ingested data


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


def _cards(state: views.KpiState, data: views.KpiData, lang: str) -> pn.pane.HTML:
    start, end = views.range_of(state, data.span())
    cards = data.cards(start, end).filter(views.place_filter(state.place))
    trend = data.trend(start, end).filter(views.place_filter(state.place))
    current = dt.date.fromisoformat(start)
    sections = []
    for domain, specs in views.domain_of(data.specs).items():
        items = []
        for spec in specs:
            rows = cards.filter(views.kpi_filter(spec.id))
            now = rows.filter(views.period_filter(current))
            before = rows.filter(~views.period_filter(current))
            series = trend.filter(views.kpi_filter(spec.id)).sort("period_start")["value"].to_list()
            items.append(
                views.card_html(
                    spec,
                    now["value"][0] if len(now) else None,
                    before["value"][0] if len(before) else None,
                    now["status"][0] if len(now) else "no_data",
                    series,
                    lang,
                    spec.id == state.kpi,
                )
            )
        sections.append(
            f"<h3 class='kpi-domain'>{t('kpi_domain_' + domain, lang)}</h3><div style='display:flex;flex-wrap:wrap'>{''.join(items)}</div>"
        )
    # what the cards show, as attributes: browser tests and the latency benchmark wait on them
    shown = f"data-place='{state.place}' data-start='{start}' data-end='{end}' data-kpi='{state.kpi}' data-lang='{lang}'"
    return pn.pane.HTML(
        f"<div class='kpi-view' {shown}>{''.join(sections)}</div>",
        sizing_mode="stretch_width",
        css_classes=["kpi-cards"],
    )


def _map(state: views.KpiState, data: views.KpiData, lang: str) -> pn.pane.HoloViews:
    start, end = views.range_of(state, data.span())
    spec = data.specs[state.kpi]
    values = views.commune_values(spec, data.cards(start, end), start)
    polygons = views.kpi_map(spec, values, lang)
    order = list(communes()["insee"])
    tap = hv.streams.Selection1D(source=polygons)

    def picked(index):
        if index:
            state.place = order[index[0]]

    tap.add_subscriber(picked)
    return pn.pane.HoloViews(polygons, css_classes=["kpi-map"])


def _detail(state: views.KpiState, data: views.KpiData, lang: str) -> pn.Column:
    start, end = views.range_of(state, data.span())
    spec = data.specs[state.kpi]
    table = data.table(start, end, state.place, state.grain)
    filename = f"kpi_{state.place}_{start}_{end}_{state.grain}.csv"
    download = pn.widgets.FileDownload(
        callback=lambda: io.StringIO(table.write_csv()),
        filename=filename,
        label=t("download_csv", lang),
        button_type="primary",
        css_classes=["csv-download"],
    )
    grain = pn.widgets.RadioButtonGroup.from_param(
        state.param.grain,
        options={t(f"kpi_grain_{g}", lang): g for g in state.param.grain.objects},
        css_classes=["grain-selector"],
    )
    shown = table.filter(views.kpi_filter(spec.id))
    return pn.Column(
        pn.pane.Markdown(
            f"### {spec.title[lang]}\n\n{spec.description[lang]}", css_classes=["kpi-description"]
        ),
        pn.Row(grain, download),
        pn.widgets.Tabulator(
            shown.to_pandas(),
            disabled=True,
            pagination="local",
            page_size=12,
            show_index=False,
            css_classes=["kpi-table"],
        ),
        pn.Card(
            pn.pane.Markdown(views.provenance_markdown(data.provenance.get(spec.id), spec, lang)),
            title=t("kpi_where_from", lang),
            collapsed=True,
            css_classes=["kpi-provenance"],
        ),
        sizing_mode="stretch_width",
    )


def _drill_down(state: views.KpiState, data: views.KpiData, lang: str) -> pn.Column:
    start, end = views.range_of(state, data.span())
    spec = data.specs[state.kpi]
    sensors = data.sensors(spec, state.place)
    if sensors.is_empty():
        return pn.Column(pn.pane.Markdown(t("kpi_no_sensor", lang)))
    options = {
        f"{row['sensor_id']} · {row['field']}": f"{row['sensor_id']}|{row['field']}"
        for row in sensors.iter_rows(named=True)
    }
    chooser = pn.widgets.Select(
        name=t("kpi_sensor", lang), options=options, width=360, css_classes=["sensor-selector"]
    )

    def plot(choice: str):
        sensor_id, field = choice.split("|", 1)
        frame = data.raw(sensor_id, field, start, end)
        if frame.is_empty():
            return pn.pane.Markdown(t("kpi_no_data", lang))
        return pn.pane.HoloViews(
            views.raw_plot(frame, field), css_classes=["raw-plot"], sizing_mode="stretch_width"
        )

    return pn.Column(
        pn.pane.Markdown(f"#### {t('kpi_sensors_behind', lang)}"),
        pn.widgets.Tabulator(
            sensors.to_pandas(), disabled=True, show_index=False, height=180, css_classes=["sensor-table"]
        ),
        chooser,
        pn.panel(pn.bind(plot, chooser), defer_load=True, loading_indicator=True),
        sizing_mode="stretch_width",
    )


def _freshness(state: views.KpiState, data: views.KpiData, lang: str) -> pn.pane.HTML:
    banner = views.stale_banner_html(data.freshness(), lang)  # a live source failed: older data shown
    span = data.span()
    if span.last_utc is None:
        return pn.pane.HTML(f"{banner}<p class='freshness'>{t('kpi_no_data', lang)}</p>")
    local = span.last_utc + dt.timedelta(hours=-4)
    stale = " <b class='stale'>(" + t("kpi_stale", lang) + ")</b>" if data.stale else ""
    text = t("kpi_data_until", lang, time=f"{local:%Y-%m-%d %H:%M}")
    return pn.pane.HTML(f"{banner}<p class='freshness'>{text}{stale}</p>")


def build() -> pn.Column:
    """The app's layout (for tests and for serving)."""
    language = language_selector()
    state = views.KpiState().sync_url()
    data = views.KpiData()
    if state.kpi not in data.specs:
        state.kpi = views.KpiState.param.kpi.default

    def dates_to_url() -> None:
        # written once the page is loaded (values set while the session is created miss the URL)
        start, end = views.range_of(state, data.span())
        if (state.start, state.end) != (start, end):
            state.param.update(start=start, end=end)

    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.onload(dates_to_url)

    def refresh() -> None:
        if data.changed():
            state.version += 1

    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.add_periodic_callback(refresh, period=REFRESH_MS)

    def body(lang: str) -> pn.Column:
        watched = [state.param.place, state.param.start, state.param.end, state.param.version]

        def bound(builder, *extra):
            return pn.panel(
                pn.bind(lambda *_: builder(state, data, lang), *watched, *extra),
                defer_load=True,
                loading_indicator=True,
            )

        return pn.Column(
            bound(_freshness),
            _controls(state, data, lang),
            bound(_cards, state.param.kpi),
            pn.Row(
                bound(_map, state.param.kpi),
                bound(_detail, state.param.kpi, state.param.grain),
                sizing_mode="stretch_width",
            ),
            bound(_drill_down, state.param.kpi),
            sizing_mode="stretch_width",
        )

    header = header_row(language)
    subtitle = pn.bind(
        lambda lang: pn.pane.HTML(f"<h2 class='kpi-title'>{t('kpi_title', lang)}</h2>"), language
    )
    return pn.Column(header, subtitle, pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique – indicateurs")
