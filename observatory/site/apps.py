"""The site's apps: their address, their title in the catalogue, and who may open them.

Public apps (KPIs for accountability, risk zoning, open data) need no login; apps that show raw
sensor readings or citizen reports (personal data) need a user holding one of their roles.
"""

from __future__ import annotations

from dataclasses import dataclass

from observatory.errors import ParameterError, did_you_mean

PUBLIC = "public"
ROLES: tuple[str, ...] = ("analyst", "admin")  # admin opens every app


@dataclass(frozen=True)
class SiteApp:
    """One served app: ``slug`` is its path (``/kpi``), ``roles`` empty for a public app."""

    slug: str
    title_key: str  # i18n key of its name on the home page
    summary_key: str  # i18n key of one line on what it shows
    roles: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return not self.roles


SITE_APPS: tuple[SiteApp, ...] = (
    SiteApp("kpi", "home_app_kpi", "home_app_kpi_summary"),
    SiteApp("risk", "home_app_risk", "home_app_risk_summary"),
    SiteApp("territory", "home_app_territory", "home_app_territory_summary"),
    SiteApp("portal", "home_app_portal", "home_app_portal_summary"),
    SiteApp("sensors", "home_app_sensors", "home_app_sensors_summary", roles=("analyst",)),
)
HOME = "home"  # the site's index (served at / and /home)


def site_app(slug: str) -> SiteApp:
    """The app served at ``/<slug>``; ParameterError with a suggestion for an unknown one."""
    for app in SITE_APPS:
        if app.slug == slug:
            return app
    raise ParameterError(
        f"no app {slug!r}", parameter="app", hint=did_you_mean(slug, [a.slug for a in SITE_APPS])
    )


def may_open(app: SiteApp, roles: tuple[str, ...] | frozenset[str]) -> bool:
    """Whether a user holding ``roles`` may open ``app`` (guests hold none)."""
    return app.public or "admin" in roles or any(role in roles for role in app.roles)


def app_of_path(path: str, prefix: str = "") -> SiteApp | None:
    """The app a request path opens (``/kpi``, ``/kpi/``, ``/kpi/ws``, under ``prefix``), else None."""
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    first = path.strip("/").split("/", 1)[0]
    return next((app for app in SITE_APPS if app.slug == first), None)
