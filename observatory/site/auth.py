"""Who may open what: the users file (scrypt-hashed passwords and roles), the roles an OIDC
provider (Keycloak) hands over, and the decision Panel asks for on every page request.

The users file is YAML, written by ``observatory users add``; a password is never stored, only
``scrypt$N$r$p$salt$hash`` (RFC 7914, through OpenSSL in :mod:`hashlib`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from observatory.config import Settings
from observatory.errors import ConfigError, ParameterError, ServiceError, did_you_mean
from observatory.site.apps import ROLES, SITE_APPS, may_open

# scrypt cost: N = 2**14, r = 8, p = 1 is the interactive-login setting of Percival & Josefsson,
# RFC 7914 section 2 (about 16 MiB and 50 ms a check here); stored with each hash so it can grow.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_CHARS = 10
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
USER_KEYS = ("password", "roles")
_HASH = re.compile(r"^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of ``password``: ``scrypt$N$r$p$salt$hash`` (base64), a fresh salt each call."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ParameterError(
            f"a password needs at least {MIN_PASSWORD_CHARS} characters", parameter="password"
        )
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time compare); False for a malformed hash."""
    match = _HASH.match(stored)
    if match is None:
        return False
    n, r, p = (int(v) for v in match.group(1, 2, 3))
    salt, expected = base64.b64decode(match.group(4)), base64.b64decode(match.group(5))
    if n > 2**20 or r > 32 or p > 16:  # a hostile file must not make one login cost gigabytes
        return False
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=2**31 - 1
    )
    return hmac.compare_digest(digest, expected)


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    roles: tuple[str, ...]


def load_users(path: Path) -> dict[str, User]:
    """Read and check the users file; ConfigError naming the file and the user at fault."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(
            "users file not found",
            path=path,
            hint="Create it with `observatory users add NAME --role analyst`.",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path, line=line) from None
    if not isinstance(document, dict) or set(document) - {"users"}:
        raise ConfigError("the file must hold one mapping `users:`", path=path)
    entries = document.get("users") or {}
    if not isinstance(entries, dict):
        raise ConfigError("`users:` must map user names to their entry", path=path)
    return {str(name): _user(path, str(name), entry) for name, entry in entries.items()}


def _user(path: Path, name: str, entry: Any) -> User:
    where = f"users.{name}"
    if not USER_NAME.match(name):
        raise ConfigError(
            "a user name is 1-64 letters, digits, '.', '_', '@' or '-'", path=path, parameter=where
        )
    if not isinstance(entry, dict):
        raise ConfigError("expected `password:` and `roles:`", path=path, parameter=where)
    for key in entry:
        if key not in USER_KEYS:
            raise ConfigError(
                f"unknown key {key!r}", path=path, parameter=where, hint=did_you_mean(str(key), USER_KEYS)
            )
    password = entry.get("password")
    if not isinstance(password, str) or not _HASH.match(password):
        raise ConfigError(
            "password must be a scrypt hash, never the password itself",
            path=path,
            parameter=f"{where}.password",
            hint="Set it with `observatory users add NAME`.",
        )
    roles = entry.get("roles") or []
    if not isinstance(roles, list):
        raise ConfigError("roles must be a list", path=path, parameter=f"{where}.roles")
    for role in roles:
        if role not in ROLES:
            raise ConfigError(
                f"unknown role {role!r}",
                path=path,
                parameter=f"{where}.roles",
                hint=did_you_mean(str(role), ROLES),
            )
    return User(name, password, tuple(roles))


def save_user(path: Path, name: str, password: str, roles: tuple[str, ...]) -> User:
    """Add or replace ``name`` in the users file (created with mode 0600 when missing)."""
    if not USER_NAME.match(name):
        raise ParameterError("a user name is 1-64 letters, digits, '.', '_', '@' or '-'", parameter="NAME")
    for role in roles:
        if role not in ROLES:
            raise ParameterError(f"unknown role {role!r}", parameter="--role", hint=did_you_mean(role, ROLES))
    users = load_users(path) if path.exists() else {}
    users[name] = User(name, hash_password(password), tuple(roles))
    _write(path, users)
    return users[name]


def remove_user(path: Path, name: str) -> None:
    users = load_users(path)
    if name not in users:
        raise ParameterError(f"no user {name!r} in {path}", parameter="NAME", hint=did_you_mean(name, users))
    del users[name]
    _write(path, users)


def _write(path: Path, users: Mapping[str, User]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "users": {u.name: {"password": u.password_hash, "roles": list(u.roles)} for u in users.values()}
    }
    text = "# Observatory users: scrypt-hashed passwords and roles (observatory users add/remove).\n"
    text += yaml.safe_dump(document, sort_keys=True, allow_unicode=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)  # never a half-written users file


def authenticate(users: Mapping[str, User], name: str, password: str) -> User | None:
    """The user if ``password`` is theirs; the same work is done for an unknown name (no timing hint)."""
    user = users.get(name)
    stored = user.password_hash if user is not None else _DUMMY_HASH
    matched = verify_password(stored, password)
    return user if matched and user is not None else None


_DUMMY_HASH = "scrypt$16384$8$1$" + _b64(b"\0" * SALT_BYTES) + "$" + _b64(b"\0" * HASH_BYTES)


def sign_in_enabled(config: Settings) -> bool:
    """Whether the site signs users in: a users file exists, or an OpenID Connect issuer is set."""
    return config.oidc_issuer is not None or config.users_path.exists()


def cookie_secret(config: Settings) -> str:
    """The key that signs sign-in cookies: the setting, else one kept (mode 0600) in the data
    directory so that a restart keeps everyone signed in."""
    if config.cookie_secret:
        return config.cookie_secret
    path = config.data_dir / "cookie_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


# -- what the signed-in user may open ---------------------------------------------------------


def roles_of(user_info: Mapping[str, Any] | None, client_id: str | None = None) -> frozenset[str]:
    """The site roles in a user's claims: ours (``roles``), Keycloak's realm and client roles, or
    groups named like a role (``/analyst``). Unknown role names are ignored."""
    if not user_info:
        return frozenset()
    found: list[str] = []
    found += _strings(user_info.get("roles"))
    found += _strings((user_info.get("realm_access") or {}).get("roles"))
    clients = user_info.get("resource_access") or {}
    if isinstance(clients, dict):
        chosen = [clients.get(client_id)] if client_id else list(clients.values())
        for client in chosen:
            if isinstance(client, dict):
                found += _strings(client.get("roles"))
    found += [g.strip("/").rsplit("/", 1)[-1] for g in _strings(user_info.get("groups"))]
    return frozenset(role for role in found if role in ROLES)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def app_in_path(path: str) -> str | None:
    """The app slug a document request opens: the last path segment (any prefix before it)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts and parts[-1] in ("ws", "autoload.js"):
        parts = parts[:-1]
    return parts[-1] if parts else None


