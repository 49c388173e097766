"""The territory at a glance: communes coloured by population density, in four languages."""

from __future__ import annotations

import panel as pn

from observatory.i18n import t
from observatory.territory.communes import communes
from observatory.views.layout import header_row, language_selector
from observatory.views.maps import commune_choropleth

pn.extension(inline=False)


def _summary(frame, language: str) -> pn.pane.Markdown:
    population = int(frame["population"].sum())
    area = float(frame["area_km2"].sum())
    text = t(
        "island_total",
        language,
        population=f"{population:,}".replace(",", "\u202f"),
        area=f"{area:,.0f}".replace(",", "\u202f"),
        density=f"{population / area:,.0f}",
    )
    return pn.pane.Markdown(f"{text}\n\n<small>{t('source_note', language)}</small>", css_classes=["summary"])


def build() -> pn.Column:
    """The app's layout (for tests and for serving)."""
    frame = communes()
    language = language_selector()

    def body(lang: str) -> pn.Column:
        return pn.Column(pn.pane.HoloViews(commune_choropleth(frame, language=lang)), _summary(frame, lang))

    header = header_row(language)
    return pn.Column(header, pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique")
