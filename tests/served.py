"""The served site every served test shares: a simulated week ingested into a data directory, and
`observatory serve` on it (a pytest plugin, registered in tests/conftest.py, so that tests/apps and
tests/hostile use one site and one server per session)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

_START_TIMEOUT_S = 180.0  # a busy 2-core machine: first page of the first app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SITE_START = "2026-06-01T04:00:00Z"  # local midnight in Martinique
SITE_DAYS = 9  # more than the 7-day preset, so that presets differ


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory, data_settings) -> Path:
    """The served data directory: a week of the simulated fleet (every scenario) ingested through
    the real readers into its warehouse, as the demo does it."""
    from observatory.config import Settings
    from observatory.simulate.citizens import INGEST_OPTIONS
    from observatory.simulate.engine import Options, simulate
    from observatory.warehouse.ingest import ingest_paths
    from observatory.warehouse.store import Warehouse

    folder = tmp_path_factory.mktemp("site")
    config = Settings.from_env({**os.environ, "OBSERVATORY_DATA_DIR": str(folder / "data")})
    simulate(Options.parse(start=SITE_START, days=SITE_DAYS, out=folder / "sim", scenarios=["all"]), config)
    with Warehouse.open(config=config) as warehouse:
        warehouse.load_communes(config)
        reports = list(ingest_paths(warehouse, [folder / "sim" / "field"], **INGEST_OPTIONS))
    assert sum(r.rejected for r in reports) == 0
    return folder / "data"


@pytest.fixture(scope="session")
def served_folder(tmp_path_factory) -> Path:
    """Where the served site writes its log (``serve.log``)."""
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="session")
def served(served_folder, site_dir) -> str:
    """Base URL of the observatory served by its own command, as a user would start it."""
    with serve(served_folder, {"OBSERVATORY_DATA_DIR": str(site_dir)}) as base:
        yield base


@contextlib.contextmanager
def serve(
    folder: Path, env: dict[str, str], args: tuple[str, ...] = (), prefix: str = "", port: int | None = None
) -> Iterator[str]:
    """Run `observatory serve` with ``env`` added to this process's environment until the block
    ends; yields its base URL (with ``prefix``). Its log is ``folder/serve.log``."""
    port = port or _free_port()
    log_path = folder / "serve.log"
    command = [sys.executable, "-m", "observatory.cli", "serve", "--port", str(port), *args]
    command += ["--prefix", prefix] if prefix else []
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}{prefix}"
    deadline = time.monotonic() + _START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"observatory serve exited with {process.returncode}:\n{_tail(log_path)}")
            try:
                with requests.get(f"{base}/territory", timeout=5) as response:
                    if response.status_code == 200:
                        break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"observatory serve did not answer in {_START_TIMEOUT_S} s:\n{_tail(log_path)}")
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
