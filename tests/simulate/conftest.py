"""Simulations shared by the simulator's tests: a few days each, run once per session."""

from __future__ import annotations

import pytest

from tests.simulate.runs import Run, run


@pytest.fixture(scope="session")
def calm(tmp_path_factory, data_settings) -> Run:
    """Wed 20 – Fri 22 May 2026 (22 May: abolition of slavery, a holiday), no scenario, no fault."""
    return run(tmp_path_factory.mktemp("calm"), start="2026-05-20", days=3, faults=False)


@pytest.fixture(scope="session")
def storm(tmp_path_factory, data_settings) -> Run:
    """Two days in August with Dean 2007 replayed, a water main burst and a grid outage."""
    return run(
        tmp_path_factory.mktemp("storm"),
        start="2026-08-14",
        days=2,
        scenarios=["cyclone", "water_leak", "grid_outage"],
        faults=False,
    )


@pytest.fixture(scope="session")
def episodes(tmp_path_factory, data_settings) -> Run:
    """Three days in June with a Saharan dust episode and a sargassum stranding."""
    return run(
        tmp_path_factory.mktemp("episodes"),
        start="2026-06-10",
        days=3,
        scenarios=["dust", "sargassum"],
        faults=False,
    )
