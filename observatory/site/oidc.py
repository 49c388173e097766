"""Sign-in through OpenID Connect (a Keycloak realm), as a Bokeh auth module (``panel serve
--auth-module <this file>``): Panel's generic OAuth handler runs the authorization-code flow at
``/login``; who is a guest and what a guest may request are the users file's
(:mod:`observatory.site.login`), so that no URL of a protected app (``autoload.js`` included)
opens a session without signing in. Signing out ends the provider's session too.

``observatory serve`` hands the client and the provider's endpoints over in the environment
(``PANEL_OAUTH_KEY``, ``PANEL_OAUTH_SECRET``, ``PANEL_OAUTH_EXTRA_PARAMS``:
:func:`observatory.cli.sign_in_secrets`). ``pn.state.user_info`` is then the id_token's claims.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from panel.auth import GenericLoginHandler
from panel.config import config

from observatory.site import login
from observatory.site.login import COOKIE_DAYS, get_user, login_url, logout_url, site_root

__all__ = ["LoginHandler", "LogoutHandler", "get_user", "login_url", "logout_url"]


def _site_url(handler: Any, path: str) -> str:
    """``path`` as the browser reaches it (behind a proxy: its ``Host`` and ``X-Forwarded-Proto``)."""
    return f"{handler.request.protocol}://{handler.request.host}{path}"


class LoginHandler(GenericLoginHandler):
    """Panel's code flow with two changes: the redirect URI is this page's own address (with the
    prefix), which the provider lists for the client; and every cookie it sets is scoped to the
    site, as the users file's are, so that the sign-out clears them."""

    @property
    def _redirect_uri(self) -> str:
        return _site_url(self, self.request.path)

    def set_cookie(self, name: str, value: str | bytes, **kwargs: Any) -> None:
        # Panel sets its cookies (and clears them) with path=None: the browser would scope them to
        # the login page's folder, which the sign-out at the site's root cannot clear.
        super().set_cookie(name, value, **{**kwargs, "path": site_root(self)})


class LogoutHandler(login.LogoutHandler):
    """Forget the sign-in here, then end the provider's session (RP-initiated logout) and come
    back to the home page, which the provider lists as the client's post-logout redirect URI.
    Without it, the next sign-in would pass through the provider without asking for a password."""

    def get(self) -> None:
        id_token = self.get_secure_cookie("id_token", max_age_days=COOKIE_DAYS)
        end_session = config.oauth_extra_params.get("LOGOUT_URL")
        self.forget()
        home = _site_url(self, site_root(self))
        if not end_session:
            self.redirect(home)
            return
        query = {"client_id": config.oauth_key, "post_logout_redirect_uri": home}
        if id_token:
            query["id_token_hint"] = id_token.decode("utf-8")
        self.redirect(f"{end_session}?{urlencode(query)}")
