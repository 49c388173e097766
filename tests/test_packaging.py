"""pyproject.toml and environment.yml install the same pinned packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(==|=)\s*([^\s;#]+)")


def _pins(specs: list[str]) -> dict[str, str]:
    pins = {}
    for spec in specs:
        match = _PIN.match(spec)
        assert match, f"not pinned to one version: {spec!r}"
        pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [
        s for extra in project["optional-dependencies"].values() for s in extra
    ]
    return _pins(specs)


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python=", "pip"))]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return _pins(conda + [s for s in pip if not s.startswith("-e")])


def test_both_files_name_the_same_packages_and_versions():
    assert environment_pins() == pyproject_pins()


def test_pins_known_to_work_offline_on_python_311():
    pins = pyproject_pins()
    assert pins["duckdb"] == pins["duckdb-extension-spatial"] == pins["duckdb-extension-postgres"]
    cartopy = tuple(int(p) for p in pins["cartopy"].split(".")[:2])
    assert cartopy < (0, 26), "geoviews 1.15 fails with cartopy 0.26 (KeyError 'lon_0')"
    assert pins["panel"].startswith("1.9.") and pins["bokeh"].startswith("3.9.")


def test_python_311_is_the_floor_and_the_command_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["observatory"] == "observatory.cli:run"
