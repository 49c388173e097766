"""Who may open what: hashed passwords, the users file, roles from claims, Panel's authorize decision."""

from __future__ import annotations

import base64
import hashlib
import stat

import pytest

from observatory.config import Settings
from observatory.errors import ConfigError, ParameterError
from observatory.site.apps import SITE_APPS, app_of_path, may_open, site_app
from observatory.site.auth import (
    authenticate,
    authorize,
    cookie_secret,
    hash_password,
    load_users,
    remove_user,
    roles_of,
    save_user,
    verify_password,
)

PASSWORD = "correct horse battery"


def test_a_stored_password_is_an_rfc7914_scrypt_hash_that_only_the_password_matches():
    stored = hash_password(PASSWORD, salt=b"\x01" * 16)
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    # recomputed from the salt with hashlib directly: the stored digest is scrypt, not something else
    assert base64.b64decode(digest) == hashlib.scrypt(
        PASSWORD.encode(), salt=base64.b64decode(salt), n=16384, r=8, p=1, dklen=32
    )
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + " ")
    assert not verify_password(stored, "")
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # a fresh salt each time


def test_malformed_or_hostile_hashes_never_match():
    good = hash_password(PASSWORD)
    assert not verify_password("plain text password", PASSWORD)
    assert not verify_password(good.replace("scrypt", "md5"), PASSWORD)
    # a cost that would take gigabytes of memory is refused, not computed
    assert not verify_password(good.replace("$16384$", "$1073741824$"), PASSWORD)


def test_a_short_password_is_refused():
    with pytest.raises(ParameterError, match="at least 10"):
        hash_password("short")


def test_the_users_file_round_trip_is_private_and_holds_no_password(tmp_path):
    path = tmp_path / "users.yaml"
    save_user(path, "marie.joseph", PASSWORD, ("analyst",))
    save_user(path, "admin", "another long secret", ("admin",))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD not in path.read_text()
    users = load_users(path)
    assert {u.name: u.roles for u in users.values()} == {"marie.joseph": ("analyst",), "admin": ("admin",)}
    assert authenticate(users, "marie.joseph", PASSWORD) == users["marie.joseph"]
    assert authenticate(users, "marie.joseph", "another long secret") is None
    assert authenticate(users, "nobody", PASSWORD) is None
    remove_user(path, "admin")
    assert list(load_users(path)) == ["marie.joseph"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "users:\n  marie:\n    password: hunter2hunter2\n    roles: [analyst]\n",
            "never the password itself",
        ),
        ("users:\n  marie:\n    pasword: x\n", "Did you mean 'password'"),
        ("users:\n  marie:\n    password: {h}\n    roles: [analyste]\n", "Did you mean 'analyst'"),
        ("users:\n  'bad name; rm':\n    password: {h}\n", "user name"),
        ("users: [a, b]\n", "map user names"),
        ("users:\n  marie: {{password: {h}\n", "not valid YAML"),
    ],
)
def test_a_wrong_users_file_names_the_file_and_the_entry(tmp_path, text, message):
    path = tmp_path / "users.yaml"
    path.write_text(text.format(h=hash_password(PASSWORD)))
    with pytest.raises(ConfigError, match=message) as error:
        load_users(path)
    assert str(path) in str(error.value)


def test_roles_come_from_our_claim_keycloak_realm_and_client_roles_and_groups():
    assert roles_of(None) == frozenset()
    assert roles_of({"user": "marie", "roles": ["analyst"]}) == {"analyst"}
    keycloak = {
        "preferred_username": "marie",
        "realm_access": {"roles": ["offline_access", "uma_authorization"]},
        "resource_access": {"observatory": {"roles": ["admin"]}, "other-app": {"roles": ["analyst"]}},
    }
    assert roles_of(keycloak, client_id="observatory") == {"admin"}
    assert roles_of({"groups": ["/collectivite/analyst", "/staff"]}) == {"analyst"}
    assert roles_of({"roles": "analyst"}) == frozenset()  # a string is not a list of roles


def test_public_apps_are_open_to_everyone_the_sensors_app_to_its_roles():
    assert {a.slug for a in SITE_APPS if a.public} == {"kpi", "risk", "territory", "portal"}
    sensors = site_app("sensors")
    assert not may_open(sensors, frozenset())
    assert may_open(sensors, frozenset({"analyst"})) and may_open(sensors, frozenset({"admin"}))
    with pytest.raises(ParameterError, match="Did you mean 'sensors'"):
        site_app("sensor")
    assert app_of_path("/observatoire/sensors/ws", prefix="/observatoire") == sensors


@pytest.mark.parametrize("prefix", ["", "/observatoire"])
def test_panel_is_told_to_send_guests_to_the_sign_in_page_and_others_away(prefix, monkeypatch, tmp_path):
    monkeypatch.setenv("OBSERVATORY_DATA_DIR", str(tmp_path))
    assert authorize(None, f"{prefix}/kpi") is True
    assert authorize({"user": "guest"}, f"{prefix}/portal") is True
    assert authorize(None, f"{prefix}/sensors") == f"{prefix}/login?next={prefix}/sensors"
    assert authorize({"user": "guest", "username": "guest"}, f"{prefix}/sensors/").startswith(
        f"{prefix}/login"
    )
    assert authorize({"user": "paul", "roles": []}, f"{prefix}/sensors") is False
    assert authorize({"user": "marie", "roles": ["analyst"]}, f"{prefix}/sensors") is True


def test_the_cookie_secret_is_kept_private_across_restarts(tmp_path):
    config = Settings(data_dir=tmp_path)
    first = cookie_secret(config)
    assert len(first) >= 48 and cookie_secret(config) == first
    assert stat.S_IMODE((tmp_path / "cookie_secret").stat().st_mode) == 0o600
    assert cookie_secret(Settings(data_dir=tmp_path, cookie_secret="from-the-setting")) == "from-the-setting"
