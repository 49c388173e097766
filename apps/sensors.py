"""The sensor network for signed-in analysts: every sensor with its last reading, one sensor's raw
readings (Datashader), and the citizen reports with their personal fields (never published)."""

from __future__ import annotations

import html

import panel as pn

from observatory.config import settings
from observatory.errors import ObservatoryError
from observatory.i18n import t
from observatory.site.apps import may_open, site_app
from observatory.site.auth import roles_of
from observatory.views import sensors as views
from observatory.views.kpi import raw_plot
from observatory.views.layout import header_row, language_selector

pn.extension("tabulator", inline=False)
DAYS = {"1": 1, "7": 7, "30": 30}


def _refused(lang: str) -> pn.pane.HTML:
    return pn.pane.HTML(
        f'<p class="access-refused">{html.escape(t("sensors_refused", lang))} '
        f'<a href="./login?next=./sensors">{html.escape(t("home_sign_in", lang))}</a></p>'
    )


def _sensors_tab(lang: str) -> pn.Column:
    table = views.local_times(views.sensor_table(), "last_time")
    picker = pn.widgets.Select(
        name=t("sensors_pick", lang),
        options=[f"{s} · {f}" for s, f in table.select("sensor_id", "field").drop_nulls().iter_rows()],
        width=360,
        css_classes=["sensor-picker"],
    )
    days = pn.widgets.RadioButtonGroup(
        name=t("kpi_range", lang), options=DAYS, value=7, css_classes=["sensor-days"]
    )

    def series(choice: str | None, span: int):
        if not choice:
            return pn.pane.HTML("")
        sensor_id, field = choice.split(" · ", 1)
        frame = views.sensor_readings(sensor_id, field, span)
        if frame.is_empty():
            return pn.pane.HTML(f"<p>{html.escape(t('kpi_no_data', lang))}</p>")
        return pn.pane.HoloViews(raw_plot(frame, f"{sensor_id} · {field}"), css_classes=["sensor-series"])

    grid = _table(table, "sensor-table")
    return pn.Column(pn.Row(picker, days), pn.bind(series, picker, days), grid, name=t("sensors_tab", lang))


def _table(frame, css_class: str) -> pn.widgets.Tabulator:
    """A read-only table, 25 rows a page (paged on the server: the browser gets one page)."""
    return pn.widgets.Tabulator(
        frame.to_pandas(),
        pagination="remote",
        page_size=25,
        disabled=True,
        show_index=False,
        sizing_mode="stretch_width",
        css_classes=[css_class],
    )


def _reports_tab(lang: str) -> pn.Column:
    frame = views.local_times(views.reports_table(), "time", "resolved_time")
    note = pn.pane.HTML(f'<p class="personal-data">{html.escape(t("sensors_personal_data", lang))}</p>')
    grid = _table(frame, "reports-table")
    return pn.Column(note, grid, name=t("sensors_reports_tab", lang))


def build() -> pn.Column:
    """The app's layout (for tests and for serving). Checks the role itself too: a session opened
    without the page request (straight on the websocket) must not see anything either."""
    language = language_selector()
    allowed = may_open(site_app("sensors"), roles_of(pn.state.user_info, settings().oidc_client_id))

    def body(lang: str):
        if not allowed:
            return _refused(lang)
        user = html.escape(pn.state.user or "")
        who = pn.pane.HTML(
            f'<p class="home-user">{html.escape(t("home_signed_in", lang, user=user))} · '
            f'<a href="./logout">{html.escape(t("home_sign_out", lang))}</a></p>'
        )
        try:
            tabs = pn.Tabs(_sensors_tab(lang), _reports_tab(lang), dynamic=True)
        except ObservatoryError:  # no warehouse yet: say so rather than fail the page
            tabs = pn.pane.HTML(f"<p>{html.escape(t('kpi_no_data', lang))}</p>")
        return pn.Column(who, tabs, sizing_mode="stretch_width")

    return pn.Column(header_row(language), pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique")
