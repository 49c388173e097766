"""The served observatory as one site: the home page, sign-in with hashed passwords and roles,
under a path prefix behind a real reverse proxy (nginx), and no way around the sign-in by URL."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from playwright.sync_api import expect

from observatory.i18n import t
from observatory.site.auth import save_user
from tests.apps.conftest import guarded_page, serve
from tests.services import NginxProxy, ServiceUnavailable, free_port

PREFIX = "/observatoire"
ANALYST, ANALYST_PASSWORD = "marie.joseph", "Fort-de-France 1902"
NO_ROLE, NO_ROLE_PASSWORD = "paul", "pas d'accès aux capteurs"
_LOAD_MS = 120_000  # a busy 2-core machine


@pytest.fixture(scope="module")
def proxied_site(tmp_path_factory, site_dir):
    """The site with sign-in, served under ``/observatoire`` behind nginx; yields the proxy's URL."""
    folder = tmp_path_factory.mktemp("site-signin")
    users = folder / "users.yaml"
    save_user(users, ANALYST, ANALYST_PASSWORD, ("analyst",))
    save_user(users, NO_ROLE, NO_ROLE_PASSWORD, ())
    upstream = free_port()
    try:
        proxy = NginxProxy(upstream, PREFIX).start()
    except ServiceUnavailable as exc:
        from tests.conftest import _unavailable

        _unavailable(str(exc))
    env = {
        "OBSERVATORY_DATA_DIR": str(site_dir),
        "OBSERVATORY_USERS_FILE": str(users),
        "OBSERVATORY_COOKIE_SECRET": "a-test-secret-of-this-module-only-0123456789",
    }
    origin = ("--allow-websocket-origin", f"127.0.0.1:{proxy.port}")
    try:
        with serve(folder, env, origin, prefix=PREFIX, port=upstream):
            yield proxy.url
    finally:
        proxy.stop()


def _signed_in(base: str, user: str, password: str) -> requests.Session:
    session = requests.Session()
    answer = session.post(
        f"{base}/login",
        data={"username": user, "password": password, "next": f"{PREFIX}/"},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:300]
    return session


def test_without_a_users_file_the_site_serves_only_the_public_apps(served):
    assert requests.get(f"{served}/sensors", timeout=60).status_code == 404
    for app in ("kpi", "risk", "territory", "portal", ""):
        assert requests.get(f"{served}/{app}", timeout=120).status_code == 200, app


def test_the_home_page_lists_the_apps_data_freshness_and_speaks_four_languages(served, chromium):
    with guarded_page(chromium) as page:
        page.goto(f"{served}/")
        expect(page.locator(".home-app")).to_have_count(4, timeout=_LOAD_MS)
        links = page.locator("a.app-link").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert [urlparse(href).path for href in links] == ["./kpi", "./risk", "./territory", "./portal"]
        # the simulated week: every domain of the fleet has reported; times in Martinique time
        domains = page.locator(".home-freshness tr[data-domain]")
        expect(domains.first).to_be_visible()
        names = domains.evaluate_all("rows => rows.map(r => r.dataset.domain)")
        assert {"energy", "water", "air", "mobility", "waste"} <= set(names)
        last = page.locator(".home-freshness tr[data-domain='energy'] td").nth(2).inner_text()
        assert re.fullmatch(r"2026-06-(09|10) \d\d:\d\d", last), last  # 9 days from 1 June 00:00 local
        page.goto(f"{served}/?lang=es")
        expect(page.locator("a.app-link").first).to_have_text(t("home_app_kpi", "es"), timeout=_LOAD_MS)
        expect(page.locator(".home-freshness caption")).to_have_text(t("home_freshness", "es"))


def test_a_guest_is_sent_to_the_sign_in_page_through_the_proxy_prefix(proxied_site):
    answer = requests.get(f"{proxied_site}/sensors", allow_redirects=False, timeout=120)
    assert answer.status_code == 302
    target = urlparse(urljoin(f"{proxied_site}/sensors", answer.headers["Location"]))
    assert (target.path, parse_qs(target.query)["next"]) == (f"{PREFIX}/login", [f"{PREFIX}/sensors"])
    for app in ("kpi", "portal", ""):
        assert requests.get(f"{proxied_site}/{app}", timeout=120).status_code == 200, app


@pytest.mark.parametrize(
    "path",
    [
        "/sensors/",
        "/sensors?lang=en",
        "//sensors",
        "/./sensors",
        "/kpi/../sensors",
        "/sensors/autoload.js?bokeh-autoload-element=x&bokeh-absolute-url=x",
        "/%73ensors",
        "/Sensors",
    ],
)
def test_no_url_opens_the_sensors_app_without_signing_in(proxied_site, path):
    answer = requests.get(f"{proxied_site}{path}", allow_redirects=False, timeout=120)
    assert answer.status_code in (302, 403, 404), (path, answer.status_code)
    assert "login" in answer.headers.get("Location", "/login"), path


