"""Risk by commune: return-period winds, historic storm replays, the volcanic, coastal and seismic
hazards, ranking, CSV, KeplerGL zoning and the composite multi-risk index with its weights."""

from __future__ import annotations

import io

import panel as pn

from observatory.errors import ParameterError
from observatory.i18n import t
from observatory.risk.cyclone import RETURN_PERIODS_YR
from observatory.views import risk
from observatory.views.layout import header_row, language_selector

pn.extension("tabulator", inline=False)


def _controls(state: risk.RiskState, lang: str) -> pn.Column:
    hazard = pn.widgets.Select.from_param(
        state.param.hazard,
        name=t("hazard", lang),
        options={t(f"hazard_{name}", lang): name for name in risk.HAZARDS},
        width=290,
        css_classes=["hazard-selector"],
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

    def enable(event=None) -> None:
        # periods and storms belong to the cyclone hazard; a replay fixes its own period
        storm.disabled = state.hazard != "cyclone"
        period.disabled = satellite.disabled = storm.disabled or bool(state.storm)

    enable()
    state.param.watch(enable, ["hazard", "storm"])
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


def _weight_sliders(state: risk.RiskState, lang: str) -> pn.Row:
    sliders = [
        pn.widgets.FloatSlider.from_param(
            state.param[f"w_{name}"],
            name=t(f"index_{name}", lang),
            step=risk.INDEX_WEIGHT_STEP,
            width=170,
            css_classes=[f"weight-{name}"],
        )
        for name in risk.IndexWeights.names()
    ]
    return pn.Row(*sliders, css_classes=["index-weights"])


def _index(state: risk.RiskState, lang: str) -> pn.Column:
    try:
        frame = risk.multirisk_index(state.weights)
    except ParameterError:  # every weight at 0: nothing to combine
        return pn.Column(pn.pane.Alert(t("index_no_weight", lang), alert_type="warning"))
    download = pn.widgets.FileDownload(
        callback=lambda: io.StringIO(risk.ranking_csv(frame)),
        filename=risk.index_csv_filename(),
        label=t("download_csv", lang),
        button_type="primary",
        css_classes=["index-download"],
    )
    side = pn.Column(
        pn.pane.Markdown(risk.index_weights_text(state.weights, lang), css_classes=["index-weights-used"]),
        pn.pane.Markdown(risk.index_summary(frame, lang), css_classes=["index-summary"]),
        download,
        risk.index_table(frame, lang),
        sizing_mode="stretch_width",
    )
    return pn.Row(pn.pane.HoloViews(risk.index_map(frame, lang)), side, sizing_mode="stretch_width")


def _index_tab(state: risk.RiskState, lang: str) -> pn.Column:
    weights = [state.param[f"w_{name}"] for name in risk.IndexWeights.names()]
    content = pn.panel(
        pn.bind(lambda *_: _index(state, lang), *weights), defer_load=True, loading_indicator=True
    )
    return pn.Column(
        pn.pane.HTML(f"<label>{t('index_weights', lang)}</label>"),
        _weight_sliders(state, lang),
        pn.pane.Markdown(f"<small>{t('index_note', lang)}</small>"),
        content,
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
            (t("tab_index", lang), _index_tab(state, lang)),
            active=state.tab,
            dynamic=True,
            sizing_mode="stretch_width",
        )
        tabs.param.watch(lambda event: setattr(state, "tab", event.new), "active")
        return pn.Row(_controls(state, lang), tabs, sizing_mode="stretch_width")

    header = header_row(language)
    subtitle = pn.bind(
        lambda lang: pn.pane.HTML(f"<h2 class='risk-title'>{t('risk_title', lang)}</h2>"), language
    )
    return pn.Column(header, subtitle, pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique – risques")
