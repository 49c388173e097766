"""The open-data portal: search the catalogue by keyword and theme, read a dataset's metadata and
licence, preview its table and map, download its files with their sha256, in four languages."""

from __future__ import annotations

import panel as pn
import param

from observatory.i18n import t
from observatory.views import portal
from observatory.views.layout import header_row, language_selector

pn.extension("tabulator", inline=False)


class PortalState(param.Parameterized):
    """What the portal shows; every field is kept in the page URL."""

    q = param.String(default="")
    theme = param.String(default="")
    dataset = param.String(default="")
    version = param.String(default="")
    value = param.String(default="")  # the column a map is coloured by

    def sync_url(self) -> PortalState:
        if pn.state.location is not None:
            pn.state.location.sync(
                self, {name: name for name in ("q", "theme", "dataset", "version", "value")}
            )
        return self


def _filters(state: PortalState, manifest: dict, lang: str) -> pn.Column:
    search = pn.widgets.TextInput.from_param(
        state.param.q,
        name=t("portal_search", lang),
        placeholder=t("portal_search_placeholder", lang),
        width=300,
        css_classes=["portal-search"],
    )
    themes = {
        t("portal_all_themes", lang): "",
        **{t(f"theme_{c}", lang): c for c in portal.themes_in(manifest)},
    }
    theme = pn.widgets.Select.from_param(
        state.param.theme,
        name=t("portal_theme", lang),
        options=themes,
        width=300,
        css_classes=["portal-theme"],
    )
    found = portal.versions(portal.releases_folder())
    version = pn.widgets.Select(
        name=t("portal_version", lang),
        options=found,
        value=manifest["version"],
        width=300,
        css_classes=["portal-version"],
    )
    version.link(state, value="version")

    def results(q: str, code: str) -> pn.pane.HTML:
        found = portal.search(manifest, q, code)
        return pn.pane.HTML(
            portal.results_html(found, lang, q, code, state.version), css_classes=["portal-list"], width=300
        )

    return pn.Column(search, theme, version, pn.bind(results, state.param.q, state.param.theme), width=320)


def _map(state: PortalState, manifest: dict, dataset: dict, lang: str) -> pn.Column | None:
    values = portal.map_values(dataset)
    drawn = portal.preview_map(portal.releases_folder(), manifest, dataset, lang, state.value or None)
    if drawn is None:
        return None
    column = [pn.pane.HoloViews(drawn)]
    if len(values) > 1:
        chooser = pn.widgets.Select(
            name=t("portal_column", lang),
            options=values,
            value=state.value if state.value in values else values[-1],
            width=240,
            css_classes=["portal-map-value"],
        )
        chooser.link(state, value="value")
        column.insert(0, chooser)
    return pn.Column(*column)


def _dataset(state: PortalState, manifest: dict, dataset: dict, lang: str) -> pn.Column:
    folder = portal.releases_folder()
    preview = portal.preview_frame(folder, manifest, dataset)
    shown = t("portal_preview", lang, shown=len(preview), rows=dataset["rows"])
    table = pn.widgets.Tabulator(
        preview,
        disabled=True,
        pagination="local",
        page_size=20,
        show_index=False,
        sizing_mode="stretch_width",
    )
    tabs = [(t("portal_table", lang), pn.Column(pn.pane.HTML(f"<small>{shown}</small>"), table))]
    if dataset.get("geometry") and dataset["rows"]:
        drawn = pn.bind(lambda _: _map(state, manifest, dataset, lang), state.param.value)
        tabs.append((t("portal_map", lang), pn.panel(drawn, loading_indicator=True)))
    return pn.Column(
        pn.pane.HTML(
            portal.metadata_html(manifest, dataset, lang),
            css_classes=["portal-metadata"],
            sizing_mode="stretch_width",
        ),
        pn.pane.HTML(
            portal.files_html(manifest, dataset, lang),
            css_classes=["portal-files"],
            sizing_mode="stretch_width",
        ),
        pn.pane.HTML(
            portal.columns_html(dataset, lang), css_classes=["portal-columns"], sizing_mode="stretch_width"
        ),
        pn.Tabs(*tabs, dynamic=True),
        sizing_mode="stretch_width",
    )


def _body(state: PortalState, lang: str) -> pn.Column:
    manifest = portal.load_release(portal.releases_folder(), state.version or None)
    title = pn.pane.HTML(
        f"<h2 class='portal-title'>{t('portal_title', lang)}</h2>", sizing_mode="stretch_width"
    )
    if manifest is None:
        return pn.Column(title, pn.pane.Alert(t("portal_no_release", lang), alert_type="info"))
    intro = pn.pane.HTML(
        f"<p>{t('portal_intro', lang)}</p>" + portal.release_html(manifest, lang), sizing_mode="stretch_width"
    )
    chosen = next(
        (d for d in manifest["datasets"] if d["id"] == state.dataset and d["status"] == "published"), None
    )
    detail = _dataset(state, manifest, chosen, lang) if chosen else pn.Spacer()
    return pn.Column(
        title, intro, pn.Row(_filters(state, manifest, lang), detail, sizing_mode="stretch_width")
    )


def build() -> pn.Column:
    """The app's layout (for tests and for serving)."""
    language = language_selector()
    state = PortalState().sync_url()
    header = header_row(language)
    body = pn.bind(lambda lang, _version: _body(state, lang), language, state.param.version)
    return pn.Column(header, body, sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique — données ouvertes")
