"""The served site under hostile requests, over plain HTTP: the /releases route serves nothing from
outside the releases folder (a canary planted beside it is never sent), and every public app
answers a link full of hostile values with its page, no traceback in the server's log and none of
the payload's markup in the HTML."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from observatory.views.kpi import KpiState
from observatory.views.risk import RiskState
from tests.hostile import strategies as hs

CANARY = b"canary: beside the releases folder, no URL may serve it\n"
PAYLOAD = "<script>alert('hostile')</script>"
LOG_ERRORS = ("Traceback", "Error running application handler", "Uncaught exception", " 500 GET")


class Log:
    """The served site's log, read from where a test began."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size

    def since(self) -> str:
        with open(self.path, "rb") as handle:
            handle.seek(self.start)
            return handle.read().decode("utf-8", "replace")

    def assert_clean(self) -> None:
        new = self.since()
        found = [marker for marker in LOG_ERRORS if marker in new]
        assert not found, f"the server logged {found}:\n{new[-3000:]}"


@pytest.fixture
def log(served, served_folder) -> Log:
    return Log(served_folder / "serve.log")


@pytest.fixture(scope="module")
def releases(site_dir) -> Iterator[Path]:
    """The served releases folder with a file inside it, and a canary planted beside it."""
    folder = site_dir / "releases"
    probe = folder / "hostile-probe"
    probe.mkdir(parents=True, exist_ok=True)
    (probe / "inside.txt").write_bytes(b"inside the releases folder\n")
    canary = site_dir / "canary.txt"
    canary.write_bytes(CANARY)
    yield folder
    canary.unlink()
    (probe / "inside.txt").unlink()
    probe.rmdir()


def raw_get(base: str, target: bytes) -> tuple[int, bytes]:
    """GET ``target`` sent byte for byte (no client normalises ``..`` or encodes anything)."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(
            b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, address.netloc.encode())
        )
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def assert_nothing_from_outside(releases: Path, status: int, body: bytes, target: bytes) -> None:
    if status == 200:
        inside = {hashlib.sha256(p.read_bytes()).digest() for p in releases.rglob("*") if p.is_file()}
        assert hashlib.sha256(body).digest() in inside, f"{target!r} served a file from outside"
    assert CANARY not in body and b"root:x:0:0" not in body and b"DUCK" not in body[:16]


def _traversals(site_dir: Path) -> list[bytes]:
    canary = str(site_dir / "canary.txt").encode()
    return [
        b"/releases/../canary.txt",
        b"/releases/..%2fcanary.txt",
        b"/releases/%2e%2e/canary.txt",
        b"/releases/%2e%2e%2fcanary.txt",
        b"/releases/%252e%252e%252fcanary.txt",
        b"/releases/..%5ccanary.txt",
        b"/releases/..\\canary.txt",
        b"/releases/hostile-probe/../../canary.txt",
        b"/releases/hostile-probe/..%2f..%2fcanary.txt",
        b"/releases/hostile-probe%2f..%2f..%2fcanary.txt",
        b"/releases/....//canary.txt",
        b"/releases/..;/canary.txt",
        b"/releases/%c0%ae%c0%ae/canary.txt",
        b"/releases/" + canary,
        b"/releases/" + quote(canary, safe="").encode(),
        b"/releases/file://" + canary,
        b"/releases/..%00/canary.txt",
        b"/releases/canary.txt%00.txt",
        b"/releases/%00",
        b"/releases/../warehouse.duckdb",
        b"/releases/../../../../../../etc/passwd",
        b"/releases/" + b"a/" * 3000 + b"../" * 3001 + b"canary.txt",
        b"/releases/" + b"x" * 20_000,
    ]


def test_the_releases_route_serves_its_files_and_nothing_beside(served, site_dir, releases, log) -> None:
    status, body = raw_get(served, b"/releases/hostile-probe/inside.txt")
    assert (status, body) == (200, b"inside the releases folder\n")
    for target in _traversals(site_dir):
        status, body = raw_get(served, target)
        assert status != 500, f"{target[:80]!r}: 500"
        assert_nothing_from_outside(releases, status, body, target)
    log.assert_clean()


PIECES = (
    b"..",
    b".",
    b"%2e%2e",
    b"%2e",
    b"%252e%252e",
    b"/",
    b"%2f",
    b"%252f",
    b"\\",
    b"%5c",
    b"%00",
    b"canary.txt",
)


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12))
def test_any_path_under_releases_stays_inside(served, releases, pieces) -> None:
    target = b"/releases/" + b"".join(pieces)
    status, body = raw_get(served, target)
    assert status != 500, f"{target!r}: 500"
    assert_nothing_from_outside(releases, status, body, target)


# --- the apps under hostile links ----------------------------------------------------------------

APP_KEYS = {  # a public app's path and the query keys its state reads from the URL
    "kpi": [*KpiState.URL_KEYS.values(), "lang"],
    "risk": [*RiskState.URL_KEYS.values(), "lang"],
    "portal": ["q", "theme", "dataset", "version", "value", "lang"],
    "territory": ["lang"],
    "": ["lang"],  # the home page
}
OTHER_VALUES = [s for s in hs.HOSTILE_STRINGS if s and "\x00" not in s] + ["[1, 2]", '{"a": 1}', "1e999"]


def _page(base: str, app: str, query: dict[str, str]) -> str:
    response = requests.get(f"{base}/{app}?{urlencode(query)}", timeout=120)
    assert response.status_code == 200, f"/{app}?{urlencode(query)[:200]}: HTTP {response.status_code}"
    return response.text


@pytest.mark.parametrize("app", list(APP_KEYS))
def test_each_parameter_of_each_app_takes_a_script_and_shows_a_page(served, log, app) -> None:
    for key in APP_KEYS[app]:
        html = _page(served, app, {key: PAYLOAD})
        assert PAYLOAD not in html and "alert('hostile')" not in html
    log.assert_clean()


@pytest.mark.parametrize("app", list(APP_KEYS))
def test_a_link_full_of_hostile_values_shows_a_page(served, log, app) -> None:
    keys = APP_KEYS[app]
    for link in range(2):  # each key a different hostile value in each link
        values = (OTHER_VALUES[(link * len(keys) + i) % len(OTHER_VALUES)] for i in range(len(keys)))
        _page(served, app, dict(zip(keys, values, strict=True)))
    _page(served, app, {key: "x\x00y" for key in keys})
    log.assert_clean()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-06-05", "2026-06-01"),
        ("1990-01-01", "1990-02-01"),
        ("2099-12-01", "2100-01-01"),
        ("20260601", "20260603"),
        ("0001-01-01", "9999-12-31"),
    ],
)
def test_a_links_dates_the_date_picker_cannot_show_still_give_the_page(served, log, start, end) -> None:
    """Reversed, far from the data, or written otherwise: the cards take them or the preset."""
    _page(served, "kpi", {"from": start, "to": end, "range": "custom"})
    log.assert_clean()