def authorize(user_info: Mapping[str, Any] | None, path: str) -> bool | str:
    """Panel's ``authorize_callback``: True for a public app or a user holding its role; the login
    page (with the way back) for a guest asking for a protected app; False (403) otherwise."""
    slug = app_in_path(path)
    app = next((a for a in SITE_APPS if a.slug == slug), None)
    if app is None or app.public:
        return True
    from observatory.config import settings

    if may_open(app, roles_of(user_info, settings().oidc_client_id)):
        return True
    if not user_info or user_info.get("user") == "guest":
        base = path[: path.rfind("/" + slug)] if slug else ""
        return f"{base}/login?next={quote(path, safe='/')}"
    return False


def oidc_endpoints(issuer: str, timeout_s: float = 10.0) -> dict[str, str]:
    """The provider's endpoints from its discovery document (``<issuer>/.well-known/openid-configuration``;
    for Keycloak the issuer is the realm URL, ``https://host/realms/<realm>``), as Panel's generic
    OAuth provider names them."""
    import requests

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=timeout_s)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ServiceError(
            f"cannot read the OpenID Connect discovery document at {url}: {exc}",
            parameter="OBSERVATORY_OIDC_ISSUER",
            hint="Check the realm URL and that the provider is reachable from this server.",
        ) from None
    names = {
        "AUTHORIZE_URL": "authorization_endpoint",
        "TOKEN_URL": "token_endpoint",
        "USER_URL": "userinfo_endpoint",
        "LOGOUT_URL": "end_session_endpoint",
    }
    missing = [
        key
        for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
        if key not in document
    ]
    if missing:
        raise ServiceError(
            f"the discovery document at {url} has no {', '.join(missing)}",
            parameter="OBSERVATORY_OIDC_ISSUER",
        )
    return {ours: document[theirs] for ours, theirs in names.items() if theirs in document}


# The scopes asked for: Keycloak adds the realm's default client scopes (``roles``) by itself.
OIDC_SCOPES = ("openid", "profile", "email")
OIDC_USER_CLAIM = "preferred_username"  # the user name Keycloak puts in the id_token (scope profile)


def oidc_environment(config: Settings) -> dict[str, str]:
    """What Panel's generic OAuth handler reads from the environment: the client, its secret and
    ``PANEL_OAUTH_EXTRA_PARAMS`` (the provider's endpoints from its discovery document, the claim
    naming the user, the scopes; a Python literal, as Panel parses it)."""
    assert config.oidc_issuer and config.oidc_client_id and config.oidc_client_secret  # Settings.validate
    extra: dict[str, object] = {
        **oidc_endpoints(config.oidc_issuer),
        "USER_KEY": OIDC_USER_CLAIM,
        "scope": list(OIDC_SCOPES),  # a list: Panel joins it with spaces (a string would be spelt out)
    }
    return {
        "PANEL_OAUTH_KEY": config.oidc_client_id,
        "PANEL_OAUTH_SECRET": config.oidc_client_secret,
        "PANEL_OAUTH_EXTRA_PARAMS": repr(extra),
    }
