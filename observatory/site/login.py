"""Sign-in with the users file, as a Bokeh auth module (``panel serve --auth-module <this file>``).

Everyone gets in as a guest; Panel's ``authorize_callback`` (:func:`observatory.site.auth.authorize`)
then sends a guest who asks for a protected app to ``/login``. A signed-in user carries two signed
cookies, as Panel's own basic auth sets them: ``user`` (the name) and ``id_token`` (name and roles,
read back by ``pn.state.user_info``). The page is plain HTML in the visitor's language, with no
resource from outside the server.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from panel.util import base64url_encode
from tornado.web import RequestHandler

from observatory.config import Settings, settings
from observatory.i18n import LANGUAGES, t
from observatory.site.apps import SITE_APPS
from observatory.site.auth import app_in_path, authenticate, load_users

GUEST = "guest"
COOKIE_DAYS = 1  # a sign-in lasts a working day
FAILED_SIGN_IN_DELAY_S = 1.0  # slows password guessing down

login_url = "/login"
logout_url = "/logout"


def get_user(request_handler: RequestHandler) -> str | None:
    """The signed-in user's name; else ``guest`` for a public app, and None (Bokeh then sends the
    visitor to the sign-in page) for any request of a protected app: its page, but also its
    ``autoload.js`` and its websocket, which Panel's authorize callback does not see."""
    user = request_handler.get_secure_cookie("user", max_age_days=COOKIE_DAYS)
    if user:
        return user.decode("utf-8")
    app = next((a for a in SITE_APPS if a.slug == app_in_path(request_handler.request.path)), None)
    return GUEST if app is None or app.public else None


def safe_next(target: str | None, fallback: str) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return fallback
    return target


def _language(handler: RequestHandler) -> str:
    """As in the apps: ``?lang=`` (here or in the page the visitor came from), else the site's
    language (French unless set otherwise), whatever the browser says."""
    asked = (
        handler.get_argument("lang", "")
        or parse_qs(urlsplit(handler.get_argument("next", "")).query).get("lang", [""])[0]
    )
    return asked if asked in LANGUAGES else settings().language


def site_root(handler: RequestHandler) -> str:
    """The site's root path (``/`` or ``/<prefix>/``): every sign-in cookie is scoped to it."""
    return handler.application.prefix + "/" if getattr(handler.application, "prefix", "") else "/"


_HEAD = """<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
 body {{ font-family: "Segoe UI", Arial, Helvetica, sans-serif; color: #1d2b36; margin: 0; }}
 main {{ max-width: 24rem; margin: 4rem auto; padding: 2rem; border: 1px solid #d0d7de; border-radius: 8px; }}
 h1 {{ font-size: 1.3rem; margin-top: 0; }} label {{ display: block; margin-top: 1rem; font-weight: 600; }}
 input {{ width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; margin-top: .3rem; }}
 button {{ margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; background: #0b4f8a; color: white;
          border: 0; border-radius: 4px; cursor: pointer; }}
 .error {{ color: #a40e26; margin-top: 1rem; }} a {{ color: #0b4f8a; }}
</style></head>
<body><main>
<h1>{title}</h1>
"""
_PAGE = (
    _HEAD
    + """<p>{intro}</p>
<form method="post" action="{action}" class="login-form">
 <input type="hidden" name="next" value="{next}">
 <label for="username">{user_label}</label>
 <input id="username" name="username" autocomplete="username" required autofocus>
 <label for="password">{password_label}</label>
 <input id="password" name="password" type="password" autocomplete="current-password" required>
 {error}
 <button type="submit">{submit}</button>
</form>
<p><a href="{home}">{back}</a></p>
</main></body></html>"""
)
# Panel's page for a signed-in user without the app's role (403): its own loads web fonts from
# outside. Jinja renders it as it is (no {{ }} left after format).
_REFUSED = (
    _HEAD
    + """<p class="access-refused"><a href="./logout">{sign_out}</a> · <a href="./">{back}</a></p>
</main></body></html>"""
)


def refused_page(config: Settings) -> Path:
    """The 403 page for ``panel serve --auth-template``, in the site's language, written into the
    data directory (rewritten when its text changed)."""
    lang = config.language
    text = _REFUSED.format(
        lang=lang,
        title=html.escape(t("sensors_refused", lang)),
        sign_out=html.escape(t("home_sign_out", lang)),
        back=html.escape(t("login_back", lang)),
    )
    path = config.data_dir / "site" / f"refused-{lang}.html"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)  # two servers starting at once never see half a page
    return path


class LoginHandler(RequestHandler):
    """GET: the sign-in form; POST: check the password against the users file, then go back."""

    def get(self) -> None:
        self._page(error=bool(self.get_argument("error", "")))

    def _page(self, error: bool) -> None:
        lang = _language(self)
        root = site_root(self)
        target = safe_next(self.get_argument("next", ""), root)
        self.set_header("Cache-Control", "no-store")
        self.write(
            _PAGE.format(
                lang=lang,
                title=html.escape(t("login_title", lang)),
                intro=html.escape(t("login_intro", lang)),
                action=html.escape(self.request.path + f"?lang={lang}"),
                next=html.escape(target),
                user_label=html.escape(t("login_user", lang)),
                password_label=html.escape(t("login_password", lang)),
                submit=html.escape(t("login_submit", lang)),
                error=f'<p class="error" role="alert">{html.escape(t("login_failed", lang))}</p>'
                if error
                else "",
                home=html.escape(root + f"?lang={lang}"),
                back=html.escape(t("login_back", lang)),
            )
        )

    async def post(self) -> None:
        users = load_users(settings().users_path)
        name = self.get_argument("username", "")[:64]
        password = self.get_argument("password", "")[:1024]
        user = await asyncio.to_thread(authenticate, users, name, password)
        if user is None:
            await asyncio.sleep(FAILED_SIGN_IN_DELAY_S)
            self.set_status(401)
            self._page(error=True)
            return
        path = site_root(self)
        token = base64url_encode(
            json.dumps({"user": user.name, "username": user.name, "roles": list(user.roles)})
        )
        self.set_secure_cookie(
            "user", user.name, expires_days=COOKIE_DAYS, httponly=True, path=path, samesite="Lax"
        )
        self.set_secure_cookie(
            "id_token", token, expires_days=COOKIE_DAYS, httponly=True, path=path, samesite="Lax"
        )
        self.redirect(safe_next(self.get_argument("next", ""), path))


# The users file's two cookies, and those Panel's OAuth handler adds under OpenID Connect.
SIGN_IN_COOKIES = ("user", "id_token", "access_token", "refresh_token", "oauth_expiry")


class LogoutHandler(RequestHandler):
    """Forget the sign-in and go back to the site's home page."""

    def get(self) -> None:
        self.forget()
        self.redirect(site_root(self))

    def forget(self) -> None:
        """Clear the sign-in cookies (set at the site's root)."""
        for cookie in SIGN_IN_COOKIES:
            self.clear_cookie(cookie, path=site_root(self))