def test_wrong_password_is_refused_and_a_user_without_the_role_is_forbidden(proxied_site):
    session = requests.Session()
    wrong = session.post(
        f"{proxied_site}/login",
        data={"username": ANALYST, "password": "not it at all"},
        allow_redirects=False,
    )
    assert wrong.status_code == 401 and "user" not in session.cookies
    assert t("login_failed", "fr") in wrong.text
    paul = _signed_in(proxied_site, NO_ROLE, NO_ROLE_PASSWORD)
    assert paul.get(f"{proxied_site}/sensors", allow_redirects=False, timeout=120).status_code == 403
    assert paul.get(f"{proxied_site}/kpi", timeout=120).status_code == 200


def test_the_sign_in_never_redirects_off_the_site(proxied_site):
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        session = requests.Session()
        answer = session.post(
            f"{proxied_site}/login",
            data={"username": ANALYST, "password": ANALYST_PASSWORD, "next": target},
            allow_redirects=False,
        )
        assert answer.status_code == 302 and answer.headers["Location"] == f"{PREFIX}/", target


def _websocket_answer(url: str, token: str, session: requests.Session | None = None) -> str | None:
    """The first message the Bokeh server sends on an app's websocket opened with ``token`` (and the
    cookies of ``session``), or None if it refuses the handshake or closes the connection."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect

    origin = urlparse(url)
    headers = {"Origin": f"http://{origin.netloc}"}
    if session is not None:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in session.cookies.items())

    async def talk() -> str | None:
        try:
            connection = await websocket_connect(
                HTTPRequest(url, headers=headers), subprotocols=["bokeh", token]
            )
        except HTTPClientError as exc:
            assert exc.code in (401, 403), exc
            return None
        try:
            message = await asyncio.wait_for(connection.read_message(), timeout=60)
        finally:
            connection.close()
        return message if isinstance(message, str) or message is None else message.decode()

    return asyncio.run(talk())


def test_a_session_cannot_be_opened_on_the_websocket_without_an_authorised_page(proxied_site):
    from bokeh.util.token import generate_jwt_token, generate_session_id

    ws = proxied_site.replace("http://", "ws://") + "/sensors/ws"
    analyst = _signed_in(proxied_site, ANALYST, ANALYST_PASSWORD)
    page = analyst.get(f"{proxied_site}/sensors", timeout=120)
    assert page.status_code == 200
    token = re.search(r'"token":\s*"([^"]+)"', page.text).group(1)
    # a token made up by the client is refused even with an analyst's cookies: the server signs its
    # session ids; the token of the page the server authorised opens the session (the control)
    forged = generate_jwt_token(
        generate_session_id(signed=False), signed=False, extra_payload={"cookies": {}}
    )
    assert _websocket_answer(ws, forged, analyst) is None
    assert "ACK" in (_websocket_answer(ws, token, analyst) or "")
    # the authorised page's token is of no use to a guest (no sign-in cookie)
    assert _websocket_answer(ws, token) is None


def test_an_analyst_signs_in_in_the_browser_sees_sensors_and_reports_and_signs_out(proxied_site, chromium):
    with guarded_page(chromium) as page:
        page.goto(f"{proxied_site}/")
        locked = page.locator(".home-app.locked[data-app='sensors']")
        expect(locked).to_be_visible(timeout=_LOAD_MS)
        expect(page.locator("a.app-link")).to_have_count(4)
        page.goto(f"{proxied_site}/sensors")
        expect(page.locator("form.login-form")).to_be_visible(timeout=_LOAD_MS)
        expect(page.locator("h1")).to_have_text(t("login_title", "fr"))
        page.fill("#username", ANALYST)
        page.fill("#password", ANALYST_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{proxied_site}/sensors", timeout=_LOAD_MS)
        expect(page.locator(".sensor-table .tabulator-row").first).to_be_visible(timeout=_LOAD_MS)
        assert page.locator(".sensor-table .tabulator-row").count() >= 10
        expect(page.locator(".home-user")).to_contain_text(ANALYST)
        page.get_by_text(t("sensors_reports_tab", "fr")).click()
        expect(page.locator(".reports-table .tabulator-row").first).to_be_visible(timeout=_LOAD_MS)
        expect(page.locator(".personal-data")).to_have_text(t("sensors_personal_data", "fr"))
        page.goto(f"{proxied_site}/logout")
        page.goto(f"{proxied_site}/sensors")
        expect(page.locator("form.login-form")).to_be_visible(timeout=_LOAD_MS)
