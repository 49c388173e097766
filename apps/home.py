"""The observatory's home page (served at /): the apps a visitor may open, data freshness per
domain and the latest open-data release, in the visitor's language."""

from __future__ import annotations

import datetime as dt
import html

import panel as pn

from observatory.config import settings
from observatory.i18n import t
from observatory.site.apps import SITE_APPS, may_open
from observatory.site.auth import roles_of, sign_in_enabled
from observatory.views import home
from observatory.views.layout import header_row, language_selector

pn.extension(inline=False, raw_css=[home.HOME_CSS])


def build() -> pn.Column:
    """The app's layout (for tests and for serving)."""
    config = settings()
    language = language_selector()
    roles = roles_of(pn.state.user_info, config.oidc_client_id)
    signed_in = bool(pn.state.user) and pn.state.user != "guest"
    auth = sign_in_enabled(config)
    opened = [a for a in SITE_APPS if may_open(a, roles)]
    locked = [a for a in SITE_APPS if not may_open(a, roles)] if auth and not signed_in else []
    freshness = home.freshness(config)
    release = home.latest_release(config)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def body(lang: str) -> pn.pane.HTML:
        user = ""
        if signed_in:
            user = f'<p class="home-user">{t("home_signed_in", lang, user=html.escape(pn.state.user))} · <a href="./logout">{t("home_sign_out", lang)}</a></p>'
        text = (
            f"<p class='home-intro'>{t('home_intro', lang)}</p>{user}"
            + home.apps_html(opened, lang, locked, login=f"./login?lang={lang}")
            + home.freshness_html(freshness, lang, now)
            + home.release_html(release, lang)
        )
        return pn.pane.HTML(text, sizing_mode="stretch_width", css_classes=["home"])

    return pn.Column(header_row(language), pn.bind(body, language), sizing_mode="stretch_width")


build().servable(title="Observatoire territorial de la Martinique")
