"""Pieces every app shares: the language selector (kept in the URL) and the page header."""

from __future__ import annotations

import panel as pn

from observatory.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, LANGUAGES, t


def language_selector() -> pn.widgets.Select:
    """A language picker (fr first) whose value lives in the URL as ``?lang=xx``."""
    select = pn.widgets.Select(
        label=t("language", DEFAULT_LANGUAGE),
        options={LANGUAGE_NAMES[code]: code for code in LANGUAGES},
        value=DEFAULT_LANGUAGE,
        width=160,
        css_classes=["language-selector"],
    )

    def chosen(event) -> None:
        if event.new not in LANGUAGES:  # a hostile ?lang= gives the default language
            select.value = DEFAULT_LANGUAGE
        else:
            select.label = t("language", event.new)

    # Watch first: a language read from the URL by sync must relabel the picker too.
    select.param.watch(chosen, "value")
    if pn.state.location is not None:
        pn.state.location.sync(select, {"value": "lang"})
    return select


def page_header(language: str) -> pn.pane.HTML:
    """The observatory's title in ``language``, as an h1 that browser tests can read."""
    return pn.pane.HTML(f"<h1 class='app-title'>{t('app_title', language)}</h1>", sizing_mode="stretch_width")


def header_row(language: pn.widgets.Select) -> pn.Row:
    """Every app's first row: the observatory's title (in the chosen language) and the picker."""
    return pn.Row(pn.bind(page_header, language), pn.layout.HSpacer(), language, sizing_mode="stretch_width")
