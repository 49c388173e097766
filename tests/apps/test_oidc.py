"""Sign-in through OpenID Connect against a real, certified provider (panva's oidc-provider in
Keycloak's place: a realm issuer, a confidential client, Keycloak-shaped realm roles), with the site
under a path prefix behind nginx: guests go to the provider, the analyst comes back to the sensors,
a user without the role is refused, signing out ends the provider's session too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from bokeh.util.token import get_token_payload
from playwright.sync_api import expect

from observatory.config import Settings
from observatory.errors import ConfigError
from observatory.i18n import t
from tests.apps.conftest import guarded_page, serve
from tests.services import NginxProxy, OidcProvider, ServiceUnavailable, free_port

PREFIX = "/observatoire"
CLIENT_ID, CLIENT_SECRET = "observatory", "a-client-secret-of-this-module-only-0123456789"
ANALYST, NO_ROLE = "marie.joseph", "paul"
# As Keycloak issues them: realm roles under realm_access (with the realm's default roles).
ACCOUNTS = {
    ANALYST: {
        "password": "Fort-de-France 1902",
        "claims": {
            "name": "Marie Joseph",
            "email": "marie.joseph@collectivite.mq",
            "realm_access": {"roles": ["analyst", "offline_access", "default-roles-martinique"]},
        },
    },
    NO_ROLE: {
        "password": "pas d'accès aux capteurs",
        "claims": {"name": "Paul", "realm_access": {"roles": ["offline_access", "default-roles-martinique"]}},
    },
}
_LOAD_MS = 120_000  # a busy 2-core machine


@dataclass(frozen=True)
class Site:
    url: str  # the site through the proxy, with its prefix
    issuer: str  # the provider's realm


@pytest.fixture(scope="module")
def oidc_site(tmp_path_factory, site_dir):
    """The site signing in through the provider, served under ``/observatoire`` behind nginx."""
    from tests.conftest import _unavailable

    upstream = free_port()
    started: list[NginxProxy | OidcProvider] = []
    try:
        proxy = NginxProxy(upstream, PREFIX).start()
        started.append(proxy)
        client = {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{proxy.url}/login"],  # Keycloak: "Valid redirect URIs"
            "post_logout_redirect_uris": [f"{proxy.url}/"],
        }
        provider = OidcProvider(client, ACCOUNTS, keep_off=(upstream,)).start()
        started.append(provider)
    except ServiceUnavailable as exc:
        for service in started:
            service.stop()
        _unavailable(str(exc))
    env = {
        "OBSERVATORY_DATA_DIR": str(site_dir),
        "OBSERVATORY_OIDC_ISSUER": provider.issuer,
        "OBSERVATORY_OIDC_CLIENT_ID": CLIENT_ID,
        "OBSERVATORY_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OBSERVATORY_COOKIE_SECRET": "a-test-secret-of-this-module-only-0123456789",
    }
    origin = ("--allow-websocket-origin", f"127.0.0.1:{proxy.port}")
    try:
        with serve(tmp_path_factory.mktemp("site-oidc"), env, origin, prefix=PREFIX, port=upstream):
            yield Site(proxy.url, provider.issuer)
    finally:
        for service in started:
            service.stop()


@pytest.mark.services
def test_guests_open_the_public_apps_and_are_sent_to_the_provider_for_the_others(oidc_site):
    for app in ("kpi", "risk", "territory", "portal", ""):
        answer = requests.get(f"{oidc_site.url}/{app}", allow_redirects=False, timeout=120)
        assert answer.status_code == 200, app
    # no URL of the protected app opens a session without signing in, autoload.js included
    for path in ("/sensors", "/sensors/", "/sensors/autoload.js?bokeh-autoload-element=x"):
        answer = requests.get(f"{oidc_site.url}{path}", allow_redirects=False, timeout=120)
        assert answer.status_code == 302, path
        assert urlparse(answer.headers["Location"]).path.endswith("/login"), path
    # the sign-in page hands over to the provider with the address the browser sees, prefix included
    answer = requests.get(f"{oidc_site.url}/login?next={PREFIX}/sensors", allow_redirects=False, timeout=60)
    target = urlparse(answer.headers["Location"])
    query = parse_qs(target.query)
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{oidc_site.issuer}/auth"
    assert query["redirect_uri"] == [f"{oidc_site.url}/login"]
    assert query["client_id"] == [CLIENT_ID] and query["response_type"] == ["code"]
    assert query["scope"][0].split() == ["openid", "profile", "email"]


def _sign_in_at_the_provider(page, user: str) -> None:
    expect(page.locator("#kc-form-login")).to_be_visible(timeout=_LOAD_MS)
    page.fill("#username", user)
    page.fill("#password", ACCOUNTS[user]["password"])
    page.click("#kc-login")


@pytest.mark.services
def test_an_analyst_signs_in_at_the_provider_sees_the_sensors_and_signs_out(oidc_site, chromium):
    with guarded_page(chromium) as page:
        page.goto(f"{oidc_site.url}/sensors")
        expect(page.locator("#kc-form-login")).to_be_visible(timeout=_LOAD_MS)
        assert page.url.startswith(f"{oidc_site.issuer}/")
        _sign_in_at_the_provider(page, ANALYST)
        page.wait_for_url(f"{oidc_site.url}/sensors", timeout=_LOAD_MS)
        expect(page.locator(".sensor-table .tabulator-row").first).to_be_visible(timeout=_LOAD_MS)
        assert page.locator(".sensor-table .tabulator-row").count() >= 10
        expect(page.locator(".home-user")).to_contain_text(ANALYST)
        # the page's session token carries the id_token (her claims), not the provider's tokens
        token = re.search(r'"token":\s*"([^"]+)"', page.content()).group(1)
        assert {"user", "id_token"} <= set(get_token_payload(token)["cookies"])
        assert "access_token" not in get_token_payload(token)["cookies"]
        # the home page opens the sensors to her (her realm role), and names her
        page.goto(f"{oidc_site.url}/")
        expect(page.locator("a.app-link")).to_have_count(5, timeout=_LOAD_MS)
        expect(page.locator(".home-user")).to_contain_text(ANALYST)
        # signing out ends the provider's session: the next sign-in asks for the password again
        page.goto(f"{oidc_site.url}/logout")
        page.click("#kc-logout")
        page.wait_for_url(f"{oidc_site.url}/", timeout=_LOAD_MS)
        page.goto(f"{oidc_site.url}/sensors")
        expect(page.locator("#kc-form-login")).to_be_visible(timeout=_LOAD_MS)


@pytest.mark.services
def test_a_user_without_the_role_is_refused_the_sensors_and_opens_the_public_apps(oidc_site, chromium):
    sensors = f"{oidc_site.url}/sensors"
    with guarded_page(chromium) as page:
        page.goto(sensors)
        with page.expect_response(lambda response: response.url == sensors) as answer:
            _sign_in_at_the_provider(page, NO_ROLE)
        assert answer.value.status == 403
        expect(page.locator(".access-refused")).to_be_visible()
        expect(page.locator("h1")).to_have_text(t("sensors_refused", "fr"))
        page.goto(f"{oidc_site.url}/kpi")
        expect(page.locator(".kpi-card").first).to_be_visible(timeout=_LOAD_MS)
        page.goto(f"{oidc_site.url}/")
        expect(page.locator("a.app-link")).to_have_count(4, timeout=_LOAD_MS)
        expect(page.locator(".home-user")).to_contain_text(NO_ROLE)


def test_openid_connect_needs_the_client_and_its_secret(tmp_path):
    env = {"OBSERVATORY_DATA_DIR": str(tmp_path), "OBSERVATORY_OIDC_ISSUER": "https://sso.example/realms/mq"}
    with pytest.raises(ConfigError, match="OBSERVATORY_OIDC_CLIENT_ID"):
        Settings.from_env(env)
    with pytest.raises(ConfigError, match="OBSERVATORY_OIDC_CLIENT_SECRET"):
        Settings.from_env({**env, "OBSERVATORY_OIDC_CLIENT_ID": CLIENT_ID})
    complete = {
        **env,
        "OBSERVATORY_OIDC_CLIENT_ID": CLIENT_ID,
        "OBSERVATORY_OIDC_CLIENT_SECRET": CLIENT_SECRET,
    }
    assert Settings.from_env(complete).oidc_client_secret == CLIENT_SECRET
