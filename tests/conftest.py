"""Shared fixtures: the data settings every test runs under, and the real services, started on demand.

A service that cannot start skips the tests that need it on a workstation, and fails them in CI
(``CI=true``), where a skipped integration test would hide a broken setup.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

from tests.services import (
    INSTALL_HINT,
    InfluxInstance,
    MosquittoInstance,
    PostgresInstance,
    ServiceUnavailable,
    chromium_path,
)

pytest_plugins = ("tests.served",)  # the served site: site_dir, served, served_folder

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERVICE_FIXTURES = frozenset({"postgres", "influxdb", "mosquitto", "proxied_site"})
BROWSER_FIXTURES = frozenset({"chromium"})

Instance = TypeVar("Instance", PostgresInstance, InfluxInstance, MosquittoInstance)


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not services"` sees these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & SERVICE_FIXTURES:
            item.add_marker(pytest.mark.services)
        if used & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}\n(CI=true: a service test must run, never skip)", pytrace=False)
    pytest.skip(reason)


def _running(make: Callable[[], Instance]) -> Iterator[Instance]:
    try:
        instance = make().start()
    except ServiceUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session", autouse=True)
def data_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point the observatory at the shared reference mirror and a throwaway data directory."""
    with pytest.MonkeyPatch.context() as patch:
        if not os.environ.get("OBSERVATORY_DATA_MIRROR") and SHARED_DATA.is_dir():
            patch.setenv("OBSERVATORY_DATA_MIRROR", str(SHARED_DATA))
        if not os.environ.get("OBSERVATORY_DATA_DIR"):
            patch.setenv("OBSERVATORY_DATA_DIR", str(tmp_path_factory.mktemp("observatory-data")))
        yield


@pytest.fixture(scope="session")
def data_settings(data_environment: None):
    """The observatory's settings under the test environment (mirror and data directory set)."""
    from observatory.config import Settings

    return Settings.from_env()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresInstance]:
    """A PostgreSQL/PostGIS cluster of this session, with the database ``observatory``."""
    yield from _running(PostgresInstance)


@pytest.fixture(scope="session")
def influxdb() -> Iterator[InfluxInstance]:
    """An InfluxDB 1.x server of this session (no database created)."""
    yield from _running(InfluxInstance)


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoInstance]:
    """A persistent Mosquitto broker of this session; ``restart()`` keeps its queued messages."""
    yield from _running(MosquittoInstance)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the Chromium executable for browser tests."""
    path = chromium_path()
    if path is None:
        _unavailable(f"chromium not found: {INSTALL_HINT} (apt-get install chromium)")
    return path
