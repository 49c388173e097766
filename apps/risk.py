"""Cyclone risk by commune: return-period winds, historic storm replays, ranking, CSV and KeplerGL zoning."""

from __future__ import annotations

import io

import panel as pn

from observatory.i18n import t
from observatory.risk.cyclone import RETURN_PERIODS_YR
from observatory.views import risk
from observatory.views.layout import language_selector, page_header

pn.extension("tabulator", inline=False)


def _controls(state: risk.RiskState, lang: str) -> pn.Column:
    hazard = pn.widgets.Select.from_param(
        state.param.hazard, name=t("hazard", lang), options={t("hazard_cyclone", lang): "cyclone"}, width=290
    )
    period = pn.widgets.RadioButtonGroup.from_param(
        state.param.period,
        options={t("period_years", lang, years=p): p for p in RETURN_PERIODS_YR},
        button_type="primary",
        button_style="outline",
        width=290,
        css_classes=["period-selector"],
    )
    satellite = pn.widgets.Checkbox.from_param(
        state.param.satellite_era, name=t("satellite_only", lang), css_classes=["satellite-toggle"]
    )
    storm = pn.widgets.Select.from_param(
        state.param.storm,
        name=t("storm_replay", lang),
        options={t("no_storm", lang): "", **risk.historic_storms()},
        width=290,
        css_classes=["storm-selector"],
    )

    def replaying(event=None) -> None:
        period.disabled = satellite.disabled = bool(state.storm)

    replaying()
    state.param.watch(replaying, "storm")
    label = pn.pane.HTML(f"<label>{t('return_period', lang)}</label>", margin=(5, 10, 0, 10))
    note = pn.pane.Markdown(f"<small>{t('risk_note', lang)}</small>", width=290)
    return pn.Column(hazard, label, period, satellite, storm, note, width=315)


def _ranking(state: risk.RiskState, lang: str) -> pn.Row:
    frame = risk.ranking(state)
    download = pn.widgets.FileDownload(
        callback=lambda: io.StringIO(risk.ranking_csv(frame)),
        filename=risk.csv_filename(state),
        label=t("download_csv", lang),
        button_type="primary",
        css_classes=["csv-download"],
    )
    side = pn.Column(
        pn.pane.Markdown(risk.summary(frame, state, lang), css_classes=["risk-summary"]),
        download,
        risk.ranking_table(frame, state, lang),
        sizing_mode="stretch_width",
    )
    return pn.Row(pn.pane.HoloViews(risk.risk_map(frame, state, lang)), side, sizing_mode="stretch_width")


def _kepler(state: risk.RiskState, lang: str) -> pn.Column:
    return pn.Column(
        pn.pane.Markdown(f"<small>{t('kepler_note', lang)}</small>"),
        risk.kepler_map(state, lang),
        sizing_mode="stretch_width",
    )


def build() -> pn.Column:
    """The app's layout (for tests and for serving)."""
    language = language_selector()
    state = risk.RiskState().sync_url()
    watched = [state.param.hazard, state.param.period, state.param.satellite_era, state.param.storm]

    def body(lang: str) -> pn.Row:
        ranking = pn.panel(
            pn.bind(lambda *_: _ranking(state, lang), *watched), defer_load=True, loading_indicator=True
        )
        zoning = pn.panel(
            pn.bind(lambda *_: _kepler(state, lang), *watched),
            defer_load=True,
            loading_indicator=True,
            lazy=True,
        )
        tabs = pn.Tabs(
            (t("tab_map", lang), ranking),
            (t("tab_kepler", lang), zoning),
            active=state.tab,
            dynamic=True,
            sizing_mode="stretch_width",
        )
        tabs.param.watch(lambda event: setattr(state, "tab", event.new), "active")
        return pn.Row(_controls(state, lang), tabs, sizing_mode="stretch_width")

    header = pn.Row(
        pn.bind(page_header, language), pn.layout.HSpacer(), language, sizing_mode="stretch_width"
    )
    subtitle = pn.bind(
        lambda lang: pn.pane.HTML(f"<h2 class='risk-title'>{t('risk_title', lang)}</h2>"), language
    )
    return pn.Column(header, subtitle, pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique – risques")
