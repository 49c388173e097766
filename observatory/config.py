"""Settings of the observatory, read from the environment (``OBSERVATORY_*``) with safe defaults."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlparse

from observatory.errors import ConfigError

ENV_PREFIX = "OBSERVATORY_"
# ``table`` or ``schema.table`` of plain SQL identifiers (the PostGIS sensors layer setting).
_TABLE_NAME = re.compile(r"([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}")


def _default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("observatory", appauthor=False))


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ConfigError(
            f"{value!r} is not a {'/'.join(schemes)} URL with a host",
            parameter=ENV_PREFIX + name.upper(),
            hint=f"Set it like {schemes[0]}://127.0.0.1:PORT or unset it to use the default.",
        )
    return value


@dataclass(frozen=True)
class Settings:
    """Where the observatory keeps its data and how it reaches the territory's systems."""

    data_dir: Path
    data_mirror: Path | None = None
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/observatory"
    influx_url: str = "http://127.0.0.1:8086"
    influx_db: str = "observatory"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    crate_url: str = "http://127.0.0.1:4200"
    postgis_sensors_table: str = "sensors"  # table (or schema.table) of sensor metadata, for refresh
    language: str = "fr"
    users_file: Path | None = None  # site sign-in: YAML of scrypt-hashed passwords and roles
    cookie_secret: str | None = None  # signs the sign-in cookies; kept in the data dir when unset
    oidc_issuer: str | None = None  # sign-in through OpenID Connect (Keycloak realm URL) instead
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Build the settings from ``OBSERVATORY_*`` variables (``environ`` defaults to os.environ)."""
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = [k for k in env if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() not in known]
        if unknown:
            from observatory.errors import did_you_mean

            raise ConfigError(
                "unknown setting",
                parameter=unknown[0],
                hint=did_you_mean(unknown[0], [ENV_PREFIX + k.upper() for k in known]),
            )
        values: dict[str, object] = {}
        for name in known:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is None or raw == "":
                continue
            values[name] = raw
        data_dir = Path(str(values.pop("data_dir", _default_data_dir()))).expanduser()
        mirror = values.pop("data_mirror", None)
        mirror_path = Path(str(mirror)).expanduser() if mirror else None
        if mirror_path is not None and not mirror_path.is_dir():
            raise ConfigError(
                f"mirror folder {mirror_path} does not exist",
                parameter=ENV_PREFIX + "DATA_MIRROR",
                hint="Point it at a folder holding the reference files (e.g. ../shared/data) or unset it.",
            )
        if "users_file" in values:
            values["users_file"] = Path(str(values["users_file"])).expanduser()
        settings = cls(data_dir=data_dir, data_mirror=mirror_path, **values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check every URL and the language; raise ConfigError naming the setting."""
        _check_url("postgres_dsn", self.postgres_dsn, ("postgresql", "postgres"))
        _check_url("influx_url", self.influx_url, ("http", "https"))
        _check_url("mqtt_url", self.mqtt_url, ("mqtt", "mqtts", "tcp"))
        _check_url("crate_url", self.crate_url, ("http", "https"))
        if _TABLE_NAME.fullmatch(self.postgis_sensors_table) is None:
            raise ConfigError(
                f"{self.postgis_sensors_table!r} is not a table name",
                parameter=ENV_PREFIX + "POSTGIS_SENSORS_TABLE",
                hint="Give table or schema.table, letters, digits and '_' only (e.g. public.sensors).",
            )
        if self.oidc_issuer is not None:
            _check_url("oidc_issuer", self.oidc_issuer, ("https", "http"))
            if not self.oidc_client_id:
                raise ConfigError(
                    "OpenID Connect sign-in needs its client id",
                    parameter=ENV_PREFIX + "OIDC_CLIENT_ID",
                    hint="Set it to the client registered for the observatory in the realm.",
                )
            if not self.oidc_client_secret:
                raise ConfigError(
                    "OpenID Connect sign-in needs the client's secret (a confidential client)",
                    parameter=ENV_PREFIX + "OIDC_CLIENT_SECRET",
                    hint="Copy it from the client's Credentials tab in Keycloak.",
                )
        from observatory.i18n import LANGUAGES

        if self.language not in LANGUAGES:
            from observatory.errors import did_you_mean

            raise ConfigError(
                f"language {self.language!r} is not offered",
                parameter=ENV_PREFIX + "LANGUAGE",
                hint=did_you_mean(self.language, LANGUAGES),
            )

    @property
    def users_path(self) -> Path:
        """The users file of the site's sign-in (``users.yaml`` in the data directory by default)."""
        return self.users_file or self.data_dir / "users.yaml"

    @property
    def reference_dir(self) -> Path:
        """Folder where fetched reference files live (inside the data directory)."""
        return self.data_dir / "reference"


def settings() -> Settings:
    """The settings in force now (re-read from the environment each call; cheap)."""
    return Settings.from_env()
